//===- DecomposeLayers.cpp - attention layers into their parts ------------===//
//
// attn.multi_head is the projections around one attn.attention:
//
//   Q = split_H(x W_q)    K = split_Hkv(c W_k)    V = split_Hkv(c W_v)
//   y = merge(attention(Q, K, V)) W_o
//
// where split_h views the (B, T, h * w) projection as (B, h, T, w) and merge
// is its inverse. Neither is a copy: the products that write Q, K, V and read
// the attention's result do so through their indexing maps (see
// Projections.h), so Q[b, h, t, d] is written as sum_f x[b, t, f] W_q[f, h, d]
// with W_q viewed as (F, H, D). Projections accumulate in f32.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Projections.h"
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

static constexpr arith::FastMathFlags kContract =
    arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;

SmallVector<AffineMap> mlir::attn::getProjectionMaps(MLIRContext *ctx,
                                                     ProjectionForm form) {
  auto map = [&](ArrayRef<unsigned> dims) {
    return AffineMap::getMultiDimMapWithTargets(5, dims, ctx);
  };
  // Loops (b, h, t, d, f) and (b, t, e, h, d).
  if (form == ProjectionForm::IntoHeads)
    return {map({0, 2, 4}), map({4, 1, 3}), map({0, 1, 2, 3})};
  return {map({0, 3, 1, 4}), map({3, 4, 2}), map({0, 1, 2})};
}

SmallVector<utils::IteratorType>
mlir::attn::getProjectionIterators(ProjectionForm form) {
  if (form == ProjectionForm::IntoHeads)
    return {kPar, kPar, kPar, kPar, kRed};
  return {kPar, kPar, kPar, kRed, kRed};
}

Value mlir::attn::buildProjectionBody(OpBuilder &b, Location loc,
                                      ValueRange args) {
  Type f32 = b.getF32Type();
  auto widen = [&](Value v) -> Value {
    return v.getType() == f32 ? v : arith::ExtFOp::create(b, loc, f32, v);
  };
  Value prod =
      arith::MulFOp::create(b, loc, widen(args[0]), widen(args[1]), kContract);
  return arith::AddFOp::create(b, loc, args[2], prod, kContract);
}

std::optional<ProjectionForm>
mlir::attn::matchProjection(linalg::GenericOp op) {
  if (op.getNumDpsInputs() != 2 || op.getNumDpsInits() != 1 ||
      op.getNumLoops() != 5 || op.getNumResults() != 1)
    return std::nullopt;
  if (!getElementTypeOrSelf(op.getDpsInits()[0].getType()).isF32())
    return std::nullopt;
  SmallVector<AffineMap> maps = op.getIndexingMapsArray();
  std::optional<ProjectionForm> form;
  for (ProjectionForm candidate :
       {ProjectionForm::IntoHeads, ProjectionForm::FromHeads})
    if (maps == getProjectionMaps(op.getContext(), candidate) &&
        op.getIteratorTypesArray() == getProjectionIterators(candidate))
      form = candidate;
  if (!form)
    return std::nullopt;
  // The body: out + a * b, each input possibly widened first.
  Block &body = op.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getValues()[0].getDefiningOp<arith::AddFOp>();
  if (!add || add.getLhs() != body.getArgument(2))
    return std::nullopt;
  auto mul = add.getRhs().getDefiningOp<arith::MulFOp>();
  if (!mul)
    return std::nullopt;
  auto isInput = [&](Value v, unsigned i) {
    if (auto ext = v.getDefiningOp<arith::ExtFOp>())
      v = ext.getIn();
    return v == body.getArgument(i);
  };
  if (!isInput(mul.getLhs(), 0) || !isInput(mul.getRhs(), 1))
    return std::nullopt;
  return form;
}

namespace {

class LayerBuilder {
public:
  LayerBuilder(OpBuilder &builder, Location loc, Type elementType)
      : builder(builder), loc(loc), elementType(elementType) {}

  /// (B, T, F) x (F, heads * width) -> (B, heads, T, width): the projection
  /// split into heads as it is written.
  Value projectIntoHeads(Value activations, Value weights, int64_t heads,
                         int64_t width) {
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(builder, loc, activations);
    Value perHead = splitColumns(weights, 1, heads, width);
    return project(ProjectionForm::IntoHeads, activations, perHead,
                   {sizes[0], builder.getIndexAttr(heads), sizes[1],
                    builder.getIndexAttr(width)});
  }

  /// (B, heads, T, width) x (heads * width, E) -> (B, T, E): the heads
  /// merged as they are read.
  Value projectFromHeads(Value attended, Value weights) {
    auto type = cast<RankedTensorType>(attended.getType());
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(builder, loc, attended);
    Value perHead =
        splitColumns(weights, 0, type.getDimSize(1), type.getDimSize(3));
    return project(ProjectionForm::FromHeads, attended, perHead,
                   {sizes[0], sizes[2],
                    tensor::getMixedSize(builder, loc, weights, 1)});
  }

private:
  Value project(ProjectionForm form, Value activations, Value weights,
                ArrayRef<OpFoldResult> resultSizes) {
    GenericBuilder gb(builder, loc);
    Value product = gb.generic(
        {activations, weights},
        gb.tensor(resultSizes, builder.getF32Type(), 0.0),
        getProjectionMaps(builder.getContext(), form),
        getProjectionIterators(form),
        [&](OpBuilder &b, Location l, ValueRange a) {
          return buildProjectionBody(b, l, a);
        });
    return convertElements(builder, loc, product, elementType);
  }

  /// The 2-D weight with dimension `dim` (heads * width) viewed as
  /// (heads, width).
  Value splitColumns(Value weights, unsigned dim, int64_t heads,
                     int64_t width) {
    auto type = cast<RankedTensorType>(weights.getType());
    SmallVector<int64_t> shape(type.getShape());
    shape[dim] = width;
    shape.insert(shape.begin() + dim, heads);
    SmallVector<ReassociationIndices> groups =
        dim == 0 ? SmallVector<ReassociationIndices>{{0, 1}, {2}}
                 : SmallVector<ReassociationIndices>{{0}, {1, 2}};
    return tensor::ExpandShapeOp::create(
        builder, loc, RankedTensorType::get(shape, type.getElementType()),
        weights, groups);
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
    Value q = lb.projectIntoHeads(x, op.getWq(), heads, headDim);
    Value k = lb.projectIntoHeads(source, op.getWk(), kvHeads, headDim);
    Value v = lb.projectIntoHeads(source, op.getWv(), kvHeads, valueDim);

    auto qType = cast<RankedTensorType>(q.getType());
    auto attendedType = RankedTensorType::get(
        {qType.getDimSize(0), heads, qType.getDimSize(2), valueDim},
        elementType);
    Value attended = AttentionOp::create(rewriter, loc, attendedType, q, k, v,
                                         op.getKeyLengths(), op.getMaskAttr(),
                                         op.getScaleAttr())
                         .getResult();

    Value y = lb.projectFromHeads(attended, op.getWo());
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
