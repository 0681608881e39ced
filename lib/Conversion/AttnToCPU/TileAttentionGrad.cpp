//===- TileAttentionGrad.cpp - the tiled backward (FlashAttention-2) ------===//
//
// attn.attention_grad without an N x S buffer, as FlashAttention-2's
// Algorithm 2 computes it, with every sum in a fixed order (no atomics; the
// same bits on any number of threads). Prepared once: the tail tiles of q,
// dout and k, and per query tile the forward's lse in the log2 domain and
// the row dots dd_i = dout_i . out_i. Then, with c = scale log2(e), one task
// per (batch row, query head) owning dq of its rows and its head's share of
// dk and dv: over the key tiles j in order (K_j^T and V_j^T packed once),
// and for each over the query tiles i whose block schedule visits j,
//     s  = q_i k_j^T,  p = visible ? exp2(c s - lse log2 e) : 0
//     dp = dout_i v_j^T,  ds = p (dp - dd)
//     dk_j += ds^T q_i,  dv_j += p^T dout_i,  dq_i += ds k_j
// five products per pair; dq and dk are scaled once. With one query head per
// K/V head the shares are dk and dv; otherwise the group's shares are summed
// afterwards in the order of its heads.
//
// p recomputed from lse is exactly the forward's softmax: exp(x - lse) =
// exp(x - m) / l. The pairs are the forward's block schedule: a pair the
// forward skips is skipped here.
//
// Every tile is of static shape (queryTile x keyTile), so that
// attn-cpu-vectorize-tiles turns its products into register-blocked vector
// code: q, dout and k are read in place, except the one tile per row that N
// (or the valid keys, for k) cuts, which is copied with zeros past the cut
// (packTailTiles). Rows past N get lse = +inf, so p = 0 there; a row that
// saw no key (lse = -inf) too. Keys past a row's key length have p = 0 and
// ds = 0, selected rather than multiplied (k and v may hold NaN there), and
// the tail tile of k holds zeros past the valid keys, so dq never reads
// them. Memory is O(tile^2) per task and O(N D) in all.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToCPU/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/SoftmaxTile.h"

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

/// What the tasks read besides the op's operands, prepared once per call.
struct Prepared {
  Value keyTails;              // (B, Hkv, keyTile, D): the valid keys' cut
  Value queryTails, gradTails; // (B, H, queryTile, D | Dv): N's cut
  Value lse, rowDots;          // (B, H, Tq, queryTile) f32
};

/// One query tile of one head: its rows, their static tiles and statistics.
struct QueryTile {
  Value batch, head, rowBegin, rowEnd;
  Value queries, grads; // (queryTile x D), (queryTile x Dv)
  Value lse, rowDots;   // (queryTile)
};

/// One key tile of one K/V head: K^T and V^T packed (D | Dv x keyTile, f32,
/// zero past S), and k's rows (keyTile x D, read in place or the tail tile,
/// zero past the valid keys).
struct KeyTile {
  Value index, begin;
  Value keysT, valuesT, keys;
};

class TileAttentionGrad : public OpRewritePattern<AttentionGradOp> {
public:
  TileAttentionGrad(MLIRContext *ctx, int64_t queryTile, int64_t keyTile)
      : OpRewritePattern(ctx), queryTile(queryTile), keyTile(keyTile) {}

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kFlashStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    Location loc = op.getLoc();
    Prepared prepared;
    prepared.keyTails = packTailTiles(rewriter, loc, op.getKey(), keyTile,
                                      op.getKeyLengths());
    prepared.queryTails =
        packTailTiles(rewriter, loc, op.getQuery(), queryTile, Value());
    prepared.gradTails =
        packTailTiles(rewriter, loc, op.getOutputGrad(), queryTile, Value());
    std::tie(prepared.lse, prepared.rowDots) =
        packRowStatistics(rewriter, loc, op);

    auto [dq, dk, dv] = buildTasks(rewriter, loc, op, prepared);
    rewriter.replaceOp(op, {dq, dk, dv});
    return success();
  }

private:
  /// p and ds of one (query tile, key tile) pair, each (queryTile x keyTile)
  /// in f32.
  struct PairTile {
    Value probs, grads;
  };

  /// The (tile) slot of a packed tensor (lead..., tile...) at `lead`.
  static Value packedTile(OpBuilder &b, Location loc, Value packed,
                          ArrayRef<OpFoldResult> lead) {
    auto type = cast<RankedTensorType>(packed.getType());
    ArrayRef<int64_t> shape = type.getShape().drop_front(lead.size());
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    SmallVector<OpFoldResult> offsets(lead), sizes(lead.size(), one);
    for (int64_t extent : shape) {
      offsets.push_back(zero);
      sizes.push_back(b.getIndexAttr(extent));
    }
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(shape, type.getElementType()), packed,
        offsets, sizes, SmallVector<OpFoldResult>(offsets.size(), one));
  }

  /// Rows [begin, begin + count) of head `head` of batch row `batch` of a
  /// (B, H, L[, W]) tensor `x`.
  static Value rowsOf(OpBuilder &b, Location loc, Value x, Value batch,
                      Value head, Value begin, Value count) {
    auto type = cast<RankedTensorType>(x.getType());
    OpFoldResult one = b.getIndexAttr(1), zero = b.getIndexAttr(0);
    SmallVector<OpFoldResult> offsets = {batch, head, begin},
                              sizes = {one, one, count};
    SmallVector<int64_t> shape = {ShapedType::kDynamic};
    if (type.getRank() == 4) {
      offsets.push_back(zero);
      sizes.push_back(b.getIndexAttr(type.getDimSize(3)));
      shape.push_back(type.getDimSize(3));
    }
    return tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(shape, type.getElementType()), x,
        offsets, sizes, SmallVector<OpFoldResult>(offsets.size(), one));
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

  /// Per (batch row, query head, query tile), (queryTile) rows of f32: the
  /// forward's lse times log2(e), +inf past N and where the row saw no key
  /// (lse = -inf), so that exp2(c s - lse) is 0 on such rows; and the row
  /// dots dd = rowsum(dout * out), 0 past N.
  std::pair<Value, Value> packRowStatistics(OpBuilder &b, Location loc,
                                            AttentionGradOp op) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    Type f32 = b.getF32Type();
    Value q = op.getQuery();
    Value numQueries = ib.dim(q, 2);
    OpFoldResult batch = tensor::getMixedSize(b, loc, q, 0);
    OpFoldResult heads = b.getIndexAttr(op.getNumHeads());
    OpFoldResult tiles = ib.ceilDiv(numQueries, ib.c(queryTile));
    SmallVector<OpFoldResult> packedSizes = {batch, heads, tiles,
                                             b.getIndexAttr(queryTile)};
    auto forall = scf::ForallOp::create(
        b, loc, ArrayRef<OpFoldResult>{batch, heads, tiles},
        ValueRange{gb.tensor(packedSizes, f32), gb.tensor(packedSizes, f32)},
        std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forall.getTerminator());
    Value row = forall.getInductionVar(0), head = forall.getInductionVar(1);
    Value t = forall.getInductionVar(2);
    Value rowBegin = ib.mul(t, ib.c(queryTile));
    Value count = ib.min(ib.c(queryTile), ib.sub(numQueries, rowBegin));
    SmallVector<OpFoldResult> lead = {row, head, t};
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    // `tile` filled with `fill`, its first `count` rows computed by `rows`.
    auto leadingRows = [&](Value slot, double fill,
                           function_ref<Value(Value)> rows) -> Value {
      Value filled =
          linalg::FillOp::create(b, loc, ValueRange{f32Constant(b, loc, fill)},
                                 ValueRange{slot})
              .getResult(0);
      Value leading = tensor::ExtractSliceOp::create(
          b, loc, filled, ArrayRef<OpFoldResult>{zero},
          ArrayRef<OpFoldResult>{count}, ArrayRef<OpFoldResult>{one});
      return tensor::InsertSliceOp::create(
          b, loc, rows(leading), filled, ArrayRef<OpFoldResult>{zero},
          ArrayRef<OpFoldResult>{count}, ArrayRef<OpFoldResult>{one});
    };
    Value lseTile = leadingRows(
        packedTile(b, loc, forall.getRegionIterArgs()[0], lead), -kNegInf,
        [&](Value init) {
          return gb.generic(
              {rowsOf(b, loc, op.getLse(), row, head, rowBegin, count)}, init,
              {gb.map(1, {0}), gb.map(1, {0})}, {kPar},
              [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                return lseInLog2Domain(nb, l, a[0]);
              });
        });
    Value dotTile = leadingRows(
        packedTile(b, loc, forall.getRegionIterArgs()[1], lead), 0.0,
        [&](Value init) {
          return gb.generic(
              {rowsOf(b, loc, op.getOutputGrad(), row, head, rowBegin, count),
               rowsOf(b, loc, op.getOutput(), row, head, rowBegin, count)},
              init, {gb.map(2, {0, 1}), gb.map(2, {0, 1}), gb.map(2, {0})},
              {kPar, kRed}, multiplyAdd);
        });
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    insertTile(b, loc, lseTile, forall.getRegionIterArgs()[0], lead);
    insertTile(b, loc, dotTile, forall.getRegionIterArgs()[1], lead);
    return {forall.getResult(0), forall.getResult(1)};
  }

  /// `tile` as the slot `lead` of the packed output `into` of a forall.
  static void insertTile(OpBuilder &b, Location loc, Value tile, Value into,
                         ArrayRef<OpFoldResult> lead) {
    auto type = cast<RankedTensorType>(tile.getType());
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    SmallVector<OpFoldResult> offsets(lead), sizes(lead.size(), one);
    for (int64_t extent : type.getShape()) {
      offsets.push_back(zero);
      sizes.push_back(b.getIndexAttr(extent));
    }
    tensor::ParallelInsertSliceOp::create(
        b, loc, tile, into, offsets, sizes,
        SmallVector<OpFoldResult>(offsets.size(), one));
  }

  /// Query tile `tile` of head `head`: q and dout read in place (or their
  /// tail tile), and the packed lse and row dots.
  QueryTile queryTileAt(OpBuilder &b, Location loc, AttentionGradOp op,
                        const Prepared &prepared, Value batch, Value head,
                        Value tile) const {
    IndexBuilder ib(b, loc);
    Value numQueries = ib.dim(op.getQuery(), 2);
    QueryTile result;
    result.batch = batch;
    result.head = head;
    result.rowBegin = ib.mul(tile, ib.c(queryTile));
    Value next = ib.add(result.rowBegin, ib.c(queryTile));
    result.rowEnd = ib.min(next, numQueries);
    Value whole = ib.le(next, numQueries);
    result.queries =
        wholeOrTailTile(b, loc, op.getQuery(), prepared.queryTails, batch,
                        head, result.rowBegin, whole);
    result.grads =
        wholeOrTailTile(b, loc, op.getOutputGrad(), prepared.gradTails, batch,
                        head, result.rowBegin, whole);
    SmallVector<OpFoldResult> lead = {batch, head, tile};
    result.lse = packedTile(b, loc, prepared.lse, lead);
    result.rowDots = packedTile(b, loc, prepared.rowDots, lead);
    return result;
  }

  /// p and ds of the rows of `rows` against key tile `keyTileIndex` of K/V
  /// head `kvHead`:
  ///   p  = exp2(c q.k - lse log2 e), 0 where the row does not see the key
  ///   ds = p == 0 ? 0 : p (dout.v - dd)
  ///
  /// `scratch` holds two empty (queryTile x keyTile) f32 tensors made by the
  /// caller outside its scf.if over the pairs, so that their buffers are
  /// allocated once per task rather than once per pair.
  PairTile buildPair(OpBuilder &b, Location loc, AttentionGradOp op,
                     const QueryTile &rows, const KeyTile &keys, Value valid,
                     ValueRange scratch) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    auto times = [&](Value lhs, Value rhs, Value into) -> Value {
      Value zeros =
          linalg::FillOp::create(b, loc, ValueRange{f32Constant(b, loc, 0)},
                                 ValueRange{into})
              .getResult(0);
      return linalg::MatmulOp::create(b, loc, ValueRange{lhs, rhs},
                                      ValueRange{zeros})
          .getResult(0);
    };
    double factor = op.getScaleOrDefault() * kLog2E;
    Value scores = times(rows.queries, keys.keysT, scratch[0]);
    MaskAttrInterface mask = op.getEffectiveMask();
    Value numQueries = ib.dim(op.getQuery(), 2);
    Value colBegin = keys.begin;
    // With a score modifier f, the tile holds x = log2(e) f(scale s) (the
    // forward's log2 domain), kept for f'(s) in ds.
    ScoreModAttrInterface mod = op.getScoreModAttr();
    auto position = [&](OpBuilder &nb, Location l, Value row, Value col) {
      IndexBuilder nib(nb, l);
      return ScorePosition{nib.add(rows.rowBegin, row),
                           nib.add(colBegin, col), numQueries, valid,
                           rows.head, op.getNumHeads()};
    };
    Value modified;
    if (mod) {
      modified = modifyScores(
          b, loc,
          gb.generic({}, scores, {gb.map(2, {0, 1})}, {kPar, kPar},
                     [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
                       return arith::MulFOp::create(
                           nb, l, a[0], f32Constant(nb, l, factor));
                     }),
          mod, position);
      factor = 1.0;
    }
    Value probs = gb.generic(
        {rows.lse}, modified ? modified : scores,
        {gb.map(2, {0}), gb.map(2, {0, 1})}, {kPar, kPar},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value x = factor == 1.0 ? a[1]
                                  : arith::MulFOp::create(
                                        nb, l, a[1], f32Constant(nb, l, factor))
                                        .getResult();
          return exp2Of(nb, l, x, a[0]);
        });
    // Keys hidden from a row (by the mask or the key length) only where the
    // tile hides some.
    Value full =
        buildKeyTileIsFull(b, loc, mask, rows.rowBegin, rows.rowEnd, colBegin,
                           keyTile, numQueries, valid, rows.head);
    probs = maskScoresUnlessFull(
        b, loc, probs, full,
        [&](OpBuilder &nb, Location l, Value row, Value col) {
          IndexBuilder nib(nb, l);
          return buildKeyIsVisible(nb, l, mask, nib.add(rows.rowBegin, row),
                                   nib.add(colBegin, col), numQueries, valid,
                                   rows.head);
        },
        /*hidden=*/0.0);
    // ds = p (dp - dd) f'(s), f' from the modified score (a modifier that
    // only adds to s gives no factor, and canonicalization drops the unread
    // input).
    SmallVector<Value> inputs = {probs, rows.rowDots};
    SmallVector<AffineMap> maps = {gb.map(2, {0, 1}), gb.map(2, {0})};
    if (mod) {
      inputs.push_back(modified);
      maps.push_back(gb.map(2, {0, 1}));
    }
    maps.push_back(gb.map(2, {0, 1}));
    Value grads = gb.generic(
        inputs, times(rows.grads, keys.valuesT, scratch[1]), maps,
        {kPar, kPar}, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value zero = f32Constant(nb, l, 0);
          Value none = arith::CmpFOp::create(
              nb, l, arith::CmpFPredicate::OEQ, a[0], zero);
          Value grad = arith::MulFOp::create(
              nb, l, a[0], arith::SubFOp::create(nb, l, a.back(), a[1]));
          if (Value derivative =
                  mod ? mod.buildDerivative(
                            nb, l, a[2], kLog2E,
                            position(nb, l, linalg::IndexOp::create(nb, l, 0),
                                     linalg::IndexOp::create(nb, l, 1)))
                      : Value())
            grad = arith::MulFOp::create(nb, l, grad, derivative);
          return arith::SelectOp::create(nb, l, none, zero, grad);
        });
    return {probs, grads};
  }

  /// acc[m, n] += sum_k lhs[k, m] rhs[k, n]: the products with a transposed
  /// tile of p or ds (attn-cpu-vectorize-tiles blocks them like a matmul).
  static Value addTransposedProduct(OpBuilder &b, Location loc, Value lhs,
                                    Value rhs, Value acc) {
    GenericBuilder gb(b, loc);
    return gb.generic({lhs, rhs}, acc,
                      {gb.map(3, {2, 0}), gb.map(3, {2, 1}), gb.map(3, {0, 1})},
                      {kPar, kPar, kRed}, multiplyAdd);
  }

  /// The first `count` rows of an f32 tile, times `factor`, written into
  /// rows [begin, begin + count) of (batch, head) of the forall's shared
  /// output `into` (converted to its element type).
  static void storeRows(OpBuilder &b, Location loc, Value tile, Value count,
                        double factor, Value into, Value batch, Value head,
                        Value begin) {
    int64_t width = cast<RankedTensorType>(tile.getType()).getDimSize(1);
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    Value rows = tensor::ExtractSliceOp::create(
        b, loc, tile, ArrayRef<OpFoldResult>{zero, zero},
        ArrayRef<OpFoldResult>{count, b.getIndexAttr(width)},
        ArrayRef<OpFoldResult>{one, one});
    Value result = scaleElementsInto(
        b, loc, rows, factor, rowsOf(b, loc, into, batch, head, begin, count));
    auto forall = cast<scf::ForallOp>(
        cast<BlockArgument>(into).getOwner()->getParentOp());
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(
        b, loc, result, into, ArrayRef<OpFoldResult>{batch, head, begin, zero},
        ArrayRef<OpFoldResult>{one, one, count, b.getIndexAttr(width)},
        ArrayRef<OpFoldResult>{one, one, one, one});
  }

  /// The output `result` of `op`'s type, from the forall's own.
  static Value castTo(OpBuilder &b, Location loc, Value x, Value result) {
    return x.getType() == result.getType()
               ? x
               : tensor::CastOp::create(b, loc, result.getType(), x)
                     .getResult();
  }

  static Type elementOf(Value x) { return getElementTypeOrSelf(x.getType()); }

  /// The tasks, one per (batch row, query head): over the key tiles in
  /// order, each packed once (K^T and V^T), and for each over the query
  /// tiles whose block schedule visits it, in order, each pair's p and ds,
  /// then
  ///   dk_j += ds^T q_i,  dv_j += p^T dout_i,  dq_i += ds k_j,
  /// dk_j and dv_j in tiles carried along the query tiles, dq in the task's
  /// own f32 rows. Every sum runs in a fixed order. With one query head per
  /// K/V head the task writes dk and dv itself; otherwise it writes its
  /// head's share, f32 (B, H, S, D | Dv), which the group sums afterwards
  /// in the order of its heads.
  std::tuple<Value, Value, Value> buildTasks(PatternRewriter &rewriter,
                                             Location loc, AttentionGradOp op,
                                             const Prepared &prepared) const {
    IndexBuilder ib(rewriter, loc);
    GenericBuilder gb(rewriter, loc);
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    int64_t heads = op.getNumHeads();
    int64_t group = heads / op.getNumKVHeads();
    int64_t headDim = cast<RankedTensorType>(k.getType()).getDimSize(3);
    int64_t valueDim = cast<RankedTensorType>(v.getType()).getDimSize(3);
    Type f32 = rewriter.getF32Type();
    Value numKeys = ib.dim(k, 2), numQueries = ib.dim(q, 2);
    Value numQueryTiles = ib.ceilDiv(numQueries, ib.c(queryTile));
    OpFoldResult batchSize = tensor::getMixedSize(rewriter, loc, q, 0);
    // dk and dv as the tasks write them: the results themselves, or each
    // head's share.
    auto sharesOf = [&](Value x, int64_t width, Value grad) -> Value {
      if (group == 1)
        return tensor::EmptyOp::create(rewriter, loc,
                                       tensor::getMixedSizes(rewriter, loc, x),
                                       elementOf(grad));
      return gb.tensor({batchSize, rewriter.getIndexAttr(heads),
                        tensor::getMixedSize(rewriter, loc, x, 2),
                        rewriter.getIndexAttr(width)},
                       f32);
    };
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{batchSize, rewriter.getIndexAttr(heads)},
        ValueRange{tensor::EmptyOp::create(
                       rewriter, loc, tensor::getMixedSizes(rewriter, loc, q),
                       elementOf(op.getQueryGrad())),
                   sharesOf(k, headDim, op.getKeyGrad()),
                   sharesOf(v, valueDim, op.getValueGrad())},
        std::nullopt);
    OpBuilder::InsertionGuard guard(rewriter);
    rewriter.setInsertionPoint(forall.getTerminator());
    Value batch = forall.getInductionVar(0), head = forall.getInductionVar(1);
    Value kvHead = ib.div(head, ib.c(group));
    Value valid = validKeys(rewriter, loc, op, batch);
    MaskAttrInterface mask = op.getEffectiveMask();
    OpFoldResult zero = rewriter.getIndexAttr(0), one = rewriter.getIndexAttr(1);
    OpFoldResult tileKeys = rewriter.getIndexAttr(keyTile);
    OpFoldResult headWidth = rewriter.getIndexAttr(headDim),
                 valueWidth = rewriter.getIndexAttr(valueDim);
    // dk is scaled here when the task writes the result itself, after the
    // group's sum otherwise.
    double dkFactor = group == 1 ? op.getScaleOrDefault() : 1.0;
    Value dqInit = gb.tensor(
        {ib.mul(numQueryTiles, ib.c(queryTile)), headWidth}, f32, 0.0);
    Value dkRows = rowsOf(rewriter, loc, forall.getRegionIterArgs()[1], batch,
                          head, ib.c(0), numKeys);
    Value dvRows = rowsOf(rewriter, loc, forall.getRegionIterArgs()[2], batch,
                          head, ib.c(0), numKeys);

    auto keyTiles = scf::ForOp::create(
        rewriter, loc, ib.c(0), ib.ceilDiv(numKeys, ib.c(keyTile)), ib.c(1),
        ValueRange{dqInit, dkRows, dvRows},
        [&](OpBuilder &b, Location l, Value keyTileIndex, ValueRange taskAccs) {
          IndexBuilder kb(b, l);
          GenericBuilder kgb(b, l);
          KeyTile keys;
          keys.index = keyTileIndex;
          keys.begin = kb.mul(keyTileIndex, kb.c(keyTile));
          Value count = kb.min(kb.c(keyTile), kb.sub(numKeys, keys.begin));
          keys.keysT = packTransposedTile(
              b, l, rowsOf(b, l, k, batch, kvHead, keys.begin, count), keyTile,
              kgb.tensor({headWidth, tileKeys}, f32));
          keys.valuesT = packTransposedTile(
              b, l, rowsOf(b, l, v, batch, kvHead, keys.begin, count), keyTile,
              kgb.tensor({valueWidth, tileKeys}, f32));
          keys.keys = wholeOrTailTile(
              b, l, k, prepared.keyTails, batch, kvHead, keys.begin,
              kb.le(kb.add(keys.begin, kb.c(keyTile)), valid));
          Value dk0 = kgb.tensor({tileKeys, headWidth}, f32, 0.0);
          Value dv0 = kgb.tensor({tileKeys, valueWidth}, f32, 0.0);

          auto queryTiles = scf::ForOp::create(
              b, l, kb.c(0), numQueryTiles, kb.c(1),
              ValueRange{taskAccs[0], dk0, dv0},
              [&](OpBuilder &tb, Location tl, Value tile, ValueRange accs) {
                IndexBuilder tib(tb, tl);
                // Whether the forward's schedule for this query tile visits
                // the key tile (its ranges of key tiles hold it).
                Value rowBegin = tib.mul(tile, tib.c(queryTile));
                Value rowEnd =
                    tib.min(tib.add(rowBegin, tib.c(queryTile)), numQueries);
                // The pair's score and gradient tiles (see buildPair).
                SmallVector<OpFoldResult> pairSize = {
                    tb.getIndexAttr(queryTile), tileKeys};
                SmallVector<Value> scratch = {
                    GenericBuilder(tb, tl).tensor(pairSize, f32),
                    GenericBuilder(tb, tl).tensor(pairSize, f32)};
                Value visits = tib.truth(false);
                for (auto [first, last] :
                     buildVisitedKeyTiles(tb, tl, mask, rowBegin, rowEnd,
                                          numQueries, valid, head, keyTile))
                  visits = tib.either(
                      visits, tib.both(tib.le(first, keyTileIndex),
                                       tib.lt(keyTileIndex, last)));
                auto ifOp = scf::IfOp::create(
                    tb, tl, visits,
                    [&](OpBuilder &ub, Location ul) {
                      QueryTile rows = queryTileAt(ub, ul, op, prepared, batch,
                                                   head, tile);
                      PairTile pair =
                          buildPair(ub, ul, op, rows, keys, valid, scratch);
                      // dq_i += ds k_j in the task's rows of dq.
                      SmallVector<OpFoldResult> at = {rows.rowBegin, zero},
                                                tileSize = {
                                                    ub.getIndexAttr(queryTile),
                                                    headWidth},
                                                unit = {one, one};
                      Value dqTile = tensor::ExtractSliceOp::create(
                          ub, ul,
                          RankedTensorType::get({queryTile, headDim}, f32),
                          accs[0], at, tileSize, unit);
                      dqTile = linalg::MatmulOp::create(
                                   ub, ul, ValueRange{pair.grads, keys.keys},
                                   ValueRange{dqTile})
                                   .getResult(0);
                      Value dq = tensor::InsertSliceOp::create(
                          ub, ul, dqTile, accs[0], at, tileSize, unit);
                      Value dk = addTransposedProduct(ub, ul, pair.grads,
                                                      rows.queries, accs[1]);
                      Value dv = addTransposedProduct(ub, ul, pair.probs,
                                                      rows.grads, accs[2]);
                      scf::YieldOp::create(ub, ul, ValueRange{dq, dk, dv});
                    },
                    [&](OpBuilder &ub, Location ul) {
                      scf::YieldOp::create(ub, ul, accs);
                    });
                scf::YieldOp::create(tb, tl, ifOp.getResults());
              });

          // The key tile's dk and dv are complete: their rows into the
          // task's.
          auto putRows = [&](Value tile, double factor, Value into) -> Value {
            int64_t width = cast<RankedTensorType>(tile.getType()).getDimSize(1);
            SmallVector<OpFoldResult> sizes = {count, b.getIndexAttr(width)};
            Value rows = tensor::ExtractSliceOp::create(
                b, l, tile, ArrayRef<OpFoldResult>{zero, zero}, sizes,
                ArrayRef<OpFoldResult>{one, one});
            SmallVector<OpFoldResult> at = {keys.begin, zero},
                                      unit = {one, one};
            Value slot =
                tensor::ExtractSliceOp::create(b, l, into, at, sizes, unit);
            return tensor::InsertSliceOp::create(
                b, l, scaleElementsInto(b, l, rows, factor, slot), into, at,
                sizes, unit);
          };
          scf::YieldOp::create(
              b, l,
              ValueRange{queryTiles.getResult(0),
                         putRows(queryTiles.getResult(1), dkFactor,
                                 taskAccs[1]),
                         putRows(queryTiles.getResult(2), 1.0, taskAccs[2])});
        });

    storeRows(rewriter, loc, keyTiles.getResult(0), numQueries,
              op.getScaleOrDefault(), forall.getRegionIterArgs()[0], batch,
              head, ib.c(0));
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    for (auto [rows, width, into] :
         {std::tuple(keyTiles.getResult(1), headWidth,
                     forall.getRegionIterArgs()[1]),
          std::tuple(keyTiles.getResult(2), valueWidth,
                     forall.getRegionIterArgs()[2])})
      tensor::ParallelInsertSliceOp::create(
          rewriter, loc, rows, into,
          ArrayRef<OpFoldResult>{batch, head, zero, zero},
          ArrayRef<OpFoldResult>{one, one, numKeys, width},
          ArrayRef<OpFoldResult>{one, one, one, one});
    rewriter.setInsertionPointAfter(forall);
    Value dq = castTo(rewriter, loc, forall.getResult(0), op.getQueryGrad());
    if (group == 1)
      return {dq, castTo(rewriter, loc, forall.getResult(1), op.getKeyGrad()),
              castTo(rewriter, loc, forall.getResult(2), op.getValueGrad())};
    return {dq,
            sumGroupShares(rewriter, loc, forall.getResult(1), group,
                           op.getScaleOrDefault(), op.getKeyGrad()),
            sumGroupShares(rewriter, loc, forall.getResult(2), group, 1.0,
                           op.getValueGrad())};
  }

  /// grad[b, j, s, e] = factor sum_g shares[b, j G + g, s, e], the group's
  /// heads summed in order, converted to the gradient's element type.
  static Value sumGroupShares(OpBuilder &b, Location loc, Value shares,
                              int64_t group, double factor, Value grad) {
    GenericBuilder gb(b, loc);
    // (B, H, S, W) as (B, Hkv, G, S, W): head j G + g is (j, g).
    auto type = cast<RankedTensorType>(shares.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[1] /= group;
    shape.insert(shape.begin() + 2, group);
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, shares);
    sizes[1] = b.getIndexAttr(shape[1]);
    SmallVector<OpFoldResult> groupedSizes(sizes);
    groupedSizes.insert(groupedSizes.begin() + 2, b.getIndexAttr(group));
    Value grouped = tensor::ExpandShapeOp::create(
        b, loc, RankedTensorType::get(shape, type.getElementType()), shares,
        ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}}, groupedSizes);
    Value sum = gb.generic(
        {grouped}, gb.tensor(sizes, b.getF32Type(), 0.0),
        {gb.map(5, {0, 1, 4, 2, 3}), gb.map(5, {0, 1, 2, 3})},
        {kPar, kPar, kPar, kPar, kRed},
        [](OpBuilder &nb, Location l, ValueRange a) -> Value {
          return arith::AddFOp::create(nb, l, a[1], a[0]);
        });
    return castTo(b, loc, scaleElements(b, loc, sum, factor, elementOf(grad)),
                  grad);
  }

  int64_t queryTile, keyTile;
};

struct AttnTileAttentionGradPass
    : attn::impl::AttnTileAttentionGradPassBase<AttnTileAttentionGradPass> {
  using Base::Base;

  void runOnOperation() override {
    if (failed(verifyCPUTiles(getOperation(), queryTile, keyTile)) ||
        failed(verifyDecomposedClauses(getOperation(), getArgument())))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    patterns.add<TileAttentionGrad>(&getContext(), queryTile, keyTile);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
