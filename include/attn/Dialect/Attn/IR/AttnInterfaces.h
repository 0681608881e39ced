//===- AttnInterfaces.h - interfaces of the attn dialect --------*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_H
#define ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpDefinition.h"

namespace mlir::attn {

/// Receives what an op states about the shapes of its operands and results
/// (see ShapeContractOpInterface).
class ShapeContract {
public:
  virtual ~ShapeContract() = default;
  /// `value` plays `role` (q, k, out, ...) in the op; `dims` names each of
  /// its dimensions with a symbol shared by the dimensions of equal size.
  virtual void addValue(Value value, StringRef role,
                        ArrayRef<StringRef> dims) = 0;
  /// The integers held by `value` lie in [0, size of the dimension `symbol`],
  /// and never decrease along it when `ascending` (offsets).
  virtual void addBound(Value value, StringRef symbol,
                        bool ascending = false) = 0;
};

/// Where a score sits, as a score modifier sees it (index values): query
/// row `row` of `numQueries`, key `col` among `numKeys` valid keys (the key
/// length of its batch row), query head `head` of the op's `numHeads`.
struct ScorePosition {
  Value row, col, numQueries, numKeys, head;
  int64_t numHeads;
};

} // namespace mlir::attn

#include "attn/Dialect/Attn/IR/AttnAttrInterfaces.h.inc"
#include "attn/Dialect/Attn/IR/AttnOpInterfaces.h.inc"

#endif // ATTN_DIALECT_ATTN_IR_ATTNINTERFACES_H
