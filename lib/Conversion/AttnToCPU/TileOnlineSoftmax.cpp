//===- TileOnlineSoftmax.cpp - the flash strategy -------------------------===//
//
// attn.attention as FlashAttention computes it: a query tile never sees more
// than one key tile of scores at a time. Over the key tiles j of its row
// range, a row keeps the running maximum m, the running sum l and the
// accumulator acc of its unnormalized output. With scores s_j taken in the
// log2 domain (q is scaled by scale * log2(e) once, so exp(x) = exp2(x)):
//
//   m_j   = max(m_{j-1}, max_k s_j[k])
//   p_j   = exp2(s_j - m_j)
//   l_j   = exp2(m_{j-1} - m_j) l_{j-1} + sum_k p_j[k]
//   acc_j = exp2(m_{j-1} - m_j) acc_{j-1} + p_j v_j
//
// By induction l_j = sum_{k <= j} exp2(s_k - m_j) and acc_j the same sum
// weighting v_k: every earlier term was scaled by 2^{-m} with its own m, and
// the factor exp2(m_{j-1} - m_j) moves it to the current one. After the last
// tile acc / l is exactly softmax(s) v: the result is exact, only the order of
// the floating-point sums differs. m never decreases, so no exp2 argument is
// positive and nothing overflows.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/SoftmaxTile.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Conversion/AttnToCPU/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEONLINESOFTMAXPASS
#include "attn/Conversion/AttnToCPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

class TileOnlineSoftmax : public OpRewritePattern<AttentionOp> {
public:
  TileOnlineSoftmax(MLIRContext *ctx, int64_t queryTile, int64_t keyTile,
                    bool bf16Pairs)
      : OpRewritePattern(ctx), queryTile(queryTile), keyTile(keyTile),
        bf16Pairs(bf16Pairs) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kFlashStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    int64_t heads = op.getNumHeads(), group = heads / op.getNumKVHeads();

    bool pairs = multipliesPairs(op);
    // f32 values are read in place, tile by tile, except the one tile per
    // row that the valid keys cut (see packTailTiles).
    bool valuesInPlace =
        !pairs &&
        cast<RankedTensorType>(v.getType()).getElementType().isF32();
    auto [keysT, values] = packKeyValueTiles(
        rewriter, loc, k, v, op.getKeyLengths(), pairs, !valuesInPlace);
    if (valuesInPlace)
      values = packTailTiles(rewriter, loc, v, keyTile, op.getKeyLengths());

    // One task per (batch row, query head, query tile).
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    SmallVector<OpFoldResult> resultSizes =
        tensor::getMixedSizes(rewriter, loc, q);
    resultSizes[3] = rewriter.getIndexAttr(resultType.getDimSize(3));
    SmallVector<Value> inits = {tensor::EmptyOp::create(
        rewriter, loc, resultSizes, resultType.getElementType())};
    if (op.getLse())
      inits.push_back(tensor::EmptyOp::create(
          rewriter, loc, ArrayRef(resultSizes).take_front(3),
          rewriter.getF32Type()));
    Value numQueryTiles = ib.ceilDiv(ib.dim(q, 2), ib.c(queryTile));
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{resultSizes[0], rewriter.getIndexAttr(heads),
                               numQueryTiles},
        inits, std::nullopt);
    rewriter.setInsertionPoint(forall.getTerminator());
    Value batch = forall.getInductionVar(0), head = forall.getInductionVar(1);
    Value kvHead = ib.div(head, ib.c(group));
    Value tile = forall.getInductionVar(2);

    // Only the rows of the tile that exist are written, normalized straight
    // into the result's rows.
    Value rowBegin = ib.mul(tile, ib.c(queryTile));
    Value rowCount = ib.min(ib.c(queryTile), ib.sub(ib.dim(q, 2), rowBegin));
    OpFoldResult one = rewriter.getIndexAttr(1),
                 zero = rewriter.getIndexAttr(0);
    OpFoldResult valueDim = rewriter.getIndexAttr(resultType.getDimSize(3));
    Value outRows = tensor::ExtractSliceOp::create(
        rewriter, loc,
        RankedTensorType::get({ShapedType::kDynamic, resultType.getDimSize(3)},
                              resultType.getElementType()),
        forall.getRegionIterArgs()[0],
        ArrayRef<OpFoldResult>{batch, head, rowBegin, zero},
        ArrayRef<OpFoldResult>{one, one, rowCount, valueDim},
        ArrayRef<OpFoldResult>{one, one, one, one});
    TileTask task{op,    batch,  head,  kvHead,        tile,
                  keysT, values, pairs, valuesInPlace, outRows};
    auto [rows, lseTile] = buildTask(rewriter, loc, task);
    Value lseRows;
    if (lseTile)
      lseRows = tensor::ExtractSliceOp::create(
          rewriter, loc, lseTile, ArrayRef<OpFoldResult>{zero},
          ArrayRef<OpFoldResult>{rowCount}, ArrayRef<OpFoldResult>{one});
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(
        rewriter, loc, rows, forall.getRegionIterArgs()[0],
        ArrayRef<OpFoldResult>{batch, head, rowBegin, zero},
        ArrayRef<OpFoldResult>{one, one, rowCount, valueDim},
        ArrayRef<OpFoldResult>{one, one, one, one});
    if (lseRows)
      tensor::ParallelInsertSliceOp::create(
          rewriter, loc, lseRows, forall.getRegionIterArgs()[1],
          ArrayRef<OpFoldResult>{batch, head, rowBegin},
          ArrayRef<OpFoldResult>{one, one, rowCount},
          ArrayRef<OpFoldResult>{one, one, one});
    rewriter.replaceOp(op, forall.getResults());
    return success();
  }

private:
  struct TileTask {
    AttentionOp op;
    Value batch, head, kvHead, tile;
    Value keysT, values; // packed (values: only their tails, when in place)
    bool pairs;          // bf16 pairs (see multipliesPairs)
    bool valuesInPlace;  // full value tiles read from V itself
    Value outRows;       // the result's rows this task writes
  };

  /// Whether `op`'s products multiply bf16 pairs: asked for, every operand
  /// bf16, and whole pairs along both reductions (D and the key tile).
  bool multipliesPairs(AttentionOp op) const {
    auto isBf16 = [](Value v) {
      return cast<RankedTensorType>(v.getType()).getElementType().isBF16();
    };
    int64_t headDim =
        cast<RankedTensorType>(op.getQuery().getType()).getDimSize(3);
    return bf16Pairs && isBf16(op.getQuery()) && isBf16(op.getKey()) &&
           isBf16(op.getValue()) && headDim % 2 == 0 && keyTile % 2 == 0;
  }

  /// init[m, n] + sum over (j, i) of A[m, j, i] B[j, n, i], for bf16 A and B
  /// and f32 init: a product whose reduction runs over pairs i of
  /// consecutive elements, the form of vdpbf16ps (attn-cpu-vectorize-tiles
  /// emits it so; elsewhere it is loops). Products of bf16 are exact in f32.
  static Value pairProduct(OpBuilder &b, Location loc, Value lhs, Value rhs,
                           Value init) {
    GenericBuilder gb(b, loc);
    Type f32 = b.getF32Type();
    return gb.generic(
        {lhs, rhs}, init,
        {gb.map(4, {0, 2, 3}), gb.map(4, {2, 1, 3}), gb.map(4, {0, 1})},
        {kPar, kPar, kRed, kRed},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value x = arith::ExtFOp::create(nb, l, f32, a[0]);
          Value y = arith::ExtFOp::create(nb, l, f32, a[1]);
          return arith::AddFOp::create(
              nb, l, a[2], arith::MulFOp::create(nb, l, x, y));
        });
  }

  /// A row-major (rows x depth) bf16 tile viewed as (rows, depth/2, 2): the
  /// left operand of pairProduct, without a copy.
  static Value asPairs(OpBuilder &b, Location loc, Value tile) {
    auto type = cast<RankedTensorType>(tile.getType());
    auto pairsType = RankedTensorType::get(
        {type.getDimSize(0), type.getDimSize(1) / 2, 2}, type.getElementType());
    return tensor::ExpandShapeOp::create(b, loc, pairsType, tile,
                                         ArrayRef<ReassociationIndices>{
                                             {0}, {1, 2}});
  }

  /// K and V cut into whole key tiles, each tile one contiguous block, keys
  /// past S zero. In f32: K as (B, Hkv, T, D, keyTile), every tile
  /// transposed so that the product q k^T reads rows of keys, and V as
  /// (B, Hkv, T, keyTile, Dv). As bf16 `pairs`: K as (B, Hkv, T, D/2,
  /// keyTile, 2) with Kp[j, n, i] = K[n, 2j + i] and V as (B, Hkv, T,
  /// keyTile/2, Dv, 2) with Vp[j, d, i] = V[2j + i, d], the right operands
  /// of pairProduct. Packed in parallel over (batch row, K/V head, tile),
  /// once per call, in O(S·D) memory; the query heads of a group share them.
  /// V rows past a batch row's key length are zero too: a masked key's
  /// weight is 0, and 0 times whatever such a row holds (the garbage of a
  /// padded batch, NaN or inf) must not reach the output.
  std::pair<Value, Value> packKeyValueTiles(OpBuilder &b, Location loc, Value k,
                                            Value v, Value keyLengths,
                                            bool pairs,
                                            bool packValues) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    Type f32 = b.getF32Type();
    Type element = pairs ? b.getBF16Type() : f32;
    auto kType = cast<RankedTensorType>(k.getType());
    int64_t kvHeads = kType.getDimSize(1), headDim = kType.getDimSize(3);
    int64_t valueDim = cast<RankedTensorType>(v.getType()).getDimSize(3);
    Value numKeys = ib.dim(k, 2);
    OpFoldResult batch = tensor::getMixedSize(b, loc, k, 0);
    OpFoldResult heads = b.getIndexAttr(kvHeads);
    OpFoldResult tiles = ib.ceilDiv(numKeys, ib.c(keyTile));
    auto sizes = [&](ArrayRef<int64_t> dims) {
      SmallVector<OpFoldResult> result;
      for (int64_t d : dims)
        result.push_back(b.getIndexAttr(d));
      return result;
    };
    SmallVector<OpFoldResult> keyTileSizes =
        pairs ? sizes({headDim / 2, keyTile, 2}) : sizes({headDim, keyTile});
    SmallVector<OpFoldResult> valueTileSizes =
        pairs ? sizes({keyTile / 2, valueDim, 2}) : sizes({keyTile, valueDim});
    auto packedSizes = [&](ArrayRef<OpFoldResult> tileSizes) {
      SmallVector<OpFoldResult> result = {batch, heads, tiles};
      llvm::append_range(result, tileSizes);
      return result;
    };
    SmallVector<Value> inits = {gb.tensor(packedSizes(keyTileSizes), element)};
    if (packValues)
      inits.push_back(gb.tensor(packedSizes(valueTileSizes), element));

    auto forall = scf::ForallOp::create(
        b, loc, ArrayRef<OpFoldResult>{batch, heads, tiles}, inits,
        std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forall.getTerminator());
    Value row = forall.getInductionVar(0), head = forall.getInductionVar(1);
    Value t = forall.getInductionVar(2);
    Value rowBegin = ib.mul(t, ib.c(keyTile));
    Value rows = ib.min(ib.c(keyTile), ib.sub(numKeys, rowBegin));
    Value valueRows = rows;
    if (keyLengths && packValues) {
      Value len = tensor::ExtractOp::create(b, loc, keyLengths, row);
      Value validKeys = buildValidKeys(b, loc, len, numKeys);
      valueRows = ib.min(rows, ib.max(ib.sub(validKeys, rowBegin), ib.c(0)));
    }
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);

    // The rows [rowBegin, rowBegin + count) of a (B, Hkv, S, W) tensor.
    auto keyRows = [&](Value source, int64_t w, Value count) -> Value {
      auto type = RankedTensorType::get(
          {ShapedType::kDynamic, w},
          cast<RankedTensorType>(source.getType()).getElementType());
      return tensor::ExtractSliceOp::create(
          b, loc, type, source,
          ArrayRef<OpFoldResult>{row, head, rowBegin, zero},
          ArrayRef<OpFoldResult>{one, one, count, b.getIndexAttr(w)},
          ArrayRef<OpFoldResult>{one, one, one, one});
    };
    // This task's tile of a packed tensor (a shared output of the loop):
    // the tiles are written in place, not built aside and copied there.
    auto slot = [&](Value packed, ArrayRef<OpFoldResult> tileSizes) -> Value {
      SmallVector<OpFoldResult> offsets = {row, head, t}, slotSizes = {one, one, one};
      offsets.append(tileSizes.size(), zero);
      llvm::append_range(slotSizes, tileSizes);
      SmallVector<int64_t> shape;
      for (OpFoldResult size : tileSizes)
        shape.push_back(*getConstantIntValue(size));
      return tensor::ExtractSliceOp::create(
          b, loc, RankedTensorType::get(shape, element), packed, offsets,
          slotSizes, SmallVector<OpFoldResult>(offsets.size(), one));
    };
    Value keySlot = slot(forall.getRegionIterArgs()[0], keyTileSizes);
    Value valueSlot =
        packValues ? slot(forall.getRegionIterArgs()[1], valueTileSizes)
                   : Value();
    // `source` rows (keys x w, bf16) padded with zero keys to a whole tile,
    // then rearranged into pairs: `pairMap` maps an element (j, ., i) of the
    // packed tile to the (key, column) it copies.
    auto intoPairTile = [&](Value source, int64_t w, Value tile,
                            AffineMap pairMap) -> Value {
      Value padded = padWithZeros(b, loc, source,
                                  gb.tensor(sizes({keyTile, w}), element));
      return gb.generic({padded}, tile,
                        {pairMap, gb.map(3, {0, 1, 2})}, {kPar, kPar, kPar},
                        [](OpBuilder &, Location, ValueRange a) -> Value {
                          return a[0];
                        });
    };
    Value keyTileValue, valueTileValue;
    if (pairs) {
      MLIRContext *ctx = b.getContext();
      AffineExpr j = getAffineDimExpr(0, ctx), x = getAffineDimExpr(1, ctx),
                 i = getAffineDimExpr(2, ctx);
      keyTileValue =
          intoPairTile(keyRows(k, headDim, rows), headDim, keySlot,
                       AffineMap::get(3, 0, {x, j * 2 + i}, ctx));
      valueTileValue =
          intoPairTile(keyRows(v, valueDim, valueRows), valueDim, valueSlot,
                       AffineMap::get(3, 0, {j * 2 + i, x}, ctx));
    } else {
      keyTileValue = packTransposedTile(b, loc, keyRows(k, headDim, rows),
                                        keyTile, keySlot);
      if (packValues)
        valueTileValue =
            padRowsAsF32(b, loc, keyRows(v, valueDim, valueRows), valueSlot);
    }

    b.setInsertionPointToStart(forall.getTerminator().getBody());
    auto store = [&](Value tileValue, Value into,
                     ArrayRef<OpFoldResult> tileSizes) {
      SmallVector<OpFoldResult> offsets = {row, head, t}, tileOnes = {one, one, one};
      offsets.append(tileSizes.size(), zero);
      SmallVector<OpFoldResult> storeSizes = tileOnes;
      llvm::append_range(storeSizes, tileSizes);
      SmallVector<OpFoldResult> strides(storeSizes.size(), one);
      tensor::ParallelInsertSliceOp::create(b, loc, tileValue, into, offsets,
                                            storeSizes, strides);
    };
    store(keyTileValue, forall.getRegionIterArgs()[0], keyTileSizes);
    if (!packValues)
      return {forall.getResult(0), Value()};
    store(valueTileValue, forall.getRegionIterArgs()[1], valueTileSizes);
    return {forall.getResult(0), forall.getResult(1)};
  }

  /// The output rows of one task (its rows of the result, normalized in
  /// place), and when the op returns it the (queryTile) log-sum-exp tile.
  std::pair<Value, Value> buildTask(OpBuilder &b, Location loc,
                                    const TileTask &task) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    AttentionOp op = task.op;
    Value q = op.getQuery();
    auto qType = cast<RankedTensorType>(q.getType());
    int64_t headDim = qType.getDimSize(3);
    int64_t valueDim =
        cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
    Type f32 = b.getF32Type();
    Value numQueries = ib.dim(q, 2), numKeys = ib.dim(op.getKey(), 2);
    Value rowBegin = ib.mul(task.tile, ib.c(queryTile));
    Value rowCount = ib.min(ib.c(queryTile), ib.sub(numQueries, rowBegin));
    Value rowEnd = ib.add(rowBegin, rowCount);

    // The valid keys of this batch row: clamp(len, 0, S).
    Value validKeys = numKeys;
    if (Value keyLengths = op.getKeyLengths()) {
      Value len = tensor::ExtractOp::create(b, loc, keyLengths, task.batch);
      validKeys = buildValidKeys(b, loc, len, numKeys);
    }

    // The query tile, zero past N: in f32, scaled into the log2 domain; as
    // bf16 pairs, the rows as they are (the scores are scaled instead).
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    OpFoldResult rows = rowCount, width = b.getIndexAttr(headDim);
    Value queryTileInit =
        gb.tensor({b.getIndexAttr(queryTile), width},
                  task.pairs ? qType.getElementType() : f32, 0.0);
    auto rowsType = RankedTensorType::get({ShapedType::kDynamic, headDim},
                                          qType.getElementType());
    Value queryRows = tensor::ExtractSliceOp::create(
        b, loc, rowsType, q,
        ArrayRef<OpFoldResult>{task.batch, task.head, rowBegin, zero},
        ArrayRef<OpFoldResult>{one, one, rows, width},
        ArrayRef<OpFoldResult>{one, one, one, one});
    Value queryTileValue;
    if (task.pairs) {
      queryTileValue = asPairs(
          b, loc,
          tensor::InsertSliceOp::create(b, loc, queryRows, queryTileInit,
                                        ArrayRef<OpFoldResult>{zero, zero},
                                        ArrayRef<OpFoldResult>{rows, width},
                                        ArrayRef<OpFoldResult>{one, one}));
    } else {
      Value validPart = tensor::ExtractSliceOp::create(
          b, loc, queryTileInit, ArrayRef<OpFoldResult>{zero, zero},
          ArrayRef<OpFoldResult>{rows, width},
          ArrayRef<OpFoldResult>{one, one});
      Value scaled = scaleIntoLog2Domain(b, loc, queryRows, validPart,
                                         op.getScaleOrDefault());
      queryTileValue = tensor::InsertSliceOp::create(
          b, loc, scaled, queryTileInit, ArrayRef<OpFoldResult>{zero, zero},
          ArrayRef<OpFoldResult>{rows, width},
          ArrayRef<OpFoldResult>{one, one});
    }

    // The key tiles the rows may see (the block schedule).
    SmallVector<std::pair<Value, Value>> tileRanges =
        buildVisitedKeyTiles(b, loc, op.getEffectiveMask(), rowBegin, rowEnd,
                             numQueries, validKeys, task.head, keyTile);

    SmallVector<OpFoldResult> rowSize = {b.getIndexAttr(queryTile)};
    SmallVector<OpFoldResult> accSize = {b.getIndexAttr(queryTile),
                                         b.getIndexAttr(valueDim)};
    Value m0 = gb.tensor(rowSize, f32, kNegInf);
    Value l0 = gb.tensor(rowSize, f32, 0.0);
    Value acc0 = gb.tensor(accSize, f32, 0.0);
    SmallVector<Value> final = buildKeyTileLoops(
        b, loc, tileRanges, ValueRange{m0, l0, acc0},
        [&](OpBuilder &nb, Location l, Value keyTileIndex, ValueRange state) {
          KeyTileStep step{task,   queryTileValue, keyTileIndex, rowBegin,
                           rowEnd, numQueries,     validKeys};
          return buildKeyTile(nb, l, step, state);
        });

    // out = l > 0 ? acc / l : 0, once.
    Value lse;
    if (op.getLse())
      lse = buildLogSumExp(b, loc, final[0], final[1]);
    auto firstRows = [&](Value tile) -> Value {
      auto type = cast<RankedTensorType>(tile.getType());
      SmallVector<OpFoldResult> offsets(type.getRank(), zero),
          sizes = tensor::getMixedSizes(b, loc, tile),
          strides(type.getRank(), one);
      sizes[0] = rowCount;
      return tensor::ExtractSliceOp::create(b, loc, tile, offsets, sizes,
                                            strides);
    };
    Value out = normalizeRows(b, loc, firstRows(final[2]), firstRows(final[1]),
                              task.outRows);
    return {out, lse};
  }

  /// The (queryTile) log-sum-exp tile from the final m and l.
  Value buildLogSumExp(OpBuilder &b, Location loc, Value m, Value l) const {
    GenericBuilder gb(b, loc);
    return gb.generic({m, l},
                      gb.tensor({b.getIndexAttr(queryTile)}, b.getF32Type()),
                      {gb.map(1, {0}), gb.map(1, {0}), gb.map(1, {0})}, {kPar},
                      [&](OpBuilder &nb, Location lo, ValueRange a) -> Value {
                        return logSumExpOf(nb, lo, a[0], a[1]);
                      });
  }

  struct KeyTileStep {
    TileTask task;
    Value queryTile, keyTileIndex, rowBegin, rowEnd, numQueries, validKeys;
  };

  /// One key tile: the scores, the mask if the tile needs one, the online
  /// softmax update of (m, l, acc).
  SmallVector<Value> buildKeyTile(OpBuilder &b, Location loc,
                                  const KeyTileStep &step,
                                  ValueRange state) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    AttentionOp op = step.task.op;
    Type f32 = b.getF32Type();
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    Value colBegin = ib.mul(step.keyTileIndex, ib.c(keyTile));

    // This key tile of the packed K and V: K^T (D x keyTile) and V
    // (keyTile x Dv) in f32, or their pair tiles in bf16.
    auto packedTile = [&](Value packed) -> Value {
      auto packedType = cast<RankedTensorType>(packed.getType());
      ArrayRef<int64_t> tileShape = packedType.getShape().drop_front(3);
      SmallVector<OpFoldResult> offsets = {step.task.batch, step.task.kvHead,
                                           step.keyTileIndex};
      SmallVector<OpFoldResult> sizes = {one, one, one};
      for (int64_t extent : tileShape) {
        offsets.push_back(zero);
        sizes.push_back(b.getIndexAttr(extent));
      }
      return tensor::ExtractSliceOp::create(
          b, loc, RankedTensorType::get(tileShape, packedType.getElementType()),
          packed, offsets, sizes,
          SmallVector<OpFoldResult>(offsets.size(), one));
    };
    Value keys = packedTile(step.task.keysT);
    Value values;
    if (!step.task.valuesInPlace) {
      values = packedTile(step.task.values);
    } else {
      // A tile wholly inside the valid keys is a view of V; the one they
      // cut is the row's tail.
      Value whole = ib.le(ib.add(colBegin, ib.c(keyTile)), step.validKeys);
      values = wholeOrTailTile(b, loc, op.getValue(), step.task.values,
                               step.task.batch, step.task.kvHead, colBegin,
                               whole);
    }

    // s = q k^T in the log2 domain: q came scaled, or (pairs) the f32
    // scores are scaled here.
    SmallVector<OpFoldResult> tileSize = {b.getIndexAttr(queryTile),
                                          b.getIndexAttr(keyTile)};
    Value scores;
    if (step.task.pairs) {
      scores = pairProduct(b, loc, step.queryTile, keys,
                           gb.tensor(tileSize, f32, 0.0));
      double factor = op.getScaleOrDefault() * kLog2E;
      scores = gb.generic({}, scores, {gb.map(2, {0, 1})}, {kPar, kPar},
                          [&](OpBuilder &nb, Location l, ValueRange a) {
                            return arith::MulFOp::create(
                                nb, l, a[0], f32Constant(nb, l, factor))
                                .getResult();
                          });
    } else {
      scores = linalg::MatmulOp::create(
                   b, loc, ValueRange{step.queryTile, keys},
                   ValueRange{gb.tensor(tileSize, f32, 0.0)})
                   .getResult(0);
    }

    // Mask only a tile that the key length or the mask cuts.
    // The score modifier, in the log2 domain (its unit is log2(e)), before
    // the mask hides a score (tanh(-inf) is -1: a cap after the mask would
    // show the hidden keys again).
    if (ScoreModAttrInterface mod = op.getScoreModAttr())
      scores = modifyScores(
          b, loc, scores, mod,
          [&](OpBuilder &nb, Location l, Value row, Value col) {
            IndexBuilder nib(nb, l);
            return ScorePosition{nib.add(step.rowBegin, row),
                                 nib.add(colBegin, col), step.numQueries,
                                 step.validKeys, step.task.head,
                                 op.getNumHeads()};
          });

    auto mask = op.getEffectiveMask();
    Value full = buildKeyTileIsFull(b, loc, mask, step.rowBegin, step.rowEnd,
                                    colBegin, keyTile, step.numQueries,
                                    step.validKeys, step.task.head);
    scores = maskScoresUnlessFull(
        b, loc, scores, full,
        [&](OpBuilder &nb, Location l, Value row, Value col) {
          IndexBuilder nib(nb, l);
          return buildKeyIsVisible(nb, l, mask, nib.add(step.rowBegin, row),
                                   nib.add(colBegin, col), step.numQueries,
                                   step.validKeys, step.task.head);
        });
    if (!step.task.pairs)
      return updateOnlineSoftmax(b, loc, scores, values, state);
    // p v with p rounded to bf16, in pairs along the keys.
    ProbsTimesValues product;
    product.operand = [](OpBuilder &nb, Location l, Value probs) {
      return asPairs(nb, l, convertElements(nb, l, probs, nb.getBF16Type()));
    };
    product.multiply = [](OpBuilder &nb, Location l, Value lhs, Value rhs,
                          Value init) {
      return pairProduct(nb, l, lhs, rhs, init);
    };
    return updateOnlineSoftmax(b, loc, scores, values, state, product);
  }

  int64_t queryTile, keyTile;
  bool bf16Pairs;
};

struct AttnTileOnlineSoftmaxPass
    : attn::impl::AttnTileOnlineSoftmaxPassBase<AttnTileOnlineSoftmaxPass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(verifyCPUTiles(getOperation(), queryTile, keyTile)) ||
        failed(verifyDecomposedClauses(getOperation(), getArgument())))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateTileOnlineSoftmaxPatterns(patterns, queryTile, keyTile, bf16Pairs);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateTileOnlineSoftmaxPatterns(RewritePatternSet &patterns,
                                                   int64_t queryTile,
                                                   int64_t keyTile,
                                                   bool bf16Pairs) {
  patterns.add<TileOnlineSoftmax>(patterns.getContext(), queryTile, keyTile,
                                  bf16Pairs);
}
