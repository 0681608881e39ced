//===- HostTensors.h - runtime tensors meet the reference -------*- C++ -*-===//
//
// What every check of generated code needs: elements of any dtype read and
// written as doubles, deterministic random inputs, and one measure of error
// against the float64 reference. Shared by attn-run and the integration tests.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_REFERENCE_HOSTTENSORS_H
#define ATTN_REFERENCE_HOSTTENSORS_H

#include "attn/Reference/Reference.h"
#include "attn/runtime.hpp"

namespace attn::reference {

/// Element `i` (row-major) of `tensor` as a double.
double loadElement(const HostTensor &tensor, int64_t i);
/// Stores `value` into element `i`, rounded to the tensor's dtype.
void storeElement(HostTensor &tensor, int64_t i, double value);

/// The tensor's values in float64.
Tensor toReference(const HostTensor &tensor);

/// Fills `tensor` from a stream that depends only on `seed`: floats uniform
/// in [-1, 1), integers uniform in [0, integerBound].
void fillRandom(HostTensor &tensor, uint64_t seed, int64_t integerBound);

/// max |out - ref| / max(1, max |ref|): the largest deviation, relative to
/// the output's range once that exceeds 1 (sums over a long feature
/// dimension round in proportion to the output's scale, not to each
/// element). Infinite when `out` holds a NaN.
double maxError(const HostTensor &out, const Tensor &expected);

/// The default bound on maxError for outputs of `dtype`.
double defaultTolerance(attn_dtype_t dtype);

} // namespace attn::reference

#endif // ATTN_REFERENCE_HOSTTENSORS_H
