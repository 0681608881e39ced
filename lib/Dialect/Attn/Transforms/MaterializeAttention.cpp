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
// attn.attention_grad, the same way, from the forward's out and lse:
//
//   x, as above
//   p[b,hk,g,i,j]  = lse == -inf ? 0 : exp(x - lse)
//   dd[b,hk,g,i]   = sum_e dout * out                 (= sum_j p dP)
//   dp[b,hk,g,i,j] = sum_e dout[i,e] * v[j,e]
//   ds[b,hk,g,i,j] = p == 0 ? 0 : p * (dp - dd)
//   dv[b,hk,j,e]   = sum_(g,i) p * dout[i,e]
//   dq[b,hk,g,i,d] = scale * sum_j ds * k[j,d]
//   dk[b,hk,j,d]   = scale * sum_(g,i) ds * q[i,d]
//
// The sums over (g, i) add the gradients of the query heads that share a
// key/value head. A key past its row's key length has p = 0 and ds = 0
// (selected, not multiplied: what padding holds may be NaN), and its k
// enters dq as 0. This is the O(N S) memory strategy; the tiled backward
// recomputes p per tile instead.
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

/// rows[b,hk,g,i,:] . keys[b,hk,j,:] for every key j, over (b, hk, g, i, j,
/// x): (B, Hkv, G, N, S) in f32. q k^T, and dout v^T.
Value rowsTimesKeys(GenericBuilder &gb, Value rows, Value keys,
                    ArrayRef<OpFoldResult> scoreSizes) {
  return gb.generic({rows, keys},
                    gb.tensor(scoreSizes, Float32Type::get(rows.getContext()),
                              0.0),
                    {gb.map(6, {0, 1, 2, 3, 5}), gb.map(6, {0, 1, 4, 5}),
                     gb.map(6, {0, 1, 2, 3, 4})},
                    {kPar, kPar, kPar, kPar, kPar, kRed}, multiplyAdd);
}

/// sum over (g, i) of weights[b,hk,g,i,j] rows[b,hk,g,i,:], over (b, hk, j,
/// x, g, i): (B, Hkv, S, X) in f32, summing the query heads that share a
/// key/value head. p^T dout, and ds^T q.
Value weightsTimesRows(GenericBuilder &gb, Value weights, Value rows,
                       ArrayRef<OpFoldResult> keySizes) {
  return gb.generic({weights, rows},
                    gb.tensor(keySizes, Float32Type::get(rows.getContext()),
                              0.0),
                    {gb.map(6, {0, 1, 4, 5, 2}), gb.map(6, {0, 1, 4, 5, 3}),
                     gb.map(6, {0, 1, 2, 3})},
                    {kPar, kPar, kPar, kPar, kRed, kRed}, multiplyAdd);
}

/// `x` at key index `keyDim` of the iteration where that key is one of its
/// batch row's valid keys, else 0: keys past the key length may hold
/// anything (NaN), and a weight of 0 times them must not count.
Value zeroPastKeyLength(OpBuilder &b, Location l, Value x, Value length,
                        unsigned keyDim, Value numKeys) {
  if (!length)
    return x;
  Value key = linalg::IndexOp::create(b, l, keyDim);
  Value valid = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt, key,
                                      buildValidKeys(b, l, length, numKeys));
  return arith::SelectOp::create(
      b, l, valid, x, arith::ConstantOp::create(b, l, b.getF32FloatAttr(0)));
}

/// sum over j of weights[b,hk,g,i,j] keys[b,hk,j,:], over (b, hk, g, i, j,
/// x) with x innermost and contiguous: (B, Hkv, G, N, X) in f32. p v, and
/// ds k. A key past its row's key length adds nothing: the weight is 0
/// there, and 0 times what such a row holds, NaN or inf, must not count.
Value weightsTimesKeys(GenericBuilder &gb, Value weights, Value keys,
                       Value keyLengths, Value numKeys,
                       ArrayRef<OpFoldResult> rowSizes) {
  SmallVector<Value> inputs = {weights, keys};
  SmallVector<AffineMap> maps = {gb.map(6, {0, 1, 2, 3, 4}),
                                 gb.map(6, {0, 1, 4, 5})};
  if (keyLengths) {
    inputs.push_back(keyLengths);
    maps.push_back(gb.map(6, {0}));
  }
  maps.push_back(gb.map(6, {0, 1, 2, 3, 5}));
  return gb.generic(
      inputs,
      gb.tensor(rowSizes, Float32Type::get(keys.getContext()), 0.0), maps,
      {kPar, kPar, kPar, kPar, kRed, kPar},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value key = zeroPastKeyLength(b, l, toF32(b, l, a[1]),
                                      keyLengths ? a[2] : Value(), 4, numKeys);
        return multiplyAdd(b, l, {a[0], key, a.back()});
      });
}

/// row == -inf ? 0 : exp(x - row) for the (B, Hkv, G, N, S) scores x, in
/// their place: with the row max, the forward's unnormalized weights; with
/// the log-sum-exp, the softmax itself. A row that sees no key (-inf) gets
/// zeros, not the NaN of -inf - -inf.
Value softmaxWeights(GenericBuilder &gb, Value logits, Value row) {
  return gb.generic(
      {logits, row}, logits,
      {gb.map(5, {0, 1, 2, 3, 4}), gb.map(5, {0, 1, 2, 3}),
       gb.map(5, {0, 1, 2, 3, 4})},
      {kPar, kPar, kPar, kPar, kPar},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value negInf = arith::ConstantOp::create(
            b, l, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
        Value zero = arith::ConstantOp::create(b, l, b.getF32FloatAttr(0));
        Value empty = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                            a[1], negInf);
        Value e =
            math::ExpOp::create(b, l, arith::SubFOp::create(b, l, a[0], a[1]));
        return arith::SelectOp::create(b, l, empty, zero, e);
      });
}

/// `x` (B, H, N, ...) viewed as (B, Hkv, G, N, ...): query head h = hk * G + g.
Value splitQueryHeads(OpBuilder &b, Location loc, Value x, int64_t kvHeads,
                      int64_t group) {
  auto type = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> shape = {type.getDimSize(0), kvHeads, group};
  SmallVector<OpFoldResult> sizes = {tensor::getMixedSize(b, loc, x, 0),
                                     b.getIndexAttr(kvHeads),
                                     b.getIndexAttr(group)};
  SmallVector<ReassociationIndices> reassociation = {{0}, {1, 2}};
  for (int64_t dim = 2; dim < type.getRank(); ++dim) {
    shape.push_back(type.getDimSize(dim));
    sizes.push_back(tensor::getMixedSize(b, loc, x, dim));
    reassociation.push_back({dim + 1});
  }
  return tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get(shape, type.getElementType()), x,
      reassociation, sizes);
}

/// (B, Hkv, G, N, ...) back to (B, H, N, ...), cast to `type`.
Value mergeQueryHeads(OpBuilder &b, Location loc, Value x, Type type) {
  int64_t rank = cast<RankedTensorType>(x.getType()).getRank();
  SmallVector<ReassociationIndices> reassociation = {{0}, {1, 2}};
  for (int64_t dim = 3; dim < rank; ++dim)
    reassociation.push_back({dim});
  Value merged = tensor::CollapseShapeOp::create(b, loc, x, reassociation);
  if (merged.getType() != type)
    merged = tensor::CastOp::create(b, loc, type, merged);
  return merged;
}

/// The masked, scaled scores of the (B, Hkv, G, N, S) view, in f32:
///   x[b,hk,g,i,j] = visible(i, j) ? f(scale * q5[b,hk,g,i] . k[b,hk,j]) : -inf
/// where visible applies the key length of b and the mask of head
/// hk * G + g, and f is the score modifier (the identity without one),
/// applied before the mask hides a score.
Value buildMaskedScores(OpBuilder &rewriter, Location loc, GenericBuilder &gb,
                        Value q5, Value k, Value keyLengths,
                        MaskAttrInterface mask, double scale, int64_t group,
                        ArrayRef<OpFoldResult> scoreSizes,
                        ScoreModAttrInterface mod = {}) {
  // s = q . k over (b, hk, g, i, j, d).
  Value scores = rowsTimesKeys(gb, q5, k, scoreSizes);

  // x = visible ? scale * s : -inf, in place of s.
  Value numQueries =
      getValueOrCreateConstantIndexOp(rewriter, loc, scoreSizes[3]);
  Value numKeys = getValueOrCreateConstantIndexOp(rewriter, loc, scoreSizes[4]);
  int64_t numHeads = cast<RankedTensorType>(q5.getType()).getDimSize(1) * group;
  SmallVector<Value> maskInputs = {scores};
  SmallVector<AffineMap> maskMaps = {gb.map(5, {0, 1, 2, 3, 4})};
  if (keyLengths) {
    maskInputs.push_back(keyLengths);
    maskMaps.push_back(gb.map(5, {0}));
  }
  maskMaps.push_back(gb.map(5, {0, 1, 2, 3, 4}));
  return gb.generic(
      maskInputs, scores, maskMaps, {kPar, kPar, kPar, kPar, kPar},
      [&](OpBuilder &b, Location l, ValueRange a) -> Value {
        Value scaled = arith::MulFOp::create(
            b, l, a[0],
            arith::ConstantOp::create(b, l, b.getF32FloatAttr(scale)));
        Value row = linalg::IndexOp::create(b, l, 3);
        Value col = linalg::IndexOp::create(b, l, 4);
        // Query head h = hk * G + g of the (B, Hkv, G, N, S) scores.
        Value head = arith::AddIOp::create(
            b, l,
            arith::MulIOp::create(b, l, linalg::IndexOp::create(b, l, 1),
                                  arith::ConstantIndexOp::create(b, l, group)),
            linalg::IndexOp::create(b, l, 2));
        // The valid keys of this batch row: clamp(len, 0, S).
        Value valid =
            keyLengths ? buildValidKeys(b, l, a[1], numKeys) : numKeys;
        if (mod)
          scaled = mod.buildModifiedScore(
              b, l, scaled, 1.0,
              {row, col, numQueries, valid, head, numHeads});
        if (!keyLengths && !mask)
          return scaled;
        Value visible;
        if (keyLengths)
          visible = arith::CmpIOp::create(b, l, arith::CmpIPredicate::slt,
                                          col, valid);
        if (mask) {
          Value inMask =
              mask.buildIsVisible(b, l, row, col, numQueries, valid, head);
          visible =
              visible ? arith::AndIOp::create(b, l, visible, inMask).getResult()
                      : inMask;
        }
        Value negInf = arith::ConstantOp::create(
            b, l, b.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
        return arith::SelectOp::create(b, l, visible, scaled, negInf);
      });
}


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
    int64_t valueDim = vType.getDimSize(3);

    OpFoldResult batch = tensor::getMixedSize(rewriter, loc, q, 0);
    OpFoldResult queries = tensor::getMixedSize(rewriter, loc, q, 2);
    OpFoldResult keys = tensor::getMixedSize(rewriter, loc, k, 2);
    OpFoldResult hk = rewriter.getIndexAttr(kvHeads);
    OpFoldResult g = rewriter.getIndexAttr(group);

    Value q5 = splitQueryHeads(rewriter, loc, q, kvHeads, group);
    GenericBuilder gb(rewriter, loc);
    SmallVector<OpFoldResult> rowSizes = {batch, hk, g, queries};
    SmallVector<OpFoldResult> scoreSizes = {batch, hk, g, queries, keys};
    Value keyLengths = op.getKeyLengths();
    Value numKeys = getValueOrCreateConstantIndexOp(rewriter, loc, keys);
    Value logits = buildMaskedScores(
        rewriter, loc, gb, q5, k, keyLengths, op.getEffectiveMask(),
        op.getScaleOrDefault(), group, scoreSizes, op.getScoreModAttr());

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
    Value probs = softmaxWeights(gb, logits, rowMax);

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
    Value acc = weightsTimesKeys(gb, probs, v, keyLengths, numKeys, outSizes);

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
        mergeQueryHeads(rewriter, loc, out5, op.getResult().getType());
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
    Value lse = mergeQueryHeads(rewriter, loc, lse5, op.getLse().getType());
    rewriter.replaceOp(op, {out, lse});
    return success();
  }
};

struct MaterializeAttentionGrad : OpRewritePattern<AttentionGradOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionGradOp op,
                                PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    Type f32 = rewriter.getF32Type();
    int64_t kvHeads = op.getNumKVHeads();
    int64_t group = op.getNumHeads() / kvHeads;
    int64_t headDim = cast<RankedTensorType>(q.getType()).getDimSize(3);
    int64_t valueDim = cast<RankedTensorType>(v.getType()).getDimSize(3);
    double scale = op.getScaleOrDefault();

    OpFoldResult batch = tensor::getMixedSize(rewriter, loc, q, 0);
    OpFoldResult queries = tensor::getMixedSize(rewriter, loc, q, 2);
    OpFoldResult keys = tensor::getMixedSize(rewriter, loc, k, 2);
    OpFoldResult hk = rewriter.getIndexAttr(kvHeads);
    OpFoldResult g = rewriter.getIndexAttr(group);
    OpFoldResult d = rewriter.getIndexAttr(headDim);
    OpFoldResult dv = rewriter.getIndexAttr(valueDim);
    SmallVector<OpFoldResult> rowSizes = {batch, hk, g, queries};
    SmallVector<OpFoldResult> scoreSizes = {batch, hk, g, queries, keys};
    Value numKeys = getValueOrCreateConstantIndexOp(rewriter, loc, keys);
    Value keyLengths = op.getKeyLengths();

    Value q5 = splitQueryHeads(rewriter, loc, q, kvHeads, group);
    Value out5 = splitQueryHeads(rewriter, loc, op.getOutput(), kvHeads, group);
    Value dout5 =
        splitQueryHeads(rewriter, loc, op.getOutputGrad(), kvHeads, group);
    Value lse4 = splitQueryHeads(rewriter, loc, op.getLse(), kvHeads, group);
    GenericBuilder gb(rewriter, loc);
    ScoreModAttrInterface mod = op.getScoreModAttr();
    Value logits = buildMaskedScores(rewriter, loc, gb, q5, k, keyLengths,
                                     op.getEffectiveMask(), scale, group,
                                     scoreSizes, mod);
    Value zero = arith::ConstantOp::create(rewriter, loc,
                                           rewriter.getF32FloatAttr(0));
    SmallVector<utils::IteratorType> par5(5, kPar);

    // p = lse == -inf ? 0 : exp(x - lse), in place of x.
    Value probs = softmaxWeights(gb, logits, lse4);

    // dd = sum_e dout * out
    Value rowDots = gb.generic(
        {dout5, out5}, gb.tensor(rowSizes, f32, 0.0),
        {gb.map(5, {0, 1, 2, 3, 4}), gb.map(5, {0, 1, 2, 3, 4}),
         gb.map(5, {0, 1, 2, 3})},
        {kPar, kPar, kPar, kPar, kRed}, multiplyAdd);

    // dp = dout . v over (b, hk, g, i, j, e).
    Value dp = rowsTimesKeys(gb, dout5, v, scoreSizes);

    // ds = p == 0 ? 0 : p * (dp - dd) [* f'(s)], in place of dp; f'(s)
    // from the modified logits x = f(s) (any value where hidden: ds
    // selects 0 there), none when f' = 1 (canonicalization then drops the
    // unread inputs).
    SmallVector<Value> dsInputs = {probs, rowDots};
    SmallVector<AffineMap> dsMaps = {gb.map(5, {0, 1, 2, 3, 4}),
                                     gb.map(5, {0, 1, 2, 3})};
    if (mod) {
      dsInputs.push_back(logits);
      dsMaps.push_back(gb.map(5, {0, 1, 2, 3, 4}));
      if (keyLengths) {
        dsInputs.push_back(keyLengths);
        dsMaps.push_back(gb.map(5, {0}));
      }
    }
    dsMaps.push_back(gb.map(5, {0, 1, 2, 3, 4}));
    Value numQueries = getValueOrCreateConstantIndexOp(rewriter, loc, queries);
    Value ds = gb.generic(
        dsInputs, dp, dsMaps, par5,
        [&](OpBuilder &b, Location l, ValueRange a) -> Value {
          Value none = arith::CmpFOp::create(b, l, arith::CmpFPredicate::OEQ,
                                             a[0], zero);
          Value grad = arith::MulFOp::create(
              b, l, a[0], arith::SubFOp::create(b, l, a.back(), a[1]));
          if (mod) {
            IndexBuilder ib(b, l);
            Value valid =
                keyLengths ? buildValidKeys(b, l, a[3], numKeys) : numKeys;
            Value head = ib.add(
                ib.mul(linalg::IndexOp::create(b, l, 1), ib.c(group)),
                linalg::IndexOp::create(b, l, 2));
            if (Value derivative = mod.buildDerivative(
                    b, l, a[2], 1.0,
                    {linalg::IndexOp::create(b, l, 3),
                     linalg::IndexOp::create(b, l, 4), numQueries, valid,
                     head, op.getNumHeads()}))
              grad = arith::MulFOp::create(b, l, grad, derivative);
          }
          return arith::SelectOp::create(b, l, none, zero, grad);
        });

    // dv = sum_(g,i) p * dout over (b, hk, j, e, g, i).
    Value dvSum = weightsTimesRows(gb, probs, dout5, {batch, hk, keys, dv});

    // dq = scale * sum_j ds * k over (b, hk, g, i, d, j); keys past the key
    // length count as 0.
    Value dqSum = weightsTimesKeys(gb, ds, k, keyLengths, numKeys,
                                   {batch, hk, g, queries, d});

    // dk = scale * sum_(g,i) ds * q over (b, hk, j, d, g, i).
    Value dkSum = weightsTimesRows(gb, ds, q5, {batch, hk, keys, d});

    // Each gradient scaled (dv by 1) and in its operand's element type.
    auto finish = [&](Value sum, double factor, Type type) {
      return scaleElements(rewriter, loc, sum, factor,
                           getElementTypeOrSelf(type));
    };
    auto castTo = [&](Value x, Type type) -> Value {
      return x.getType() == type
                 ? x
                 : tensor::CastOp::create(rewriter, loc, type, x).getResult();
    };
    Value dq = mergeQueryHeads(
        rewriter, loc, finish(dqSum, scale, op.getQueryGrad().getType()),
        op.getQueryGrad().getType());
    Value dk = castTo(finish(dkSum, scale, op.getKeyGrad().getType()),
                      op.getKeyGrad().getType());
    Value dvOut = castTo(finish(dvSum, 1.0, op.getValueGrad().getType()),
                         op.getValueGrad().getType());
    rewriter.replaceOp(op, {dq, dk, dvOut});
    return success();
  }
};

struct AttnMaterializeAttentionPass
    : attn::impl::AttnMaterializeAttentionPassBase<
          AttnMaterializeAttentionPass> {
  void runOnOperation() override {
    if (failed(verifyDecomposedClauses(getOperation(), getArgument())))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    populateMaterializeAttentionPatterns(patterns);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace

void mlir::attn::populateMaterializeAttentionPatterns(
    RewritePatternSet &patterns) {
  patterns.add<MaterializeAttention, MaterializeAttentionGrad>(
      patterns.getContext());
}
