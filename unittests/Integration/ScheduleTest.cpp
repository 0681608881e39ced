//===- ScheduleTest.cpp - work proportional to the pattern ----------------===//
//
// The pairs the flash lowering computes, counted by evaluating its own block
// schedule after the front end's rewrites (attn-decompose-sparse-masks), as
// N grows. Deterministic: no timing.
//
//===----------------------------------------------------------------------===//

#include "attn/Target/Schedule.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/IR/MLIRContext.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

using namespace mlir;
using namespace mlir::attn;

namespace {

class SparseSchedule : public ::testing::Test {
protected:
  SparseSchedule() : context(createCompilerContext()) {}

  /// Pairs computed for one (batch row, head) of an N x N self attention
  /// with 64 x 64 tiles, summed over both head parities.
  int64_t pairsComputed(MaskAttrInterface mask, int64_t n) {
    int64_t pairs = 0;
    for (int64_t head = 0; head < 2; ++head) {
      std::string error;
      FailureOr<ScheduleTotals> totals = evaluateLoweredSchedule(
          ctx(), mask, 64, 64, n, n, n, head, /*numHeads=*/2,
          /*numKVHeads=*/2, error);
      EXPECT_TRUE(succeeded(totals)) << error;
      if (succeeded(totals))
        pairs += totals->pairsComputed;
    }
    return pairs;
  }

  /// Over N = 1k, 4k, 16k, 64k with l = sqrt(N) (the mask built for l), the
  /// ratio pairs / (N sqrt(N)) never grows: O(N sqrt N). It falls towards
  /// the pattern's constant as the tiles' fixed overhead, O(N T) for T = 64,
  /// fades. The tiles of the original order would make it grow like sqrt(N).
  void expectNSqrtN(function_ref<MaskAttrInterface(int64_t)> maskFor,
                    double bound) {
    double previous = INFINITY;
    for (int64_t n : {1024, 4096, 16384, 65536}) {
      int64_t l = static_cast<int64_t>(std::sqrt(double(n)));
      double ratio = pairsComputed(maskFor(l), n) / (n * std::sqrt(double(n)));
      EXPECT_LE(ratio, previous * 1.02) << "N = " << n;
      previous = ratio;
    }
    EXPECT_LT(previous, bound);
  }

  MLIRContext *ctx() { return context.get(); }
  std::unique_ptr<MLIRContext> context;
};

TEST_F(SparseSchedule, StridedVisitsNSqrtNPairs) {
  for (bool bidirectional : {false, true})
    for (bool split : {false, true})
      expectNSqrtN(
          [&](int64_t l) {
            return StridedMaskAttr::get(ctx(), l, bidirectional, split);
          },
          // Two heads, each at most 1 (band) + 1 (classes) pairs per
          // N sqrt(N) allowed, twice that bidirectional, and the tiles' rest.
          bidirectional ? 10.0 : 6.0);
}

TEST_F(SparseSchedule, FixedVisitsNSqrtNPairs) {
  for (bool bidirectional : {false, true})
    expectNSqrtN(
        [&](int64_t l) {
          return FixedMaskAttr::get(ctx(), l, /*summary=*/8, bidirectional,
                                    /*split_heads=*/false);
        },
        // The c = 8 summary keys of every block are c N sqrt(N) / 2 pairs
        // allowed per head (c N sqrt(N) bidirectional), the own block 1/2.
        bidirectional ? 2 * (8 + 1) * 1.1 : 2 * (4 + 0.5) * 1.1);
}

TEST_F(SparseSchedule, DilationDividesTheWindowsTiles) {
  // A 256 + 256 window at dilation 4 visits about as many pairs as a
  // 64 + 64 plain window, not as the 512-key span it covers.
  auto dilated = WindowMaskAttr::get(ctx(), 256, 256, Alignment::TopLeft, 4);
  auto span = WindowMaskAttr::get(ctx(), 256, 256, Alignment::TopLeft, 1);
  auto narrow = WindowMaskAttr::get(ctx(), 64, 64, Alignment::TopLeft, 1);
  int64_t n = 4096;
  EXPECT_LT(pairsComputed(dilated, n), 0.5 * pairsComputed(span, n));
  EXPECT_LT(pairsComputed(dilated, n), 1.3 * pairsComputed(narrow, n));
}

} // namespace
