//===- ReferenceTest.cpp - the oracle, checked by hand --------------------===//
//
// Every executable path is compared with the float64 reference, so the
// reference itself is checked here on cases small enough to work out on
// paper.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/Reference.h"

#include "gtest/gtest.h"

#include <cmath>

using namespace attn::reference;

namespace {

Tensor make(std::vector<int64_t> shape, std::vector<double> values) {
  Tensor t(std::move(shape));
  t.data = std::move(values);
  return t;
}

Mask causal(Alignment alignment) {
  Mask mask;
  mask.kind = Mask::Kind::Causal;
  mask.alignment = alignment;
  return mask;
}

Mask window(int64_t left, int64_t right, Alignment alignment) {
  Mask mask;
  mask.kind = Mask::Kind::Window;
  mask.left = left;
  mask.right = right;
  mask.alignment = alignment;
  return mask;
}

TEST(Reference, SoftmaxWeightsTheValues) {
  // Scores 0 and ln 3 give weights 1/4 and 3/4: out = 4/4 + 3 * 8/4 = 7.
  Tensor q = make({1, 1, 1, 1}, {1.0});
  Tensor k = make({1, 1, 2, 1}, {0.0, std::log(3.0)});
  Tensor v = make({1, 1, 2, 1}, {4.0, 8.0});
  Cost cost;
  Tensor out = attention(q, k, v, nullptr, 1.0, Mask(), &cost);
  ASSERT_EQ(out.shape, (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_NEAR(out.data[0], 7.0, 1e-12);
  EXPECT_EQ(cost.pairs, 2);
  EXPECT_EQ(cost.flops, 2 * 2 * (1 + 1));
}

TEST(Reference, ScaleMultipliesTheScores) {
  // Scale 0.5 on scores 0 and 2 ln 3 gives the same weights as above.
  Tensor q = make({1, 1, 1, 1}, {2.0});
  Tensor k = make({1, 1, 2, 1}, {0.0, std::log(3.0)});
  Tensor v = make({1, 1, 2, 1}, {4.0, 8.0});
  Tensor out = attention(q, k, v, nullptr, 0.5, Mask(), nullptr);
  EXPECT_NEAR(out.data[0], 7.0, 1e-12);
}

TEST(Reference, CausalAlignments) {
  // Two queries, three keys with values 1, 10, 100 and equal scores.
  Tensor q = make({1, 1, 2, 1}, {0.0, 0.0});
  Tensor k = make({1, 1, 3, 1}, {0.0, 0.0, 0.0});
  Tensor v = make({1, 1, 3, 1}, {1.0, 10.0, 100.0});
  // Top-left: query 0 sees key 0, query 1 keys 0..1.
  Tensor topLeft = attention(q, k, v, nullptr, 1.0, causal(Alignment::TopLeft));
  EXPECT_NEAR(topLeft.data[0], 1.0, 1e-12);
  EXPECT_NEAR(topLeft.data[1], 5.5, 1e-12);
  // Bottom-right: query i sits at 3 - 2 + i, so keys 0..1 and 0..2.
  Tensor bottomRight =
      attention(q, k, v, nullptr, 1.0, causal(Alignment::BottomRight));
  EXPECT_NEAR(bottomRight.data[0], 5.5, 1e-12);
  EXPECT_NEAR(bottomRight.data[1], 37.0, 1e-12);
}

TEST(Reference, AlibiSlopesAreThePapers) {
  // Eight heads: 1/2, 1/4, ..., 1/256 (Press et al. 2022, section 3).
  std::vector<double> eight = alibiSlopes(8, 8.0);
  ASSERT_EQ(eight.size(), 8u);
  for (int h = 0; h < 8; ++h)
    EXPECT_DOUBLE_EQ(eight[h], std::ldexp(1.0, -(h + 1)));
  // Six heads: those of four (2^-2, 2^-4, 2^-6, 2^-8), then every other
  // slope of eight (2^-1, 2^-3).
  EXPECT_EQ(alibiSlopes(6, 8.0),
            (std::vector<double>{0.25, 0.0625, 0.015625, 0.00390625, 0.5,
                                 0.125}));
  EXPECT_EQ(alibiSlopes(1, 8.0), (std::vector<double>{1.0 / 256}));
  // A larger bias b: 2^(-b h / H).
  EXPECT_DOUBLE_EQ(alibiSlopes(4, 16.0)[0], 1.0 / 16);
}

TEST(Reference, AlibiBiasesByDistanceFromTheAlignedQuery) {
  // One query, three keys with equal products and values 1, 10, 100;
  // slope 1/256 (one head): bottom-right, the query sits on key 2.
  Tensor q = make({1, 1, 1, 1}, {0.0});
  Tensor k = make({1, 1, 3, 1}, {0.0, 0.0, 0.0});
  Tensor v = make({1, 1, 3, 1}, {1.0, 10.0, 100.0});
  ScoreMod mod;
  mod.alibiSlopes = alibiSlopes(1, 8.0);
  mod.alibiAlignment = Alignment::BottomRight;
  double m = 1.0 / 256;
  auto expected = [](double w0, double w1, double w2) {
    return (w0 * 1 + w1 * 10 + w2 * 100) / (w0 + w1 + w2);
  };
  Tensor out = attention(q, k, v, nullptr, 1.0, Mask(), nullptr, nullptr, mod);
  EXPECT_NEAR(out.data[0],
              expected(std::exp(-2 * m), std::exp(-m), 1.0), 1e-12);
  // Top-left: the query sits on key 0.
  mod.alibiAlignment = Alignment::TopLeft;
  out = attention(q, k, v, nullptr, 1.0, Mask(), nullptr, nullptr, mod);
  EXPECT_NEAR(out.data[0],
              expected(1.0, std::exp(-m), std::exp(-2 * m)), 1e-12);
}

TEST(Reference, WindowSeesItsNeighbourhood) {
  Tensor q = make({1, 1, 4, 1}, {0, 0, 0, 0});
  Tensor k = make({1, 1, 4, 1}, {0, 0, 0, 0});
  Tensor v = make({1, 1, 4, 1}, {1, 2, 4, 8});
  // left = 1, right = 0: row i averages keys i-1 and i.
  Tensor out =
      attention(q, k, v, nullptr, 1.0, window(1, 0, Alignment::TopLeft));
  EXPECT_NEAR(out.data[0], 1.0, 1e-12);
  EXPECT_NEAR(out.data[1], 1.5, 1e-12);
  EXPECT_NEAR(out.data[2], 3.0, 1e-12);
  EXPECT_NEAR(out.data[3], 6.0, 1e-12);
  // left = 0, right = 2: keys i..i+2.
  out = attention(q, k, v, nullptr, 1.0, window(0, 2, Alignment::TopLeft));
  EXPECT_NEAR(out.data[0], 7.0 / 3, 1e-12);
  EXPECT_NEAR(out.data[3], 8.0, 1e-12);
}

TEST(Reference, RowsThatSeeNothingAreZero) {
  Tensor q = make({2, 1, 3, 1}, {1, 2, 3, 4, 5, 6});
  Tensor k = make({2, 1, 2, 1}, {1, 2, 3, 4});
  Tensor v = make({2, 1, 2, 1}, {5, 6, 7, 8});
  // Batch row 0 has no valid key; in row 1, bottom-right puts query 0 at
  // position 2 - 3 + 0 = -1, before every key.
  Tensor lengths = make({2}, {0, 2});
  Cost cost;
  Tensor out =
      attention(q, k, v, &lengths, 1.0, causal(Alignment::BottomRight), &cost);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(out.data[i], 0.0) << "batch 0, row " << i;
  EXPECT_EQ(out.data[3], 0.0);
  EXPECT_NEAR(out.data[4], 7.0, 1e-12); // position 0: key 0 only
  EXPECT_FALSE(std::isnan(out.data[5]));
  EXPECT_EQ(cost.pairs, 0 + (0 + 1 + 2));
}

TEST(Reference, KeyLengthsAreClampedAndHideThePadding) {
  Tensor q = make({1, 1, 1, 1}, {0});
  Tensor k = make({1, 1, 3, 1}, {0, 0, 0});
  Tensor v = make({1, 1, 3, 1}, {3, 6, 1000});
  Tensor lengths = make({1}, {2});
  EXPECT_NEAR(attention(q, k, v, &lengths, 1.0, Mask()).data[0], 4.5, 1e-12);
  Tensor tooLong = make({1}, {7});
  EXPECT_NEAR(attention(q, k, v, &tooLong, 1.0, Mask()).data[0],
              (3 + 6 + 1000) / 3.0, 1e-9);
}

TEST(Reference, GroupedHeadsShareTheirKeyValueHead) {
  // Four query heads over two K/V heads: heads 0, 1 read head 0 and heads
  // 2, 3 read head 1. Zero scores average the values.
  Tensor q(std::vector<int64_t>{1, 4, 1, 1});
  Tensor k(std::vector<int64_t>{1, 2, 2, 1});
  Tensor v = make({1, 2, 2, 1}, {1, 3, 10, 30});
  Tensor out = attention(q, k, v, nullptr, 1.0, Mask());
  EXPECT_NEAR(out.data[0], 2.0, 1e-12);
  EXPECT_NEAR(out.data[1], 2.0, 1e-12);
  EXPECT_NEAR(out.data[2], 20.0, 1e-12);
  EXPECT_NEAR(out.data[3], 20.0, 1e-12);
}

TEST(Reference, LargeScoresDoNotOverflow) {
  Tensor q = make({1, 1, 1, 1}, {1000});
  Tensor k = make({1, 1, 2, 1}, {1, 1});
  Tensor v = make({1, 1, 2, 1}, {2, 4});
  Tensor out = attention(q, k, v, nullptr, 1.0, Mask());
  EXPECT_NEAR(out.data[0], 3.0, 1e-12);
}

TEST(Reference, CostCountsTheVisiblePairs) {
  // Causal over N = S = 37 with 2 heads: 2 * 37 * 38 / 2 pairs.
  Mask mask = causal(Alignment::TopLeft);
  Cost cost = attentionCost({1, 2, 37, 16}, {1, 2, 37, 16}, {1, 2, 37, 8},
                            nullptr, mask);
  EXPECT_EQ(cost.pairs, 1406);
  EXPECT_EQ(cost.flops, 2.0 * 1406 * (16 + 8));
  // The same count as computing it.
  Tensor q({1, 2, 37, 16}), k({1, 2, 37, 16}), v({1, 2, 37, 8});
  Cost computed;
  attention(q, k, v, nullptr, 0.25, mask, &computed);
  EXPECT_EQ(computed.pairs, cost.pairs);
  EXPECT_EQ(computed.flops, cost.flops);
}

TEST(Reference, ProjectionAndHeadsRoundTrip) {
  Tensor x = make({1, 2, 2}, {1, 2, 3, 4});
  Tensor w = make({2, 3}, {1, 0, 1, 0, 1, 1});
  Cost cost;
  Tensor y = project(x, w, &cost);
  EXPECT_EQ(y.data, (std::vector<double>{1, 2, 3, 3, 4, 7}));
  EXPECT_EQ(cost.flops, 2.0 * 2 * 2 * 3);

  Tensor t = make({1, 2, 4}, {0, 1, 2, 3, 4, 5, 6, 7});
  Tensor heads = splitHeads(t, 2); // (1, 2 heads, 2 tokens, 2)
  EXPECT_EQ(heads.shape, (std::vector<int64_t>{1, 2, 2, 2}));
  EXPECT_EQ(heads.data, (std::vector<double>{0, 1, 4, 5, 2, 3, 6, 7}));
  EXPECT_EQ(mergeHeads(heads).data, t.data);
}

TEST(Reference, MatmulAccumulatesIntoItsInit) {
  // [[1 2] [3 4]] [[1 0 1] [0 1 1]] + 10 = [[11 12 13] [13 14 17]]
  Tensor a = make({2, 2}, {1, 2, 3, 4});
  Tensor b = make({2, 3}, {1, 0, 1, 0, 1, 1});
  Tensor c = make({2, 3}, {10, 10, 10, 10, 10, 10});
  Cost cost;
  EXPECT_EQ(matmul(a, b, c, &cost).data,
            (std::vector<double>{11, 12, 13, 13, 14, 17}));
  EXPECT_EQ(cost.flops, 2.0 * 2 * 2 * 3);
  // Two batches, the second the first doubled.
  Tensor a2 = make({2, 1, 2}, {1, 2, 2, 4});
  Tensor b2 = make({2, 2, 1}, {3, 4, 3, 4});
  Tensor c2 = make({2, 1, 1}, {0, 0});
  EXPECT_EQ(matmul(a2, b2, c2).data, (std::vector<double>{11, 22}));
}

TEST(Reference, TransposePermutesTheDimensions) {
  Tensor x = make({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor t = transpose(x, {1, 0});
  EXPECT_EQ(t.shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(t.data, (std::vector<double>{0, 3, 1, 4, 2, 5}));
  // (1, 2, 2, 1) -> (1, 2, 2, 1) swapping dimensions 1 and 2.
  Tensor y = make({1, 2, 2, 1}, {0, 1, 2, 3});
  EXPECT_EQ(transpose(y, {0, 2, 1, 3}).data,
            (std::vector<double>{0, 2, 1, 3}));
}

} // namespace
