//===- GPUMapLoops.cpp - host loop nests onto GPU threads -----------------===//
//
// What the GPU kernel of attn.attention does not cover (projections, head
// splits and merges, copies, the materialized strategy) reaches this pass as
// scf.parallel loop nests over buffers (from convert-linalg-to-parallel-loops).
// Each outermost one becomes one grid: its dimensions are collapsed into one
// index (row-major, so consecutive threads touch consecutive innermost
// elements and global accesses coalesce), which is cut into blocks of
// `block-size` threads:
//
//   scf.parallel (i0, ..., ik)           scf.parallel (blk)   {block x}
//     body                        ->       scf.parallel (t)   {thread x}
//                                            if blk * T + t < n: body
//
// Loops inside (reductions, and parallel loops nested in them) run
// sequentially in each thread.
// convert-parallel-loops-to-gpu then turns the mapped nest into gpu.launch.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/ParallelLoopMapper.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SCF/Transforms/Transforms.h"
#include "mlir/Dialect/SCF/Utils/Utils.h"
#include "mlir/IR/PatternMatch.h"

#include <numeric>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUMAPLOOPSPASS
#include "attn/Conversion/AttnToGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

struct AttnGPUMapLoopsPass
    : attn::impl::AttnGPUMapLoopsPassBase<AttnGPUMapLoopsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (blockSize <= 0 || blockSize > 1024) {
      getOperation()->emitError("block-size must be in [1, 1024]");
      return signalPassFailure();
    }
    SmallVector<scf::ParallelOp> outermost;
    getOperation()->walk([&](scf::ParallelOp loop) {
      if (!loop->getParentOfType<scf::ParallelOp>() &&
          !loop->getParentOfType<gpu::LaunchOp>())
        outermost.push_back(loop);
    });
    IRRewriter rewriter(&getContext());
    MLIRContext *ctx = &getContext();
    for (scf::ParallelOp loop : outermost) {
      if (!loop.getInitVals().empty()) {
        loop.emitError("a parallel reduction cannot be mapped to the GPU");
        return signalPassFailure();
      }
      // Nested parallel loops (after a reduction loop, say) run as
      // sequential loops in each thread.
      SmallVector<scf::ParallelOp> nested;
      loop.getBody()->walk(
          [&](scf::ParallelOp inner) { nested.push_back(inner); });
      for (scf::ParallelOp inner : nested)
        if (failed(sequentialize(rewriter, inner)))
          return signalPassFailure();
      if (loop.getNumLoops() > 1) {
        std::vector<unsigned> all(loop.getNumLoops());
        std::iota(all.begin(), all.end(), 0u);
        // The collapsed loop replaces `loop` right before the op after it
        // (every block ends with a terminator, so there is one).
        Operation *after = loop->getNextNode();
        rewriter.setInsertionPoint(loop);
        collapseParallelLoops(rewriter, loop, {all});
        loop = cast<scf::ParallelOp>(after->getPrevNode());
      }
      auto [blocks, threads] =
          scf::tileParallelLoop(loop, {blockSize}, /*noMinMaxBounds=*/true);
      auto map = [&](gpu::Processor processor) {
        AffineMap identity = AffineMap::getMultiDimIdentityMap(1, ctx);
        return gpu::ParallelLoopDimMappingAttr::get(ctx, processor, identity,
                                                    identity);
      };
      if (failed(gpu::setMappingAttr(blocks, {map(gpu::Processor::BlockX)})) ||
          failed(
              gpu::setMappingAttr(threads, {map(gpu::Processor::ThreadX)}))) {
        loop.emitError("could not map the loop to the GPU");
        return signalPassFailure();
      }
    }
  }

  /// Replaces `loop` by a nest of scf.for with the same bounds and body.
  static LogicalResult sequentialize(RewriterBase &rewriter,
                                     scf::ParallelOp loop) {
    if (!loop.getInitVals().empty())
      return loop.emitError("a parallel reduction cannot be mapped to the GPU");
    rewriter.setInsertionPoint(loop);
    scf::LoopNest nest =
        scf::buildLoopNest(rewriter, loop.getLoc(), loop.getLowerBound(),
                           loop.getUpperBound(), loop.getStep());
    SmallVector<Value> ivs;
    for (scf::ForOp level : nest.loops)
      ivs.push_back(level.getInductionVar());
    Block *innermost = nest.loops.back().getBody();
    rewriter.eraseOp(loop.getBody()->getTerminator());
    rewriter.inlineBlockBefore(loop.getBody(), innermost->getTerminator(), ivs);
    rewriter.eraseOp(loop);
    return success();
  }
};

} // namespace
