//===- Schedule.h - the block schedule of an attention, evaluated -*- C++
//-*-===//
//
// The tiled lowerings decide which key tiles each query tile visits, and
// which of those need the mask, by index arithmetic that the mask attribute
// builds (buildVisitedKeyTiles, buildKeyTileIsFull). This evaluates exactly
// that arithmetic for given sizes — the same builders, compiled and run — so
// the tiles a lowering visits can be counted, tested and drawn without
// running attention.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_TARGET_SCHEDULE_H
#define ATTN_TARGET_SCHEDULE_H

#include "attn/Dialect/Attn/IR/AttnOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::attn {

/// The most tiles a schedule evaluates (a byte each), and draws.
inline constexpr int64_t kMaxScheduleCells = int64_t(1) << 26;
inline constexpr int64_t kMaxDrawnCells = int64_t(1) << 16;

/// One (batch row, head) of the schedule: a cell per (query tile, key tile).
struct TileSchedule {
  enum Cell : uint8_t { Skipped = 0, Partial = 1, Full = 2 };
  int64_t numQueries = 0, numKeys = 0, validKeys = 0, head = 0;
  int64_t queryTile = 0, keyTile = 0;
  int64_t queryTiles = 0, keyTiles = 0;
  std::vector<uint8_t> cells; // Row-major, queryTiles x keyTiles.

  Cell at(int64_t q, int64_t k) const {
    return static_cast<Cell>(cells[q * keyTiles + k]);
  }
  int64_t count(Cell cell) const;
  /// Visited tiles (full or partial).
  int64_t visited() const { return count(Full) + count(Partial); }
  /// The most tiles one query tile visits.
  int64_t maxVisitedPerQueryTile() const;
  /// (query, key) pairs whose scores the visited tiles compute (the tiles
  /// clipped to N x S).
  int64_t pairsComputed() const;
};

/// Evaluates the schedule under `mask` (resolved; null for none) for
/// N = numQueries, S = numKeys, a batch row with `validKeys` valid keys,
/// query head `head`.
FailureOr<TileSchedule>
evaluateSchedule(MLIRContext *ctx, MaskAttrInterface mask, int64_t queryTile,
                 int64_t keyTile, int64_t numQueries, int64_t numKeys,
                 int64_t validKeys, int64_t head, std::string &error);

/// What the tiled lowering visits for one (batch row, query head `head` of
/// `numHeads`, with `numKVHeads` K/V heads), after the front end's rewrites:
/// a mask that attn-decompose-sparse-masks cuts into pieces counts as those
/// pieces, each with its own rows, keys and classes (decomposeSparseMask).
struct ScheduleTotals {
  int64_t tiles = 0, fullTiles = 0, pairsComputed = 0;
  /// One line per piece computed for this head (one for an op left whole).
  std::vector<std::string> pieces;
};
FailureOr<ScheduleTotals> evaluateLoweredSchedule(
    MLIRContext *ctx, MaskAttrInterface declaredMask, int64_t queryTile,
    int64_t keyTile, int64_t numQueries, int64_t numKeys, int64_t validKeys,
    int64_t head, int64_t numHeads, int64_t numKVHeads, std::string &error);

/// The schedule as an SVG image: skipped, partial and full tiles; with
/// `elements`, every (query, key) pair the mask allows drawn inside the
/// tiles (for small sizes), from the mask evaluated the same way.
std::string renderScheduleSVG(const TileSchedule &schedule,
                              const std::vector<uint8_t> *elements,
                              const std::string &title);

/// The mask itself, element by element, for small sizes: 1 where row i may
/// see key j (valid keys only), row-major numQueries x numKeys.
FailureOr<std::vector<uint8_t>>
evaluateMaskElements(MLIRContext *ctx, MaskAttrInterface mask,
                     int64_t numQueries, int64_t numKeys, int64_t validKeys,
                     int64_t head, std::string &error);

} // namespace mlir::attn

#endif // ATTN_TARGET_SCHEDULE_H
