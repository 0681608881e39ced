//===- EmitEntryPoints.cpp - one calling convention for the runtime -------===//
//
// The runtime calls every function as `void _attn_entry_<name>(void **args)`,
// args[i] pointing at the memref descriptor of argument i (inputs, then the
// outputs). The wrapper loads the pointers and calls the C interface function
// `_mlir_ciface_<name>`, which takes one descriptor pointer per argument. A
// single signature lets the runtime call functions of any arity without
// per-arity casts.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNEMITENTRYPOINTSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

constexpr StringLiteral kCInterfacePrefix = "_mlir_ciface_";

struct AttnEmitEntryPointsPass
    : attn::impl::AttnEmitEntryPointsPassBase<AttnEmitEntryPointsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    SmallVector<LLVM::LLVMFuncOp> interfaces;
    for (auto func : module.getOps<LLVM::LLVMFuncOp>())
      if (func.getName().starts_with(kCInterfacePrefix) && !func.isExternal())
        interfaces.push_back(func);
    for (LLVM::LLVMFuncOp func : interfaces)
      if (failed(emitEntryPoint(module, func)))
        return signalPassFailure();
    // Code that launches kernels says so: the runtime then passes device
    // buffers and makes sure a GPU is there before calling it.
    bool launchesKernels = !module.getOps<gpu::GPUModuleOp>().empty() ||
                           !module.getOps<gpu::BinaryOp>().empty();
    if (launchesKernels && !module.lookupSymbol(kTargetSymbol)) {
      MLIRContext *ctx = &getContext();
      StringRef target("cuda\0", 5);
      OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
      auto type =
          LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), target.size());
      LLVM::GlobalOp::create(builder, module.getLoc(), type,
                             /*isConstant=*/true, LLVM::Linkage::External,
                             kTargetSymbol, builder.getStringAttr(target));
    }
  }

  LogicalResult emitEntryPoint(ModuleOp module, LLVM::LLVMFuncOp callee) {
    MLIRContext *ctx = &getContext();
    Location loc = callee.getLoc();
    auto ptrType = LLVM::LLVMPointerType::get(ctx);
    LLVM::LLVMFunctionType calleeType = callee.getFunctionType();
    for (Type param : calleeType.getParams())
      if (param != ptrType)
        return callee.emitError()
               << "cannot export " << callee.getName()
               << ": every argument must be passed as a memref descriptor "
                  "pointer, found "
               << param;

    std::string name =
        (kEntryPrefix + callee.getName().drop_front(kCInterfacePrefix.size()))
            .str();
    if (module.lookupSymbol(name))
      return success();
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    auto entry = LLVM::LLVMFuncOp::create(
        builder, loc, name,
        LLVM::LLVMFunctionType::get(LLVM::LLVMVoidType::get(ctx), {ptrType}));
    Block *body = entry.addEntryBlock(builder);
    builder.setInsertionPointToStart(body);
    Value args = body->getArgument(0);
    SmallVector<Value> descriptors;
    for (unsigned i = 0, e = calleeType.getNumParams(); i < e; ++i) {
      // descriptor_i = ((void **)args)[i]
      Value slot = LLVM::GEPOp::create(builder, loc, ptrType, ptrType, args,
                                       ArrayRef<LLVM::GEPArg>{int32_t(i)});
      descriptors.push_back(LLVM::LoadOp::create(builder, loc, ptrType, slot));
    }
    LLVM::CallOp::create(builder, loc, callee, descriptors);
    LLVM::ReturnOp::create(builder, loc, ValueRange{});
    return success();
  }
};

} // namespace
