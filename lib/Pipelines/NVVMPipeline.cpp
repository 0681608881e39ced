//===- NVVMPipeline.cpp - attn to NVVM kernels and their host code --------===//
//
// A GPU function is host code that launches kernels: the attention kernel of
// attn-lower-attention-to-gpu and, for what surrounds attention in a layer
// (projections, head splits, copies) or for the materialized strategy, one
// kernel per loop nest. Buffers live on the device (attn-gpu-device-buffers);
// the host code calls the runtime's mgpu* functions, which load the kernel
// image (PTX, compiled by the driver, or cubin from ptxas) when the library
// is loaded, launch kernels and allocate device memory.
//
//===----------------------------------------------------------------------===//

#include "Stages.h"

#include "attn/Conversion/AttnToGPU/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

attn::NVVMPipelineConfig attn::NVVMPipelineOptions::config() const {
  NVVMPipelineConfig config;
  config.strategy = strategy;
  config.queryTile = queryTile;
  config.keyTile = keyTile;
  config.splitK = splitK;
  config.multiprocessors = multiprocessors;
  config.linearForm = linearForm;
  config.linearChunk = linearChunk;
  config.blockSize = blockSize;
  config.tensorCores = tensorCores;
  config.tensorCoreQueryTile = tensorCoreQueryTile;
  config.tensorCoreKeyTile = tensorCoreKeyTile;
  config.chip = chip;
  config.features = features;
  config.optLevel = optLevel;
  config.format = format;
  config.toolkitPath = toolkitPath;
  return config;
}

void attn::NVVMPipelineConfig::setTiles(std::optional<int64_t> queryRows,
                                        std::optional<int64_t> keys) {
  if (queryRows)
    (tensorCores ? tensorCoreQueryTile : queryTile) = *queryRows;
  if (keys)
    (tensorCores ? tensorCoreKeyTile : keyTile) = *keys;
}

void attn::buildLowerToNVVMPipeline(OpPassManager &pm,
                                    const NVVMPipelineConfig &config) {
  addFrontEndPasses(pm, config.strategy, config.queryTile, config.keyTile,
                    /*decode=*/true);
  AttnLowerAttentionToGPUPassOptions kernels;
  kernels.queryTile = config.queryTile;
  kernels.keyTile = config.keyTile;
  kernels.tensorCores = config.tensorCores;
  kernels.tensorCoreQueryTile = config.tensorCoreQueryTile;
  kernels.tensorCoreKeyTile = config.tensorCoreKeyTile;
  kernels.splitK = config.splitK;
  kernels.multiprocessors = config.multiprocessors;
  pm.addNestedPass<func::FuncOp>(createAttnLowerAttentionToGPUPass(kernels));
  pm.addNestedPass<func::FuncOp>(createAttnMaterializeAttentionPass());
  // Linear attention as loops over its tiles, which become kernels below.
  pm.addNestedPass<func::FuncOp>(createAttnLowerLinearAttentionPass(
      {config.linearForm, config.linearChunk, /*padTo=*/1}));
  pm.addPass(createCanonicalizerPass());
  addBufferizationPasses(pm, /*deallocate=*/false);

  // Everything the host would compute becomes kernels over device buffers.
  pm.addNestedPass<func::FuncOp>(createAttnGPUDeviceBuffersPass());
  pm.addNestedPass<func::FuncOp>(createConvertLinalgToParallelLoopsPass());
  pm.addNestedPass<func::FuncOp>(createAttnGPUMapLoopsPass({config.blockSize}));
  pm.addNestedPass<func::FuncOp>(createConvertParallelLoopToGpuPass());
  // Constants and index computations move into the kernels (immediate
  // operands there, not kernel parameters), then the kernels are outlined.
  pm.addPass(createGpuLaunchSinkIndexComputationsPass());
  pm.addPass(createGpuKernelOutliningPass());
  pm.addPass(createAttnGPUMergeKernelModulesPass());
  pm.addPass(createCanonicalizerPass());
  pm.addPass(createCSEPass());

  // Kernels to NVVM: exp2 as the same polynomial as on the CPU and log2 by
  // its series (no libdevice to link), other math through LLVM intrinsics, the
  // rest by the upstream lowerings.
  pm.addNestedPass<gpu::GPUModuleOp>(createAttnGPUOccupancyHintsPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createAttnGPULegalizeMathPass());
  pm.addNestedPass<gpu::GPUModuleOp>(createAttnApproximateExp2Pass(
      {/*includeExp=*/true, /*includeLog2=*/true}));
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  GpuNVVMAttachTargetOptions target;
  target.chip = config.chip;
  target.features = config.features;
  target.optLevel = config.optLevel;
  pm.addPass(createGpuNVVMAttachTarget(target));
  OpPassManager &kernelModule = pm.nest<gpu::GPUModuleOp>();
  // The tensor-core kernel's ldmatrix and cp.async (nvgpu) to NVVM first.
  kernelModule.addPass(createConvertNVGPUToNVVMPass());
  kernelModule.addPass(createConvertMathToLLVMPass());
  kernelModule.addPass(createConvertGpuOpsToNVVMOps());
  kernelModule.addPass(createConvertNVVMToLLVMPass());
  kernelModule.addPass(createCanonicalizerPass());
  kernelModule.addPass(createCSEPass());
  kernelModule.addPass(createReconcileUnrealizedCastsPass());

  // Host code: calls into the runtime for launches and device memory.
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  pm.addPass(createConvertFuncToLLVMPass());
  pm.addPass(createArithToLLVMConversionPass());
  pm.addPass(createConvertIndexToLLVMPass());
  pm.addPass(createConvertControlFlowToLLVMPass());
  pm.addPass(createGpuToLLVMConversionPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createAttnEmitEntryPointsPass());
  GpuModuleToBinaryPassOptions toBinary;
  toBinary.compilationTarget = config.format;
  toBinary.toolkitPath = config.toolkitPath;
  pm.addPass(createGpuModuleToBinaryPass(toBinary));
  pm.addPass(createCanonicalizerPass());
}
