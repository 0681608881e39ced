//===- DecomposeSinks.cpp - attention sinks after the softmax -------------===//
//
// A sink is a logit t_h per query head that joins every row's softmax
// denominator and has no value (StreamingLLM's sink token, gpt-oss's
// learned sinks):
//
//   out'_i = sum_j e^(s_ij) v_j / (e^(t_h) + sum_j e^(s_ij))
//
// With the row's log-sum-exp lse_i = log sum_j e^(s_ij) and out_i the
// attention without the sink, sum_j e^(s_ij) v_j = e^(lse_i) out_i, so
//
//   out'_i = out_i / (1 + e^(t_h - lse_i)),
//   lse'_i = log(e^(lse_i) + e^(t_h)) = max + log(1 + e^(min - max)).
//
// That is exactly the sink in the running maximum and sum, applied once
// per row after the keys instead of in every tile: every strategy, the
// split-K decode's merge, both GPU kernels and the sparse decompositions
// take it unchanged. A row that sees no key (lse = -inf, out = 0) gives
// out' = 0 and lse' = t_h: its weights are all the sink's, and the sink
// has no value. Computed in the log2 domain (exp2 and log2 are what every
// target approximates); (1 + e^x) is at least 1, so the log is of a
// number in [1, 2] and the reciprocal never divides by 0; e^(t - lse)
// overflowing to +inf gives out' = out * 0 = 0, as its limit. A sink of
// -inf is no sink; with a row that sees no key it would make t - lse
// NaN, so such a row (lse = -inf) keeps nothing and its lse' is the larger
// of the two, -inf.
//
// The backward: the probabilities P_ij = e^(s_ij - lse'_i) that
// attn.attention_grad forms from the forward's lse' are the sink's
// softmax's, and the sink, having no value, adds nothing to
// dout_i . out'_i = sum_j P_ij dout_i . v_j: dq, dk and dv are the
// gradient without sinks fed out' and lse'. The sink's own gradient is
//
//   dL/dt_h = sum_i dout_i . dout'_i/dt_h = -sum_{b, i} P_sink,i (dout_i .
//   out'_i)
//
// (every P_ij shrinks by P_ij P_sink,i as t_h grows), P_sink,i =
// e^(t_h - lse'_i): a row dot and a sum over the batch and the rows.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDECOMPOSESINKSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct DecomposeSinks : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    Value sinks = op.getSinks();
    if (!sinks)
      return rewriter.notifyMatchFailure(op, "no sinks");
    Location loc = op.getLoc();
    auto outType = cast<RankedTensorType>(op.getResult().getType());
    auto lseType = RankedTensorType::get(outType.getShape().drop_back(),
                                         rewriter.getF32Type());
    auto attention = AttentionOp::create(
        rewriter, loc, outType, lseType, op.getQuery(), op.getKey(),
        op.getValue(), op.getKeyLengths(), /*sinks=*/Value(),
        op.getQueryOffsets(), op.getKeyOffsets(), op.getMaskAttr(),
        op.getScaleAttr(), op.getScoreModAttr());
    if (Attribute strategy = op->getAttr(kStrategyAttr))
      attention->setAttr(kStrategyAttr, strategy);

    GenericBuilder gb(rewriter, loc);
    SmallVector<OpFoldResult> rowSizes =
        tensor::getMixedSizes(rewriter, loc, attention.getLse());
    // keep_i = 1 / (1 + 2^((t_h - lse_i) log2 e)) and lse'_i, over (b, h, i).
    Type f32 = rewriter.getF32Type();
    Value keep = gb.generic(
        {attention.getLse(), sinks}, gb.tensor(rowSizes, f32),
        {gb.map(3, {0, 1, 2}), gb.map(3, {1}), gb.map(3, {0, 1, 2})},
        {kPar, kPar, kPar}, [&](OpBuilder &b, Location l, ValueRange a) {
          Value exponent = arith::MulFOp::create(
              b, l, arith::SubFOp::create(b, l, a[1], a[0]),
              f32Constant(b, l, kLog2E));
          Value denominator =
              arith::AddFOp::create(b, l, f32Constant(b, l, 1.0),
                                    math::Exp2Op::create(b, l, exponent));
          Value seesNothing =
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a[0],
                                    f32Constant(b, l, -INFINITY));
          return arith::SelectOp::create(
                     b, l, seesNothing, f32Constant(b, l, 0.0),
                     arith::DivFOp::create(b, l, f32Constant(b, l, 1.0),
                                           denominator))
              .getResult();
        });
    Value lse = gb.generic(
        {attention.getLse(), sinks}, gb.tensor(rowSizes, f32),
        {gb.map(3, {0, 1, 2}), gb.map(3, {1}), gb.map(3, {0, 1, 2})},
        {kPar, kPar, kPar}, [&](OpBuilder &b, Location l, ValueRange a) {
          // max + log(1 + e^(min - max)), e^-inf = 0; both -inf: -inf.
          Value larger = arith::MaximumFOp::create(b, l, a[0], a[1]);
          Value smaller = arith::MinimumFOp::create(b, l, a[0], a[1]);
          Value tail = math::Exp2Op::create(
              b, l,
              arith::MulFOp::create(
                  b, l, arith::SubFOp::create(b, l, smaller, larger),
                  f32Constant(b, l, kLog2E)));
          Value log2 = math::Log2Op::create(
              b, l, arith::AddFOp::create(b, l, f32Constant(b, l, 1.0), tail));
          Value noTerm =
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, larger,
                                    f32Constant(b, l, -INFINITY));
          return arith::SelectOp::create(
                     b, l, noTerm, larger,
                     math::FmaOp::create(b, l, log2, f32Constant(b, l, M_LN2),
                                         larger))
              .getResult();
        });
    // out'_i = out_i keep_i, in f32, rounded once to the output's type.
    Value out = gb.generic(
        {attention.getResult(), keep},
        tensor::EmptyOp::create(
            rewriter, loc,
            tensor::getMixedSizes(rewriter, loc, attention.getResult()),
            outType.getElementType()),
        {gb.map(4, {0, 1, 2, 3}), gb.map(4, {0, 1, 2}),
         gb.map(4, {0, 1, 2, 3})},
        {kPar, kPar, kPar, kPar}, [&](OpBuilder &b, Location l, ValueRange a) {
          Value scaled = arith::MulFOp::create(b, l, toF32(b, l, a[0]), a[1]);
          return convertFloat(b, l, scaled, a[2].getType());
        });
    SmallVector<Value> results = {out};
    if (op.getLse())
      results.push_back(lse);
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct DecomposeSinkGradients : OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    Value sinks = op.getSinks();
    if (!sinks)
      return rewriter.notifyMatchFailure(op, "no sinks");
    Location loc = op.getLoc();
    auto grad = AttentionGradOp::create(
        rewriter, loc, op.getQueryGrad().getType(), op.getKeyGrad().getType(),
        op.getValueGrad().getType(), /*sinks_grad=*/Type(), op.getQuery(),
        op.getKey(), op.getValue(), op.getOutput(), op.getOutputGrad(),
        op.getLse(), op.getKeyLengths(), /*sinks=*/Value(), op.getMaskAttr(),
        op.getScaleAttr(), op.getScoreModAttr());
    if (Attribute strategy = op->getAttr(kStrategyAttr))
      grad->setAttr(kStrategyAttr, strategy);

    GenericBuilder gb(rewriter, loc);
    Type f32 = rewriter.getF32Type();
    // dd_i = dout_i . out'_i over (b, h, i, e), in f32.
    Value rowDots = gb.generic(
        {op.getOutputGrad(), op.getOutput()},
        gb.tensor(tensor::getMixedSizes(rewriter, loc, op.getLse()), f32, 0.0),
        {gb.map(4, {0, 1, 2, 3}), gb.map(4, {0, 1, 2, 3}),
         gb.map(4, {0, 1, 2})},
        {kPar, kPar, kPar, kRed}, [&](OpBuilder &b, Location l, ValueRange a) {
          return multiplyAdd(b, l, a);
        });
    // dt_h = -sum_{b, i} e^(t_h - lse'_i) dd_i; a row of lse' = -inf (no
    // key, no sink) adds 0.
    Value sinksGrad = gb.generic(
        {op.getLse(), rowDots, sinks},
        gb.tensor({rewriter.getIndexAttr(op.getNumHeads())}, f32, 0.0),
        {gb.map(3, {0, 1, 2}), gb.map(3, {0, 1, 2}), gb.map(3, {1}),
         gb.map(3, {1})},
        {kRed, kPar, kRed}, [&](OpBuilder &b, Location l, ValueRange a) {
          Value weight = math::Exp2Op::create(
              b, l,
              arith::MulFOp::create(b, l,
                                    arith::SubFOp::create(b, l, a[2], a[0]),
                                    f32Constant(b, l, kLog2E)));
          Value seesNothing =
              arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ, a[0],
                                    f32Constant(b, l, -INFINITY));
          Value term = arith::SelectOp::create(
              b, l, seesNothing, f32Constant(b, l, 0.0),
              arith::MulFOp::create(b, l, weight, a[1]));
          return arith::SubFOp::create(b, l, a[3], term).getResult();
        });
    rewriter.replaceOp(op, {grad.getQueryGrad(), grad.getKeyGrad(),
                            grad.getValueGrad(), sinksGrad});
    return success();
  }
};

struct AttnDecomposeSinksPass
    : attn::impl::AttnDecomposeSinksPassBase<AttnDecomposeSinksPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeSinks, DecomposeSinkGradients>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

LogicalResult mlir::attn::verifyDecomposedClauses(Operation *root,
                                                  StringRef lowering) {
  WalkResult found = root->walk([&](Operation *op) {
    StringRef clause, pass;
    if (auto attention = dyn_cast<AttentionOp>(op)) {
      if (attention.getSinks())
        clause = "sinks", pass = "attn-decompose-sinks";
      else if (attention.getQueryOffsets())
        clause = "sequences", pass = "attn-decompose-sequences";
    }
    if (auto grad = dyn_cast<AttentionGradOp>(op); grad && grad.getSinks())
      clause = "sinks", pass = "attn-decompose-sinks";
    if (clause.empty())
      return WalkResult::advance();
    op->emitOpError() << "has " << clause << ", which " << lowering
                      << " does not lower: " << pass
                      << " takes them out first";
    return WalkResult::interrupt();
  });
  return failure(found.wasInterrupted());
}
