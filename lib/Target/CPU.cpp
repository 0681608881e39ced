//===- CPU.cpp - compile attn modules to CPU code -------------------------===//

#include "attn/Target/CPU.h"
#include "attn/Conversion/AttnToCPU/CPUTarget.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "JitEngine.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/ExecutionEngine/ExecutionEngine.h"
#include "mlir/ExecutionEngine/OptUtils.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/IR/Constants.h"
#include "llvm/IR/GlobalVariable.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"

#include <cstdlib>

using namespace mlir;
using namespace mlir::attn;

/// Already lowered: only LLVM-dialect ops, and the kernel image of host code
/// for the GPU.
static bool isLLVMDialectModule(ModuleOp module) {
  bool onlyLLVM = true;
  for (Operation &op : module.getBody()->getOperations())
    onlyLLVM &=
        isa<LLVM::LLVMDialect>(op.getDialect()) || isa<gpu::BinaryOp>(op);
  return onlyLLVM;
}

LogicalResult mlir::attn::lowerToLLVMDialect(ModuleOp module,
                                             const CPUPipelineConfig &config) {
  if (isLLVMDialectModule(module))
    return success();
  PassManager pm(module->getContext());
  buildLowerToLLVMCPUPipeline(pm, config);
  return pm.run(module);
}

LogicalResult mlir::attn::lowerToLLVMDialect(ModuleOp module,
                                             const NVVMPipelineConfig &config) {
  if (isLLVMDialectModule(module))
    return success();
  PassManager pm(module->getContext());
  buildLowerToNVVMPipeline(pm, config);
  return pm.run(module);
}

LogicalResult mlir::attn::lowerToLLVMDialect(ModuleOp module,
                                             const CPUTargetOptions &options) {
  if (options.gpu)
    return lowerToLLVMDialect(module, *options.gpu);
  // The vector code is shaped for the machine the code is compiled for.
  CPUPipelineConfig pipeline = options.pipeline;
  pipeline.cpu = options.cpu;
  pipeline.features = options.features;
  return lowerToLLVMDialect(module, pipeline);
}

/// What the code compiled for `machine` needs of the machine, written into
/// it. Its functions may use the full vector width: X86 otherwise legalizes
/// 512-bit vectors as two 256-bit halves on CPUs tuned to prefer 256 bits
/// (Intel's AVX-512 parts), undoing the register blocks the pipeline chose.
/// And the module lists the CPU features its code may use, for the runtime to
/// check before it calls any of it.
static void recordTarget(llvm::Module &module,
                         const llvm::TargetMachine &machine) {
  CPUVectorUnit unit = describeCPUVectorUnit(machine.getTargetCPU(),
                                             machine.getTargetFeatureString());
  std::string bits = std::to_string(unit.lanes * 32);
  for (llvm::Function &function : module) {
    if (function.isDeclaration())
      continue;
    function.addFnAttr("prefer-vector-width", bits);
    function.addFnAttr("min-legal-vector-width", bits);
  }
  if (module.getNamedGlobal(kCPUFeaturesSymbol))
    return;
  llvm::Constant *list = llvm::ConstantDataArray::getString(
      module.getContext(), llvm::join(unit.requiredFeatures, ","),
      /*AddNull=*/true);
  new llvm::GlobalVariable(module, list->getType(), /*isConstant=*/true,
                           llvm::GlobalValue::ExternalLinkage, list,
                           kCPUFeaturesSymbol);
}

FailureOr<std::unique_ptr<llvm::TargetMachine>>
mlir::attn::createTargetMachine(const CPUTargetOptions &options,
                                std::string &error) {
  if (std::optional<std::string> wrong =
          checkCPU(options.cpu, options.features)) {
    error = *wrong;
    return failure();
  }
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return failure();

  auto [cpu, features] = resolveCPU(options.cpu, options.features);
  llvm::CodeGenOptLevel level =
      options.optLevel >= 3   ? llvm::CodeGenOptLevel::Aggressive
      : options.optLevel == 2 ? llvm::CodeGenOptLevel::Default
      : options.optLevel == 1 ? llvm::CodeGenOptLevel::Less
                              : llvm::CodeGenOptLevel::None;
  std::unique_ptr<llvm::TargetMachine> machine(
      target->createTargetMachine(triple, cpu, features, llvm::TargetOptions(),
                                  llvm::Reloc::PIC_, std::nullopt, level));
  if (!machine) {
    error =
        "cannot create a target machine for " + triple.str() + " (" + cpu + ")";
    return failure();
  }
  return machine;
}

std::unique_ptr<llvm::Module>
mlir::attn::translateToLLVMIR(ModuleOp module, llvm::LLVMContext &context,
                              llvm::TargetMachine &machine, unsigned optLevel) {
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, context, "attn");
  if (!llvmModule)
    return nullptr;
  llvmModule->setTargetTriple(machine.getTargetTriple());
  llvmModule->setDataLayout(machine.createDataLayout());
  recordTarget(*llvmModule, machine);
  auto optimize =
      makeOptimizingTransformer(optLevel, /*sizeLevel=*/0, &machine);
  if (llvm::Error err = optimize(llvmModule.get())) {
    llvm::consumeError(std::move(err));
    return nullptr;
  }
  return llvmModule;
}

LogicalResult mlir::attn::emitObjectFile(llvm::Module &module,
                                         llvm::TargetMachine &machine,
                                         llvm::raw_pwrite_stream &os,
                                         std::string &error) {
  llvm::legacy::PassManager codegen;
  if (machine.addPassesToEmitFile(codegen, os, nullptr,
                                  llvm::CodeGenFileType::ObjectFile)) {
    error = "the target cannot emit object files";
    return failure();
  }
  codegen.run(module);
  return success();
}

LogicalResult mlir::attn::linkSharedLibrary(StringRef objectPath,
                                            StringRef libraryPath,
                                            std::string &error, bool openmp) {
  std::string driver;
  if (const char *fromEnv = std::getenv("ATTN_CC"))
    driver = fromEnv;
  for (StringRef name : {"cc", "clang", "clang-22", "gcc"}) {
    if (!driver.empty())
      break;
    if (llvm::ErrorOr<std::string> path = llvm::sys::findProgramByName(name))
      driver = *path;
  }
  if (driver.empty()) {
    error = "no C compiler driver found to link a shared library (set ATTN_CC "
            "or install cc)";
    return failure();
  }
  // The OpenMP runtime of the parallel tile loops is found where it was at
  // build time.
  StringRef openmpLibrary = ATTN_OPENMP_LIBRARY;
  std::string rpath =
      ("-Wl,-rpath," + llvm::sys::path::parent_path(openmpLibrary)).str();
  // -Bsymbolic: the module's calls to its own functions stay inside it. A
  // function named like a symbol of the C library (`step`, `index`, ...)
  // would otherwise bind to that symbol when the library is loaded.
  SmallVector<StringRef> args = {driver,      "-shared",        "-o",
                                 libraryPath, "-Wl,-Bsymbolic", objectPath};
  if (openmp)
    args.append({openmpLibrary, rpath});
  args.push_back("-lm");
  std::string message;
  int rc =
      llvm::sys::ExecuteAndWait(driver, args, std::nullopt, {}, 0, 0, &message);
  if (rc != 0) {
    error = "linking " + libraryPath.str() + " with " + driver + " failed" +
            (message.empty() ? "" : ": " + message);
    return failure();
  }
  return success();
}

JitModule::JitModule(std::unique_ptr<JitEngine> jit) : jit(std::move(jit)) {}

JitModule::~JitModule() = default;

std::unique_ptr<JitModule> JitModule::create(ModuleOp module,
                                             const CPUTargetOptions &options,
                                             std::string &error) {
  FailureOr<std::unique_ptr<llvm::TargetMachine>> machine =
      createTargetMachine(options, error);
  if (failed(machine))
    return nullptr;
  llvm::TargetMachine *target = machine->get();
  auto optimize = makeOptimizingTransformer(options.optLevel, 0, target);
  // The options hold a function_ref: the function it refers to must live
  // until ExecutionEngine::create, which calls it, returns.
  auto transform = [optimize, target](llvm::Module *module) {
    recordTarget(*module, *target);
    return optimize(module);
  };
  ExecutionEngineOptions engineOptions;
  engineOptions.transformer = transform;
  StringRef libraries[] = {ATTN_OPENMP_LIBRARY};
  engineOptions.sharedLibPaths = libraries;
  engineOptions.jitCodeGenOptLevel = (*machine)->getOptLevel();
  auto jit = JitEngine::create(module, engineOptions, std::move(*machine));
  if (!jit) {
    error = "JIT compilation failed: " + llvm::toString(jit.takeError());
    return nullptr;
  }
  ExecutionEngine &engine = (*jit)->engine();
  engine.initialize();
  // Looking a symbol up materializes the code: report what failed to link
  // (an undefined symbol, say) here rather than as a missing symbol later.
  if (llvm::Expected<void *> probe = engine.lookup(kSignatureSymbol); !probe) {
    error = "JIT linking failed: " + llvm::toString(probe.takeError());
    return nullptr;
  }
  return std::unique_ptr<JitModule>(new JitModule(std::move(*jit)));
}

void *JitModule::lookup(StringRef symbol) {
  llvm::Expected<void *> address = jit->engine().lookup(symbol);
  if (!address) {
    llvm::consumeError(address.takeError());
    return nullptr;
  }
  return *address;
}

::attn::Result<::attn::Module>
mlir::attn::compileForRuntime(ModuleOp module,
                              const CPUTargetOptions &options) {
  auto compileError = [](const std::string &message) {
    return ::attn::Status(ATTN_STATUS_INVALID_ARGUMENT, message);
  };
  OwningOpRef<ModuleOp> lowered(module.clone());
  if (failed(lowerToLLVMDialect(*lowered, options)))
    return compileError("lowering to the LLVM dialect failed");
  std::string error;
  std::unique_ptr<JitModule> jit = JitModule::create(*lowered, options, error);
  if (!jit)
    return compileError(error);
  // The runtime module takes the JIT code over and frees it when released.
  JitModule *code = jit.release();
  auto lookup = [](void *userData, const char *symbol) -> void * {
    return static_cast<JitModule *>(userData)->lookup(symbol);
  };
  auto release = [](void *userData) {
    delete static_cast<JitModule *>(userData);
  };
  ::attn::Result<::attn::Module> result =
      ::attn::Module::fromLookup(lookup, code, release);
  if (!result.ok())
    delete code;
  return result;
}
