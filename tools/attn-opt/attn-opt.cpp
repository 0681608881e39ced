//===- attn-opt.cpp - run attn passes and pipelines on MLIR ---------------===//
//
// mlir-opt with the attn dialect, its passes and its named pipelines, to
// inspect every stage of a lowering:
//
//   attn-opt examples/04_causal_attention.mlir --attn-materialize-attention
//   attn-opt examples/04_causal_attention.mlir --attn-lower-to-llvm-cpu
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToCPU/Passes.h"
#include "attn/Conversion/AttnToGPU/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  mlir::registerAllPasses();
  mlir::attn::registerAttnPasses();
  mlir::attn::registerAttnToCPUPasses();
  mlir::attn::registerAttnToGPUPasses();
  mlir::attn::registerPipelines();
  mlir::DialectRegistry registry;
  mlir::attn::registerCompilerDialects(registry);
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "attn optimizer driver\n", registry));
}
