//===- GradientTest.cpp - the reference's gradients, by finite differences ===//
//
// attentionGradients is written from the formulas of the backward pass; here
// it is held to the definition of a gradient instead. For the loss
// L = sum(dout * attention(q, k, v)), every element x of q, k and v gets the
// central difference (L(x + h) - L(x - h)) / 2h, whose error in float64 is
// O(h^2) plus rounding (about 1e-9 for h = 1e-5 on these sizes). A mask does
// not depend on the values, so the loss is smooth in all of them.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/Reference.h"

#include "gtest/gtest.h"

#include <cmath>
#include <random>

using namespace attn::reference;

namespace {

struct GradientCase {
  const char *name;
  int64_t B, H, Hkv, N, S, D, Dv;
  Mask mask;
  std::vector<double> keyLengths; // Empty: none.
  std::vector<double> sinks;      // Empty: none; else one per query head.
  ScoreMod mod = {};
};

void PrintTo(const GradientCase &c, std::ostream *os) { *os << c.name; }

Mask causal(Alignment alignment) {
  Mask mask;
  mask.kind = Mask::Kind::Causal;
  mask.alignment = alignment;
  return mask;
}

Mask dilatedWindow() {
  Mask mask;
  mask.kind = Mask::Kind::Window;
  mask.left = 4;
  mask.right = 1;
  mask.dilation = 2;
  return mask;
}

Mask windowWithGlobalTokens() {
  Mask global;
  global.kind = Mask::Kind::Global;
  global.tokens = {0, 5};
  Mask mask;
  mask.kind = Mask::Kind::Union;
  mask.parts = {dilatedWindow(), global};
  return mask;
}

Mask sparse(Mask::Kind kind, bool splitHeads) {
  Mask mask;
  mask.kind = kind;
  mask.length = 3;
  mask.summary = kind == Mask::Kind::Fixed ? 1 : 0;
  mask.splitHeads = splitHeads;
  return mask;
}

ScoreMod softcap(double cap) {
  ScoreMod mod;
  mod.softcap = cap;
  return mod;
}

ScoreMod alibi(int64_t heads, Alignment alignment) {
  ScoreMod mod;
  mod.alibiSlopes = alibiSlopes(heads, 8.0);
  mod.alibiAlignment = alignment;
  return mod;
}

Tensor random(std::vector<int64_t> shape, std::mt19937 &rng) {
  std::normal_distribution<double> normal;
  Tensor t(std::move(shape));
  for (double &x : t.data)
    x = normal(rng);
  return t;
}

class ReferenceGradients : public testing::TestWithParam<GradientCase> {};

TEST_P(ReferenceGradients, MatchCentralDifferences) {
  const GradientCase &c = GetParam();
  std::mt19937 rng(7);
  Tensor q = random({c.B, c.H, c.N, c.D}, rng);
  Tensor k = random({c.B, c.Hkv, c.S, c.D}, rng);
  Tensor v = random({c.B, c.Hkv, c.S, c.Dv}, rng);
  Tensor dout = random({c.B, c.H, c.N, c.Dv}, rng);
  Tensor lengths({c.B});
  lengths.data = c.keyLengths;
  const Tensor *keyLengths = c.keyLengths.empty() ? nullptr : &lengths;
  Tensor sinkValues({c.H});
  if (!c.sinks.empty())
    sinkValues.data = c.sinks;
  const Tensor *sinks = c.sinks.empty() ? nullptr : &sinkValues;
  double scale = 0.7;

  auto loss = [&] {
    Tensor out = attention(q, k, v, keyLengths, scale, c.mask, nullptr,
                           nullptr, c.mod, sinks);
    double sum = 0;
    for (int64_t i = 0; i < out.numElements(); ++i)
      sum += out.data[i] * dout.data[i];
    return sum;
  };
  Cost cost;
  AttentionGradients grads = attentionGradients(
      q, k, v, dout, keyLengths, scale, c.mask, &cost, sinks, c.mod);
  ASSERT_EQ(grads.dq.shape, q.shape);
  ASSERT_EQ(grads.dk.shape, k.shape);
  ASSERT_EQ(grads.dv.shape, v.shape);
  // The backward's pairs are the forward's.
  EXPECT_EQ(cost.pairs,
            attentionCost(q.shape, k.shape, v.shape, keyLengths, c.mask).pairs);

  const double h = 1e-5;
  auto check = [&](Tensor &x, const Tensor &grad, const char *name) {
    for (int64_t i = 0; i < x.numElements(); ++i) {
      double saved = x.data[i];
      x.data[i] = saved + h;
      double up = loss();
      x.data[i] = saved - h;
      double down = loss();
      x.data[i] = saved;
      ASSERT_FALSE(std::isnan(grad.data[i])) << name << "[" << i << "]";
      EXPECT_NEAR(grad.data[i], (up - down) / (2 * h), 1e-7)
          << name << "[" << i << "]";
    }
  };
  check(q, grads.dq, "dq");
  check(k, grads.dk, "dk");
  check(v, grads.dv, "dv");
  if (sinks)
    check(sinkValues, grads.dsinks, "dsinks");
}

const GradientCase kCases[] = {
    {"plain", 1, 2, 2, 5, 7, 3, 4, Mask(), {}},
    {"causal_top_left", 1, 2, 2, 6, 4, 3, 2, causal(Alignment::TopLeft), {}},
    {"causal_bottom_right", 1, 1, 1, 4, 6, 3, 3,
     causal(Alignment::BottomRight), {}},
    {"key_lengths_with_a_zero", 3, 2, 1, 4, 5, 2, 3,
     causal(Alignment::BottomRight), {5, 0, 2}},
    {"dilated_window", 1, 2, 2, 9, 9, 2, 2, dilatedWindow(), {}},
    {"window_and_global_tokens", 1, 1, 1, 9, 9, 2, 3,
     windowWithGlobalTokens(), {}},
    {"strided", 1, 2, 2, 8, 8, 2, 2, sparse(Mask::Kind::Strided, false), {}},
    {"strided_split_heads", 1, 2, 1, 8, 8, 2, 2,
     sparse(Mask::Kind::Strided, true), {}},
    {"fixed", 1, 2, 2, 8, 8, 2, 2, sparse(Mask::Kind::Fixed, false), {}},
    {"fixed_split_heads", 1, 2, 2, 8, 8, 2, 2,
     sparse(Mask::Kind::Fixed, true), {}},
    {"one_query", 2, 3, 1, 1, 6, 4, 2, Mask(), {6, 3}},
    {"grouped_query_3", 1, 6, 2, 3, 5, 2, 2, causal(Alignment::BottomRight),
     {}},
    {"grouped_query_8", 1, 8, 1, 2, 3, 2, 2, Mask(), {}},
    {"cross", 2, 2, 2, 3, 11, 3, 5, Mask(), {11, 7}},
    // Sinks: a logit per head with no value; a batch row with no key
    // (its rows' weights are all the sink's: no gradient).
    {"sinks", 1, 2, 2, 5, 7, 3, 4, Mask(), {}, {0.4, 2.5}},
    {"sinks_grouped_causal_key_lengths", 3, 4, 2, 4, 5, 2, 3,
     causal(Alignment::BottomRight), {5, 0, 2}, {-1.0, 0.3, 1.2, 0.0}},
    // Score modifiers: P is the softmax of f(s), dS gains f'(s); a small
    // cap, so that tanh bends the scores.
    {"softcap", 2, 4, 2, 5, 7, 3, 2, causal(Alignment::BottomRight), {7, 3},
     {}, softcap(0.8)},
    {"alibi_with_sinks", 1, 6, 3, 4, 9, 2, 2, Mask(), {}, {0.5, -0.5, 1, 0,
     2, -1}, alibi(6, Alignment::BottomRight)},
};

INSTANTIATE_TEST_SUITE_P(
    Masks, ReferenceGradients, testing::ValuesIn(kCases),
    [](const testing::TestParamInfo<GradientCase> &info) {
      return std::string(info.param.name);
    });

TEST(ReferenceGradients, ARowThatSeesNothingHasNoGradient) {
  // Key length 0: the output is 0 whatever q, k, v are, so are the
  // gradients, and none is NaN.
  std::mt19937 rng(3);
  Tensor q = random({1, 1, 2, 2}, rng), k = random({1, 1, 3, 2}, rng);
  Tensor v = random({1, 1, 3, 2}, rng), dout = random({1, 1, 2, 2}, rng);
  Tensor lengths({1});
  AttentionGradients grads =
      attentionGradients(q, k, v, dout, &lengths, 1.0, Mask());
  for (const Tensor *t : {&grads.dq, &grads.dk, &grads.dv})
    for (double x : t->data)
      EXPECT_EQ(x, 0.0);
}

} // namespace
