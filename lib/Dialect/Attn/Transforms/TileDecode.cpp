//===- TileDecode.cpp - the decode strategy -------------------------------===//
//
// Decoding a token reads the whole K/V cache to produce a handful of output
// rows: the work is O(S·D) per row and the bytes are O(S·D) per K/V head,
// so what counts is reading each cache byte once, at memory speed.
//
// One task per (batch row b, K/V head j, chunk c). Its rows are the g·N
// query rows of the g = H / Hkv heads of group j, head-major:
//
//   row r  <->  query head j·g + r / N,  query r mod N,
//
// that is q[b, j·g : (j+1)·g, :, :] read as one (g·N x D) tile. Every K/V
// tile is then read once for the whole group, straight from the cache
// (K and V are neither packed nor copied, and no K/V head is replicated):
// the scores are dot products along D against the cache's key rows, and
// p v reads the cache's value rows. Nothing depends on g at compile time
// beyond the tile's row count.
//
// Split-K: the key tiles the rows see are cut into C chunks of consecutive
// tiles; each chunk runs the online softmax of TileOnlineSoftmax.cpp on its
// own state (m_c, l_c, acc_c) in the log2 domain, and the chunks merge
// exactly, as one more online-softmax step would:
//
//   M = max_c m_c,   L = sum_c 2^(m_c - M) l_c,   A = sum_c 2^(m_c - M) acc_c,
//   out = A / L   (0 when L = 0),   lse = (M + log2 L) ln 2.
//
// No exponent is positive; a chunk that saw no key has m_c = -inf, l_c = 0
// and adds nothing.
//
//===----------------------------------------------------------------------===//

#include "SoftmaxTile.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <thread>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEDECODEPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// The fewest keys worth a chunk of their own: below this the chunk's
/// merge (its g·N x Dv partial accumulator written and read back) and its
/// task start cost about as much as its keys.
static constexpr int64_t kMinChunkKeys = 512;

bool mlir::attn::isDecodeShaped(AttentionOp op, int64_t maxRows) {
  int64_t queries =
      cast<RankedTensorType>(op.getQuery().getType()).getDimSize(2);
  if (ShapedType::isDynamic(queries) || queries == 0)
    return false;
  int64_t group = op.getNumHeads() / op.getNumKVHeads();
  if (group * queries > maxRows)
    return false;
  // A task's rows span the heads of a group: their key ranges and full
  // tiles are those of its first head.
  return !splitsHeads(op.getMaskAttr());
}

namespace {

class TileDecode : public OpRewritePattern<AttentionOp> {
public:
  TileDecode(MLIRContext *ctx, int64_t keyTile, int64_t maxRows, int64_t chunks,
             int64_t workers)
      : OpRewritePattern(ctx), keyTile(keyTile), maxRows(maxRows),
        chunks(chunks), workers(workers) {}

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kDecodeStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    if (!isDecodeShaped(op, maxRows))
      return rewriter.notifyMatchFailure(
          op, "needs a static N with g·N rows per K/V head within max-rows "
              "and a mask that treats all heads alike");
    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    GenericBuilder gb(rewriter, loc);
    Type f32 = rewriter.getF32Type();
    Task task = describe(op);
    Value q = op.getQuery(), k = op.getKey();
    Value batch = ib.dim(q, 0), numKeys = ib.dim(k, 2);
    int64_t kvHeads = op.getNumKVHeads();

    Value numChunks = ib.c(chunks);
    if (chunks <= 0) {
      // Enough chunks for every worker to have a task, none under
      // kMinChunkKeys keys: C = max(1, min(ceil(W / (B Hkv)), S / 512)).
      Value wanted = ib.ceilDiv(ib.c(workers), ib.mul(batch, ib.c(kvHeads)));
      Value most = ib.div(numKeys, ib.c(kMinChunkKeys));
      numChunks = ib.max(ib.c(1), ib.min(wanted, most));
    }

    // The partial states of every (batch row, K/V head, chunk).
    OpFoldResult b0 = tensor::getMixedSize(rewriter, loc, q, 0);
    SmallVector<OpFoldResult> rowParts = {b0, rewriter.getIndexAttr(kvHeads),
                                          numChunks,
                                          rewriter.getIndexAttr(task.rows)};
    SmallVector<OpFoldResult> accParts(rowParts);
    accParts.push_back(rewriter.getIndexAttr(task.valueDim));
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{b0, rewriter.getIndexAttr(kvHeads), numChunks},
        ValueRange{gb.tensor(rowParts, f32), gb.tensor(rowParts, f32),
                   gb.tensor(accParts, f32)},
        std::nullopt);
    rewriter.setInsertionPoint(forall.getTerminator());
    task.batch = forall.getInductionVar(0);
    task.kvHead = forall.getInductionVar(1);
    SmallVector<Value> state =
        buildChunk(rewriter, loc, task, forall.getInductionVar(2), numChunks);

    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    OpFoldResult zero = rewriter.getIndexAttr(0),
                 one = rewriter.getIndexAttr(1);
    SmallVector<OpFoldResult> at = {task.batch, task.kvHead,
                                    forall.getInductionVar(2), zero};
    SmallVector<OpFoldResult> size = {one, one, one,
                                      rewriter.getIndexAttr(task.rows)};
    for (int i = 0; i < 3; ++i) {
      if (i == 2) {
        at.push_back(zero);
        size.push_back(rewriter.getIndexAttr(task.valueDim));
      }
      tensor::ParallelInsertSliceOp::create(
          rewriter, loc, state[i], forall.getRegionIterArgs()[i], at, size,
          SmallVector<OpFoldResult>(at.size(), one));
    }

    rewriter.setInsertionPointAfter(forall);
    auto [out, lse] = buildMerge(rewriter, loc, op, forall.getResults());
    SmallVector<Value> results = {out};
    if (op.getLse())
      results.push_back(lse);
    rewriter.replaceOp(op, results);
    return success();
  }

private:
  struct Task {
    AttentionOp op;
    int64_t group, queries, rows, headDim, valueDim;
    Value batch, kvHead;
  };

  Task describe(AttentionOp op) const {
    Task task;
    task.op = op;
    task.group = op.getNumHeads() / op.getNumKVHeads();
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    task.queries = qType.getDimSize(2);
    task.rows = task.group * task.queries;
    task.headDim = qType.getDimSize(3);
    task.valueDim =
        cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
    return task;
  }

  /// The final (m, l, acc) of chunk `chunk` of one task.
  SmallVector<Value> buildChunk(OpBuilder &b, Location loc, const Task &task,
                                Value chunk, Value numChunks) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    AttentionOp op = task.op;
    Type f32 = b.getF32Type();
    Value numKeys = ib.dim(op.getKey(), 2);
    Value numQueries = ib.c(task.queries);
    Value firstHead = ib.mul(task.kvHead, ib.c(task.group));
    Value validKeys = numKeys;
    if (Value keyLengths = op.getKeyLengths()) {
      Value len = tensor::ExtractOp::create(b, loc, keyLengths, task.batch);
      validKeys = buildValidKeys(b, loc, len, numKeys);
    }
    Value queryTile = buildQueryTile(b, loc, task, firstHead);

    // The key tiles the rows see, and this chunk's share of their hull.
    auto mask = op.getEffectiveMask();
    SmallVector<std::pair<Value, Value>> ranges =
        buildVisitedKeyTiles(b, loc, mask, ib.c(0), numQueries, numQueries,
                             validKeys, firstHead, keyTile);
    Value first = ranges.front().first, last = ranges.front().second;
    for (auto [begin, end] : ArrayRef(ranges).drop_front()) {
      first = ib.min(first, begin);
      last = ib.max(last, end);
    }
    Value perChunk = ib.ceilDiv(ib.sub(last, first), numChunks);
    Value chunkBegin = ib.add(first, ib.mul(chunk, perChunk));
    Value chunkEnd = ib.min(last, ib.add(chunkBegin, perChunk));

    // Tiles wholly inside the cache are read in place; the one that runs
    // past S (when T does not divide S) through a zero-padded copy, so that
    // no read leaves the cache.
    Value wholeTiles = ib.div(numKeys, ib.c(keyTile));
    SmallVector<std::pair<Value, Value>> inPlace;
    for (auto [begin, end] : ranges)
      inPlace.push_back({ib.max(begin, chunkBegin),
                         ib.min(ib.min(end, chunkEnd), wholeTiles)});

    SmallVector<OpFoldResult> rowSize = {b.getIndexAttr(task.rows)};
    SmallVector<OpFoldResult> accSize = {b.getIndexAttr(task.rows),
                                         b.getIndexAttr(task.valueDim)};
    SmallVector<Value> init = {gb.tensor(rowSize, f32, kNegInf),
                               gb.tensor(rowSize, f32, 0.0),
                               gb.tensor(accSize, f32, 0.0)};
    TileContext context{task, queryTile, numQueries, validKeys, firstHead};
    SmallVector<Value> state = buildKeyTileLoops(
        b, loc, inPlace, init,
        [&](OpBuilder &nb, Location l, Value tile, ValueRange carried) {
          return buildKeyTile(nb, l, context, tile, /*padded=*/false, carried);
        });

    // The tail tile: in this chunk, in a range, and cut by S.
    Value tail = wholeTiles;
    Value inSomeRange = ib.truth(false);
    for (auto [begin, end] : ranges)
      inSomeRange =
          ib.either(inSomeRange, ib.both(ib.le(begin, tail), ib.lt(tail, end)));
    Value visitTail = ib.both(
        ib.both(ib.lt(ib.mul(tail, ib.c(keyTile)), numKeys), inSomeRange),
        ib.both(ib.le(chunkBegin, tail), ib.lt(tail, chunkEnd)));
    auto ifOp = scf::IfOp::create(b, loc, ValueRange(state).getTypes(),
                                  visitTail, /*addThenBlock=*/true,
                                  /*addElseBlock=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(
        b, loc, buildKeyTile(b, loc, context, tail, /*padded=*/true, state));
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, loc, state);
    return SmallVector<Value>(ifOp.getResults());
  }

  /// The group's query rows as one (g·N x D) f32 tile, scaled into the log2
  /// domain.
  Value buildQueryTile(OpBuilder &b, Location loc, const Task &task,
                       Value firstHead) const {
    GenericBuilder gb(b, loc);
    AttentionOp op = task.op;
    Value q = op.getQuery();
    auto qType = cast<RankedTensorType>(q.getType());
    Type f32 = b.getF32Type();
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    SmallVector<int64_t> shape = {task.group, task.queries, task.headDim};
    Value rows = tensor::ExtractSliceOp::create(
        b, loc, RankedTensorType::get(shape, qType.getElementType()), q,
        ArrayRef<OpFoldResult>{task.batch, firstHead, zero, zero},
        ArrayRef<OpFoldResult>{one, b.getIndexAttr(task.group),
                               b.getIndexAttr(task.queries),
                               b.getIndexAttr(task.headDim)},
        ArrayRef<OpFoldResult>{one, one, one, one});
    SmallVector<OpFoldResult> sizes;
    for (int64_t s : shape)
      sizes.push_back(b.getIndexAttr(s));
    Value scaled = scaleIntoLog2Domain(b, loc, rows, gb.tensor(sizes, f32),
                                       op.getScaleOrDefault());
    return tensor::CollapseShapeOp::create(
        b, loc, RankedTensorType::get({task.rows, task.headDim}, f32), scaled,
        ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  }

  struct TileContext {
    Task task;
    Value queryTile, numQueries, validKeys, firstHead;
  };

  /// Rows [colBegin, colBegin + T) of the cache `source` (B, Hkv, S, W) of
  /// this task's K/V head, in f32: in place, or copied into a zero tile when
  /// `padded` (only the rows before S exist).
  Value buildCacheTile(OpBuilder &b, Location loc, const Task &task,
                       Value source, Value colBegin, bool padded) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    Type f32 = b.getF32Type();
    auto type = cast<RankedTensorType>(source.getType());
    int64_t width = type.getDimSize(3);
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    OpFoldResult rows = b.getIndexAttr(keyTile);
    if (padded)
      rows = ib.sub(ib.dim(source, 2), colBegin);
    auto sliceType =
        RankedTensorType::get({padded ? ShapedType::kDynamic : keyTile, width},
                              type.getElementType());
    Value slice = tensor::ExtractSliceOp::create(
        b, loc, sliceType, source,
        ArrayRef<OpFoldResult>{task.batch, task.kvHead, colBegin, zero},
        ArrayRef<OpFoldResult>{one, one, rows, b.getIndexAttr(width)},
        ArrayRef<OpFoldResult>{one, one, one, one});
    slice = convertElements(b, loc, slice, f32);
    if (!padded)
      return slice;
    SmallVector<OpFoldResult> offsets = {zero, zero}, strides = {one, one};
    return tensor::InsertSliceOp::create(
        b, loc, slice,
        gb.tensor({b.getIndexAttr(keyTile), b.getIndexAttr(width)}, f32, 0.0),
        offsets, ArrayRef<OpFoldResult>{rows, b.getIndexAttr(width)}, strides);
  }

  /// One key tile: scores s[r, t] = sum_d q[r, d] k[t, d] against the
  /// cache's key rows, the mask where the tile needs one, and the online
  /// softmax update.
  SmallVector<Value> buildKeyTile(OpBuilder &b, Location loc,
                                  const TileContext &context, Value tile,
                                  bool padded, ValueRange state) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    const Task &task = context.task;
    AttentionOp op = task.op;
    Type f32 = b.getF32Type();
    Value colBegin = ib.mul(tile, ib.c(keyTile));
    Value keys = buildCacheTile(b, loc, task, op.getKey(), colBegin, padded);
    Value values =
        buildCacheTile(b, loc, task, op.getValue(), colBegin, padded);

    Value scores = gb.generic(
        {context.queryTile, keys},
        gb.tensor({b.getIndexAttr(task.rows), b.getIndexAttr(keyTile)}, f32,
                  0.0),
        {gb.map(3, {0, 2}), gb.map(3, {1, 2}), gb.map(3, {0, 1})},
        {kPar, kPar, kRed},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          return arith::AddFOp::create(
              nb, l, a[2], arith::MulFOp::create(nb, l, a[0], a[1]));
        });

    auto mask = op.getEffectiveMask();
    Value full = buildKeyTileIsFull(b, loc, mask, ib.c(0), context.numQueries,
                                    colBegin, keyTile, context.numQueries,
                                    context.validKeys, context.firstHead);
    scores = maskScoresUnlessFull(
        b, loc, scores, full,
        [&](OpBuilder &nb, Location l, Value row, Value col) {
          IndexBuilder nib(nb, l);
          Value query = nib.rem(row, context.numQueries);
          Value head =
              nib.add(context.firstHead, nib.div(row, context.numQueries));
          return buildKeyIsVisible(nb, l, mask, query, nib.add(colBegin, col),
                                   context.numQueries, context.validKeys, head);
        });
    return updateOnlineSoftmax(b, loc, scores, values, state);
  }

  /// Merges the chunks' (m, l, acc) (B, Hkv, C, g·N[, Dv]) into the output
  /// (B, H, N, Dv) and the lse (B, H, N). The loops run over the output;
  /// element (b, h, i) of it is row (h mod g)·N + i of K/V head h / g.
  std::pair<Value, Value> buildMerge(OpBuilder &b, Location loc, AttentionOp op,
                                     ValueRange parts) const {
    GenericBuilder gb(b, loc);
    MLIRContext *ctx = b.getContext();
    Type f32 = b.getF32Type();
    Task task = describe(op);
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    SmallVector<OpFoldResult> outSizes =
        tensor::getMixedSizes(b, loc, op.getQuery());
    outSizes[3] = b.getIndexAttr(task.valueDim);
    ArrayRef<OpFoldResult> rowSizes = ArrayRef(outSizes).take_front(3);

    // Loop dims (b, h, i[, e], c); c, the chunk, reduces.
    auto partMap = [&](unsigned numDims, bool withValueDim) {
      AffineExpr batch = getAffineDimExpr(0, ctx),
                 head = getAffineDimExpr(1, ctx),
                 query = getAffineDimExpr(2, ctx),
                 chunk = getAffineDimExpr(numDims - 1, ctx);
      SmallVector<AffineExpr> results = {
          batch, head.floorDiv(task.group), chunk,
          (head % task.group) * task.queries + query};
      if (withValueDim)
        results.push_back(getAffineDimExpr(3, ctx));
      return AffineMap::get(numDims, 0, results, ctx);
    };
    Value mParts = parts[0], lParts = parts[1], accParts = parts[2];

    // M = max_c m_c
    Value most = gb.generic(
        {mParts}, gb.tensor(rowSizes, f32, kNegInf),
        {partMap(4, false), gb.map(4, {0, 1, 2})}, {kPar, kPar, kPar, kRed},
        [&](OpBuilder &nb, Location l, ValueRange a) {
          return arith::MaximumFOp::create(nb, l, a[0], a[1]).getResult();
        });
    // w_c = 2^(m_c - M), once per (row, chunk); then L = sum_c w_c l_c and
    // A = sum_c w_c acc_c.
    SmallVector<OpFoldResult> weightSizes(rowSizes);
    weightSizes.push_back(tensor::getMixedSize(b, loc, mParts, 2));
    Value weights = gb.generic(
        {mParts, most}, gb.tensor(weightSizes, f32),
        {partMap(4, false), gb.map(4, {0, 1, 2}), gb.map(4, {0, 1, 2, 3})},
        {kPar, kPar, kPar, kPar}, [&](OpBuilder &nb, Location l, ValueRange a) {
          return exp2Of(nb, l, a[0], safeOffset(nb, l, a[1]));
        });
    auto weighted = [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
      return arith::AddFOp::create(nb, l, a[2],
                                   arith::MulFOp::create(nb, l, a[0], a[1]));
    };
    Value sum = gb.generic(
        {weights, lParts}, gb.tensor(rowSizes, f32, 0.0),
        {gb.map(4, {0, 1, 2, 3}), partMap(4, false), gb.map(4, {0, 1, 2})},
        {kPar, kPar, kPar, kRed}, weighted);
    Value acc = gb.generic(
        {weights, accParts}, gb.tensor(outSizes, f32, 0.0),
        {gb.map(5, {0, 1, 2, 4}), partMap(5, true), gb.map(5, {0, 1, 2, 3})},
        {kPar, kPar, kPar, kPar, kRed}, weighted);
    Value out = normalizeRows(b, loc, acc, sum, resultType.getElementType());
    Value lse;
    if (op.getLse())
      lse = gb.generic(
          {most, sum}, gb.tensor(rowSizes, f32),
          {gb.map(3, {0, 1, 2}), gb.map(3, {0, 1, 2}), gb.map(3, {0, 1, 2})},
          {kPar, kPar, kPar}, [&](OpBuilder &nb, Location l, ValueRange a) {
            return logSumExpOf(nb, l, a[0], a[1]);
          });
    return {out, lse};
  }

  int64_t keyTile, maxRows, chunks, workers;
};

struct AttnTileDecodePass
    : attn::impl::AttnTileDecodePassBase<AttnTileDecodePass> {
  using Base::Base;

  void runOnOperation() override {
    if (keyTile <= 0 || maxRows <= 0 || chunks < 0 || workers < 0) {
      getOperation().emitError(
          "key-tile and max-rows must be positive, chunks and workers not "
          "negative");
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    populateTileDecodePatterns(patterns, keyTile, maxRows, chunks, workers);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateTileDecodePatterns(RewritePatternSet &patterns,
                                            int64_t keyTile, int64_t maxRows,
                                            int64_t chunks, int64_t workers) {
  if (workers == 0)
    workers = std::max(1u, std::thread::hardware_concurrency());
  patterns.add<TileDecode>(patterns.getContext(), keyTile, maxRows, chunks,
                           workers);
}
