//===- JitEngine.h - in-process compilation with its sections in reach ---===//
//
// x86-64 code of the small code model reaches its constants, its globals
// and the GOT that holds the addresses of external functions (the
// allocation hooks, libomp, libm) through 32-bit PC-relative displacements:
// every section of a module must lie within 2 GiB of every other. MLIR's
// ExecutionEngine links with RuntimeDyld and a SectionMemoryManager, which
// maps code, read-only and read-write sections separately and passes the
// previous mapping to mmap only as a hint. Where the address space next to
// it is taken (AddressSanitizer's shadow and allocator regions, a large
// process) the kernel puts the next mapping anywhere, RuntimeDyld truncates
// the displacement without a word, and the code faults at its first call
// through the GOT (seen as an intermittent segmentation fault of parallel
// code, whose libomp calls go through it).
//
// A JitEngine reserves one range of address space per module, smaller than
// 2 GiB, and its memory mapper hands every section pages from that range.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_TARGET_JITENGINE_H
#define ATTN_LIB_TARGET_JITENGINE_H

#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "llvm/ExecutionEngine/SectionMemoryManager.h"
#include "llvm/Support/Memory.h"

#include <memory>
#include <mutex>

namespace mlir::attn {

/// Pages for one module's sections, all from one reserved range: a
/// PROT_NONE mapping that holds address space and no memory. Sections are
/// handed out in order and never reused (a module links once); released
/// pages go back to PROT_NONE and their memory to the kernel.
class JitMemory : public llvm::SectionMemoryManager::MemoryMapper {
public:
  /// Far below the 2 GiB a displacement reaches; the largest modules (the
  /// transformer layers) take a few MiB.
  static constexpr size_t kReservedBytes = size_t(1) << 30;

  JitMemory();
  ~JitMemory() override;

  llvm::sys::MemoryBlock
  allocateMappedMemory(llvm::SectionMemoryManager::AllocationPurpose purpose,
                       size_t numBytes, const llvm::sys::MemoryBlock *near,
                       unsigned flags, std::error_code &ec) override;
  std::error_code protectMappedMemory(const llvm::sys::MemoryBlock &block,
                                      unsigned flags) override;
  std::error_code releaseMappedMemory(llvm::sys::MemoryBlock &block) override;

private:
  std::mutex mutex;
  char *base = nullptr;
  size_t used = 0;
};

/// An ExecutionEngine and the reserved range its sections live in.
class JitEngine {
public:
  /// Compiles `module` (the LLVM dialect) as ExecutionEngine::create does,
  /// with the mapper of `options` replaced by the engine's own range and no
  /// perf map written (perf's listener leaves a jitdump folder under
  /// .debug/jit for every compilation).
  static llvm::Expected<std::unique_ptr<JitEngine>>
  create(Operation *module, ExecutionEngineOptions options,
         std::unique_ptr<llvm::TargetMachine> machine = nullptr);
  ~JitEngine();

  ExecutionEngine &engine() { return *executionEngine; }

private:
  JitEngine() = default;
  // Declared first, destroyed last: the engine's sections live in it.
  std::unique_ptr<JitMemory> memory;
  std::unique_ptr<ExecutionEngine> executionEngine;
};

} // namespace mlir::attn

#endif // ATTN_LIB_TARGET_JITENGINE_H
