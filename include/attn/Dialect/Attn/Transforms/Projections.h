//===- Projections.h - the layers' projections as linalg ops ----*- C++ -*-===//
//
// attn-decompose-layers writes the projections of an attention layer as two
// forms of linalg.generic, whose indexing maps do the head split and merge
// (no transposed copy exists). Target lowerings that make these products
// fast (the CPU's register-blocked tiles) recognize them by the same maps.
//
//   into heads:  P[b, h, t, d] += X[b, t, f] W[f, h, d]
//                loops (b, h, t, d, f); W is the (F, h * w) weight viewed
//                as (F, h, w), P the (B, h, T, w) operand of attention.
//   from heads:  Y[b, t, e] += O[b, h, t, d] W[h, d, e]
//                loops (b, t, e, h, d); O is attention's (B, h, T, w)
//                result, W the (h * w, E) weight viewed as (h, w, E).
//
// Both accumulate in f32 (P and Y are f32, the inputs are widened by
// arith.extf in the body).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PROJECTIONS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_PROJECTIONS_H

#include "mlir/Dialect/Linalg/IR/Linalg.h"

#include <optional>

namespace mlir::attn {

enum class ProjectionForm { IntoHeads, FromHeads };

/// The indexing maps (activations, weights, result) of `form`.
SmallVector<AffineMap> getProjectionMaps(MLIRContext *ctx,
                                         ProjectionForm form);

/// The iterator types of `form`.
SmallVector<utils::IteratorType> getProjectionIterators(ProjectionForm form);

/// Builds the body out + extf(a) * extf(b) of a projection, in f32.
Value buildProjectionBody(OpBuilder &b, Location loc, ValueRange args);

/// The form of `op` if it is a projection as attn-decompose-layers writes
/// it: its maps, iterators, f32 result and multiply-add body.
std::optional<ProjectionForm> matchProjection(linalg::GenericOp op);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PROJECTIONS_H
