//===- SelectStrategy.cpp - flash or materialized, per op -----------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNSELECTSTRATEGYPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

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
        strategy != kMaterializedStrategy) {
      getOperation().emitError() << "unknown attention strategy '" << strategy
                                 << "'; expected auto, flash or materialized";
      return signalPassFailure();
    }
    getOperation().walk([&](AttentionOp op) {
      op->setAttr(kStrategyAttr, StringAttr::get(&getContext(), choose(op)));
    });
  }

  /// The documented rule: materialized only when all the scores of the op
  /// (every batch row and head) are statically known to fit in one tile.
  /// The materialized loops run on one thread: many small attentions (the
  /// residue classes of a sparse mask, say) are faster as flash tiles spread
  /// over the cores.
  StringRef choose(AttentionOp op) {
    if (strategy != "auto")
      return strategy;
    auto queries = cast<RankedTensorType>(op.getQuery().getType());
    auto keys = cast<RankedTensorType>(op.getKey().getType());
    int64_t b = queries.getDimSize(0), n = queries.getDimSize(2),
            s = keys.getDimSize(2);
    bool oneTile = !ShapedType::isDynamic(b) && !ShapedType::isDynamic(n) &&
                   !ShapedType::isDynamic(s) &&
                   b * op.getNumHeads() * n * s <= queryTile * keyTile;
    return oneTile ? kMaterializedStrategy : kFlashStrategy;
  }
};

} // namespace
