//===- DecomposeSparseMasks.cpp - sparse masks as pieces dense in tiles ---===//
//
// A tiled lowering saves work only on tiles that a mask leaves empty. A
// dilated window and the Sparse Transformer's patterns leave no tile empty
// in the original order (every tile of width >= l holds an l-th key), so
// they are cut into pieces that are dense in a rearranged order:
//
// * Residue classes. When a row i = r + l a may see key j only if
//   i - j = 0 mod l, rows and keys of class r form their own attention with
//   a = floor(i / l), b = floor(j / l). Classes fold into the batch
//   dimension: class r of batch row b becomes batch row b l + r of a
//   (B l, H, ceil(T / l), D) tensor (its rows r, r + l, ... copied there, a
//   strided copy per (b, r) in an scf.forall, the last row zero when the
//   class is one short); class key lengths ceil((len - r) / l). One op, the
//   l classes as batch rows; the result is copied back the same way.
//   - dilated window (left, right, dilation d, top-left): class window
//     [a - left / d, a + right / d];
//   - strided A2 \ A1 (autoregressive): keys j <= i - l of the class, i.e.
//     b <= a - 1: rows from l on (a' = a - 1) against all keys, causal.
//     Bidirectional adds b >= a + 1: keys from l on (b' = b - 1) against all
//     rows, a window [a, a + inf).
// * Summary keys. The fixed pattern's A2 is the last c keys of every block
//   of l; gathered (c per block, S/l c in all) they are dense, and A2 \ A1
//   is "key block k < query block q" (k != q bidirectional) there: a
//   blockwise mask with blocks of l rows and c keys.
//
// Pieces whose rows see disjoint key sets are merged by attn.combine from
// their log-sum-exps (exact). With split heads each parity is one piece, no
// merge. Strided with l = sqrt(S): A1 costs O(N l) and A2 O(N S / l): N sqrt S
// pairs each, where the tiles of the original order cost N S.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/SparseMasks.h"

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDECOMPOSESPARSEMASKSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

using Layout = MaskPiece::Layout;
using Heads = MaskPiece::Heads;

/// Whether folding `classes` residue classes (or blocks) of keys into the
/// batch is bounded and worth it: each class must hold a key (classes <= S
/// where S is static), and with S known only at run time the batch grows
/// by at most kMaxClasses. Past that the mask stays whole, masked
/// element-wise in the original order: correct, but O(N S) pairs (and a
/// stride or block that large leaves few keys to skip anyway).
static constexpr int64_t kMaxClasses = int64_t(1) << 16;
static bool fewEnoughClasses(int64_t classes, int64_t numKeys) {
  return classes <= (numKeys > 0 ? numKeys : kMaxClasses);
}

SmallVector<MaskPiece> mlir::attn::decomposeSparseMask(MaskAttrInterface mask,
                                                       int64_t numHeads,
                                                       int64_t numKVHeads,
                                                       int64_t numKeys) {
  if (!mask)
    return {};
  MLIRContext *ctx = mask.getContext();
  auto window = [&](int64_t left, int64_t right) -> MaskAttrInterface {
    return WindowMaskAttr::get(ctx, left, right, Alignment::TopLeft, 1);
  };
  auto causal = CausalMaskAttr::get(ctx, Alignment::TopLeft);
  auto piece = [](Layout layout, Heads heads, int64_t modulus,
                  int64_t rowOffset, int64_t keyOffset, int64_t summary,
                  MaskAttrInterface mask) {
    MaskPiece p;
    p.layout = layout;
    p.heads = heads;
    p.modulus = modulus;
    p.rowOffset = rowOffset;
    p.keyOffset = keyOffset;
    p.summary = summary;
    p.mask = mask;
    return p;
  };

  if (auto dilated = dyn_cast<WindowMaskAttr>(mask)) {
    int64_t d = dilated.getDilation();
    if (d == 1 || dilated.getAlignment() != Alignment::TopLeft ||
        !fewEnoughClasses(d, numKeys))
      return {}; // Bottom-right: a row's class depends on its key length.
    return {piece(Layout::ResidueClasses, Heads::All, d, 0, 0, 0,
                  window(dilated.getLeft() / d, dilated.getRight() / d))};
  }

  if (auto strided = dyn_cast<StridedMaskAttr>(mask)) {
    int64_t l = strided.getStride();
    if (!fewEnoughClasses(l, numKeys))
      return {};
    bool both = strided.getBidirectional();
    // A window as wide as every class: b' >= a with no upper limit.
    // (Key lengths are i32, so 2^30 exceeds every class.)
    int64_t everyKey = numKeys > 0 ? numKeys / l + 1 : int64_t(1) << 30;
    MaskAttrInterface band = window(l - 1, both ? l - 1 : 0);
    if (strided.getSplitHeads()) {
      // Even heads see A1, odd heads A2: one piece each, sliced by parity.
      // A slice of query heads must keep a uniform K/V grouping: every K/V
      // head per query head (sliced alike), one K/V head, or groups of even
      // size (both parities of a group read the same K/V head); one head has
      // no odd heads to split off.
      int64_t group = numHeads / numKVHeads;
      if (numHeads < 2 || (group != 1 && numKVHeads != 1 && group % 2 != 0))
        return {};
      return {piece(Layout::Original, Heads::Even, 1, 0, 0, 0, band),
              piece(Layout::ResidueClasses, Heads::Odd, l, 0, 0, 0,
                    both ? MaskAttrInterface() : causal)};
    }
    SmallVector<MaskPiece> pieces = {
        piece(Layout::Original, Heads::All, 1, 0, 0, 0, band),
        piece(Layout::ResidueClasses, Heads::All, l, l, 0, 0, causal)};
    if (both)
      pieces.push_back(piece(Layout::ResidueClasses, Heads::All, l, 0, l, 0,
                             window(0, everyKey)));
    return pieces;
  }

  if (auto fixed = dyn_cast<FixedMaskAttr>(mask)) {
    if (fixed.getSplitHeads())
      return {}; // Odd heads' own-block summary keys need a third piece.
    int64_t l = fixed.getBlock(), c = fixed.getSummary();
    if (!fewEnoughClasses(l, numKeys))
      return {};
    bool both = fixed.getBidirectional();
    MaskAttrInterface ownBlock =
        BlockwiseMaskAttr::get(ctx, l, l, BlockRelation::Equal);
    if (!both)
      ownBlock = IntersectionMaskAttr::get(
          ctx, ArrayAttr::get(ctx, {ownBlock, causal}));
    auto otherBlocks = BlockwiseMaskAttr::get(
        ctx, l, c, both ? BlockRelation::NotEqual : BlockRelation::Less);
    return {piece(Layout::Original, Heads::All, 1, 0, 0, 0, ownBlock),
            piece(Layout::SummaryKeys, Heads::All, l, 0, 0, c, otherBlocks)};
  }
  return {};
}

namespace {

/// Shapes with fewer words: sizes as OpFoldResults, folded when static.
class ShapeBuilder {
public:
  ShapeBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  OpFoldResult apply(AffineExpr expr, ArrayRef<OpFoldResult> operands) {
    return affine::makeComposedFoldedAffineApply(b, loc, expr, operands);
  }
  /// max(x - offset, 0)
  OpFoldResult rest(OpFoldResult x, int64_t offset) {
    AffineExpr s0 = b.getAffineSymbolExpr(0);
    return affine::makeComposedFoldedAffineMax(
        b, loc,
        AffineMap::get(0, 1, {s0 - offset, b.getAffineConstantExpr(0)},
                       b.getContext()),
        {x});
  }
  OpFoldResult ceilDiv(OpFoldResult x, int64_t d) {
    return apply(b.getAffineSymbolExpr(0).ceilDiv(d), {x});
  }
  OpFoldResult mul(OpFoldResult x, int64_t f) {
    return apply(b.getAffineSymbolExpr(0) * f, {x});
  }
  OpFoldResult index(int64_t v) { return b.getIndexAttr(v); }

  static RankedTensorType typeOf(ArrayRef<OpFoldResult> sizes, Type element) {
    SmallVector<int64_t> shape;
    for (OpFoldResult size : sizes)
      shape.push_back(getConstantIntValue(size).value_or(ShapedType::kDynamic));
    return RankedTensorType::get(shape, element);
  }
  static Type elementOf(Value v) {
    return cast<RankedTensorType>(v.getType()).getElementType();
  }

  Value slice(Value x, ArrayRef<OpFoldResult> offsets,
              ArrayRef<OpFoldResult> sizes, ArrayRef<OpFoldResult> strides) {
    return tensor::ExtractSliceOp::create(b, loc, typeOf(sizes, elementOf(x)),
                                          x, offsets, sizes, strides);
  }

  /// x with zero rows appended along dimension 2, `padded` rows in all.
  Value padRows(Value x, OpFoldResult padded) {
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
    SmallVector<OpFoldResult> low(sizes.size(), index(0)),
        high(sizes.size(), index(0));
    high[2] = apply(b.getAffineSymbolExpr(0) - b.getAffineSymbolExpr(1),
                    {padded, sizes[2]});
    if (isZeroInteger(high[2]))
      return x;
    sizes[2] = padded;
    Value zero = arith::ConstantOp::create(b, loc, b.getZeroAttr(elementOf(x)));
    return tensor::PadOp::create(b, loc, typeOf(sizes, elementOf(x)), x, low,
                                 high, zero);
  }

  Value expand(Value x, ArrayRef<ReassociationIndices> groups,
               ArrayRef<OpFoldResult> sizes) {
    return tensor::ExpandShapeOp::create(b, loc, typeOf(sizes, elementOf(x)), x,
                                         groups, sizes);
  }
  Value collapse(Value x, ArrayRef<ReassociationIndices> groups) {
    return tensor::CollapseShapeOp::create(b, loc, x, groups);
  }

  OpBuilder &b;
  Location loc;
};

/// Folds and unfolds residue classes (see the file comment). Tensors are
/// (B, H, T, W) or, for log-sum-exps, (B, H, T). Each (batch row, class) is
/// one strided copy, all of them in an scf.forall: the lowering runs them
/// in parallel, like the attention's tiles.
struct ResidueFold {
  ShapeBuilder &sb;
  int64_t modulus;

  /// Rows [offset, T) of x as (B l, H, ceil((T - offset) / l), W...): class
  /// r of batch row b is batch row b l + r, its rows offset + r + l a, and
  /// the rows past a class's end are 0.
  Value fold(Value x, int64_t offset) {
    OpFoldResult rows =
        sb.rest(tensor::getMixedSize(sb.b, sb.loc, x, 2), offset);
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(sb.b, sb.loc, x);
    SmallVector<OpFoldResult> folded = sizes;
    folded[0] = sb.mul(sizes[0], modulus);
    folded[2] = sb.ceilDiv(rows, modulus);
    Type element = ShapeBuilder::elementOf(x);
    Value zero =
        arith::ConstantOp::create(sb.b, sb.loc, sb.b.getZeroAttr(element));
    Value init =
        linalg::FillOp::create(
            sb.b, sb.loc, zero,
            tensor::EmptyOp::create(sb.b, sb.loc, folded, element).getResult())
            .getResult(0);
    return copyClasses(sizes[0], rows, init, [&](Value b, Value r) {
      IndexBuilder ib(sb.b, sb.loc);
      return Window{x,
                    {b, ib.add(r, ib.c(offset))},
                    modulus,
                    ib.add(ib.mul(b, ib.c(modulus)), r),
                    1};
    });
  }

  /// The inverse of `fold`: the classes' rows back to rows offset .. offset +
  /// rows of a tensor of `total` rows, whose first `offset` rows hold
  /// `before`.
  Value unfold(Value y, OpFoldResult rows, int64_t offset, OpFoldResult total,
               double before) {
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(sb.b, sb.loc, y);
    OpFoldResult batch =
        sb.apply(sb.b.getAffineSymbolExpr(0).floorDiv(modulus), {sizes[0]});
    SmallVector<OpFoldResult> unfolded = sizes;
    unfolded[0] = batch;
    unfolded[2] = total;
    Type element = ShapeBuilder::elementOf(y);
    Value init = tensor::EmptyOp::create(sb.b, sb.loc, unfolded, element);
    if (offset > 0) {
      // Only the rows before the offset: the classes fill the rest.
      SmallVector<OpFoldResult> head = unfolded;
      head[2] =
          sb.apply(sb.b.getAffineSymbolExpr(0) - sb.b.getAffineSymbolExpr(1),
                   {total, rows});
      SmallVector<OpFoldResult> zeros(head.size(), sb.index(0)),
          ones(head.size(), sb.index(1));
      Value value = arith::ConstantOp::create(
          sb.b, sb.loc, sb.b.getFloatAttr(element, before));
      Value filled = linalg::FillOp::create(sb.b, sb.loc, value,
                                            sb.slice(init, zeros, head, ones))
                         .getResult(0);
      init = tensor::InsertSliceOp::create(sb.b, sb.loc, filled, init, zeros,
                                           head, ones);
    }
    return copyClasses(batch, rows, init, [&](Value b, Value r) {
      IndexBuilder ib(sb.b, sb.loc);
      return Window{y,       {ib.add(ib.mul(b, ib.c(modulus)), r), ib.c(0)},
                    1,       b,
                    modulus, ib.add(r, ib.c(offset))};
    });
  }

private:
  /// Copies the (1, heads, count, width) window `from` into `into`, one
  /// width-long row at a time.
  Value copyRows(Value from, Value into, int64_t heads, int64_t width,
                 Value count) {
    OpBuilder &b = sb.b;
    Location loc = sb.loc;
    IndexBuilder ib(b, loc);
    auto rowType =
        RankedTensorType::get({width}, ShapeBuilder::elementOf(from));
    auto loops = scf::ForOp::create(
        b, loc, ib.c(0), ib.c(heads), ib.c(1), ValueRange{into},
        [&](OpBuilder &hb, Location hl, Value h, ValueRange acc) {
          IndexBuilder hib(hb, hl);
          auto rows = scf::ForOp::create(
              hb, hl, hib.c(0), count, hib.c(1), acc,
              [&](OpBuilder &rb, Location rl, Value a, ValueRange dst) {
                SmallVector<OpFoldResult> offsets = {rb.getIndexAttr(0), h, a,
                                                     rb.getIndexAttr(0)};
                SmallVector<OpFoldResult> sizes = {
                    rb.getIndexAttr(1), rb.getIndexAttr(1), rb.getIndexAttr(1),
                    rb.getIndexAttr(width)};
                SmallVector<OpFoldResult> ones(4, rb.getIndexAttr(1));
                Value row = tensor::ExtractSliceOp::create(
                    rb, rl, rowType, from, offsets, sizes, ones);
                scf::YieldOp::create(
                    rb, rl,
                    tensor::InsertSliceOp::create(rb, rl, row, dst[0], offsets,
                                                  sizes, ones)
                        .getResult());
              });
          scf::YieldOp::create(hb, hl, rows.getResults());
        });
    return loops.getResult(0);
  }

  /// Where one class's rows are read from and written to: the source's
  /// (batch row, first row) and row stride; the destination's batch row, row
  /// stride and first row.
  struct Window {
    Value source;
    std::pair<Value, Value> from;
    int64_t fromStride;
    Value toBatch;
    int64_t toStride;
    Value toRow = nullptr;
  };

  /// forall (b, r) in (B, l): copies the ceil((rows - r) / l) rows of class
  /// r of batch row b as `where` says, into `init`.
  Value copyClasses(OpFoldResult batch, OpFoldResult rows, Value init,
                    function_ref<Window(Value, Value)> where) {
    OpBuilder &b = sb.b;
    Location loc = sb.loc;
    auto forall = scf::ForallOp::create(
        b, loc, ArrayRef<OpFoldResult>{batch, sb.index(modulus)},
        ValueRange{init}, std::nullopt);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forall.getTerminator());
    Value row = forall.getInductionVar(0), cls = forall.getInductionVar(1);
    Window w = where(row, cls);
    IndexBuilder ib(b, loc);
    Value rowCount = getValueOrCreateConstantIndexOp(b, loc, rows);
    Value count =
        ib.ceilDiv(ib.max(ib.sub(rowCount, cls), ib.c(0)), ib.c(modulus));
    Value out = forall.getRegionIterArgs()[0];
    auto type = cast<RankedTensorType>(out.getType());
    bool wide = type.getRank() == 4;
    auto window = [&](Value batchRow, Value firstRow, int64_t stride,
                      SmallVector<OpFoldResult> &offsets,
                      SmallVector<OpFoldResult> &sizes,
                      SmallVector<OpFoldResult> &strides) {
      offsets = {batchRow, sb.index(0), firstRow};
      sizes = {sb.index(1), b.getIndexAttr(type.getDimSize(1)), count};
      strides = {sb.index(1), sb.index(1), sb.index(stride)};
      if (wide) {
        offsets.push_back(sb.index(0));
        sizes.push_back(b.getIndexAttr(type.getDimSize(3)));
        strides.push_back(sb.index(1));
      }
    };
    SmallVector<OpFoldResult> fromOffsets, fromSizes, fromStrides, toOffsets,
        toSizes, toStrides;
    window(w.from.first, w.from.second, w.fromStride, fromOffsets, fromSizes,
           fromStrides);
    window(w.toBatch, w.toRow ? w.toRow : ib.c(0), w.toStride, toOffsets,
           toSizes, toStrides);
    Value part = sb.slice(w.source, fromOffsets, fromSizes, fromStrides);
    Value into = sb.slice(out, toOffsets, toSizes, toStrides);
    // Into the destination's slice (bufferized in place, no temporary): row
    // by row when rows are W contiguous elements, each row one contiguous
    // copy (a memcpy once lowered), elementwise for log-sum-exps.
    Value copied =
        wide ? copyRows(part, into, type.getDimSize(1), type.getDimSize(3),
                        count)
             : linalg::CopyOp::create(b, loc, part, into).getResult(0);
    b.setInsertionPointToStart(forall.getTerminator().getBody());
    tensor::ParallelInsertSliceOp::create(b, loc, copied, out, toOffsets,
                                          toSizes, toStrides);
    return forall.getResult(0);
  }
};

/// Query heads of one parity: x[:, parity::2] of a (B, H, T[, W]) tensor.
/// K/V heads are sliced alike only when every query head has its own.
static Value heads(ShapeBuilder &sb, Value x, Heads which) {
  if (which == Heads::All)
    return x;
  auto type = cast<RankedTensorType>(x.getType());
  int64_t count = type.getDimSize(1);
  int64_t parity = which == Heads::Odd;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(sb.b, sb.loc, x);
  sizes[1] = sb.index((count - parity + 1) / 2);
  SmallVector<OpFoldResult> offsets(type.getRank(), sb.index(0)),
      strides(type.getRank(), sb.index(1));
  offsets[1] = sb.index(parity);
  strides[1] = sb.index(2);
  return sb.slice(x, offsets, sizes, strides);
}

/// The last c keys of every block of l: (B, Hkv, ceil(S / l) c, W).
static Value gatherSummary(ShapeBuilder &sb, Value x,
                           const MaskPiece &piece) {
  int64_t l = piece.modulus, c = piece.summary;
  OpFoldResult keys = tensor::getMixedSize(sb.b, sb.loc, x, 2);
  OpFoldResult blocks = sb.ceilDiv(keys, l);
  Value padded = sb.padRows(x, sb.mul(blocks, l));
  SmallVector<OpFoldResult> sizes =
      tensor::getMixedSizes(sb.b, sb.loc, padded);
  Value blocked =
      sb.expand(padded, {{0}, {1}, {2, 3}, {4}},
                {sizes[0], sizes[1], blocks, sb.index(l), sizes[3]});
  Value summary = sb.slice(
      blocked,
      {sb.index(0), sb.index(0), sb.index(0), sb.index(l - c), sb.index(0)},
      {sizes[0], sizes[1], blocks, sb.index(c), sizes[3]},
      {sb.index(1), sb.index(1), sb.index(1), sb.index(1), sb.index(1)});
  // A copy: the slice is not contiguous.
  Value init = tensor::EmptyOp::create(
      sb.b, sb.loc, {sizes[0], sizes[1], blocks, sb.index(c), sizes[3]},
      ShapeBuilder::elementOf(x));
  Value copied =
      linalg::CopyOp::create(sb.b, sb.loc, summary, init).getResult(0);
  return sb.collapse(copied, {{0}, {1}, {2, 3}, {4}});
}
/// A tensor whose rows are queries ((B, H, N[, W]): q, out, dout, lse) in
/// a piece's layout: its heads, its residue classes.
static Value toPieceRows(ShapeBuilder &sb, Value x, const MaskPiece &piece) {
  x = heads(sb, x, piece.heads);
  if (piece.layout != Layout::ResidueClasses)
    return x;
  return ResidueFold{sb, piece.modulus}.fold(x, piece.rowOffset);
}

/// A tensor whose rows are keys ((B, Hkv, S, W): k, v) in a piece's layout:
/// its heads when every query head has its own K/V head, its residue
/// classes or its gathered summary keys.
static Value toPieceKeys(ShapeBuilder &sb, Value x, const MaskPiece &piece,
                         bool ownKV) {
  if (ownKV)
    x = heads(sb, x, piece.heads);
  if (piece.layout == Layout::ResidueClasses)
    return ResidueFold{sb, piece.modulus}.fold(x, piece.keyOffset);
  if (piece.layout == Layout::SummaryKeys)
    return gatherSummary(sb, x, piece);
  return x;
}

/// A piece's query rows back in the op's `numQueries` rows (of the piece's
/// heads); the rows before the offset hold `before`.
static Value fromPieceRows(ShapeBuilder &sb, Value x, const MaskPiece &piece,
                           OpFoldResult numQueries, double before) {
  if (piece.layout != Layout::ResidueClasses)
    return x;
  return ResidueFold{sb, piece.modulus}.unfold(
      x, sb.rest(numQueries, piece.rowOffset), piece.rowOffset, numQueries,
      before);
}

/// A piece's key rows (their gradients) back in the op's `numKeys` keys,
/// zero for the keys not in the piece.
static Value fromPieceKeys(ShapeBuilder &sb, Value x, const MaskPiece &piece,
                           OpFoldResult numKeys) {
  if (piece.layout == Layout::ResidueClasses)
    return ResidueFold{sb, piece.modulus}.unfold(
        x, sb.rest(numKeys, piece.keyOffset), piece.keyOffset, numKeys, 0.0);
  if (piece.layout != Layout::SummaryKeys)
    return x;
  // The gathered keys back to the last c of every block of l, the other
  // keys zero, the padding past S dropped.
  int64_t l = piece.modulus, c = piece.summary;
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(sb.b, sb.loc, x);
  OpFoldResult blocks = sb.ceilDiv(numKeys, l);
  Value gathered =
      sb.expand(x, {{0}, {1}, {2, 3}, {4}},
                {sizes[0], sizes[1], blocks, sb.index(c), sizes[3]});
  SmallVector<OpFoldResult> blockSizes = {sizes[0], sizes[1], blocks,
                                          sb.index(l), sizes[3]};
  Type element = ShapeBuilder::elementOf(x);
  Value zeros =
      linalg::FillOp::create(
          sb.b, sb.loc,
          arith::ConstantOp::create(sb.b, sb.loc, sb.b.getZeroAttr(element))
              .getResult(),
          tensor::EmptyOp::create(sb.b, sb.loc, blockSizes, element)
              .getResult())
          .getResult(0);
  SmallVector<OpFoldResult> ones(5, sb.index(1));
  Value blocked = tensor::InsertSliceOp::create(
      sb.b, sb.loc, gathered, zeros,
      {sb.index(0), sb.index(0), sb.index(0), sb.index(l - c), sb.index(0)},
      {sizes[0], sizes[1], blocks, sb.index(c), sizes[3]}, ones);
  Value keys = sb.collapse(blocked, {{0}, {1}, {2, 3}, {4}});
  return sb.slice(keys, {sb.index(0), sb.index(0), sb.index(0), sb.index(0)},
                  {sizes[0], sizes[1], numKeys, sizes[3]},
                  SmallVector<OpFoldResult>(4, sb.index(1)));
}

/// The key lengths of a piece's attention: the op's own (`keyLengths`, null
/// for none) for the original layout; per class, ceil((valid - keyOffset -
/// r) / l), of residue classes (B l rows); the gathered summary keys below
/// the valid ones, a prefix of them.
static Value pieceKeyLengths(ShapeBuilder &sb, Value key, Value keyLengths,
                             OpFoldResult batch, const MaskPiece &piece) {
  OpBuilder &rewriter = sb.b;
  Location loc = sb.loc;
  // The valid keys of a batch row, as an index in a tensor.generate.
  auto validOf = [&](OpBuilder &b, Location l, Value row) -> Value {
    IndexBuilder nib(b, l);
    Value keys = nib.dim(key, 2);
    if (!keyLengths)
      return keys;
    Value len = tensor::ExtractOp::create(b, l, keyLengths, row);
    return buildValidKeys(b, l, len, keys);
  };
  auto lengths = [&](OpFoldResult count,
                     function_ref<Value(OpBuilder &, Location, Value)> body) {
    auto type = ShapeBuilder::typeOf({count}, rewriter.getI32Type());
    SmallVector<Value> dynamic;
    if (type.isDynamicDim(0))
      dynamic.push_back(getValueOrCreateConstantIndexOp(rewriter, loc, count));
    return tensor::GenerateOp::create(
        rewriter, loc, type, dynamic,
        [&](OpBuilder &b, Location l, ValueRange index) {
          Value n = body(b, l, index[0]);
          tensor::YieldOp::create(
              b, l, arith::IndexCastOp::create(b, l, b.getI32Type(), n));
        });
  };
  switch (piece.layout) {
  case Layout::Original:
    return keyLengths;
  case Layout::ResidueClasses:
    // Class r of batch row b: ceil((valid - keyOffset - r) / l) keys.
    return lengths(sb.mul(batch, piece.modulus),
                   [&](OpBuilder &b, Location l, Value index) {
                     IndexBuilder nib(b, l);
                     Value l_ = nib.c(piece.modulus);
                     Value valid = validOf(b, l, nib.div(index, l_));
                     Value rest =
                         nib.sub(nib.sub(valid, nib.c(piece.keyOffset)),
                                 nib.rem(index, l_));
                     return nib.ceilDiv(nib.max(rest, nib.c(0)), l_);
                   });
  case Layout::SummaryKeys:
    return lengths(batch, [&](OpBuilder &b, Location l, Value index) {
      // Keys j < valid with j mod l >= l - c: a prefix of the gathered keys.
      IndexBuilder nib(b, l);
      Value valid = validOf(b, l, index);
      Value l_ = nib.c(piece.modulus);
      Value partial = nib.max(
          nib.sub(nib.rem(valid, l_), nib.c(piece.modulus - piece.summary)),
          nib.c(0));
      return nib.add(nib.mul(nib.div(valid, l_), nib.c(piece.summary)),
                     partial);
    });
  }
  llvm_unreachable("every layout is handled");
}

/// The pieces of the mask of `op` (an attn.attention or attn.attention_grad;
/// none when it is not cut).
template <typename OpTy> static SmallVector<MaskPiece> piecesOf(OpTy op) {
  int64_t numKeys = cast<RankedTensorType>(op.getKey().getType()).getDimSize(2);
  return decomposeSparseMask(op.getEffectiveMask(), op.getNumHeads(),
                             op.getNumKVHeads(),
                             ShapedType::isDynamic(numKeys) ? 0 : numKeys);
}

struct DecomposeSparseMasks : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    // A piece renumbers the queries and keys it holds: a modifier of their
    // positions would see the wrong ones. Such an op stays whole (the flash
    // strategy visits every tile its mask meets).
    if (ScoreModAttrInterface mod = op.getScoreModAttr();
        mod && mod.dependsOnPositions())
      return rewriter.notifyMatchFailure(op, "a score modifier of positions");
    // Sinks belong to the whole row's softmax, and packed sequences are
    // cut first: attn-decompose-sinks and attn-decompose-sequences take
    // them out.
    if (op.getSinks() || op.getQueryOffsets())
      return rewriter.notifyMatchFailure(op, "sinks or sequences");
    SmallVector<MaskPiece> pieces = piecesOf(op);
    if (pieces.empty())
      return rewriter.notifyMatchFailure(op, "no sparse decomposition");
    Location loc = op.getLoc();
    ShapeBuilder sb(rewriter, loc);

    // Pieces of the same heads are merged into one (output, lse).
    SmallVector<Value> outputs, lses;
    for (Heads heads : {Heads::All, Heads::Even, Heads::Odd}) {
      SmallVector<Value> parts, partLses;
      for (const MaskPiece &piece : pieces)
        if (piece.heads == heads) {
          auto [out, lse] = buildPiece(rewriter, sb, op, piece);
          parts.push_back(out);
          partLses.push_back(lse);
        }
      if (parts.size() > 1) {
        // The merged lse only where the op returns one.
        Type lseType = op.getLse() ? partLses.front().getType() : Type();
        auto combine = CombineOp::create(rewriter, loc, parts.front().getType(),
                                         lseType, parts, partLses);
        parts = {combine.getResult()};
        partLses = {combine.getLse()};
      }
      outputs.append(parts);
      lses.append(partLses);
    }
    // Split heads: the even and the odd heads' results interleaved again.
    SmallVector<Value> results = {
        placeByParity(sb, op.getQuery(), outputs, op.getResult())};
    if (Value lse = op.getLse())
      results.push_back(placeByParity(sb, op.getQuery(), lses, lse));
    rewriter.replaceOp(op, castTo(rewriter, loc, results, op));
    return success();
  }

  /// `parts` as one tensor shaped like `result`: the only part, or the even
  /// and odd heads' parts inserted at heads 0, 2, ... and 1, 3, ....
  static Value placeByParity(ShapeBuilder &sb, Value query,
                             ArrayRef<Value> parts, Value result) {
    if (parts.size() == 1)
      return parts.front();
    auto type = cast<RankedTensorType>(result.getType());
    // The sizes from the query (the result is being replaced), W from the
    // type.
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(sb.b, sb.loc, query);
    sizes.resize(type.getRank());
    if (type.getRank() == 4)
      sizes[3] = sb.index(type.getDimSize(3));
    Value whole =
        tensor::EmptyOp::create(sb.b, sb.loc, sizes, type.getElementType());
    for (auto [parity, part] : llvm::enumerate(parts)) {
      SmallVector<OpFoldResult> offsets(type.getRank(), sb.index(0)),
          strides(type.getRank(), sb.index(1));
      offsets[1] = sb.index(parity);
      strides[1] = sb.index(2);
      whole = tensor::InsertSliceOp::create(
          sb.b, sb.loc, part, whole, offsets,
          tensor::getMixedSizes(sb.b, sb.loc, part), strides);
    }
    return whole;
  }

private:
  static SmallVector<Value> castTo(OpBuilder &b, Location loc,
                                   SmallVector<Value> values, AttentionOp op) {
    for (auto [value, result] : llvm::zip(values, op->getResults()))
      if (value.getType() != result.getType())
        value = tensor::CastOp::create(b, loc, result.getType(), value);
    return values;
  }

  /// The piece's attention; returns its (B, H', N, Dv) output and its
  /// (B, H', N) log-sum-exp in the op's rows.
  std::pair<Value, Value> buildPiece(PatternRewriter &rewriter,
                                     ShapeBuilder &sb, AttentionOp op,
                                     const MaskPiece &piece) const {
    Location loc = op.getLoc();
    bool ownKV = op.getNumHeads() == op.getNumKVHeads();
    OpFoldResult batch = tensor::getMixedSize(rewriter, loc, op.getQuery(), 0);
    OpFoldResult numQueries =
        tensor::getMixedSize(rewriter, loc, op.getQuery(), 2);
    Value q = toPieceRows(sb, op.getQuery(), piece);
    Value k = toPieceKeys(sb, op.getKey(), piece, ownKV);
    Value v = toPieceKeys(sb, op.getValue(), piece, ownKV);
    Value keyLengths =
        pieceKeyLengths(sb, op.getKey(), op.getKeyLengths(), batch, piece);

    auto qType = cast<RankedTensorType>(q.getType());
    auto outType = RankedTensorType::get(
        {qType.getDimSize(0), qType.getDimSize(1), qType.getDimSize(2),
         cast<RankedTensorType>(v.getType()).getDimSize(3)},
        qType.getElementType());
    auto lseType = RankedTensorType::get(qType.getShape().take_front(3),
                                         rewriter.getF32Type());
    // (A score modifier here ignores positions: matchAndRewrite keeps the
    // others away.)
    auto attention = AttentionOp::create(rewriter, loc, outType, lseType, q,
                                         k, v, keyLengths, /*sinks=*/Value(),
                                         /*query_offsets=*/Value(),
                                         /*key_offsets=*/Value(), piece.mask,
                                         op.getScaleAttr(),
                                         op.getScoreModAttr());
    if (Attribute strategy = op->getAttr(kStrategyAttr))
      attention->setAttr(kStrategyAttr, strategy);
    // Back to the op's rows; the rows before the offset see none of the
    // piece's keys: output 0, lse -inf.
    return {fromPieceRows(sb, attention.getResult(), piece, numQueries, 0.0),
            fromPieceRows(sb, attention.getLse(), piece, numQueries,
                          kNegInf)};
  }
};

/// The backward of a decomposed mask: each piece's attn.attention_grad in
/// the piece's layout, fed the whole attention's out, dout and lse (folded
/// like the queries). That is the piece's exact share: every piece's
/// probabilities are exp(scale q.k - lse) with the whole row's lse, and the
/// softmax's Jacobian subtracts the whole row's dout . out. A row's dq sums
/// over the pieces; a key's dk and dv over the pieces that read it,
/// scattered back to the op's keys (zero where a piece does not read a
/// key). With split heads each parity's gradients are placed at its heads
/// (and K/V heads when each query head has its own; shared K/V heads sum
/// the parities).
struct DecomposeSparseMaskGrads : OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getSinks())
      return rewriter.notifyMatchFailure(op, "sinks");
    // As in the forward: pieces renumber positions.
    if (ScoreModAttrInterface mod = op.getScoreModAttr();
        mod && mod.dependsOnPositions())
      return rewriter.notifyMatchFailure(op, "a score modifier of positions");
    SmallVector<MaskPiece> pieces = piecesOf(op);
    if (pieces.empty())
      return rewriter.notifyMatchFailure(op, "no sparse decomposition");
    Location loc = op.getLoc();
    ShapeBuilder sb(rewriter, loc);
    bool ownKV = op.getNumHeads() == op.getNumKVHeads();
    OpFoldResult batch = tensor::getMixedSize(rewriter, loc, op.getQuery(), 0);
    OpFoldResult queries =
        tensor::getMixedSize(rewriter, loc, op.getQuery(), 2);
    OpFoldResult keys = tensor::getMixedSize(rewriter, loc, op.getKey(), 2);

    // Per parity of heads (all, even, odd): the pieces' sums.
    SmallVector<Value> dqs, dks, dvs;
    for (Heads which : {Heads::All, Heads::Even, Heads::Odd}) {
      SmallVector<Value> dq, dk, dv;
      for (const MaskPiece &piece : pieces) {
        if (piece.heads != which)
          continue;
        Value q = toPieceRows(sb, op.getQuery(), piece);
        Value k = toPieceKeys(sb, op.getKey(), piece, ownKV);
        Value v = toPieceKeys(sb, op.getValue(), piece, ownKV);
        auto grad = AttentionGradOp::create(
            rewriter, loc, q.getType(), k.getType(), v.getType(),
            /*sinks_grad=*/Type(), q, k, v,
            toPieceRows(sb, op.getOutput(), piece),
            toPieceRows(sb, op.getOutputGrad(), piece),
            toPieceRows(sb, op.getLse(), piece),
            pieceKeyLengths(sb, op.getKey(), op.getKeyLengths(), batch, piece),
            /*sinks=*/Value(), piece.mask, op.getScaleAttr(),
            op.getScoreModAttr());
        if (Attribute strategy = op->getAttr(kStrategyAttr))
          grad->setAttr(kStrategyAttr, strategy);
        dq.push_back(
            fromPieceRows(sb, grad.getQueryGrad(), piece, queries, 0.0));
        dk.push_back(fromPieceKeys(sb, grad.getKeyGrad(), piece, keys));
        dv.push_back(fromPieceKeys(sb, grad.getValueGrad(), piece, keys));
      }
      if (dq.empty())
        continue;
      dqs.push_back(sumElements(sb.b, sb.loc, dq));
      dks.push_back(sumElements(sb.b, sb.loc, dk));
      dvs.push_back(sumElements(sb.b, sb.loc, dv));
    }
    auto place = [&](ArrayRef<Value> parts, Value like, Value result,
                     bool byParity) -> Value {
      Value whole = byParity ? DecomposeSparseMasks::placeByParity(
                                   sb, like, parts, result)
                             : sumElements(sb.b, sb.loc, parts);
      return whole.getType() == result.getType()
                 ? whole
                 : tensor::CastOp::create(rewriter, loc, result.getType(),
                                          whole)
                       .getResult();
    };
    rewriter.replaceOp(
        op, {place(dqs, op.getQuery(), op.getQueryGrad(), true),
             place(dks, op.getKey(), op.getKeyGrad(), ownKV),
             place(dvs, op.getValue(), op.getValueGrad(), ownKV)});
    return success();
  }
};

struct AttnDecomposeSparseMasksPass
    : attn::impl::AttnDecomposeSparseMasksPassBase<
          AttnDecomposeSparseMasksPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeSparseMasks, DecomposeSparseMaskGrads>(
        &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
