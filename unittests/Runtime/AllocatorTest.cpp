//===- AllocatorTest.cpp - The allocation hooks ---------------------------===//

#include "TestUtil.h"

#include <cstddef>
#include <cstring>
#include <thread>

namespace {

bool isAligned(const void *ptr, size_t alignment) {
  return reinterpret_cast<uintptr_t>(ptr) % alignment == 0;
}

TEST(Allocator, PlainAllocationsAreAlignedLikeMalloc) {
  for (size_t size : {0, 1, 3, 16, 1000, 1 << 20}) {
    void *ptr = _mlir_memref_to_llvm_alloc(size);
    ASSERT_NE(ptr, nullptr) << size;
    EXPECT_TRUE(isAligned(ptr, alignof(std::max_align_t))) << size;
    std::memset(ptr, 0xab, size);
    _mlir_memref_to_llvm_free(ptr);
  }
}

TEST(Allocator, AlignedAllocationsHonorEveryPowerOfTwo) {
  for (size_t alignment = 1; alignment <= (size_t(1) << 21); alignment *= 2) {
    for (size_t size : {0, 1, 100, 4096}) {
      void *ptr = _mlir_memref_to_llvm_aligned_alloc(alignment, size);
      ASSERT_NE(ptr, nullptr) << alignment << " " << size;
      EXPECT_TRUE(isAligned(ptr, alignment)) << alignment << " " << size;
      std::memset(ptr, 0xcd, size);
      _mlir_memref_to_llvm_free(ptr);
    }
  }
}

TEST(Allocator, RejectsWhatCannotBeServed) {
  EXPECT_EQ(_mlir_memref_to_llvm_aligned_alloc(0, 16), nullptr);
  EXPECT_EQ(_mlir_memref_to_llvm_aligned_alloc(48, 16), nullptr);
  EXPECT_EQ(_mlir_memref_to_llvm_alloc(SIZE_MAX), nullptr);
  EXPECT_EQ(_mlir_memref_to_llvm_aligned_alloc(64, SIZE_MAX - 8), nullptr);
  _mlir_memref_to_llvm_free(nullptr);
}

TEST(Allocator, AccountsRequestedBytes) {
  attn_memory_stats_t start, during, end;
  attn_memory_stats_get(&start);
  void *a = _mlir_memref_to_llvm_alloc(100);
  void *b = _mlir_memref_to_llvm_aligned_alloc(4096, 28);
  attn_memory_stats_get(&during);
  EXPECT_EQ(during.current_bytes, start.current_bytes + 128);
  EXPECT_EQ(during.allocation_count, start.allocation_count + 2);
  EXPECT_GE(during.peak_bytes, during.current_bytes);
  _mlir_memref_to_llvm_free(b);
  _mlir_memref_to_llvm_free(a);
  attn_memory_stats_get(&end);
  EXPECT_EQ(end.current_bytes, start.current_bytes);
  EXPECT_EQ(end.free_count, start.free_count + 2);
  attn_memory_stats_get(nullptr); // ignored
}

TEST(Allocator, ConcurrentUseBalances) {
  attn_memory_stats_t start, end;
  attn_memory_stats_get(&start);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([t] {
      for (int i = 0; i < 2000; ++i) {
        size_t size = static_cast<size_t>((i * 37 + t) % 512);
        void *ptr = (i % 2) ? _mlir_memref_to_llvm_alloc(size)
                            : _mlir_memref_to_llvm_aligned_alloc(
                                  size_t(1) << (i % 10), size);
        std::memset(ptr, t, size);
        _mlir_memref_to_llvm_free(ptr);
      }
    });
  for (std::thread &thread : threads)
    thread.join();
  attn_memory_stats_get(&end);
  EXPECT_EQ(end.current_bytes, start.current_bytes);
  EXPECT_EQ(end.allocation_count, start.allocation_count + 8000);
  EXPECT_EQ(end.free_count, start.free_count + 8000);
}

TEST(Allocator, ReusesLargeBlocksOfTheSameSize) {
  attn_memory_release_cached();
  const size_t large = size_t(3) << 20;
  attn_memory_stats_t start, held, end;
  attn_memory_stats_get(&start);
  void *first = _mlir_memref_to_llvm_aligned_alloc(64, large);
  ASSERT_NE(first, nullptr);
  std::memset(first, 1, large);
  attn_memory_stats_get(&held);
  EXPECT_EQ(held.current_bytes, start.current_bytes + large);
  _mlir_memref_to_llvm_free(first);
  // The cached block is held by nobody, and comes back for the same request.
  attn_memory_stats_get(&end);
  EXPECT_EQ(end.current_bytes, start.current_bytes);
  void *second = _mlir_memref_to_llvm_aligned_alloc(64, large);
  EXPECT_EQ(second, first);
  _mlir_memref_to_llvm_free(second);
  // Small blocks are not cached; releasing the cache keeps the counts.
  attn_memory_release_cached();
  attn_memory_stats_get(&end);
  EXPECT_EQ(end.current_bytes, start.current_bytes);
}

} // namespace
