//===- Passes.h - the CPU lowering of attn ----------------------*- C++ -*-===//

#ifndef ATTN_CONVERSION_ATTNTOCPU_PASSES_H
#define ATTN_CONVERSION_ATTNTOCPU_PASSES_H

#include "attn/Dialect/Attn/Transforms/Passes.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attn/Conversion/AttnToCPU/Passes.h.inc"

/// The largest query or key tile of the CPU lowerings (flash, decode: its
/// key tiles and the rows of a task). A tile is static: its products are
/// unrolled into register blocks, so the code grows with its area (two
/// tiles of 256 compile in under a second, of 1024 in over a minute).
inline constexpr int64_t kMaxCPUTile = 256;

/// Whether the query and key tiles of a tiling pass are in [1,
/// kMaxCPUTile]; an error on `op` when not.
inline LogicalResult verifyCPUTiles(Operation *op, int64_t queryTile,
                                    int64_t keyTile) {
  if (queryTile >= 1 && queryTile <= kMaxCPUTile && keyTile >= 1 &&
      keyTile <= kMaxCPUTile)
    return success();
  return op->emitError() << "query-tile and key-tile must be in [1, "
                         << kMaxCPUTile << "], not " << queryTile << " and "
                         << keyTile;
}

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
