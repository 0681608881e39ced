//===- GPUMergeKernelModules.cpp - one gpu.module per compiled module -----===//
//
// gpu-kernel-outlining puts every kernel in a gpu.module of its own. Merged
// into one, `attn_kernels`, they become one PTX/cubin image: one file for
// attn-translate to emit and ptxas to assemble, and one driver module for the
// runtime to load.
//
//===----------------------------------------------------------------------===//

#include "attn/Conversion/AttnToGPU/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGPUMERGEKERNELMODULESPASS
#include "attn/Conversion/AttnToGPU/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;

namespace {

constexpr StringLiteral kMergedName = "attn_kernels";

struct AttnGPUMergeKernelModulesPass
    : attn::impl::AttnGPUMergeKernelModulesPassBase<
          AttnGPUMergeKernelModulesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<gpu::GPUModuleOp> kernelModules(
        module.getOps<gpu::GPUModuleOp>());
    if (kernelModules.empty())
      return;
    gpu::GPUModuleOp merged = kernelModules.front();
    SymbolTable moduleSymbols(module);
    if (merged.getName() != kMergedName &&
        failed(moduleSymbols.rename(merged, kMergedName)))
      return signalPassFailure();

    SymbolTable mergedSymbols(merged);
    for (gpu::GPUModuleOp other : ArrayRef(kernelModules).drop_front()) {
      if (other.getTargetsAttr() != merged.getTargetsAttr()) {
        other.emitError("kernel modules with different targets");
        return signalPassFailure();
      }
      // Old name -> name in the merged module (renamed on a clash).
      llvm::StringMap<StringAttr> renamed;
      for (Operation &op :
           llvm::make_early_inc_range(other.getBody()->without_terminator())) {
        auto symbol = dyn_cast<SymbolOpInterface>(op);
        StringAttr oldName = symbol ? symbol.getNameAttr() : StringAttr();
        op.remove();
        StringAttr newName = mergedSymbols.insert(&op);
        if (symbol)
          renamed[oldName.getValue()] = newName;
      }
      module.walk([&](gpu::LaunchFuncOp launch) {
        if (launch.getKernelModuleName() != other.getName())
          return;
        auto it = renamed.find(launch.getKernelName().getValue());
        if (it == renamed.end())
          return;
        launch.setKernelAttr(SymbolRefAttr::get(
            merged.getNameAttr(), {FlatSymbolRefAttr::get(it->second)}));
      });
      other.erase();
    }
  }
};

} // namespace
