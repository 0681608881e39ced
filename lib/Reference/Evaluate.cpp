//===- Evaluate.cpp - run a function of attn ops in float64 ---------------===//

#include "attn/Reference/Evaluate.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;
namespace ref = ::attn::reference;

static ref::Alignment toReference(Alignment alignment) {
  return alignment == Alignment::TopLeft ? ref::Alignment::TopLeft
                                         : ref::Alignment::BottomRight;
}

static FailureOr<ref::Mask> toReference(Operation *op, Attribute mask) {
  ref::Mask result;
  if (!mask)
    return result;
  if (auto causal = dyn_cast<CausalMaskAttr>(mask)) {
    result.kind = ref::Mask::Kind::Causal;
    result.alignment = toReference(causal.getAlignment());
    return result;
  }
  if (auto window = dyn_cast<WindowMaskAttr>(mask)) {
    result.kind = ref::Mask::Kind::Window;
    result.alignment = toReference(window.getAlignment());
    result.left = window.getLeft();
    result.right = window.getRight();
    result.dilation = window.getDilation();
    return result;
  }
  if (auto global = dyn_cast<GlobalMaskAttr>(mask)) {
    result.kind = ref::Mask::Kind::Global;
    result.tokens.assign(global.getTokens().begin(), global.getTokens().end());
    return result;
  }
  if (isa<UnionMaskAttr, IntersectionMaskAttr>(mask)) {
    auto unite = dyn_cast<UnionMaskAttr>(mask);
    result.kind =
        unite ? ref::Mask::Kind::Union : ref::Mask::Kind::Intersection;
    ArrayAttr parts =
        unite ? unite.getMasks() : cast<IntersectionMaskAttr>(mask).getMasks();
    for (Attribute part : parts) {
      FailureOr<ref::Mask> one = toReference(op, part);
      if (failed(one))
        return failure();
      result.parts.push_back(*one);
    }
    return result;
  }
  if (auto strided = dyn_cast<StridedMaskAttr>(mask)) {
    result.kind = ref::Mask::Kind::Strided;
    result.length = strided.getStride();
    result.bidirectional = strided.getBidirectional();
    result.splitHeads = strided.getSplitHeads();
    return result;
  }
  if (auto fixed = dyn_cast<FixedMaskAttr>(mask)) {
    result.kind = ref::Mask::Kind::Fixed;
    result.length = fixed.getBlock();
    result.summary = fixed.getSummary();
    result.bidirectional = fixed.getBidirectional();
    result.splitHeads = fixed.getSplitHeads();
    return result;
  }
  if (auto blockwise = dyn_cast<BlockwiseMaskAttr>(mask)) {
    result.kind = ref::Mask::Kind::Blockwise;
    result.length = blockwise.getQueryBlock();
    result.summary = blockwise.getKeyBlock();
    result.relation = stringifyBlockRelation(blockwise.getRelation()).str();
    return result;
  }
  return op->emitError() << "the reference does not know the mask " << mask;
}

namespace {

/// Evaluates ops in order, keeping the value of every SSA value.
class Evaluator {
public:
  Evaluator(ref::Cost *cost, bool computeValues)
      : cost(cost), computeValues(computeValues) {}

  void bind(Value value, ref::Tensor tensor) {
    values[value] = std::move(tensor);
  }
  const ref::Tensor *lookup(Value value) const {
    if (!value)
      return nullptr;
    auto it = values.find(value);
    return it == values.end() ? nullptr : &it->second;
  }

  /// The op's mask with its defaults resolved for the S of this call.
  static FailureOr<ref::Mask> maskFor(Operation *op, MaskAttrInterface mask,
                                      int64_t numKeys) {
    if (!mask)
      return ref::Mask();
    FailureOr<Attribute> resolved = mask.resolveFor(numKeys);
    if (failed(resolved))
      return op->emitError()
             << "cannot resolve " << mask << " for S = " << numKeys;
    return toReference(op, *resolved);
  }

  LogicalResult evaluate(AttentionOp op) {
    FailureOr<ref::Mask> mask =
        maskFor(op, op.getMaskAttr(), lookup(op.getKey())->shape[2]);
    if (failed(mask))
      return failure();
    ref::Tensor lse;
    bind(op.getResult(),
         attend(*lookup(op.getQuery()), *lookup(op.getKey()),
                *lookup(op.getValue()), lookup(op.getKeyLengths()),
                op.getScaleOrDefault(), *mask, op.getLse() ? &lse : nullptr));
    if (op.getLse())
      bind(op.getLse(), std::move(lse));
    return success();
  }

  LogicalResult evaluate(LinearAttentionOp op) {
    const ref::Tensor &q = *lookup(op.getQuery()), &k = *lookup(op.getKey()),
                      &v = *lookup(op.getValue());
    ref::Tensor finalState;
    if (computeValues) {
      ref::FeatureMap map = ref::FeatureMap::EluPlusOne;
      if (op.getFeatureMap() == FeatureMap::Relu)
        map = ref::FeatureMap::Relu;
      else if (op.getFeatureMap() == FeatureMap::Identity)
        map = ref::FeatureMap::Identity;
      bind(op.getResult(),
           ref::linearAttention(q, k, v, lookup(op.getKeyLengths()),
                                lookup(op.getInitialState()), map,
                                op.getCausal(), LinearAttentionOp::kEpsilon,
                                cost, &finalState));
    } else {
      int64_t D = q.shape[3], width = v.shape[3] + 1;
      cost->flops += 2.0 * D * width *
                     double(q.shape[0] * (k.shape[1] * k.shape[2] +
                                          q.shape[1] * q.shape[2]));
      bind(op.getResult(),
           shapeOnly({q.shape[0], q.shape[1], q.shape[2], v.shape[3]}));
      finalState = shapeOnly({q.shape[0], k.shape[1], D, width});
    }
    if (op.getFinalState())
      bind(op.getFinalState(), std::move(finalState));
    return success();
  }

  LogicalResult evaluate(CombineOp op) {
    std::vector<const ref::Tensor *> outputs, lses;
    for (Value part : op.getOutputs())
      outputs.push_back(lookup(part));
    for (Value part : op.getLses())
      lses.push_back(lookup(part));
    ref::Tensor lse;
    if (!computeValues) {
      bind(op.getResult(), shapeOnly(outputs.front()->shape));
      lse = shapeOnly(lses.front()->shape);
    } else {
      bind(op.getResult(), ref::combine(outputs, lses, &lse));
    }
    if (op.getLse())
      bind(op.getLse(), std::move(lse));
    return success();
  }

  LogicalResult evaluate(MultiHeadOp op) {
    const ref::Tensor &x = *lookup(op.getInput());
    const ref::Tensor &source = *lookup(op.getKeyValueInput());
    FailureOr<ref::Mask> mask = maskFor(op, op.getMaskAttr(), source.shape[1]);
    if (failed(mask))
      return failure();
    int64_t heads = op.getNumHeads(), kvHeads = op.getNumKvHeads();
    ref::Tensor q = split(project(x, *lookup(op.getWq())), heads);
    ref::Tensor k = split(project(source, *lookup(op.getWk())), kvHeads);
    ref::Tensor v = split(project(source, *lookup(op.getWv())), kvHeads);
    ref::Tensor o = attend(q, k, v, lookup(op.getKeyLengths()),
                           op.getScaleOrDefault(), *mask);
    bind(op.getResult(), project(merge(o), *lookup(op.getWo())));
    return success();
  }

private:
  ref::Tensor attend(const ref::Tensor &q, const ref::Tensor &k,
                     const ref::Tensor &v, const ref::Tensor *keyLengths,
                     double scale, const ref::Mask &mask,
                     ref::Tensor *lse = nullptr) {
    if (computeValues)
      return ref::attention(q, k, v, keyLengths, scale, mask, cost, lse);
    if (lse)
      *lse = shapeOnly({q.shape[0], q.shape[1], q.shape[2]});
    ref::Cost work =
        ref::attentionCost(q.shape, k.shape, v.shape, keyLengths, mask);
    cost->flops += work.flops;
    cost->pairs += work.pairs;
    return shapeOnly({q.shape[0], q.shape[1], q.shape[2], v.shape[3]});
  }

  ref::Tensor project(const ref::Tensor &x, const ref::Tensor &w) {
    if (computeValues)
      return ref::project(x, w, cost);
    cost->flops +=
        2.0 * double(x.shape[0] * x.shape[1]) * w.shape[0] * w.shape[1];
    return shapeOnly({x.shape[0], x.shape[1], w.shape[1]});
  }

  ref::Tensor split(const ref::Tensor &x, int64_t heads) {
    if (computeValues)
      return ref::splitHeads(x, heads);
    return shapeOnly({x.shape[0], heads, x.shape[1], x.shape[2] / heads});
  }

  ref::Tensor merge(const ref::Tensor &x) {
    if (computeValues)
      return ref::mergeHeads(x);
    return shapeOnly({x.shape[0], x.shape[2], x.shape[1] * x.shape[3]});
  }

  static ref::Tensor shapeOnly(std::vector<int64_t> shape) {
    ref::Tensor t;
    t.shape = std::move(shape);
    return t;
  }

  ref::Cost *cost;
  bool computeValues;
  llvm::DenseMap<Value, ref::Tensor> values;
};

} // namespace

FailureOr<std::vector<ref::Tensor>>
mlir::attn::evaluateReference(func::FuncOp func,
                              ArrayRef<ref::Tensor> arguments, ref::Cost *cost,
                              bool computeValues) {
  ref::Cost ignored;
  Evaluator evaluator(cost ? cost : &ignored, computeValues);
  if (arguments.size() != func.getNumArguments())
    return func.emitError() << "the reference was given " << arguments.size()
                            << " arguments for " << func.getNumArguments();
  for (auto [arg, tensor] : llvm::zip(func.getArguments(), arguments))
    evaluator.bind(arg, tensor);

  std::vector<ref::Tensor> results;
  for (Operation &op : func.getBody().front()) {
    LogicalResult status =
        llvm::TypeSwitch<Operation *, LogicalResult>(&op)
            .Case<AttentionOp, MultiHeadOp, CombineOp, LinearAttentionOp>(
                [&](auto typed) { return evaluator.evaluate(typed); })
            .Case<func::ReturnOp>([&](func::ReturnOp ret) {
              for (Value operand : ret.getOperands())
                results.push_back(*evaluator.lookup(operand));
              return success();
            })
            .Default([&](Operation *other) {
              return other->emitError()
                     << "the float64 reference cannot evaluate this op; it "
                        "knows attn ops and func.return";
            });
    if (failed(status))
      return failure();
  }
  return results;
}
