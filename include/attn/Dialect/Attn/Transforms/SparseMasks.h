//===- SparseMasks.h - masks cut into pieces that tile densely ---*- C++
//-*-===//
//
// Some masks leave holes in every tile of the original order: a dilated
// window, the Sparse Transformer's strided "every l-th key" and fixed
// "summary keys". Each becomes dense after a rearrangement of the rows or the
// keys: grouping rows and keys by their residue modulo l (residue classes,
// folded into the batch dimension), or gathering the summary keys. This
// header describes, for a mask, the pieces it is cut into; the pass
// attn-decompose-sparse-masks builds them as attn.attention ops (merged by
// attn.combine where a row's keys are split between pieces) and attn-schedule
// counts the tiles they visit. One description, two users.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_SPARSEMASKS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_SPARSEMASKS_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"

#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <cstdint>

namespace mlir::attn {

/// One attention of the decomposition.
struct MaskPiece {
  enum class Layout {
    /// The op's own rows and keys.
    Original,
    /// Rows from `rowOffset` and keys from `keyOffset` grouped by residue
    /// modulo `modulus`: class r holds rows rowOffset + r + modulus a and keys
    /// keyOffset + r + modulus b, and becomes batch row B_index * modulus + r
    /// of a (B * modulus, H, ceil(rows / modulus), D) tensor.
    ResidueClasses,
    /// The op's rows; keys gathered to the last `summary` keys of every block
    /// of `modulus` keys (c per block, in order).
    SummaryKeys
  };
  /// Which query heads the piece computes (the Sparse Transformer's split of
  /// its patterns over the heads): all, or the even or odd ones.
  enum class Heads { All, Even, Odd };

  Layout layout = Layout::Original;
  Heads heads = Heads::All;
  int64_t modulus = 1, rowOffset = 0, keyOffset = 0, summary = 0;
  /// The mask in the piece's own row and key indices; null for none.
  MaskAttrInterface mask;

  /// Rows and keys of the piece's attention for an op of N rows and S keys
  /// (per batch row, per class: classes are padded to the longest).
  int64_t rowsOf(int64_t numQueries) const {
    if (layout != Layout::ResidueClasses)
      return numQueries;
    return ceilDiv(std::max<int64_t>(numQueries - rowOffset, 0), modulus);
  }
  int64_t keysOf(int64_t numKeys) const {
    if (layout == Layout::ResidueClasses)
      return ceilDiv(std::max<int64_t>(numKeys - keyOffset, 0), modulus);
    if (layout == Layout::SummaryKeys)
      return ceilDiv(numKeys, modulus) * summary;
    return numKeys;
  }
  /// The valid keys of residue class r (or of the gathered summary keys) of
  /// a batch row with `valid` valid keys: a prefix of the piece's keys.
  int64_t validKeysOf(int64_t valid, int64_t r) const {
    if (layout == Layout::ResidueClasses)
      return ceilDiv(std::max<int64_t>(valid - keyOffset - r, 0), modulus);
    if (layout == Layout::SummaryKeys)
      return valid / modulus * summary +
             std::max<int64_t>(valid % modulus - (modulus - summary), 0);
    return valid;
  }
  int64_t classes() const {
    return layout == Layout::ResidueClasses ? modulus : 1;
  }
  /// Whether query head `head` of the op is in the piece, and its index there.
  bool hasHead(int64_t head) const {
    return heads == Heads::All || (head % 2 == 0) == (heads == Heads::Even);
  }
  int64_t headIndex(int64_t head) const {
    return heads == Heads::All ? head : head / 2;
  }

private:
  static int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
};

/// The pieces of `mask` (resolved for S) for an op with `numHeads` query and
/// `numKVHeads` key/value heads; empty when the mask is better left whole
/// (already dense in tiles, or a split over heads that the K/V grouping
/// cannot follow). `numKeys` is S when static, else 0. Pieces with the same
/// heads see disjoint key sets of each row, and their union is the mask.
llvm::SmallVector<MaskPiece> decomposeSparseMask(MaskAttrInterface mask,
                                                 int64_t numHeads,
                                                 int64_t numKVHeads,
                                                 int64_t numKeys);

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_SPARSEMASKS_H
