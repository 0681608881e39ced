//===- tensor.cpp - Element types and tensor utilities --------------------===//

#include "internal.h"

#include <cstring>
#include <string>

using namespace attn::detail;

namespace attn::detail {

size_t dtypeSize(attn_dtype_t dtype) {
  switch (dtype) {
  case ATTN_DTYPE_F32:
  case ATTN_DTYPE_I32:
    return 4;
  case ATTN_DTYPE_F16:
  case ATTN_DTYPE_BF16:
    return 2;
  case ATTN_DTYPE_F64:
  case ATTN_DTYPE_I64:
    return 8;
  case ATTN_DTYPE_ENUM_MAX_:
    break;
  }
  return 0;
}

std::string dtypeDescription(attn_dtype_t dtype) {
  if (const char *name = attn_dtype_name(dtype))
    return name;
  return "unknown dtype " + std::to_string(static_cast<int>(dtype));
}

std::string formatShape(int32_t rank, const int64_t *shape) {
  if (rank > 0 && !shape)
    return "<null>";
  std::string text = "[";
  for (int32_t i = 0; i < rank; ++i) {
    if (i)
      text += ',';
    text += std::to_string(shape[i]);
  }
  text += ']';
  return text;
}

} // namespace attn::detail

extern "C" {

ATTN_RUNTIME_EXPORT const char *attn_dtype_name(attn_dtype_t dtype) {
  switch (dtype) {
  case ATTN_DTYPE_F32:
    return "f32";
  case ATTN_DTYPE_F16:
    return "f16";
  case ATTN_DTYPE_BF16:
    return "bf16";
  case ATTN_DTYPE_F64:
    return "f64";
  case ATTN_DTYPE_I32:
    return "i32";
  case ATTN_DTYPE_I64:
    return "i64";
  case ATTN_DTYPE_ENUM_MAX_:
    break;
  }
  return nullptr;
}

ATTN_RUNTIME_EXPORT size_t attn_dtype_size(attn_dtype_t dtype) {
  return dtypeSize(dtype);
}

ATTN_RUNTIME_EXPORT attn_status_t
attn_dtype_from_name(const char *name, attn_dtype_t *out_dtype) {
  return guard([&]() -> attn_status_t {
    if (!name)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_dtype_from_name: name is NULL");
    if (!out_dtype)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_dtype_from_name: out_dtype is NULL");
    for (attn_dtype_t dtype :
         {ATTN_DTYPE_F32, ATTN_DTYPE_F16, ATTN_DTYPE_BF16, ATTN_DTYPE_F64,
          ATTN_DTYPE_I32, ATTN_DTYPE_I64}) {
      if (std::strcmp(name, attn_dtype_name(dtype)) == 0) {
        *out_dtype = dtype;
        return nullptr;
      }
    }
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      std::string("unknown dtype '") + name +
                          "' (expected f32, f16, bf16, f64, i32 or i64)");
  });
}

ATTN_RUNTIME_EXPORT attn_status_t
attn_tensor_element_count(const attn_tensor_t *tensor, int64_t *out_count) {
  return guard([&]() -> attn_status_t {
    if (!tensor)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_tensor_element_count: tensor is NULL");
    if (!out_count)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_tensor_element_count: out_count is NULL");
    if (tensor->rank < 0)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "tensor has negative rank " +
                            std::to_string(tensor->rank));
    if (tensor->rank > 0 && !tensor->shape)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "tensor has rank " + std::to_string(tensor->rank) +
                            " but its shape pointer is NULL");
    int64_t count = 1;
    for (int32_t i = 0; i < tensor->rank; ++i) {
      int64_t dim = tensor->shape[i];
      if (dim < 0)
        return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                          "tensor shape " +
                              formatShape(tensor->rank, tensor->shape) +
                              " has a negative dimension " + std::to_string(i));
      if (__builtin_mul_overflow(count, dim, &count))
        return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                          "tensor shape " +
                              formatShape(tensor->rank, tensor->shape) +
                              " has more elements than int64_t can count");
    }
    *out_count = count;
    return nullptr;
  });
}

ATTN_RUNTIME_EXPORT size_t attn_format_shape(int32_t rank, const int64_t *shape,
                                             char *buffer, size_t buffer_size) {
  // Formats without allocating, so that it works while memory is short.
  size_t length = 0;
  auto put = [&](char c) {
    if (buffer && length + 1 < buffer_size)
      buffer[length] = c;
    ++length;
  };
  if (rank > 0 && !shape) {
    for (const char *p = "<null>"; *p; ++p)
      put(*p);
  } else {
    put('[');
    for (int32_t i = 0; i < rank; ++i) {
      if (i)
        put(',');
      char digits[24];
      int n = 0;
      int64_t value = shape[i];
      // Work on the negated value so that INT64_MIN does not overflow.
      bool negative = value < 0;
      int64_t rest = negative ? value : -value;
      do {
        digits[n++] = static_cast<char>('0' - rest % 10);
        rest /= 10;
      } while (rest != 0);
      if (negative)
        put('-');
      while (n > 0)
        put(digits[--n]);
    }
    put(']');
  }
  if (buffer && buffer_size > 0)
    buffer[length < buffer_size ? length : buffer_size - 1] = '\0';
  return length;
}

} // extern "C"
