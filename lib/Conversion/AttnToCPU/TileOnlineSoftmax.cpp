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
  TileOnlineSoftmax(MLIRContext *ctx, int64_t queryTile, int64_t keyTile)
      : OpRewritePattern(ctx), queryTile(queryTile), keyTile(keyTile) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kFlashStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    int64_t heads = op.getNumHeads(), group = heads / op.getNumKVHeads();

    auto [keysT, values] = packKeyValueTiles(rewriter, loc, k, v);

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
    TileTask task{op,    batch, head, kvHead, forall.getInductionVar(2),
                  keysT, values};
    auto [outTile, lseTile] = buildTask(rewriter, loc, task);

    // Only the rows of the tile that exist are written.
    Value rowBegin = ib.mul(task.tile, ib.c(queryTile));
    Value rowCount = ib.min(ib.c(queryTile), ib.sub(ib.dim(q, 2), rowBegin));
    OpFoldResult one = rewriter.getIndexAttr(1),
                 zero = rewriter.getIndexAttr(0);
    OpFoldResult valueDim = rewriter.getIndexAttr(resultType.getDimSize(3));
    Value rows = tensor::ExtractSliceOp::create(
        rewriter, loc, outTile, ArrayRef<OpFoldResult>{zero, zero},
        ArrayRef<OpFoldResult>{rowCount, valueDim},
        ArrayRef<OpFoldResult>{one, one});
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
    Value keysT, values; // packed
  };

  /// K and V cut into whole key tiles, in f32, each tile one contiguous
  /// block: K as (B, Hkv, T, D, keyTile), every tile transposed so that the
  /// product q k^T reads rows of keys; V as (B, Hkv, T, keyTile, Dv). Keys
  /// past S are 0. Packed in parallel over (batch row, K/V head, tile), once
  /// per call, in O(S·D) memory; the query heads of a group share them.
  std::pair<Value, Value> packKeyValueTiles(OpBuilder &b, Location loc, Value k,
                                            Value v) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    Type f32 = b.getF32Type();
    auto kType = cast<RankedTensorType>(k.getType());
    int64_t kvHeads = kType.getDimSize(1), headDim = kType.getDimSize(3);
    int64_t valueDim = cast<RankedTensorType>(v.getType()).getDimSize(3);
    Value numKeys = ib.dim(k, 2);
    OpFoldResult batch = tensor::getMixedSize(b, loc, k, 0);
    OpFoldResult heads = b.getIndexAttr(kvHeads);
    OpFoldResult tiles = ib.ceilDiv(numKeys, ib.c(keyTile));
    OpFoldResult tile = b.getIndexAttr(keyTile);
    OpFoldResult width = b.getIndexAttr(headDim);
    OpFoldResult valueWidth = b.getIndexAttr(valueDim);
    Value keysInit = gb.tensor({batch, heads, tiles, width, tile}, f32);
    Value valuesInit = gb.tensor({batch, heads, tiles, tile, valueWidth}, f32);

    auto forall = scf::ForallOp::create(
        b, loc, ArrayRef<OpFoldResult>{batch, heads, tiles},
        ValueRange{keysInit, valuesInit}, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forall.getTerminator());
    Value row = forall.getInductionVar(0), head = forall.getInductionVar(1);
    Value t = forall.getInductionVar(2);
    Value rowBegin = ib.mul(t, ib.c(keyTile));
    Value rows = ib.min(ib.c(keyTile), ib.sub(numKeys, rowBegin));
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);

    // The rows [rowBegin, rowBegin + rows) of a (B, Hkv, S, W) tensor.
    auto keyRows = [&](Value source, int64_t w) -> Value {
      auto type = RankedTensorType::get(
          {ShapedType::kDynamic, w},
          cast<RankedTensorType>(source.getType()).getElementType());
      return tensor::ExtractSliceOp::create(
          b, loc, type, source,
          ArrayRef<OpFoldResult>{row, head, rowBegin, zero},
          ArrayRef<OpFoldResult>{one, one, rows, b.getIndexAttr(w)},
          ArrayRef<OpFoldResult>{one, one, one, one});
    };
    // Converts `source` rows into the leading part of a zero tile.
    auto intoTile = [&](Value source, SmallVector<OpFoldResult> tileSizes,
                        SmallVector<OpFoldResult> validSizes,
                        bool transpose) -> Value {
      Value tileInit = gb.tensor(tileSizes, f32, 0.0);
      SmallVector<OpFoldResult> offsets = {zero, zero}, strides = {one, one};
      Value valid = tensor::ExtractSliceOp::create(b, loc, tileInit, offsets,
                                                   validSizes, strides);
      Value converted = gb.generic(
          {source}, valid,
          {gb.map(2, {0, 1}),
           transpose ? gb.map(2, {1, 0}) : gb.map(2, {0, 1})},
          {kPar, kPar}, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
            return a[0].getType() == f32
                       ? a[0]
                       : arith::ExtFOp::create(nb, l, f32, a[0]).getResult();
          });
      return tensor::InsertSliceOp::create(b, loc, converted, tileInit, offsets,
                                           validSizes, strides);
    };
    Value keyTileValue = intoTile(keyRows(k, headDim), {width, tile},
                                  {width, rows}, /*transpose=*/true);
    Value valueTileValue = intoTile(keyRows(v, valueDim), {tile, valueWidth},
                                    {rows, valueWidth}, /*transpose=*/false);

    b.setInsertionPointToStart(forall.getTerminator().getBody());
    auto store = [&](Value tileValue, Value into, OpFoldResult d0,
                     OpFoldResult d1) {
      tensor::ParallelInsertSliceOp::create(
          b, loc, tileValue, into,
          ArrayRef<OpFoldResult>{row, head, t, zero, zero},
          ArrayRef<OpFoldResult>{one, one, one, d0, d1},
          ArrayRef<OpFoldResult>{one, one, one, one, one});
    };
    store(keyTileValue, forall.getRegionIterArgs()[0], width, tile);
    store(valueTileValue, forall.getRegionIterArgs()[1], tile, valueWidth);
    return {forall.getResult(0), forall.getResult(1)};
  }

  /// The (queryTile x Dv) output tile of one task, in the op's element type,
  /// and when the op returns it the (queryTile) log-sum-exp tile.
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

    // The query tile in f32, scaled into the log2 domain, zero past N.
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    OpFoldResult rows = rowCount, width = b.getIndexAttr(headDim);
    Value queryTileInit =
        gb.tensor({b.getIndexAttr(queryTile), width}, f32, 0.0);
    auto rowsType = RankedTensorType::get({ShapedType::kDynamic, headDim},
                                          qType.getElementType());
    Value queryRows = tensor::ExtractSliceOp::create(
        b, loc, rowsType, q,
        ArrayRef<OpFoldResult>{task.batch, task.head, rowBegin, zero},
        ArrayRef<OpFoldResult>{one, one, rows, width},
        ArrayRef<OpFoldResult>{one, one, one, one});
    Value validPart = tensor::ExtractSliceOp::create(
        b, loc, queryTileInit, ArrayRef<OpFoldResult>{zero, zero},
        ArrayRef<OpFoldResult>{rows, width}, ArrayRef<OpFoldResult>{one, one});
    Value scaled = scaleIntoLog2Domain(b, loc, queryRows, validPart,
                                       op.getScaleOrDefault());
    Value queryTileValue = tensor::InsertSliceOp::create(
        b, loc, scaled, queryTileInit, ArrayRef<OpFoldResult>{zero, zero},
        ArrayRef<OpFoldResult>{rows, width}, ArrayRef<OpFoldResult>{one, one});

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
    Value out =
        normalizeRows(b, loc, final[2], final[1], qType.getElementType());
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
    int64_t headDim =
        cast<RankedTensorType>(op.getQuery().getType()).getDimSize(3);
    int64_t valueDim =
        cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
    Type f32 = b.getF32Type();
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    Value colBegin = ib.mul(step.keyTileIndex, ib.c(keyTile));

    // K^T (D x keyTile) and V (keyTile x Dv) tiles of the packed tensors.
    Value keys = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({headDim, keyTile}, f32), step.task.keysT,
        ArrayRef<OpFoldResult>{step.task.batch, step.task.kvHead,
                               step.keyTileIndex, zero, zero},
        ArrayRef<OpFoldResult>{one, one, one, b.getIndexAttr(headDim),
                               b.getIndexAttr(keyTile)},
        ArrayRef<OpFoldResult>{one, one, one, one, one});
    Value values = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get({keyTile, valueDim}, f32),
        step.task.values,
        ArrayRef<OpFoldResult>{step.task.batch, step.task.kvHead,
                               step.keyTileIndex, zero, zero},
        ArrayRef<OpFoldResult>{one, one, one, b.getIndexAttr(keyTile),
                               b.getIndexAttr(valueDim)},
        ArrayRef<OpFoldResult>{one, one, one, one, one});

    // s = q k^T, already in the log2 domain.
    SmallVector<OpFoldResult> tileSize = {b.getIndexAttr(queryTile),
                                          b.getIndexAttr(keyTile)};
    Value scores =
        linalg::MatmulOp::create(b, loc, ValueRange{step.queryTile, keys},
                                 ValueRange{gb.tensor(tileSize, f32, 0.0)})
            .getResult(0);

    // Mask only a tile that the key length or the mask cuts.
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
    return updateOnlineSoftmax(b, loc, scores, values, state);
  }

  int64_t queryTile, keyTile;
};

struct AttnTileOnlineSoftmaxPass
    : attn::impl::AttnTileOnlineSoftmaxPassBase<AttnTileOnlineSoftmaxPass> {
  using Base::Base;

  void runOnOperation() override {
    if (queryTile <= 0 || keyTile <= 0) {
      getOperation().emitError("tile sizes must be positive");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    populateTileOnlineSoftmaxPatterns(patterns, queryTile, keyTile);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateTileOnlineSoftmaxPatterns(RewritePatternSet &patterns,
                                                   int64_t queryTile,
                                                   int64_t keyTile) {
  patterns.add<TileOnlineSoftmax>(patterns.getContext(), queryTile, keyTile);
}
