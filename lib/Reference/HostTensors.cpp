//===- HostTensors.cpp - runtime tensors meet the reference ---------------===//

#include "attn/Reference/HostTensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

using namespace attn;
using namespace attn::reference;

static float bf16ToFloat(uint16_t bits) {
  uint32_t word = uint32_t(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof(value));
  return value;
}

static uint16_t floatToBf16(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof(word));
  if (std::isnan(value))
    return 0x7fc0;
  // Round to nearest even on the 16 bits that are dropped.
  word += 0x7fff + ((word >> 16) & 1);
  return uint16_t(word >> 16);
}

double attn::reference::loadElement(const HostTensor &tensor, int64_t i) {
  switch (tensor.dtype()) {
  case ATTN_DTYPE_F64:
    return tensor.data<double>()[i];
  case ATTN_DTYPE_F16:
    return double(static_cast<const _Float16 *>(tensor.data())[i]);
  case ATTN_DTYPE_BF16:
    return bf16ToFloat(static_cast<const uint16_t *>(tensor.data())[i]);
  case ATTN_DTYPE_I32:
    return tensor.data<int32_t>()[i];
  case ATTN_DTYPE_I64:
    return double(tensor.data<int64_t>()[i]);
  default:
    return tensor.data<float>()[i];
  }
}

void attn::reference::storeElement(HostTensor &tensor, int64_t i,
                                   double value) {
  switch (tensor.dtype()) {
  case ATTN_DTYPE_F64:
    tensor.data<double>()[i] = value;
    return;
  case ATTN_DTYPE_F16:
    static_cast<_Float16 *>(tensor.data())[i] = _Float16(value);
    return;
  case ATTN_DTYPE_BF16:
    static_cast<uint16_t *>(tensor.data())[i] = floatToBf16(float(value));
    return;
  case ATTN_DTYPE_I32:
    tensor.data<int32_t>()[i] = int32_t(value);
    return;
  case ATTN_DTYPE_I64:
    tensor.data<int64_t>()[i] = int64_t(value);
    return;
  default:
    tensor.data<float>()[i] = float(value);
    return;
  }
}

Tensor attn::reference::toReference(const HostTensor &tensor) {
  Tensor result(tensor.shape());
  for (int64_t i = 0, e = tensor.numElements(); i < e; ++i)
    result.data[i] = loadElement(tensor, i);
  return result;
}

void attn::reference::fillRandom(HostTensor &tensor, uint64_t seed,
                                 int64_t integerBound) {
  // splitmix64: a small generator whose stream depends only on the seed.
  uint64_t state = seed;
  auto next = [&state] {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  bool isInteger =
      tensor.dtype() == ATTN_DTYPE_I32 || tensor.dtype() == ATTN_DTYPE_I64;
  for (int64_t i = 0, e = tensor.numElements(); i < e; ++i) {
    double value = isInteger
                       ? double(next() % uint64_t(integerBound + 1))
                       : double(next() >> 11) * 0x1.0p-52 - 1.0; // [-1, 1)
    storeElement(tensor, i, value);
  }
}

double attn::reference::maxError(const HostTensor &out,
                                 const Tensor &expected) {
  double worst = 0, range = 1;
  for (int64_t i = 0, e = out.numElements(); i < e; ++i) {
    double got = loadElement(out, i), want = expected.data[i];
    if (std::isnan(got))
      return std::numeric_limits<double>::infinity();
    worst = std::max(worst, std::abs(got - want));
    range = std::max(range, std::abs(want));
  }
  return worst / range;
}

double attn::reference::defaultTolerance(attn_dtype_t dtype) {
  switch (dtype) {
  case ATTN_DTYPE_F16:
    return 1e-2;
  case ATTN_DTYPE_BF16:
    return 5e-2;
  case ATTN_DTYPE_F64:
    return 1e-10;
  default:
    return 1e-4;
  }
}
