//===- attn/npy.hpp - Reading and writing NumPy .npy files ------*- C++ -*-===//
//
// Tensors cross the command line as .npy files. Supported:
//  - reading format versions 1.0, 2.0 and 3.0 (3.0 differs only in the
//    header's text encoding); writing 1.0 (2.0 if a header needs more than
//    64 KiB);
//  - little-endian '<f4', '<f8', '<f2', '<i4', '<i8' (f32, f64, f16, i32,
//    i64), and bf16 as '<V2' (also '|V2'): NumPy has no bf16, and
//    np.save writes ml_dtypes.bfloat16 arrays so (np.load gives them back
//    as 2-byte opaque elements: `.view(ml_dtypes.bfloat16)`);
//  - a header's shape is checked against the file's size before anything
//    is allocated; a folder or another non-regular file is refused;
//  - C order only: fortran_order True and big-endian data are refused with a
//    message saying so.
// Every error message names the file.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_NPY_HPP
#define ATTN_NPY_HPP

#include "attn/runtime.hpp"

#include <string>
#include <string_view>

namespace attn::npy {

/// Reads `path` into `out`.
ATTN_RUNTIME_EXPORT Status read(const std::string &path, HostTensor &out);

/// Parses the bytes of a .npy file; `name` is used in error messages.
ATTN_RUNTIME_EXPORT Status parse(std::string_view bytes,
                                 const std::string &name, HostTensor &out);

/// Writes a contiguous tensor view (strides NULL or contiguous) to `path`.
ATTN_RUNTIME_EXPORT Status write(const std::string &path,
                                 const attn_tensor_t &tensor);

/// Serializes a tensor view to the bytes of a .npy file.
ATTN_RUNTIME_EXPORT Status serialize(const attn_tensor_t &tensor,
                                     const std::string &name, std::string &out);

inline Status write(const std::string &path, const HostTensor &tensor) {
  return write(path, tensor.view());
}

inline Result<HostTensor> read(const std::string &path) {
  HostTensor tensor;
  Status status = read(path, tensor);
  if (!status.ok())
    return status;
  return tensor;
}

} // namespace attn::npy

#endif // ATTN_NPY_HPP
