//===- InvokeTest.cpp - Running fake generated modules --------------------===//

#include "TestUtil.h"

#include <cmath>
#include <thread>

using namespace attn::test;

namespace {

TEST(Invoke, AddComputesValuesAndStats) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *add = module.function("add");
  Buffer<float> a(ATTN_DTYPE_F32, {2, 3}), b(ATTN_DTYPE_F32, {2, 3}),
      out(ATTN_DTYPE_F32, {2, 3});
  for (int i = 0; i < 6; ++i) {
    a.values[i] = static_cast<float>(i);
    b.values[i] = 10.0f * static_cast<float>(i);
  }
  attn_tensor_t inputs[] = {a.view(), b.view()};
  attn_tensor_t outputs[] = {out.view()};

  int64_t shape[2] = {-1, -1};
  ATTN_ASSERT_OK(attn_function_infer_output_shapes(add, inputs, 2, shape));
  EXPECT_EQ(shape[0], 2);
  EXPECT_EQ(shape[1], 3);

  attn_invoke_stats_t stats{123, 456, 789};
  ATTN_ASSERT_OK(attn_function_invoke(add, inputs, 2, outputs, 1, &stats));
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(out.values[i], 11.0f * static_cast<float>(i));
  // add allocates nothing.
  EXPECT_EQ(stats.peak_bytes, 0u);
  EXPECT_EQ(stats.allocation_count, 0u);
  EXPECT_EQ(stats.retained_bytes, 0);

  // Stats are optional.
  ATTN_EXPECT_OK(attn_function_invoke(add, inputs, 2, outputs, 1, nullptr));
}

TEST(Invoke, RankZeroOutput) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *dot = module.function("dot");
  Buffer<float> x(ATTN_DTYPE_F32, {3}), y(ATTN_DTYPE_F32, {3}),
      out(ATTN_DTYPE_F32, {});
  x.values = {1, 2, 3};
  y.values = {4, 5, 6};
  attn_tensor_t inputs[] = {x.view(), y.view()};
  // A rank-0 output needs no shape storage at all.
  ATTN_EXPECT_OK(attn_function_infer_output_shapes(dot, inputs, 2,
                                                   /*out_shapes=*/nullptr));
  attn_tensor_t output = out.view();
  output.shape = nullptr;
  ATTN_ASSERT_OK(attn_function_invoke(dot, inputs, 2, &output, 1, nullptr));
  EXPECT_EQ(out.values[0], 32.0f);
}

TEST(Invoke, TwoOutputs) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *minmax = module.function("minmax");
  Buffer<float> x(ATTN_DTYPE_F32, {2, 3}), lo(ATTN_DTYPE_F32, {2}),
      hi(ATTN_DTYPE_F32, {2});
  x.values = {3, -1, 2, 7, 8, 0.5f};
  attn_tensor_t input = x.view();
  int64_t shapes[2] = {0, 0};
  ATTN_ASSERT_OK(attn_function_infer_output_shapes(minmax, &input, 1, shapes));
  EXPECT_EQ(shapes[0], 2);
  EXPECT_EQ(shapes[1], 2);
  attn_tensor_t outputs[] = {lo.view(), hi.view()};
  ATTN_ASSERT_OK(attn_function_invoke(minmax, &input, 1, outputs, 2, nullptr));
  EXPECT_EQ(lo.values, (std::vector<float>{-1, 0.5f}));
  EXPECT_EQ(hi.values, (std::vector<float>{3, 8}));
}

TEST(Invoke, DescriptorsFollowTheMemrefLayout) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *probe = module.function("probe");
  Buffer<float> x(ATTN_DTYPE_F32, {2, 3, 5});
  Buffer<int64_t> info(ATTN_DTYPE_I64, {10}, -7);
  attn_tensor_t input = x.view(), output = info.view();
  ATTN_ASSERT_OK(attn_function_invoke(probe, &input, 1, &output, 1, nullptr));
  // allocated == aligned, offset 0, sizes, row-major strides in elements.
  EXPECT_EQ(info.values, (std::vector<int64_t>{1, 0, 2, 3, 5, 15, 5, 1, 0, 1}));
}

TEST(Invoke, SizeOneDimensionsMayHaveAnyStride) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *probe = module.function("probe");
  Buffer<float> x(ATTN_DTYPE_F32, {2, 1, 5});
  Buffer<int64_t> info(ATTN_DTYPE_I64, {10});
  int64_t strides[] = {5, 999, 1};
  attn_tensor_t input = x.view(), output = info.view();
  input.strides = strides;
  int64_t outStrides[] = {1};
  output.strides = outStrides;
  ATTN_ASSERT_OK(attn_function_invoke(probe, &input, 1, &output, 1, nullptr));
  // The generated code sees the canonical strides.
  EXPECT_EQ(info.values[6], 5);
}

TEST(Invoke, StaticDimensionAndF64) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *scale = module.function("scale");
  Buffer<double> x(ATTN_DTYPE_F64, {3, 2}, 1.5), y(ATTN_DTYPE_F64, {3, 2});
  attn_tensor_t input = x.view(), output = y.view();
  ATTN_ASSERT_OK(attn_function_invoke(scale, &input, 1, &output, 1, nullptr));
  EXPECT_EQ(y.values, (std::vector<double>{1.5, 1.5, 3, 3, 4.5, 4.5}));
}

TEST(Invoke, EmptyTensorsMayHaveNullData) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *add = module.function("add");
  int64_t shape[] = {0, 4};
  attn_tensor_t empty{nullptr, ATTN_DTYPE_F32, 2, shape, nullptr};
  attn_tensor_t inputs[] = {empty, empty};
  ATTN_EXPECT_OK(attn_function_invoke(add, inputs, 2, &empty, 1, nullptr));
}

/// float64 reference of the attention fixture: 2 query heads share 1 K/V
/// head, head size 4, keys at or past key_lengths[b] are masked, a row with
/// no visible key is 0.
std::vector<float> referenceAttention(const std::vector<float> &q,
                                      const std::vector<float> &k,
                                      const std::vector<float> &v,
                                      const std::vector<int32_t> &lengths,
                                      int64_t batch, int64_t n, int64_t s) {
  std::vector<float> out(static_cast<size_t>(batch * 2 * n * 4), 0.0f);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t i = 0; i < n; ++i) {
        const float *qi = &q[((b * 2 + h) * n + i) * 4];
        std::vector<double> scores;
        double max = -INFINITY;
        for (int64_t j = 0; j < lengths[b]; ++j) {
          double dot = 0;
          for (int d = 0; d < 4; ++d)
            dot += double(qi[d]) * k[(b * s + j) * 4 + d];
          scores.push_back(dot / 2.0);
          max = std::max(max, scores.back());
        }
        double sum = 0, acc[4] = {0, 0, 0, 0};
        for (int64_t j = 0; j < lengths[b]; ++j) {
          double p = std::exp(scores[j] - max);
          sum += p;
          for (int d = 0; d < 4; ++d)
            acc[d] += p * v[(b * s + j) * 4 + d];
        }
        for (int d = 0; d < 4; ++d)
          out[((b * 2 + h) * n + i) * 4 + d] =
              sum > 0 ? static_cast<float>(acc[d] / sum) : 0.0f;
      }
  return out;
}

TEST(Invoke, AttentionWithKeyLengthsMatchesTheReference) {
  LoadedModule module(ATTN_FIXTURE_ATTENTION);
  const attn_function_t *attention = module.function("attention");
  const int64_t batch = 3, n = 5, s = 7;
  Buffer<float> q(ATTN_DTYPE_F32, {batch, 2, n, 4}),
      k(ATTN_DTYPE_F32, {batch, 1, s, 4}), v(ATTN_DTYPE_F32, {batch, 1, s, 4});
  Buffer<int32_t> lengths(ATTN_DTYPE_I32, {batch});
  lengths.values = {7, 3, 0}; // full, partial, fully masked
  auto fill = [](std::vector<float> &values, float seed) {
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = std::sin(seed * static_cast<float>(i + 1));
  };
  fill(q.values, 0.37f);
  fill(k.values, 0.91f);
  fill(v.values, 1.73f);

  attn_tensor_t inputs[] = {q.view(), k.view(), v.view(), lengths.view()};
  int64_t shape[4];
  ATTN_ASSERT_OK(
      attn_function_infer_output_shapes(attention, inputs, 4, shape));
  EXPECT_EQ(std::vector<int64_t>(shape, shape + 4),
            (std::vector<int64_t>{batch, 2, n, 4}));

  Buffer<float> out(ATTN_DTYPE_F32, {batch, 2, n, 4}, NAN);
  attn_tensor_t output = out.view();
  attn_invoke_stats_t stats;
  ATTN_ASSERT_OK(
      attn_function_invoke(attention, inputs, 4, &output, 1, &stats));

  std::vector<float> expected = referenceAttention(q.values, k.values, v.values,
                                                   lengths.values, batch, n, s);
  for (size_t i = 0; i < expected.size(); ++i)
    ASSERT_NEAR(out.values[i], expected[i], 1e-5) << "element " << i;
  // The last batch row sees no key: exact zeros, not NaN.
  for (int64_t i = 2 * 2 * n * 4; i < batch * 2 * n * 4; ++i)
    EXPECT_EQ(out.values[i], 0.0f);

  // One scratch row of (S + 1) floats.
  EXPECT_EQ(stats.peak_bytes, uint64_t((s + 1) * 4));
  EXPECT_EQ(stats.allocation_count, 1u);
  EXPECT_EQ(stats.retained_bytes, 0);
}

TEST(Invoke, PeakBytesAreExact) {
  LoadedModule module(ATTN_FIXTURE_ALLOCATING);
  const attn_function_t *scratch = module.function("scratch");
  for (int64_t n : {1, 64, 1000}) {
    Buffer<float> x(ATTN_DTYPE_F32, {n}, 3.0f), out(ATTN_DTYPE_F32, {n});
    attn_tensor_t input = x.view(), output = out.view();
    attn_invoke_stats_t stats;
    ATTN_ASSERT_OK(
        attn_function_invoke(scratch, &input, 1, &output, 1, &stats));
    for (float value : out.values)
      ASSERT_EQ(value, 6.0f) << "an aligned block was misaligned";
    // max(1000 + 4N, 4N + 100)
    EXPECT_EQ(stats.peak_bytes, uint64_t(1000 + 4 * n)) << "N = " << n;
    EXPECT_EQ(stats.allocation_count, 3u);
    EXPECT_EQ(stats.retained_bytes, 0);
  }
}

TEST(Invoke, RetainedBytesAcrossCalls) {
  LoadedModule module(ATTN_FIXTURE_ALLOCATING);
  Buffer<float> x(ATTN_DTYPE_F32, {4}, 1.0f), out(ATTN_DTYPE_F32, {4});
  attn_tensor_t input = x.view(), output = out.view();

  attn_memory_stats_t before;
  attn_memory_stats_get(&before);
  attn_invoke_stats_t stats;
  ATTN_ASSERT_OK(attn_function_invoke(module.function("hold"), &input, 1,
                                      &output, 1, &stats));
  EXPECT_EQ(stats.peak_bytes, 256u);
  EXPECT_EQ(stats.allocation_count, 1u);
  EXPECT_EQ(stats.retained_bytes, 256);
  attn_memory_stats_t held;
  attn_memory_stats_get(&held);
  EXPECT_EQ(held.current_bytes, before.current_bytes + 256);

  // The peak restarts from the current level, which already holds 256 bytes.
  ATTN_ASSERT_OK(attn_function_invoke(module.function("release"), &input, 1,
                                      &output, 1, &stats));
  EXPECT_EQ(stats.peak_bytes, 0u);
  EXPECT_EQ(stats.allocation_count, 0u);
  EXPECT_EQ(stats.retained_bytes, -256);
  attn_memory_stats_t after;
  attn_memory_stats_get(&after);
  EXPECT_EQ(after.current_bytes, before.current_bytes);
  EXPECT_EQ(after.free_count, before.free_count + 1);
}

TEST(Invoke, ConcurrentInvocationsAreSafe) {
  LoadedModule module(ATTN_FIXTURE_ATTENTION);
  const attn_function_t *attention = module.function("attention");
  const int64_t batch = 2, n = 16, s = 33;
  Buffer<float> q(ATTN_DTYPE_F32, {batch, 2, n, 4}, 0.25f),
      k(ATTN_DTYPE_F32, {batch, 1, s, 4}, 0.5f),
      v(ATTN_DTYPE_F32, {batch, 1, s, 4});
  for (size_t i = 0; i < v.values.size(); ++i)
    v.values[i] = static_cast<float>(i % 7);
  Buffer<int32_t> lengths(ATTN_DTYPE_I32, {batch});
  lengths.values = {33, 10};
  attn_tensor_t inputs[] = {q.view(), k.view(), v.view(), lengths.view()};
  std::vector<float> expected = referenceAttention(q.values, k.values, v.values,
                                                   lengths.values, batch, n, s);

  constexpr int kThreads = 4, kIterations = 50;
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      Buffer<float> out(ATTN_DTYPE_F32, {batch, 2, n, 4});
      attn_tensor_t output = out.view();
      for (int it = 0; it < kIterations; ++it) {
        attn_status_t status =
            attn_function_invoke(attention, inputs, 4, &output, 1, nullptr);
        if (status) {
          attn_status_free(status);
          ++failures[t];
          continue;
        }
        for (size_t i = 0; i < expected.size(); ++i)
          if (std::fabs(out.values[i] - expected[i]) > 1e-5f) {
            ++failures[t];
            break;
          }
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  for (int t = 0; t < kThreads; ++t)
    EXPECT_EQ(failures[t], 0) << "thread " << t;
}

} // namespace
