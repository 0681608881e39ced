//===- TileAttentionGrad.cpp - the tiled backward (FlashAttention-2) ------===//
//
// attn.attention_grad without an N x S buffer, as FlashAttention-2's
// Algorithm 2 computes it, in two passes whose every sum has a fixed order
// (no atomics; the same bits on any number of threads). With the forward's
// lse and the row dots dd_i = dout_i . out_i computed once:
//
//   pass 1, one task per (batch row, K/V head, key tile) owning dk and dv of
//   its keys: over the query heads h of the group, and over the query tiles
//   whose key range meets the tile,
//     s  = q k^T,  p = visible ? exp(scale s - lse) : 0
//     dv += p^T dout
//     dp = dout v^T,  ds = p (dp - dd)
//     dk += ds^T q
//   pass 2, one task per (batch row, query head, query tile) owning dq of its
//   rows: over the key tiles its rows may see, p and ds again, and
//     dq += ds k
//   then dq and dk are scaled once.
//
// p recomputed from lse is exactly the forward's softmax: exp(x - lse) =
// exp(x - m) / l. A row that sees no key has lse = -inf and p = 0. Keys past
// a row's key length have p = 0 and ds = 0, selected rather than multiplied,
// and their k enters dq as 0: padding may hold NaN. Query tiles whose rows
// the mask keeps away from a key tile, and key tiles beyond a query tile's
// key range, are not visited (the hull of the mask's ranges).
//
// Tiles are tensors of dynamic size (the last tile of a row or of the keys is
// partial) and their products linalg.generic ops; memory is O(tile^2) per
// task and O(N D) in all.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToCPU/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEATTENTIONGRADPASS
#include "attn/Conversion/AttnToCPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

class TileAttentionGrad : public OpRewritePattern<AttentionGradOp> {
public:
  TileAttentionGrad(MLIRContext *ctx, int64_t queryTile, int64_t keyTile)
      : OpRewritePattern(ctx), queryTile(queryTile), keyTile(keyTile) {}

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kFlashStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    GenericBuilder gb(rewriter, loc);
    Value q = op.getQuery(), k = op.getKey();
    int64_t kvHeads = op.getNumKVHeads();
    int64_t group = op.getNumHeads() / kvHeads;

    // dd = rowsum(dout * out), (B, H, N) in f32.
    SmallVector<OpFoldResult> rowSizes = tensor::getMixedSizes(rewriter, loc,
                                                               op.getLse());
    Value rowDots = gb.generic(
        {op.getOutputGrad(), op.getOutput()},
        gb.tensor(rowSizes, rewriter.getF32Type(), 0.0),
        {gb.map(4, {0, 1, 2, 3}), gb.map(4, {0, 1, 2, 3}),
         gb.map(4, {0, 1, 2})},
        {kPar, kPar, kPar, kRed}, multiplyAdd);

    Value numKeyTiles = ib.ceilDiv(ib.dim(k, 2), ib.c(keyTile));
    Value numQueryTiles = ib.ceilDiv(ib.dim(q, 2), ib.c(queryTile));

    // Pass 1: dk and dv, one task per (batch row, K/V head, key tile).
    auto [dk, dv] =
        buildKeyTasks(rewriter, loc, op, rowDots, numKeyTiles, numQueryTiles,
                      group, kvHeads);
    // Pass 2: dq, one task per (batch row, query head, query tile).
    Value dq = buildQueryTasks(rewriter, loc, op, rowDots, numKeyTiles,
                               numQueryTiles, group);
    rewriter.replaceOp(op, {dq, dk, dv});
    return success();
  }

private:
  /// What one (query tile, key tile) pair of one head gives: p and ds, each
  /// (rows x keys) in f32.
  struct PairTile {
    Value probs, grads;
  };

  /// Rows [rowBegin, rowBegin + rowCount) of (B, H, N, X) `x`, head `head`
  /// of batch row `batch`: (rows x X).
  static Value rowsOf(OpBuilder &b, Location loc, Value x, Value batch,
                      Value head, Value begin, Value count) {
    auto type = cast<RankedTensorType>(x.getType());
    OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
    if (type.getRank() == 3)
      return tensor::ExtractSliceOp::create(
          b, loc,
          RankedTensorType::get({ShapedType::kDynamic},
                                type.getElementType()),
          x, ArrayRef<OpFoldResult>{batch, head, begin},
          ArrayRef<OpFoldResult>{one, one, count},
          ArrayRef<OpFoldResult>{one, one, one});
    int64_t width = type.getDimSize(3);
    return tensor::ExtractSliceOp::create(
        b, loc,
        RankedTensorType::get({ShapedType::kDynamic, width},
                              type.getElementType()),
        x, ArrayRef<OpFoldResult>{batch, head, begin, zero},
        ArrayRef<OpFoldResult>{one, one, count, b.getIndexAttr(width)},
        ArrayRef<OpFoldResult>{one, one, one, one});
  }

  /// The keys of batch row `batch` a row may see at all: clamp(len, 0, S).
  static Value validKeys(OpBuilder &b, Location loc, AttentionGradOp op,
                         Value batch) {
    IndexBuilder ib(b, loc);
    Value numKeys = ib.dim(op.getKey(), 2);
    if (!op.getKeyLengths())
      return numKeys;
    Value length = tensor::ExtractOp::create(b, loc, op.getKeyLengths(),
                                             ValueRange{batch});
    return buildValidKeys(b, loc, length, numKeys);
  }

  /// Whether the rows [rowBegin, rowEnd) of head `head` may see any key of
  /// [keyBegin, keyEnd): the hull of the mask's key range, within the
  /// valid keys, meets the tile.
  static Value tilesMeet(OpBuilder &b, Location loc, AttentionGradOp op,
                         Value rowBegin, Value rowEnd, Value keyBegin,
                         Value keyEnd, Value valid, Value head) {
    IndexBuilder ib(b, loc);
    Value first = ib.c(0), last = valid;
    if (MaskAttrInterface mask = op.getEffectiveMask()) {
      auto [begin, end] = mask.buildKeyRange(b, loc, rowBegin, rowEnd,
                                             ib.dim(op.getQuery(), 2), valid,
                                             head);
      first = ib.max(first, begin);
      last = ib.min(last, end);
    }
    return ib.lt(ib.max(first, keyBegin), ib.min(last, keyEnd));
  }

  /// p and ds of one (query tile, key tile) pair of head `head`:
  ///   p  = visible ? exp(scale q.k - lse) : 0   (0 too where lse = -inf)
  ///   ds = p == 0 ? 0 : p * (dout.v - dd)
  static PairTile buildPair(OpBuilder &b, Location loc, AttentionGradOp op,
                            Value qRows, Value doRows, Value lseRows,
                            Value ddRows, Value keys, Value values,
                            Value rowBegin, Value keyBegin, Value valid,
                            Value head) {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    Type f32 = b.getF32Type();
    SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, qRows, 0),
                                       tensor::getMixedSize(b, loc, keys, 0)};
    auto rowsTimesKeys = [&](Value rows, Value cols) {
      return gb.generic({rows, cols}, gb.tensor(sizes, f32, 0.0),
                        {gb.map(3, {0, 2}), gb.map(3, {1, 2}),
                         gb.map(3, {0, 1})},
                        {kPar, kPar, kRed}, multiplyAdd);
    };
    Value numQueries = ib.dim(op.getQuery(), 2);
    MaskAttrInterface mask = op.getEffectiveMask();
    double scale = op.getScaleOrDefault();
    Value scores = rowsTimesKeys(qRows, keys);
    Value probs = gb.generic(
        {scores, lseRows}, scores,
        {gb.map(2, {0, 1}), gb.map(2, {0}), gb.map(2, {0, 1})}, {kPar, kPar},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          IndexBuilder nib(nb, l);
          Value row = nib.add(rowBegin, linalg::IndexOp::create(nb, l, 0));
          Value col = nib.add(keyBegin, linalg::IndexOp::create(nb, l, 1));
          Value visible = nib.lt(col, valid);
          if (mask)
            visible = nib.both(visible, mask.buildIsVisible(nb, l, row, col,
                                                            numQueries, valid,
                                                            head));
          Value noKey =
              arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[1],
                                    f32Constant(nb, l, kNegInf));
          Value x = arith::MulFOp::create(nb, l, a[0], f32Constant(nb, l, scale));
          Value e = math::ExpOp::create(nb, l,
                                        arith::SubFOp::create(nb, l, x, a[1]));
          Value zero = f32Constant(nb, l, 0);
          return arith::SelectOp::create(
              nb, l, visible, arith::SelectOp::create(nb, l, noKey, zero, e),
              zero);
        });
    Value dp = rowsTimesKeys(doRows, values);
    Value grads = gb.generic(
        {probs, ddRows}, dp,
        {gb.map(2, {0, 1}), gb.map(2, {0}), gb.map(2, {0, 1})}, {kPar, kPar},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value zero = f32Constant(nb, l, 0);
          Value none =
              arith::CmpFOp::create(nb, l, arith::CmpFPredicate::OEQ, a[0],
                                    zero);
          Value grad = arith::MulFOp::create(
              nb, l, a[0], arith::SubFOp::create(nb, l, a[2], a[1]));
          return arith::SelectOp::create(nb, l, none, zero, grad);
        });
    return {probs, grads};
  }

  std::pair<Value, Value> buildKeyTasks(PatternRewriter &rewriter,
                                        Location loc, AttentionGradOp op,
                                        Value rowDots, Value numKeyTiles,
                                        Value numQueryTiles, int64_t group,
                                        int64_t kvHeads) const {
    IndexBuilder ib(rewriter, loc);
    Value k = op.getKey(), v = op.getValue();
    auto kType = cast<RankedTensorType>(k.getType());
    auto vType = cast<RankedTensorType>(v.getType());
    int64_t headDim = kType.getDimSize(3), valueDim = vType.getDimSize(3);
    Type f32 = rewriter.getF32Type();
    SmallVector<Value> inits = {
        tensor::EmptyOp::create(rewriter, loc,
                                tensor::getMixedSizes(rewriter, loc, k),
                                cast<RankedTensorType>(
                                    op.getKeyGrad().getType())
                                    .getElementType()),
        tensor::EmptyOp::create(rewriter, loc,
                                tensor::getMixedSizes(rewriter, loc, v),
                                cast<RankedTensorType>(
                                    op.getValueGrad().getType())
                                    .getElementType())};
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{tensor::getMixedSize(rewriter, loc, k, 0),
                               rewriter.getIndexAttr(kvHeads), numKeyTiles},
        inits, std::nullopt);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(forall.getTerminator());
    Value batch = forall.getInductionVar(0), kvHead = forall.getInductionVar(1);
    Value keyBegin = ib.mul(forall.getInductionVar(2), ib.c(keyTile));
    Value keyCount = ib.min(ib.c(keyTile), ib.sub(ib.dim(k, 2), keyBegin));
    Value keyEnd = ib.add(keyBegin, keyCount);
    Value keys = rowsOf(rewriter, loc, k, batch, kvHead, keyBegin, keyCount);
    Value values = rowsOf(rewriter, loc, v, batch, kvHead, keyBegin, keyCount);
    Value valid = validKeys(rewriter, loc, op, batch);
    GenericBuilder gb(rewriter, loc);
    Value dkInit = gb.tensor({keyCount, rewriter.getIndexAttr(headDim)}, f32,
                             0.0);
    Value dvInit = gb.tensor({keyCount, rewriter.getIndexAttr(valueDim)}, f32,
                             0.0);
    Value numQueries = ib.dim(op.getQuery(), 2);

    // Over the heads of the group, then their query tiles, in order.
    auto heads = scf::ForOp::create(
        rewriter, loc, ib.c(0), ib.c(group), ib.c(1),
        ValueRange{dkInit, dvInit},
        [&](OpBuilder &b, Location l, Value g, ValueRange accs) {
          IndexBuilder hb(b, l);
          Value head = hb.add(hb.mul(kvHead, hb.c(group)), g);
          auto tiles = scf::ForOp::create(
              b, l, hb.c(0), numQueryTiles, hb.c(1), accs,
              [&](OpBuilder &tb, Location tl, Value tile, ValueRange accs) {
                IndexBuilder tib(tb, tl);
                Value rowBegin = tib.mul(tile, tib.c(queryTile));
                Value rowCount = tib.min(tib.c(queryTile),
                                         tib.sub(numQueries, rowBegin));
                Value rowEnd = tib.add(rowBegin, rowCount);
                Value meets = tilesMeet(tb, tl, op, rowBegin, rowEnd,
                                        keyBegin, keyEnd, valid, head);
                auto ifOp = scf::IfOp::create(
                    tb, tl, meets,
                    [&](OpBuilder &ub, Location ul) {
                      GenericBuilder ugb(ub, ul);
                      Value qRows = rowsOf(ub, ul, op.getQuery(), batch, head,
                                           rowBegin, rowCount);
                      Value doRows = rowsOf(ub, ul, op.getOutputGrad(), batch,
                                            head, rowBegin, rowCount);
                      Value lseRows = rowsOf(ub, ul, op.getLse(), batch, head,
                                             rowBegin, rowCount);
                      Value ddRows = rowsOf(ub, ul, rowDots, batch, head,
                                            rowBegin, rowCount);
                      PairTile pair =
                          buildPair(ub, ul, op, qRows, doRows, lseRows, ddRows,
                                    keys, values, rowBegin, keyBegin, valid,
                                    head);
                      // dv[j, e] += sum_i p[i, j] dout[i, e]
                      Value dvNext = ugb.generic(
                          {pair.probs, doRows}, accs[1],
                          {ugb.map(3, {2, 0}), ugb.map(3, {2, 1}),
                           ugb.map(3, {0, 1})},
                          {kPar, kPar, kRed}, multiplyAdd);
                      // dk[j, d] += sum_i ds[i, j] q[i, d]
                      Value dkNext = ugb.generic(
                          {pair.grads, qRows}, accs[0],
                          {ugb.map(3, {2, 0}), ugb.map(3, {2, 1}),
                           ugb.map(3, {0, 1})},
                          {kPar, kPar, kRed}, multiplyAdd);
                      scf::YieldOp::create(ub, ul, ValueRange{dkNext, dvNext});
                    },
                    [&](OpBuilder &ub, Location ul) {
                      scf::YieldOp::create(ub, ul, accs);
                    });
                scf::YieldOp::create(tb, tl, ifOp.getResults());
              });
          scf::YieldOp::create(b, l, tiles.getResults());
        });

    Value dkTile = scaleElements(rewriter, loc, heads.getResult(0),
                                 op.getScaleOrDefault(),
                                 getElementTypeOrSelf(inits[0].getType()));
    Value dvTile = scaleElements(rewriter, loc, heads.getResult(1), 1.0,
                                 getElementTypeOrSelf(inits[1].getType()));
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    OpFoldResult one = rewriter.getIndexAttr(1), zero = rewriter.getIndexAttr(0);
    for (auto [tileValue, dest, width] :
         {std::tuple(dkTile, forall.getRegionIterArgs()[0], headDim),
          std::tuple(dvTile, forall.getRegionIterArgs()[1], valueDim)})
      tensor::ParallelInsertSliceOp::create(
          rewriter, loc, tileValue, dest,
          ArrayRef<OpFoldResult>{batch, kvHead, keyBegin, zero},
          ArrayRef<OpFoldResult>{one, one, keyCount,
                                 rewriter.getIndexAttr(width)},
          ArrayRef<OpFoldResult>{one, one, one, one});
    auto castTo = [&](Value x, Type type) -> Value {
      return x.getType() == type
                 ? x
                 : tensor::CastOp::create(rewriter, loc, type, x).getResult();
    };
    rewriter.setInsertionPointAfter(forall);
    return {castTo(forall.getResult(0), op.getKeyGrad().getType()),
            castTo(forall.getResult(1), op.getValueGrad().getType())};
  }

  Value buildQueryTasks(PatternRewriter &rewriter, Location loc,
                        AttentionGradOp op, Value rowDots, Value numKeyTiles,
                        Value numQueryTiles, int64_t group) const {
    IndexBuilder ib(rewriter, loc);
    Value q = op.getQuery(), k = op.getKey();
    auto qType = cast<RankedTensorType>(q.getType());
    int64_t headDim = qType.getDimSize(3);
    Type f32 = rewriter.getF32Type();
    Type dqElement =
        cast<RankedTensorType>(op.getQueryGrad().getType()).getElementType();
    Value init = tensor::EmptyOp::create(
        rewriter, loc, tensor::getMixedSizes(rewriter, loc, q), dqElement);
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{tensor::getMixedSize(rewriter, loc, q, 0),
                               rewriter.getIndexAttr(op.getNumHeads()),
                               numQueryTiles},
        ValueRange{init}, std::nullopt);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(forall.getTerminator());
    Value batch = forall.getInductionVar(0), head = forall.getInductionVar(1);
    Value kvHead = ib.div(head, ib.c(group));
    Value numQueries = ib.dim(q, 2);
    Value rowBegin = ib.mul(forall.getInductionVar(2), ib.c(queryTile));
    Value rowCount = ib.min(ib.c(queryTile), ib.sub(numQueries, rowBegin));
    Value rowEnd = ib.add(rowBegin, rowCount);
    Value qRows = rowsOf(rewriter, loc, q, batch, head, rowBegin, rowCount);
    Value doRows = rowsOf(rewriter, loc, op.getOutputGrad(), batch, head,
                          rowBegin, rowCount);
    Value lseRows =
        rowsOf(rewriter, loc, op.getLse(), batch, head, rowBegin, rowCount);
    Value ddRows =
        rowsOf(rewriter, loc, rowDots, batch, head, rowBegin, rowCount);
    Value valid = validKeys(rewriter, loc, op, batch);
    GenericBuilder gb(rewriter, loc);
    Value dqInit =
        gb.tensor({rowCount, rewriter.getIndexAttr(headDim)}, f32, 0.0);

    auto tiles = scf::ForOp::create(
        rewriter, loc, ib.c(0), numKeyTiles, ib.c(1), ValueRange{dqInit},
        [&](OpBuilder &tb, Location tl, Value tile, ValueRange accs) {
          IndexBuilder tib(tb, tl);
          Value keyBegin = tib.mul(tile, tib.c(keyTile));
          Value keyCount =
              tib.min(tib.c(keyTile), tib.sub(tib.dim(k, 2), keyBegin));
          Value keyEnd = tib.add(keyBegin, keyCount);
          Value meets = tilesMeet(tb, tl, op, rowBegin, rowEnd, keyBegin,
                                  keyEnd, valid, head);
          auto ifOp = scf::IfOp::create(
              tb, tl, meets,
              [&](OpBuilder &ub, Location ul) {
                GenericBuilder ugb(ub, ul);
                Value keys =
                    rowsOf(ub, ul, k, batch, kvHead, keyBegin, keyCount);
                Value values = rowsOf(ub, ul, op.getValue(), batch, kvHead,
                                      keyBegin, keyCount);
                PairTile pair =
                    buildPair(ub, ul, op, qRows, doRows, lseRows, ddRows, keys,
                              values, rowBegin, keyBegin, valid, head);
                // dq[i, d] += sum_j ds[i, j] k[j, d], a key past the valid
                // ones read as 0.
                Value dqNext = ugb.generic(
                    {pair.grads, keys}, accs[0],
                    {ugb.map(3, {0, 2}), ugb.map(3, {2, 1}),
                     ugb.map(3, {0, 1})},
                    {kPar, kPar, kRed},
                    [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                      IndexBuilder nib(nb, l);
                      Value col =
                          nib.add(keyBegin, linalg::IndexOp::create(nb, l, 2));
                      Value key = arith::SelectOp::create(
                          nb, l, nib.lt(col, valid), toF32(nb, l, a[1]),
                          f32Constant(nb, l, 0));
                      return multiplyAdd(nb, l, {a[0], key, a[2]});
                    });
                scf::YieldOp::create(ub, ul, ValueRange{dqNext});
              },
              [&](OpBuilder &ub, Location ul) {
                scf::YieldOp::create(ub, ul, accs);
              });
          scf::YieldOp::create(tb, tl, ifOp.getResults());
        });

    Value dqTile = scaleElements(rewriter, loc, tiles.getResult(0),
                                 op.getScaleOrDefault(), dqElement);
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    OpFoldResult one = rewriter.getIndexAttr(1), zero = rewriter.getIndexAttr(0);
    tensor::ParallelInsertSliceOp::create(
        rewriter, loc, dqTile, forall.getRegionIterArgs()[0],
        ArrayRef<OpFoldResult>{batch, head, rowBegin, zero},
        ArrayRef<OpFoldResult>{one, one, rowCount,
                               rewriter.getIndexAttr(headDim)},
        ArrayRef<OpFoldResult>{one, one, one, one});
    rewriter.setInsertionPointAfter(forall);
    Value dq = forall.getResult(0);
    if (dq.getType() != op.getQueryGrad().getType())
      dq = tensor::CastOp::create(rewriter, loc, op.getQueryGrad().getType(),
                                  dq);
    return dq;
  }

  int64_t queryTile, keyTile;
};

struct AttnTileAttentionGradPass
    : attn::impl::AttnTileAttentionGradPassBase<AttnTileAttentionGradPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<TileAttentionGrad>(&getContext(), queryTile, keyTile);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
