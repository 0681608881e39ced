//===- Passes.h - the CPU lowering of attn ----------------------*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTOCPU_PASSES_H
#define ATTN_CONVERSION_ATTNTOCPU_PASSES_H

#include "attn/Dialect/Attn/Transforms/Passes.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attn/Conversion/AttnToCPU/Passes.h.inc"

void populateTileOnlineSoftmaxPatterns(RewritePatternSet &patterns,
                                       int64_t queryTile, int64_t keyTile,
                                       bool bf16Pairs = false);
void populateTileDecodePatterns(RewritePatternSet &patterns, int64_t keyTile,
                                int64_t maxRows, int64_t chunks,
                                int64_t workers);

#define GEN_PASS_REGISTRATION
#include "attn/Conversion/AttnToCPU/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOCPU_PASSES_H
