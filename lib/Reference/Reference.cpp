//===- Reference.cpp - attention in float64 -------------------------------===//

#include "attn/Reference/Reference.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

using namespace attn::reference;

Tensor::Tensor(std::vector<int64_t> shape) : shape(std::move(shape)) {
  data.assign(numElements(), 0.0);
}

int64_t Tensor::numElements() const {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1},
                         std::multiplies<int64_t>());
}

bool Mask::allows(int64_t row, int64_t col, int64_t numQueries, int64_t numKeys,
                  int64_t head) const {
  int64_t pos =
      alignment == Alignment::TopLeft ? row : numKeys - numQueries + row;
  // The Sparse Transformer's patterns and global tokens use p = row.
  int64_t p = row;
  auto euclidMod = [](int64_t a, int64_t m) { return ((a % m) + m) % m; };
  auto floorDiv = [&](int64_t a, int64_t m) {
    return (a - euclidMod(a, m)) / m;
  };
  switch (kind) {
  case Kind::None:
    return true;
  case Kind::Causal:
    return col <= pos;
  case Kind::Window:
    return pos - left <= col && col <= pos + right &&
           euclidMod(pos - col, dilation) == 0;
  case Kind::Global:
    return std::find(tokens.begin(), tokens.end(), col) != tokens.end() ||
           std::find(tokens.begin(), tokens.end(), p) != tokens.end();
  case Kind::Union:
    return std::any_of(parts.begin(), parts.end(), [&](const Mask &m) {
      return m.allows(row, col, numQueries, numKeys, head);
    });
  case Kind::Intersection:
    return std::all_of(parts.begin(), parts.end(), [&](const Mask &m) {
      return m.allows(row, col, numQueries, numKeys, head);
    });
  case Kind::Strided: {
    bool causalOk = bidirectional || col <= p;
    bool local = (bidirectional ? std::abs(p - col) < length
                                : p - length < col && col <= p);
    bool strided = euclidMod(p - col, length) == 0 && causalOk;
    if (splitHeads)
      return head % 2 == 0 ? local : strided;
    return local || strided;
  }
  case Kind::Fixed: {
    bool causalOk = bidirectional || col <= p;
    bool own = floorDiv(col, length) == floorDiv(p, length) && causalOk;
    bool summaryKey = euclidMod(col, length) >= length - summary && causalOk;
    if (splitHeads)
      return head % 2 == 0 ? own : summaryKey;
    return own || summaryKey;
  }
  case Kind::Blockwise: {
    int64_t queryBlock = floorDiv(row, length),
            keyBlock = floorDiv(col, summary);
    if (relation == "lt")
      return keyBlock < queryBlock;
    if (relation == "le")
      return keyBlock <= queryBlock;
    if (relation == "eq")
      return keyBlock == queryBlock;
    if (relation == "ge")
      return keyBlock >= queryBlock;
    if (relation == "gt")
      return keyBlock > queryBlock;
    return keyBlock != queryBlock;
  }
  }
  return false;
}

/// Number of valid keys of batch row b: clamp(len, 0, S), or S.
static int64_t validKeys(const Tensor *keyLengths, int64_t b, int64_t keys) {
  if (!keyLengths)
    return keys;
  return std::clamp<int64_t>(static_cast<int64_t>(keyLengths->data[b]), 0,
                             keys);
}

static bool visible(const Mask &mask, const Tensor *keyLengths, int64_t b,
                    int64_t h, int64_t i, int64_t j, int64_t numQueries,
                    int64_t keys) {
  int64_t valid = validKeys(keyLengths, b, keys);
  return j < valid && mask.allows(i, j, numQueries, valid, h);
}

/// The unnormalized softmax weights of one query row q (D values) over the
/// keys k (S x D) it sees: weights[j] = exp(scale q.k_j - max) where seen[j],
/// else 0. Returns the maximum score and the sum of the weights (0 when no
/// key is seen).
static std::pair<double, double>
softmaxWeights(const double *q, const double *k, int64_t S, int64_t D,
               double scale, const std::vector<char> &seen,
               std::vector<double> &weights,
               const std::function<double(double, int64_t)> &modify) {
  double rowMax = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < S; ++j) {
    if (!seen[j])
      continue;
    double dot = 0;
    for (int64_t d = 0; d < D; ++d)
      dot += q[d] * k[j * D + d];
    weights[j] = modify(scale * dot, j);
    rowMax = std::max(rowMax, weights[j]);
  }
  double sum = 0;
  for (int64_t j = 0; j < S; ++j) {
    weights[j] = seen[j] ? std::exp(weights[j] - rowMax) : 0.0;
    sum += weights[j];
  }
  return {rowMax, sum};
}

std::vector<double> attn::reference::alibiSlopes(int64_t numHeads,
                                                 double maxBias) {
  auto powerOfTwoSlopes = [&](int64_t heads) {
    std::vector<double> slopes;
    double ratio = std::pow(2.0, -maxBias / static_cast<double>(heads));
    for (double slope = ratio; static_cast<int64_t>(slopes.size()) < heads;
         slope *= ratio)
      slopes.push_back(slope);
    return slopes;
  };
  int64_t below = 1;
  while (below * 2 <= numHeads)
    below *= 2;
  std::vector<double> slopes = powerOfTwoSlopes(below);
  std::vector<double> finer = powerOfTwoSlopes(2 * below);
  for (int64_t i = 0; below + i < numHeads; ++i)
    slopes.push_back(finer[2 * i]);
  return slopes;
}

/// A sink t (a logit with no value) joins the row's softmax: one more term
/// of the denominator; `rowMax`, `sum` and `weights` (exp(s_j - rowMax))
/// move to the larger maximum. Returns the sink's term, exp(t - rowMax). A
/// sink of -inf is no sink.
static double addSink(double sink, double &rowMax, double &sum,
                      std::vector<double> &weights) {
  if (sink == -std::numeric_limits<double>::infinity())
    return 0;
  double newMax = std::max(rowMax, sink);
  double rescale = std::exp(rowMax - newMax);
  for (double &w : weights)
    w *= rescale;
  double term = std::exp(sink - newMax);
  sum = sum * rescale + term;
  rowMax = newMax;
  return term;
}

Cost attn::reference::attentionCost(const std::vector<int64_t> &qShape,
                                    const std::vector<int64_t> &kShape,
                                    const std::vector<int64_t> &vShape,
                                    const Tensor *keyLengths,
                                    const Mask &mask) {
  int64_t B = qShape[0], H = qShape[1], N = qShape[2], D = qShape[3];
  int64_t S = kShape[2], Dv = vShape[3];
  double pairs = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < N; ++i)
        for (int64_t j = 0; j < S; ++j)
          pairs += visible(mask, keyLengths, b, h, i, j, N, S);
  // Per pair: a D-long dot product and a Dv-long multiply-add into the output.
  return {2.0 * pairs * static_cast<double>(D + Dv), pairs};
}

Tensor attn::reference::attention(const Tensor &q, const Tensor &k,
                                  const Tensor &v, const Tensor *keyLengths,
                                  double scale, const Mask &mask, Cost *cost,
                                  Tensor *lse, const ScoreMod &mod,
                                  const Tensor *sinks) {
  int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], D = q.shape[3];
  int64_t Hkv = k.shape[1], S = k.shape[2], Dv = v.shape[3];
  int64_t group = H / Hkv;
  Tensor out({B, H, N, Dv});
  if (lse)
    *lse = Tensor({B, H, N});
  std::vector<double> weights(S);
  std::vector<char> seen(S);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      int64_t hk = h / group;
      const double *qh = &q.data[((b * H + h) * N) * D];
      const double *kh = &k.data[((b * Hkv + hk) * S) * D];
      const double *vh = &v.data[((b * Hkv + hk) * S) * Dv];
      double *oh = &out.data[((b * H + h) * N) * Dv];
      for (int64_t i = 0; i < N; ++i) {
        for (int64_t j = 0; j < S; ++j)
          seen[j] = visible(mask, keyLengths, b, h, i, j, N, S);
        int64_t valid = validKeys(keyLengths, b, S);
        auto [rowMax, sum] = softmaxWeights(
            &qh[i * D], kh, S, D, scale, seen, weights,
            [&](double s, int64_t j) { return mod.apply(s, i, j, N, valid, h); });
        if (sinks)
          addSink(sinks->data[h], rowMax, sum, weights);
        if (cost) {
          double pairs = std::count(seen.begin(), seen.end(), 1);
          cost->pairs += pairs;
          cost->flops += pairs * 2.0 * static_cast<double>(D + Dv);
        }
        if (lse)
          lse->data[(b * H + h) * N + i] =
              sum == 0 ? -std::numeric_limits<double>::infinity()
                       : rowMax + std::log(sum);
        if (sum == 0)
          continue; // No visible key: the row stays 0.
        for (int64_t j = 0; j < S; ++j) {
          if (!seen[j])
            continue;
          double p = weights[j] / sum;
          for (int64_t e = 0; e < Dv; ++e)
            oh[i * Dv + e] += p * vh[j * Dv + e];
        }
      }
    }
  }
  return out;
}

/// Rows [begin, end) of dimension 2 of a (1, H, T, W) tensor.
static Tensor rowsOf(const Tensor &x, int64_t begin, int64_t end) {
  int64_t heads = x.shape[1], total = x.shape[2], width = x.shape[3];
  Tensor rows({1, heads, end - begin, width});
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = begin; i < end; ++i)
      for (int64_t e = 0; e < width; ++e)
        rows.data[(h * (end - begin) + i - begin) * width + e] =
            x.data[(h * total + i) * width + e];
  return rows;
}

Tensor attn::reference::packedAttention(
    const Tensor &q, const Tensor &k, const Tensor &v,
    const Tensor &queryOffsets, const Tensor &keyOffsets, double scale,
    const Mask &mask, Cost *cost, Tensor *lse, const ScoreMod &mod,
    const Tensor *sinks) {
  int64_t H = q.shape[1], N = q.shape[2], Dv = v.shape[3];
  Tensor out({1, H, N, Dv});
  if (lse) {
    *lse = Tensor({1, H, N});
    std::fill(lse->data.begin(), lse->data.end(),
              -std::numeric_limits<double>::infinity());
  }
  int64_t sequences = queryOffsets.numElements() - 1;
  for (int64_t s = 0; s < sequences; ++s) {
    auto range = [](const Tensor &offsets, int64_t s) {
      int64_t begin = static_cast<int64_t>(offsets.data[s]);
      int64_t end = static_cast<int64_t>(offsets.data[s + 1]);
      return std::pair{begin, std::max(begin, end)};
    };
    auto [qBegin, qEnd] = range(queryOffsets, s);
    auto [kBegin, kEnd] = range(keyOffsets, s);
    Tensor part;
    Tensor partOut =
        attention(rowsOf(q, qBegin, qEnd), rowsOf(k, kBegin, kEnd),
                  rowsOf(v, kBegin, kEnd), nullptr, scale, mask, cost,
                  lse ? &part : nullptr, mod, sinks);
    int64_t n = qEnd - qBegin;
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t e = 0; e < Dv; ++e)
          out.data[(h * N + qBegin + i) * Dv + e] =
              partOut.data[(h * n + i) * Dv + e];
        if (lse)
          lse->data[h * N + qBegin + i] = part.data[h * n + i];
      }
  }
  return out;
}

AttentionGradients attn::reference::attentionGradients(
    const Tensor &q, const Tensor &k, const Tensor &v, const Tensor &dout,
    const Tensor *keyLengths, double scale, const Mask &mask, Cost *cost,
    const Tensor *sinks, const ScoreMod &mod) {
  int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], D = q.shape[3];
  int64_t Hkv = k.shape[1], S = k.shape[2], Dv = v.shape[3];
  int64_t group = H / Hkv;
  AttentionGradients grads{Tensor(q.shape), Tensor(k.shape), Tensor(v.shape),
                           Tensor(sinks ? std::vector<int64_t>{H}
                                        : std::vector<int64_t>{0})};
  std::vector<double> p(S), dp(S), slope(S);
  std::vector<char> seen(S);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t h = 0; h < H; ++h) {
      int64_t hk = h / group;
      int64_t qOffset = ((b * H + h) * N) * D, oOffset = ((b * H + h) * N) * Dv;
      int64_t kOffset = ((b * Hkv + hk) * S) * D;
      int64_t vOffset = ((b * Hkv + hk) * S) * Dv;
      const double *qh = &q.data[qOffset], *kh = &k.data[kOffset];
      const double *vh = &v.data[vOffset], *doh = &dout.data[oOffset];
      double *dqh = &grads.dq.data[qOffset], *dkh = &grads.dk.data[kOffset];
      double *dvh = &grads.dv.data[vOffset];
      for (int64_t i = 0; i < N; ++i) {
        // P: the softmax of the row's visible scores.
        for (int64_t j = 0; j < S; ++j)
          seen[j] = visible(mask, keyLengths, b, h, i, j, N, S);
        // f'(s_ij) for dS, from the unmodified scores.
        int64_t valid = validKeys(keyLengths, b, S);
        auto [rowMax, sum] = softmaxWeights(
            &qh[i * D], kh, S, D, scale, seen, p, [&](double s, int64_t j) {
              slope[j] = mod.derivative(s);
              return mod.apply(s, i, j, N, valid, h);
            });
        double sinkTerm = 0;
        if (sinks) // A key with no value: P_sink = sinkTerm / sum.
          sinkTerm = addSink(sinks->data[h], rowMax, sum, p);
        if (sum == 0 || sinkTerm == sum)
          continue; // No visible key: no gradient flows through the row.
        // dP_ij = dout_i . v_j, and the softmax's Jacobian applied to it.
        double weighted = 0;
        for (int64_t j = 0; j < S; ++j) {
          if (!seen[j])
            continue;
          p[j] /= sum;
          double dot = 0;
          for (int64_t e = 0; e < Dv; ++e)
            dot += doh[i * Dv + e] * vh[j * Dv + e];
          dp[j] = dot;
          weighted += p[j] * dot;
          if (cost) {
            cost->pairs += 1;
            cost->flops += 2.0 * static_cast<double>(2 * D + 2 * Dv);
          }
        }
        // dt = P_sink (dP_sink - weighted), dP_sink = dout_i . 0.
        if (sinks)
          grads.dsinks.data[h] -= sinkTerm / sum * weighted;
        for (int64_t j = 0; j < S; ++j) {
          if (!seen[j])
            continue;
          double ds = p[j] * (dp[j] - weighted) * slope[j];
          for (int64_t e = 0; e < Dv; ++e)
            dvh[j * Dv + e] += p[j] * doh[i * Dv + e];
          for (int64_t d = 0; d < D; ++d) {
            dqh[i * D + d] += scale * ds * kh[j * D + d];
            dkh[j * D + d] += scale * ds * qh[i * D + d];
          }
        }
      }
    }
  }
  return grads;
}

double attn::reference::applyFeatureMap(FeatureMap map, double x) {
  switch (map) {
  case FeatureMap::EluPlusOne:
    return x > 0 ? x + 1 : std::exp(x);
  case FeatureMap::Relu:
    return std::max(x, 0.0);
  case FeatureMap::Identity:
    return x;
  }
  return x;
}

Tensor attn::reference::linearAttention(const Tensor &q, const Tensor &k,
                                        const Tensor &v,
                                        const Tensor *keyLengths,
                                        const Tensor *state, FeatureMap map,
                                        bool causal, double epsilon, Cost *cost,
                                        Tensor *finalState) {
  int64_t B = q.shape[0], H = q.shape[1], N = q.shape[2], D = q.shape[3];
  int64_t Hkv = k.shape[1], S = k.shape[2], Dv = v.shape[3];
  int64_t group = H / Hkv, W = Dv + 1;
  Tensor out({B, H, N, Dv});
  if (finalState)
    *finalState = Tensor({B, Hkv, D, W});
  auto initial = [&](int64_t b, int64_t hk, int64_t d, int64_t e) {
    return state ? state->data[((b * Hkv + hk) * D + d) * W + e] : 0.0;
  };
  std::vector<double> phiQ(D), phiK(S * D);
  for (int64_t b = 0; b < B; ++b) {
    int64_t valid = validKeys(keyLengths, b, S);
    for (int64_t hk = 0; hk < Hkv; ++hk) {
      const double *kh = &k.data[((b * Hkv + hk) * S) * D];
      const double *vh = &v.data[((b * Hkv + hk) * S) * Dv];
      for (int64_t j = 0; j < S * D; ++j)
        phiK[j] = applyFeatureMap(map, kh[j]);
      for (int64_t h = hk * group; h < (hk + 1) * group; ++h) {
        const double *qh = &q.data[((b * H + h) * N) * D];
        double *oh = &out.data[((b * H + h) * N) * Dv];
        for (int64_t i = 0; i < N; ++i) {
          for (int64_t d = 0; d < D; ++d)
            phiQ[d] = applyFeatureMap(map, qh[i * D + d]);
          std::vector<double> num(Dv, 0.0);
          double den = 0;
          for (int64_t d = 0; d < D; ++d) {
            for (int64_t e = 0; e < Dv; ++e)
              num[e] += phiQ[d] * initial(b, hk, d, e);
            den += phiQ[d] * initial(b, hk, d, Dv);
          }
          int64_t seen = causal ? std::min(valid, i + 1) : valid;
          for (int64_t j = 0; j < seen; ++j) {
            double w = 0;
            for (int64_t d = 0; d < D; ++d)
              w += phiQ[d] * phiK[j * D + d];
            for (int64_t e = 0; e < Dv; ++e)
              num[e] += w * vh[j * Dv + e];
            den += w;
          }
          for (int64_t e = 0; e < Dv; ++e)
            oh[i * Dv + e] = num[e] / (den + epsilon);
        }
      }
      if (finalState) {
        for (int64_t d = 0; d < D; ++d)
          for (int64_t e = 0; e < W; ++e) {
            double sum = initial(b, hk, d, e);
            for (int64_t j = 0; j < valid; ++j)
              sum += phiK[j * D + d] * (e < Dv ? vh[j * Dv + e] : 1.0);
            finalState->data[((b * Hkv + hk) * D + d) * W + e] = sum;
          }
      }
      if (cost)
        cost->flops += 2.0 * D * W * static_cast<double>(valid + group * N);
    }
  }
  return out;
}

Tensor attn::reference::combine(const std::vector<const Tensor *> &outputs,
                                const std::vector<const Tensor *> &lses,
                                Tensor *lse) {
  const std::vector<int64_t> &shape = outputs.front()->shape;
  int64_t rows = shape[0] * shape[1] * shape[2], Dv = shape[3];
  Tensor out(shape);
  if (lse)
    *lse = Tensor({shape[0], shape[1], shape[2]});
  for (int64_t r = 0; r < rows; ++r) {
    // The denominator of the union is the sum of the parts' denominators.
    double most = -std::numeric_limits<double>::infinity();
    for (const Tensor *part : lses)
      most = std::max(most, part->data[r]);
    double total = 0;
    for (const Tensor *part : lses)
      total += std::isinf(most) ? 0.0 : std::exp(part->data[r] - most);
    if (lse)
      lse->data[r] = total == 0 ? most : most + std::log(total);
    if (total == 0)
      continue; // No part sees a key: the row stays 0.
    for (size_t p = 0; p < outputs.size(); ++p) {
      double weight = std::exp(lses[p]->data[r] - most) / total;
      for (int64_t e = 0; e < Dv; ++e)
        out.data[r * Dv + e] += weight * outputs[p]->data[r * Dv + e];
    }
  }
  return out;
}

Tensor attn::reference::project(const Tensor &x, const Tensor &w, Cost *cost) {
  int64_t B = x.shape[0], T = x.shape[1], F = x.shape[2], E = w.shape[1];
  assert(w.shape[0] == F && "feature dimensions must match");
  Tensor y({B, T, E});
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t e = 0; e < E; ++e)
        y.data[r * E + e] += x.data[r * F + f] * w.data[f * E + e];
  if (cost)
    cost->flops += 2.0 * static_cast<double>(B * T) * F * E;
  return y;
}

Tensor attn::reference::matmul(const Tensor &a, const Tensor &b,
                               const Tensor &c, Cost *cost) {
  size_t rank = a.shape.size();
  assert(rank >= 2 && b.shape.size() == rank && c.shape.size() == rank &&
         "matmul of matrices or batches of them");
  int64_t M = a.shape[rank - 2], K = a.shape[rank - 1], N = b.shape[rank - 1];
  int64_t batches = 1;
  for (size_t d = 0; d + 2 < rank; ++d)
    batches *= c.shape[d];
  Tensor y = c;
  for (int64_t n = 0; n < batches; ++n)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t k = 0; k < K; ++k)
        for (int64_t j = 0; j < N; ++j)
          y.data[(n * M + i) * N + j] +=
              a.data[(n * M + i) * K + k] * b.data[(n * K + k) * N + j];
  if (cost)
    cost->flops += 2.0 * static_cast<double>(batches * M) * K * N;
  return y;
}

Tensor attn::reference::transpose(const Tensor &x,
                                  const std::vector<int64_t> &permutation) {
  size_t rank = x.shape.size();
  std::vector<int64_t> shape(rank), strides(rank, 1);
  for (size_t d = rank; d-- > 1;)
    strides[d - 1] = strides[d] * x.shape[d];
  for (size_t d = 0; d < rank; ++d)
    shape[d] = x.shape[permutation[d]];
  Tensor y(shape);
  std::vector<int64_t> index(rank, 0);
  for (int64_t e = 0; e < y.numElements(); ++e) {
    // index: the result's position; read x where its dims say.
    int64_t from = 0;
    for (size_t d = 0; d < rank; ++d)
      from += index[d] * strides[permutation[d]];
    y.data[e] = x.data[from];
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < shape[d])
        break;
      index[d] = 0;
    }
  }
  return y;
}

Tensor attn::reference::splitHeads(const Tensor &x, int64_t heads) {
  int64_t B = x.shape[0], T = x.shape[1], width = x.shape[2] / heads;
  Tensor y({B, heads, T, width});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t c = 0; c < width; ++c)
          y.data[((b * heads + h) * T + t) * width + c] =
              x.data[(b * T + t) * heads * width + h * width + c];
  return y;
}

Tensor attn::reference::mergeHeads(const Tensor &x) {
  int64_t B = x.shape[0], heads = x.shape[1], T = x.shape[2],
          width = x.shape[3];
  Tensor y({B, T, heads * width});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t t = 0; t < T; ++t)
        for (int64_t c = 0; c < width; ++c)
          y.data[(b * T + t) * heads * width + h * width + c] =
              x.data[((b * heads + h) * T + t) * width + c];
  return y;
}
