//===- ApproximateExp2.cpp - exp2 without libm ----------------------------===//
//
//   2^x = 2^n * 2^f,  n = floor(x + 1/2), f = x - n in [-1/2, 1/2)
//   2^f = e^(f ln 2) = sum_k (f ln 2)^k / k!,  k = 0..6
//
// The first omitted term bounds the relative error: (ln 2 / 2)^7 / 7! is
// 1.2e-7, one f32 ulp. 2^n is the float whose exponent field is n + 127:
// n = -127 gives the field 0, hence exactly 0 for x <= -127 and for -inf.
// The floor is a truncating conversion of x + 128.5, positive after the
// clamp: no rounding instruction or library call, on the CPU or the GPU
// (NVVM has no roundeven without libdevice).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNAPPROXIMATEEXP2PASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// e^x = 2^(x log2 e), for targets without a library exp (the GPU: the
/// reference strategy's softmax uses exp).
struct ExpAsExp2 : OpRewritePattern<math::ExpOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(math::ExpOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return rewriter.notifyMatchFailure(op, "only f32 is approximated");
    Attribute log2e = rewriter.getF32FloatAttr(1.4426950408889634);
    if (auto vec = dyn_cast<VectorType>(type))
      log2e = DenseElementsAttr::get(vec, log2e);
    Value factor = arith::ConstantOp::create(rewriter, op.getLoc(),
                                             cast<TypedAttr>(log2e));
    Value scaled =
        arith::MulFOp::create(rewriter, op.getLoc(), op.getOperand(), factor);
    rewriter.replaceOpWithNewOp<math::Exp2Op>(op, scaled);
    return success();
  }
};

struct ApproximateExp2 : OpRewritePattern<math::Exp2Op> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(math::Exp2Op op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isF32())
      return rewriter.notifyMatchFailure(op, "only f32 is approximated");
    Location loc = op.getLoc();
    auto shaped = dyn_cast<VectorType>(type);
    Type intType = rewriter.getI32Type();
    if (shaped)
      intType = VectorType::get(shaped.getShape(), intType);
    auto constant = [&](Type t, Attribute scalar) -> Value {
      if (auto vec = dyn_cast<VectorType>(t))
        return arith::ConstantOp::create(rewriter, loc,
                                         DenseElementsAttr::get(vec, scalar));
      return arith::ConstantOp::create(rewriter, loc, cast<TypedAttr>(scalar));
    };
    auto f = [&](double value) {
      return constant(type, rewriter.getF32FloatAttr(value));
    };
    auto i = [&](int32_t value) {
      return constant(intType, rewriter.getI32IntegerAttr(value));
    };

    Value x = arith::MinimumFOp::create(
        rewriter, loc,
        arith::MaximumFOp::create(rewriter, loc, op.getOperand(), f(-127)),
        f(127));
    Value shifted = arith::AddFOp::create(rewriter, loc, x, f(128.5));
    Value ni = arith::SubIOp::create(
        rewriter, loc, arith::FPToSIOp::create(rewriter, loc, intType, shifted),
        i(128));
    Value n = arith::SIToFPOp::create(rewriter, loc, type, ni);
    Value frac = arith::SubFOp::create(rewriter, loc, x, n);
    // Horner: c0 + f (c1 + f (c2 + ... )) with c_k = ln(2)^k / k!.
    Value poly = f(std::pow(M_LN2, 6) / 720);
    double factorial = 120;
    for (int k = 5; k >= 0; --k) {
      poly = math::FmaOp::create(rewriter, loc, poly, frac,
                                 f(std::pow(M_LN2, k) / factorial));
      factorial = k > 0 ? factorial / k : 1;
    }
    // 2^n from its exponent field.
    Value biased = arith::AddIOp::create(rewriter, loc, ni, i(127));
    Value bits = arith::ShLIOp::create(rewriter, loc, biased, i(23));
    Value scale = arith::BitcastOp::create(rewriter, loc, type, bits);
    rewriter.replaceOpWithNewOp<arith::MulFOp>(op, poly, scale);
    return success();
  }
};

struct AttnApproximateExp2Pass
    : attn::impl::AttnApproximateExp2PassBase<AttnApproximateExp2Pass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateApproximateExp2Patterns(patterns);
    if (includeExp)
      patterns.add<ExpAsExp2>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateApproximateExp2Patterns(RewritePatternSet &patterns) {
  patterns.add<ApproximateExp2>(patterns.getContext());
}
