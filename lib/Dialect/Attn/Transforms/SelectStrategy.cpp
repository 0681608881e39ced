//===- SelectStrategy.cpp - flash, materialized or decode, per op ---------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSELECTSTRATEGYPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

bool mlir::attn::isDecodeShaped(AttentionOp op, int64_t maxRows) {
  int64_t queries =
      cast<RankedTensorType>(op.getQuery().getType()).getDimSize(2);
  if (ShapedType::isDynamic(queries) || queries == 0)
    return false;
  int64_t group = op.getNumHeads() / op.getNumKVHeads();
  if (group * queries > maxRows)
    return false;
  // A task's rows span the heads of a group: their key ranges and full
  // tiles are those of its first head.
  return !splitsHeads(op.getMaskAttr());
}

bool mlir::attn::isMarkedFor(Operation *op, StringRef strategy) {
  auto mark = op->getAttrOfType<StringAttr>(kStrategyAttr);
  return !mark || mark.getValue() == strategy;
}

namespace {

struct AttnSelectStrategyPass
    : attn::impl::AttnSelectStrategyPassBase<AttnSelectStrategyPass> {
  using Base::Base;

  void runOnOperation() override {
    if (strategy != "auto" && strategy != kFlashStrategy &&
        strategy != kMaterializedStrategy && strategy != kDecodeStrategy) {
      getOperation().emitError()
          << "unknown attention strategy '" << strategy
          << "'; expected auto, flash, materialized or decode";
      return signalPassFailure();
    }
    WalkResult result = getOperation().walk([&](AttentionOp op) {
      StringRef chosen = choose(op);
      if (chosen == kDecodeStrategy && !isDecodeShaped(op, queryTile)) {
        int64_t queries =
            cast<RankedTensorType>(op.getQuery().getType()).getDimSize(2);
        op.emitError() << "the decode strategy needs a static number of "
                          "queries N whose g·N rows per K/V head fit in the "
                          "query tile ("
                       << queryTile.getValue()
                       << "), and a mask that treats all heads alike; here N "
                          "= "
                       << (ShapedType::isDynamic(queries)
                               ? std::string("?")
                               : std::to_string(queries))
                       << " and g = " << op.getNumHeads() / op.getNumKVHeads();
        return WalkResult::interrupt();
      }
      op->setAttr(kStrategyAttr, StringAttr::get(&getContext(), chosen));
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      return signalPassFailure();
    // The backward: materialized when asked for or when all its scores fit
    // in one tile, as the forward; flash (tiled) otherwise, decode included
    // (a backward has no cache to stream).
    getOperation().walk([&](AttentionGradOp op) {
      bool materialized =
          strategy == kMaterializedStrategy ||
          (strategy == "auto" && fitsOneTile(op.getQuery(), op.getKey(),
                                             op.getNumHeads()));
      op->setAttr(kStrategyAttr,
                  StringAttr::get(&getContext(),
                                  materialized ? kMaterializedStrategy
                                               : kFlashStrategy));
    });
  }

  /// Whether B, N and S are static and all B·H·N·S scores fit one tile.
  bool fitsOneTile(Value q, Value k, int64_t heads) {
    auto queries = cast<RankedTensorType>(q.getType());
    auto keys = cast<RankedTensorType>(k.getType());
    int64_t b = queries.getDimSize(0), n = queries.getDimSize(2),
            s = keys.getDimSize(2);
    // B H N S of sizes up to 2^31 each may overflow: checked, a product
    // that overflows is no single tile.
    int64_t scores = 0;
    return !ShapedType::isDynamic(b) && !ShapedType::isDynamic(n) &&
           !ShapedType::isDynamic(s) &&
           !__builtin_mul_overflow(b, heads, &scores) &&
           !__builtin_mul_overflow(scores, n, &scores) &&
           !__builtin_mul_overflow(scores, s, &scores) &&
           scores <= queryTile * keyTile;
  }

  /// The documented rule: materialized only when all the scores of the op
  /// (every batch row and head) are statically known to fit in one tile;
  /// then decode for few queries per K/V head; flash otherwise.
  /// The materialized loops run on one thread: many small attentions (the
  /// residue classes of a sparse mask, say) are faster as flash tiles spread
  /// over the cores.
  StringRef choose(AttentionOp op) {
    if (strategy != "auto")
      return strategy;
    if (fitsOneTile(op.getQuery(), op.getKey(), op.getNumHeads()))
      return kMaterializedStrategy;
    return decode && isDecodeShaped(op, queryTile) ? kDecodeStrategy
                                                   : kFlashStrategy;
  }
};

} // namespace
