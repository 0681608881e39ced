//===- Stages.cpp - stages shared by the CPU and GPU pipelines -----------===//

#include "Stages.h"

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

void attn::addFrontEndPasses(OpPassManager &pm, const std::string &strategy,
                             int64_t queryTile, int64_t keyTile, bool decode) {
  pm.addPass(createAttnExportSignaturePass());
  pm.addNestedPass<func::FuncOp>(createAttnDecomposeLayersPass());
  pm.addNestedPass<func::FuncOp>(createAttnDecomposeSinksPass());
  pm.addNestedPass<func::FuncOp>(createAttnDecomposeSequencesPass());
  pm.addNestedPass<func::FuncOp>(createAttnDecomposeSparseMasksPass());
  pm.addNestedPass<func::FuncOp>(
      createAttnSelectStrategyPass({strategy, queryTile, keyTile, decode}));
  pm.addNestedPass<func::FuncOp>(createAttnLowerCombinePass());
  // Ordinary tensor ops around the attention (a residual add, an
  // activation) as linalg ops, which bufferize and lower like the rest.
  pm.addNestedPass<func::FuncOp>(createConvertElementwiseToLinalgPass());
}

void attn::addBufferizationPasses(OpPassManager &pm, bool deallocate) {
  bufferization::OneShotBufferizePassOptions bufferize;
  bufferize.bufferizeFunctionBoundaries = true;
  bufferize.functionBoundaryTypeConversion =
      bufferization::LayoutMapOption::IdentityLayoutMap;
  pm.addPass(bufferization::createOneShotBufferizePass(bufferize));
  bufferization::BufferResultsToOutParamsPassOptions outParams;
  outParams.modifyPublicFunctions = true;
  // A result allocated in the function, of static or dynamic shape, is
  // replaced by the caller's buffer instead of being copied into it at the
  // end.
  outParams.hoistStaticAllocs = true;
  outParams.hoistDynamicAllocs = true;
  pm.addPass(bufferization::createBufferResultsToOutParamsPass(outParams));
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());
  // The tile buffers of a loop body are allocated once, outside the loop.
  pm.addNestedPass<func::FuncOp>(bufferization::createBufferLoopHoistingPass());
  if (deallocate)
    bufferization::buildBufferDeallocationPipeline(pm);
}
