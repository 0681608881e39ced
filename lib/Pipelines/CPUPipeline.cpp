//===- CPUPipeline.cpp - attn to LLVM for the CPU -------------------------===//

#include "Stages.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Conversion/AttnToCPU/CPUTarget.h"
#include "attn/Conversion/AttnToCPU/Passes.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Pipelines/Pipelines.h"

#include "mlir/Conversion/Passes.h"
#include "mlir/Dialect/Arith/Transforms/Passes.h"
#include "mlir/Dialect/Bufferization/Pipelines/Passes.h"
#include "mlir/Dialect/Bufferization/Transforms/OneShotAnalysis.h"
#include "mlir/Dialect/Bufferization/Transforms/Passes.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/SCF/Transforms/Passes.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

attn::CPUPipelineConfig attn::CPUPipelineOptions::config() const {
  CPUPipelineConfig config;
  config.strategy = strategy;
  config.queryTile = queryTile;
  config.keyTile = keyTile;
  config.cpu = cpu;
  config.features = features;
  config.vectorWidth = vectorWidth;
  config.parallel = parallel;
  config.splitK = splitK;
  config.linearForm = linearForm;
  config.linearChunk = linearChunk;
  return config;
}

void attn::buildLowerToLLVMCPUPipeline(OpPassManager &pm,
                                       const CPUPipelineConfig &config) {
  // The vector unit of the target decides the width and register blocks.
  CPUVectorUnit unit = describeCPUVectorUnit(config.cpu, config.features);
  int64_t lanes = config.vectorWidth > 0 ? config.vectorWidth : unit.lanes;
  // Tensor level: describe the entry points before anything changes them,
  // then choose and apply a strategy for every attention.
  addFrontEndPasses(pm, config.strategy, config.queryTile, config.keyTile,
                    /*decode=*/true);
  // The layers' projections: register-blocked products on all cores.
  AttnTileProjectionsPassOptions projections;
  projections.vectorWidth = lanes;
  projections.vectorRegisters = unit.registers;
  pm.addNestedPass<func::FuncOp>(createAttnTileProjectionsPass(projections));
  pm.addNestedPass<func::FuncOp>(createAttnTileDecodePass(
      {config.keyTile, config.queryTile, config.splitK, /*workers=*/0}));
  // bf16 attention multiplies bf16 pairs where the target has vdpbf16ps.
  pm.addNestedPass<func::FuncOp>(createAttnTileOnlineSoftmaxPass(
      {config.queryTile, config.keyTile, unit.bf16Dot}));
  pm.addNestedPass<func::FuncOp>(
      createAttnTileAttentionGradPass({config.queryTile, config.keyTile}));
  pm.addNestedPass<func::FuncOp>(createAttnMaterializeAttentionPass());
  pm.addNestedPass<func::FuncOp>(createAttnLowerLinearAttentionPass(
      {config.linearForm, config.linearChunk, lanes}));
  pm.addPass(createCanonicalizerPass());

  addBufferizationPasses(pm, /*deallocate=*/true);
  // Tiles: vector code where shapes are static, loops elsewhere; the
  // parallel tile loop onto all cores.
  pm.addNestedPass<func::FuncOp>(
      createAttnCPUVectorizeTilesPass({lanes, unit.registers, unit.bf16Dot}));
  if (config.parallel) {
    pm.addPass(createForallToParallelLoopPass());
    pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
    pm.addPass(createConvertSCFToOpenMPPass());
    // The loop bodies it wraps in memref.alloca_scope allocate nothing on
    // the stack: canonicalization inlines them before the CFG lowering.
    pm.addPass(createCanonicalizerPass());
  } else {
    pm.addPass(createForallToForLoopPass());
    pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
  }
  pm.addNestedPass<func::FuncOp>(createAttnApproximateExp2Pass());

  // LLVM. Allocations go through the runtime's generic functions so that it
  // can account for the bytes.
  pm.addPass(createLowerAffinePass());
  pm.addPass(createSCFToControlFlowPass());
  pm.addPass(memref::createExpandStridedMetadataPass());
  pm.addPass(createLowerAffinePass());
  // bf16 <-> f32 conversions as integer operations: the C runtimes of this
  // platform have no __truncsfbf2 for LLVM to call.
  arith::ArithExpandOpsPassOptions expand;
  expand.includeBf16 = true;
  pm.addPass(arith::createArithExpandOpsPass(expand));
  FinalizeMemRefToLLVMConversionPassOptions memrefToLLVM;
  memrefToLLVM.useGenericFunctions = true;
  pm.addPass(createFinalizeMemRefToLLVMConversionPass(memrefToLLVM));
  // Row sums of vectors may be reassociated: a tree of adds, not a chain.
  ConvertVectorToLLVMPassOptions vectorToLLVM;
  vectorToLLVM.reassociateFPReductions = true;
  // vdpbf16ps (x86vector.avx512.dot) for the products of bf16 pairs.
  vectorToLLVM.x86Vector = unit.bf16Dot;
  pm.addPass(createConvertVectorToLLVMPass(vectorToLLVM));
  pm.addPass(createConvertToLLVMPass());
  pm.addPass(createReconcileUnrealizedCastsPass());
  pm.addPass(createAttnEmitEntryPointsPass());
  pm.addPass(createCanonicalizerPass());
}

void attn::registerPipelines() {
  PassPipelineRegistration<CPUPipelineOptions>(
      "attn-lower-to-llvm-cpu",
      "Lower attn ops to the LLVM dialect for the CPU, with the runtime's "
      "entry points",
      [](OpPassManager &pm, const CPUPipelineOptions &options) {
        buildLowerToLLVMCPUPipeline(pm, options.config());
      });
  PassPipelineRegistration<NVVMPipelineOptions>(
      "attn-lower-to-nvvm",
      "Lower attn ops to host code in the LLVM dialect launching NVVM "
      "kernels, with the runtime's entry points",
      [](OpPassManager &pm, const NVVMPipelineOptions &options) {
        buildLowerToNVVMPipeline(pm, options.config());
      });
}

void attn::registerCompilerDialects(DialectRegistry &registry) {
  registry.insert<attn::AttnDialect>();
  registerAllDialects(registry);
  registerAllExtensions(registry);
  registerAllToLLVMIRTranslations(registry);
}

std::unique_ptr<MLIRContext> attn::createCompilerContext() {
  DialectRegistry registry;
  registerCompilerDialects(registry);
  auto context = std::make_unique<MLIRContext>(registry);
  context->loadAllAvailableDialects();
  return context;
}
