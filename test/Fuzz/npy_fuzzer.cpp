//===- npy_fuzzer.cpp - libFuzzer target of the .npy reader ---------------===//
//
// Any bytes, parsed as a .npy file: a status or a tensor, never a crash, a
// sanitizer report or an allocation beyond what the bytes can fill. A tensor
// that parses is written back and must read back equal.
//
//===----------------------------------------------------------------------===//

#include "attn/npy.hpp"

#include <cstdlib>
#include <cstring>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  attn::HostTensor tensor;
  if (!attn::npy::parse(bytes, "fuzz.npy", tensor).ok())
    return 0;
  // The data a header claims is checked against the file before anything
  // is allocated.
  if (tensor.byteSize() > size)
    std::abort();
  std::string written;
  if (!attn::npy::serialize(tensor.view(), "fuzz.npy", written).ok())
    std::abort();
  attn::HostTensor again;
  if (!attn::npy::parse(written, "again.npy", again).ok() ||
      again.dtype() != tensor.dtype() || again.shape() != tensor.shape() ||
      (tensor.byteSize() &&
       std::memcmp(again.data(), tensor.data(), tensor.byteSize()) != 0))
    std::abort();
  return 0;
}
