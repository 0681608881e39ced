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
// log2 (for the GPU, where no library provides it; the log-sum-exp of a
// row needs it once per row):
//
//   x = 2^e m,  m in [sqrt(1/2), sqrt(2)),  log2 x = e + ln(m) log2(e)
//   ln m = 2 atanh(t) = 2 (t + t^3/3 + t^5/5 + t^7/7 + t^9/9 + ...),
//   t = (m - 1) / (m + 1),  |t| <= 0.1716
//
// e and m come from the bits of x; the first omitted term, 2 t^11 / 11, is
// below 1e-9. For positive normal x (the sums it is used on are >= 1).
//
// tanh (the soft-capping score modifier) by MLIR's rational approximation
// (odd polynomials p(x) / q(x) on x clamped to about [-8, 8], accurate to a
// few f32 ulps): a libm tanhf would be a scalar call per lane.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNAPPROXIMATEEXP2PASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// f32 and i32 constants of the shape of `type` (a scalar or a vector).
struct Constants {
  Constants(OpBuilder &b, Location loc, Type type)
      : b(b), loc(loc), type(type), intType(b.getI32Type()) {
    if (auto vec = dyn_cast<VectorType>(type))
      intType = VectorType::get(vec.getShape(), intType);
  }
  Value f(double value) { return of(type, b.getF32FloatAttr(value)); }
  Value i(int32_t value) { return of(intType, b.getI32IntegerAttr(value)); }

  OpBuilder &b;
  Location loc;
  Type type, intType;

private:
  Value of(Type t, Attribute scalar) {
    if (auto vec = dyn_cast<VectorType>(t))
      return arith::ConstantOp::create(b, loc,
                                       DenseElementsAttr::get(vec, scalar));
    return arith::ConstantOp::create(b, loc, cast<TypedAttr>(scalar));
  }
};

/// A math op on f32 (scalar or vector) replaced by `approximate`.
template <typename MathOp> struct F32Approximation : OpRewritePattern<MathOp> {
  using OpRewritePattern<MathOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(MathOp op,
                                PatternRewriter &rewriter) const override {
    if (!getElementTypeOrSelf(op.getType()).isF32())
      return rewriter.notifyMatchFailure(op, "only f32 is approximated");
    Constants k(rewriter, op.getLoc(), op.getType());
    rewriter.replaceOp(op,
                       approximate(rewriter, op.getLoc(), k, op.getOperand()));
    return success();
  }

  virtual Value approximate(OpBuilder &rewriter, Location loc, Constants &k,
                            Value x) const = 0;
};

/// e^x = 2^(x log2 e), for targets without a library exp (the GPU: the
/// reference strategy's softmax uses exp).
struct ExpAsExp2 : F32Approximation<math::ExpOp> {
  using F32Approximation::F32Approximation;

  Value approximate(OpBuilder &rewriter, Location loc, Constants &k,
                    Value x) const override {
    return math::Exp2Op::create(
        rewriter, loc,
        arith::MulFOp::create(rewriter, loc, x, k.f(1.4426950408889634)));
  }
};

struct ApproximateExp2 : F32Approximation<math::Exp2Op> {
  using F32Approximation::F32Approximation;

  Value approximate(OpBuilder &rewriter, Location loc, Constants &k,
                    Value operand) const override {
    Type type = k.type, intType = k.intType;
    auto f = [&](double value) { return k.f(value); };
    auto i = [&](int32_t value) { return k.i(value); };

    Value x = arith::MinimumFOp::create(
        rewriter, loc,
        arith::MaximumFOp::create(rewriter, loc, operand, f(-127)), f(127));
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
    return arith::MulFOp::create(rewriter, loc, poly, scale);
  }
};

struct ApproximateLog2 : F32Approximation<math::Log2Op> {
  using F32Approximation::F32Approximation;

  Value approximate(OpBuilder &rewriter, Location loc, Constants &k,
                    Value operand) const override {
    Type type = k.type, intType = k.intType;
    auto f = [&](double value) { return k.f(value); };
    auto i = [&](int32_t value) { return k.i(value); };

    // x = 2^e m with m in [1, 2), from the exponent and mantissa fields.
    Value bits = arith::BitcastOp::create(rewriter, loc, intType, operand);
    Value e = arith::SubIOp::create(
        rewriter, loc, arith::ShRUIOp::create(rewriter, loc, bits, i(23)),
        i(127));
    Value mantissa = arith::OrIOp::create(
        rewriter, loc, arith::AndIOp::create(rewriter, loc, bits, i(0x7fffff)),
        i(0x3f800000));
    Value m = arith::BitcastOp::create(rewriter, loc, type, mantissa);
    // Into [sqrt(1/2), sqrt(2)) so that |t| stays small.
    Value big = arith::CmpFOp::create(rewriter, loc, arith::CmpFPredicate::OGT,
                                      m, f(M_SQRT2));
    m = arith::SelectOp::create(
        rewriter, loc, big, arith::MulFOp::create(rewriter, loc, m, f(0.5)), m);
    Value exponent = arith::SIToFPOp::create(rewriter, loc, type, e);
    exponent = arith::SelectOp::create(
        rewriter, loc, big,
        arith::AddFOp::create(rewriter, loc, exponent, f(1)), exponent);
    Value t = arith::DivFOp::create(
        rewriter, loc, arith::SubFOp::create(rewriter, loc, m, f(1)),
        arith::AddFOp::create(rewriter, loc, m, f(1)));
    Value t2 = arith::MulFOp::create(rewriter, loc, t, t);
    // ln m = t (2 + t2 (2/3 + t2 (2/5 + t2 (2/7 + t2 2/9)))), by Horner.
    Value series = f(2.0 / 9);
    for (int k = 7; k >= 1; k -= 2)
      series = math::FmaOp::create(rewriter, loc, series, t2, f(2.0 / k));
    Value lnM = arith::MulFOp::create(rewriter, loc, t, series);
    return math::FmaOp::create(rewriter, loc, lnM, f(M_LOG2E), exponent);
  }
};

struct AttnApproximateExp2Pass
    : attn::impl::AttnApproximateExp2PassBase<AttnApproximateExp2Pass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    populateApproximateExp2Patterns(patterns);
    populatePolynomialApproximateTanhPattern(patterns);
    if (includeExp)
      patterns.add<ExpAsExp2>(&getContext());
    if (includeLog2)
      patterns.add<ApproximateLog2>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateApproximateExp2Patterns(RewritePatternSet &patterns) {
  patterns.add<ApproximateExp2>(patterns.getContext());
}
