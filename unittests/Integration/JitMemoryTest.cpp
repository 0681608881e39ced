//===- JitMemoryTest.cpp - JIT sections within reach of each other --------===//
//
// x86-64 code reaches its data and GOT through 32-bit displacements, so the
// sections of one JIT-compiled module must lie within 2 GiB of each other.
// These tests take the address space around the first section (as
// AddressSanitizer's reserved regions or a large process do) and check that
// the next section still lands within reach: first that a mapper which only
// hints, as LLVM's default one does, fails this (the situation is real), then
// that JitMemory does not.
//
//===----------------------------------------------------------------------===//

#include "JitEngine.h"

#include "llvm/Support/Process.h"

#include "gtest/gtest.h"

#include <cstdint>
#include <sys/mman.h>
#include <vector>

using llvm::sys::Memory;
using llvm::sys::MemoryBlock;
using Purpose = llvm::SectionMemoryManager::AllocationPurpose;

namespace {

constexpr uint64_t kReach = uint64_t(1) << 31;
constexpr unsigned kReadWrite = Memory::MF_READ | Memory::MF_WRITE;

uint64_t distance(const MemoryBlock &a, const MemoryBlock &b) {
  auto x = reinterpret_cast<uintptr_t>(a.base());
  auto y = reinterpret_cast<uintptr_t>(b.base());
  return x > y ? x - y : y - x;
}

/// Reserves (PROT_NONE, no memory) every free page of [begin, end), in
/// pieces as large as fit between the mappings already there.
class Occupied {
public:
  Occupied(uintptr_t begin, uintptr_t end) {
    size_t page = llvm::sys::Process::getPageSizeEstimate();
    fill(begin / page * page, (end + page - 1) / page * page, page);
  }
  ~Occupied() {
    for (auto [address, bytes] : taken)
      munmap(reinterpret_cast<void *>(address), bytes);
  }

private:
  void fill(uintptr_t begin, uintptr_t end, size_t page) {
    if (begin >= end)
      return;
    size_t bytes = end - begin;
    void *at = mmap(reinterpret_cast<void *>(begin), bytes, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                        MAP_FIXED_NOREPLACE,
                    -1, 0);
    if (at != MAP_FAILED) {
      if (reinterpret_cast<uintptr_t>(at) == begin) {
        taken.push_back({begin, bytes});
        return;
      }
      munmap(at, bytes); // A kernel without MAP_FIXED_NOREPLACE.
      return;
    }
    if (bytes == page)
      return; // Mapped already.
    uintptr_t middle = begin + (bytes / page / 2) * page;
    fill(begin, middle, page);
    fill(middle, end, page);
  }

  std::vector<std::pair<uintptr_t, size_t>> taken;
};

/// Occupies 4 GiB on each side of `block`.
Occupied occupyAround(const MemoryBlock &block) {
  auto at = reinterpret_cast<uintptr_t>(block.base());
  uintptr_t span = uint64_t(4) << 30;
  uintptr_t begin = at > span ? at - span : 0;
  return Occupied(begin, at + block.allocatedSize() + span);
}

TEST(JitMemory, AHintAloneLeavesReach) {
  std::error_code ec;
  MemoryBlock first = Memory::allocateMappedMemory(4096, nullptr, kReadWrite, ec);
  ASSERT_FALSE(ec);
  MemoryBlock second;
  {
    Occupied around = occupyAround(first);
    second = Memory::allocateMappedMemory(4096, &first, kReadWrite, ec);
    ASSERT_FALSE(ec);
  }
  EXPECT_GT(distance(first, second), kReach);
  Memory::releaseMappedMemory(first);
  Memory::releaseMappedMemory(second);
}

TEST(JitMemory, SectionsStayWithinReach) {
  mlir::attn::JitMemory memory;
  std::error_code ec;
  MemoryBlock code = memory.allocateMappedMemory(Purpose::Code, 5000, nullptr,
                                                 kReadWrite, ec);
  ASSERT_FALSE(ec);
  Occupied around = occupyAround(code);
  MemoryBlock constants = memory.allocateMappedMemory(
      Purpose::ROData, 100, &code, kReadWrite, ec);
  ASSERT_FALSE(ec);
  MemoryBlock data = memory.allocateMappedMemory(
      Purpose::RWData, uint64_t(64) << 20, nullptr, kReadWrite, ec);
  ASSERT_FALSE(ec);
  EXPECT_LT(distance(code, constants), kReach);
  EXPECT_LT(distance(code, data), kReach);
  EXPECT_LT(distance(constants, data), kReach);
  // The pages are usable: code is written, then made executable.
  static_cast<char *>(data.base())[data.allocatedSize() - 1] = 1;
  static_cast<char *>(code.base())[0] = '\xc3'; // ret
  EXPECT_FALSE(memory.protectMappedMemory(
      code, Memory::MF_READ | Memory::MF_EXEC));
  EXPECT_FALSE(memory.releaseMappedMemory(data));
  EXPECT_EQ(data.base(), nullptr);
}

TEST(JitMemory, TheRangeRunsOutWithAnError) {
  mlir::attn::JitMemory memory;
  std::error_code ec;
  MemoryBlock block = memory.allocateMappedMemory(
      Purpose::RWData, mlir::attn::JitMemory::kReservedBytes + 1, nullptr,
      kReadWrite, ec);
  EXPECT_TRUE(ec);
  EXPECT_EQ(block.base(), nullptr);
}

} // namespace
