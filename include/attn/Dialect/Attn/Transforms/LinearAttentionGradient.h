//===- LinearAttentionGradient.h - linear attention's backward --*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_LINEARATTENTIONGRADIENT_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_LINEARATTENTIONGRADIENT_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

namespace mlir::attn {

/// Builds the gradients of `op`'s result given `dout` (its gradient) as
/// linalg ops at `b`'s insertion point, and hands each to `add` with the
/// operand it belongs to: q, k, v, and the initial state when there is one.
/// Causal or not (LinearAttentionGradient.cpp has the formulas). The
/// gradient through the final state is the caller's to refuse.
void differentiateLinearAttention(OpBuilder &b, Location loc,
                                  LinearAttentionOp op, Value dout,
                                  function_ref<void(Value, Value)> add);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_LINEARATTENTIONGRADIENT_H
