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

/// How attn-lower-to-llvm-cpu compiles.
struct CPUPipelineConfig {
  /// auto, flash or materialized (see attn-select-strategy).
  std::string strategy = "auto";
  /// Tile sizes of the flash strategy.
  int64_t queryTile = 64, keyTile = 64;
  /// f32 lanes of the target's vector registers: 8 for AVX2, 16 for
  /// AVX-512.
  int64_t vectorWidth = 8;
  /// Spread the tiles over all cores (OpenMP); sequential when false.
  bool parallel = true;
};

/// The same, as the named pipeline's options.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<std::string> strategy{*this, "strategy",
                               llvm::cl::desc("auto, flash or materialized"),
                               llvm::cl::init("auto")};
  Option<int64_t> queryTile{*this, "query-tile",
                            llvm::cl::desc("Query rows per flash tile"),
                            llvm::cl::init(64)};
  Option<int64_t> keyTile{*this, "key-tile",
                          llvm::cl::desc("Keys per flash tile"),
                          llvm::cl::init(64)};
  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes per vector register (8: AVX2, 16: AVX-512)"),
      llvm::cl::init(8)};
  Option<bool> parallel{*this, "parallel",
                        llvm::cl::desc("Run the tiles on all cores"),
                        llvm::cl::init(true)};

  CPUPipelineConfig config() const;
};

/// attn ops on tensors -> LLVM dialect with the runtime's entry points:
/// signature export, layer decomposition, the strategy of each attention
/// (flash tiles or the materialized score matrix), bufferization with
/// caller-allocated results, vector code for the tiles, LLVM.
void buildLowerToLLVMCPUPipeline(OpPassManager &pm,
                                 const CPUPipelineConfig &config);

/// Registers the named pipelines (attn-lower-to-llvm-cpu).
void registerPipelines();

/// Every dialect and interface the pipelines need, for tools that parse,
/// lower and translate attn modules.
void registerCompilerDialects(DialectRegistry &registry);

/// A context with those dialects loaded, for tools and tests that compile.
std::unique_ptr<MLIRContext> createCompilerContext();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
