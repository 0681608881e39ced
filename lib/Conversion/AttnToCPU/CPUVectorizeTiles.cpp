//===- CPUVectorizeTiles.cpp - vector code for static tiles ---------------===//
//
// The flash strategy leaves small linalg ops on static tiles. Two shapes of
// code make them fast on a CPU:
//
// * Products C += A B (q k^T and p v): C is cut into blocks of R rows by V
//   vector registers of columns. A block's R·V accumulators stay in
//   registers for the whole reduction; each step loads one row of B (V
//   vectors), broadcasts one element of A per row and issues R·V independent
//   FMAs, more than enough to cover the FMA latency. The block is the
//   largest that fits the target's register file with the V vectors of B and
//   a broadcast: 6 x 2 of AVX2's 16 registers, 6 x 4 of AVX-512's 32 (so
//   each step does 24 FMAs for 10 loads).
//   A zero fill of C or a rescaling of its rows just before the product is
//   folded into the loading of the accumulators. The backward's products
//   with a transposed tile, C[m, n] += sum_k A[k, m] B[k, n] (dv += p^T dout,
//   dk += ds^T q), are blocked the same way: only the broadcast element of A
//   is read at [k, m].
//
// * Dot products C[r, t] += sum_d A[r, d] B[t, d] (the decode strategy's
//   scores, B the cache's key rows read in place): blocks of up to 4 rows of
//   A by as many rows of B as the registers hold (3 of 16 for 4 rows, 6 of
//   32) keep vector accumulators along d; each step loads the rows of B once
//   for the rows of A, and each accumulator is summed across its lanes once
//   at the end.
//
// * Vectors are the target's width where the tile's columns are a multiple
//   of it, else half or a quarter of it (an AVX-512 machine runs 8-lane
//   vectors too), so a narrow head dimension still gets vector code.
//
// * An operand read in place from a larger buffer (the decode strategy's
//   cache; packed tiles have the identity layout) comes from memory as the
//   product walks it. The walk prefetches what it needs next (the next key
//   block's rows, the next column strip's line of each row), one line per
//   step, so that the memory stream overlaps the arithmetic instead of
//   stalling on each new line. Where the view is a subview of the cache
//   (its source visible), the walk also prefetches the next tile's rows
//   through the source, one tile ahead of what it reads: the decode
//   strategy reads K/V tile after tile, and the first lines of each tile
//   would otherwise arrive only when asked for.
//
// * Everything else (scaling, masking, exp2, row max and row sums): one loop
//   per outer dimension and 1-D vectors along the innermost one.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToCPU/CPUTarget.h"
#include "attn/Conversion/AttnToCPU/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Linalg/Transforms/Transforms.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/Transforms/LoweringPatterns.h"
#include "mlir/Dialect/Vector/Transforms/VectorRewritePatterns.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNCPUVECTORIZETILESPASS
#include "attn/Conversion/AttnToCPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The vector unit the products are blocked for: f32 lanes per register and
/// the registers a block may fill.
struct VectorUnit {
  int64_t width, registers;
  bool bf16Dot; // vdpbf16ps (AVX512-BF16) for products of bf16 pairs
};

/// The widest of `width`, `width` / 2, `width` / 4 (at least 4 lanes) that
/// divides `extent`, or 0.
static int64_t widthDividing(int64_t extent, int64_t width) {
  for (int64_t w = width; w >= 4 && w >= width / 4; w /= 2)
    if (extent % w == 0)
      return w;
  return 0;
}

/// Whether the last dimension of a memref `type` is contiguous.
static bool hasUnitLastStride(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  SmallVector<int64_t> strides;
  int64_t offset;
  return memref && memref.getRank() > 0 &&
         succeeded(memref.getStridesAndOffset(strides, offset)) &&
         strides.back() == 1;
}

/// Whether `type` is a static f32 memref whose last dimension is contiguous.
static bool isStaticRowMajorF32(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  return memref && memref.hasStaticShape() && memref.getElementType().isF32() &&
         hasUnitLastStride(type);
}

/// Whether `type` is a static memref of f32, f16 or bf16 rows (unit last
/// stride): rows a product may read, widening half precision as it loads.
static bool isStaticRowMajorFloat(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  if (!memref || !memref.hasStaticShape() || !hasUnitLastStride(type))
    return false;
  Type element = memref.getElementType();
  return element.isF32() || element.isF16() || element.isBF16();
}

/// Whether `type` is a static bf16 memref (rows, columns, 2) whose last two
/// dimensions are contiguous: an operand of a product of bf16 pairs, which
/// reads a row's pairs as one run of 2 x columns elements.
static bool isPairTile(Type type) {
  auto memref = dyn_cast<MemRefType>(type);
  SmallVector<int64_t> strides;
  int64_t offset;
  return memref && memref.hasStaticShape() && memref.getRank() == 3 &&
         memref.getElementType().isBF16() && memref.getDimSize(2) == 2 &&
         succeeded(memref.getStridesAndOffset(strides, offset)) &&
         strides[2] == 1 && strides[1] == 2;
}

/// Whether `op` is the product of bf16 pairs that attn-tile-online-softmax
/// forms (bf16-pairs): C[m, n] += extf(A[m, j, i]) * extf(B[j, n, i]) over
/// (m, n, j, i) with j and i reduced, C f32.
static bool isPairProduct(linalg::LinalgOp op) {
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  if (!generic || !op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumLoops() != 4)
    return false;
  MLIRContext *ctx = op.getContext();
  auto map = [&](ArrayRef<unsigned> dims) {
    return AffineMap::getMultiDimMapWithTargets(4, dims, ctx);
  };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  using utils::IteratorType;
  if (maps[0] != map({0, 2, 3}) || maps[1] != map({2, 1, 3}) ||
      maps[2] != map({0, 1}) ||
      op.getIteratorTypesArray() !=
          ArrayRef<IteratorType>{IteratorType::parallel, IteratorType::parallel,
                                 IteratorType::reduction,
                                 IteratorType::reduction})
    return false;
  // The body: out + extf(a) * extf(b).
  Block &body = generic.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add || body.getOperations().size() != 5)
    return false;
  Value out = body.getArgument(2);
  Value product = add.getLhs() == out ? add.getRhs() : add.getLhs();
  auto mul = product.getDefiningOp<arith::MulFOp>();
  if (!mul || (add.getLhs() != out && add.getRhs() != out))
    return false;
  auto widened = [&](Value v, unsigned arg) {
    auto ext = v.getDefiningOp<arith::ExtFOp>();
    return ext && ext.getIn() == body.getArgument(arg);
  };
  if (!(widened(mul.getLhs(), 0) && widened(mul.getRhs(), 1)) &&
      !(widened(mul.getLhs(), 1) && widened(mul.getRhs(), 0)))
    return false;
  auto cType = dyn_cast<MemRefType>(op.getDpsInits()[0].getType());
  return isPairTile(op.getDpsInputs()[0].getType()) &&
         isPairTile(op.getDpsInputs()[1].getType()) && cType &&
         cType.hasStaticShape() && cType.getElementType().isF32() &&
         hasUnitLastStride(cType);
}

/// A vector of `f32Type`'s lanes loaded from `source` at `indices`, widened
/// to f32 when the memref holds f16 or bf16 (F16C's or AVX-512's
/// conversions, a shift for bf16): a half-precision K/V cache is read in
/// place, never through an f32 copy.
static Value loadAsF32(OpBuilder &b, Location loc, VectorType f32Type,
                       Value source, ValueRange indices) {
  Type element = cast<MemRefType>(source.getType()).getElementType();
  if (element.isF32())
    return vector::LoadOp::create(b, loc, f32Type, source, indices);
  Value loaded = vector::LoadOp::create(
      b, loc, VectorType::get(f32Type.getShape(), element), source, indices);
  return arith::ExtFOp::create(b, loc, f32Type, loaded);
}

/// The rows past a view's own, in the buffer it views: an operand that is a
/// unit-stride memref.subview of rows of a larger buffer (the decode
/// strategy's K/V tile of the cache) continues in its source. `indices`
/// gives the source indices of the view's element (row + ahead, col), the
/// row clamped to the source's last, so that a walk over this tile can
/// prefetch the next one (`ahead` = the tile's rows) while it computes.
class RowsAhead {
public:
  static std::optional<RowsAhead> of(OpBuilder &b, Location loc, Value view,
                                     int64_t ahead) {
    auto subview = view.getDefiningOp<memref::SubViewOp>();
    if (!subview || subview.getType().getRank() != 2 ||
        !llvm::all_of(subview.getStaticStrides(),
                      [](int64_t stride) { return stride == 1; }))
      return std::nullopt;
    RowsAhead rows;
    rows.source = subview.getSource();
    llvm::SmallBitVector dropped = subview.getDroppedDims();
    SmallVector<unsigned> kept;
    for (unsigned d = 0; d < dropped.size(); ++d)
      if (!dropped.test(d))
        kept.push_back(d);
    rows.rowDim = kept[0];
    rows.colDim = kept[1];
    for (OpFoldResult offset : subview.getMixedOffsets())
      rows.base.push_back(getValueOrCreateConstantIndexOp(b, loc, offset));
    rows.base[rows.rowDim] = arith::AddIOp::create(
        b, loc, rows.base[rows.rowDim],
        arith::ConstantIndexOp::create(b, loc, ahead));
    rows.lastRow = arith::SubIOp::create(
        b, loc, memref::DimOp::create(b, loc, rows.source, rows.rowDim),
        arith::ConstantIndexOp::create(b, loc, 1));
    return rows;
  }

  /// The buffer the view is a part of.
  Value buffer() const { return source; }

  SmallVector<Value> indices(OpBuilder &b, Location loc, Value row,
                             Value col) const {
    SmallVector<Value> result = base;
    result[rowDim] = arith::MinSIOp::create(
        b, loc, arith::AddIOp::create(b, loc, base[rowDim], row), lastRow);
    result[colDim] = arith::AddIOp::create(b, loc, base[colDim], col);
    return result;
  }

private:
  Value source, lastRow;
  SmallVector<Value> base;
  unsigned rowDim = 0, colDim = 1;
};

/// What C holds when a product starts, when the op right before it wrote
/// all of C: zeros (a fill), or its old rows scaled by a vector (the rescaling
/// of the flash accumulator). The product then starts from that in its
/// registers instead of a separate pass over C.
struct Prologue {
  enum class Kind { Load, Zero, ScaleRows };
  Kind kind = Kind::Load;
  Value rowScale;                // ScaleRows: one factor per row of C.
  Operation *absorbed = nullptr; // The op the product replaces.
};

static bool isZero(Value value) {
  auto constant = value.getDefiningOp<arith::ConstantOp>();
  auto attr = constant ? dyn_cast<FloatAttr>(constant.getValue()) : nullptr;
  return attr && attr.getValue().isZero();
}

/// The fill of `c` with zeros right before `op`, if there is one: the
/// product then starts its accumulators at 0 instead.
static Operation *zeroFillBefore(Operation *op, Value c) {
  auto fill = dyn_cast_if_present<linalg::FillOp>(op->getPrevNode());
  if (fill && fill.getOutputs()[0] == c && isZero(fill.getInputs()[0]))
    return fill;
  return nullptr;
}

static Prologue findPrologue(linalg::LinalgOp op) {
  Value c = op.getDpsInits()[0];
  Operation *previous = op->getPrevNode();
  if (Operation *fill = zeroFillBefore(op, c))
    return {Prologue::Kind::Zero, {}, fill};
  auto scale = dyn_cast_if_present<linalg::GenericOp>(previous);
  if (!scale || scale.getNumDpsInputs() != 1 || scale.getNumDpsInits() != 1 ||
      scale.getDpsInits()[0] != c || scale.getNumParallelLoops() != 2)
    return {};
  MLIRContext *ctx = op.getContext();
  SmallVector<AffineMap> maps = scale.getIndexingMapsArray();
  if (maps[0] != AffineMap::getMultiDimMapWithTargets(2, {0}, ctx) ||
      !maps[1].isIdentity())
    return {};
  // The body must be out * in.
  Block &body = scale.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto mul = yield.getValues()[0].getDefiningOp<arith::MulFOp>();
  if (!mul || body.getOperations().size() != 2)
    return {};
  Value in = body.getArgument(0), out = body.getArgument(1);
  bool outTimesIn = (mul.getLhs() == out && mul.getRhs() == in) ||
                    (mul.getLhs() == in && mul.getRhs() == out);
  if (!outTimesIn)
    return {};
  return {Prologue::Kind::ScaleRows, scale.getDpsInputs()[0], scale};
}

/// Whether `op` is a product over loops (i, j, k), k reduced, whose operands
/// are indexed by `aDims`, `bDims` and (i, j) and whose body is
/// out + a * b, or out + a * extf(b) for rows of B in f16 or bf16 (read in
/// place: widened in registers, never into an f32 copy).
static bool isProductWithMaps(linalg::GenericOp op, ArrayRef<unsigned> aDims,
                              ArrayRef<unsigned> bDims) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 2 ||
      op.getNumDpsInits() != 1 || op.getNumLoops() != 3)
    return false;
  MLIRContext *ctx = op.getContext();
  auto map = [&](ArrayRef<unsigned> dims) {
    return AffineMap::getMultiDimMapWithTargets(3, dims, ctx);
  };
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  if (maps[0] != map(aDims) || maps[1] != map(bDims) ||
      maps[2] != map({0, 1}) ||
      op.getIteratorTypesArray() !=
          ArrayRef<utils::IteratorType>{utils::IteratorType::parallel,
                                        utils::IteratorType::parallel,
                                        utils::IteratorType::reduction})
    return false;
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  Value x = body.getArgument(0), y = body.getArgument(1);
  if (!x.getType().isF32())
    return false;
  bool halfRows = !y.getType().isF32();
  if (!add || body.getOperations().size() != (halfRows ? 4u : 3u))
    return false;
  if (halfRows) {
    auto widened = y.hasOneUse()
                       ? dyn_cast<arith::ExtFOp>(*y.getUsers().begin())
                       : nullptr;
    if (!widened)
      return false;
    y = widened; // f16 or bf16: the callers check B's type.
  }
  Value out = body.getArgument(2);
  Value product = add.getLhs() == out ? add.getRhs() : add.getLhs();
  auto mul = product.getDefiningOp<arith::MulFOp>();
  if (!mul || (add.getLhs() != out && add.getRhs() != out))
    return false;
  return (mul.getLhs() == x && mul.getRhs() == y) ||
         (mul.getLhs() == y && mul.getRhs() == x);
}

/// What the product emitters share: where they build, the vector width and
/// index constants.
class TileEmitter {
protected:
  TileEmitter(RewriterBase &rewriter, Location loc, int64_t width)
      : b(rewriter), loc(loc), width(width) {}

  Value index(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value offset(Value base, int64_t delta) {
    return delta == 0
               ? base
               : arith::AddIOp::create(b, loc, base, index(delta)).getResult();
  }

  /// Whether `operand` is a view into a larger buffer (the decode
  /// strategy's cache, read in place) rather than a packed tile: its rows
  /// come from memory as the product walks them, so the walk asks for the
  /// lines it will need next while it computes (one prefetch per step, into
  /// L1), instead of stalling on each new line.
  static bool readInPlace(Value operand) {
    return !cast<MemRefType>(operand.getType()).getLayout().isIdentity();
  }
  void prefetch(OpBuilder &nb, Location l, Value memref, ValueRange indices) {
    memref::PrefetchOp::create(nb, l, memref, indices, /*isWrite=*/false,
                               /*localityHint=*/3, /*isDataCache=*/true);
  }
  Value min(Value x, int64_t bound) {
    return arith::MinSIOp::create(b, loc, x, index(bound));
  }

  RewriterBase &b;
  Location loc;
  int64_t width;
};

/// The register-blocked product C += A B of static tiles: a linalg.matmul
/// (each step an f32 FMA of a row of B by a broadcast element of A) or,
/// where the target has AVX512-BF16, a product of bf16 pairs (each step a
/// vdpbf16ps of a row of B's pairs by a broadcast pair of A: two products
/// per lane, twice the work of an FMA for the same registers).
class MatmulEmitter : TileEmitter {
public:
  MatmulEmitter(RewriterBase &rewriter, linalg::LinalgOp op, VectorUnit unit)
      : TileEmitter(rewriter, op.getLoc(),
                    widthDividing(columnsOf(op), unit.width)),
        pairs(isPairProduct(op)), aTransposed(isTransposedProduct(op)),
        a(op.getDpsInputs()[0]), bMat(op.getDpsInputs()[1]),
        c(op.getDpsInits()[0]), prologue(findPrologue(op)) {
    auto aType = cast<MemRefType>(a.getType());
    rows = aType.getDimSize(aTransposed ? 1 : 0);
    // Pairs of A's columns for a pair product.
    depth = aType.getDimSize(aTransposed ? 0 : 1);
    cols = columnsOf(op);
    if (pairs) {
      // A row's pairs, and a row of B's pairs, as runs of bf16.
      auto flat = [&](Value pairTile) -> Value {
        return memref::CollapseShapeOp::create(
            b, loc, pairTile, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
      };
      a = flat(a);
      bMat = flat(bMat);
    }
    // The most vectors of columns (4, 2 or 1) that divide the columns and
    // leave room for 6 rows of accumulators, the row of B and a broadcast;
    // then as many rows as the registers hold (at most 12).
    vectorsPerBlock = productBlockVectors(unit.registers);
    while (cols % (vectorsPerBlock * width) != 0)
      vectorsPerBlock /= 2;
    blockRows = std::min<int64_t>(
        12, (unit.registers - vectorsPerBlock - 1) / vectorsPerBlock);
    // (Pairs come from packed tiles only.)
    inPlace = !pairs && readInPlace(bMat);
    if (inPlace && !ShapedType::isDynamic(depth))
      nextTile = RowsAhead::of(b, loc, bMat, depth);
  }

  static int64_t columnsOf(linalg::LinalgOp op) {
    return cast<MemRefType>(op.getDpsInits()[0].getType()).getDimSize(1);
  }

  /// C[m, n] += sum_k A[k, m] B[k, n]: the backward's products with a
  /// transposed tile of probabilities or score gradients (dv += p^T dout,
  /// dk += ds^T q), all of static shape.
  static bool isTransposedProduct(linalg::LinalgOp linalgOp) {
    auto op = dyn_cast<linalg::GenericOp>(linalgOp.getOperation());
    return op && isProductWithMaps(op, {2, 0}, {2, 1});
  }

  static bool applies(linalg::LinalgOp linalgOp, VectorUnit unit) {
    if (isPairProduct(linalgOp))
      return unit.bf16Dot && widthDividing(columnsOf(linalgOp), unit.width);
    if (isTransposedProduct(linalgOp)) {
      auto aType = dyn_cast<MemRefType>(linalgOp.getDpsInputs()[0].getType());
      auto cType = dyn_cast<MemRefType>(linalgOp.getDpsInits()[0].getType());
      return aType && aType.hasStaticShape() &&
             isStaticRowMajorFloat(linalgOp.getDpsInputs()[1].getType()) &&
             cType && cType.hasStaticShape() &&
             cType.getElementType().isF32() && hasUnitLastStride(cType) &&
             widthDividing(columnsOf(linalgOp), unit.width) != 0;
    }
    auto op = dyn_cast<linalg::MatmulOp>(linalgOp.getOperation());
    if (!op || !op.hasPureBufferSemantics() || op.hasUserDefinedMaps())
      return false;
    Value a = op.getInputs()[0], bMat = op.getInputs()[1],
          c = op.getOutputs()[0];
    // B in f16/bf16 (the decode strategy's values, read in place) is
    // widened as it is loaded; linalg.matmul's body then holds the extf.
    if (!isStaticRowMajorFloat(bMat.getType()))
      return false;
    // The rows of A and C may be dynamic (a layer's projections: tokens);
    // A's elements are loaded one at a time, widened from f16/bf16.
    auto aType = dyn_cast<MemRefType>(a.getType());
    auto cType = dyn_cast<MemRefType>(c.getType());
    return aType && cType && !aType.isDynamicDim(1) &&
           isa<Float32Type, Float16Type, BFloat16Type>(
               aType.getElementType()) &&
           !cType.isDynamicDim(1) && cType.getElementType().isF32() &&
           hasUnitLastStride(cType) &&
           widthDividing(columnsOf(op), unit.width) != 0;
  }

  /// The reduction is cut into chunks whose slice of A (rows x chunk) takes
  /// at most half of a 32 KiB L1; in each chunk, column strips are outermost:
  /// the strip of B a block reads (chunk rows of two vectors) stays in L1
  /// while every row block of A's slice passes by. Only the first chunk
  /// applies the prologue; the others continue from C, in a loop over the
  /// whole chunks and a last partial one: the code is three chunks' at most,
  /// whatever the depth (a head width of 16384 is 256 chunks).
  void emit() {
    // Dynamic rows come from a caller that chose the depth for L1 already
    // (attn-tile-projections).
    constexpr int64_t kL1HalfBytes = 16 * 1024;
    int64_t chunk = ShapedType::isDynamic(rows)
                        ? depth
                        : std::max<int64_t>(1, kL1HalfBytes / (rows * 4));
    int64_t first = std::min(depth, chunk);
    emitChunk(index(0), index(first), /*first=*/true);
    int64_t wholeEnd = first + (depth - first) / chunk * chunk;
    if (wholeEnd > first) {
      auto chunks = scf::ForOp::create(b, loc, index(first), index(wholeEnd),
                                       index(chunk));
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(chunks.getBody());
      Value begin = chunks.getInductionVar();
      emitChunk(begin, offset(begin, chunk), /*first=*/false);
    }
    if (depth > wholeEnd)
      emitChunk(index(wholeEnd), index(depth), /*first=*/false);
  }

private:
  void emitChunk(Value depthBegin, Value depthEnd, bool first) {
    int64_t blockCols = vectorsPerBlock * width;
    auto columns =
        scf::ForOp::create(b, loc, index(0), index(cols), index(blockCols));
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(columns.getBody());
    Value col = columns.getInductionVar();
    if (ShapedType::isDynamic(rows)) {
      emitDynamicRows(col, depthBegin, depthEnd, first);
      return;
    }
    int64_t fullRows = rows / blockRows * blockRows;
    if (fullRows > 0) {
      auto rowLoop = scf::ForOp::create(b, loc, index(0), index(fullRows),
                                        index(blockRows));
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(rowLoop.getBody());
      emitBlock(rowLoop.getInductionVar(), blockRows, col, depthBegin,
                depthEnd, first, /*fetchNext=*/rows == fullRows);
    }
    if (rows > fullRows)
      emitBlock(index(fullRows), rows - fullRows, col, depthBegin, depthEnd,
                first, /*fetchNext=*/true);
  }

  /// Rows known only at run time: whole blocks of blockRows rows, then the
  /// last rows one at a time. (B is then a packed strip, nothing to fetch.)
  void emitDynamicRows(Value col, Value depthBegin, Value depthEnd,
                       bool first) {
    Value numRows = memref::DimOp::create(b, loc, a, 0);
    Value step = index(blockRows);
    Value fullRows = arith::MulIOp::create(
        b, loc, arith::DivUIOp::create(b, loc, numRows, step), step);
    auto blocks = scf::ForOp::create(b, loc, index(0), fullRows, step);
    {
      OpBuilder::InsertionGuard inner(b);
      b.setInsertionPointToStart(blocks.getBody());
      emitBlock(blocks.getInductionVar(), blockRows, col, depthBegin,
                depthEnd, first, /*fetchNext=*/false);
    }
    auto rest = scf::ForOp::create(b, loc, fullRows, numRows, index(1));
    OpBuilder::InsertionGuard inner(b);
    b.setInsertionPointToStart(rest.getBody());
    emitBlock(rest.getInductionVar(), 1, col, depthBegin, depthEnd, first,
              /*fetchNext=*/false);
  }

  /// acc = C[block] (or the prologue's start); for k in the chunk:
  /// acc += A[rows, k] * B[k, cols]; C[block] = acc.
  /// `fetchNext`: the block that prefetches the next strip (one per strip).
  void emitBlock(Value row, int64_t blockRows, Value col, Value depthBegin,
                 Value depthEnd, bool first, bool fetchNext) {
    Prologue::Kind start = first ? prologue.kind : Prologue::Kind::Load;
    auto vectorType = VectorType::get({width}, b.getF32Type());
    SmallVector<Value> rowIndex, colIndex;
    for (int64_t r = 0; r < blockRows; ++r)
      rowIndex.push_back(offset(row, r));
    for (int64_t v = 0; v < vectorsPerBlock; ++v)
      colIndex.push_back(offset(col, v * width));

    SmallVector<Value> accumulators;
    for (Value r : rowIndex) {
      Value scale;
      if (start == Prologue::Kind::ScaleRows)
        scale = vector::BroadcastOp::create(
            b, loc, vectorType,
            memref::LoadOp::create(b, loc, prologue.rowScale, ValueRange{r}));
      for (Value cIndex : colIndex) {
        if (start == Prologue::Kind::Zero) {
          accumulators.push_back(arith::ConstantOp::create(
              b, loc, DenseElementsAttr::get(vectorType, 0.0f)));
          continue;
        }
        Value old = vector::LoadOp::create(b, loc, vectorType, c,
                                           ValueRange{r, cIndex});
        accumulators.push_back(
            scale ? arith::MulFOp::create(b, loc, old, scale).getResult()
                  : old);
      }
    }
    // Read in place, B's next column strip (the same rows, the next line of
    // each) is fetched during this one.
    Value nextStrip;
    if (fetchNext && inPlace && cols > vectorsPerBlock * width)
      nextStrip = min(offset(col, vectorsPerBlock * width), cols - width);
    auto loop = scf::ForOp::create(
        b, loc, depthBegin, depthEnd, index(1), accumulators,
        [&](OpBuilder &nb, Location l, Value k, ValueRange acc) {
          if (nextStrip)
            prefetch(nb, l, bMat, ValueRange{k, nextStrip});
          if (fetchNext && nextTile)
            prefetch(nb, l, nextTile->buffer(), nextTile->indices(nb, l, k, col));
          // A pair product's step k reads A's and B's columns 2k, 2k + 1.
          Value pairColumn =
              pairs ? arith::MulIOp::create(nb, l, k, index(2)).getResult()
                    : Value();
          SmallVector<Value> bRow;
          for (Value cIndex : colIndex)
            bRow.push_back(pairs ? loadPairs(nb, l, k, cIndex)
                                 : loadAsF32(nb, l, vectorType, bMat,
                                             ValueRange{k, cIndex}));
          SmallVector<Value> next;
          for (auto [r, rIndex] : llvm::enumerate(rowIndex)) {
            Value broadcast = pairs ? broadcastPair(nb, l, rIndex, pairColumn)
                                    : broadcastElement(nb, l, rIndex, k);
            for (auto [v, bVector] : llvm::enumerate(bRow)) {
              Value sum = acc[r * vectorsPerBlock + v];
              next.push_back(
                  pairs ? x86vector::DotBF16Op::create(nb, l, vectorType, sum,
                                                       broadcast, bVector)
                              .getResult()
                        : vector::FMAOp::create(nb, l, broadcast, bVector, sum)
                              .getResult());
            }
          }
          scf::YieldOp::create(nb, l, next);
        });
    for (auto [r, rIndex] : llvm::enumerate(rowIndex))
      for (auto [v, cIndex] : llvm::enumerate(colIndex))
        vector::StoreOp::create(b, loc, loop.getResult(r * vectorsPerBlock + v),
                                c, ValueRange{rIndex, cIndex});
  }

  /// A[row, k] (A[k, row] when A is transposed) widened to f32, in every
  /// lane.
  Value broadcastElement(OpBuilder &nb, Location l, Value row, Value k) {
    Value element = memref::LoadOp::create(
        nb, l, a, aTransposed ? ValueRange{k, row} : ValueRange{row, k});
    if (!element.getType().isF32())
      element = arith::ExtFOp::create(nb, l, nb.getF32Type(), element);
    return vector::BroadcastOp::create(
        nb, l, VectorType::get({width}, nb.getF32Type()), element);
  }

  /// The pair at `column` of A's row (two bf16, one 32-bit word) in every
  /// lane of a vector of 2 x width bf16: vdpbf16ps's left operand.
  Value broadcastPair(OpBuilder &nb, Location l, Value row, Value column) {
    Type bf16 = nb.getBF16Type(), i32 = nb.getI32Type();
    Value pair = vector::LoadOp::create(nb, l, VectorType::get({2}, bf16), a,
                                        ValueRange{row, column});
    Value word = vector::ExtractOp::create(
        nb, l,
        vector::BitCastOp::create(nb, l, VectorType::get({1}, i32), pair),
        ArrayRef<int64_t>{0});
    Value words =
        vector::BroadcastOp::create(nb, l, VectorType::get({width}, i32), word);
    return vector::BitCastOp::create(
        nb, l, VectorType::get({2 * width}, bf16), words);
  }

  /// The pairs of B's row k for the columns [col, col + width): 2 x width
  /// consecutive bf16, vdpbf16ps's right operand.
  Value loadPairs(OpBuilder &nb, Location l, Value k, Value col) {
    Value column = arith::MulIOp::create(nb, l, col, index(2));
    return vector::LoadOp::create(
        nb, l, VectorType::get({2 * width}, nb.getBF16Type()), bMat,
        ValueRange{k, column});
  }

public:
  /// The op whose effect the product took over, now to be erased.
  Operation *absorbed() const { return prologue.absorbed; }

private:
  bool pairs;   // a product of bf16 pairs, not a linalg.matmul
  bool aTransposed; // A is indexed [k, m] (see isTransposedProduct)
  bool inPlace; // B is read in place from a larger buffer
  Value a, bMat, c;
  int64_t rows, depth, cols, vectorsPerBlock, blockRows;
  Prologue prologue;
  std::optional<RowsAhead> nextTile; // B's next tile in its buffer.
};

/// The dot-product form C[r, t] += sum_d A[r, d] B[t, d] of static f32
/// tiles: a linalg.generic over (r, t, d) with those maps and an
/// out + a * b body.
class DotEmitter : TileEmitter {
public:
  DotEmitter(RewriterBase &rewriter, linalg::GenericOp op, VectorUnit unit)
      : TileEmitter(rewriter, op.getLoc(),
                    widthDividing(depthOf(op), unit.width)),
        a(op.getDpsInputs()[0]), bRows(op.getDpsInputs()[1]),
        c(op.getDpsInits()[0]),
        zeroStart(zeroFillBefore(op, op.getDpsInits()[0])) {
    auto aType = cast<MemRefType>(a.getType());
    rows = aType.getDimSize(0);
    depth = aType.getDimSize(1);
    cols = cast<MemRefType>(bRows.getType()).getDimSize(0);
    // Rows x columns accumulators, a vector per column of B and one of A.
    rowBlock = std::min<int64_t>(4, rows);
    colBlock = std::max<int64_t>(1, (unit.registers - 1) / (rowBlock + 1));
    if (readInPlace(bRows))
      nextTile = RowsAhead::of(b, loc, bRows, cols);
  }

  static int64_t depthOf(linalg::GenericOp op) {
    return cast<MemRefType>(op.getDpsInputs()[0].getType()).getDimSize(1);
  }

  static bool applies(linalg::GenericOp op, VectorUnit unit) {
    if (!isProductWithMaps(op, {0, 2}, {1, 2}))
      return false;
    if (!isStaticRowMajorF32(op.getDpsInputs()[0].getType()) ||
        !isStaticRowMajorFloat(op.getDpsInputs()[1].getType()))
      return false;
    auto cType = dyn_cast<MemRefType>(op.getDpsInits()[0].getType());
    return cType && cType.hasStaticShape() && cType.getElementType().isF32() &&
           widthDividing(depthOf(op), unit.width) != 0;
  }

  void emit() {
    auto columns = scf::ForOp::create(b, loc, index(0),
                                      index(cols / colBlock * colBlock),
                                      index(colBlock));
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(columns.getBody());
      emitColumns(columns.getInductionVar(), colBlock);
    }
    if (cols % colBlock != 0)
      emitColumns(index(cols / colBlock * colBlock), cols % colBlock);
  }

  /// The fill of C with zeros right before the op, which the product then
  /// replaces (its accumulators start at 0).
  Operation *absorbed() const { return zeroStart; }

private:
  /// Columns [col, col + numCols) of C for every row: the rows of B stay in
  /// L1 while the row blocks of A pass by.
  void emitColumns(Value col, int64_t numCols) {
    for (int64_t row = 0; row < rows; row += rowBlock)
      emitBlock(row, std::min(rowBlock, rows - row), col, numCols);
  }

  void emitBlock(int64_t row, int64_t blockRows, Value col, int64_t numCols) {
    auto vectorType = VectorType::get({width}, b.getF32Type());
    SmallVector<Value> rowIndex, colIndex;
    for (int64_t r = 0; r < blockRows; ++r)
      rowIndex.push_back(index(row + r));
    for (int64_t t = 0; t < numCols; ++t)
      colIndex.push_back(offset(col, t));
    SmallVector<Value> zeros(
        blockRows * numCols,
        arith::ConstantOp::create(b, loc,
                                  DenseElementsAttr::get(vectorType, 0.0f)));
    // Read in place, the next block's key rows are fetched during this one.
    SmallVector<Value> nextRows;
    if (row == 0 && readInPlace(bRows))
      for (int64_t t = 0; t < numCols; ++t)
        nextRows.push_back(min(offset(col, numCols + t), cols - 1));
    auto loop = scf::ForOp::create(
        b, loc, index(0), index(depth), index(width), zeros,
        [&](OpBuilder &nb, Location l, Value d, ValueRange acc) {
          for (Value next : nextRows)
            prefetch(nb, l, bRows, ValueRange{next, d});
          if (row == 0 && nextTile)
            for (Value t : colIndex)
              prefetch(nb, l, nextTile->buffer(),
                       nextTile->indices(nb, l, t, d));
          SmallVector<Value> bRow;
          for (Value t : colIndex)
            bRow.push_back(
                loadAsF32(nb, l, vectorType, bRows, ValueRange{t, d}));
          SmallVector<Value> next;
          for (Value r : rowIndex) {
            Value aRow =
                vector::LoadOp::create(nb, l, vectorType, a, ValueRange{r, d});
            for (Value bVector : bRow)
              next.push_back(vector::FMAOp::create(nb, l, aRow, bVector,
                                                   acc[next.size()]));
          }
          scf::YieldOp::create(nb, l, next);
        });
    for (auto [r, rIndex] : llvm::enumerate(rowIndex))
      for (auto [t, tIndex] : llvm::enumerate(colIndex)) {
        Value sum =
            vector::ReductionOp::create(b, loc, vector::CombiningKind::ADD,
                                        loop.getResult(r * numCols + t));
        if (!zeroStart)
          sum = arith::AddFOp::create(
              b, loc,
              memref::LoadOp::create(b, loc, c, ValueRange{rIndex, tIndex}),
              sum);
        memref::StoreOp::create(b, loc, sum, c, ValueRange{rIndex, tIndex});
      }
  }

  Value a, bRows, c;
  int64_t rows, depth, cols, rowBlock, colBlock;
  Operation *zeroStart;
  std::optional<RowsAhead> nextTile; // B's next tile of rows in its buffer.
};

/// The most elements a row op handles as one vector (of that many lanes,
/// which LLVM splits into registers: the code grows with it).
static constexpr int64_t kMaxRowVector = 256;

/// A linalg op (not a product) of one or two loops whose innermost loop has a
/// static size, is the only one that may reduce, and walks every operand
/// along its contiguous last dimension (or not at all, a broadcast): it
/// becomes a loop over its rows around 1-D vector loads, arithmetic and
/// stores. Other ops (transposes, larger nests) are left to the loops.
static bool vectorizesByRows(linalg::LinalgOp op) {
  if (!op.hasPureBufferSemantics() || isa<linalg::MatmulOp>(op))
    return false;
  // Tiles are rows or 2-D blocks; larger loop nests (the materialized
  // strategy's) stay scalar loops.
  SmallVector<int64_t> ranges = op.getStaticLoopRanges();
  if (ranges.empty() || ranges.size() > 2 ||
      ShapedType::isDynamic(ranges.back()) || ranges.back() == 0)
    return false;
  unsigned innermost = op.getNumLoops() - 1;
  // Only the innermost loop may reduce: a row is independent of the others.
  SmallVector<utils::IteratorType> iterators = op.getIteratorTypesArray();
  for (unsigned d = 0; d < innermost; ++d)
    if (iterators[d] != utils::IteratorType::parallel)
      return false;
  // A long row is one vector of kMaxRowVector lanes at a time (see
  // vectorizeByRows); a long reduction, or a long row of no such chunks,
  // stays a loop.
  if (ranges.back() > kMaxRowVector &&
      (iterators[innermost] != utils::IteratorType::parallel ||
       ranges.back() % kMaxRowVector != 0))
    return false;
  // LLVM 22's X86 backend cannot legalize a vector of 8k + 1 bf16 (9, 17,
  // 33, ...) where the target has AVX512-BF16 ("Do not know how to soft
  // promote this operator's operand"): such rows (an odd head width's
  // copies) stay loops.
  bool bf16 = llvm::any_of(op->getOperandTypes(), [](Type type) {
    return getElementTypeOrSelf(type).isBF16();
  });
  if (bf16 && ranges.back() > 1 && ranges.back() % 8 == 1)
    return false;
  for (OpOperand &operand : op->getOpOperands()) {
    AffineMap map = op.getMatchingIndexingMap(&operand);
    for (unsigned r = 0; r + 1 < map.getNumResults(); ++r)
      if (map.getResult(r).isFunctionOfDim(innermost))
        return false;
    // Vector loads and stores need the walk to be contiguous (a view of one
    // element may have kept a dimension of unknown stride).
    if (map.getNumResults() > 0 &&
        map.getResults().back().isFunctionOfDim(innermost) &&
        !hasUnitLastStride(operand.get().getType()))
      return false;
  }
  return true;
}

/// The fast-math flags of the combiner of a one-result row reduction (the
/// arith op that updates the output), if it has some.
static arith::FastMathFlags reductionFlags(linalg::LinalgOp op) {
  auto generic = dyn_cast<linalg::GenericOp>(op.getOperation());
  if (!generic || generic.getNumDpsInits() != 1 ||
      op.getIteratorTypesArray().back() != utils::IteratorType::reduction)
    return arith::FastMathFlags::none;
  auto yield = cast<linalg::YieldOp>(generic.getRegion().front().getTerminator());
  auto combiner = yield.getValues()[0].getDefiningOp<arith::ArithFastMathInterface>();
  return combiner ? combiner.getFastMathFlagsAttr().getValue()
                  : arith::FastMathFlags::none;
}

/// The vector.multi_reductions of a row (vector<1 x n>, reduced along n)
/// under `root` as vector.reductions with `flags`: the linalg vectorizer
/// forms multi-reductions, which have no fast-math flags, so the row
/// maximum's nnan and nsz would be lost on the way to LLVM.
static void reduceRowsWithFlags(RewriterBase &rewriter, Operation *root,
                                arith::FastMathFlags flags) {
  SmallVector<vector::MultiDimReductionOp> reductions;
  root->walk([&](vector::MultiDimReductionOp r) {
    VectorType type = r.getSourceVectorType();
    if (type.getRank() == 2 && type.getDimSize(0) == 1 &&
        r.getReductionDims() == ArrayRef<int64_t>{1})
      reductions.push_back(r);
  });
  for (vector::MultiDimReductionOp r : reductions) {
    rewriter.setInsertionPoint(r);
    Location loc = r.getLoc();
    VectorType type = r.getSourceVectorType();
    Value row = vector::ShapeCastOp::create(
        rewriter, loc, VectorType::get({type.getDimSize(1)}, type.getElementType()),
        r.getSource());
    Value acc = vector::ExtractOp::create(rewriter, loc, r.getAcc(),
                                          ArrayRef<int64_t>{0});
    Value reduced = vector::ReductionOp::create(rewriter, loc, r.getKind(),
                                                row, acc, flags);
    rewriter.replaceOpWithNewOp<vector::BroadcastOp>(r, r.getAcc().getType(),
                                                     reduced);
  }
}

static LogicalResult vectorizeByRows(RewriterBase &rewriter,
                                     linalg::LinalgOp op) {
  arith::FastMathFlags flags = reductionFlags(op);
  SmallVector<int64_t> tileSizes(op.getNumLoops(), 1);
  // A row of at most kMaxRowVector elements is one vector; a longer one
  // (a head width in the thousands) a loop over vectors of that many, so
  // that the code does not grow with the row.
  int64_t row = op.getStaticLoopRanges().back();
  tileSizes.back() = row > kMaxRowVector ? kMaxRowVector : 0;
  rewriter.setInsertionPoint(op);
  FailureOr<linalg::TiledLinalgOp> tiled = linalg::tileLinalgOp(
      rewriter, op, linalg::LinalgTilingOptions().setTileSizes(tileSizes));
  if (failed(tiled))
    return failure();
  rewriter.eraseOp(op);
  rewriter.setInsertionPoint(tiled->op);
  FailureOr<linalg::VectorizationResult> vectorized =
      linalg::vectorize(rewriter, tiled->op);
  if (failed(vectorized))
    return success(); // The tiled op stays, for the loop lowering.
  rewriter.eraseOp(tiled->op);
  if (flags != arith::FastMathFlags::none && !tiled->loops.empty())
    reduceRowsWithFlags(rewriter, tiled->loops.front(), flags);
  return success();
}

/// Whether `op` is a static transposing copy out[i, j] = in[j, i] of f32
/// with both sides' rows contiguous and both extents multiples of `block`.
static bool isBlockTransposeCopy(linalg::GenericOp op, int64_t block) {
  if (!op.hasPureBufferSemantics() || op.getNumDpsInputs() != 1 ||
      op.getNumDpsInits() != 1 || op.getNumLoops() != 2 ||
      op.getNumReductionLoops() != 0)
    return false;
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (body.getOperations().size() != 1 ||
      yield.getValues()[0] != body.getArgument(0))
    return false;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  MLIRContext *ctx = op.getContext();
  AffineMap swap = AffineMap::getMultiDimMapWithTargets(2, {1, 0}, ctx);
  if (!((maps[0] == swap && maps[1].isIdentity()) ||
        (maps[0].isIdentity() && maps[1] == swap)))
    return false;
  for (Value operand : {op.getDpsInputs()[0], op.getDpsInits()[0]}) {
    auto type = cast<MemRefType>(operand.getType());
    if (!isStaticRowMajorF32(type) || type.getDimSize(0) % block != 0 ||
        type.getDimSize(1) % block != 0)
      return false;
  }
  return true;
}

/// The transposing copy as `block` x `block` blocks: `block` row loads, a
/// vector.transpose (shuffles in registers: 64 for 16 x 16) and `block` row
/// stores per block. Left to the loops, the copy writes or reads one
/// element per row at a time (a scatter or a gather per vector).
static void emitBlockTransposeCopy(RewriterBase &b, linalg::GenericOp op,
                                   int64_t block) {
  Location loc = op.getLoc();
  Value in = op.getDpsInputs()[0], out = op.getDpsInits()[0];
  auto outType = cast<MemRefType>(out.getType());
  auto rowType = VectorType::get({block}, b.getF32Type());
  auto blockType = VectorType::get({block, block}, b.getF32Type());
  auto index = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  b.setInsertionPoint(op);
  auto rows = scf::ForOp::create(b, loc, index(0),
                                 index(outType.getDimSize(1)), index(block));
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(rows.getBody());
  auto cols = scf::ForOp::create(b, loc, index(0),
                                 index(outType.getDimSize(0)), index(block));
  b.setInsertionPointToStart(cols.getBody());
  // in[i0 + r, j0 ...] for r < block, into the rows of one 2-D vector.
  Value i0 = rows.getInductionVar(), j0 = cols.getInductionVar();
  Value tile = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(blockType, 0.0f));
  for (int64_t r = 0; r < block; ++r) {
    Value i = arith::AddIOp::create(b, loc, i0, index(r));
    Value row = vector::LoadOp::create(b, loc, rowType, in, ValueRange{i, j0});
    tile = vector::InsertOp::create(b, loc, row, tile, ArrayRef<int64_t>{r});
  }
  Value transposed = vector::TransposeOp::create(b, loc, tile,
                                                 ArrayRef<int64_t>{1, 0});
  for (int64_t c = 0; c < block; ++c) {
    Value j = arith::AddIOp::create(b, loc, j0, index(c));
    Value row = vector::ExtractOp::create(b, loc, transposed,
                                          ArrayRef<int64_t>{c});
    vector::StoreOp::create(b, loc, row, out, ValueRange{j, i0});
  }
}

/// A copy between strided views as a linalg.copy, which becomes loops or
/// vectors here instead of a call to a runtime copy routine.
static void copyAsLinalg(RewriterBase &rewriter, memref::CopyOp copy) {
  rewriter.setInsertionPoint(copy);
  rewriter.replaceOpWithNewOp<linalg::CopyOp>(copy, copy.getSource(),
                                              copy.getTarget());
}

/// Replaces every `OpTy` that `Emitter` applies to by its vector code, and
/// the op whose effect the code took over.
template <typename Emitter, typename OpTy>
static void emitProducts(func::FuncOp func, RewriterBase &rewriter,
                         VectorUnit unit) {
  SmallVector<OpTy> products;
  func.walk([&](OpTy op) {
    if (Emitter::applies(op, unit))
      products.push_back(op);
  });
  for (OpTy op : products) {
    rewriter.setInsertionPoint(op);
    Emitter emitter(rewriter, op, unit);
    emitter.emit();
    rewriter.eraseOp(op);
    if (Operation *absorbed = emitter.absorbed())
      rewriter.eraseOp(absorbed);
  }
}

struct AttnCPUVectorizeTilesPass
    : attn::impl::AttnCPUVectorizeTilesPassBase<AttnCPUVectorizeTilesPass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (vectorWidth < 1 || vectorRegisters < 4) {
      func.emitError() << "attn-cpu-vectorize-tiles needs vector-width >= 1 "
                          "and vector-registers >= 4, got "
                       << int64_t(vectorWidth) << " and "
                       << int64_t(vectorRegisters);
      return signalPassFailure();
    }
    IRRewriter rewriter(&getContext());

    // A copy of a buffer onto itself (what bufferization leaves where a
    // loop updated a task's tile in place) does nothing.
    SmallVector<memref::CopyOp> copies;
    func.walk([&](memref::CopyOp copy) {
      if (copy.getSource() == copy.getTarget()) {
        copies.push_back(copy);
        return;
      }
      auto source = cast<MemRefType>(copy.getSource().getType());
      auto target = cast<MemRefType>(copy.getTarget().getType());
      if (!source.getLayout().isIdentity() || !target.getLayout().isIdentity())
        copies.push_back(copy);
    });
    for (memref::CopyOp copy : copies) {
      if (copy.getSource() == copy.getTarget())
        rewriter.eraseOp(copy);
      else
        copyAsLinalg(rewriter, copy);
    }

    // Transposing copies (the packing of K tiles) as 16 x 16 blocks where
    // the vectors have 16 lanes (the shuffles of a 16 x 16 transpose).
    if (vectorWidth == 16) {
      SmallVector<linalg::GenericOp> transposes;
      func.walk([&](linalg::GenericOp op) {
        if (isBlockTransposeCopy(op, 16))
          transposes.push_back(op);
      });
      for (linalg::GenericOp op : transposes) {
        emitBlockTransposeCopy(rewriter, op, 16);
        rewriter.eraseOp(op);
      }
    }

    VectorUnit unit{vectorWidth, vectorRegisters, bf16Dot};
    emitProducts<MatmulEmitter, linalg::LinalgOp>(func, rewriter, unit);
    emitProducts<DotEmitter, linalg::GenericOp>(func, rewriter, unit);

    SmallVector<linalg::LinalgOp> rowOps;
    func.walk([&](linalg::LinalgOp op) {
      if (vectorizesByRows(op))
        rowOps.push_back(op);
    });
    for (linalg::LinalgOp op : rowOps)
      if (failed(vectorizeByRows(rewriter, op)))
        return signalPassFailure();

    // Rows of shape 1 x n become plain vectors; transfers become loads and
    // stores; row reductions become vector reductions.
    RewritePatternSet patterns(&getContext());
    vector::populateCastAwayVectorLeadingOneDimPatterns(patterns);
    vector::populateVectorTransferLoweringPatterns(patterns,
                                                   /*maxTransferRank=*/1);
    vector::populateVectorMultiReductionLoweringPatterns(
        patterns, vector::VectorMultiReductionLowering::InnerReduction);
    vector::populateVectorBroadcastLoweringPatterns(patterns);
    vector::populateVectorShapeCastLoweringPatterns(patterns);
    vector::populateVectorTransposeLoweringPatterns(
        patterns, vector::VectorTransposeLowering::Shuffle16x16);
    vector::TransferReadOp::getCanonicalizationPatterns(patterns,
                                                        &getContext());
    vector::TransferWriteOp::getCanonicalizationPatterns(patterns,
                                                         &getContext());
    // A bound on the rewrites turns a pattern cycle into an error, not a
    // hang.
    GreedyRewriteConfig config;
    config.setMaxNumRewrites(1 << 20);
    if (failed(applyPatternsGreedily(func, std::move(patterns), config))) {
      func.emitError("vector cleanup did not converge");
      signalPassFailure();
    }
  }
};

} // namespace
