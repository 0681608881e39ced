//===- SoftmaxTile.h - one key tile of the online softmax -------*- C++ -*-===//
//
// The CPU lowerings that walk key tiles (the flash tiles of
// TileOnlineSoftmax.cpp and the decode tiles of TileDecode.cpp) differ in
// how they form a tile of scores and which query and head a row of it
// belongs to; from the scores on they run the same steps, written here once.
// The merge of split-K's partial states is here too: the CPU's decode tiles
// and the GPU kernels' decode mode (lib/Conversion/AttnToGPU) both produce
// them.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_SOFTMAXTILE_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_SOFTMAXTILE_H

#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"

#include <functional>

namespace mlir::attn {

/// `rows` (count x w) as the leading rows of `tile` (T x w), whose other
/// rows are zero: a key tile padded with zero keys.
inline Value padWithZeros(OpBuilder &b, Location loc, Value rows, Value tile) {
  Type element = cast<RankedTensorType>(tile.getType()).getElementType();
  Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(element));
  Value zeros =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{tile})
          .getResult(0);
  OpFoldResult origin = b.getIndexAttr(0), one = b.getIndexAttr(1);
  return tensor::InsertSliceOp::create(
      b, loc, rows, zeros, ArrayRef<OpFoldResult>{origin, origin},
      tensor::getMixedSizes(b, loc, rows), ArrayRef<OpFoldResult>{one, one});
}

/// `rows` (count x w, f32, f16 or bf16; count <= T) widened to f32 as the
/// leading rows of `tile` (T x w, f32), whose other rows are zero.
inline Value padRowsAsF32(OpBuilder &b, Location loc, Value rows, Value tile) {
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
  Value zeros =
      linalg::FillOp::create(b, loc, ValueRange{zero}, ValueRange{tile})
          .getResult(0);
  SmallVector<OpFoldResult> origin(2, b.getIndexAttr(0)),
      ones(2, b.getIndexAttr(1)),
      sizes = tensor::getMixedSizes(b, loc, rows);
  Value leading =
      tensor::ExtractSliceOp::create(b, loc, zeros, origin, sizes, ones);
  return tensor::InsertSliceOp::create(
      b, loc, convertElementsInto(b, loc, rows, leading), zeros, origin, sizes,
      ones);
}

/// `rows` (count x w, count <= `tileRows`) as a transposed f32 tile
/// (w x tileRows) written into `slot`, zero past count: a packed key tile
/// whose product q k^T (or dout v^T) reads rows of keys. The rows are padded
/// first (a row copy, widened), then transposed as one static tile, which
/// attn-cpu-vectorize-tiles transposes in registers block by block.
inline Value packTransposedTile(OpBuilder &b, Location loc, Value rows,
                                int64_t tileRows, Value slot) {
  GenericBuilder gb(b, loc);
  int64_t width = cast<RankedTensorType>(rows.getType()).getDimSize(1);
  Value padded = padRowsAsF32(
      b, loc, rows,
      gb.tensor({b.getIndexAttr(tileRows), b.getIndexAttr(width)},
                b.getF32Type()));
  return gb.generic(
      {padded}, slot, {gb.map(2, {1, 0}), gb.map(2, {0, 1})}, {kPar, kPar},
      [](OpBuilder &, Location, ValueRange a) -> Value { return a[0]; });
}

/// For rows read in place, tile by tile, from a (B, H, L, W) tensor `x`:
/// per (batch row, head), the one tile of `tile` rows that the row's limit
/// cuts, [floor(limit / tile) tile, limit), its rows copied and the rest
/// zero, as (B, H, tile, W) in x's element type. The limit is
/// clamp(keyLengths[b], 0, L) with key lengths, L without. Every other tile
/// below the limit lies wholly inside x and is read from it (see
/// wholeOrTailTile): no copy of x, and no row past the limit in a product
/// (0 times the NaN or inf such a row may hold would not be 0).
inline Value packTailTiles(OpBuilder &b, Location loc, Value x, int64_t tile,
                           Value keyLengths) {
  IndexBuilder ib(b, loc);
  GenericBuilder gb(b, loc);
  auto type = cast<RankedTensorType>(x.getType());
  int64_t heads = type.getDimSize(1), width = type.getDimSize(3);
  OpFoldResult batch = tensor::getMixedSize(b, loc, x, 0);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  OpFoldResult tileSize = b.getIndexAttr(tile),
               widthSize = b.getIndexAttr(width);
  Value length = ib.dim(x, 2);
  auto forall = scf::ForallOp::create(
      b, loc, ArrayRef<OpFoldResult>{batch, b.getIndexAttr(heads)},
      ValueRange{gb.tensor({batch, b.getIndexAttr(heads), tileSize, widthSize},
                           type.getElementType())},
      std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forall.getTerminator());
  Value row = forall.getInductionVar(0), head = forall.getInductionVar(1);
  Value limit = length;
  if (keyLengths)
    limit = buildValidKeys(
        b, loc, tensor::ExtractOp::create(b, loc, keyLengths, row), length);
  Value tailBegin = ib.mul(ib.div(limit, ib.c(tile)), ib.c(tile));
  Value count = ib.sub(limit, tailBegin);
  SmallVector<OpFoldResult> at = {row, head, zero, zero},
                            tileSizes = {one, one, tileSize, widthSize},
                            strides = {one, one, one, one};
  Value slot = tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get({tile, width}, type.getElementType()),
      forall.getRegionIterArgs()[0], at, tileSizes, strides);
  Value rows = tensor::ExtractSliceOp::create(
      b, loc,
      RankedTensorType::get({ShapedType::kDynamic, width},
                            type.getElementType()),
      x, ArrayRef<OpFoldResult>{row, head, tailBegin, zero},
      ArrayRef<OpFoldResult>{one, one, count, widthSize}, strides);
  Value tail = padWithZeros(b, loc, rows, slot);
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      b, loc, tail, forall.getRegionIterArgs()[0], at, tileSizes, strides);
  return forall.getResult(0);
}

/// Rows [begin, begin + T) of head `head` of batch row `batch` of `x`
/// (B, H, L, W), T the tile of `tails` (from packTailTiles): a view of x
/// when `whole` says the tile lies inside x and its limit, the tail tile
/// otherwise.
inline Value wholeOrTailTile(OpBuilder &b, Location loc, Value x, Value tails,
                             Value batch, Value head, Value begin,
                             Value whole) {
  auto tailsType = cast<RankedTensorType>(tails.getType());
  int64_t tile = tailsType.getDimSize(2), width = tailsType.getDimSize(3);
  auto tileType =
      RankedTensorType::get({tile, width}, tailsType.getElementType());
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  SmallVector<OpFoldResult> sizes = {one, one, b.getIndexAttr(tile),
                                     b.getIndexAttr(width)},
                            strides = {one, one, one, one};
  auto pick = scf::IfOp::create(b, loc, TypeRange{tileType}, whole,
                                /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  // Yields the tile of `from` whose first row is `row`.
  auto yieldTile = [&](Block *block, Value from, OpFoldResult row) {
    b.setInsertionPointToStart(block);
    scf::YieldOp::create(
        b, loc,
        ValueRange{tensor::ExtractSliceOp::create(
            b, loc, tileType, from,
            ArrayRef<OpFoldResult>{batch, head, row, zero}, sizes, strides)});
  };
  yieldTile(pick.thenBlock(), x, begin);
  yieldTile(pick.elseBlock(), tails, zero);
  return pick.getResult(0);
}

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

/// `scores` (rows x keys, f32, log2 domain) with the score modifier
/// applied to every element (unit log2(e)), before any mask hides one;
/// `position(row, col)` gives where the element at those indices of the
/// tile sits.
inline Value modifyScores(
    OpBuilder &b, Location loc, Value scores, ScoreModAttrInterface mod,
    function_ref<ScorePosition(OpBuilder &, Location, Value, Value)>
        position) {
  GenericBuilder gb(b, loc);
  return gb.generic(
      {}, scores, {gb.map(2, {0, 1})}, {kPar, kPar},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        ScorePosition at = position(nb, l, linalg::IndexOp::create(nb, l, 0),
                                    linalg::IndexOp::create(nb, l, 1));
        return mod.buildModifiedScore(nb, l, a[0], kLog2E, at);
      });
}

/// `scores` (rows x keys, f32) with the keys a row does not see at
/// `hidden` (-inf for scores; 0 for probabilities), unless `full` says the
/// tile hides nothing: then it passes unchanged and no element is tested.
/// `visible(row, col)` answers for one element from its indices in the
/// tile.
inline Value maskScoresUnlessFull(
    OpBuilder &b, Location loc, Value scores, Value full,
    function_ref<Value(OpBuilder &, Location, Value, Value)> visible,
    double hidden = kNegInf) {
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
                                       f32Constant(nb, l, hidden));
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
///
/// `product` forms p v when `values` are not f32 rows (the CPU's bf16
/// pairs): `operand` turns p into the product's left operand, and runs
/// before acc is rescaled, so that the rescaling stays right before the
/// product (where the CPU's vectorizer folds it into the accumulators'
/// loads); `multiply` returns init + operand · values. Empty: linalg.matmul
/// of p and f32 `values`.
struct ProbsTimesValues {
  std::function<Value(OpBuilder &, Location, Value probs)> operand;
  std::function<Value(OpBuilder &, Location, Value lhs, Value values,
                      Value init)>
      multiply;
};

inline SmallVector<Value>
updateOnlineSoftmax(OpBuilder &b, Location loc, Value scores, Value values,
                    ValueRange state, const ProbsTimesValues &product = {}) {
  GenericBuilder gb(b, loc);
  Type f32 = b.getF32Type();
  Value m = state[0], l = state[1], acc = state[2];
  SmallVector<OpFoldResult> rowSize = tensor::getMixedSizes(b, loc, m);
  // rowmax(s) ignoring NaN: a NaN score counts as -inf here (it still
  // reaches its row, through p = exp2(s - m') = NaN, and the row's l and
  // acc). The maximum then never sees a NaN, and says so (nnan; nsz, since
  // m' only shifts exponents): a CPU reduces a row with plain vector max
  // instructions instead of IEEE-754's NaN and signed-zero tests per step.
  Value tileMax = gb.generic(
      {scores}, gb.tensor(rowSize, f32, kNegInf),
      {gb.map(2, {0, 1}), gb.map(2, {0})}, {kPar, kRed},
      [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
        Value isNaN = arith::CmpFOp::create(nb, lo, arith::CmpFPredicate::UNO,
                                            a[0], a[0]);
        Value score = arith::SelectOp::create(
            nb, lo, isNaN, f32Constant(nb, lo, kNegInf), a[0]);
        return arith::MaximumFOp::create(
            nb, lo, score, a[1],
            arith::FastMathFlagsAttr::get(nb.getContext(),
                                          arith::FastMathFlags::nnan |
                                              arith::FastMathFlags::nsz));
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
  Value lhs = product.operand ? product.operand(b, loc, probs) : probs;

  // acc' = alpha acc + p v
  Value scaledAcc = gb.generic(
      {alpha}, acc, {gb.map(2, {0}), gb.map(2, {0, 1})}, {kPar, kPar},
      [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
        return arith::MulFOp::create(nb, lo, a[1], a[0]);
      });
  Value newAcc =
      product.multiply
          ? product.multiply(b, loc, lhs, values, scaledAcc)
          : linalg::MatmulOp::create(b, loc, ValueRange{lhs, values},
                                     ValueRange{scaledAcc})
                .getResult(0);
  return {newMax, newSum, newAcc};
}

/// out = l > 0 ? acc / l : 0 per element of `acc` (..., rows, Dv), written
/// into `init` (acc's shape, the output's element type): the output's own
/// rows where the caller passes a slice of it, so that no tile is copied
/// there afterwards. `l` has acc's shape without its last dimension. The
/// test is unordered (ugt): a NaN input makes l NaN, and the row is then
/// NaN, as the math says, instead of passing for an empty row's 0.
inline Value normalizeRows(OpBuilder &b, Location loc, Value acc, Value l,
                           Value init) {
  GenericBuilder gb(b, loc);
  Type elementType = getElementTypeOrSelf(init.getType());
  auto accType = cast<RankedTensorType>(acc.getType());
  unsigned rank = accType.getRank();
  SmallVector<unsigned> all, rowDims;
  for (unsigned d = 0; d < rank; ++d) {
    all.push_back(d);
    if (d + 1 < rank)
      rowDims.push_back(d);
  }
  return gb.generic(
      {acc, l}, init,
      {gb.map(rank, all), gb.map(rank, rowDims), gb.map(rank, all)},
      SmallVector<utils::IteratorType>(rank, kPar),
      [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
        Value zeroF = f32Constant(nb, lo, 0);
        Value any = arith::CmpFOp::create(nb, lo, arith::CmpFPredicate::UGT,
                                          a[1], zeroF);
        Value o = arith::SelectOp::create(
            nb, lo, any, arith::DivFOp::create(nb, lo, a[0], a[1]), zeroF);
        return elementType.isF32()
                   ? o
                   : arith::TruncFOp::create(nb, lo, elementType, o)
                         .getResult();
      });
}

/// Split-K's exact merge (see TileDecode.cpp) of the chunks' final states
/// (m, l, acc) in the log2 domain, shaped (B, Hkv, C, g·N[, Dv]) with the
/// group's rows head-major, into the output (B, H, N, Dv) and the lse
/// (B, H, N). Element (b, h, i) of the output is row r = (h mod g)·N + i of
/// K/V head h / g. The CPU's decode tiles and the GPU's decode kernel both
/// end with it. Four parallel loop nests (one kernel each on the GPU), the
/// chunk sums run inside their bodies:
///
///   M[b, h, i]    = max_c m_c
///   w[b, j, c, r] = 2^(m_c - M)        (once per row and chunk)
///   L[b, h, i]    = sum_c w_c l_c
///   out[b,h,i,e]  = sum_c w_c acc_c[e] / L   (0 when L = 0)
inline std::pair<Value, Value> mergeSplitKPartials(OpBuilder &b, Location loc,
                                                   AttentionOp op,
                                                   ValueRange parts) {
  GenericBuilder gb(b, loc);
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  int64_t group = op.getNumHeads() / op.getNumKVHeads();
  int64_t queries =
      cast<RankedTensorType>(op.getQuery().getType()).getDimSize(2);
  int64_t valueDim =
      cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
  auto resultType = cast<RankedTensorType>(op.getResult().getType());
  SmallVector<OpFoldResult> outSizes =
      tensor::getMixedSizes(b, loc, op.getQuery());
  outSizes[3] = b.getIndexAttr(valueDim);
  ArrayRef<OpFoldResult> rowSizes = ArrayRef(outSizes).take_front(3);
  Value mParts = parts[0], lParts = parts[1], accParts = parts[2];
  Value numChunks = IndexBuilder(b, loc).dim(mParts, 2);

  // In a body over (b, h, i[, e]): a sum (or max) over the chunks c, whose
  // step reads element (b, h / g, c, (h mod g)·N + i[, e]) of a partial
  // tensor through read(tensor) (e for the tensors that have it, when
  // `perElement`).
  using Read = function_ref<Value(Value)>;
  auto overChunks = [&](OpBuilder &nb, Location l, bool perElement, Value init,
                        function_ref<Value(OpBuilder &, Location, Read, Value)>
                            step) {
    IndexBuilder nib(nb, l);
    Value head = linalg::IndexOp::create(nb, l, 1);
    SmallVector<Value> at = {
        linalg::IndexOp::create(nb, l, 0), nib.div(head, nib.c(group)), Value(),
        nib.add(nib.mul(nib.rem(head, nib.c(group)), nib.c(queries)),
                linalg::IndexOp::create(nb, l, 2))};
    if (perElement)
      at.push_back(linalg::IndexOp::create(nb, l, 3));
    return scf::ForOp::create(
               nb, l, nib.c(0), numChunks, nib.c(1), ValueRange{init},
               [&](OpBuilder &fb, Location fl, Value c, ValueRange carried) {
                 auto read = [&](Value tensor) -> Value {
                   at[2] = c;
                   int64_t rank =
                       cast<RankedTensorType>(tensor.getType()).getRank();
                   return tensor::ExtractOp::create(
                       fb, fl, tensor, ArrayRef(at).take_front(rank));
                 };
                 scf::YieldOp::create(fb, fl, step(fb, fl, read, carried[0]));
               })
        .getResult(0);
  };
  AffineMap rows = gb.map(3, {0, 1, 2});
  SmallVector<utils::IteratorType> rowLoops(3, kPar);

  Value most = gb.generic(
      {}, gb.tensor(rowSizes, f32), {rows}, rowLoops,
      [&](OpBuilder &nb, Location l, ValueRange) {
        return overChunks(
            nb, l, /*perElement=*/false, f32Constant(nb, l, kNegInf),
            [&](OpBuilder &fb, Location fl, Read read, Value m) -> Value {
              return arith::MaximumFOp::create(fb, fl, m, read(mParts));
            });
      });
  // Partial row (b, j, c, r) is row (b, j·g + r / N, r mod N) of M.
  AffineExpr j = getAffineDimExpr(1, ctx), r = getAffineDimExpr(3, ctx);
  AffineMap rowOfPart = AffineMap::get(
      4, 0,
      {getAffineDimExpr(0, ctx), j * group + r.floorDiv(queries), r % queries},
      ctx);
  AffineMap identity = AffineMap::getMultiDimIdentityMap(4, ctx);
  Value weights = gb.generic(
      {mParts, most}, gb.tensor(tensor::getMixedSizes(b, loc, mParts), f32),
      {identity, rowOfPart, identity},
      SmallVector<utils::IteratorType>(4, kPar),
      [&](OpBuilder &nb, Location l, ValueRange a) {
        return exp2Of(nb, l, a[0], safeOffset(nb, l, a[1]));
      });
  Value sum = gb.generic(
      {}, gb.tensor(rowSizes, f32), {rows}, rowLoops,
      [&](OpBuilder &nb, Location l, ValueRange) {
        return overChunks(
            nb, l, /*perElement=*/false, f32Constant(nb, l, 0),
            [&](OpBuilder &fb, Location fl, Read read, Value total) -> Value {
              return math::FmaOp::create(fb, fl, read(weights), read(lParts),
                                         total);
            });
      });
  Type elementType = resultType.getElementType();
  Value out = gb.generic(
      {sum}, gb.tensor(outSizes, elementType),
      {gb.map(4, {0, 1, 2}), gb.map(4, {0, 1, 2, 3})},
      SmallVector<utils::IteratorType>(4, kPar),
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value acc = overChunks(
            nb, l, /*perElement=*/true, f32Constant(nb, l, 0),
            [&](OpBuilder &fb, Location fl, Read read, Value total) -> Value {
              return math::FmaOp::create(fb, fl, read(weights), read(accParts),
                                         total);
            });
        Value zeroF = f32Constant(nb, l, 0);
        Value any = arith::CmpFOp::create(nb, l, arith::CmpFPredicate::UGT,
                                          a[0], zeroF);
        Value o = arith::SelectOp::create(
            nb, l, any, arith::DivFOp::create(nb, l, acc, a[0]), zeroF);
        return elementType.isF32()
                   ? o
                   : arith::TruncFOp::create(nb, l, elementType, o).getResult();
      });
  Value lse;
  if (op.getLse())
    lse = gb.generic({most, sum}, gb.tensor(rowSizes, f32), {rows, rows, rows},
                     rowLoops, [&](OpBuilder &nb, Location l, ValueRange a) {
                       return logSumExpOf(nb, l, a[0], a[1]);
                     });
  return {out, lse};
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_SOFTMAXTILE_H
