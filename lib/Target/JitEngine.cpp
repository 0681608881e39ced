//===- JitEngine.cpp - in-process compilation with its sections in reach -===//

#include "JitEngine.h"

#include "llvm/Support/Process.h"

#include <cerrno>
#include <sys/mman.h>

using namespace mlir;
using namespace mlir::attn;

JitMemory::JitMemory() {
  void *range = mmap(nullptr, kReservedBytes, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  base = range == MAP_FAILED ? nullptr : static_cast<char *>(range);
}

JitMemory::~JitMemory() {
  if (base)
    munmap(base, kReservedBytes);
}

llvm::sys::MemoryBlock
JitMemory::allocateMappedMemory(llvm::SectionMemoryManager::AllocationPurpose,
                                size_t numBytes, const llvm::sys::MemoryBlock *,
                                unsigned flags, std::error_code &ec) {
  std::lock_guard<std::mutex> lock(mutex);
  size_t page = llvm::sys::Process::getPageSizeEstimate();
  size_t bytes = (numBytes + page - 1) / page * page;
  if (!base || bytes == 0 || bytes > kReservedBytes - used) {
    ec = std::make_error_code(std::errc::not_enough_memory);
    return {};
  }
  llvm::sys::MemoryBlock block(base + used, bytes);
  if ((ec = llvm::sys::Memory::protectMappedMemory(block, flags)))
    return {};
  used += bytes;
  return block;
}

std::error_code
JitMemory::protectMappedMemory(const llvm::sys::MemoryBlock &block,
                               unsigned flags) {
  // Also flushes the instruction cache when the block becomes code.
  return llvm::sys::Memory::protectMappedMemory(block, flags);
}

std::error_code JitMemory::releaseMappedMemory(llvm::sys::MemoryBlock &block) {
  // Back to reserved address space; the kernel takes the pages.
  if (block.base() &&
      mmap(block.base(), block.allocatedSize(), PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1,
           0) == MAP_FAILED)
    return std::error_code(errno, std::generic_category());
  block = llvm::sys::MemoryBlock();
  return {};
}

JitEngine::~JitEngine() = default;

llvm::Expected<std::unique_ptr<JitEngine>>
JitEngine::create(Operation *module, ExecutionEngineOptions options,
                  std::unique_ptr<llvm::TargetMachine> machine) {
  std::unique_ptr<JitEngine> jit(new JitEngine);
  jit->memory = std::make_unique<JitMemory>();
  options.sectionMemoryMapper = jit->memory.get();
  options.enablePerfNotificationListener = false;
  auto engine = ExecutionEngine::create(module, options, std::move(machine));
  if (!engine)
    return engine.takeError();
  jit->executionEngine = std::move(*engine);
  return std::move(jit);
}
