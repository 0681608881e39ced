//===- GPUOccupancyHints.cpp - registers for register-resident tiles ------===//
//
// ptxas chooses a kernel's register count from its code and an occupancy
// target; for a kernel that keeps its accumulators and operand fragments in
// registers (about 130 to 210 per thread for the tensor-core attention
// kernel) it may pick a budget that fits four blocks per multiprocessor and
// spill the rest, although the kernel's shared memory admits fewer blocks.
// `.minnctapersm 1` (nvvm.minctasm) removes that target: occupancy then
// follows from the registers and shared memory the kernel really uses.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUOCCUPANCYHINTSPASS
#include "attn/Conversion/AttnToGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

struct AttnGPUOccupancyHintsPass
    : attn::impl::AttnGPUOccupancyHintsPassBase<AttnGPUOccupancyHintsPass> {
  void runOnOperation() override {
    Builder b(&getContext());
    for (auto kernel : getOperation().getOps<gpu::GPUFuncOp>()) {
      if (!kernel.isKernel())
        continue;
      bool registerTiles =
          kernel.walk([](NVVM::MmaOp) { return WalkResult::interrupt(); })
              .wasInterrupted();
      if (registerTiles)
        kernel->setAttr("nvvm.minctasm", b.getI32IntegerAttr(1));
    }
  }
};

} // namespace
