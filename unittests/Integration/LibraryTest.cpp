//===- LibraryTest.cpp - a shared library from attn-translate -------------===//
//
// What a C++ application does: load the shared library that attn-translate
// built from examples/01_scaled_dot_product_attention.mlir (at build time),
// call it through the runtime on shapes of its choosing, and get attention
// out. Checked against the float64 reference.
//
//===----------------------------------------------------------------------===//

#include "attn/Reference/HostTensors.h"
#include "attn/runtime.hpp"

#include "gtest/gtest.h"

namespace ref = ::attn::reference;
using ::attn::HostTensor;

namespace {

TEST(Library, RunsTheScaledDotProductExample) {
  auto module = ::attn::Module::loadLibrary(ATTN_SDPA_LIBRARY);
  ASSERT_TRUE(module.ok()) << module.status().toString();
  auto sdpa = module->lookup("sdpa");
  ASSERT_TRUE(sdpa.ok()) << sdpa.status().toString();
  EXPECT_EQ(sdpa->signature(),
            "sdpa(q: f32[B,1,N,64], k: f32[B,1,S,64], v: f32[B,1,S,64]) -> "
            "(out: f32[B,1,N,64])");

  // One library, any batch and lengths.
  const int64_t shapes[][3] = {{1, 1, 1}, {2, 17, 33}, {3, 70, 5}};
  for (const auto &[batch, queries, keys] : shapes) {
    HostTensor q(ATTN_DTYPE_F32, {batch, 1, queries, 64});
    HostTensor k(ATTN_DTYPE_F32, {batch, 1, keys, 64});
    HostTensor v(ATTN_DTYPE_F32, {batch, 1, keys, 64});
    ref::fillRandom(q, 1, 0);
    ref::fillRandom(k, 2, 0);
    ref::fillRandom(v, 3, 0);
    attn_invoke_stats_t stats;
    auto out = sdpa->call({q.view(), k.view(), v.view()}, &stats);
    ASSERT_TRUE(out.ok()) << out.status().toString();
    ref::Tensor expected =
        ref::attention(ref::toReference(q), ref::toReference(k),
                       ref::toReference(v), nullptr, 1.0 / 8, ref::Mask());
    EXPECT_LE(ref::maxError((*out)[0], expected), 1e-5);
    // The score matrix is the largest temporary.
    EXPECT_GE(stats.peak_bytes, uint64_t(4 * batch * queries * keys));
    EXPECT_EQ(stats.retained_bytes, 0);
  }
}

TEST(Library, RefusesAWrongShapeWithoutRunning) {
  auto module = ::attn::Module::loadLibrary(ATTN_SDPA_LIBRARY);
  ASSERT_TRUE(module.ok()) << module.status().toString();
  auto sdpa = module->lookup("sdpa");
  ASSERT_TRUE(sdpa.ok());
  HostTensor q(ATTN_DTYPE_F32, {2, 1, 5, 64});
  HostTensor k(ATTN_DTYPE_F32, {2, 1, 7, 32});
  HostTensor v(ATTN_DTYPE_F32, {2, 1, 7, 64});
  auto out = sdpa->call({q.view(), k.view(), v.view()});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(out.status().message().find("argument 'k' (input 1) has shape "
                                        "[2,1,7,32]"),
            std::string::npos)
      << out.status().message();
}

} // namespace

namespace {

/// With one valid key each query head's output is the value row of its K/V
/// head: out[b, h] = v[b, h / 2, 0].
TEST(Library, CallsItsOwnFunctionsNamedLikeTheCLibrarys) {
  auto module = ::attn::Module::loadLibrary(ATTN_STEP_LIBRARY);
  ASSERT_TRUE(module.ok()) << module.status().toString();
  auto step = module->lookup("step");
  ASSERT_TRUE(step.ok()) << step.status().toString();
  HostTensor q(ATTN_DTYPE_F32, {2, 4, 1, 16}), k(ATTN_DTYPE_F32, {2, 2, 5, 16}),
      v(ATTN_DTYPE_F32, {2, 2, 5, 16});
  ::attn::reference::fillRandom(q, 1, 0);
  ::attn::reference::fillRandom(k, 2, 0);
  ::attn::reference::fillRandom(v, 3, 0);
  HostTensor lengths = HostTensor::fromValues<int32_t>({2}, {1, 1});
  auto out = step->call({q.view(), k.view(), v.view(), lengths.view()});
  ASSERT_TRUE(out.ok()) << out.status().toString();
  const float *o = (*out)[0].data<float>();
  const float *values = v.data<float>();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t e = 0; e < 16; ++e)
        EXPECT_FLOAT_EQ(o[(b * 4 + h) * 16 + e],
                        values[((b * 2 + h / 2) * 5) * 16 + e])
            << "b " << b << " h " << h << " e " << e;
}

} // namespace
