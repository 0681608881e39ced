//===- SoftmaxTile.h - one key tile of the online softmax -------*- C++ -*-===//
//
// The CPU lowerings that walk key tiles (the flash tiles of
// TileOnlineSoftmax.cpp and the decode tiles of TileDecode.cpp) differ in
// how they form a tile of scores and which query and head a row of it
// belongs to; from the scores on they run the same steps, written here once.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_SOFTMAXTILE_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_SOFTMAXTILE_H

#include "GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"

namespace mlir::attn {

/// `queries` in f32 times scale * log2(e), written into `init` (same shape):
/// the query tile in the log2 domain, so that exp(x) = exp2(x) afterwards.
inline Value scaleIntoLog2Domain(OpBuilder &b, Location loc, Value queries,
                                 Value init, double scale) {
  GenericBuilder gb(b, loc);
  Type f32 = b.getF32Type();
  unsigned rank = cast<RankedTensorType>(queries.getType()).getRank();
  AffineMap identity = AffineMap::getMultiDimIdentityMap(rank, b.getContext());
  return gb.generic(
      {queries}, init, {identity, identity},
      SmallVector<utils::IteratorType>(rank, kPar),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value x = a[0].getType() == f32
                      ? a[0]
                      : arith::ExtFOp::create(nb, l, f32, a[0]).getResult();
        return arith::MulFOp::create(nb, l, x,
                                     f32Constant(nb, l, scale * kLog2E));
      });
}

/// `scores` (rows x keys, f32) with the keys a row does not see at -inf,
/// unless `full` says the tile hides nothing: then it passes unchanged and
/// no element is tested. `visible(row, col)` answers for one element from
/// its indices in the tile.
inline Value maskScoresUnlessFull(
    OpBuilder &b, Location loc, Value scores, Value full,
    function_ref<Value(OpBuilder &, Location, Value, Value)> visible) {
  GenericBuilder gb(b, loc);
  auto ifOp = scf::IfOp::create(b, loc, TypeRange{scores.getType()}, full,
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  scf::YieldOp::create(b, loc, scores);
  b.setInsertionPointToStart(ifOp.elseBlock());
  Value masked = gb.generic(
      {}, scores, {gb.map(2, {0, 1})}, {kPar, kPar},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value row = linalg::IndexOp::create(nb, l, 0);
        Value col = linalg::IndexOp::create(nb, l, 1);
        return arith::SelectOp::create(nb, l, visible(nb, l, row, col), a[0],
                                       f32Constant(nb, l, kNegInf));
      });
  scf::YieldOp::create(b, loc, masked);
  return ifOp.getResult(0);
}

/// The online softmax step for one tile of log2-domain `scores` (rows x
/// keys) and its `values` (keys x Dv, f32): state (m, l, acc) becomes
///
///   m' = max(m, rowmax(s)),  alpha = exp2(m - m'),  p = exp2(s - m'),
///   l' = alpha l + rowsum(p),  acc' = alpha acc + p v.
///
/// Every update is written in place of its loop-carried tensor, so the
/// state stays in the same three buffers from tile to tile.
inline SmallVector<Value> updateOnlineSoftmax(OpBuilder &b, Location loc,
                                              Value scores, Value values,
                                              ValueRange state) {
  GenericBuilder gb(b, loc);
  Type f32 = b.getF32Type();
  Value m = state[0], l = state[1], acc = state[2];
  SmallVector<OpFoldResult> rowSize = tensor::getMixedSizes(b, loc, m);
  Value tileMax =
      gb.generic({scores}, gb.tensor(rowSize, f32, kNegInf),
                 {gb.map(2, {0, 1}), gb.map(2, {0})}, {kPar, kRed},
                 [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
                   return arith::MaximumFOp::create(nb, lo, a[0], a[1]);
                 });

  // alpha = exp2(m - m') with m' = max(m, rowmax(s)): the factor that
  // moves the old sums to the new maximum.
  Value alpha =
      gb.generic({m, tileMax}, gb.tensor(rowSize, f32),
                 {gb.map(1, {0}), gb.map(1, {0}), gb.map(1, {0})}, {kPar},
                 [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
                   Value newMax = arith::MaximumFOp::create(nb, lo, a[0], a[1]);
                   return exp2Of(nb, lo, a[0], safeOffset(nb, lo, newMax));
                 });
  Value newMax =
      gb.generic({tileMax}, m, {gb.map(1, {0}), gb.map(1, {0})}, {kPar},
                 [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
                   return arith::MaximumFOp::create(nb, lo, a[0], a[1]);
                 });

  // l' = alpha l + rowsum(p) with p = exp2(s - m') in place of s: one pass
  // over the tile computes both.
  Value scaledSum =
      gb.generic({alpha}, l, {gb.map(1, {0}), gb.map(1, {0})}, {kPar},
                 [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
                   return arith::MulFOp::create(nb, lo, a[1], a[0]);
                 });
  auto probsAndSum = linalg::GenericOp::create(
      b, loc, TypeRange{scores.getType(), scaledSum.getType()},
      ValueRange{newMax}, ValueRange{scores, scaledSum},
      ArrayRef<AffineMap>{gb.map(2, {0}), gb.map(2, {0, 1}), gb.map(2, {0})},
      ArrayRef<utils::IteratorType>{kPar, kRed},
      [&](OpBuilder &nb, Location lo, ValueRange a) {
        Value p = exp2Of(nb, lo, a[1], safeOffset(nb, lo, a[0]));
        Value sum = arith::AddFOp::create(nb, lo, a[2], p);
        linalg::YieldOp::create(nb, lo, ValueRange{p, sum});
      });
  Value probs = probsAndSum.getResult(0), newSum = probsAndSum.getResult(1);

  // acc' = alpha acc + p v
  Value scaledAcc = gb.generic(
      {alpha}, acc, {gb.map(2, {0}), gb.map(2, {0, 1})}, {kPar, kPar},
      [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
        return arith::MulFOp::create(nb, lo, a[1], a[0]);
      });
  Value newAcc = linalg::MatmulOp::create(b, loc, ValueRange{probs, values},
                                          ValueRange{scaledAcc})
                     .getResult(0);
  return {newMax, newSum, newAcc};
}

/// out = l > 0 ? acc / l : 0 per element of `acc` (..., rows, Dv), in
/// `elementType`; `l` has acc's shape without its last dimension.
inline Value normalizeRows(OpBuilder &b, Location loc, Value acc, Value l,
                           Type elementType) {
  GenericBuilder gb(b, loc);
  auto accType = cast<RankedTensorType>(acc.getType());
  unsigned rank = accType.getRank();
  SmallVector<unsigned> all, rowDims;
  for (unsigned d = 0; d < rank; ++d) {
    all.push_back(d);
    if (d + 1 < rank)
      rowDims.push_back(d);
  }
  return gb.generic(
      {acc, l}, gb.tensor(tensor::getMixedSizes(b, loc, acc), elementType),
      {gb.map(rank, all), gb.map(rank, rowDims), gb.map(rank, all)},
      SmallVector<utils::IteratorType>(rank, kPar),
      [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
        Value zeroF = f32Constant(nb, lo, 0);
        Value any = arith::CmpFOp::create(nb, lo, arith::CmpFPredicate::OGT,
                                          a[1], zeroF);
        Value o = arith::SelectOp::create(
            nb, lo, any, arith::DivFOp::create(nb, lo, a[0], a[1]), zeroF);
        return elementType.isF32()
                   ? o
                   : arith::TruncFOp::create(nb, lo, elementType, o)
                         .getResult();
      });
}

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_SOFTMAXTILE_H
