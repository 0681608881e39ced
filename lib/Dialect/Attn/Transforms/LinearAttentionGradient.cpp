//===- LinearAttentionGradient.cpp - linear attention's backward ----------===//
//
// The gradients of attn.linear_attention (for attn-generate-gradients), in
// f32, as linalg ops. With Fq = phi(q), Fk = phi(k) and Va = [v, 1] (both 0
// past a key length), the state S = S0 + sum_j Fk_j^T Va_j (D x W, W =
// Dv + 1) and y_i = Fq_i S_i = [num_i, den_i - eps], out_i = num_i / den_i.
// The gradient of out_i with respect to y_i, given dout_i, is
//
//     g_i = [dout_i / den_i, -(dout_i . num_i) / den_i^2]        (W)
//
// and the rest is the chain rule through the products:
//
// * without `causal` every row reads the one state S:
//     dFq = g S^T,   G = sum over the group's heads and rows of Fq^T g
//     (= dS0),   dFk = Va G^T,   dVa = Fk G,   dv = dVa[:, :Dv].
//   O((N + S) D W) like the forward.
// * causal: row i reads S_i = S0 + sum_{j <= i} Fk_j^T Va_j, so key j
//   receives G_j = sum_{i >= j} Fq_i^T g_i: the state's gradient is a
//   reverse scan. As the forward's chunked form, in chunks of C = 64
//   tokens (t is a chunk, c and c' positions in it; P_t the state before
//   chunk t, Q_t the sum of Fq^T g over the chunks after it):
//     A  = tril(Fq_t Fk_t^T),   y  = Fq_t P_t + A Va_t
//     Bm = tril(g_t Va_t^T),    dFq = g_t P_t^T + Bm Fk_t
//     dFk = Va_t Q_t^T + Bm^T Fq_t,   dVa = Fk_t Q_t + A^T g_t
//   (Bm^T Fq and A^T g sum over the group's heads too), P by a forward
//   scan of the chunks' Fk^T Va from S0, Q by a reverse scan of their
//   Fq^T g, whose total is dS0. O(N C D + N D W) per head, no N x N term.
//
// Then dq = dFq phi'(q), dk = dFk phi'(k) (FeatureMaps.h).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/LinearAttentionGradient.h"

#include "attn/Dialect/Attn/Transforms/FeatureMaps.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Tokens per chunk of the causal backward (the forward's default chunk).
constexpr int64_t kChunk = 64;

class LinearAttentionGradient {
public:
  LinearAttentionGradient(OpBuilder &b, Location loc, LinearAttentionOp op,
                          function_ref<void(Value, Value)> add)
      : b(b), loc(loc), gb(b, loc), op(op), add(add) {
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    kvHeads = cast<RankedTensorType>(op.getKey().getType()).getDimSize(1);
    group = qType.getDimSize(1) / kvHeads;
    headDim = qType.getDimSize(3);
    valueDim =
        cast<RankedTensorType>(op.getValue().getType()).getDimSize(3);
    width = valueDim + 1;
    map = op.getFeatureMap();
    numKeys = IndexBuilder(b, loc).dim(op.getKey(), 2);
    lastIndexOf(op.getValue());
  }

  void differentiate(Value dout) {
    if (op.getCausal())
      differentiateCausal(dout);
    else
      differentiateParallel(dout);
  }

private:
  // --- what both forms share ----------------------------------------------

  Value index(OpBuilder &nb, Location l, unsigned dim) {
    return linalg::IndexOp::create(nb, l, dim);
  }

  SmallVector<OpFoldResult> sizesOf(Value x) {
    return tensor::getMixedSizes(b, loc, x);
  }

  /// Whether key `key` of batch row `batch` is below its key length.
  Value isValidKey(OpBuilder &nb, Location l, Value batch, Value key) {
    IndexBuilder nib(nb, l);
    if (!op.getKeyLengths())
      return nib.lt(key, numKeys);
    Value length =
        tensor::ExtractOp::create(nb, l, op.getKeyLengths(), ValueRange{batch});
    return nib.lt(key, buildValidKeys(nb, l, length, numKeys));
  }

  /// Element `at` of `x` in f32 where `inside`, 0 elsewhere (`at` clamped
  /// into x, so that the read is in bounds whatever `inside` says). Called
  /// in a generic's body: x's sizes are taken before it (lastIndexOf).
  Value elementOrZero(OpBuilder &nb, Location l, Value x,
                      SmallVector<Value> at, Value inside) {
    IndexBuilder nib(nb, l);
    SmallVector<Value, 4> last = lastIndices.lookup(x);
    assert(last.size() == at.size() && "lastIndexOf(x) first");
    for (unsigned d = 0; d < at.size(); ++d)
      at[d] = nib.max(nib.min(at[d], last[d]), nib.c(0));
    return arith::SelectOp::create(
        nb, l, inside, toF32(nb, l, tensor::ExtractOp::create(nb, l, x, at)),
        f32Constant(nb, l, 0));
  }

  /// Records x's last index along each dimension (size - 1) for
  /// elementOrZero, computed here, outside any body.
  void lastIndexOf(Value x) {
    IndexBuilder ib(b, loc);
    auto &last = lastIndices[x];
    last.clear();
    for (int64_t d = 0; d < cast<RankedTensorType>(x.getType()).getRank(); ++d)
      last.push_back(ib.sub(ib.dim(x, d), ib.c(1)));
  }

  /// sum over the loops not in `outDims` of lhs * rhs (where `visible`, when
  /// given, holds), added to `init`, or to zeros of `sizes`.
  Value product(Value lhs, ArrayRef<unsigned> lhsDims, Value rhs,
                ArrayRef<unsigned> rhsDims, ArrayRef<unsigned> outDims,
                unsigned numLoops, Value init,
                function_ref<Value(OpBuilder &, Location)> visible = nullptr) {
    SmallVector<utils::IteratorType> iterators(numLoops, kRed);
    for (unsigned d : outDims)
      iterators[d] = kPar;
    return gb.generic(
        {lhs, rhs}, init,
        {gb.map(numLoops, lhsDims), gb.map(numLoops, rhsDims),
         gb.map(numLoops, outDims)},
        iterators, [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          Value sum = multiplyAdd(nb, l, a);
          if (!visible)
            return sum;
          return arith::SelectOp::create(nb, l, visible(nb, l), sum, a[2]);
        });
  }

  Value zeros(ArrayRef<OpFoldResult> sizes) {
    return gb.tensor(sizes, b.getF32Type(), 0.0);
  }

  /// g from y = [num, den - eps] and dout padded with a 0 column (both
  /// (..., W)): g = [dout / den, -(dout . num) / den^2].
  Value ratioGradient(Value y, Value doutPadded) {
    unsigned rank = cast<RankedTensorType>(y.getType()).getRank();
    SmallVector<unsigned> rowDims;
    for (unsigned d = 0; d + 1 < rank; ++d)
      rowDims.push_back(d);
    SmallVector<unsigned> all = llvm::to_vector(llvm::seq(0u, rank));
    AffineMap id = gb.map(rank, all), row = gb.map(rank, rowDims);
    SmallVector<OpFoldResult> sizes = sizesOf(y);
    // dout . num = [dout, 0] . y.
    Value rowDots = product(doutPadded, all, y, all, rowDims, rank,
                            zeros(ArrayRef(sizes).drop_back()));
    return gb.generic(
        {y, doutPadded, rowDots}, gb.tensor(sizes, b.getF32Type()),
        {id, id, row, id}, SmallVector<utils::IteratorType>(rank, kPar),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          IndexBuilder nib(nb, l);
          SmallVector<Value> at;
          for (unsigned d = 0; d + 1 < rank; ++d)
            at.push_back(index(nb, l, d));
          at.push_back(nib.c(valueDim));
          Value den = arith::AddFOp::create(
              nb, l, tensor::ExtractOp::create(nb, l, y, at),
              f32Constant(nb, l, LinearAttentionOp::kEpsilon));
          Value numPart = arith::DivFOp::create(nb, l, a[1], den);
          Value denPart = arith::NegFOp::create(
              nb, l,
              arith::DivFOp::create(nb, l, a[2],
                                    arith::MulFOp::create(nb, l, den, den)));
          return arith::SelectOp::create(
              nb, l, nib.lt(index(nb, l, rank - 1), nib.c(valueDim)), numPart,
              denPart);
        });
  }

  /// dphi * phi'(x), elementwise (x's shape).
  Value chain(Value dphi, Value x) {
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, b.getContext());
    return gb.generic(
        {dphi, x}, gb.tensor(sizesOf(x), b.getF32Type()), {id, id, id},
        SmallVector<utils::IteratorType>(4, kPar),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          return arith::MulFOp::create(
              nb, l, a[0],
              applyFeatureDerivative(nb, l, map, toF32(nb, l, a[1])));
        });
  }

  /// The initial state, or zeros (B, Hkv, D, W).
  Value initialState() {
    if (Value state = op.getInitialState())
      return state;
    return zeros({tensor::getMixedSize(b, loc, op.getKey(), 0),
                  b.getIndexAttr(kvHeads), b.getIndexAttr(headDim),
                  b.getIndexAttr(width)});
  }

  // --- without causal -----------------------------------------------------

  void differentiateParallel(Value dout) {
    Type f32 = b.getF32Type();
    Value q = op.getQuery(), k = op.getKey(), v = op.getValue();
    AffineMap id4 = AffineMap::getMultiDimIdentityMap(4, b.getContext());
    SmallVector<utils::IteratorType> par4(4, kPar);
    auto featureOf = [&](Value x, bool keys) {
      return gb.generic(
          {x}, gb.tensor(sizesOf(x), f32), {id4, id4}, par4,
          [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
            Value phi = applyFeature(nb, l, map, toF32(nb, l, a[0]));
            if (!keys)
              return phi;
            return arith::SelectOp::create(
                nb, l, isValidKey(nb, l, index(nb, l, 0), index(nb, l, 2)),
                phi, f32Constant(nb, l, 0));
          });
    };
    Value fq = featureOf(q, false), fk = featureOf(k, true);
    // [v, 1], 0 for the invalid keys (their v may hold NaN).
    SmallVector<OpFoldResult> vaSizes = sizesOf(v);
    vaSizes[3] = b.getIndexAttr(width);
    Value va = gb.generic(
        {}, gb.tensor(vaSizes, f32), {id4}, par4,
        [&](OpBuilder &nb, Location l, ValueRange) -> Value {
          return augmentedValue(nb, l, index(nb, l, 0), index(nb, l, 1),
                                index(nb, l, 2), index(nb, l, 3));
        });
    // S[b, g, d, e] = S0 + sum_j Fk[b, g, j, d] Va[b, g, j, e].
    Value state = product(fk, {0, 1, 4, 2}, va, {0, 1, 4, 3}, {0, 1, 2, 3}, 5,
                          initialState());
    // The query side per K/V head and group member: (B, Hkv, G, N, W).
    auto grouped = [&](Value x) -> Value {
      auto type = cast<RankedTensorType>(x.getType());
      SmallVector<int64_t> shape(type.getShape());
      shape[1] = kvHeads;
      shape.insert(shape.begin() + 2, group);
      SmallVector<OpFoldResult> s = sizesOf(x);
      s[1] = b.getIndexAttr(kvHeads);
      s.insert(s.begin() + 2, b.getIndexAttr(group));
      return tensor::ExpandShapeOp::create(
          b, loc, RankedTensorType::get(shape, type.getElementType()), x,
          ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}}, s);
    };
    Value fqG = grouped(fq);
    // y[b, g, m, i, e] = sum_d Fq[b, g, m, i, d] S[b, g, d, e].
    SmallVector<OpFoldResult> ySizes = sizesOf(fqG);
    ySizes[4] = b.getIndexAttr(width);
    Value y = product(fqG, {0, 1, 2, 3, 5}, state, {0, 1, 5, 4},
                      {0, 1, 2, 3, 4}, 6, zeros(ySizes));
    Value doutG = grouped(convertElements(b, loc, dout, f32));
    lastIndexOf(doutG);
    Value doutPadded = gb.generic(
        {}, gb.tensor(ySizes, f32),
        {gb.map(5, {0, 1, 2, 3, 4})}, SmallVector<utils::IteratorType>(5, kPar),
        [&](OpBuilder &nb, Location l, ValueRange) -> Value {
          IndexBuilder nib(nb, l);
          SmallVector<Value> at;
          for (unsigned d = 0; d < 5; ++d)
            at.push_back(index(nb, l, d));
          return elementOrZero(nb, l, doutG, at,
                               nib.lt(at.back(), nib.c(valueDim)));
        });
    Value g = ratioGradient(y, doutPadded);
    // dq = (g S^T) phi'(q).
    Value dfq = product(g, {0, 1, 2, 3, 5}, state, {0, 1, 4, 5},
                        {0, 1, 2, 3, 4}, 6, zeros(sizesOf(fqG)));
    add(q, chain(tensor::CollapseShapeOp::create(
                     b, loc, dfq,
                     ArrayRef<ReassociationIndices>{{0}, {1, 2}, {3}, {4}}),
                 q));
    // G[b, g, d, e] = sum over the group's heads m and rows i of
    // Fq[b, g, m, i, d] g[b, g, m, i, e].
    Value bigG = product(fqG, {0, 1, 4, 5, 2}, g, {0, 1, 4, 5, 3},
                         {0, 1, 2, 3}, 6, zeros(sizesOf(state)));
    if (op.getInitialState())
      add(op.getInitialState(), bigG);
    // dk = (Va G^T) phi'(k); dv[b, g, j, e] = sum_d Fk[b, g, j, d] G[b, g,
    // d, e] for e < Dv (0 past a key length: Va and Fk are).
    add(k, chain(product(va, {0, 1, 2, 4}, bigG, {0, 1, 3, 4}, {0, 1, 2, 3},
                         5, zeros(sizesOf(k))),
                 k));
    Value dva = product(fk, {0, 1, 2, 4}, bigG, {0, 1, 4, 3}, {0, 1, 2, 3}, 5,
                        zeros(vaSizes));
    add(v, valueGradient(dva, [](OpBuilder &, Location, ArrayRef<Value> i) {
          return SmallVector<Value>(i);
        }));
  }

  /// [v, 1] at (batch, K/V head, key, e), 0 past the key length.
  Value augmentedValue(OpBuilder &nb, Location l, Value batch, Value head,
                       Value key, Value e) {
    IndexBuilder nib(nb, l);
    Value x = arith::SelectOp::create(
        nb, l, nib.lt(e, nib.c(valueDim)),
        elementOrZero(nb, l, op.getValue(), {batch, head, key, e},
                      nib.truth(true)),
        f32Constant(nb, l, 1));
    return arith::SelectOp::create(nb, l, isValidKey(nb, l, batch, key), x,
                                   f32Constant(nb, l, 0));
  }

  /// A tensor of `like`'s shape (f32) whose element at `at` is
  /// element(at, like[at]) (the gradients in their operand's layout; sized
  /// by tensor.dim of the operand, which the runtime's signature follows).
  Value gatherInto(Value like,
                   function_ref<Value(OpBuilder &, Location, ArrayRef<Value>,
                                      Value)>
                       element) {
    AffineMap id = AffineMap::getMultiDimIdentityMap(4, b.getContext());
    return gb.generic(
        {like}, gb.tensor(sizesOf(like), b.getF32Type()), {id, id},
        SmallVector<utils::IteratorType>(4, kPar),
        [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
          SmallVector<Value> at;
          for (unsigned d = 0; d < 4; ++d)
            at.push_back(index(nb, l, d));
          return element(nb, l, at, toF32(nb, l, a[0]));
        });
  }

  /// dv from dVa = [dv, dz] (drops the normalizer's column); `at` maps an
  /// element of v to dVa's.
  Value valueGradient(Value dva,
                      function_ref<SmallVector<Value>(OpBuilder &, Location,
                                                      ArrayRef<Value>)>
                          at) {
    return gatherInto(op.getValue(),
                      [&](OpBuilder &nb, Location l, ArrayRef<Value> i,
                          Value) -> Value {
                        return tensor::ExtractOp::create(nb, l, dva,
                                                         at(nb, l, i));
                      });
  }

  // --- causal -------------------------------------------------------------

  /// The exclusive scan over the chunks t (dim 2) of `parts` (B, Hkv, T, D,
  /// W) from `init` (B, Hkv, D, W): at t, init plus the parts before t (or,
  /// reversed, after t). A loop over the T chunks, O(T D W) per head.
  Value scanChunks(Value parts, Value init, bool reverse) {
    IndexBuilder ib(b, loc);
    auto partsType = cast<RankedTensorType>(parts.getType());
    auto stateType = cast<RankedTensorType>(init.getType());
    SmallVector<OpFoldResult> partsSizes = sizesOf(parts);
    Value chunks = ib.dim(parts, 2);
    auto loop = scf::ForOp::create(
        b, loc, ib.c(0), chunks, ib.c(1),
        ValueRange{gb.tensor(partsSizes, b.getF32Type()), init},
        [&](OpBuilder &nb, Location l, Value s, ValueRange carried) {
          IndexBuilder nib(nb, l);
          Value t = reverse ? nib.sub(nib.sub(chunks, nib.c(1)), s) : s;
          SmallVector<OpFoldResult> offsets(5, nb.getIndexAttr(0));
          offsets[2] = t;
          SmallVector<OpFoldResult> sizes(partsSizes);
          sizes[2] = nb.getIndexAttr(1);
          SmallVector<OpFoldResult> strides(5, nb.getIndexAttr(1));
          Value scanned = tensor::InsertSliceOp::create(
              nb, l, carried[1], carried[0], offsets, sizes, strides);
          Value part = tensor::ExtractSliceOp::create(
              nb, l, RankedTensorType::get(stateType.getShape(),
                                           partsType.getElementType()),
              parts, offsets, sizes, strides);
          // running += part, in place (the loop's state stays one buffer).
          unsigned rank = stateType.getRank();
          AffineMap id = AffineMap::getMultiDimIdentityMap(rank, nb.getContext());
          Value running =
              GenericBuilder(nb, l)
                  .generic({part}, carried[1], {id, id},
                           SmallVector<utils::IteratorType>(rank, kPar),
                           [](OpBuilder &ab, Location al, ValueRange a) {
                             return arith::AddFOp::create(ab, al, a[0], a[1])
                                 .getResult();
                           });
          scf::YieldOp::create(nb, l, ValueRange{scanned, running});
        });
    return loop.getResult(0);
  }

  void differentiateCausal(Value dout) {
    Type f32 = b.getF32Type();
    IndexBuilder ib(b, loc);
    Value q = op.getQuery(), k = op.getKey();
    Value numQueries = ib.dim(q, 2);
    OpFoldResult batch = tensor::getMixedSize(b, loc, q, 0);
    // (Causal linear attention has N = S.) Static when N is.
    int64_t staticQueries =
        cast<RankedTensorType>(q.getType()).getDimSize(2);
    OpFoldResult chunks =
        ShapedType::isDynamic(staticQueries)
            ? OpFoldResult(ib.ceilDiv(numQueries, ib.c(kChunk)))
            : OpFoldResult(b.getIndexAttr(llvm::divideCeil(staticQueries,
                                                           kChunk)));
    for (Value x : {q, k, dout})
      lastIndexOf(x);
    OpFoldResult hk = b.getIndexAttr(kvHeads), m = b.getIndexAttr(group),
                 c = b.getIndexAttr(kChunk), d = b.getIndexAttr(headDim),
                 w = b.getIndexAttr(width);
    // The chunked operands: token t C + c of chunk t, 0 past N (queries) or
    // the valid keys.
    auto chunked = [&](ArrayRef<OpFoldResult> sizes,
                       function_ref<Value(OpBuilder &, Location,
                                          ArrayRef<Value>)>
                           element) {
      unsigned rank = sizes.size();
      return gb.generic(
          {}, gb.tensor(sizes, f32),
          {gb.map(rank, llvm::to_vector(llvm::seq(0u, rank)))},
          SmallVector<utils::IteratorType>(rank, kPar),
          [&](OpBuilder &nb, Location l, ValueRange) -> Value {
            SmallVector<Value> at;
            for (unsigned i = 0; i < rank; ++i)
              at.push_back(index(nb, l, i));
            return element(nb, l, at);
          });
    };
    auto token = [&](OpBuilder &nb, Location l, Value t, Value pos) {
      IndexBuilder nib(nb, l);
      return nib.add(nib.mul(t, nib.c(kChunk)), pos);
    };
    // (b, g, m, t, c, x) of a query-side tensor: row t C + c of head g G + m.
    auto queryElement = [&](OpBuilder &nb, Location l, Value x,
                            ArrayRef<Value> at, Value inside) {
      IndexBuilder nib(nb, l);
      Value row = token(nb, l, at[3], at[4]);
      Value head = nib.add(nib.mul(at[1], nib.c(group)), at[2]);
      return elementOrZero(nb, l, x, {at[0], head, row, at[5]},
                           nib.both(inside, nib.lt(row, numQueries)));
    };
    Value fq = chunked({batch, hk, m, chunks, c, d},
                       [&](OpBuilder &nb, Location l, ArrayRef<Value> at) {
                         Value x = queryElement(nb, l, q, at,
                                                IndexBuilder(nb, l).truth(true));
                         return arith::SelectOp::create(
                             nb, l,
                             IndexBuilder(nb, l).lt(token(nb, l, at[3], at[4]),
                                                    numQueries),
                             applyFeature(nb, l, map, x),
                             f32Constant(nb, l, 0));
                       });
    Value doutPadded = chunked(
        {batch, hk, m, chunks, c, w},
        [&](OpBuilder &nb, Location l, ArrayRef<Value> at) {
          IndexBuilder nib(nb, l);
          return queryElement(nb, l, dout, at, nib.lt(at[5], nib.c(valueDim)));
        });
    Value fk = chunked({batch, hk, chunks, c, d},
                       [&](OpBuilder &nb, Location l, ArrayRef<Value> at) {
                         Value key = token(nb, l, at[2], at[3]);
                         Value x = elementOrZero(nb, l, k,
                                                 {at[0], at[1], key, at[4]},
                                                 IndexBuilder(nb, l).truth(true));
                         return arith::SelectOp::create(
                             nb, l, isValidKey(nb, l, at[0], key),
                             applyFeature(nb, l, map, x),
                             f32Constant(nb, l, 0));
                       });
    Value va = chunked({batch, hk, chunks, c, w},
                       [&](OpBuilder &nb, Location l, ArrayRef<Value> at) {
                         return augmentedValue(nb, l, at[0], at[1],
                                               token(nb, l, at[2], at[3]),
                                               at[4]);
                       });

    // P_t = S0 + the chunks' Fk^T Va before t.
    Value chunkStates = product(fk, {0, 1, 2, 5, 3}, va, {0, 1, 2, 5, 4},
                                {0, 1, 2, 3, 4}, 6,
                                zeros({batch, hk, chunks, d, w}));
    Value prefix = scanChunks(chunkStates, initialState(), false);
    // Within a chunk, key c' counts for row c when c' <= c (loops 4 and 5).
    auto lowerTriangle = [&](OpBuilder &nb, Location l) {
      return IndexBuilder(nb, l).le(index(nb, l, 5), index(nb, l, 4));
    };
    // A[b, g, m, t, c, c'] = tril(Fq_t Fk_t^T).
    Value a = product(fq, {0, 1, 2, 3, 4, 6}, fk, {0, 1, 3, 5, 6},
                      {0, 1, 2, 3, 4, 5}, 7, zeros({batch, hk, m, chunks, c, c}),
                      lowerTriangle);
    // y = Fq_t P_t + A Va_t.
    Value y = product(fq, {0, 1, 2, 3, 4, 6}, prefix, {0, 1, 3, 6, 5},
                      {0, 1, 2, 3, 4, 5}, 7, zeros({batch, hk, m, chunks, c, w}));
    y = product(a, {0, 1, 2, 3, 4, 6}, va, {0, 1, 3, 6, 5}, {0, 1, 2, 3, 4, 5},
                7, y);
    Value g = ratioGradient(y, doutPadded);
    // Bm = tril(g_t Va_t^T); dFq = g_t P_t^T + Bm Fk_t.
    Value bm = product(g, {0, 1, 2, 3, 4, 6}, va, {0, 1, 3, 5, 6},
                       {0, 1, 2, 3, 4, 5}, 7,
                       zeros({batch, hk, m, chunks, c, c}), lowerTriangle);
    Value dfq = product(g, {0, 1, 2, 3, 4, 6}, prefix, {0, 1, 3, 5, 6},
                        {0, 1, 2, 3, 4, 5}, 7,
                        zeros({batch, hk, m, chunks, c, d}));
    dfq = product(bm, {0, 1, 2, 3, 4, 6}, fk, {0, 1, 3, 6, 5},
                  {0, 1, 2, 3, 4, 5}, 7, dfq);
    // Q_t = the chunks' Fq^T g after t (over the group's heads); their
    // total is dS0.
    Value chunkGrads = product(fq, {0, 1, 5, 2, 6, 3}, g, {0, 1, 5, 2, 6, 4},
                               {0, 1, 2, 3, 4}, 7,
                               zeros({batch, hk, chunks, d, w}));
    Value suffix =
        scanChunks(chunkGrads, zeros({batch, hk, d, w}), /*reverse=*/true);
    // dS0: every chunk's (a reduction, whose shape the runtime's signature
    // follows, unlike a loop's result).
    if (op.getInitialState())
      add(op.getInitialState(),
          product(fq, {0, 1, 4, 5, 6, 2}, g, {0, 1, 4, 5, 6, 3}, {0, 1, 2, 3},
                  7, zeros({batch, hk, d, w})));
    // dFk = Va_t Q_t^T + Bm^T Fq_t; dVa = Fk_t Q_t + A^T g_t (both summed
    // over the group's heads m, loop 5, and the rows c, loop 6).
    Value dfk = product(va, {0, 1, 2, 3, 5}, suffix, {0, 1, 2, 4, 5},
                        {0, 1, 2, 3, 4}, 6, zeros({batch, hk, chunks, c, d}));
    dfk = product(bm, {0, 1, 5, 2, 6, 3}, fq, {0, 1, 5, 2, 6, 4},
                  {0, 1, 2, 3, 4}, 7, dfk);
    Value dva = product(fk, {0, 1, 2, 3, 5}, suffix, {0, 1, 2, 5, 4},
                        {0, 1, 2, 3, 4}, 6, zeros({batch, hk, chunks, c, w}));
    dva = product(a, {0, 1, 5, 2, 6, 3}, g, {0, 1, 5, 2, 6, 4},
                  {0, 1, 2, 3, 4}, 7, dva);

    // Back to (B, H, N, D) and (B, Hkv, S, D | Dv): token i is position
    // i mod C of chunk i / C; query head h is member h mod G of K/V head
    // h / G.
    auto chunkOf = [&](OpBuilder &nb, Location l, Value i) {
      IndexBuilder nib(nb, l);
      return std::pair{nib.div(i, nib.c(kChunk)), nib.rem(i, nib.c(kChunk))};
    };
    auto derivative = [&](OpBuilder &nb, Location l, Value x) {
      return applyFeatureDerivative(nb, l, map, x);
    };
    add(q, gatherInto(q, [&](OpBuilder &nb, Location l, ArrayRef<Value> i,
                             Value x) -> Value {
          IndexBuilder nib(nb, l);
          auto [t, pos] = chunkOf(nb, l, i[2]);
          Value dphi = tensor::ExtractOp::create(
              nb, l, dfq,
              ValueRange{i[0], nib.div(i[1], nib.c(group)),
                         nib.rem(i[1], nib.c(group)), t, pos, i[3]});
          return arith::MulFOp::create(nb, l, dphi, derivative(nb, l, x));
        }));
    add(k, gatherInto(k, [&](OpBuilder &nb, Location l, ArrayRef<Value> i,
                             Value x) -> Value {
          auto [t, pos] = chunkOf(nb, l, i[2]);
          Value dphi = tensor::ExtractOp::create(
              nb, l, dfk, ValueRange{i[0], i[1], t, pos, i[3]});
          return arith::MulFOp::create(nb, l, dphi, derivative(nb, l, x));
        }));
    add(op.getValue(),
        valueGradient(dva, [&](OpBuilder &nb, Location l, ArrayRef<Value> i) {
          auto [t, pos] = chunkOf(nb, l, i[2]);
          return SmallVector<Value>{i[0], i[1], t, pos, i[3]};
        }));
  }

  OpBuilder &b;
  Location loc;
  GenericBuilder gb;
  LinearAttentionOp op;
  function_ref<void(Value, Value)> add;
  int64_t kvHeads = 0, group = 1, headDim = 0, valueDim = 0, width = 0;
  FeatureMap map;
  Value numKeys;
  llvm::DenseMap<Value, SmallVector<Value, 4>> lastIndices;
};

} // namespace

void mlir::attn::differentiateLinearAttention(
    OpBuilder &b, Location loc, LinearAttentionOp op, Value dout,
    function_ref<void(Value, Value)> add) {
  LinearAttentionGradient(b, loc, op, add).differentiate(dout);
}
