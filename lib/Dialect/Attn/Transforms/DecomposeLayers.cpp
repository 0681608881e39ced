//===- DecomposeLayers.cpp - attention layers into their parts ------------===//
//
// attn.multi_head is the projections around one attn.attention:
//
//   Q = split_H(x W_q)    K = split_Hkv(c W_k)    V = split_Hkv(c W_v)
//   y = merge(attention(Q, K, V)) W_o
//
// where split_h views the (B, T, h * w) projection as (B, h, T, w) and merge
// is its inverse. Projections contract the feature dimension of (B, T, F)
// activations with an (F, E) weight, accumulated in f32.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDECOMPOSELAYERSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The head permutation (B, T, h, w) <-> (B, h, T, w) is its own inverse.
constexpr int64_t kSwapTokensAndHeads[] = {0, 2, 1, 3};

class LayerBuilder {
public:
  LayerBuilder(OpBuilder &builder, Location loc, Type elementType)
      : builder(builder), loc(loc), elementType(elementType) {}

  /// (B, T, F) x (F, E) -> (B, T, E) in the element type, summed in f32.
  /// Loops (b, t, f, e): e innermost walks rows of W and of the result.
  Value project(Value activations, Value weights) {
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(builder, loc, activations);
    sizes[2] = tensor::getMixedSize(builder, loc, weights, 1);
    Type f32 = builder.getF32Type();
    GenericBuilder gb(builder, loc);
    auto flags = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
    Value product = gb.generic(
        {activations, weights}, gb.tensor(sizes, f32, 0.0),
        {gb.map(4, {0, 1, 2}), gb.map(4, {2, 3}), gb.map(4, {0, 1, 3})},
        {kPar, kPar, kRed, kPar},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value x = a[0].getType() == f32
                        ? a[0]
                        : arith::ExtFOp::create(b, l, f32, a[0]);
          Value w = a[1].getType() == f32
                        ? a[1]
                        : arith::ExtFOp::create(b, l, f32, a[1]);
          Value prod = arith::MulFOp::create(b, l, x, w, flags);
          return arith::AddFOp::create(b, l, a[2], prod, flags);
        });
    return convertElements(builder, loc, product, elementType);
  }

  /// (B, T, h * w) -> (B, h, T, w)
  Value splitHeads(Value tokens, int64_t heads, int64_t width) {
    auto type = cast<RankedTensorType>(tokens.getType());
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(builder, loc, tokens);
    sizes.pop_back();
    sizes.append({builder.getIndexAttr(heads), builder.getIndexAttr(width)});
    auto splitType = RankedTensorType::get(
        {type.getDimSize(0), type.getDimSize(1), heads, width},
        type.getElementType());
    Value split = tensor::ExpandShapeOp::create(builder, loc, splitType, tokens,
                                                {{0}, {1}, {2, 3}}, sizes);
    return transpose(split);
  }

  /// (B, h, T, w) -> (B, T, h * w)
  Value mergeHeads(Value heads) {
    return tensor::CollapseShapeOp::create(builder, loc, transpose(heads),
                                           {{0}, {1}, {2, 3}});
  }

private:
  /// Swaps dimensions 1 and 2 of a rank-4 tensor.
  Value transpose(Value input) {
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(builder, loc, input);
    std::swap(sizes[1], sizes[2]);
    GenericBuilder gb(builder, loc);
    return linalg::TransposeOp::create(builder, loc, input,
                                       gb.tensor(sizes, elementType),
                                       kSwapTokensAndHeads)
        .getResult()[0];
  }

  OpBuilder &builder;
  Location loc;
  Type elementType;
};

struct DecomposeMultiHead : OpRewritePattern<MultiHeadOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MultiHeadOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput(), source = op.getKeyValueInput();
    Type elementType = getElementTypeOrSelf(x.getType());
    int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
    int64_t headDim = op.getHeadDim(), valueDim = op.getValueHeadDim();
    LayerBuilder lb(rewriter, loc, elementType);
    Value q = lb.splitHeads(lb.project(x, op.getWq()), heads, headDim);
    Value k = lb.splitHeads(lb.project(source, op.getWk()), kvHeads, headDim);
    Value v = lb.splitHeads(lb.project(source, op.getWv()), kvHeads, valueDim);

    auto qType = cast<RankedTensorType>(q.getType());
    auto attendedType = RankedTensorType::get(
        {qType.getDimSize(0), heads, qType.getDimSize(2), valueDim},
        elementType);
    Value attended = AttentionOp::create(rewriter, loc, attendedType, q, k, v,
                                         op.getKeyLengths(), op.getMaskAttr(),
                                         op.getScaleAttr())
                         .getResult();

    Value y = lb.project(lb.mergeHeads(attended), op.getWo());
    if (y.getType() != op.getType())
      y = tensor::CastOp::create(rewriter, loc, op.getType(), y);
    rewriter.replaceOp(op, y);
    return success();
  }
};

struct AttnDecomposeLayersPass
    : attn::impl::AttnDecomposeLayersPassBase<AttnDecomposeLayersPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateDecomposeLayersPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateDecomposeLayersPatterns(RewritePatternSet &patterns) {
  patterns.add<DecomposeMultiHead>(patterns.getContext());
}
