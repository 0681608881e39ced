//===- Reference.h - attention in float64, the oracle of the tests -*- C++
//-*-===//
//
// A direct, loop-by-loop implementation of what the attn ops mean, in double
// precision, sharing no code with the lowerings. Every executable path is
// checked against it. It knows nothing of MLIR; Evaluate.h applies it to the
// ops of a function.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_REFERENCE_REFERENCE_H
#define ATTN_REFERENCE_REFERENCE_H

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::reference {

/// A dense row-major tensor of doubles (integers are stored exactly).
struct Tensor {
  std::vector<int64_t> shape;
  std::vector<double> data;

  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape);
  int64_t numElements() const;
};

enum class Alignment { TopLeft, BottomRight };

/// Which keys a query row may see (see the attn dialect's mask attributes;
/// this is an independent restatement of their rules, element by element).
struct Mask {
  enum class Kind {
    None,
    Causal,
    Window,
    Global,
    Union,
    Intersection,
    Strided,
    Fixed,
    Blockwise
  };
  Kind kind = Kind::None;
  Alignment alignment = Alignment::TopLeft;  // Causal, Window.
  int64_t left = 0, right = 0, dilation = 1; // Window.
  std::vector<int64_t> tokens;               // Global.
  /// Strided: the stride l; Fixed: the block length l. Resolved (> 0).
  int64_t length = 0;
  int64_t summary = 0; // Fixed: the c summary keys of each block.
  bool bidirectional = false, splitHeads = false; // Strided, Fixed.
  std::vector<Mask> parts;                        // Union, Intersection.
  /// Blockwise: rows in blocks of `length`, keys in blocks of `summary`,
  /// compared by `relation`: "lt", "le", "eq", "ge", "gt" or "ne".
  std::string relation;

  /// Whether row `row` of `numQueries` may see key `col`, among `numKeys`
  /// valid keys, in query head `head` (the mask alone; key lengths are
  /// applied by the caller).
  bool allows(int64_t row, int64_t col, int64_t numQueries, int64_t numKeys,
              int64_t head) const;
};

/// What a computation cost: floating-point operations (a multiply-add is 2)
/// and the (query, key) pairs that were attended.
struct Cost {
  double flops = 0;
  double pairs = 0;
};

/// What a score modifier does to each score s = scale q.k before the
/// softmax (its rules restated here, not taken from the dialect).
struct ScoreMod {
  /// Logit soft-capping (Gemma 2): s <- cap tanh(s / cap); 0 for none.
  double softcap = 0;
  /// ALiBi (Press et al. 2022): s <- s - slope_h |pos(i) - j|, with pos as
  /// for a causal mask of `alibiAlignment`; one slope per query head
  /// (`alibiSlopes`), none for no bias.
  std::vector<double> alibiSlopes;
  Alignment alibiAlignment = Alignment::TopLeft;

  /// f(s) for the score of query row `row` of `numQueries` and key `col`
  /// among `numKeys` valid keys, in query head `head`.
  double apply(double s, int64_t row, int64_t col, int64_t numQueries,
               int64_t numKeys, int64_t head) const {
    if (softcap > 0)
      s = softcap * std::tanh(s / softcap);
    if (!alibiSlopes.empty()) {
      int64_t pos = alibiAlignment == Alignment::TopLeft
                        ? row
                        : numKeys - numQueries + row;
      s -= alibiSlopes[head] * static_cast<double>(std::abs(pos - col));
    }
    return s;
  }
  /// f'(s), the derivative of `apply` in s (ALiBi's bias does not depend
  /// on s).
  double derivative(double s) const {
    if (softcap > 0) {
      double t = std::tanh(s / softcap);
      return 1 - t * t;
    }
    return 1;
  }
};

/// ALiBi's head slopes as Press et al. compute them: for H a power of two,
/// the geometric sequence 2^(-b/H), 2^(-2b/H), ..., 2^(-b) (b = 8 in the
/// paper); otherwise the slopes of the largest power of two c below H,
/// followed by every other slope of 2c heads, the first H - c of them.
std::vector<double> alibiSlopes(int64_t numHeads, double maxBias);

/// Attention of q (B,H,N,D) to k (B,Hkv,S,D) and v (B,Hkv,S,Dv), query head h
/// reading key/value head h / (H / Hkv). `keyLengths` (B values, or null)
/// makes keys >= clamp(len, 0, S) of each batch row invisible. A row that
/// sees no key is 0. Adds the work to `cost` when given. With `lse`, also
/// stores there (B, H, N) the log of each row's softmax denominator,
/// log sum_j exp(scale q.k_j), -inf for a row that sees no key. `mod`
/// modifies each score; `sinks` (H values, or null) adds exp(sinks[h]) to
/// the denominator of every row of head h (a key with no value), and to
/// the lse.
Tensor attention(const Tensor &q, const Tensor &k, const Tensor &v,
                 const Tensor *keyLengths, double scale, const Mask &mask,
                 Cost *cost = nullptr, Tensor *lse = nullptr,
                 const ScoreMod &mod = {}, const Tensor *sinks = nullptr);

/// `attention` of packed sequences (FlashAttention's cu_seqlens): q
/// (1, H, N, D), k and v (1, Hkv, S, ...) hold P sequences, sequence s the
/// query rows [queryOffsets[s], queryOffsets[s+1]) and the keys
/// [keyOffsets[s], keyOffsets[s+1]) (an end below its start: empty). Each
/// sequence is attended alone, its positions counted from its start; a row
/// of no sequence is 0 (lse -inf); a row of several, the last one's.
Tensor packedAttention(const Tensor &q, const Tensor &k, const Tensor &v,
                       const Tensor &queryOffsets, const Tensor &keyOffsets,
                       double scale, const Mask &mask, Cost *cost = nullptr,
                       Tensor *lse = nullptr, const ScoreMod &mod = {},
                       const Tensor *sinks = nullptr);

/// The gradients of `attention` (the same arguments) for the gradient
/// `dout` (B, H, N, Dv) of its output, from the formulas: with P the softmax
/// weights of a row over its visible keys,
///   dv_j  = sum over the group's heads and rows i of P_ij dout_i
///   dP_ij = dout_i . v_j
///   dS_ij = P_ij (dP_ij - sum_j' P_ij' dP_ij')
///   dq_i  = scale sum_j dS_ij k_j
///   dk_j  = scale sum over the group's heads and rows i of dS_ij q_i
/// A row that sees no key contributes nothing (its dq is 0). Shapes: dq like
/// q, dk like k, dv like v. Adds the backward's work (per visible pair,
/// 2 (2 D + 2 Dv) FLOPs: the recomputed score, dP, and the three products)
/// to `cost` when given.
/// With `sinks` (H, as for `attention`), also the sinks' gradient (H): the
/// sink of head h is a key with no value, dt_h = sum over rows of
/// P_sink (0 - sum_j P_ij dP_ij). With a score modifier f, P is the softmax
/// of f(s) and dS_ij is multiplied by f'(s_ij).
struct AttentionGradients {
  Tensor dq, dk, dv, dsinks;
};
AttentionGradients attentionGradients(const Tensor &q, const Tensor &k,
                                      const Tensor &v, const Tensor &dout,
                                      const Tensor *keyLengths, double scale,
                                      const Mask &mask, Cost *cost = nullptr,
                                      const Tensor *sinks = nullptr,
                                      const ScoreMod &mod = {});

/// Attentions over disjoint key sets merged into the attention over their
/// union, from their outputs (B, H, N, Dv) and log-sum-exps (B, H, N):
/// out = sum_k exp(lse_k - lse) out_k with lse = log sum_k exp(lse_k).
/// Stores lse in `lse` when given.
Tensor combine(const std::vector<const Tensor *> &outputs,
               const std::vector<const Tensor *> &lses, Tensor *lse = nullptr);

/// The cost of `attention` with these shapes, without computing it.
Cost attentionCost(const std::vector<int64_t> &qShape,
                   const std::vector<int64_t> &kShape,
                   const std::vector<int64_t> &vShape, const Tensor *keyLengths,
                   const Mask &mask);

/// The feature maps of linear attention, applied elementwise.
enum class FeatureMap { EluPlusOne, Relu, Identity };
double applyFeatureMap(FeatureMap map, double x);

/// Linear attention (the attn.linear_attention op) in its quadratic form,
/// which no lowering uses: for query i of head h (K/V head h / (H / Hkv)),
///   w_j = phi(q_i) . phi(k_j) over the valid keys j (j <= i when causal),
///   num = sum_j w_j v_j + phi(q_i)^T S0[:, :Dv],
///   den = sum_j w_j     + phi(q_i)^T S0[:, Dv],
///   out = num / (den + epsilon).
/// `state` is S0 (B, Hkv, D, Dv + 1) or null for zeros. Stores the final
/// state S0 + sum_j phi(k_j) [v_j, 1]^T over the valid keys in `finalState`
/// when given. Adds the work of the linear form (2 D (Dv + 1) per key and per
/// query row) to `cost` when given.
Tensor linearAttention(const Tensor &q, const Tensor &k, const Tensor &v,
                       const Tensor *keyLengths, const Tensor *state,
                       FeatureMap map, bool causal, double epsilon,
                       Cost *cost = nullptr, Tensor *finalState = nullptr);

/// (B, T, F) x (F, E) -> (B, T, E).
Tensor project(const Tensor &x, const Tensor &w, Cost *cost = nullptr);

/// C + A B for A (..., M, K), B (..., K, N) and C (..., M, N) with the same
/// leading (batch) dimensions: linalg.matmul and batch_matmul.
Tensor matmul(const Tensor &a, const Tensor &b, const Tensor &c,
              Cost *cost = nullptr);

/// `x` with its dimensions permuted: dimension i of the result is dimension
/// permutation[i] of `x`.
Tensor transpose(const Tensor &x, const std::vector<int64_t> &permutation);

/// (B, T, h * w) -> (B, h, T, w) and back.
Tensor splitHeads(const Tensor &x, int64_t heads);
Tensor mergeHeads(const Tensor &x);

} // namespace attn::reference

#endif // ATTN_REFERENCE_REFERENCE_H
