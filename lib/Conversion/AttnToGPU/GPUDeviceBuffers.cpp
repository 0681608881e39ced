//===- GPUDeviceBuffers.cpp - every buffer of a GPU function on the GPU ---===//
//
// On the GPU target the runtime passes device pointers, and the host code
// only orchestrates: it must not touch memory. After bufferization this pass
// makes that so for the buffers the function creates itself:
//
//   memref.alloc   -> gpu.alloc    (device memory, through the runtime)
//   memref.dealloc -> gpu.dealloc
//   memref.copy    -> linalg.copy  (a loop nest, which attn-gpu-map-loops
//                                   then turns into a kernel)
//
// and frees each device buffer right after the last op of its block that
// uses it or a view of it (launches are synchronous, so the kernels reading
// it are done). Nothing the function allocates escapes it: results were
// turned into caller-allocated out-parameters by then; a buffer that does
// escape (returned, stored) is an error rather than a leak.
//
// Allocations inside a gpu.launch body (none are made there) are left alone.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Interfaces/ViewLikeInterface.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUDEVICEBUFFERSPASS
#include "attn/Conversion/AttnToGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

/// The GPU lowering implements allocation only as a stream operation:
/// `op` runs on a fresh stream that is waited for right after, which is
/// synchronous like everything else here.
template <typename Build>
auto onStream(OpBuilder &b, Location loc, Build build) {
  Type token = gpu::AsyncTokenType::get(b.getContext());
  Value stream =
      gpu::WaitOp::create(b, loc, token, ValueRange{}).getAsyncToken();
  auto op = build(stream);
  gpu::WaitOp::create(b, loc, Type(), ValueRange{op.getAsyncToken()});
  return op;
}

void deallocate(OpBuilder &b, Location loc, Value buffer) {
  onStream(b, loc, [&](Value token) {
    return gpu::DeallocOp::create(b, loc, token.getType(), ValueRange{token},
                                  buffer);
  });
}

struct AttnGPUDeviceBuffersPass
    : attn::impl::AttnGPUDeviceBuffersPassBase<AttnGPUDeviceBuffersPass> {
  void runOnOperation() override {
    SmallVector<Operation *> hostOps;
    getOperation()->walk([&](Operation *op) {
      if (isa<memref::AllocOp, memref::DeallocOp, memref::CopyOp>(op) &&
          !op->getParentOfType<gpu::LaunchOp>())
        hostOps.push_back(op);
    });
    IRRewriter rewriter(&getContext());
    for (Operation *op : hostOps) {
      rewriter.setInsertionPoint(op);
      Location loc = op->getLoc();
      if (auto alloc = dyn_cast<memref::AllocOp>(op)) {
        // Device allocations are aligned to 256 bytes, more than any
        // alignment bufferization asks for.
        if (!alloc.getSymbolOperands().empty()) {
          alloc.emitError("cannot place an affine-sized allocation on the "
                          "GPU");
          return signalPassFailure();
        }
        Operation *lastUse = findLastUse(alloc);
        if (!lastUse)
          return signalPassFailure();
        auto device = onStream(rewriter, loc, [&](Value token) {
          return gpu::AllocOp::create(rewriter, loc, alloc.getType(),
                                      token.getType(), ValueRange{token},
                                      alloc.getDynamicSizes(), ValueRange{},
                                      /*hostShared=*/false);
        });
        rewriter.replaceOp(alloc, device.getMemref());
        if (!hasDealloc(device.getMemref())) {
          rewriter.setInsertionPointAfter(lastUse == alloc.getOperation()
                                              ? device.getOperation()
                                              : lastUse);
          deallocate(rewriter, loc, device.getMemref());
        }
      } else if (auto dealloc = dyn_cast<memref::DeallocOp>(op)) {
        deallocate(rewriter, loc, dealloc.getMemref());
        rewriter.eraseOp(dealloc);
      } else if (auto copy = dyn_cast<memref::CopyOp>(op)) {
        rewriter.replaceOpWithNewOp<linalg::CopyOp>(
            copy, ValueRange{copy.getSource()}, ValueRange{copy.getTarget()});
      }
    }
  }

  /// The last op of the allocation's block that uses the buffer or a view
  /// of it (the allocation itself when unused); null, with an error, when
  /// the buffer escapes.
  static Operation *findLastUse(memref::AllocOp alloc) {
    Block *block = alloc->getBlock();
    Operation *last = alloc;
    SmallVector<Value> worklist = {alloc.getResult()};
    while (!worklist.empty()) {
      Value buffer = worklist.pop_back_val();
      for (OpOperand &use : buffer.getUses()) {
        Operation *user = use.getOwner();
        if (isa<func::ReturnOp>(user) ||
            (isa<memref::StoreOp>(user) && use.getOperandNumber() == 0)) {
          alloc.emitError("a device buffer escapes its function");
          return nullptr;
        }
        if (auto view = dyn_cast<ViewLikeOpInterface>(user))
          if (view.getViewSource() == buffer)
            worklist.push_back(view->getResult(0));
        if (isa<memref::DeallocOp>(user))
          continue;
        Operation *ancestor = block->findAncestorOpInBlock(*user);
        if (ancestor && last->isBeforeInBlock(ancestor))
          last = ancestor;
      }
    }
    return last;
  }

  static bool hasDealloc(Value buffer) {
    return llvm::any_of(buffer.getUsers(), [](Operation *user) {
      return isa<memref::DeallocOp, gpu::DeallocOp>(user);
    });
  }
};

} // namespace
