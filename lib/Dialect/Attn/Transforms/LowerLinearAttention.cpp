//===- LowerLinearAttention.cpp - linear attention's three forms ----------===//
//
// attn.linear_attention replaces exp(q . k) by phi(q) . phi(k), so that the
// sums over keys factor through a state of fixed size (Katharopoulos et al.
// 2020, section 3.2): with the ones column that makes the normalizer part
// of the same product,
//
//   S = S_0 + sum_j phi(k_j) [v_j, 1]^T       (D x (Dv + 1))
//   y_i = phi(q_i)^T S,   out_i = y_i[:Dv] / (y_i[Dv] + eps).
//
// One task per (batch row b, K/V head j): its state is shared by the g query
// heads of the group, whose rows are taken together, head-major, as one tile
// (row r = h·T + i for a tile of T queries). Three forms compute the same
// function:
//
// * parallel (no mask): the state from every valid key, in key tiles of T
//   (S += phi(K_t)^T [V_t, 1]), then each query tile reads it
//   (Y = phi(Q_t) S). O((N g + S) D Dv) time; besides the output, only the
//   state and one tile of each operand: no N x S buffer.
// * chunked (causal, training-length sequences): chunks of T tokens. A chunk
//   sees the state of the chunks before it and, within itself, the masked
//   quadratic form:
//
//     Y = phi(Q_c) S + tril(phi(Q_c) phi(K_c)^T) [V_c, 1],
//     S += phi(K_c)^T [V_c, 1],
//
//   O(N T D + N D Dv) per head: dense tile products, and the state is read
//   and written once per chunk instead of once per token.
// * recurrent (decoding): the RNN of section 3.4, one token at a time,
//   S += phi(k_t) [v_t, 1]^T then y_t = phi(q_t)^T S (causal), or all the
//   updates then all the reads (no mask). O(D Dv) per token whatever the
//   context: the state is all a decoder keeps.
//
// Padding: keys at or past the key length never enter the state (their rows
// are never read: a tile holds zeros there). The state tile is padded to a
// whole number of vectors (pad-to columns, the extra ones zero) so that its
// products take the vector code of attn-cpu-vectorize-tiles. Everything is
// f32 whatever the operands (f16 or bf16 are converted as they are read):
// the normalizer sums positive f32 terms and cannot overflow as f16 would.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/FeatureMaps.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERLINEARATTENTIONPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

/// The largest group of query heads whose rows a tile reads head by head in
/// straight-line code; a larger group loops over its heads.
static constexpr int64_t kUnrolledHeads = 16;

LinearForm mlir::attn::chooseLinearForm(LinearAttentionOp op,
                                        StringRef requested,
                                        int64_t chunkSize) {
  if (requested == "parallel")
    return LinearForm::Parallel;
  if (requested == "recurrent")
    return LinearForm::Recurrent;
  // Without a mask the chunks do not depend on one another: chunked is the
  // parallel form.
  if (!op.getCausal())
    return LinearForm::Parallel;
  if (requested == "chunked")
    return LinearForm::Chunked;
  // Fewer queries than a chunk (decoding): a chunk would be mostly padding.
  int64_t queries =
      cast<RankedTensorType>(op.getQuery().getType()).getDimSize(2);
  return !ShapedType::isDynamic(queries) && queries < chunkSize
             ? LinearForm::Recurrent
             : LinearForm::Chunked;
}

namespace {

class LowerLinearAttention : public OpRewritePattern<LinearAttentionOp> {
public:
  LowerLinearAttention(MLIRContext *ctx, StringRef form, int64_t chunkSize,
                       int64_t padTo)
      : OpRewritePattern(ctx), form(form.str()), chunkSize(chunkSize),
        padTo(padTo) {}

  LogicalResult matchAndRewrite(LinearAttentionOp op,
                                PatternRewriter &rewriter) const override {
    LinearForm chosen = chooseLinearForm(op, form, chunkSize);
    if (chosen == LinearForm::Parallel && op.getCausal())
      return op.emitOpError("the parallel form sums every key into one "
                            "state and cannot apply a causal mask; use the "
                            "chunked or the recurrent form");
    Location loc = op.getLoc();
    Task task = describe(op);
    OpFoldResult zero = rewriter.getIndexAttr(0),
                 one = rewriter.getIndexAttr(1);
    Value q = op.getQuery();
    OpFoldResult batch = tensor::getMixedSize(rewriter, loc, q, 0);
    GenericBuilder gb(rewriter, loc);

    SmallVector<OpFoldResult> outSizes =
        tensor::getMixedSizes(rewriter, loc, q);
    outSizes[3] = rewriter.getIndexAttr(task.valueDim);
    SmallVector<Value> shared = {gb.tensor(outSizes, task.outType)};
    SmallVector<OpFoldResult> stateSizes = {
        batch, rewriter.getIndexAttr(task.kvHeads),
        rewriter.getIndexAttr(task.headDim),
        rewriter.getIndexAttr(task.valueDim + 1)};
    if (op.getFinalState())
      shared.push_back(gb.tensor(stateSizes, rewriter.getF32Type()));
    auto forall = scf::ForallOp::create(
        rewriter, loc,
        ArrayRef<OpFoldResult>{batch, rewriter.getIndexAttr(task.kvHeads)},
        shared, std::nullopt);
    rewriter.setInsertionPoint(forall.getTerminator());
    task.batch = forall.getInductionVar(0);
    task.kvHead = forall.getInductionVar(1);
    IndexBuilder ib(rewriter, loc);
    task.numQueries = ib.dim(q, 2);
    task.validKeys = ib.dim(op.getKey(), 2);
    if (Value keyLengths = op.getKeyLengths())
      task.validKeys = buildValidKeys(
          rewriter, loc,
          tensor::ExtractOp::create(rewriter, loc, keyLengths, task.batch),
          task.validKeys);

    // The group's output rows (g, N, Dv), filled tile by tile.
    Value outShared = forall.getRegionIterArgs()[0];
    OpFoldResult firstHead = ib.mul(task.kvHead, ib.c(task.group));
    OpFoldResult queries = tensor::getMixedSize(rewriter, loc, outShared, 2);
    SmallVector<OpFoldResult> slabAt = {task.batch, firstHead, zero, zero};
    SmallVector<OpFoldResult> slabSizes = {
        one, rewriter.getIndexAttr(task.group), queries,
        rewriter.getIndexAttr(task.valueDim)};
    SmallVector<OpFoldResult> unit(4, one);
    int64_t staticQueries = cast<RankedTensorType>(q.getType()).getDimSize(2);
    Value slab = tensor::ExtractSliceOp::create(
        rewriter, loc,
        RankedTensorType::get({task.group, staticQueries, task.valueDim},
                              task.outType),
        outShared, slabAt, slabSizes, unit);

    Value state = buildInitialState(rewriter, loc, task);
    std::tie(state, slab) = buildForm(rewriter, loc, task, chosen, state, slab);

    // The state without its padding columns.
    Value final = tensor::ExtractSliceOp::create(
        rewriter, loc, state, ArrayRef<OpFoldResult>{zero, zero},
        ArrayRef<OpFoldResult>{rewriter.getIndexAttr(task.headDim),
                               rewriter.getIndexAttr(task.valueDim + 1)},
        ArrayRef<OpFoldResult>{one, one});
    rewriter.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(rewriter, loc, slab, outShared,
                                          slabAt, slabSizes, unit);
    if (op.getFinalState()) {
      tensor::ParallelInsertSliceOp::create(
          rewriter, loc, final, forall.getRegionIterArgs()[1],
          ArrayRef<OpFoldResult>{task.batch, task.kvHead, zero, zero},
          ArrayRef<OpFoldResult>{one, one, stateSizes[2], stateSizes[3]}, unit);
    }
    rewriter.replaceOp(op, forall.getResults());
    return success();
  }

private:
  struct Task {
    mutable LinearAttentionOp op; // Its accessors are not const.
    int64_t group, kvHeads, headDim, valueDim, width;
    Type outType;
    Value batch, kvHead, numQueries, validKeys;
  };

  Task describe(LinearAttentionOp op) const {
    Task task;
    task.op = op;
    task.kvHeads = op.getNumKVHeads();
    task.group = op.getNumHeads() / task.kvHeads;
    task.headDim =
        cast<RankedTensorType>(op.getQuery().getType()).getDimSize(3);
    task.valueDim =
        cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
    // Dv + 1 columns rounded up to whole vectors.
    task.width = llvm::divideCeil(task.valueDim + 1, padTo) * padTo;
    task.outType =
        cast<RankedTensorType>(op.getResult().getType()).getElementType();
    return task;
  }

  /// A (rows x cols) f32 tile of zeros.
  static Value zeros(OpBuilder &b, Location loc, int64_t rows, int64_t cols) {
    return GenericBuilder(b, loc).tensor(
        {b.getIndexAttr(rows), b.getIndexAttr(cols)}, b.getF32Type(), 0.0);
  }

  /// The task's state S_0 as a (D x width) tile: the op's initial state in
  /// its first Dv + 1 columns, or zeros.
  Value buildInitialState(OpBuilder &b, Location loc, const Task &task) const {
    Value tile = zeros(b, loc, task.headDim, task.width);
    Value initial = task.op.getInitialState();
    if (!initial)
      return tile;
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(task.headDim),
                                       b.getIndexAttr(task.valueDim + 1)};
    Value slice = tensor::ExtractSliceOp::create(
        b, loc,
        RankedTensorType::get({task.headDim, task.valueDim + 1},
                              b.getF32Type()),
        initial, ArrayRef<OpFoldResult>{task.batch, task.kvHead, zero, zero},
        ArrayRef<OpFoldResult>{one, one, sizes[0], sizes[1]},
        ArrayRef<OpFoldResult>{one, one, one, one});
    return tensor::InsertSliceOp::create(
        b, loc, slice, tile, ArrayRef<OpFoldResult>{zero, zero}, sizes,
        ArrayRef<OpFoldResult>{one, one});
  }

  /// The form's loops; returns the final state and the filled slab.
  std::pair<Value, Value> buildForm(OpBuilder &b, Location loc,
                                    const Task &task, LinearForm chosen,
                                    Value state, Value slab) const {
    IndexBuilder ib(b, loc);
    Value zero = ib.c(0);
    switch (chosen) {
    case LinearForm::Parallel:
      state = forTiles(b, loc, zero, task.validKeys, chunkSize, {state},
                       [&](OpBuilder &nb, Location l, Value first, Value count,
                           ValueRange carried) -> SmallVector<Value> {
                         return {accumulate(nb, l, task, carried[0], first,
                                            count, chunkSize)};
                       })[0];
      slab = forTiles(b, loc, zero, task.numQueries, chunkSize, {slab},
                      [&](OpBuilder &nb, Location l, Value first, Value count,
                          ValueRange carried) -> SmallVector<Value> {
                        return {read(nb, l, task, state, carried[0], first,
                                     count, chunkSize)};
                      })[0];
      return {state, slab};
    case LinearForm::Chunked: {
      SmallVector<Value> result = forTiles(
          b, loc, zero, task.numQueries, chunkSize, {state, slab},
          [&](OpBuilder &nb, Location l, Value first, Value count,
              ValueRange carried) {
            return chunk(nb, l, task, first, count, carried[0], carried[1]);
          });
      return {result[0], result[1]};
    }
    case LinearForm::Recurrent:
      if (!task.op.getCausal()) {
        state = forTiles(b, loc, zero, task.validKeys, 1, {state},
                         [&](OpBuilder &nb, Location l, Value t, Value,
                             ValueRange carried) -> SmallVector<Value> {
                           return {accumulate(nb, l, task, carried[0], t,
                                              IndexBuilder(nb, l).c(1), 1)};
                         })[0];
        slab = forTiles(b, loc, zero, task.numQueries, 1, {slab},
                        [&](OpBuilder &nb, Location l, Value t, Value,
                            ValueRange carried) -> SmallVector<Value> {
                          return {read(nb, l, task, state, carried[0], t,
                                       IndexBuilder(nb, l).c(1), 1)};
                        })[0];
        return {state, slab};
      }
      // Causal: token t enters the state (if it is a valid key), then its
      // queries read it.
      SmallVector<Value> result = forTiles(
          b, loc, zero, task.numQueries, 1, {state, slab},
          [&](OpBuilder &nb, Location l, Value t, Value,
              ValueRange carried) -> SmallVector<Value> {
            IndexBuilder nib(nb, l);
            auto update =
                scf::IfOp::create(nb, l, TypeRange{carried[0].getType()},
                                  nib.lt(t, task.validKeys), /*withElse=*/true);
            {
              OpBuilder::InsertionGuard guard(nb);
              nb.setInsertionPointToStart(update.thenBlock());
              scf::YieldOp::create(
                  nb, l, accumulate(nb, l, task, carried[0], t, nib.c(1), 1));
              nb.setInsertionPointToStart(update.elseBlock());
              scf::YieldOp::create(nb, l, carried[0]);
            }
            Value next = update.getResult(0);
            return {next, read(nb, l, task, next, carried[1], t,
                               IndexBuilder(nb, l).c(1), 1)};
          });
      return {result[0], result[1]};
    }
    return {state, slab};
  }

  /// scf.for over the tiles of `size` positions that cover [begin, end):
  /// `body` gets the tile's first position and its count (size, or fewer in
  /// the last tile) and the carried values.
  static SmallVector<Value>
  forTiles(OpBuilder &b, Location loc, Value begin, Value end, int64_t size,
           ValueRange init,
           function_ref<SmallVector<Value>(OpBuilder &, Location, Value, Value,
                                           ValueRange)>
               body) {
    IndexBuilder ib(b, loc);
    auto loop = scf::ForOp::create(
        b, loc, begin, end, ib.c(size), init,
        [&](OpBuilder &nb, Location l, Value first, ValueRange carried) {
          IndexBuilder nib(nb, l);
          Value count = nib.min(nib.c(size), nib.sub(end, first));
          scf::YieldOp::create(nb, l, body(nb, l, first, count, carried));
        });
    return SmallVector<Value>(loop.getResults());
  }

  static Value matmul(OpBuilder &b, Location loc, Value lhs, Value rhs,
                      Value acc) {
    return linalg::MatmulOp::create(b, loc, ValueRange{lhs, rhs},
                                    ValueRange{acc})
        .getResult(0);
  }

  /// `count` x width elements of `source` (B, heads, positions, width) of
  /// head `head` from position `first`, in f32 (then phi applied when
  /// `feature`), written into `dest` from row `destRow`.
  Value readRows(OpBuilder &b, Location loc, const Task &task, Value source,
                 Value head, Value first, Value count, bool feature, Value dest,
                 OpFoldResult destRow) const {
    GenericBuilder gb(b, loc);
    auto type = cast<RankedTensorType>(source.getType());
    int64_t width = type.getDimSize(3);
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    Value slice = tensor::ExtractSliceOp::create(
        b, loc,
        RankedTensorType::get({ShapedType::kDynamic, width},
                              type.getElementType()),
        source, ArrayRef<OpFoldResult>{task.batch, head, first, zero},
        ArrayRef<OpFoldResult>{one, one, count, b.getIndexAttr(width)},
        ArrayRef<OpFoldResult>{one, one, one, one});
    AffineMap identity = gb.map(2, {0, 1});
    FeatureMap map = task.op.getFeatureMap();
    Value converted = gb.generic(
        {slice}, gb.tensor({count, b.getIndexAttr(width)}, b.getF32Type()),
        {identity, identity}, {kPar, kPar},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value x = a[0].getType().isF32()
                        ? a[0]
                        : arith::ExtFOp::create(nb, l, nb.getF32Type(), a[0])
                              .getResult();
          return feature ? applyFeature(nb, l, map, x) : x;
        });
    return tensor::InsertSliceOp::create(
        b, loc, converted, dest,
        ArrayRef<OpFoldResult>{destRow, zero},
        ArrayRef<OpFoldResult>{count, b.getIndexAttr(width)},
        ArrayRef<OpFoldResult>{one, one});
  }

  /// The key side of a tile of keys [first, first + count), count <= tile:
  /// phi(K_t) (tile x D) and [V_t, 1] (tile x width), zero past `count`.
  std::pair<Value, Value> keyTile(OpBuilder &b, Location loc, const Task &task,
                                  Value first, Value count,
                                  int64_t tile) const {
    Value phiK =
        readRows(b, loc, task, task.op.getKey(), task.kvHead, first, count,
                 /*feature=*/true, zeros(b, loc, tile, task.headDim),
                 b.getIndexAttr(0));
    Value values =
        readRows(b, loc, task, task.op.getValue(), task.kvHead, first, count,
                 /*feature=*/false, zeros(b, loc, tile, task.width),
                 b.getIndexAttr(0));
    // The ones column: the normalizer's share of [v, 1].
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    Value ones =
        GenericBuilder(b, loc).tensor({count, one}, b.getF32Type(), 1.0);
    values = tensor::InsertSliceOp::create(
        b, loc, ones, values,
        ArrayRef<OpFoldResult>{zero, b.getIndexAttr(task.valueDim)},
        ArrayRef<OpFoldResult>{count, one}, ArrayRef<OpFoldResult>{one, one});
    return {phiK, values};
  }

  /// S += phi(K_t)^T [V_t, 1] over keys [first, first + count).
  Value accumulate(OpBuilder &b, Location loc, const Task &task, Value state,
                   Value first, Value count, int64_t tile) const {
    auto [phiK, values] = keyTile(b, loc, task, first, count, tile);
    return matmul(b, loc, transpose(b, loc, phiK), values, state);
  }

  static Value transpose(OpBuilder &b, Location loc, Value tile) {
    auto type = cast<RankedTensorType>(tile.getType());
    Value init =
        GenericBuilder(b, loc).tensor({b.getIndexAttr(type.getDimSize(1)),
                                       b.getIndexAttr(type.getDimSize(0))},
                                      type.getElementType());
    return linalg::TransposeOp::create(b, loc, tile, init,
                                       ArrayRef<int64_t>{1, 0})
        .getResult()[0];
  }

  /// phi of the group's queries [first, first + count) as one (g·tile x D)
  /// tile, head-major (row h·tile + i). Rows past `count` are zeros: their
  /// outputs are never written.
  Value queryTile(OpBuilder &b, Location loc, const Task &task, Value first,
                  Value count, int64_t tile) const {
    IndexBuilder ib(b, loc);
    Value rows = zeros(b, loc, task.group * tile, task.headDim);
    // Head h's rows at h·tile.
    auto readHead = [&](OpBuilder &nb, Location l, Value h, Value into) {
      IndexBuilder nib(nb, l);
      Value head = nib.add(nib.mul(task.kvHead, nib.c(task.group)), h);
      return readRows(nb, l, task, task.op.getQuery(), head, first, count,
                      /*feature=*/true, into, nib.mul(h, nib.c(tile)));
    };
    // A copy per head for the groups of real models (constant offsets: a
    // loop's dynamic ones cost a third of the time at g = 4); a loop over
    // the heads for a larger group (hundreds of heads), as one-shot
    // bufferization of a chain of that many insertions takes time
    // quadratic in it (a minute at g = 256).
    if (task.group <= kUnrolledHeads) {
      for (int64_t h = 0; h < task.group; ++h)
        rows = readHead(b, loc, ib.c(h), rows);
      return rows;
    }
    auto heads = scf::ForOp::create(
        b, loc, ib.c(0), ib.c(task.group), ib.c(1), ValueRange{rows},
        [&](OpBuilder &nb, Location l, Value h, ValueRange acc) {
          scf::YieldOp::create(nb, l, readHead(nb, l, h, acc[0]));
        });
    return heads.getResult(0);
  }

  /// out rows = y[:, :Dv] / (y[:, Dv] + eps) for the rows of queries
  /// [first, first + count) of each head, into the slab (g, N, Dv).
  Value writeRows(OpBuilder &b, Location loc, const Task &task, Value y,
                  Value slab, Value first, Value count, int64_t tile) const {
    GenericBuilder gb(b, loc);
    MLIRContext *ctx = b.getContext();
    int64_t rows = task.group * tile;
    AffineMap normalizer = AffineMap::get(
        2, 0,
        {getAffineDimExpr(0, ctx), getAffineConstantExpr(task.valueDim, ctx)},
        ctx);
    AffineMap identity = gb.map(2, {0, 1});
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    Value numerators = tensor::ExtractSliceOp::create(
        b, loc, y, ArrayRef<OpFoldResult>{zero, zero},
        ArrayRef<OpFoldResult>{b.getIndexAttr(rows),
                               b.getIndexAttr(task.valueDim)},
        ArrayRef<OpFoldResult>{one, one});
    Value out = gb.generic(
        {numerators, y},
        gb.tensor({b.getIndexAttr(rows), b.getIndexAttr(task.valueDim)},
                  task.outType),
        {identity, normalizer, identity}, {kPar, kPar},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value den = arith::AddFOp::create(
              nb, l, a[1], f32Constant(nb, l, LinearAttentionOp::kEpsilon));
          Value o = arith::DivFOp::create(nb, l, a[0], den);
          return task.outType.isF32()
                     ? o
                     : arith::TruncFOp::create(nb, l, task.outType, o)
                           .getResult();
        });
    Value grouped = tensor::ExpandShapeOp::create(
        b, loc,
        RankedTensorType::get({task.group, tile, task.valueDim}, task.outType),
        out, ArrayRef<ReassociationIndices>{{0, 1}, {2}});
    SmallVector<OpFoldResult> sizes = {b.getIndexAttr(task.group), count,
                                       b.getIndexAttr(task.valueDim)};
    Value rowsWritten = tensor::ExtractSliceOp::create(
        b, loc,
        RankedTensorType::get({task.group, ShapedType::kDynamic, task.valueDim},
                              task.outType),
        grouped, ArrayRef<OpFoldResult>{zero, zero, zero}, sizes,
        ArrayRef<OpFoldResult>{one, one, one});
    return tensor::InsertSliceOp::create(
        b, loc, rowsWritten, slab, ArrayRef<OpFoldResult>{zero, first, zero},
        sizes, ArrayRef<OpFoldResult>{one, one, one});
  }

  /// The outputs of queries [first, first + count) (count <= tile) from the
  /// state alone: y = phi(Q_t) S for the g heads, normalized into the slab.
  Value read(OpBuilder &b, Location loc, const Task &task, Value state,
             Value slab, Value first, Value count, int64_t tile) const {
    Value phiQ = queryTile(b, loc, task, first, count, tile);
    Value y = matmul(b, loc, phiQ, state,
                     zeros(b, loc, task.group * tile, task.width));
    return writeRows(b, loc, task, y, slab, first, count, tile);
  }

  /// One causal chunk of positions [first, first + count): its outputs from
  /// the state before it and its own masked quadratic form, then its keys
  /// into the state. Returns (state, slab).
  SmallVector<Value> chunk(OpBuilder &b, Location loc, const Task &task,
                           Value first, Value count, Value state,
                           Value slab) const {
    IndexBuilder ib(b, loc);
    GenericBuilder gb(b, loc);
    int64_t tile = chunkSize, rows = task.group * tile;
    Value phiQ = queryTile(b, loc, task, first, count, tile);
    // Keys of the chunk that are valid: [first, min(first + count, len)).
    Value keys = ib.max(ib.c(0), ib.min(count, ib.sub(task.validKeys, first)));
    auto [phiK, values] = keyTile(b, loc, task, first, keys, tile);
    Value phiKT = transpose(b, loc, phiK);

    // A[r, j] = phi(q) . phi(k_j) for j <= i, the query of row r = h·T + i:
    // one product with phi(K)^T (D x T), which the state update reuses.
    Value scores = matmul(b, loc, phiQ, phiKT, zeros(b, loc, rows, tile));
    scores = gb.generic(
        {}, scores, {gb.map(2, {0, 1})}, {kPar, kPar},
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          IndexBuilder nib(nb, l);
          Value query = nib.rem(linalg::IndexOp::create(nb, l, 0), nib.c(tile));
          Value key = linalg::IndexOp::create(nb, l, 1);
          return arith::SelectOp::create(nb, l, nib.le(key, query), a[0],
                                         f32Constant(nb, l, 0));
        });
    Value y = matmul(b, loc, phiQ, state, zeros(b, loc, rows, task.width));
    y = matmul(b, loc, scores, values, y);
    slab = writeRows(b, loc, task, y, slab, first, count, tile);
    state = matmul(b, loc, phiKT, values, state);
    return {state, slab};
  }

  std::string form;
  int64_t chunkSize, padTo;
};

struct AttnLowerLinearAttentionPass
    : attn::impl::AttnLowerLinearAttentionPassBase<
          AttnLowerLinearAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    if (form != "auto" && form != "parallel" && form != "chunked" &&
        form != "recurrent") {
      getOperation().emitError()
          << "unknown linear attention form '" << form.getValue()
          << "'; expected auto, parallel, chunked or recurrent";
      return signalPassFailure();
    }
    // A chunk's masked weights are a (g·T x T) tile whose products'
    // vector code grows with T: T stays at sizes that compile in seconds.
    if (chunkSize <= 0 || chunkSize > kMaxChunkSize || padTo <= 0) {
      getOperation().emitError()
          << "chunk-size must be in [1, " << kMaxChunkSize
          << "] and pad-to positive, got " << chunkSize.getValue() << " and "
          << padTo.getValue();
      return signalPassFailure();
    }
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerLinearAttention>(&getContext(), form, chunkSize, padTo);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // An op the pattern refused (it said why) is an error, not left behind.
    if (getOperation()
            .walk([](LinearAttentionOp) { return WalkResult::interrupt(); })
            .wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
