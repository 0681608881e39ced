//===- allocator.cpp - Allocation hooks of generated code -----------------===//
//
// Generated code allocates its temporaries through MLIR's generic allocation
// functions, which this library exports. Free receives only the pointer, so
// every block carries a header just below the pointer handed out:
//
//   raw (from malloc)        header                user pointer
//   |<- padding for alignment ->|<- base | size ->|<- size bytes ... ->|
//
// The header stores the malloc'd base (to free it) and the requested size
// (for the accounting). Sizes counted are the requested ones, not malloc's.
//
// The counters are process-wide atomics. An invocation resets the peak to
// the current level when it starts, so its peak above that level is exact
// while no other invocation runs at the same time.
//
// Large blocks (packed K/V, outputs of a few MiB) are kept when freed and
// handed out again for a request of the same size: a model calls the same
// function with the same shapes over and over, and fresh pages from the
// kernel for every call cost a page fault and a clearing per 4 KiB (about a
// tenth of the time of a 2048-token attention on two cores). The cache holds
// at most kCachedBlocks blocks and kCachedBytes bytes, is not counted as
// bytes held by generated code, and is emptied by attn_memory_release_cached
// and at exit.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

namespace {

struct BlockHeader {
  void *base;
  size_t size;
  size_t total; // Asked of malloc: the key of the block cache.
  size_t unused;
};
static_assert(sizeof(BlockHeader) == 32, "the header keeps 16-byte alignment");

// What malloc guarantees, and therefore what a plain allocation gives.
constexpr size_t kMinAlignment =
    alignof(std::max_align_t) < 16 ? 16 : alignof(std::max_align_t);

std::atomic<uint64_t> currentBytes{0};
std::atomic<uint64_t> peakBytes{0};
std::atomic<uint64_t> allocationCount{0};
std::atomic<uint64_t> freeCount{0};

void recordAllocation(size_t size) {
  uint64_t now = currentBytes.fetch_add(size, std::memory_order_relaxed) + size;
  allocationCount.fetch_add(1, std::memory_order_relaxed);
  // peak <- max(peak, now)
  uint64_t peak = peakBytes.load(std::memory_order_relaxed);
  while (now > peak &&
         !peakBytes.compare_exchange_weak(peak, now, std::memory_order_relaxed))
    ;
}

/// Freed large blocks, by the size malloc was asked for.
class BlockCache {
public:
  static constexpr size_t kMinBytes = size_t(1) << 20;
  static constexpr size_t kCachedBlocks = 16;
  static constexpr size_t kCachedBytes = size_t(1) << 30;

  ~BlockCache() { release(); }

  void *take(size_t total) {
    if (total < kMinBytes)
      return nullptr;
    std::lock_guard<std::mutex> lock(mutex);
    for (size_t i = 0; i < blocks.size(); ++i) {
      if (blocks[i].total != total)
        continue;
      void *raw = blocks[i].raw;
      cachedBytes -= total;
      blocks.erase(blocks.begin() + i);
      return raw;
    }
    return nullptr;
  }

  /// Keeps `raw` if it is large and there is room; otherwise frees it.
  void give(void *raw, size_t total) {
    if (total >= kMinBytes) {
      std::lock_guard<std::mutex> lock(mutex);
      if (blocks.size() < kCachedBlocks &&
          cachedBytes + total <= kCachedBytes) {
        blocks.push_back({raw, total});
        cachedBytes += total;
        return;
      }
    }
    std::free(raw);
  }

  void release() {
    std::lock_guard<std::mutex> lock(mutex);
    for (const Block &block : blocks)
      std::free(block.raw);
    blocks.clear();
    cachedBytes = 0;
  }

private:
  struct Block {
    void *raw;
    size_t total;
  };
  std::mutex mutex;
  std::vector<Block> blocks;
  size_t cachedBytes = 0;
};

BlockCache &blockCache() {
  static BlockCache cache;
  return cache;
}

void *allocate(size_t alignment, size_t size) {
  if (alignment < kMinAlignment)
    alignment = kMinAlignment;
  // raw + header + padding up to the alignment must fit size_t.
  size_t total;
  if (__builtin_add_overflow(size, sizeof(BlockHeader) + alignment - 1, &total))
    return nullptr;
  void *raw = blockCache().take(total);
  if (!raw)
    raw = std::malloc(total);
  if (!raw)
    return nullptr;
  uintptr_t first = reinterpret_cast<uintptr_t>(raw) + sizeof(BlockHeader);
  uintptr_t user = (first + alignment - 1) & ~(uintptr_t(alignment) - 1);
  auto *header = reinterpret_cast<BlockHeader *>(user - sizeof(BlockHeader));
  header->base = raw;
  header->size = size;
  header->total = total;
  recordAllocation(size);
  return reinterpret_cast<void *>(user);
}

} // namespace

namespace attn::detail {

void accountAllocation(size_t size) { recordAllocation(size); }

void accountFree(size_t size) {
  currentBytes.fetch_sub(size, std::memory_order_relaxed);
  freeCount.fetch_add(1, std::memory_order_relaxed);
}

AllocationMark beginAllocationWindow() {
  AllocationMark mark;
  mark.currentBytes = currentBytes.load(std::memory_order_relaxed);
  mark.allocationCount = allocationCount.load(std::memory_order_relaxed);
  peakBytes.store(mark.currentBytes, std::memory_order_relaxed);
  return mark;
}

void endAllocationWindow(const AllocationMark &mark,
                         attn_invoke_stats_t &stats) {
  uint64_t peak = peakBytes.load(std::memory_order_relaxed);
  uint64_t now = currentBytes.load(std::memory_order_relaxed);
  stats.peak_bytes = peak > mark.currentBytes ? peak - mark.currentBytes : 0;
  stats.allocation_count =
      allocationCount.load(std::memory_order_relaxed) - mark.allocationCount;
  stats.retained_bytes =
      static_cast<int64_t>(now) - static_cast<int64_t>(mark.currentBytes);
}

} // namespace attn::detail

extern "C" {

ATTN_RUNTIME_EXPORT void *_mlir_memref_to_llvm_alloc(size_t size) {
  return allocate(kMinAlignment, size);
}

ATTN_RUNTIME_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                             size_t size) {
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    return nullptr;
  return allocate(alignment, size);
}

ATTN_RUNTIME_EXPORT void _mlir_memref_to_llvm_free(void *ptr) {
  if (!ptr)
    return;
  auto *header = reinterpret_cast<BlockHeader *>(
      reinterpret_cast<uintptr_t>(ptr) - sizeof(BlockHeader));
  currentBytes.fetch_sub(header->size, std::memory_order_relaxed);
  freeCount.fetch_add(1, std::memory_order_relaxed);
  blockCache().give(header->base, header->total);
}

ATTN_RUNTIME_EXPORT void attn_memory_release_cached(void) {
  blockCache().release();
}

ATTN_RUNTIME_EXPORT void attn_memory_stats_get(attn_memory_stats_t *out_stats) {
  if (!out_stats)
    return;
  out_stats->current_bytes = currentBytes.load(std::memory_order_relaxed);
  out_stats->peak_bytes = peakBytes.load(std::memory_order_relaxed);
  out_stats->allocation_count = allocationCount.load(std::memory_order_relaxed);
  out_stats->free_count = freeCount.load(std::memory_order_relaxed);
}

} // extern "C"
