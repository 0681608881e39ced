//===- kv_cache.cpp - K/V caches for decode modules -----------------------===//
//
// A cache is three buffers shaped as a decode module reads them (keys,
// values, lengths); appending copies the new rows of each (batch row, K/V
// head) after its valid ones. A rolling cache moves a row's last window - 1
// positions to the front before an append that would overflow: that keeps
// every row contiguous and in order, so the module needs nothing but its
// key lengths and its window mask, and the move happens once per
// capacity - window + 1 appended positions.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <algorithm>
#include <climits>
#include <cstring>

using namespace attn::detail;

struct attn_kv_cache_s {
  attn_kv_cache_options_t options;
  size_t elementSize;
  std::unique_ptr<std::byte[]> keys, values;
  std::vector<int32_t> lengths;
  std::vector<int64_t> nextPositions;
  int64_t keyShape[4], valueShape[4], lengthShape[1];

  size_t keyRowBytes() const { return options.head_dim * elementSize; }
  size_t valueRowBytes() const { return options.value_dim * elementSize; }
  /// Slot 0 of (batch row b, K/V head h) in a buffer of `rowBytes` rows.
  std::byte *slot(std::byte *base, size_t rowBytes, int64_t b, int64_t h) {
    return base + ((b * options.kv_heads + h) * options.capacity) * rowBytes;
  }
};

namespace {

/// Checks one appended tensor: the cache's dtype, rank 4, (B, Hkv, n, width)
/// with n the same for keys and values, contiguous.
attn_status_t checkAppended(const attn_kv_cache_t &cache,
                            const attn_tensor_t *tensor, const char *name,
                            int64_t width, int64_t *inOutCount) {
  std::string prefix = std::string("attn_kv_cache_append: ") + name;
  if (!tensor)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT, prefix + " is NULL");
  if (tensor->dtype != cache.options.dtype)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      prefix + " has dtype " + dtypeDescription(tensor->dtype) +
                          ", the cache holds " +
                          dtypeDescription(cache.options.dtype));
  const attn_kv_cache_options_t &o = cache.options;
  std::string expected = "[" + std::to_string(o.batch) + "," +
                         std::to_string(o.kv_heads) + ",n," +
                         std::to_string(width) + "]";
  if (tensor->rank != 4 || !tensor->shape || tensor->shape[0] != o.batch ||
      tensor->shape[1] != o.kv_heads || tensor->shape[2] < 0 ||
      tensor->shape[3] != width ||
      (*inOutCount >= 0 && tensor->shape[2] != *inOutCount))
    return makeStatus(
        ATTN_STATUS_INVALID_ARGUMENT,
        prefix + " has shape " + formatShape(tensor->rank, tensor->shape) +
            ", expected " + expected +
            (*inOutCount >= 0 ? " with n = " + std::to_string(*inOutCount) +
                                    " as for the keys"
                              : std::string()));
  if (tensor->strides) {
    int64_t contiguous = 1;
    for (int d = 3; d >= 0; --d) {
      if (tensor->shape[d] != 1 && tensor->strides[d] != contiguous)
        return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                          prefix + " must be contiguous (row-major)");
      contiguous *= tensor->shape[d];
    }
  }
  if (tensor->shape[2] > 0 && !tensor->data)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT, prefix + " has no data");
  *inOutCount = tensor->shape[2];
  return nullptr;
}

} // namespace

extern "C" {

void attn_kv_cache_options_init(attn_kv_cache_options_t *options) {
  if (!options)
    return;
  std::memset(options, 0, sizeof(*options));
  options->dtype = ATTN_DTYPE_F32;
}

attn_status_t attn_kv_cache_create(const attn_kv_cache_options_t *options,
                                   attn_kv_cache_t **out_cache) {
  return guard([&]() -> attn_status_t {
    if (!options || !out_cache)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_kv_cache_create: options and out_cache must "
                        "not be NULL");
    attn_kv_cache_options_t o = *options;
    if (o.value_dim == 0)
      o.value_dim = o.head_dim;
    if (o.batch <= 0 || o.kv_heads <= 0 || o.capacity <= 0 || o.head_dim <= 0 ||
        o.value_dim <= 0 || o.window < 0)
      return makeStatus(
          ATTN_STATUS_INVALID_ARGUMENT,
          "attn_kv_cache_create: batch, kv_heads, capacity, head_dim and "
          "value_dim must be positive and window not negative, got batch " +
              std::to_string(o.batch) + ", kv_heads " +
              std::to_string(o.kv_heads) + ", capacity " +
              std::to_string(o.capacity) + ", head_dim " +
              std::to_string(o.head_dim) + ", value_dim " +
              std::to_string(o.value_dim) + ", window " +
              std::to_string(o.window));
    if (o.capacity > INT32_MAX)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_kv_cache_create: capacity " +
                            std::to_string(o.capacity) +
                            " does not fit the i32 key lengths");
    if (o.dtype != ATTN_DTYPE_F32 && o.dtype != ATTN_DTYPE_F16 &&
        o.dtype != ATTN_DTYPE_BF16)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_kv_cache_create: dtype must be f32, f16 or "
                        "bf16, got " +
                            dtypeDescription(o.dtype));
    if (o.window > 0 && o.capacity < o.window)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_kv_cache_create: a rolling cache for window " +
                            std::to_string(o.window) +
                            " needs a capacity of at least the window, got " +
                            std::to_string(o.capacity));
    auto cache = std::make_unique<attn_kv_cache_s>();
    cache->options = o;
    cache->elementSize = dtypeSize(o.dtype);
    size_t slots = static_cast<size_t>(o.batch * o.kv_heads * o.capacity);
    // Zeroed: the padded tail tile a module reads past the valid keys is
    // masked, but stays finite.
    cache->keys.reset(new std::byte[slots * cache->keyRowBytes()]());
    cache->values.reset(new std::byte[slots * cache->valueRowBytes()]());
    cache->lengths.assign(o.batch, 0);
    cache->nextPositions.assign(o.batch, 0);
    int64_t keyShape[4] = {o.batch, o.kv_heads, o.capacity, o.head_dim};
    int64_t valueShape[4] = {o.batch, o.kv_heads, o.capacity, o.value_dim};
    std::memcpy(cache->keyShape, keyShape, sizeof(keyShape));
    std::memcpy(cache->valueShape, valueShape, sizeof(valueShape));
    cache->lengthShape[0] = o.batch;
    *out_cache = cache.release();
    return nullptr;
  });
}

void attn_kv_cache_free(attn_kv_cache_t *cache) { delete cache; }

attn_status_t attn_kv_cache_append(attn_kv_cache_t *cache,
                                   const attn_tensor_t *keys,
                                   const attn_tensor_t *values,
                                   const int32_t *counts) {
  return guard([&]() -> attn_status_t {
    if (!cache)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_kv_cache_append: cache is NULL");
    const attn_kv_cache_options_t &o = cache->options;
    int64_t n = -1;
    if (attn_status_t status =
            checkAppended(*cache, keys, "keys", o.head_dim, &n))
      return status;
    if (attn_status_t status =
            checkAppended(*cache, values, "values", o.value_dim, &n))
      return status;

    // Every row first, so that a failure changes nothing.
    std::vector<int64_t> kept(o.batch), added(o.batch);
    for (int64_t b = 0; b < o.batch; ++b) {
      added[b] = counts ? counts[b] : n;
      if (added[b] < 0 || added[b] > n)
        return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                          "attn_kv_cache_append: counts[" + std::to_string(b) +
                              "] = " + std::to_string(added[b]) +
                              " is not within [0, " + std::to_string(n) +
                              "], the positions given");
      kept[b] = cache->lengths[b];
      if (kept[b] + added[b] > o.capacity && o.window > 0)
        kept[b] = std::min<int64_t>(kept[b], o.window - 1);
      if (kept[b] + added[b] > o.capacity)
        return makeStatus(
            ATTN_STATUS_INVALID_ARGUMENT,
            "attn_kv_cache_append: batch row " + std::to_string(b) + " keeps " +
                std::to_string(kept[b]) + " positions and " +
                std::to_string(added[b]) + " more exceed the capacity " +
                std::to_string(o.capacity) +
                (o.window > 0 ? " (a rolling cache for window " +
                                    std::to_string(o.window) +
                                    " keeps the last window - 1)"
                              : std::string()));
    }

    auto place = [&](std::byte *base, size_t rowBytes, const void *source) {
      const auto *from = static_cast<const std::byte *>(source);
      for (int64_t b = 0; b < o.batch; ++b)
        for (int64_t h = 0; h < o.kv_heads; ++h) {
          std::byte *slot0 = cache->slot(base, rowBytes, b, h);
          int64_t dropped = cache->lengths[b] - kept[b];
          if (dropped > 0)
            std::memmove(slot0, slot0 + dropped * rowBytes, kept[b] * rowBytes);
          if (added[b] > 0)
            std::memcpy(slot0 + kept[b] * rowBytes,
                        from + ((b * o.kv_heads + h) * n) * rowBytes,
                        added[b] * rowBytes);
        }
    };
    place(cache->keys.get(), cache->keyRowBytes(), keys->data);
    place(cache->values.get(), cache->valueRowBytes(), values->data);
    for (int64_t b = 0; b < o.batch; ++b) {
      cache->lengths[b] = static_cast<int32_t>(kept[b] + added[b]);
      cache->nextPositions[b] += added[b];
    }
    return nullptr;
  });
}

attn_status_t attn_kv_cache_views(const attn_kv_cache_t *cache,
                                  attn_tensor_t *out_keys,
                                  attn_tensor_t *out_values,
                                  attn_tensor_t *out_lengths) {
  if (!cache || !out_keys || !out_values || !out_lengths)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_kv_cache_views: cache and the outputs must not "
                      "be NULL");
  auto *mutableCache = const_cast<attn_kv_cache_t *>(cache);
  *out_keys = {mutableCache->keys.get(), cache->options.dtype, 4,
               cache->keyShape, nullptr};
  *out_values = {mutableCache->values.get(), cache->options.dtype, 4,
                 cache->valueShape, nullptr};
  *out_lengths = {mutableCache->lengths.data(), ATTN_DTYPE_I32, 1,
                  cache->lengthShape, nullptr};
  return nullptr;
}

attn_status_t attn_kv_cache_row(const attn_kv_cache_t *cache, int64_t row,
                                int64_t *out_length,
                                int64_t *out_next_position) {
  if (!cache || !out_length || !out_next_position)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_kv_cache_row: cache and the outputs must not be "
                      "NULL");
  if (row < 0 || row >= cache->options.batch)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_kv_cache_row: row " + std::to_string(row) +
                          " is not within [0, " +
                          std::to_string(cache->options.batch) + ")");
  *out_length = cache->lengths[row];
  *out_next_position = cache->nextPositions[row];
  return nullptr;
}

attn_status_t attn_kv_cache_clear(attn_kv_cache_t *cache) {
  if (!cache)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "attn_kv_cache_clear: cache is NULL");
  std::fill(cache->lengths.begin(), cache->lengths.end(), 0);
  std::fill(cache->nextPositions.begin(), cache->nextPositions.end(), 0);
  return nullptr;
}

} // extern "C"
