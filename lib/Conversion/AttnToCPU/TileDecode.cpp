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

#include "attn/Dialect/Attn/Transforms/SoftmaxTile.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Conversion/AttnToCPU/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <thread>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEDECODEPASS
#include "attn/Conversion/AttnToCPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

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

    // Enough chunks for every worker to have a task, unless set.
    Value numChunks =
        chunks > 0 ? ib.c(chunks)
                   : buildChunkCount(rewriter, loc, workers,
                                     ib.mul(batch, ib.c(kvHeads)), numKeys);

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
    auto [out, lse] =
        mergeSplitKPartials(rewriter, loc, op, forall.getResults());
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
    SmallVector<std::pair<Value, Value>> ranges = cutToChunk(
        b, loc,
        buildVisitedKeyTiles(b, loc, mask, ib.c(0), numQueries, numQueries,
                             validKeys, firstHead, keyTile),
        chunk, numChunks);

    // Tiles wholly inside the valid keys are read in place; the one that
    // runs past them (when T does not divide the key length or S) through a
    // zero-padded copy of its valid rows, so that no read leaves the cache
    // and no row past the key length enters a product (its weight is 0, but
    // 0 times a NaN or an inf there would not be).
    Value wholeTiles = ib.div(validKeys, ib.c(keyTile));
    SmallVector<std::pair<Value, Value>> inPlace;
    for (auto [begin, end] : ranges)
      inPlace.push_back({begin, ib.min(end, wholeTiles)});

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

    // The tail tile: in a range of this chunk, and cut by the valid keys.
    Value tail = wholeTiles;
    Value inSomeRange = ib.truth(false);
    for (auto [begin, end] : ranges)
      inSomeRange =
          ib.either(inSomeRange, ib.both(ib.le(begin, tail), ib.lt(tail, end)));
    Value visitTail =
        ib.both(ib.lt(ib.mul(tail, ib.c(keyTile)), validKeys), inSomeRange);
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
  /// `padded` (only the rows before `validKeys` are copied). With `keepType`, a full tile
  /// stays in the cache's element type (the score product widens it as it
  /// reads it).
  Value buildCacheTile(OpBuilder &b, Location loc, const Task &task,
                       Value source, Value colBegin, Value validKeys,
                       bool padded, bool keepType = false) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    Type f32 = b.getF32Type();
    auto type = cast<RankedTensorType>(source.getType());
    int64_t width = type.getDimSize(3);
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    OpFoldResult rows = b.getIndexAttr(keyTile);
    if (padded)
      rows = ib.sub(validKeys, colBegin);
    auto sliceType =
        RankedTensorType::get({padded ? ShapedType::kDynamic : keyTile, width},
                              type.getElementType());
    Value slice = tensor::ExtractSliceOp::create(
        b, loc, sliceType, source,
        ArrayRef<OpFoldResult>{task.batch, task.kvHead, colBegin, zero},
        ArrayRef<OpFoldResult>{one, one, rows, b.getIndexAttr(width)},
        ArrayRef<OpFoldResult>{one, one, one, one});
    if (!padded && keepType)
      return slice;
    slice = convertElements(b, loc, slice, f32);
    if (!padded)
      return slice;
    return padWithZeros(
        b, loc, slice,
        gb.tensor({b.getIndexAttr(keyTile), b.getIndexAttr(width)}, f32));
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
    // Half-precision keys and values of a full tile are read in place by
    // the products, which widen them in registers: half the bytes of f32,
    // and no f32 copy.
    Value keys = buildCacheTile(b, loc, task, op.getKey(), colBegin,
                                context.validKeys, padded, /*keepType=*/true);
    Value values =
        buildCacheTile(b, loc, task, op.getValue(), colBegin,
                       context.validKeys, padded, /*keepType=*/true);

    Value scores = gb.generic(
        {context.queryTile, keys},
        gb.tensor({b.getIndexAttr(task.rows), b.getIndexAttr(keyTile)}, f32,
                  0.0),
        {gb.map(3, {0, 2}), gb.map(3, {1, 2}), gb.map(3, {0, 1})},
        {kPar, kPar, kRed},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value key = a[1].getType() == f32
                          ? a[1]
                          : arith::ExtFOp::create(nb, l, f32, a[1]).getResult();
          return arith::AddFOp::create(
              nb, l, a[2], arith::MulFOp::create(nb, l, a[0], key));
        });

    // The score modifier (log2 domain) before the mask; a row r is query
    // r mod N of head firstHead + r / N.
    if (ScoreModAttrInterface mod = op.getScoreModAttr())
      scores = modifyScores(
          b, loc, scores, mod,
          [&](OpBuilder &nb, Location l, Value row, Value col) {
            IndexBuilder nib(nb, l);
            return ScorePosition{
                nib.rem(row, context.numQueries), nib.add(colBegin, col),
                context.numQueries, context.validKeys,
                nib.add(context.firstHead, nib.div(row, context.numQueries)),
                op.getNumHeads()};
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

  int64_t keyTile, maxRows, chunks, workers;
};

struct AttnTileDecodePass
    : attn::impl::AttnTileDecodePassBase<AttnTileDecodePass> {
  using Base::Base;

  void runOnOperation() override {
    if (keyTile < 1 || keyTile > kMaxCPUTile || maxRows < 1 ||
        maxRows > kMaxCPUTile || chunks < 0 || workers < 0) {
      getOperation().emitError()
          << "key-tile and max-rows must be in [1, " << kMaxCPUTile
          << "], chunks and workers not negative; got key-tile "
          << keyTile.getValue() << ", max-rows " << maxRows.getValue()
          << ", chunks " << chunks.getValue() << ", workers "
          << workers.getValue();
      return signalPassFailure();
    }
    if (failed(verifyDecomposedClauses(getOperation(), getArgument())))
      return signalPassFailure();
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
