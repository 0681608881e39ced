//===- LinearStateTest.cpp - the state of linear attention ----------------===//

#include "TestUtil.h"

#include "attn/runtime.hpp"

using namespace attn::test;

namespace {

TEST(LinearState, StartsAtZeroWithTheModuleShape) {
  auto state = attn::LinearState::create(2, 3, 4, 5);
  ASSERT_TRUE(state.ok()) << state.status().toString();
  attn_tensor_t current = state->current(), next = state->next();
  EXPECT_EQ(current.dtype, ATTN_DTYPE_F32);
  ASSERT_EQ(current.rank, 4);
  // (B, Hkv, D, Dv + 1): the sums of phi(k) v^T and, last, of phi(k).
  EXPECT_EQ(std::vector<int64_t>(current.shape, current.shape + 4),
            (std::vector<int64_t>{2, 3, 4, 6}));
  EXPECT_NE(current.data, next.data);
  const float *values = static_cast<const float *>(current.data);
  for (int64_t i = 0; i < 2 * 3 * 4 * 6; ++i)
    ASSERT_EQ(values[i], 0.0f) << "element " << i;
  EXPECT_EQ(state->positions(), 0);
}

TEST(LinearState, AdvanceMakesTheWrittenBufferCurrent) {
  auto state = attn::LinearState::create(1, 1, 2, 1);
  ASSERT_TRUE(state.ok());
  // A module writes its final state into next() ...
  attn_tensor_t next = state->next();
  static_cast<float *>(next.data)[0] = 7.0f;
  ATTN_ASSERT_OK(attn_linear_state_advance(state->get(), 5));
  // ... which the next call reads as its state; no copy.
  EXPECT_EQ(state->current().data, next.data);
  EXPECT_EQ(static_cast<const float *>(state->current().data)[0], 7.0f);
  EXPECT_EQ(state->positions(), 5);
  ASSERT_TRUE(state->advance(1).ok());
  EXPECT_EQ(state->positions(), 6);
  // Clearing zeroes both buffers and the count.
  attn_tensor_t written = state->next();
  static_cast<float *>(written.data)[1] = 3.0f;
  ASSERT_TRUE(state->advance(1).ok());
  ASSERT_TRUE(state->clear().ok());
  EXPECT_EQ(state->positions(), 0);
  EXPECT_EQ(static_cast<const float *>(state->current().data)[1], 0.0f);
  EXPECT_EQ(static_cast<const float *>(state->next().data)[0], 0.0f);
}

TEST(LinearState, RefusesBadArguments) {
  attn_linear_state_t *raw = nullptr;
  expectError(
      take(attn_linear_state_create(2, 0, 4, 4, &raw)),
      ATTN_STATUS_INVALID_ARGUMENT,
      {"attn_linear_state_create", "must be positive, got 2, 0, 4 and 4"});
  EXPECT_EQ(raw, nullptr);
  expectError(take(attn_linear_state_create(1, 1, 1, 1, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"out_state is NULL"});
  expectError(take(attn_linear_state_create(INT64_MAX / 2, 4, 4, 4, &raw)),
              ATTN_STATUS_INVALID_ARGUMENT, {"too large"});
  auto state = attn::LinearState::create(1, 1, 1, 1);
  ASSERT_TRUE(state.ok());
  attn::Status status = state->advance(-1);
  EXPECT_EQ(status.code(), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("tokens must not be negative nor overflow "
                                  "the count, got -1 after 0"),
            std::string::npos)
      << status.message();
  ASSERT_TRUE(state->advance(INT64_MAX).ok());
  EXPECT_EQ(state->advance(1).code(), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(state->positions(), INT64_MAX);
  expectError(take(attn_linear_state_create(1, 1, 1, INT64_MAX, &raw)),
              ATTN_STATUS_INVALID_ARGUMENT, {"too large"});
  expectError(take(attn_linear_state_views(nullptr, nullptr, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"state is NULL"});
  attn_linear_state_free(nullptr);
}

} // namespace
