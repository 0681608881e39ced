//===- TileProjections.cpp - the layers' projections as blocked products --===//
//
// The projections of an attention layer (Projections.h) are products of a
// dynamic number of rows (batch x tokens) with a static weight W (K x N).
// This pass cuts them the way a BLAS does, into the register-blocked tile
// products that attn-cpu-vectorize-tiles emits:
//
// * Tasks run in parallel over (batch row, tile of `row-tile` tokens). For
//   each strip of nc columns of its products a task computes its rows of
//   the result in place,
//       C = 0;   C += A[:, chunk] pack(W[chunk, strip])   for each chunk,
//   A being its rows of the activations, read in place, and chunks kc rows
//   of W deep. pack copies the (kc, nc) block of W into one contiguous f32
//   tile (widening f16/bf16), as a BLAS packs its panels: the tile (32 KiB
//   for kc = 128, nc = 64) stays in L1 while all the row blocks of the task
//   pass by, where W's own rows, 4 N bytes apart, would fall into a few of
//   L1's sets. Each block is packed once per task (the cost is 1 / row-tile
//   of the products'), into a tile of the task: no copy of the weights.
// * Into heads (P[b, h, t, d] = sum_f x[b, t, f] W[f, h d]), nc divides the
//   head width w, so strip j is columns (j mod w/nc) nc of head j / (w/nc):
//   C is a (rows, nc) view of P[b, h] and the head split costs nothing. From
//   heads (y[b, t, e] = sum_{h, d} O[b, h, t, d] W[h w + d, e]) the chunks
//   run over the heads and over d within a head: A = O[b, h, rows, chunk],
//   again a view, so the head merge costs nothing either.
// * The projections that read the same activations (q, k and v of
//   self-attention; k and v of cross attention) share one task loop: a
//   task's rows of x come from memory once and stay in cache for all of
//   them (one pass over x).
//
// * The gradients of the weights (attn-generate-gradients) sum over the
//   tokens instead: dW[m, n] = sum_{b,t} A[b, t, m] B[b, t, n]. Tasks run
//   over (block of rows, strip of nc columns) of dW; each sums the batch
//   rows and chunks of depth-tile tokens in order (the same bits on any
//   number of threads), C += A_chunk^T B_chunk, the chunks packed into
//   zero-padded f32 tiles (1 / nc and 1 / fb of the product's work).
//
// Projections whose widths do not split into vectors stay linalg.generic
// ops (loops).
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToCPU/CPUTarget.h"
#include "attn/Conversion/AttnToCPU/Passes.h"
#include "attn/Dialect/Attn/IR/IndexBuilder.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/Projections.h"
#include "attn/Dialect/Attn/Transforms/SoftmaxTile.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Dominance.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTILEPROJECTIONSPASS
#include "attn/Conversion/AttnToCPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// One projection and how it is cut.
struct Projection {
  mutable linalg::GenericOp op; // ops' accessors are not const
  ProjectionForm form;
  Value activations; // (B, T, F) into heads, (B, h, T, w) from heads
  Value weights;     // (K, N), as stored
  int64_t stripWidth; // nc
  bool zeroInit;      // the result starts from 0 (not from op's init)

  RankedTensorType resultType() const {
    return cast<RankedTensorType>(op.getResultTypes()[0]);
  }
  int64_t depth() const {
    return cast<RankedTensorType>(weights.getType()).getDimSize(0);
  }
  int64_t numStrips() const {
    return cast<RankedTensorType>(weights.getType()).getDimSize(1) /
           stripWidth;
  }
  /// The tokens' dimension of the activations.
  unsigned tokenDim() const { return form == ProjectionForm::IntoHeads ? 1 : 2; }
};

static bool isZeroFill(Value value) {
  auto fill = value.getDefiningOp<linalg::FillOp>();
  if (!fill)
    return false;
  auto constant = fill.getInputs()[0].getDefiningOp<arith::ConstantOp>();
  auto attr = constant ? dyn_cast<FloatAttr>(constant.getValue()) : nullptr;
  return attr && attr.getValue().isZero();
}

/// The strip width for `columns` columns of a head or of the result: the
/// register block's columns (productBlockVectors of the target's vectors)
/// or the widest fraction of it that divides `columns`; 0 if no vector
/// width does.
static int64_t stripWidthFor(int64_t columns, int64_t lanes,
                             int64_t registers) {
  for (int64_t vectors = productBlockVectors(registers); vectors >= 1;
       vectors /= 2)
    if (columns % (vectors * lanes) == 0)
      return vectors * lanes;
  for (int64_t width = lanes / 2; width >= 4 && width >= lanes / 4;
       width /= 2)
    if (columns % width == 0)
      return width;
  return 0;
}

/// How `op` is cut, if it is a projection with the static widths a strip
/// needs.
static std::optional<Projection> planProjection(linalg::GenericOp op,
                                                int64_t lanes,
                                                int64_t registers) {
  std::optional<ProjectionForm> form = matchProjection(op);
  if (!form || !op.hasPureTensorSemantics())
    return std::nullopt;
  Value activations = op.getDpsInputs()[0], weights = op.getDpsInputs()[1];
  auto xType = cast<RankedTensorType>(activations.getType());
  auto wType = cast<RankedTensorType>(weights.getType());
  auto resultType = cast<RankedTensorType>(op.getResultTypes()[0]);
  if (!wType.hasStaticShape() || !isa<FloatType>(xType.getElementType()))
    return std::nullopt;
  // The weight as stored, (K, N): the source of the view as (F, h, w) or
  // (h, w, E).
  auto view = weights.getDefiningOp<tensor::ExpandShapeOp>();
  if (!view || view.getSrcType().getRank() != 2)
    return std::nullopt;
  Value weights2D = view.getSrc();
  int64_t columns = *form == ProjectionForm::IntoHeads
                        ? resultType.getDimSize(3) // w
                        : resultType.getDimSize(2); // E
  // The reduction's width within one panel of A: F, or w.
  int64_t panelWidth = xType.getDimSize(*form == ProjectionForm::IntoHeads
                                            ? 2
                                            : 3);
  if (ShapedType::isDynamic(panelWidth) || ShapedType::isDynamic(columns))
    return std::nullopt;
  int64_t stripWidth = stripWidthFor(columns, lanes, registers);
  if (stripWidth == 0)
    return std::nullopt;
  return Projection{op,        *form,     activations,
                    weights2D, stripWidth, isZeroFill(op.getDpsInits()[0])};
}

/// A rank-reduced slice of `source` keeping the dimensions in `kept`.
static Value slice(OpBuilder &b, Location loc, Value source,
                   ArrayRef<OpFoldResult> offsets,
                   ArrayRef<OpFoldResult> sizes, ArrayRef<unsigned> kept) {
  auto type = cast<RankedTensorType>(source.getType());
  SmallVector<int64_t> shape;
  for (unsigned d : kept) {
    std::optional<int64_t> size = getConstantIntValue(sizes[d]);
    shape.push_back(size ? *size : ShapedType::kDynamic);
  }
  SmallVector<OpFoldResult> strides(offsets.size(), b.getIndexAttr(1));
  return tensor::ExtractSliceOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), source,
      offsets, sizes, strides);
}

/// A block of the weights packed for a product: its rows (kc of them, nc
/// wide) copied into one contiguous f32 tile, widened from f16/bf16.
static Value packBlock(OpBuilder &b, Location loc, Value block) {
  auto type = cast<RankedTensorType>(block.getType());
  Value tile = tensor::EmptyOp::create(b, loc, type.getShape(), b.getF32Type());
  if (type.getElementType().isF32())
    return linalg::CopyOp::create(b, loc, block, tile).getResult(0);
  return convertElementsInto(b, loc, block, tile);
}

class ProjectionTiler {
public:
  ProjectionTiler(OpBuilder &b, Location loc, int64_t rowTile,
                  int64_t depthTile)
      : b(b), loc(loc), ib(b, loc), rowTile(rowTile), depthTile(depthTile) {}

  /// One task loop for the projections of `group`, which read the same
  /// activations; returns their results.
  SmallVector<Value> tile(ArrayRef<Projection> group) {
    SmallVector<Value> inits;
    for (const Projection &p : group) {
      inits.push_back(p.zeroInit ? tensor::EmptyOp::create(
                                       b, loc, resultSizes(p), b.getF32Type())
                                       .getResult()
                                 : p.op.getDpsInits()[0]);
    }
    Value x = group.front().activations;
    Value batch = ib.dim(x, 0);
    Value tokens = ib.dim(x, group.front().tokenDim());
    auto forall = scf::ForallOp::create(
        b, loc,
        ArrayRef<OpFoldResult>{batch, ib.ceilDiv(tokens, ib.c(rowTile))},
        inits, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forall.getTerminator());
    Task task;
    task.batch = forall.getInductionVar(0);
    task.firstRow = ib.mul(forall.getInductionVar(1), ib.c(rowTile));
    task.rows = ib.min(ib.c(rowTile), ib.sub(tokens, task.firstRow));
    SmallVector<Value> tiles;
    SmallVector<SmallVector<OpFoldResult>> offsets, sizes;
    for (auto [i, p] : llvm::enumerate(group)) {
      Value shared = forall.getRegionIterArgs()[i];
      auto [off, size] = taskRegion(p, shared, task);
      Value tileValue = tensor::ExtractSliceOp::create(
          b, loc, shared, off, size,
          SmallVector<OpFoldResult>(off.size(), b.getIndexAttr(1)));
      tiles.push_back(computeTile(p, tileValue, task));
      offsets.push_back(off);
      sizes.push_back(size);
    }
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    for (auto [i, tileValue] : llvm::enumerate(tiles))
      tensor::ParallelInsertSliceOp::create(
          b, loc, tileValue, forall.getRegionIterArgs()[i], offsets[i],
          sizes[i],
          SmallVector<OpFoldResult>(offsets[i].size(), b.getIndexAttr(1)));
    return SmallVector<Value>(forall.getResults());
  }

private:
  struct Task {
    Value batch, firstRow, rows;
  };

  /// The result's sizes, from the activations where dynamic (batch and
  /// tokens; the weights fix the others): a zero-initialized result is
  /// created before the first projection of the group, where its own init
  /// may not exist yet.
  SmallVector<OpFoldResult> resultSizes(const Projection &p) {
    RankedTensorType type = p.resultType();
    SmallVector<OpFoldResult> sizes;
    for (int64_t d = 0; d < type.getRank(); ++d)
      sizes.push_back(
          type.isDynamicDim(d)
              ? OpFoldResult(ib.dim(p.activations, d == 0 ? 0 : p.tokenDim()))
              : b.getIndexAttr(type.getDimSize(d)));
    return sizes;
  }

  /// The task's rows of the result: [b, :, rows, :] into heads, [b, rows, :]
  /// from heads.
  std::pair<SmallVector<OpFoldResult>, SmallVector<OpFoldResult>>
  taskRegion(const Projection &p, Value shared, const Task &task) {
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    RankedTensorType type = p.resultType();
    if (p.form == ProjectionForm::IntoHeads)
      return {{task.batch, zero, task.firstRow, zero},
              {one, b.getIndexAttr(type.getDimSize(1)), task.rows,
               b.getIndexAttr(type.getDimSize(3))}};
    return {{task.batch, task.firstRow, zero},
            {one, task.rows, b.getIndexAttr(type.getDimSize(2))}};
  }

  /// Every strip of the task's tile, in place.
  Value computeTile(const Projection &p, Value tileValue, const Task &task) {
    auto strips = scf::ForOp::create(
        b, loc, ib.c(0), ib.c(p.numStrips()), ib.c(1), ValueRange{tileValue},
        [&](OpBuilder &nb, Location l, Value j, ValueRange iterArgs) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(nb.getInsertionBlock());
          scf::YieldOp::create(
              b, l, computeStrip(p, iterArgs[0], j, task));
        });
    return strips.getResult(0);
  }

  /// C = (0 or C) + A W[:, strip j] for strip j of the tile.
  Value computeStrip(const Projection &p, Value tileValue, Value j,
                     const Task &task) {
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    OpFoldResult nc = b.getIndexAttr(p.stripWidth);
    SmallVector<OpFoldResult> offsets, sizes;
    SmallVector<unsigned> kept;
    if (p.form == ProjectionForm::IntoHeads) {
      int64_t perHead = p.resultType().getDimSize(3) / p.stripWidth;
      Value head = ib.div(j, ib.c(perHead));
      Value column = ib.mul(ib.rem(j, ib.c(perHead)), ib.c(p.stripWidth));
      offsets = {zero, head, zero, column};
      sizes = {one, one, task.rows, nc};
      kept = {2, 3};
    } else {
      offsets = {zero, zero, ib.mul(j, ib.c(p.stripWidth))};
      sizes = {one, task.rows, nc};
      kept = {1, 2};
    }
    Value stripBegin = ib.mul(j, ib.c(p.stripWidth));
    Value c = slice(b, loc, tileValue, offsets, sizes, kept);
    if (p.zeroInit) {
      Value zeroF = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0));
      c = linalg::FillOp::create(b, loc, zeroF, c).getResult(0);
    }
    // Panels of A: the whole of x's rows into heads; one head of O at a
    // time from heads.
    auto xType = cast<RankedTensorType>(p.activations.getType());
    auto aChunk = [&](Value panel, Value k0, int64_t width) {
      OpFoldResult size = b.getIndexAttr(width);
      if (p.form == ProjectionForm::IntoHeads)
        return slice(b, loc, p.activations, {task.batch, task.firstRow, k0},
                     {one, task.rows, size}, {1, 2});
      return slice(b, loc, p.activations,
                   {task.batch, panel, task.firstRow, k0},
                   {one, one, task.rows, size}, {2, 3});
    };
    int64_t panelWidth = xType.getDimSize(xType.getRank() - 1);
    auto accumulatePanel = [&](Value panel, Value acc) {
      Value panelBegin = ib.mul(panel, ib.c(panelWidth));
      auto chunk = [&](Value k0, int64_t width, Value acc) -> Value {
        Value a = aChunk(panel, k0, width);
        Value w = packBlock(
            b, loc,
            slice(b, loc, p.weights, {ib.add(panelBegin, k0), stripBegin},
                  {b.getIndexAttr(width), nc}, {0, 1}));
        return linalg::MatmulOp::create(b, loc, ValueRange{a, w},
                                        ValueRange{acc})
            .getResult(0);
      };
      int64_t chunkWidth = std::min(depthTile, panelWidth);
      int64_t whole = panelWidth / chunkWidth * chunkWidth;
      acc = forLoop(0, whole, chunkWidth, acc,
                    [&](Value k0, Value a) { return chunk(k0, chunkWidth, a); });
      if (whole < panelWidth)
        acc = chunk(ib.c(whole), panelWidth - whole, acc);
      return acc;
    };
    int64_t panels = p.depth() / panelWidth;
    c = forLoop(0, panels, 1, c, accumulatePanel);
    return tensor::InsertSliceOp::create(
        b, loc, c, tileValue, offsets, sizes,
        SmallVector<OpFoldResult>(offsets.size(), one));
  }

  /// for (i = begin; i < end; i += step) acc = body(i, acc), without a loop
  /// when there is one step.
  Value forLoop(int64_t begin, int64_t end, int64_t step, Value acc,
                function_ref<Value(Value, Value)> body) {
    if (end - begin == step)
      return body(ib.c(begin), acc);
    auto loop = scf::ForOp::create(
        b, loc, ib.c(begin), ib.c(end), ib.c(step), ValueRange{acc},
        [&](OpBuilder &nb, Location l, Value i, ValueRange iterArgs) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPointToStart(nb.getInsertionBlock());
          scf::YieldOp::create(b, l, body(i, iterArgs[0]));
        });
    return loop.getResult(0);
  }

  OpBuilder &b;
  Location loc;
  IndexBuilder ib;
  int64_t rowTile, depthTile;
};

/// The gradient of a projection's weights (attn-generate-gradients), a sum
/// over the tokens of products of two activations:
///   into heads'   dW[f, h, d] = sum_{b,t} X[b, t, f] dQ[b, h, t, d]
///   from heads'   dW[h, d, e] = sum_{b,t} O[b, h, t, d] dY[b, t, e]
/// in 2-D terms dW[m, n] += sum_k A[k, m] B[k, n] over the rows k of one
/// batch row, A's columns m the rows of dW (f; or d within head h), B's
/// columns n its columns (d within head h; or e).
struct WeightGradient {
  mutable linalg::GenericOp op; // ops' accessors are not const
  bool intoHeads;        // which of the two
  Value a, bRows;        // X or O; dQ or dY
  int64_t rowBlock;      // fb: rows of dW per task
  int64_t stripWidth;    // nc: columns of dW per task
  bool zeroInit;
};

/// `op` as a weight gradient with the static widths a tile needs.
static std::optional<WeightGradient>
planWeightGradient(linalg::GenericOp op, int64_t lanes, int64_t registers) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumLoops() != 5 || !op.hasPureTensorSemantics())
    return std::nullopt;
  MLIRContext *ctx = op.getContext();
  auto map = [&](ArrayRef<unsigned> dims) {
    return AffineMap::getMultiDimMapWithTargets(5, dims, ctx);
  };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  bool intoHeads = maps == SmallVector<AffineMap>{map({3, 4, 0}),
                                                  map({3, 1, 4, 2}),
                                                  map({0, 1, 2})};
  bool fromHeads = maps == SmallVector<AffineMap>{map({3, 0, 4, 1}),
                                                  map({3, 4, 2}),
                                                  map({0, 1, 2})};
  auto result = cast<RankedTensorType>(op.getResultTypes()[0]);
  Value a = op.getDpsInputs()[0], bRows = op.getDpsInputs()[1];
  if ((!intoHeads && !fromHeads) || !result.hasStaticShape() ||
      !result.getElementType().isF32() ||
      !getElementTypeOrSelf(bRows.getType()).isF32() ||
      op.getIteratorTypesArray() !=
          ArrayRef<utils::IteratorType>{kPar, kPar, kPar, kRed, kRed})
    return std::nullopt;
  // The body: out + a * b (a possibly widened).
  Block &body = op.getRegion().front();
  auto add = cast<linalg::YieldOp>(body.getTerminator())
                 .getValues()[0]
                 .getDefiningOp<arith::AddFOp>();
  auto mul = add ? add.getRhs().getDefiningOp<arith::MulFOp>() : nullptr;
  if (!mul || add.getLhs() != body.getArgument(2))
    return std::nullopt;
  // Rows of dW per task: the largest divisor of their extent up to 64.
  int64_t rows = result.getDimSize(intoHeads ? 0 : 1);
  int64_t rowBlock = std::min<int64_t>(rows, 64);
  while (rows % rowBlock != 0)
    --rowBlock;
  int64_t stripWidth =
      stripWidthFor(result.getDimSize(2), lanes, registers);
  if (stripWidth == 0)
    return std::nullopt;
  return WeightGradient{op,       intoHeads,  a, bRows,
                        rowBlock, stripWidth, isZeroFill(op.getDpsInits()[0])};
}

/// One task per (block of fb rows, strip of nc columns) of dW, in parallel;
/// each sums over the batch rows and, in chunks of `depthTile` tokens, over
/// their tokens, in order (the same bits on any number of threads):
///   C (fb x nc) += A_chunk^T B_chunk,
/// the product attn-cpu-vectorize-tiles blocks (a transposed left
/// operand), on chunks packed into contiguous f32 tiles (zero past a batch
/// row's tokens).
static Value tileWeightGradient(OpBuilder &b, Location loc,
                                const WeightGradient &g, int64_t depthTile) {
  IndexBuilder ib(b, loc);
  GenericBuilder gb(b, loc);
  Type f32 = b.getF32Type();
  auto result = cast<RankedTensorType>(g.op.getResultTypes()[0]);
  OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
  int64_t fb = g.rowBlock, nc = g.stripWidth;
  // Grid: into heads' (F / fb, H, D / nc); from heads' (H, D / fb, E / nc).
  SmallVector<int64_t> grid =
      g.intoHeads ? SmallVector<int64_t>{result.getDimSize(0) / fb,
                                         result.getDimSize(1),
                                         result.getDimSize(2) / nc}
                  : SmallVector<int64_t>{result.getDimSize(0),
                                         result.getDimSize(1) / fb,
                                         result.getDimSize(2) / nc};
  Value init = g.zeroInit ? tensor::EmptyOp::create(b, loc, result.getShape(),
                                                    f32)
                                .getResult()
                          : g.op.getDpsInits()[0];
  auto forall = scf::ForallOp::create(
      b, loc, getAsIndexOpFoldResult(b.getContext(), grid), ValueRange{init},
      std::nullopt);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPoint(forall.getTerminator());
  Value i0 = forall.getInductionVar(0), i1 = forall.getInductionVar(1),
        i2 = forall.getInductionVar(2);
  // The task's tile of dW and where its A and B columns start.
  SmallVector<OpFoldResult> at =
      g.intoHeads
          ? SmallVector<OpFoldResult>{ib.mul(i0, ib.c(fb)), i1,
                                      ib.mul(i2, ib.c(nc))}
          : SmallVector<OpFoldResult>{i0, ib.mul(i1, ib.c(fb)),
                                      ib.mul(i2, ib.c(nc))};
  SmallVector<OpFoldResult> tileSizes =
      g.intoHeads ? SmallVector<OpFoldResult>{b.getIndexAttr(fb), one,
                                              b.getIndexAttr(nc)}
                  : SmallVector<OpFoldResult>{one, b.getIndexAttr(fb),
                                              b.getIndexAttr(nc)};
  SmallVector<unsigned> tileDims =
      g.intoHeads ? SmallVector<unsigned>{0, 2} : SmallVector<unsigned>{1, 2};
  Value c = slice(b, loc, forall.getRegionIterArgs()[0], at, tileSizes,
                  tileDims);
  if (g.zeroInit)
    c = linalg::FillOp::create(b, loc, ValueRange{f32Constant(b, loc, 0)},
                               ValueRange{c})
            .getResult(0);
  Value head = g.intoHeads ? i1 : i0;
  Value rowBegin = g.intoHeads ? ib.mul(i0, ib.c(fb)) : ib.mul(i1, ib.c(fb));
  Value colBegin = ib.mul(i2, ib.c(nc));
  Value tokens = ib.dim(g.bRows, g.intoHeads ? 2 : 1);
  int64_t kc = depthTile;

  // Rows [t0, t0 + count) of batch row `batch` of A (or B), columns
  // [col, col + width): a (count x width) view.
  auto rowsOf = [&](OpBuilder &nb, Location l, Value x, bool isA, Value batch,
                    Value t0, OpFoldResult count, Value col, int64_t width) {
    bool perHead = isA != g.intoHeads; // O and dQ are (B, H, T, W)
    OpFoldResult w = nb.getIndexAttr(width);
    if (perHead)
      return slice(nb, l, x, {batch, head, t0, col}, {one, one, count, w},
                   {2, 3});
    return slice(nb, l, x, {batch, t0, col}, {one, count, w}, {1, 2});
  };
  // The (kc x width) chunk at t0, copied into a contiguous f32 tile (zero
  // past the batch row's tokens): a packed operand, as a BLAS packs its
  // panels (the copy is 1 / fb or 1 / nc of the product's work).
  auto chunkOf = [&](OpBuilder &nb, Location l, Value x, bool isA,
                     Value batch, Value t0, Value col,
                     int64_t width) -> Value {
    IndexBuilder nib(nb, l);
    Value count = nib.min(nib.c(kc), nib.sub(tokens, t0));
    return padRowsAsF32(
        nb, l, rowsOf(nb, l, x, isA, batch, t0, count, col, width),
        GenericBuilder(nb, l).tensor(
            {nb.getIndexAttr(kc), nb.getIndexAttr(width)}, f32));
  };

  auto batches = scf::ForOp::create(
      b, loc, ib.c(0), ib.dim(g.a, 0), ib.c(1), ValueRange{c},
      [&](OpBuilder &nb, Location l, Value batch, ValueRange acc) {
        IndexBuilder nib(nb, l);
        auto chunks = scf::ForOp::create(
            nb, l, nib.c(0), tokens, nib.c(kc), acc,
            [&](OpBuilder &cb, Location cl, Value t0, ValueRange acc) {
              Value a = chunkOf(cb, cl, g.a, true, batch, t0, rowBegin, fb);
              Value rhs =
                  chunkOf(cb, cl, g.bRows, false, batch, t0, colBegin, nc);
              GenericBuilder cgb(cb, cl);
              scf::YieldOp::create(
                  cb, cl,
                  cgb.generic({a, rhs}, acc[0],
                              {cgb.map(3, {2, 0}), cgb.map(3, {2, 1}),
                               cgb.map(3, {0, 1})},
                              {kPar, kPar, kRed}, multiplyAdd));
            });
        scf::YieldOp::create(nb, l, chunks.getResults());
      });
  b.setInsertionPointToStart(forall.getTerminator().getBody());
  tensor::ParallelInsertSliceOp::create(
      b, loc, batches.getResult(0), forall.getRegionIterArgs()[0], at,
      tileSizes, SmallVector<OpFoldResult>(3, one));
  return forall.getResult(0);
}

struct AttnTileProjectionsPass
    : attn::impl::AttnTileProjectionsPassBase<AttnTileProjectionsPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (vectorWidth < 4 || vectorRegisters < 8 || rowTile < 1 ||
        depthTile < 1) {
      func.emitError() << "attn-tile-projections needs vector-width >= 4, "
                          "vector-registers >= 8, row-tile >= 1 and "
                          "depth-tile >= 1";
      return signalPassFailure();
    }
    SmallVector<Projection> projections;
    func.walk([&](linalg::GenericOp op) {
      if (auto p = planProjection(op, vectorWidth, vectorRegisters))
        projections.push_back(*p);
    });
    // Groups: projections into heads of the same activations whose weights
    // and inits exist at the first of them, in program order.
    DominanceInfo dominance(func);
    SmallVector<SmallVector<Projection>> groups;
    for (const Projection &p : projections) {
      auto joins = [&](SmallVector<Projection> &group) {
        const Projection &first = group.front();
        return p.form == ProjectionForm::IntoHeads &&
               first.form == ProjectionForm::IntoHeads &&
               p.activations == first.activations &&
               p.op->getBlock() == first.op->getBlock() &&
               dominance.properlyDominates(p.weights, first.op) &&
               (p.zeroInit ||
                dominance.properlyDominates(p.op.getDpsInits()[0], first.op));
      };
      auto it = llvm::find_if(groups, joins);
      if (it != groups.end())
        it->push_back(p);
      else
        groups.push_back({p});
    }
    IRRewriter rewriter(&getContext());
    SmallVector<WeightGradient> weightGradients;
    func.walk([&](linalg::GenericOp op) {
      if (auto g = planWeightGradient(op, vectorWidth, vectorRegisters))
        weightGradients.push_back(*g);
    });
    for (const WeightGradient &g : weightGradients) {
      rewriter.setInsertionPoint(g.op);
      rewriter.replaceOp(
          g.op, tileWeightGradient(rewriter, g.op.getLoc(), g, depthTile));
    }
    for (ArrayRef<Projection> group : groups) {
      rewriter.setInsertionPoint(group.front().op);
      ProjectionTiler tiler(rewriter, group.front().op.getLoc(), rowTile,
                            depthTile);
      SmallVector<Value> results = tiler.tile(group);
      for (auto [p, result] : llvm::zip(group, results))
        rewriter.replaceOp(p.op, result);
    }
  }
};

} // namespace
