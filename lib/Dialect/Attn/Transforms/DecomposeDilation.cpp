//===- DecomposeDilation.cpp - a dilated window as d plain windows --------===//
//
// A top-left window with dilation d lets row i see key j when
// i - left <= j <= i + right and i - j is a multiple of d. Then i and j have
// the same residue r modulo d: with i = r + d a and j = r + d b the condition
// is a - floor(left / d) <= b <= a + floor(right / d). So the op is d
// independent attentions, one per residue class, each over every d-th query
// and key (strided slices, no copies of the data in the IR) with a plain
// window of floor(left / d) and floor(right / d):
//
//   out[:, :, r::d] = attention(q[:, :, r::d], k[:, :, r::d], v[:, :, r::d],
//                               window<left / d, right / d>)
//
// A row of class r then computes (left + right) / d + 1 keys in tiles of
// its own class, instead of scanning the whole undilated window with most
// keys masked: the tiled strategies visit about d times fewer tiles. Key
// lengths carry over as the valid keys of each class, ceil((len - r) / d).
// Bottom-right windows are left alone: there the residue of a row depends on
// each batch row's key length.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDECOMPOSEDILATIONPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct DecomposeDilation : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    auto window = dyn_cast_or_null<WindowMaskAttr>(op.getMaskAttr());
    if (!window || window.getDilation() == 1 ||
        window.getAlignment() != Alignment::TopLeft)
      return rewriter.notifyMatchFailure(op, "not a dilated top-left window");
    Location loc = op.getLoc();
    int64_t d = window.getDilation();
    auto classMask = WindowMaskAttr::get(getContext(), window.getLeft() / d,
                                         window.getRight() / d,
                                         Alignment::TopLeft, /*dilation=*/1);

    // (B, H, N) of the query, Dv of the result.
    auto resultType = cast<RankedTensorType>(op.getType());
    SmallVector<OpFoldResult> outSizes =
        tensor::getMixedSizes(rewriter, loc, op.getQuery());
    outSizes[3] = rewriter.getIndexAttr(resultType.getDimSize(3));
    Value out = tensor::EmptyOp::create(rewriter, loc, outSizes,
                                        resultType.getElementType());
    for (int64_t r = 0; r < d; ++r) {
      Value q = classSlice(rewriter, loc, op.getQuery(), r, d);
      Value k = classSlice(rewriter, loc, op.getKey(), r, d);
      Value v = classSlice(rewriter, loc, op.getValue(), r, d);
      Value lengths;
      if (Value keyLengths = op.getKeyLengths())
        lengths = classKeyLengths(rewriter, loc, keyLengths, r, d);
      auto qType = cast<RankedTensorType>(q.getType());
      auto classType =
          RankedTensorType::get({qType.getDimSize(0), qType.getDimSize(1),
                                 qType.getDimSize(2), resultType.getDimSize(3)},
                                resultType.getElementType());
      auto attention =
          AttentionOp::create(rewriter, loc, classType, q, k, v, lengths,
                              classMask, op.getScaleAttr());
      if (auto strategy = op->getAttr(kStrategyAttr))
        attention->setAttr(kStrategyAttr, strategy);
      SmallVector<OpFoldResult> offsets, sizes, strides;
      sliceOf(rewriter, loc, out, r, d, offsets, sizes, strides);
      sizes[3] = rewriter.getIndexAttr(resultType.getDimSize(3));
      out = tensor::InsertSliceOp::create(rewriter, loc, attention.getResult(),
                                          out, offsets, sizes, strides);
    }
    if (out.getType() != resultType)
      out = tensor::CastOp::create(rewriter, loc, resultType, out);
    rewriter.replaceOp(op, out);
    return success();
  }

  /// The rows r, r + d, r + 2d, ... of dimension 2 of a (B, H, T, W) tensor:
  /// ceil((T - r) / d) of them (0 when T <= r), static when T is.
  static void sliceOf(OpBuilder &b, Location loc, Value tensor, int64_t r,
                      int64_t d, SmallVector<OpFoldResult> &offsets,
                      SmallVector<OpFoldResult> &sizes,
                      SmallVector<OpFoldResult> &strides) {
    auto type = cast<RankedTensorType>(tensor.getType());
    OpFoldResult zero = b.getIndexAttr(0), one = b.getIndexAttr(1);
    sizes = tensor::getMixedSizes(b, loc, tensor);
    int64_t length = type.getDimSize(2);
    if (ShapedType::isDynamic(length)) {
      IndexBuilder ib(b, loc);
      Value rest = ib.max(ib.sub(ib.dim(tensor, 2), ib.c(r)), ib.c(0));
      sizes[2] = ib.ceilDiv(rest, ib.c(d));
    } else {
      sizes[2] = b.getIndexAttr(std::max<int64_t>(length - r + d - 1, 0) / d);
    }
    offsets = {zero, zero, b.getIndexAttr(r), zero};
    strides = {one, one, b.getIndexAttr(d), one};
  }

  static Value classSlice(OpBuilder &b, Location loc, Value tensor, int64_t r,
                          int64_t d) {
    SmallVector<OpFoldResult> offsets, sizes, strides;
    sliceOf(b, loc, tensor, r, d, offsets, sizes, strides);
    return tensor::ExtractSliceOp::create(b, loc, tensor, offsets, sizes,
                                          strides);
  }

  /// The valid keys of class r: the keys r + d b < len, ceil((len - r) / d)
  /// of them (0 when len <= r).
  static Value classKeyLengths(OpBuilder &b, Location loc, Value keyLengths,
                               int64_t r, int64_t d) {
    auto type = cast<RankedTensorType>(keyLengths.getType());
    Value init = tensor::EmptyOp::create(
        b, loc, tensor::getMixedSizes(b, loc, keyLengths),
        type.getElementType());
    AffineMap identity = b.getMultiDimIdentityMap(1);
    return linalg::GenericOp::create(
               b, loc, TypeRange{type}, ValueRange{keyLengths},
               ValueRange{init}, ArrayRef<AffineMap>{identity, identity},
               ArrayRef<utils::IteratorType>{utils::IteratorType::parallel},
               [&](OpBuilder &nb, Location l, ValueRange a) {
                 Type t = a[0].getType();
                 auto c = [&](int64_t v) {
                   return arith::ConstantIntOp::create(nb, l, t, v);
                 };
                 Value rest = arith::MaxSIOp::create(
                     nb, l, arith::SubIOp::create(nb, l, a[0], c(r)), c(0));
                 Value count = arith::CeilDivSIOp::create(nb, l, rest, c(d));
                 linalg::YieldOp::create(nb, l, count);
               })
        .getResult(0);
  }
};

struct AttnDecomposeDilationPass
    : attn::impl::AttnDecomposeDilationPassBase<AttnDecomposeDilationPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeDilation>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
