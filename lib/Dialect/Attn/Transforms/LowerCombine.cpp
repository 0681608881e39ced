//===- LowerCombine.cpp - attn.combine as two linalg.generic ops ----------===//
//
// Parts k of one attention, over disjoint key sets, each normalized by its
// own softmax denominator Z_k = exp(lse_k), merge into the attention over the
// union as
//
//   out = sum_k (Z_k / Z) out_k,   Z = sum_k Z_k,   lse = log Z.
//
// With M = max_k lse_k the weights are w_k = 2^((lse_k - M) log2 e) / W,
// W = sum_k 2^((lse_k - M) log2 e), and lse = M + log2(W) ln 2: no exponent is
// positive, nothing overflows. A row with every lse_k = -inf has W = 0 and
// stays 0. One generic computes the weights and lse per row, a second the
// weighted sum per element.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERCOMBINEPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct LowerCombine : OpRewritePattern<CombineOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(CombineOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    GenericBuilder gb(rewriter, loc);
    Type f32 = rewriter.getF32Type();
    size_t parts = op.getOutputs().size();
    SmallVector<OpFoldResult> sizes =
        tensor::getMixedSizes(rewriter, loc, op.getOutputs().front());
    ArrayRef<OpFoldResult> rowSizes = ArrayRef(sizes).take_front(3);

    // Per row: the weight of every part, and the lse of the union.
    SmallVector<Value> rowInits;
    SmallVector<Type> rowTypes;
    for (size_t k = 0; k <= parts; ++k) {
      rowInits.push_back(gb.tensor(rowSizes, f32));
      rowTypes.push_back(rowInits.back().getType());
    }
    SmallVector<AffineMap> rowMaps(2 * parts + 1, gb.map(3, {0, 1, 2}));
    auto rowOp = linalg::GenericOp::create(
        rewriter, loc, rowTypes, op.getLses(), rowInits, rowMaps,
        {kPar, kPar, kPar}, [&](OpBuilder &b, Location l, ValueRange a) {
          ValueRange lses = a.take_front(parts);
          Value most = lses.front();
          for (Value lse : lses.drop_front())
            most = arith::MaximumFOp::create(b, l, most, lse);
          Value offset = safeOffset(b, l, most);
          Value log2e = f32Constant(b, l, kLog2E);
          SmallVector<Value> terms;
          Value total = f32Constant(b, l, 0);
          for (Value lse : lses) {
            Value exponent = arith::MulFOp::create(
                b, l, arith::SubFOp::create(b, l, lse, offset), log2e);
            terms.push_back(math::Exp2Op::create(b, l, exponent));
            total = arith::AddFOp::create(b, l, total, terms.back());
          }
          Value zero = f32Constant(b, l, 0);
          Value any = arith::CmpFOp::create(b, l, arith::CmpFPredicate::UGT,
                                            total, zero);
          SmallVector<Value> yields;
          for (Value term : terms)
            yields.push_back(arith::SelectOp::create(
                b, l, any, arith::DivFOp::create(b, l, term, total), zero));
          // log Z = M + log2(W) ln 2, the formula of the flash tiles with
          // m = M log2 e.
          yields.push_back(logSumExpOf(
              b, l, arith::MulFOp::create(b, l, offset, log2e), total));
          linalg::YieldOp::create(b, l, yields);
        });

    // Per element: out = sum_k w_k out_k.
    auto resultType = cast<RankedTensorType>(op.getResult().getType());
    Type elementType = resultType.getElementType();
    SmallVector<Value> inputs(op.getOutputs());
    llvm::append_range(inputs, rowOp.getResults().take_front(parts));
    SmallVector<AffineMap> maps(parts, gb.map(4, {0, 1, 2, 3}));
    maps.append(parts, gb.map(4, {0, 1, 2}));
    maps.push_back(gb.map(4, {0, 1, 2, 3}));
    Value out = gb.generic(
        inputs, gb.tensor(sizes, elementType), maps, {kPar, kPar, kPar, kPar},
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value sum = f32Constant(b, l, 0);
          for (size_t k = 0; k < parts; ++k) {
            Value x = a[k].getType() == f32
                          ? a[k]
                          : arith::ExtFOp::create(b, l, f32, a[k]).getResult();
            sum = arith::AddFOp::create(
                b, l, sum, arith::MulFOp::create(b, l, a[parts + k], x));
          }
          return elementType == f32
                     ? sum
                     : arith::TruncFOp::create(b, l, elementType, sum)
                           .getResult();
        });
    if (out.getType() != resultType)
      out = tensor::CastOp::create(rewriter, loc, resultType, out);
    SmallVector<Value> results = {out};
    if (Value lse = op.getLse()) {
      Value rows = rowOp.getResult(parts);
      if (rows.getType() != lse.getType())
        rows = tensor::CastOp::create(rewriter, loc, lse.getType(), rows);
      results.push_back(rows);
    }
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct AttnLowerCombinePass
    : attn::impl::AttnLowerCombinePassBase<AttnLowerCombinePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<LowerCombine>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
