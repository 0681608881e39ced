//===- MaterializeAttention.cpp - the score-matrix strategy ---------------===//
//
// Lowers attn.attention to linalg on tensors the way the formula reads:
//
//   s[b,hk,g,i,j] = sum_d q[b,hk*G+g,i,d] * k[b,hk,j,d]          (f32)
//   x[b,hk,g,i,j] = visible(i,j) ? scale * s : -inf
//   m[b,hk,g,i]   = max_j x                                        (row max)
//   p[b,hk,g,i,j] = m == -inf ? 0 : exp(x - m)
//   l[b,hk,g,i]   = sum_j p                                        (row sum)
//   o[b,hk,g,i,e] = l > 0 ? (sum_j p * v[b,hk,j,e]) / l : 0
//
// The query heads are viewed as (Hkv, G): head h = hk * G + g reads key/value
// head hk, so grouped heads share K and V without a copy. Subtracting the row
// max keeps exp in range; a row that sees no key has m = -inf and yields 0.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNMATERIALIZEATTENTIONPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct MaterializeAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (!isMarkedFor(op, kMaterializedStrategy))
      return rewriter.notifyMatchFailure(op, "marked for another strategy");
    Location loc = op.getLoc();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    auto qType = cast<RankedTensorType>(q.getType());
    auto vType = cast<RankedTensorType>(v.getType());
    Type elementType = qType.getElementType();
    Type f32 = rewriter.getF32Type();
    int64_t kvHeads = op.getNumKVHeads();
    int64_t group = op.getNumHeads() / kvHeads;
    int64_t headDim = qType.getDimSize(3), valueDim = vType.getDimSize(3);

    OpFoldResult batch = tensor::getMixedSize(rewriter, loc, q, 0);
    OpFoldResult queries = tensor::getMixedSize(rewriter, loc, q, 2);
    OpFoldResult keys = tensor::getMixedSize(rewriter, loc, k, 2);
    OpFoldResult hk = rewriter.getIndexAttr(kvHeads);
    OpFoldResult g = rewriter.getIndexAttr(group);

    // View q (B, H, N, D) as (B, Hkv, G, N, D).
    SmallVector<ReassociationIndices> splitHeads = {{0}, {1, 2}, {3}, {4}};
    SmallVector<OpFoldResult> q5Sizes = {batch, hk, g, queries,
                                         rewriter.getIndexAttr(headDim)};
    auto q5Type = RankedTensorType::get(
        {qType.getDimSize(0), kvHeads, group, qType.getDimSize(2), headDim},
        elementType);
    Value q5 = tensor::ExpandShapeOp::create(rewriter, loc, q5Type, q,
                                             splitHeads, q5Sizes);

    GenericBuilder gb(rewriter, loc);
    auto toF32 = [&](OpBuilder &b, Location l, Value x) -> Value {
      return x.getType() == f32 ? x : arith::ExtFOp::create(b, l, f32, x);
    };
    SmallVector<OpFoldResult> rowSizes = {batch, hk, g, queries};
    SmallVector<OpFoldResult> scoreSizes = {batch, hk, g, queries, keys};
    auto reassocFlags =
        arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;

    // s = q . k over (b, hk, g, i, j, d); the f32 sum may be reassociated so
    // that LLVM can vectorize it.
    Value scores = gb.generic(
        {q5, k}, gb.tensor(scoreSizes, f32, 0.0),
        {gb.map(6, {0, 1, 2, 3, 5}), gb.map(6, {0, 1, 4, 5}),
         gb.map(6, {0, 1, 2, 3, 4})},
        {kPar, kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value prod = arith::MulFOp::create(b, l, toF32(b, l, a[0]),
                                             toF32(b, l, a[1]), reassocFlags);
          return arith::AddFOp::create(b, l, a[2], prod, reassocFlags);
        });

    // x = visible ? scale * s : -inf, in place of s.
    Value numQueries = getValueOrCreateConstantIndexOp(rewriter, loc, queries);
    Value numKeys = getValueOrCreateConstantIndexOp(rewriter, loc, keys);
    Value keyLengths = op.getKeyLengths();
    auto mask = op.getEffectiveMask();
    SmallVector<Value> maskInputs = {scores};
    SmallVector<AffineMap> maskMaps = {gb.map(5, {0, 1, 2, 3, 4})};
    if (keyLengths) {
      maskInputs.push_back(keyLengths);
      maskMaps.push_back(gb.map(5, {0}));
    }
    maskMaps.push_back(gb.map(5, {0, 1, 2, 3, 4}));
    double scale = op.getScaleOrDefault();
    Value logits = gb.generic(
        maskInputs, scores, maskMaps, {kPar, kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value scaled = arith::MulFOp::create(
              b, l, a[0],
              arith::ConstantOp::create(b, l, b.getF32FloatAttr(scale)));
          if (!keyLengths && !mask)
            return scaled;
          Value row = linalg::IndexOp::create(b, l, 3);
          Value col = linalg::IndexOp::create(b, l, 4);
          Value valid = numKeys;
          Value visible;
          if (keyLengths) {
            // The valid keys of this batch row: clamp(len, 0, S).
            valid = buildValidKeys(b, l, a[1], numKeys);
            visible = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                            col, valid);
          }
          if (mask) {
            // Query head h = hk * G + g of the (B, Hkv, G, N, S) scores.
            Value head = arith::AddIOp::create(
                b, l,
                arith::MulIOp::create(
                    b, l, linalg::IndexOp::create(b, l, 1),
                    arith::ConstantIndexOp::create(b, l, group)),
                linalg::IndexOp::create(b, l, 2));
            Value inMask =
                mask.buildIsVisible(b, l, row, col, numQueries, valid, head);
            visible =
                visible
                    ? arith::AndIOp::create(b, l, visible, inMask).getResult()
                    : inMask;
          }
          Value negInf = arith::ConstantOp::create(
              b, l, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
          return arith::SelectOp::create(b, l, visible, scaled, negInf);
        });

    // m = max_j x
    Value rowMax = gb.generic(
        {logits},
        gb.tensor(rowSizes, f32, -std::numeric_limits<double>::infinity()),
        {gb.map(5, {0, 1, 2, 3, 4}), gb.map(5, {0, 1, 2, 3})},
        {kPar, kPar, kPar, kPar, kRed},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          return arith::MaximumFOp::create(b, l, a[0], a[1]);
        });

    // p = m == -inf ? 0 : exp(x - m), in place of x.
    Value probs = gb.generic(
        {logits, rowMax}, logits,
        {gb.map(5, {0, 1, 2, 3, 4}), gb.map(5, {0, 1, 2, 3}),
         gb.map(5, {0, 1, 2, 3, 4})},
        {kPar, kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value negInf = arith::ConstantOp::create(
              b, l, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
          Value zero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0));
          Value empty = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                              a[1], negInf);
          Value e = math::ExpOp::create(
              b, l, arith::SubFOp::create(b, l, a[0], a[1]));
          return arith::SelectOp::create(b, l, empty, zero, e);
        });

    // l = sum_j p
    Value rowSum =
        gb.generic({probs}, gb.tensor(rowSizes, f32, 0.0),
                   {gb.map(5, {0, 1, 2, 3, 4}), gb.map(5, {0, 1, 2, 3})},
                   {kPar, kPar, kPar, kPar, kRed},
                   [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                     return arith::AddFOp::create(b, l, a[1], a[0]);
                   });

    // acc = sum_j p * v over (b, hk, g, i, j, e): e innermost and contiguous.
    // A key past its row's key length adds nothing (p is 0 there, and 0
    // times what such a row of v holds, NaN or inf, must not count).
    SmallVector<OpFoldResult> outSizes = {batch, hk, g, queries,
                                          rewriter.getIndexAttr(valueDim)};
    SmallVector<Value> accInputs = {probs, v};
    SmallVector<AffineMap> accMaps = {gb.map(6, {0, 1, 2, 3, 4}),
                                      gb.map(6, {0, 1, 4, 5})};
    if (keyLengths) {
      accInputs.push_back(keyLengths);
      accMaps.push_back(gb.map(6, {0}));
    }
    accMaps.push_back(gb.map(6, {0, 1, 2, 3, 5}));
    Value acc = gb.generic(
        accInputs, gb.tensor(outSizes, f32, 0.0), accMaps,
        {kPar, kPar, kPar, kPar, kRed, kPar},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value value = toF32(b, l, a[1]);
          if (keyLengths) {
            Value key = linalg::IndexOp::create(b, l, 4);
            Value attended = arith::CmpIOp::create(
                b, l, arith::CmpIPredicate::slt, key,
                buildValidKeys(b, l, a[2], numKeys));
            value = arith::SelectOp::create(
                b, l, attended, value,
                arith::ConstantOp::create(b, l, b.getF32FloatAttr(0)));
          }
          Value prod = arith::MulFOp::create(b, l, a[0], value);
          return arith::AddFOp::create(b, l, a.back(), prod);
        });

    // o = l > 0 ? acc / l : 0, in the element type of the op.
    Value out5 = gb.generic(
        {acc, rowSum}, gb.tensor(outSizes, elementType),
        {gb.map(5, {0, 1, 2, 3, 4}), gb.map(5, {0, 1, 2, 3}),
         gb.map(5, {0, 1, 2, 3, 4})},
        {kPar, kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value zero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0));
          Value any = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UGT,
                                            a[1], zero);
          Value quotient = arith::DivFOp::create(b, l, a[0], a[1]);
          Value o = arith::SelectOp::create(b, l, any, quotient, zero);
          return elementType == f32
                     ? o
                     : arith::TruncFOp::create(b, l, elementType, o)
                           .getResult();
        });

    // (B, Hkv, G, N, Dv) -> (B, H, N, Dv)
    Value out =
        tensor::CollapseShapeOp::create(rewriter, loc, out5, splitHeads);
    if (out.getType() != op.getResult().getType())
      out =
          tensor::CastOp::create(rewriter, loc, op.getResult().getType(), out);
    if (!op.getLse()) {
      rewriter.replaceOp(op, out);
      return success();
    }

    // lse = m + log l, through the log2-domain formula of the flash tiles.
    Value lse5 =
        gb.generic({rowMax, rowSum}, gb.tensor(rowSizes, f32),
                   {gb.map(4, {0, 1, 2, 3}), gb.map(4, {0, 1, 2, 3}),
                    gb.map(4, {0, 1, 2, 3})},
                   {kPar, kPar, kPar, kPar},
                   [&](OpBuilder &b, Location l, ValueRange a) -> Value {
                     Value log2Max = arith::MulFOp::create(
                         b, l, a[0], f32Constant(b, l, kLog2E));
                     return logSumExpOf(b, l, log2Max, a[1]);
                   });
    Value lse = tensor::CollapseShapeOp::create(
        rewriter, loc, lse5,
        SmallVector<ReassociationIndices>{{0}, {1, 2}, {3}});
    if (lse.getType() != op.getLse().getType())
      lse = tensor::CastOp::create(rewriter, loc, op.getLse().getType(), lse);
    rewriter.replaceOp(op, {out, lse});
    return success();
  }
};

struct AttnMaterializeAttentionPass
    : attn::impl::AttnMaterializeAttentionPassBase<
          AttnMaterializeAttentionPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateMaterializeAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateMaterializeAttentionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<MaterializeAttention>(patterns.getContext());
}
