//===- Stages.h - stages shared by the CPU and GPU pipelines ---*- C++ -*-===//

#ifndef ATTN_LIB_PIPELINES_STAGES_H
#define ATTN_LIB_PIPELINES_STAGES_H

#include "mlir/Pass/PassManager.h"

#include <string>

namespace mlir::attn {

/// Tensor level: describe the entry points before anything changes them,
/// decompose the layers and dilated windows, and choose a strategy for every
/// attention (the tiles size the `auto` rule).
void addFrontEndPasses(OpPassManager &pm, const std::string &strategy,
                       int64_t queryTile, int64_t keyTile, bool decode);

/// Tensors to buffers: arguments keep the identity layout (contiguous, as
/// the runtime passes them), results become caller-allocated
/// out-parameters, loop-invariant buffers leave their loops and, with
/// `deallocate`, every buffer the function allocates is freed by the
/// ownership-based deallocation (the GPU pipeline frees its device buffers
/// itself: that analysis does not know the effects of GPU ops).
void addBufferizationPasses(OpPassManager &pm, bool deallocate);

} // namespace mlir::attn

#endif // ATTN_LIB_PIPELINES_STAGES_H
