//===- attn-opt.cpp - run attn passes and pipelines on MLIR ---------------===//
//
// mlir-opt with the attn dialect, its passes and its named pipelines, to
// inspect every stage of a lowering:
//
//   attn-opt examples/04_causal_attention.mlir --attn-materialize-attention
//   attn-opt examples/04_causal_attention.mlir --attn-lower-to-llvm-cpu
//
// Every upstream MLIR pass runs too; --help lists attn's passes and
// pipelines and mlir-opt's options, --help-hidden everything (the upstream
// passes and LLVM's own options among them).
//
//===----------------------------------------------------------------------===//

#include "ToolSupport.h"
#include "attn/Conversion/AttnToCPU/Passes.h"
#include "attn/Conversion/AttnToGPU/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

#include "llvm/Support/InitLLVM.h"

namespace cl = llvm::cl;
namespace tools = mlir::attn::tools;

static cl::OptionCategory optCategory("attn-opt options");
static cl::opt<std::string> inputFile(cl::Positional, cl::cat(optCategory),
                                      cl::desc("<input.mlir>"),
                                      cl::init("-"));
static cl::opt<std::string> outputFile("o", cl::cat(optCategory),
                                       cl::desc("Output file"),
                                       cl::value_desc("file"), cl::init("-"));

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  tools::LibraryOptions before = tools::LibraryOptions::current();
  // Registered passes are listed by --help: the upstream ones only when the
  // hidden options are asked for too.
  if (!tools::asksForShortHelp(argc, argv))
    mlir::registerAllPasses();
  mlir::attn::registerAttnPasses();
  mlir::attn::registerAttnToCPUPasses();
  mlir::attn::registerAttnToGPUPasses();
  mlir::attn::registerPipelines();
  mlir::DialectRegistry registry;
  mlir::attn::registerCompilerDialects(registry);

  std::string overview = mlir::registerCLIOptions(
      "attn-opt: runs attn's passes and pipelines (and every MLIR pass: "
      "--help-hidden lists them) on MLIR",
      registry);
  tools::parseCommandLine(argc, argv, overview, {&optCategory}, before);
  return succeeded(mlir::MlirOptMain(argc, argv, inputFile, outputFile,
                                     registry))
             ? tools::kSuccess
             : tools::kError;
}
