//===- KVCacheTest.cpp - K/V caches for decoding --------------------------===//

#include "TestUtil.h"

#include "attn/runtime.hpp"

#include <numeric>

using namespace attn::test;

namespace {

attn_kv_cache_options_t options(int64_t batch, int64_t heads, int64_t capacity,
                                int64_t dim, int64_t window = 0) {
  attn_kv_cache_options_t o;
  attn_kv_cache_options_init(&o);
  o.batch = batch;
  o.kv_heads = heads;
  o.capacity = capacity;
  o.head_dim = dim;
  o.window = window;
  return o;
}

/// (B, H, n, D) positions whose every element is 1000 * b + 100 * h +
/// position, the position counting from `first[b]`.
attn::HostTensor positions(int64_t batch, int64_t heads, int64_t n, int64_t dim,
                           const std::vector<int64_t> &first) {
  attn::HostTensor t(ATTN_DTYPE_F32, {batch, heads, n, dim});
  float *data = t.data<float>();
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < n; ++i)
        for (int64_t d = 0; d < dim; ++d)
          data[((b * heads + h) * n + i) * dim + d] =
              float(1000 * b + 100 * h + first[b] + i);
  return t;
}

/// The position held in slot `slot` of (b, h), read back from a view.
float held(const attn_tensor_t &view, int64_t b, int64_t h, int64_t slot) {
  const float *data = static_cast<const float *>(view.data);
  return data[((b * view.shape[1] + h) * view.shape[2] + slot) *
              view.shape[3]] -
         float(1000 * b + 100 * h);
}

TEST(KVCache, AppendsRaggedRowsInOrder) {
  auto cache = attn::KVCache::create(options(2, 3, 10, 4));
  ASSERT_TRUE(cache.ok()) << cache.status().toString();
  attn::HostTensor k = positions(2, 3, 5, 4, {0, 0});
  ASSERT_TRUE(cache->append(k.view(), k.view(), {5, 2}).ok());
  attn::HostTensor next = positions(2, 3, 1, 4, {5, 2});
  ASSERT_TRUE(cache->append(next.view(), next.view()).ok());

  std::vector<attn_tensor_t> views = cache->views();
  ASSERT_EQ(views.size(), 3u);
  EXPECT_EQ(views[0].shape[2], 10);
  const int32_t *lengths = static_cast<const int32_t *>(views[2].data);
  EXPECT_EQ(lengths[0], 6);
  EXPECT_EQ(lengths[1], 3);
  for (int64_t h = 0; h < 3; ++h) {
    for (int64_t s = 0; s < 6; ++s)
      EXPECT_EQ(held(views[0], 0, h, s), float(s));
    for (int64_t s = 0; s < 3; ++s)
      EXPECT_EQ(held(views[1], 1, h, s), float(s));
  }
  auto row = cache->row(1);
  ASSERT_TRUE(row.ok());
  EXPECT_EQ(row->first, 3);
  EXPECT_EQ(row->second, 3);
}

TEST(KVCache, PlainCacheRefusesToOverflowAndKeepsItsContents) {
  auto cache = attn::KVCache::create(options(2, 1, 4, 2));
  ASSERT_TRUE(cache.ok());
  attn::HostTensor k = positions(2, 1, 3, 2, {0, 0});
  ASSERT_TRUE(cache->append(k.view(), k.view(), {3, 1}).ok());
  attn::HostTensor more = positions(2, 1, 2, 2, {3, 1});
  attn::Status status = cache->append(more.view(), more.view());
  EXPECT_EQ(status.code(), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("batch row 0 keeps 3 positions and 2 more "
                                  "exceed the capacity 4"),
            std::string::npos)
      << status.message();
  // Row 1 would have fit; nothing changed in either row.
  EXPECT_EQ(cache->row(0)->first, 3);
  EXPECT_EQ(cache->row(1)->first, 1);
}

TEST(KVCache, RollingCacheKeepsTheLastWindowMinusOneInOrder) {
  // Window 4, capacity 6: an append of 1 that finds 6 held keeps the last 3.
  auto cache = attn::KVCache::create(options(1, 2, 6, 2, /*window=*/4));
  ASSERT_TRUE(cache.ok());
  int64_t next = 0;
  std::vector<int64_t> expectedLengths;
  for (int step = 0; step < 11; ++step) {
    attn::HostTensor k = positions(1, 2, 1, 2, {next});
    ASSERT_TRUE(cache->append(k.view(), k.view()).ok()) << "step " << step;
    ++next;
    auto row = cache->row(0);
    ASSERT_TRUE(row.ok());
    EXPECT_EQ(row->second, next);
    // Always in order, ending with the newest position, and never fewer
    // than the window (once that many were given).
    std::vector<attn_tensor_t> views = cache->views();
    for (int64_t h = 0; h < 2; ++h)
      for (int64_t s = 0; s < row->first; ++s)
        EXPECT_EQ(held(views[0], 0, h, s), float(next - row->first + s))
            << "step " << step << " head " << h << " slot " << s;
    EXPECT_GE(row->first, std::min<int64_t>(next, 4));
    expectedLengths.push_back(row->first);
  }
  // 1..6, then 4 (3 kept + 1), 5, 6, 4, 5.
  EXPECT_EQ(expectedLengths,
            (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 4, 5, 6, 4, 5}));
}

TEST(KVCache, RejectsBadOptionsAndTensors) {
  attn_kv_cache_t *raw = nullptr;
  attn_kv_cache_options_t bad = options(1, 1, 0, 4);
  expectError(take(attn_kv_cache_create(&bad, &raw)),
              ATTN_STATUS_INVALID_ARGUMENT, {"capacity 0"});
  bad = options(1, 1, 3, 4, /*window=*/8);
  expectError(take(attn_kv_cache_create(&bad, &raw)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"a rolling cache for window 8 needs a capacity of at least the "
               "window, got 3"});

  auto cache = attn::KVCache::create(options(2, 2, 8, 4));
  ASSERT_TRUE(cache.ok());
  attn::HostTensor wrongHeads = positions(2, 1, 1, 4, {0, 0});
  attn::Status status = cache->append(wrongHeads.view(), wrongHeads.view());
  EXPECT_NE(status.message().find("keys has shape [2,1,1,4], expected "
                                  "[2,2,n,4]"),
            std::string::npos)
      << status.message();
  attn::HostTensor k = positions(2, 2, 2, 4, {0, 0});
  attn::HostTensor v = positions(2, 2, 3, 4, {0, 0});
  status = cache->append(k.view(), v.view());
  EXPECT_NE(status.message().find("values has shape [2,2,3,4], expected "
                                  "[2,2,n,4] with n = 2 as for the keys"),
            std::string::npos)
      << status.message();
  attn::HostTensor half(ATTN_DTYPE_F16, {2, 2, 1, 4});
  status = cache->append(half.view(), half.view());
  EXPECT_NE(status.message().find("keys has dtype f16, the cache holds f32"),
            std::string::npos)
      << status.message();
  status = cache->append(k.view(), k.view(), {3, 0});
  EXPECT_NE(status.message().find("counts[0] = 3 is not within [0, 2]"),
            std::string::npos)
      << status.message();
  EXPECT_FALSE(cache->row(2).ok());
}

} // namespace
