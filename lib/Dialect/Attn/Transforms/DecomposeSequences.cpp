//===- DecomposeSequences.cpp - packed sequences, one at a time -----------===//
//
// An attn.attention over packed variable-length sequences (`sequences(%cu_q,
// %cu_k)`, FlashAttention's cu_seqlens) is, by definition, the attention of
// each sequence alone:
//
//   out[rows cu_q[s] .. cu_q[s+1]) = attention(q[cu_q[s] .. cu_q[s+1]),
//                                              k[cu_k[s] .. cu_k[s+1]), v[...])
//
// so it becomes a loop over the sequences, each an attn.attention of the
// sequence's rows and keys (dynamic N and S; the mask, scale, modifier and
// sinks with it, positions counted from the sequence's start), its output
// inserted at the sequence's rows. The work is Σ_s n_s m_s pairs (a causal
// mask: Σ n_s (n_s + 1) / 2), not (Σ n_s)(Σ m_s): no tile of one sequence
// meets another's keys, and every strategy lowers each sequence's attention
// as it would a batch row's. Rows of no sequence stay 0 (lse -inf).
//
// The offsets are clamped as they are read, so that no input reads outside
// q, k or v: a start to [0, N] (or S), an end to [start, N]: an end below
// its start is an empty sequence. (The runtime refuses offsets outside
// [0, N] before the call.)
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/IR/IndexBuilder.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <limits>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDECOMPOSESEQUENCESPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct DecomposeSequences : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    Value queryOffsets = op.getQueryOffsets();
    if (!queryOffsets)
      return rewriter.notifyMatchFailure(op, "no sequences");
    Location loc = op.getLoc();
    IndexBuilder ib(rewriter, loc);
    GenericBuilder gb(rewriter, loc);
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    Value numQueries = ib.dim(q, 2), numKeys = ib.dim(k, 2);
    Value sequences = ib.max(ib.sub(ib.dim(queryOffsets, 0), ib.c(1)), ib.c(0));

    // Zeros and -inf where no sequence writes: out (1, H, N, Dv), lse
    // (1, H, N), sized from q and v.
    auto outType = cast<RankedTensorType>(op.getResult().getType());
    SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(rewriter, loc, q);
    sizes[3] = tensor::getMixedSize(rewriter, loc, v, 3);
    SmallVector<Value> inits = {
        gb.tensor(sizes, outType.getElementType(), 0.0)};
    if (op.getLse())
      inits.push_back(gb.tensor(ArrayRef(sizes).take_front(3),
                                rewriter.getF32Type(),
                                -std::numeric_limits<double>::infinity()));

    auto loop = scf::ForOp::create(
        rewriter, loc, ib.c(0), sequences, ib.c(1), inits,
        [&](OpBuilder &b, Location l, Value s, ValueRange acc) {
          IndexBuilder lb(b, l);
          // [begin, end) of sequence s in `offsets`, clamped to [0, size].
          auto range = [&](Value offsets, Value size) {
            auto at = [&](Value index) {
              Value offset = tensor::ExtractOp::create(b, l, offsets, index);
              return arith::IndexCastOp::create(b, l, b.getIndexType(), offset)
                  .getResult();
            };
            Value begin = lb.min(lb.max(at(s), lb.c(0)), size);
            Value end = lb.min(lb.max(at(lb.add(s, lb.c(1))), begin), size);
            return std::pair{begin, lb.sub(end, begin)};
          };
          Value queryBegin, queryCount, keyBegin, keyCount;
          std::tie(queryBegin, queryCount) = range(queryOffsets, numQueries);
          std::tie(keyBegin, keyCount) = range(op.getKeyOffsets(), numKeys);
          // Rows [begin, begin + count) of dimension 2 of x.
          auto rows = [&](Value x, Value begin, Value count) {
            auto type = cast<RankedTensorType>(x.getType());
            SmallVector<OpFoldResult> offsets = {
                b.getIndexAttr(0), b.getIndexAttr(0), begin, b.getIndexAttr(0)};
            SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, l, x);
            sizes[2] = count;
            offsets.resize(type.getRank());
            sizes.resize(type.getRank());
            SmallVector<OpFoldResult> strides(type.getRank(),
                                              b.getIndexAttr(1));
            return tensor::ExtractSliceOp::create(b, l, x, offsets, sizes,
                                                  strides)
                .getResult();
          };
          auto withDynamicRows = [](Type type) {
            auto tensor = cast<RankedTensorType>(type);
            SmallVector<int64_t> shape(tensor.getShape());
            shape[2] = ShapedType::kDynamic;
            return RankedTensorType::get(shape, tensor.getElementType());
          };
          Value lse = op.getLse();
          auto attention = AttentionOp::create(
              b, l, withDynamicRows(outType),
              lse ? withDynamicRows(lse.getType()) : Type(),
              rows(q, queryBegin, queryCount), rows(k, keyBegin, keyCount),
              rows(v, keyBegin, keyCount), /*key_lengths=*/Value(),
              op.getSinks(), /*query_offsets=*/Value(),
              /*key_offsets=*/Value(), op.getMaskAttr(), op.getScaleAttr(),
              op.getScoreModAttr());
          if (Attribute strategy = op->getAttr(kStrategyAttr))
            attention->setAttr(kStrategyAttr, strategy);
          // Back at the sequence's rows.
          auto place = [&](Value part, Value into) {
            auto type = cast<RankedTensorType>(into.getType());
            SmallVector<OpFoldResult> offsets = {b.getIndexAttr(0),
                                                 b.getIndexAttr(0), queryBegin,
                                                 b.getIndexAttr(0)};
            offsets.resize(type.getRank());
            SmallVector<OpFoldResult> strides(type.getRank(),
                                              b.getIndexAttr(1));
            return tensor::InsertSliceOp::create(
                       b, l, part, into, offsets,
                       tensor::getMixedSizes(b, l, part), strides)
                .getResult();
          };
          SmallVector<Value> results = {place(attention.getResult(), acc[0])};
          if (lse)
            results.push_back(place(attention.getLse(), acc[1]));
          scf::YieldOp::create(b, l, results);
        });
    SmallVector<Value> results;
    for (auto [value, result] : llvm::zip(loop.getResults(), op->getResults()))
      results.push_back(
          value.getType() == result.getType()
              ? Value(value)
              : tensor::CastOp::create(rewriter, loc, result.getType(), value)
                    .getResult());
    rewriter.replaceOp(op, results);
    return success();
  }
};

struct AttnDecomposeSequencesPass
    : attn::impl::AttnDecomposeSequencesPassBase<AttnDecomposeSequencesPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeSequences>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
