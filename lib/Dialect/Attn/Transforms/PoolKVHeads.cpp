//===- PoolKVHeads.cpp - a multi-head layer made grouped-query ------------===//
//
// Ainslie et al. (2023, section 2.1) turn a multi-head checkpoint into a
// grouped-query one by mean-pooling the key and value heads of each group:
// with Hkv heads pooled into G groups of k = Hkv / G consecutive heads,
//
//   W_k'[:, g, :] = (1/k) sum_{j < k} W_k[:, g k + j, :]      (and W_v alike)
//
// where W[:, h, :] is the (F, D) slice of head h in the (F, Hkv * D) weight.
// The queries, W_q and W_o are unchanged: query head h now reads group
// h / (H / G), the pooled heads of its own old K/V heads. The model is then
// uptrained briefly; this pass is the conversion, on the layer op's weights,
// so that a converted layer decodes with G K/V heads (a cache H / G times
// smaller).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNPOOLKVHEADSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The (F, Hkv * w) weight with its heads mean-pooled in groups of `k`:
/// (F, (Hkv / k) * w).
Value poolHeads(OpBuilder &b, Location loc, Value weight, int64_t kvHeads,
                int64_t k) {
  auto type = cast<RankedTensorType>(weight.getType());
  int64_t features = type.getDimSize(0), width = type.getDimSize(1) / kvHeads;
  int64_t groups = kvHeads / k;
  Type elementType = type.getElementType();
  // (F, G * k * w) viewed as (F, G, k, w); summed over k into (F, G, w).
  Value heads = tensor::ExpandShapeOp::create(
      b, loc, RankedTensorType::get({features, groups, k, width}, elementType),
      weight, ArrayRef<ReassociationIndices>{{0}, {1, 2, 3}});
  GenericBuilder gb(b, loc);
  Type f32 = b.getF32Type();
  Value sum = gb.generic(
      {heads},
      gb.tensor({b.getIndexAttr(features), b.getIndexAttr(groups),
                 b.getIndexAttr(width)},
                f32, 0.0),
      {gb.map(4, {0, 1, 3, 2}), gb.map(4, {0, 1, 2})}, {kPar, kPar, kPar, kRed},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value w = a[0].getType() == f32
                      ? a[0]
                      : arith::ExtFOp::create(nb, l, f32, a[0]).getResult();
        return arith::AddFOp::create(nb, l, a[1], w);
      });
  Value mean = gb.generic(
      {sum},
      gb.tensor({b.getIndexAttr(features), b.getIndexAttr(groups),
                 b.getIndexAttr(width)},
                elementType),
      {gb.map(3, {0, 1, 2}), gb.map(3, {0, 1, 2})}, {kPar, kPar, kPar},
      [&](OpBuilder &nb, Location l, ValueRange a) -> Value {
        Value m = arith::DivFOp::create(
            nb, l, a[0],
            arith::ConstantOp::create(nb, l, nb.getF32FloatAttr(k)));
        return elementType == f32
                   ? m
                   : arith::TruncFOp::create(nb, l, elementType, m).getResult();
      });
  return tensor::CollapseShapeOp::create(
      b, loc, RankedTensorType::get({features, groups * width}, elementType),
      mean, ArrayRef<ReassociationIndices>{{0}, {1, 2}});
}

struct AttnPoolKVHeadsPass
    : attn::impl::AttnPoolKVHeadsPassBase<AttnPoolKVHeadsPass> {
  using Base::Base;

  void runOnOperation() override {
    if (kvHeads <= 0) {
      getOperation().emitError("kv-heads must be positive");
      return signalPassFailure();
    }
    WalkResult result = getOperation().walk([&](MultiHeadOp op) {
      int64_t current = op.getNumKvHeads();
      if (current == kvHeads)
        return WalkResult::advance();
      if (current % kvHeads != 0) {
        int64_t groups = kvHeads;
        op.emitError() << "cannot pool " << current << " key/value heads into "
                       << groups << " groups: " << groups
                       << " does not divide " << current;
        return WalkResult::interrupt();
      }
      OpBuilder b(op);
      int64_t k = current / kvHeads;
      Value wk = poolHeads(b, op.getLoc(), op.getWk(), current, k);
      Value wv = poolHeads(b, op.getLoc(), op.getWv(), current, k);
      op.getWkMutable().assign(wk);
      op.getWvMutable().assign(wv);
      op.setNumKvHeads(kvHeads);
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
