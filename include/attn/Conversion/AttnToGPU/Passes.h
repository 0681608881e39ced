//===- Passes.h - the GPU lowering of attn ----------------------*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTOGPU_PASSES_H
#define ATTN_CONVERSION_ATTNTOGPU_PASSES_H

#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attn/Conversion/AttnToGPU/Passes.h.inc"

/// The attention kernel on the FP32 cores, one query row per thread
/// (SIMTKernel.cpp): every flash- or decode-marked attn.attention with
/// static head dimensions.
void populateSIMTKernelPatterns(RewritePatternSet &patterns, int64_t queryTile,
                                int64_t keyTile, int64_t chunks,
                                int64_t multiprocessors);

/// The flash backward on the FP32 cores (SIMTGradientKernels.cpp): every
/// flash-marked attn.attention_grad with static head dimensions as two
/// kernels of `threads` threads per block (dk and dv a thread per key, dq a
/// thread per query row) staging tiles of up to `tile` rows.
void populateSIMTGradientKernelPatterns(RewritePatternSet &patterns,
                                        int64_t threads, int64_t tile);

/// The attention kernel on the tensor cores, warp-level mma.sync
/// (TensorCoreKernel.cpp): the f16/bf16 attentions it can take, before the
/// SIMT kernel gets the rest.
void populateTensorCoreKernelPatterns(RewritePatternSet &patterns,
                                      int64_t queryTile, int64_t keyTile,
                                      int64_t chunks, int64_t multiprocessors);

#define GEN_PASS_REGISTRATION
#include "attn/Conversion/AttnToGPU/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOGPU_PASSES_H
