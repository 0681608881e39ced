//===- GPULegalizeMath.cpp - the math functions the kernels can compute ---===//
//
// A math op in a kernel takes one of three ways to PTX: attn's own
// polynomials (exp, exp2, log2: attn-approximate-exp2), an LLVM intrinsic
// that NVPTX selects (fma, trunc), or a libdevice function that
// gpu-module-to-binary links from the CUDA Toolkit (erf, tan, atan, ...).
// The hyperbolic functions take none: NVPTX cannot select llvm.tanh, and
// its instruction selection aborts ("Cannot select: ftanh"); they are
// expanded here through exp. The ops that the math-to-LLVM lowering turns
// into intrinsics which the NVVM lowering then refuses (sqrt, fabs, floor,
// log, sin, pow, ...) get a diagnostic here naming the op, not a
// "failed to legalize llvm.intr.sqrt" later.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPULEGALIZEMATHPASS
#include "attn/Conversion/AttnToGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

/// Math ops the lowering to LLVM turns into intrinsics that the NVVM
/// lowering refuses (it wants libdevice calls for them instead).
static bool refusedByTheNVVMLowering(Operation *op) {
  return isa<math::SqrtOp, math::RsqrtOp, math::AbsFOp, math::FloorOp,
             math::CeilOp, math::RoundEvenOp, math::RoundOp, math::CopySignOp,
             math::LogOp, math::Log10Op, math::Log1pOp, math::SinOp,
             math::CosOp, math::PowFOp, math::FPowIOp, math::CtPopOp>(op);
}

/// Expanded into exp and arith (tanh(x) = (exp(2x) - 1) / (exp(2x) + 1),
/// ...), which attn-approximate-exp2 computes.
static constexpr StringLiteral kExpanded[] = {"tanh", "sinh", "cosh"};

namespace {

struct AttnGPULegalizeMathPass
    : attn::impl::AttnGPULegalizeMathPassBase<AttnGPULegalizeMathPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    math::populateExpansionPatterns(patterns, SmallVector<StringRef>(std::begin(kExpanded), std::end(kExpanded)));
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
    WalkResult left = getOperation().walk([](Operation *op) {
      if (!refusedByTheNVVMLowering(op))
        return WalkResult::advance();
      op->emitError() << "the GPU kernels cannot compute '" << op->getName()
                      << "' yet: the NVVM lowering takes it for a libdevice "
                         "call, the lowering to LLVM before it for an "
                         "intrinsic; it runs on the CPU (--target cpu)";
      return WalkResult::interrupt();
    });
    if (left.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
