//===- OnlineSoftmax.h - pieces shared by the flash lowerings ---*- C++ -*-===//
//
// The CPU tiles (TileOnlineSoftmax.cpp) and the GPU kernel
// (lib/Conversion/AttnToGPU) compute the same online softmax in the log2
// domain over the same block schedule; these are the index arithmetic, the
// two scalar steps and the schedule they share.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/IndexBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

namespace mlir::attn {

constexpr double kLog2E = 1.4426950408889634;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

inline Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

/// The running maximum as an exp2 offset: a row that has seen no key yet has
/// m = -inf, and exp2(x - m) would be exp2(-inf + inf) = NaN; with offset 0
/// its masked scores give exp2(-inf) = 0.
inline Value safeOffset(OpBuilder &b, Location loc, Value rowMax) {
  Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowMax,
                                      f32Constant(b, loc, kNegInf));
  return arith::SelectOp::create(b, loc, empty, f32Constant(b, loc, 0), rowMax);
}

inline Value exp2Of(OpBuilder &b, Location loc, Value x, Value offset) {
  return math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, x, offset));
}

/// The valid keys of a batch row from its key length `len` (an i32):
/// clamp(len, 0, S), as an index.
inline Value buildValidKeys(OpBuilder &b, Location loc, Value len,
                            Value numKeys) {
  IndexBuilder ib(b, loc);
  Value length = arith::IndexCastOp::create(b, loc, b.getIndexType(), len);
  return ib.min(ib.max(length, ib.c(0)), numKeys);
}

/// The natural log-sum-exp of a row from its final state in the log2 domain:
/// sum_j exp(s_j) = sum_j 2^(s_j log2 e) = l 2^m, so lse = (m + log2 l) ln 2;
/// -inf for a row that saw no key (l = 0).
inline Value logSumExpOf(OpBuilder &b, Location loc, Value m, Value l) {
  Value any = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UGT, l,
                                    f32Constant(b, loc, 0));
  Value log2Sum =
      arith::AddFOp::create(b, loc, m, math::Log2Op::create(b, loc, l));
  Value lse =
      arith::MulFOp::create(b, loc, log2Sum, f32Constant(b, loc, 1.0 / kLog2E));
  return arith::SelectOp::create(b, loc, any, lse,
                                 f32Constant(b, loc, kNegInf));
}

/// The backward's view of the forward's natural lse: lse log2(e), and +inf
/// for a row that saw no key (lse = -inf), so that exp2(x - it) is 0 there.
inline Value lseInLog2Domain(OpBuilder &b, Location loc, Value lse) {
  Value noKey = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, lse,
                                      f32Constant(b, loc, kNegInf));
  return arith::SelectOp::create(
      b, loc, noKey, f32Constant(b, loc, -kNegInf),
      arith::MulFOp::create(b, loc, lse, f32Constant(b, loc, kLog2E)));
}

/// The key ranges a mask gives the rows [rowBegin, rowEnd): one per member
/// of a union (so that a window united with global tokens visits its band
/// and the global keys, not the hull from the first global key to the
/// band), the mask's one range otherwise.
inline void collectKeyRanges(OpBuilder &b, Location loc, MaskAttrInterface mask,
                             Value rowBegin, Value rowEnd, Value numQueries,
                             Value validKeys, Value head,
                             SmallVectorImpl<std::pair<Value, Value>> &ranges) {
  if (auto unite = dyn_cast<UnionMaskAttr>(mask)) {
    for (Attribute member : unite.getMasks())
      collectKeyRanges(b, loc, cast<MaskAttrInterface>(member), rowBegin,
                       rowEnd, numQueries, validKeys, head, ranges);
    return;
  }
  ranges.push_back(mask.buildKeyRange(b, loc, rowBegin, rowEnd, numQueries,
                                      validKeys, head));
}

/// The block schedule of the tiled lowerings, from the mask's index
/// arithmetic (never from an N x S mask). For the query rows [rowBegin,
/// rowEnd) of one tile, the ranges [first, last) of key tiles to visit: each
/// key range of the mask (all keys without a mask) clamped to the valid keys
/// and rounded out to whole tiles of `keyTile`; empty when the range is.
/// Ranges may overlap: buildKeyTileLoops visits a tile once.
inline SmallVector<std::pair<Value, Value>>
buildVisitedKeyTiles(OpBuilder &b, Location loc, MaskAttrInterface mask,
                     Value rowBegin, Value rowEnd, Value numQueries,
                     Value validKeys, Value head, int64_t keyTile) {
  IndexBuilder ib(b, loc);
  SmallVector<std::pair<Value, Value>> ranges;
  if (mask)
    collectKeyRanges(b, loc, mask, rowBegin, rowEnd, numQueries, validKeys,
                     head, ranges);
  else
    ranges.push_back({ib.c(0), validKeys});
  for (auto &[colBegin, colEnd] : ranges) {
    colBegin = ib.max(colBegin, ib.c(0));
    colEnd = ib.min(colEnd, validKeys);
    Value first = ib.div(colBegin, ib.c(keyTile));
    Value last =
        arith::SelectOp::create(b, loc, ib.lt(colBegin, colEnd),
                                ib.ceilDiv(colEnd, ib.c(keyTile)), first);
    colBegin = first;
    colEnd = last;
  }
  return ranges;
}

/// The loops over the key tiles of `ranges` (from buildVisitedKeyTiles): one
/// scf.for per range, carrying `state` from loop to loop; a tile that an
/// earlier range covers is skipped (its state passes through), so each tile
/// is visited once. `body` builds one tile's update. Returns the final state.
inline SmallVector<Value> buildKeyTileLoops(
    OpBuilder &b, Location loc, ArrayRef<std::pair<Value, Value>> ranges,
    ValueRange state,
    function_ref<SmallVector<Value>(OpBuilder &, Location, Value, ValueRange)>
        body) {
  SmallVector<Value> current(state);
  for (size_t k = 0; k < ranges.size(); ++k) {
    IndexBuilder ib(b, loc);
    auto loop = scf::ForOp::create(
        b, loc, ranges[k].first, ranges[k].second, ib.c(1), current,
        [&](OpBuilder &nb, Location l, Value tile, ValueRange carried) {
          if (k == 0) {
            scf::YieldOp::create(nb, l, body(nb, l, tile, carried));
            return;
          }
          IndexBuilder nib(nb, l);
          Value seen = nib.truth(false);
          for (size_t e = 0; e < k; ++e)
            seen = nib.either(seen, nib.both(nib.le(ranges[e].first, tile),
                                             nib.lt(tile, ranges[e].second)));
          // Blocks without terminators: each branch yields its own values.
          auto once = scf::IfOp::create(nb, l, carried.getTypes(), seen,
                                        /*addThenBlock=*/true,
                                        /*addElseBlock=*/true);
          {
            OpBuilder::InsertionGuard guard(nb);
            nb.setInsertionPointToStart(once.thenBlock());
            scf::YieldOp::create(nb, l, carried);
            nb.setInsertionPointToStart(once.elseBlock());
            scf::YieldOp::create(nb, l, body(nb, l, tile, carried));
          }
          scf::YieldOp::create(nb, l, once.getResults());
        });
    current.assign(loop.getResults().begin(), loop.getResults().end());
  }
  return current;
}

/// The key tiles of `ranges` (from buildVisitedKeyTiles) as one sequence
/// t = 0 .. count - 1, range after range, for a loop that must know the
/// next tile before it computes the current one (a kernel that prefetches).
/// Position t of range r (base_r <= t < base_r + n_r, n_r its length) is
/// tile first_r + t - base_r; it repeats an earlier range's tile when some
/// range e < r holds it (buildKeyTileLoops skips those; so must the user).
struct KeyTileSequence {
  SmallVector<std::pair<Value, Value>> ranges;
  /// base_r of each range, and the total count.
  SmallVector<Value> bases;
  Value count;

  KeyTileSequence(OpBuilder &b, Location loc,
                  ArrayRef<std::pair<Value, Value>> visited)
      : ranges(visited) {
    IndexBuilder ib(b, loc);
    count = ib.c(0);
    for (auto [first, last] : ranges) {
      bases.push_back(count);
      count = ib.add(count, ib.max(ib.sub(last, first), ib.c(0)));
    }
  }

  /// Whether a tile may repeat one of an earlier range (more than one
  /// range).
  bool mayRepeat() const { return ranges.size() > 1; }

  /// The key tile at position t.
  Value tileAt(OpBuilder &b, Location loc, Value t) const {
    IndexBuilder ib(b, loc);
    Value tile = ib.add(ranges[0].first, t);
    for (size_t r = 1; r < ranges.size(); ++r)
      tile = ib.select(ib.le(bases[r], t),
                       ib.add(ranges[r].first, ib.sub(t, bases[r])), tile);
    return tile;
  }

  /// Whether the tile at position t (`tile`) is one an earlier range holds.
  Value isRepeat(OpBuilder &b, Location loc, Value t, Value tile) const {
    IndexBuilder ib(b, loc);
    Value repeat = ib.truth(false);
    for (size_t r = 1; r < ranges.size(); ++r) {
      Value inRange = ib.le(bases[r], t);
      if (r + 1 < ranges.size())
        inRange = ib.both(inRange, ib.lt(t, bases[r + 1]));
      Value heldBefore = ib.truth(false);
      for (size_t e = 0; e < r; ++e)
        heldBefore =
            ib.either(heldBefore, ib.both(ib.le(ranges[e].first, tile),
                                          ib.lt(tile, ranges[e].second)));
      repeat = ib.either(repeat, ib.both(inRange, heldBefore));
    }
    return repeat;
  }
};

/// Split-K: the fewest keys worth a chunk of their own. Below this a
/// chunk's merge (its partial accumulator written and read back) and its
/// start (a task on the CPU, a block on the GPU) cost about as much as its
/// keys.
constexpr int64_t kMinChunkKeys = 512;

/// How many chunks to cut the keys of each of `tasks` (batch row, K/V head)
/// pairs into, so that `parallelism` workers (cores, or resident blocks) all
/// have work and no chunk has under kMinChunkKeys of the S keys:
///   C = max(1, min(ceil(parallelism / tasks), S / kMinChunkKeys)).
inline Value buildChunkCount(OpBuilder &b, Location loc, int64_t parallelism,
                             Value tasks, Value numKeys) {
  IndexBuilder ib(b, loc);
  Value wanted = ib.ceilDiv(ib.c(parallelism), tasks);
  Value most = ib.div(numKeys, ib.c(kMinChunkKeys));
  return ib.max(ib.c(1), ib.min(wanted, most));
}

/// `ranges` (from buildVisitedKeyTiles) cut to chunk `chunk` of `numChunks`:
/// the hull [first, last) of the ranges is split into runs of
/// ceil((last - first) / C) consecutive tiles, and each range is clamped to
/// the chunk's run. The chunks together visit every tile once.
inline SmallVector<std::pair<Value, Value>>
cutToChunk(OpBuilder &b, Location loc, ArrayRef<std::pair<Value, Value>> ranges,
           Value chunk, Value numChunks) {
  IndexBuilder ib(b, loc);
  Value first = ranges.front().first, last = ranges.front().second;
  for (auto [begin, end] : ranges.drop_front()) {
    first = ib.min(first, begin);
    last = ib.max(last, end);
  }
  Value perChunk = ib.ceilDiv(ib.sub(last, first), numChunks);
  Value chunkBegin = ib.add(first, ib.mul(chunk, perChunk));
  Value chunkEnd = ib.min(last, ib.add(chunkBegin, perChunk));
  SmallVector<std::pair<Value, Value>> cut;
  for (auto [begin, end] : ranges)
    cut.push_back({ib.max(begin, chunkBegin), ib.min(end, chunkEnd)});
  return cut;
}

/// Whether the key tile starting at `colBegin` needs no mask for the rows
/// [rowBegin, rowEnd): all its keys are valid and the mask shows them all.
inline Value buildKeyTileIsFull(OpBuilder &b, Location loc,
                                MaskAttrInterface mask, Value rowBegin,
                                Value rowEnd, Value colBegin, int64_t keyTile,
                                Value numQueries, Value validKeys, Value head) {
  IndexBuilder ib(b, loc);
  Value colEnd = ib.add(colBegin, ib.c(keyTile));
  Value full = ib.le(colEnd, validKeys);
  if (!mask)
    return full;
  return arith::AndIOp::create(
      b, loc, full,
      mask.buildIsFullyVisible(b, loc, rowBegin, rowEnd, colBegin, colEnd,
                               numQueries, validKeys, head));
}

/// Whether query `row` sees key `col`: a valid key the mask allows.
inline Value buildKeyIsVisible(OpBuilder &b, Location loc,
                               MaskAttrInterface mask, Value row, Value col,
                               Value numQueries, Value validKeys, Value head) {
  Value visible = IndexBuilder(b, loc).lt(col, validKeys);
  if (!mask)
    return visible;
  return arith::AndIOp::create(
      b, loc, visible,
      mask.buildIsVisible(b, loc, row, col, numQueries, validKeys, head));
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H
