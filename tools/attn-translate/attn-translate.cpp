//===- attn-translate.cpp - emit code from attn modules -------------------===//
//
// Lowers an attn module (or takes one already in the LLVM dialect) and writes
// what was asked for:
//
//   attn-translate sdpa.mlir -o sdpa.ll       # LLVM IR (optimized)
//   attn-translate sdpa.mlir -o sdpa.o        # object file
//   attn-translate sdpa.mlir -o sdpa.so       # shared library for the runtime
//
//   attn-translate sdpa.mlir --target cuda -o sdpa.ptx    # the kernels
//   attn-translate sdpa.mlir --target cuda -o sdpa.cubin  # ... by ptxas
//   attn-translate sdpa.mlir --target cuda -o sdpa.so     # host code + PTX
//
// The kind follows the output's name unless --emit says otherwise: its
// extension (libsdpa.so.1 is a library), LLVM IR for standard output, an
// error for another name.
//
//===----------------------------------------------------------------------===//

#include "ToolSupport.h"
#include "attn/Target/CPU.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"

using namespace mlir;
namespace tools = mlir::attn::tools;

namespace {
enum class EmitKind {
  Auto,
  LLVMDialect,
  LLVMIR,
  Object,
  SharedLibrary,
  PTX,
  Cubin
};
enum class Target { CPU, CUDA };
} // namespace

static llvm::cl::OptionCategory translateCategory("attn-translate options");

static llvm::cl::opt<std::string> inputFile(llvm::cl::Positional,
                                            llvm::cl::cat(translateCategory),
                                            llvm::cl::desc("<input.mlir>"),
                                            llvm::cl::init("-"));
static llvm::cl::opt<std::string> outputFile("o",
                                             llvm::cl::cat(translateCategory),
                                             llvm::cl::desc("Output file"),
                                             llvm::cl::value_desc("file"),
                                             llvm::cl::init("-"));
static llvm::cl::opt<EmitKind> emitKind(
    "emit", llvm::cl::cat(translateCategory),
    llvm::cl::desc("What to write (default: from the extension)"),
    llvm::cl::init(EmitKind::Auto),
    llvm::cl::values(
        clEnumValN(EmitKind::LLVMDialect, "mlir-llvm",
                   "the module lowered to the LLVM dialect"),
        clEnumValN(EmitKind::LLVMIR, "llvm-ir", "optimized LLVM IR (.ll)"),
        clEnumValN(EmitKind::Object, "object", "an object file (.o)"),
        clEnumValN(EmitKind::SharedLibrary, "shared-library",
                   "a shared library the runtime loads (.so)"),
        clEnumValN(EmitKind::PTX, "ptx", "the kernels as PTX (--target cuda)"),
        clEnumValN(EmitKind::Cubin, "cubin",
                   "the kernels assembled by ptxas (--target cuda)")));
static llvm::cl::opt<Target> target(
    "target", llvm::cl::cat(translateCategory),
    llvm::cl::desc("Where the code runs (default: cpu)"),
    llvm::cl::init(Target::CPU),
    llvm::cl::values(clEnumValN(Target::CPU, "cpu", "this CPU"),
                     clEnumValN(Target::CUDA, "cuda",
                                "an NVIDIA GPU: host code launching NVVM "
                                "kernels through the runtime")));
static llvm::cl::opt<std::string>
    gpuChip("gpu-chip", llvm::cl::cat(translateCategory),
            llvm::cl::desc("GPU compute capability (default: sm_90)"),
            llvm::cl::init("sm_90"));
static llvm::cl::opt<std::string>
    gpuFeatures("gpu-features", llvm::cl::cat(translateCategory),
                llvm::cl::desc("PTX features, e.g. +ptx80"),
                llvm::cl::init(""));
static llvm::cl::opt<bool> gpuTensorCores(
    "gpu-tensor-cores", llvm::cl::cat(translateCategory),
    llvm::cl::desc("Run f16/bf16 attention on the tensor cores (mma.sync, "
                   "sm_80+; not yet checked on a GPU); --query-tile and "
                   "--key-tile then set that kernel's tiles"),
    llvm::cl::init(false));
static llvm::cl::opt<std::string> gpuFormat(
    "gpu-format", llvm::cl::cat(translateCategory),
    llvm::cl::desc("Kernel image inside a shared library: isa (PTX, compiled "
                   "by the driver at load; default) or bin (cubin)"),
    llvm::cl::init("isa"));
static llvm::cl::opt<std::string>
    cudaToolkit("cuda-toolkit", llvm::cl::cat(translateCategory),
                llvm::cl::desc("CUDA Toolkit with ptxas, for cubin"),
                llvm::cl::init(""));
static llvm::cl::opt<std::string>
    targetCPU("cpu", llvm::cl::cat(translateCategory),
              llvm::cl::desc("Target CPU (default: host)"),
              llvm::cl::init("host"));
static llvm::cl::opt<std::string>
    targetFeatures("mattr", llvm::cl::cat(translateCategory),
                   llvm::cl::desc("Target features added to the CPU's, in LLVM's "
                                  "syntax: -avx512f compiles for AVX2"),
                   llvm::cl::init(""));
static llvm::cl::opt<std::string> strategy(
    "strategy", llvm::cl::cat(translateCategory),
    llvm::cl::desc(
        "How attention is computed: auto, flash, materialized or decode"),
    llvm::cl::init("auto"));
static llvm::cl::opt<int64_t> splitK(
    "split-k", llvm::cl::cat(translateCategory),
    llvm::cl::desc("Key chunks of the decode strategy: 1 off, 0 (the default) "
                   "chosen from the cache length and the cores or "
                   "multiprocessors"),
    llvm::cl::init(0));
static llvm::cl::opt<std::string> linearForm(
    "linear-form", llvm::cl::cat(translateCategory),
    llvm::cl::desc("How linear attention is computed: auto (the default), "
                   "parallel, chunked or recurrent"),
    llvm::cl::init("auto"));
static llvm::cl::opt<int64_t>
    linearChunk("linear-chunk", llvm::cl::cat(translateCategory),
                llvm::cl::desc("Tokens per chunk of linear attention (64)"),
                llvm::cl::init(64));
static llvm::cl::opt<int64_t> queryTile(
    "query-tile", llvm::cl::cat(translateCategory),
    llvm::cl::desc(
        "Query rows per flash tile (default: 64 on the CPU, 128 on the GPU)"),
    llvm::cl::init(64));
static llvm::cl::opt<int64_t> keyTile("key-tile",
                                      llvm::cl::cat(translateCategory),
                                      llvm::cl::desc("Keys per flash tile"),
                                      llvm::cl::init(64));
static llvm::cl::opt<bool> sequential(
    "sequential", llvm::cl::cat(translateCategory),
    llvm::cl::desc("Run the tiles on one core (default: all cores, on the "
                   "OpenMP runtime's threads)"));
static llvm::cl::opt<unsigned> optLevel("O", llvm::cl::cat(translateCategory),
                                        llvm::cl::desc("LLVM opt level"),
                                        llvm::cl::Prefix, llvm::cl::init(3));

/// What the name of the output says to write: LLVM IR to standard output,
/// else by the extension (a versioned library, libsdpa.so.1, is a library);
/// nothing for another name.
static std::optional<EmitKind> kindFromExtension(StringRef path) {
  if (path == "-")
    return EmitKind::LLVMIR;
  if (llvm::sys::path::filename(path).contains(".so."))
    return EmitKind::SharedLibrary;
  return llvm::StringSwitch<std::optional<EmitKind>>(
             llvm::sys::path::extension(path))
      .Case(".o", EmitKind::Object)
      .Case(".so", EmitKind::SharedLibrary)
      .Case(".ll", EmitKind::LLVMIR)
      .Case(".mlir", EmitKind::LLVMDialect)
      .Case(".ptx", EmitKind::PTX)
      .Case(".cubin", EmitKind::Cubin)
      .Default(std::nullopt);
}

static int fail(const Twine &message) {
  llvm::errs() << "attn-translate: " << message << "\n";
  return tools::kError;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  tools::parseCommandLine(argc, argv, "attn code emitter\n",
                                {&translateCategory});
  tools::checkTargetOptions("attn-translate", targetCPU, targetFeatures);
  tools::checkChoice("attn-translate", strategy, tools::kStrategies);
  tools::checkChoice("attn-translate", linearForm, tools::kLinearForms);

  std::unique_ptr<MLIRContext> context = mlir::attn::createCompilerContext();
  tools::InputModule input(*context);
  OwningOpRef<ModuleOp> module = input.parse(inputFile);
  std::string error;
  if (!module)
    return tools::kError;
  std::optional<EmitKind> named = kindFromExtension(outputFile);
  if (emitKind == EmitKind::Auto && !named)
    return fail("cannot tell what to write to '" + outputFile +
                "' from its name: end it in .so, .o, .ll, .mlir, .ptx or "
                ".cubin, or choose with --emit");
  EmitKind kind =
      emitKind == EmitKind::Auto ? *named : emitKind.getValue();
  bool kernelsOnly = kind == EmitKind::PTX || kind == EmitKind::Cubin;
  if (kernelsOnly && target != Target::CUDA)
    return fail("--emit=ptx and --emit=cubin need --target cuda");
  if (!StringRef(gpuChip).starts_with("sm_"))
    return fail("--gpu-chip must name a compute capability such as sm_90, "
                "not '" +
                gpuChip + "'");

  mlir::attn::CPUTargetOptions options;
  options.cpu = targetCPU;
  options.features = targetFeatures;
  options.optLevel = optLevel;
  options.pipeline.strategy = strategy;
  options.pipeline.splitK = splitK;
  options.pipeline.linearForm = linearForm;
  options.pipeline.linearChunk = linearChunk;
  options.pipeline.parallel = !sequential;
  if (queryTile.getNumOccurrences())
    options.pipeline.queryTile = queryTile;
  if (keyTile.getNumOccurrences())
    options.pipeline.keyTile = keyTile;
  if (target == Target::CUDA) {
    mlir::attn::NVVMPipelineConfig gpu;
    gpu.strategy = strategy;
    gpu.splitK = splitK;
    gpu.linearForm = linearForm;
    gpu.linearChunk = linearChunk;
    gpu.tensorCores = gpuTensorCores;
    gpu.setTiles(queryTile.getNumOccurrences()
                     ? std::optional<int64_t>(queryTile)
                     : std::nullopt,
                 keyTile.getNumOccurrences() ? std::optional<int64_t>(keyTile)
                                             : std::nullopt);
    gpu.chip = gpuChip;
    gpu.features = gpuFeatures;
    gpu.format = kind == EmitKind::PTX     ? "isa"
                 : kind == EmitKind::Cubin ? "bin"
                                           : gpuFormat.getValue();
    gpu.toolkitPath = cudaToolkit;
    options.gpu = gpu;
  }
  if (failed(mlir::attn::lowerToLLVMDialect(*module, options)))
    return fail("lowering " + inputFile + " failed");

  if (kernelsOnly) {
    // The one kernel image of the module (attn-gpu-merge-kernel-modules).
    SmallVector<gpu::BinaryOp> binaries(module->getOps<gpu::BinaryOp>());
    if (binaries.size() != 1)
      return fail("expected one kernel image, found " + Twine(binaries.size()));
    auto object =
        cast<gpu::ObjectAttr>(binaries.front().getObjects().getValue().front());
    auto output = openOutputFile(outputFile, &error);
    if (!output)
      return fail(error);
    output->os() << object.getObject().getValue();
    output->keep();
    return 0;
  }
  if (kind == EmitKind::LLVMDialect) {
    auto output = openOutputFile(outputFile, &error);
    if (!output)
      return fail(error);
    module->print(output->os());
    output->keep();
    return 0;
  }

  auto machine = mlir::attn::createTargetMachine(options, error);
  if (failed(machine))
    return fail(error);
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::attn::translateToLLVMIR(*module, llvmContext, **machine, optLevel);
  if (!llvmModule)
    return fail("translation to LLVM IR failed");

  if (kind == EmitKind::LLVMIR) {
    auto output = openOutputFile(outputFile, &error);
    if (!output)
      return fail(error);
    llvmModule->print(output->os(), nullptr);
    output->keep();
    return 0;
  }

  if (outputFile == "-" && kind == EmitKind::SharedLibrary)
    return fail("a shared library needs an output file (-o lib.so)");
  std::string objectPath = outputFile;
  if (kind == EmitKind::SharedLibrary) {
    SmallString<128> temp;
    if (llvm::sys::fs::createTemporaryFile("attn", "o", temp))
      return fail("cannot create a temporary object file");
    objectPath = temp.str().str();
  }
  {
    auto output = openOutputFile(objectPath, &error);
    if (!output)
      return fail(error);
    if (failed(mlir::attn::emitObjectFile(*llvmModule, **machine, output->os(),
                                          error)))
      return fail(error);
    output->keep();
  }
  if (kind == EmitKind::SharedLibrary) {
    LogicalResult linked =
        mlir::attn::linkSharedLibrary(objectPath, outputFile, error,
                                      /*openmp=*/target == Target::CPU);
    llvm::sys::fs::remove(objectPath);
    if (failed(linked))
      return fail(error);
  }
  return 0;
}
