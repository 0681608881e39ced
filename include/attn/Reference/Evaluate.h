//===- Evaluate.h - run a function of attn ops in float64 -------*- C++ -*-===//

#ifndef ATTN_REFERENCE_EVALUATE_H
#define ATTN_REFERENCE_EVALUATE_H

#include "attn/Reference/Reference.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

namespace mlir::attn {

/// Evaluates `func`, a function of attn ops on tensors (before lowering), on
/// `arguments` with the float64 reference. With `computeValues` false only
/// the shapes of the results and the cost are derived (cheap). Ops the
/// reference does not know are reported as errors on `func`.
FailureOr<std::vector<::attn::reference::Tensor>>
evaluateReference(func::FuncOp func,
                  ArrayRef<::attn::reference::Tensor> arguments,
                  ::attn::reference::Cost *cost, bool computeValues = true);

} // namespace mlir::attn

#endif // ATTN_REFERENCE_EVALUATE_H
