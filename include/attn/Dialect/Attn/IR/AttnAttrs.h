//===- AttnAttrs.h - attributes of the attn dialect -------------*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_IR_ATTNATTRS_H
#define ATTN_DIALECT_ATTN_IR_ATTNATTRS_H

#include "attn/Dialect/Attn/IR/AttnInterfaces.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"

#include "attn/Dialect/Attn/IR/AttnEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.h.inc"

namespace mlir::attn {
/// The largest static size of a tensor dimension and the largest mask
/// parameter (a position, a length): 2^31 - 1, as key lengths are i32.
inline constexpr int64_t kMaxSize = (int64_t(1) << 31) - 1;
/// The most elements of the static dimensions of an op's tensor (2^48).
inline constexpr int64_t kMaxStaticElements = int64_t(1) << 48;
/// The widest head, D or Dv: the lowerings' tiles hold rows of it.
inline constexpr int64_t kMaxHeadWidth = 65536;
/// The most tokens a global mask lists (each is a test in every tile).
inline constexpr size_t kMaxGlobalTokens = 4096;

/// Whether `mask` (or a member of it) shows different keys to different
/// query heads: the Sparse Transformer's patterns with `split_heads`. Rows
/// of several heads may share key tiles only when it does not.
bool splitsHeads(Attribute mask);
} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_IR_ATTNATTRS_H
