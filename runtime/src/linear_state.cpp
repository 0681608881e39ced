//===- linear_state.cpp - the state of linear attention -------------------===//
//
// Linear attention's decoder keeps S = sum_j phi(k_j) [v_j, 1]^T per
// (batch row, K/V head) instead of the keys and values: a fixed-size f32
// buffer. A module takes the current state and returns the next one, so the
// state has two buffers that trade places after each call; no copy.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <algorithm>
#include <climits>

using namespace attn::detail;

struct attn_linear_state_s {
  int64_t shape[4];
  std::vector<float> buffers[2];
  int current = 0;
  int64_t positions = 0;
};

extern "C" {

attn_status_t attn_linear_state_create(int64_t batch, int64_t kv_heads,
                                       int64_t head_dim, int64_t value_dim,
                                       attn_linear_state_t **out_state) {
  return guard([&]() -> attn_status_t {
    if (!out_state)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_linear_state_create: out_state is NULL");
    *out_state = nullptr;
    if (batch <= 0 || kv_heads <= 0 || head_dim <= 0 || value_dim <= 0)
      return makeStatus(
          ATTN_STATUS_INVALID_ARGUMENT,
          "attn_linear_state_create: batch, kv_heads, head_dim and value_dim "
          "must be positive, got " +
              std::to_string(batch) + ", " + std::to_string(kv_heads) + ", " +
              std::to_string(head_dim) + " and " + std::to_string(value_dim));
    if (value_dim > INT64_MAX / 2 ||
        batch > INT64_MAX / kv_heads / head_dim / (value_dim + 1) ||
        batch * kv_heads * head_dim * (value_dim + 1) > INT64_MAX / 8)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_linear_state_create: the state is too large");
    auto state = std::make_unique<attn_linear_state_s>();
    int64_t width = value_dim + 1;
    int64_t shape[4] = {batch, kv_heads, head_dim, width};
    std::copy(shape, shape + 4, state->shape);
    size_t count = static_cast<size_t>(batch * kv_heads * head_dim * width);
    for (std::vector<float> &buffer : state->buffers)
      buffer.assign(count, 0.0f);
    *out_state = state.release();
    return nullptr;
  });
}

void attn_linear_state_free(attn_linear_state_t *state) { delete state; }

attn_status_t attn_linear_state_views(const attn_linear_state_t *state,
                                      attn_tensor_t *out_current,
                                      attn_tensor_t *out_next) {
  if (!state)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_linear_state_views: state is NULL");
  auto view = [&](int which) {
    attn_tensor_t t;
    t.data = const_cast<float *>(state->buffers[which].data());
    t.dtype = ATTN_DTYPE_F32;
    t.rank = 4;
    t.shape = const_cast<int64_t *>(state->shape);
    t.strides = nullptr;
    return t;
  };
  if (out_current)
    *out_current = view(state->current);
  if (out_next)
    *out_next = view(1 - state->current);
  return nullptr;
}

attn_status_t attn_linear_state_advance(attn_linear_state_t *state,
                                        int64_t tokens) {
  if (!state)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_linear_state_advance: state is NULL");
  if (tokens < 0 || tokens > INT64_MAX - state->positions)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_linear_state_advance: tokens must not be "
                      "negative nor overflow the count, got " +
                          std::to_string(tokens) + " after " +
                          std::to_string(state->positions));
  state->current = 1 - state->current;
  state->positions += tokens;
  return nullptr;
}

attn_status_t attn_linear_state_positions(const attn_linear_state_t *state,
                                          int64_t *out_positions) {
  if (!state || !out_positions)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_linear_state_positions: state and out_positions "
                      "must not be NULL");
  *out_positions = state->positions;
  return nullptr;
}

attn_status_t attn_linear_state_clear(attn_linear_state_t *state) {
  if (!state)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_linear_state_clear: state is NULL");
  for (std::vector<float> &buffer : state->buffers)
    std::fill(buffer.begin(), buffer.end(), 0.0f);
  state->positions = 0;
  return nullptr;
}

} // extern "C"
