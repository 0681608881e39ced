//===- Pipelines.h - named lowering pipelines -------------------*- C++ -*-===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassOptions.h"

#include <memory>

namespace mlir {
class OpPassManager;
class DialectRegistry;
} // namespace mlir

namespace mlir::attn {

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {};

/// attn ops on tensors -> LLVM dialect with the runtime's entry points:
/// signature export, layer decomposition, the materialized strategy,
/// bufferization with caller-allocated results, loops, LLVM.
void buildLowerToLLVMCPUPipeline(OpPassManager &pm,
                                 const CPUPipelineOptions &options);

/// Registers the named pipelines (attn-lower-to-llvm-cpu).
void registerPipelines();

/// Every dialect and interface the pipelines need, for tools that parse,
/// lower and translate attn modules.
void registerCompilerDialects(DialectRegistry &registry);

/// A context with those dialects loaded, for tools and tests that compile.
std::unique_ptr<MLIRContext> createCompilerContext();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
