//===- LowerAttentionToGPU.cpp - attn.attention as GPU kernels ------------===//
//
// Each flash- or decode-marked attn.attention becomes one gpu.launch: on the
// tensor cores (TensorCoreKernel.cpp) when asked for and the op is one it
// takes (f16/bf16 operands, head dimensions it tiles), on the FP32 cores
// (SIMTKernel.cpp) otherwise. Both run the grid and block schedule of
// GPUKernel.h. Each flash-marked attn.attention_grad becomes two launches
// on the FP32 cores (SIMTGradientKernels.cpp).
//
//===----------------------------------------------------------------------===//

#include "GPUKernel.h"

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNLOWERATTENTIONTOGPUPASS
#include "attn/Conversion/AttnToGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnLowerAttentionToGPUPass
    : attn::impl::AttnLowerAttentionToGPUPassBase<AttnLowerAttentionToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    // A key tile is a shared-memory buffer of K and V rows, unrolled over.
    if (queryTile <= 0 || queryTile > 1024 || keyTile <= 0 || keyTile > 256 ||
        splitK < 0 || multiprocessors <= 0) {
      getOperation().emitError(
          "query-tile must be in [1, 1024] (threads per block), key-tile in "
          "[1, 256], multiprocessors positive, split-k not negative");
      return signalPassFailure();
    }
    if (tensorCoreQueryTile != 64 && tensorCoreQueryTile != 128) {
      getOperation().emitError("tensor-core-query-tile must be 64 or 128 "
                               "(16 or 32 rows per warp of 4), not ")
          << tensorCoreQueryTile.getValue();
      return signalPassFailure();
    }
    if (tensorCoreKeyTile <= 0 || tensorCoreKeyTile % 16 != 0 ||
        tensorCoreKeyTile > 128) {
      getOperation().emitError("tensor-core-key-tile must be a multiple of "
                               "16 in [16, 128], not ")
          << tensorCoreKeyTile.getValue();
      return signalPassFailure();
    }
    if (failed(verifyDecomposedClauses(getOperation(), getArgument())))
      return signalPassFailure();
    RewritePatternSet patterns(&getContext());
    if (tensorCores)
      populateTensorCoreKernelPatterns(patterns, tensorCoreQueryTile,
                                       tensorCoreKeyTile, splitK,
                                       multiprocessors);
    populateSIMTKernelPatterns(patterns, queryTile, keyTile, splitK,
                               multiprocessors);
    populateSIMTGradientKernelPatterns(patterns, queryTile, keyTile);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    // An attention no kernel could take (the pattern said why) is an error,
    // not a silent fallback.
    WalkResult unlowered = getOperation().walk([](Operation *op) {
      return isa<AttentionOp, AttentionGradOp>(op) &&
                     (isMarkedFor(op, kFlashStrategy) ||
                      isMarkedFor(op, kDecodeStrategy))
                 ? WalkResult::interrupt()
                 : WalkResult::advance();
    });
    if (unlowered.wasInterrupted())
      return signalPassFailure();

    SmallVector<scf::ForOp> marked;
    getOperation().walk([&](scf::ForOp loop) {
      if (loop->hasAttr(gpu_kernel::kUnrollAttr))
        marked.push_back(loop);
    });
    for (scf::ForOp loop : marked)
      if (failed(loopUnrollFull(loop)))
        return signalPassFailure();
  }
};

} // namespace
