//===- OnlineSoftmax.h - pieces shared by the flash lowerings ---*- C++ -*-===//
//
// The CPU tiles (TileOnlineSoftmax.cpp) and the GPU kernel
// (LowerAttentionToGPU.cpp) compute the same online softmax in the log2
// domain over the same block schedule; these are the index arithmetic, the
// two scalar steps and the schedule they share.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/IndexBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

namespace mlir::attn {

constexpr double kLog2E = 1.4426950408889634;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

/// The running maximum as an exp2 offset: a row that has seen no key yet has
/// m = -inf, and exp2(x - m) would be exp2(-inf + inf) = NaN; with offset 0
/// its masked scores give exp2(-inf) = 0.
inline Value safeOffset(OpBuilder &b, Location loc, Value rowMax) {
  Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowMax,
                                      f32Constant(b, loc, kNegInf));
  return arith::SelectOp::create(b, loc, empty, f32Constant(b, loc, 0), rowMax);
}

inline Value exp2Of(OpBuilder &b, Location loc, Value x, Value offset) {
  return math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, x, offset));
}

/// The natural log-sum-exp of a row from its final state in the log2 domain:
/// sum_j exp(s_j) = sum_j 2^(s_j log2 e) = l 2^m, so lse = (m + log2 l) ln 2;
/// -inf for a row that saw no key (l = 0).
inline Value logSumExpOf(OpBuilder &b, Location loc, Value m, Value l) {
  Value any = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, l,
                                    f32Constant(b, loc, 0));
  Value log2Sum =
      arith::AddFOp::create(b, loc, m, math::Log2Op::create(b, loc, l));
  Value lse =
      arith::MulFOp::create(b, loc, log2Sum, f32Constant(b, loc, 1.0 / kLog2E));
  return arith::SelectOp::create(b, loc, any, lse,
                                 f32Constant(b, loc, kNegInf));
}

/// The block schedule of the tiled lowerings, from the mask's index
/// arithmetic (never from an N x S mask). For the query rows [rowBegin,
/// rowEnd) of one tile, the key tiles [first, last) to visit: the mask's key
/// range (all keys without a mask) clamped to the valid keys and rounded out
/// to whole tiles of `keyTile`; none when the range is empty.
inline std::pair<Value, Value>
buildVisitedKeyTiles(OpBuilder &b, Location loc, MaskAttrInterface mask,
                     Value rowBegin, Value rowEnd, Value numQueries,
                     Value validKeys, Value head, int64_t keyTile) {
  IndexBuilder ib(b, loc);
  Value colBegin = ib.c(0), colEnd = validKeys;
  if (mask) {
    std::tie(colBegin, colEnd) = mask.buildKeyRange(
        b, loc, rowBegin, rowEnd, numQueries, validKeys, head);
    colBegin = ib.max(colBegin, ib.c(0));
    colEnd = ib.min(colEnd, validKeys);
  }
  Value first = ib.div(colBegin, ib.c(keyTile));
  Value last =
      arith::SelectOp::create(b, loc, ib.lt(colBegin, colEnd),
                              ib.ceilDiv(colEnd, ib.c(keyTile)), first);
  return {first, last};
}

/// Whether the key tile starting at `colBegin` needs no mask for the rows
/// [rowBegin, rowEnd): all its keys are valid and the mask shows them all.
inline Value buildKeyTileIsFull(OpBuilder &b, Location loc,
                                MaskAttrInterface mask, Value rowBegin,
                                Value rowEnd, Value colBegin, int64_t keyTile,
                                Value numQueries, Value validKeys, Value head) {
  IndexBuilder ib(b, loc);
  Value colEnd = ib.add(colBegin, ib.c(keyTile));
  Value full = ib.le(colEnd, validKeys);
  if (!mask)
    return full;
  return arith::AndIOp::create(
      b, loc, full,
      mask.buildIsFullyVisible(b, loc, rowBegin, rowEnd, colBegin, colEnd,
                               numQueries, validKeys, head));
}

/// Whether query `row` sees key `col`: a valid key the mask allows.
inline Value buildKeyIsVisible(OpBuilder &b, Location loc,
                               MaskAttrInterface mask, Value row, Value col,
                               Value numQueries, Value validKeys, Value head) {
  Value visible = IndexBuilder(b, loc).lt(col, validKeys);
  if (!mask)
    return visible;
  return arith::AndIOp::create(
      b, loc, visible,
      mask.buildIsVisible(b, loc, row, col, numQueries, validKeys, head));
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H
