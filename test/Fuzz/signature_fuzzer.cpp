//===- signature_fuzzer.cpp - libFuzzer target of the signature parser ----===//
//
// Any text as a module's `attn_module_signature`, through the public way in
// (attn_module_create_from_lookup): a status or a module, never a crash or
// a sanitizer report. A module that forms describes its functions, and
// output shapes are inferred for inputs of small shapes drawn from the
// text itself.
//
//===----------------------------------------------------------------------===//

#include "attn/runtime.h"

#include <cstring>
#include <string>
#include <vector>

namespace {

struct Lookup {
  std::string signature;
};

/// Never called: entry points are only looked up here.
void entry(void **) {}

void *lookup(void *userData, const char *symbol) {
  auto *state = static_cast<Lookup *>(userData);
  if (std::strcmp(symbol, "attn_module_signature") == 0)
    return state->signature.data();
  if (std::strncmp(symbol, "_attn_entry_", 12) == 0)
    return reinterpret_cast<void *>(&entry);
  return nullptr;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Lookup state{std::string(reinterpret_cast<const char *>(data), size)};
  attn_module_t *module = nullptr;
  attn_status_t status =
      attn_module_create_from_lookup(lookup, &state, nullptr, &module);
  if (status) {
    attn_status_free(status);
    return 0;
  }
  for (size_t f = 0; f < attn_module_function_count(module); ++f) {
    const attn_function_t *function = nullptr;
    if (attn_status_t s = attn_module_function_at(module, f, &function)) {
      attn_status_free(s);
      continue;
    }
    // Inputs of sizes 1 to 3 in every dimension, from the input's bytes,
    // zero-filled (key lengths of 0 are in range).
    size_t inputs = attn_function_input_count(function);
    std::vector<std::vector<int64_t>> shapes(inputs);
    std::vector<std::vector<uint64_t>> buffers(inputs);
    std::vector<attn_tensor_t> views(inputs);
    for (size_t i = 0; i < inputs; ++i) {
      attn_arg_info_t info;
      if (attn_status_t s = attn_function_input_info(function, i, &info)) {
        attn_status_free(s);
        continue;
      }
      size_t elements = 1;
      for (int32_t d = 0; d < info.rank && d < 8; ++d) {
        shapes[i].push_back(1 + int64_t(data[(i + d) % size]) % 3);
        elements *= size_t(shapes[i].back());
      }
      buffers[i].assign(elements, 0);
      views[i] = attn_tensor_t{buffers[i].data(), info.dtype,
                               int32_t(shapes[i].size()), shapes[i].data(),
                               nullptr};
    }
    size_t outputRanks = 0;
    for (size_t o = 0; o < attn_function_output_count(function); ++o) {
      attn_arg_info_t info;
      if (attn_status_t s = attn_function_output_info(function, o, &info))
        attn_status_free(s);
      else
        outputRanks += size_t(info.rank);
    }
    std::vector<int64_t> outputShapes(outputRanks + 1);
    attn_status_free(attn_function_infer_output_shapes(
        function, views.data(), inputs, outputShapes.data()));
  }
  attn_module_release(module);
  return 0;
}
