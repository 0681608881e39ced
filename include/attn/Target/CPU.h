//===- CPU.h - compile attn modules to CPU code -----------------*- C++ -*-===//
//
// From an attn module to code the runtime can call: in-process (a JIT, used by
// attn-run and the integration tests) or as files (LLVM IR, an object, a
// shared library, used by attn-translate). Both paths share one lowering and
// one LLVM optimization, so they run the same code.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_CPU_H
#define ATTN_TARGET_CPU_H

#include "attn/Pipelines/Pipelines.h"
#include "attn/runtime.hpp"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/Module.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"

#include <memory>
#include <optional>
#include <string>

namespace mlir::attn {

class JitEngine;

struct CPUTargetOptions {
  /// Target CPU, or "host" for the CPU this runs on (its features included).
  std::string cpu = "host";
  /// Extra target features in LLVM's syntax, e.g. "+avx2,+fma".
  std::string features;
  /// LLVM optimization level (0-3).
  unsigned optLevel = 3;
  /// How attn-lower-to-llvm-cpu compiles the module.
  CPUPipelineConfig pipeline;
  /// When set, the module is compiled with attn-lower-to-nvvm instead: the
  /// CPU code is then host code that launches its kernels on a CUDA GPU
  /// through the runtime, and its functions take device buffers.
  std::optional<NVVMPipelineConfig> gpu;
};

/// Lowers `module` to the LLVM dialect with attn-lower-to-llvm-cpu. A module
/// already in the LLVM dialect is left as it is.
LogicalResult lowerToLLVMDialect(ModuleOp module,
                                 const CPUPipelineConfig &config = {});
/// The same with attn-lower-to-nvvm: host code and a gpu.binary.
LogicalResult lowerToLLVMDialect(ModuleOp module,
                                 const NVVMPipelineConfig &config);
/// Lowers as `options` say (CPU or GPU).
LogicalResult lowerToLLVMDialect(ModuleOp module,
                                 const CPUTargetOptions &options);

/// The target machine for `options`, or an error message.
FailureOr<std::unique_ptr<llvm::TargetMachine>>
createTargetMachine(const CPUTargetOptions &options, std::string &error);

/// Translates an LLVM-dialect module to LLVM IR for `machine`, optimized at
/// the options' level.
std::unique_ptr<llvm::Module> translateToLLVMIR(ModuleOp module,
                                                llvm::LLVMContext &context,
                                                llvm::TargetMachine &machine,
                                                unsigned optLevel);

/// Writes `module` as a relocatable object file.
LogicalResult emitObjectFile(llvm::Module &module, llvm::TargetMachine &machine,
                             llvm::raw_pwrite_stream &os, std::string &error);

/// Links an object file into a shared library the runtime can load, with the
/// system's C compiler driver ($ATTN_CC, or cc/clang/gcc from PATH). The
/// allocation hooks (and the GPU functions) stay undefined: the runtime
/// provides them when it loads the library. `openmp` links the OpenMP
/// runtime of the CPU's parallel loops; host code for the GPU needs none.
LogicalResult linkSharedLibrary(StringRef objectPath, StringRef libraryPath,
                                std::string &error, bool openmp = true);

/// Code compiled in-process from an LLVM-dialect module. Symbols it leaves
/// undefined (the allocation hooks, libm) resolve against this process.
class JitModule {
public:
  static std::unique_ptr<JitModule>
  create(ModuleOp module, const CPUTargetOptions &options, std::string &error);
  ~JitModule();

  /// Address of `symbol` (a function or a global), or null.
  void *lookup(StringRef symbol);

private:
  explicit JitModule(std::unique_ptr<JitEngine> jit);
  std::unique_ptr<JitEngine> jit;
};

/// Compiles `module` (attn ops, or already the LLVM dialect) in-process and
/// hands the code to the runtime; the returned module owns it.
::attn::Result<::attn::Module>
compileForRuntime(ModuleOp module, const CPUTargetOptions &options = {});

} // namespace mlir::attn

#endif // ATTN_TARGET_CPU_H
