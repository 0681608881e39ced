//===- Evaluate.cpp - run a function of attn ops in float64 ---------------===//

#include "attn/Reference/Evaluate.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"

#include "llvm/ADT/StringSwitch.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>

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

/// The function of the elements of an elementwise op, or null: f(x) of
/// unary ops (casts keep the value: the reference computes in f64) and
/// f(x, y) of binary ones.
using Unary = double (*)(double);
using Binary = double (*)(double, double);

static Unary unaryFunction(StringRef name) {
  return llvm::StringSwitch<Unary>(name)
      .Case("arith.negf", [](double x) { return -x; })
      .Cases({"arith.extf", "arith.truncf"}, [](double x) { return x; })
      .Case("math.exp", [](double x) { return std::exp(x); })
      .Case("math.exp2", [](double x) { return std::exp2(x); })
      .Case("math.log", [](double x) { return std::log(x); })
      .Case("math.log2", [](double x) { return std::log2(x); })
      .Case("math.tanh", [](double x) { return std::tanh(x); })
      .Case("math.sqrt", [](double x) { return std::sqrt(x); })
      .Case("math.rsqrt", [](double x) { return 1 / std::sqrt(x); })
      .Case("math.absf", [](double x) { return std::fabs(x); })
      .Case("math.erf", [](double x) { return std::erf(x); })
      .Default(nullptr);
}

/// The signed integer and index ops of an index-dependent body (integers
/// are held exactly in a double up to 2^53), and i1's and/or.
using IntegerBinary = int64_t (*)(int64_t, int64_t);
static IntegerBinary integerFunction(StringRef name) {
  return llvm::StringSwitch<IntegerBinary>(name)
      .Case("arith.addi", [](int64_t x, int64_t y) { return x + y; })
      .Case("arith.subi", [](int64_t x, int64_t y) { return x - y; })
      .Case("arith.muli", [](int64_t x, int64_t y) { return x * y; })
      .Case("arith.minsi",
            [](int64_t x, int64_t y) { return std::min(x, y); })
      .Case("arith.maxsi",
            [](int64_t x, int64_t y) { return std::max(x, y); })
      .Case("arith.divsi", [](int64_t x, int64_t y) { return x / y; })
      .Case("arith.remsi", [](int64_t x, int64_t y) { return x % y; })
      .Case("arith.ceildivsi",
            [](int64_t x, int64_t y) {
              return x / y + (x % y != 0 && (x % y < 0) == (y < 0));
            })
      .Case("arith.floordivsi",
            [](int64_t x, int64_t y) {
              return x / y - (x % y != 0 && (x % y < 0) != (y < 0));
            })
      .Case("arith.andi", [](int64_t x, int64_t y) { return x & y; })
      .Case("arith.ori", [](int64_t x, int64_t y) { return x | y; })
      .Default(nullptr);
}

static double compareIntegers(arith::CmpIPredicate predicate, int64_t x,
                              int64_t y) {
  using P = arith::CmpIPredicate;
  switch (predicate) {
  case P::eq:
    return x == y;
  case P::ne:
    return x != y;
  case P::slt:
  case P::ult:
    return x < y;
  case P::sle:
  case P::ule:
    return x <= y;
  case P::sgt:
  case P::ugt:
    return x > y;
  case P::sge:
  case P::uge:
    return x >= y;
  }
  return 0;
}

static Binary binaryFunction(StringRef name) {
  return llvm::StringSwitch<Binary>(name)
      .Case("arith.addf", [](double x, double y) { return x + y; })
      .Case("arith.subf", [](double x, double y) { return x - y; })
      .Case("arith.mulf", [](double x, double y) { return x * y; })
      .Case("arith.divf", [](double x, double y) { return x / y; })
      .Cases({"arith.maximumf", "arith.maxnumf"},
             [](double x, double y) { return std::fmax(x, y); })
      .Cases({"arith.minimumf", "arith.minnumf"},
             [](double x, double y) { return std::fmin(x, y); })
      .Case("math.powf", [](double x, double y) { return std::pow(x, y); })
      .Default(nullptr);
}

/// arith.cmpf's predicate on two doubles.
static bool compare(arith::CmpFPredicate predicate, double x, double y) {
  bool unordered = std::isnan(x) || std::isnan(y);
  switch (predicate) {
  case arith::CmpFPredicate::AlwaysFalse:
    return false;
  case arith::CmpFPredicate::OEQ:
    return !unordered && x == y;
  case arith::CmpFPredicate::OGT:
    return !unordered && x > y;
  case arith::CmpFPredicate::OGE:
    return !unordered && x >= y;
  case arith::CmpFPredicate::OLT:
    return !unordered && x < y;
  case arith::CmpFPredicate::OLE:
    return !unordered && x <= y;
  case arith::CmpFPredicate::ONE:
    return !unordered && x != y;
  case arith::CmpFPredicate::ORD:
    return !unordered;
  case arith::CmpFPredicate::UEQ:
    return unordered || x == y;
  case arith::CmpFPredicate::UGT:
    return unordered || x > y;
  case arith::CmpFPredicate::UGE:
    return unordered || x >= y;
  case arith::CmpFPredicate::ULT:
    return unordered || x < y;
  case arith::CmpFPredicate::ULE:
    return unordered || x <= y;
  case arith::CmpFPredicate::UNE:
    return unordered || x != y;
  case arith::CmpFPredicate::UNO:
    return unordered;
  case arith::CmpFPredicate::AlwaysTrue:
    return true;
  }
  return false;
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

  /// The reference's statement of the score modifier `attr` (none when
  /// null) of an op with `numHeads` query heads.
  static FailureOr<ref::ScoreMod>
  scoreModFor(Operation *op, ScoreModAttrInterface attr, int64_t numHeads) {
    ref::ScoreMod mod;
    if (!attr)
      return mod;
    if (auto softcap = dyn_cast<SoftcapAttr>(attr)) {
      mod.softcap = softcap.getCap().convertToDouble();
      return mod;
    }
    if (auto alibi = dyn_cast<AlibiAttr>(attr)) {
      mod.alibiSlopes =
          ref::alibiSlopes(numHeads, alibi.getMaxBias().convertToDouble());
      mod.alibiAlignment = toReference(alibi.getAlignment());
      return mod;
    }
    return op->emitError("the float64 reference knows no score modifier ")
           << attr;
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
    FailureOr<ref::ScoreMod> mod =
        scoreModFor(op, op.getScoreModAttr(), op.getNumHeads());
    if (failed(mod))
      return failure();
    ref::Tensor lse;
    if (op.getQueryOffsets()) {
      const ref::Tensor &q = *lookup(op.getQuery());
      if (!computeValues) {
        // The work: Σ over the sequences of their pairs.
        const ref::Tensor &k = *lookup(op.getKey()), &v = *lookup(op.getValue());
        const ref::Tensor &cq = *lookup(op.getQueryOffsets());
        const ref::Tensor &ck = *lookup(op.getKeyOffsets());
        for (int64_t s = 0; s + 1 < cq.numElements(); ++s) {
          auto length = [&](const ref::Tensor &offsets) {
            return std::max<int64_t>(
                0, static_cast<int64_t>(offsets.data[s + 1] - offsets.data[s]));
          };
          ref::Cost work = ref::attentionCost(
              {1, q.shape[1], length(cq), q.shape[3]},
              {1, k.shape[1], length(ck), k.shape[3]},
              {1, v.shape[1], length(ck), v.shape[3]}, nullptr, *mask);
          cost->flops += work.flops;
          cost->pairs += work.pairs;
        }
        bind(op.getResult(), shapeOnly({q.shape[0], q.shape[1], q.shape[2],
                                        lookup(op.getValue())->shape[3]}));
        if (op.getLse())
          bind(op.getLse(), shapeOnly({q.shape[0], q.shape[1], q.shape[2]}));
        return success();
      }
      bind(op.getResult(),
           ref::packedAttention(q, *lookup(op.getKey()),
                                *lookup(op.getValue()),
                                *lookup(op.getQueryOffsets()),
                                *lookup(op.getKeyOffsets()),
                                op.getScaleOrDefault(), *mask, cost,
                                op.getLse() ? &lse : nullptr, *mod,
                                lookup(op.getSinks())));
      if (op.getLse())
        bind(op.getLse(), std::move(lse));
      return success();
    }
    bind(op.getResult(),
         attend(*lookup(op.getQuery()), *lookup(op.getKey()),
                *lookup(op.getValue()), lookup(op.getKeyLengths()),
                op.getScaleOrDefault(), *mask, op.getLse() ? &lse : nullptr,
                *mod, lookup(op.getSinks())));
    if (op.getLse())
      bind(op.getLse(), std::move(lse));
    return success();
  }

  /// The gradients from the formulas (ref::attentionGradients), which
  /// recompute the softmax: out and lse are not read, so a function whose
  /// out or lse is not the forward's gets a reference that says so.
  LogicalResult evaluate(AttentionGradOp op) {
    const ref::Tensor &q = *lookup(op.getQuery()), &k = *lookup(op.getKey()),
                      &v = *lookup(op.getValue());
    FailureOr<ref::Mask> mask = maskFor(op, op.getMaskAttr(), k.shape[2]);
    if (failed(mask))
      return failure();
    const ref::Tensor *keyLengths = lookup(op.getKeyLengths());
    if (!computeValues) {
      ref::Cost work =
          ref::attentionCost(q.shape, k.shape, v.shape, keyLengths, *mask);
      // Per pair: the recomputed score, dP and the three products.
      cost->flops += work.pairs * 2.0 * double(2 * q.shape[3] + 2 * v.shape[3]);
      cost->pairs += work.pairs;
      bind(op.getQueryGrad(), shapeOnly(q.shape));
      bind(op.getKeyGrad(), shapeOnly(k.shape));
      bind(op.getValueGrad(), shapeOnly(v.shape));
      if (op.getSinksGrad())
        bind(op.getSinksGrad(), shapeOnly({q.shape[1]}));
      return success();
    }
    FailureOr<ref::ScoreMod> mod =
        scoreModFor(op, op.getScoreModAttr(), op.getNumHeads());
    if (failed(mod))
      return failure();
    ref::AttentionGradients grads = ref::attentionGradients(
        q, k, v, *lookup(op.getOutputGrad()), keyLengths,
        op.getScaleOrDefault(), *mask, cost, lookup(op.getSinks()), *mod);
    bind(op.getQueryGrad(), std::move(grads.dq));
    bind(op.getKeyGrad(), std::move(grads.dk));
    bind(op.getValueGrad(), std::move(grads.dv));
    if (op.getSinksGrad())
      bind(op.getSinksGrad(), std::move(grads.dsinks));
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

  /// The ops a function may hold around its attentions: elementwise arith
  /// and math on tensors, matmuls, transposes, fills, reshapes and the
  /// constants and sizes they take. A diagnostic names any other op.
  LogicalResult evaluateOther(Operation *op) {
    if (auto constant = dyn_cast<arith::ConstantOp>(op))
      return evaluateConstant(constant);
    if (auto dim = dyn_cast<tensor::DimOp>(op)) {
      std::optional<int64_t> index = dim.getConstantIndex();
      const ref::Tensor *source = lookup(dim.getSource());
      if (!index || !source)
        return unsupported(op);
      scalars[dim.getResult()] = double(source->shape[*index]);
      return success();
    }
    if (auto empty = dyn_cast<tensor::EmptyOp>(op)) {
      FailureOr<std::vector<int64_t>> shape =
          shapeOf(empty.getType(), empty.getMixedSizes());
      if (failed(shape))
        return unsupported(op);
      bind(empty.getResult(), make(*shape));
      return success();
    }
    if (auto fill = dyn_cast<linalg::FillOp>(op)) {
      auto value = scalars.find(fill.getInputs().front());
      const ref::Tensor *init = lookup(fill.getOutputs().front());
      if (value == scalars.end() || !init)
        return unsupported(op);
      ref::Tensor filled = make(init->shape);
      std::fill(filled.data.begin(), filled.data.end(), value->second);
      bind(fill.getResult(0), std::move(filled));
      return success();
    }
    if (isa<linalg::MatmulOp, linalg::BatchMatmulOp>(op)) {
      auto matmul = cast<linalg::LinalgOp>(op);
      // Plain matmuls only: no transposed or broadcast operands.
      bool userMaps = isa<linalg::MatmulOp>(op)
                          ? cast<linalg::MatmulOp>(op).hasUserDefinedMaps()
                          : cast<linalg::BatchMatmulOp>(op).hasUserDefinedMaps();
      if (!matmul.hasPureTensorSemantics() || userMaps)
        return unsupported(op);
      const ref::Tensor *a = lookup(matmul.getDpsInputs()[0]),
                        *b = lookup(matmul.getDpsInputs()[1]),
                        *c = lookup(matmul.getDpsInits()[0]);
      if (!a || !b || !c)
        return unsupported(op);
      if (computeValues) {
        bind(op->getResult(0), ref::matmul(*a, *b, *c, cost));
      } else {
        size_t rank = a->shape.size();
        double batches = 1;
        for (size_t d = 0; d + 2 < rank; ++d)
          batches *= double(c->shape[d]);
        cost->flops += 2.0 * batches * double(a->shape[rank - 2]) *
                       double(a->shape[rank - 1]) * double(b->shape[rank - 1]);
        bind(op->getResult(0), shapeOnly(c->shape));
      }
      return success();
    }
    if (auto transpose = dyn_cast<linalg::TransposeOp>(op)) {
      const ref::Tensor *input = lookup(transpose.getInput());
      if (!input)
        return unsupported(op);
      std::vector<int64_t> permutation(transpose.getPermutation().begin(),
                                       transpose.getPermutation().end());
      if (computeValues) {
        bind(transpose.getResult()[0], ref::transpose(*input, permutation));
      } else {
        std::vector<int64_t> shape;
        for (int64_t d : permutation)
          shape.push_back(input->shape[d]);
        bind(transpose.getResult()[0], shapeOnly(shape));
      }
      return success();
    }
    // Reshapes keep the elements in their row-major order.
    if (isa<tensor::CastOp, tensor::CollapseShapeOp, tensor::ExpandShapeOp>(
            op)) {
      const ref::Tensor *source = lookup(op->getOperand(0));
      if (!source)
        return unsupported(op);
      auto type = cast<RankedTensorType>(op->getResult(0).getType());
      SmallVector<OpFoldResult> sizes;
      if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
        sizes = expand.getMixedOutputShape();
      else if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
        for (const ReassociationIndices &group :
             collapse.getReassociationIndices()) {
          int64_t size = 1;
          for (int64_t d : group)
            size *= source->shape[d];
          sizes.push_back(Builder(op->getContext()).getIndexAttr(size));
        }
      else
        for (int64_t size : source->shape)
          sizes.push_back(Builder(op->getContext()).getIndexAttr(size));
      FailureOr<std::vector<int64_t>> shape = shapeOf(type, sizes);
      if (failed(shape))
        return unsupported(op);
      ref::Tensor reshaped = *source;
      reshaped.shape = *shape;
      bind(op->getResult(0), std::move(reshaped));
      return success();
    }
    if (auto generic = dyn_cast<linalg::GenericOp>(op))
      return evaluateGeneric(generic);
    if (auto loop = dyn_cast<scf::ForOp>(op))
      return evaluateLoop(loop);
    if (auto extract = dyn_cast<tensor::ExtractSliceOp>(op))
      return evaluateSlice(extract, extract.getSource(), Value(),
                           extract.getMixedOffsets(), extract.getMixedSizes(),
                           extract.getMixedStrides());
    if (auto insert = dyn_cast<tensor::InsertSliceOp>(op))
      return evaluateSlice(insert, insert.getSource(), insert.getDest(),
                           insert.getMixedOffsets(), insert.getMixedSizes(),
                           insert.getMixedStrides());
    // Index arithmetic on sizes (a chunk count, say).
    if (IntegerBinary h = integerFunction(op->getName().getStringRef());
        h && op->getNumOperands() == 2 &&
        op->getResult(0).getType().isIntOrIndex()) {
      auto x = scalars.find(op->getOperand(0)),
           y = scalars.find(op->getOperand(1));
      if (x == scalars.end() || y == scalars.end())
        return unsupported(op);
      scalars[op->getResult(0)] =
          double(h(int64_t(x->second), int64_t(y->second)));
      return success();
    }
    if (op->hasTrait<OpTrait::Elementwise>() && op->getNumResults() == 1)
      return evaluateElementwise(op);
    return unsupported(op);
  }

  /// Any op of a function's body or of a loop's.
  LogicalResult evaluateAny(Operation *op) {
    return llvm::TypeSwitch<Operation *, LogicalResult>(op)
        .Case<AttentionOp, AttentionGradOp, MultiHeadOp, CombineOp,
              LinearAttentionOp>(
            [&](auto typed) { return evaluate(typed); })
        .Default([&](Operation *other) { return evaluateOther(other); });
  }

private:
  LogicalResult unsupported(Operation *op) {
    return op->emitError()
           << "the float64 reference cannot evaluate '" << op->getName()
           << "'; it knows attn ops, elementwise arith and math ops on "
              "tensors (add, sub, mul, div, max, min, neg, exp, log, tanh, "
              "sqrt, rsqrt, abs, erf, casts), linalg.generic of such ops, "
              "comparisons and selects (and of linalg.index, integer "
              "arithmetic and tensor.extract), linalg.matmul, batch_matmul, "
              "transpose and fill, tensor.empty, dim, cast, expand_shape, "
              "collapse_shape, extract_slice and insert_slice (unit "
              "strides), scf.for, index arithmetic, and constants";
  }

  LogicalResult evaluateConstant(arith::ConstantOp constant) {
    Attribute value = constant.getValue();
    if (auto integer = dyn_cast<IntegerAttr>(value)) {
      scalars[constant.getResult()] = double(integer.getInt());
      return success();
    }
    if (auto number = dyn_cast<FloatAttr>(value)) {
      scalars[constant.getResult()] = number.getValueAsDouble();
      return success();
    }
    auto elements = dyn_cast<DenseElementsAttr>(value);
    auto type = dyn_cast<RankedTensorType>(constant.getType());
    if (!elements || !type || !type.hasStaticShape())
      return unsupported(constant);
    ref::Tensor tensor = make(std::vector<int64_t>(type.getShape().begin(),
                                                   type.getShape().end()));
    if (computeValues) {
      if (isa<FloatType>(type.getElementType())) {
        auto values = elements.getValues<APFloat>();
        for (auto [e, element] : llvm::enumerate(values))
          tensor.data[e] = element.convertToDouble();
      } else if (type.getElementType().isInteger()) {
        auto values = elements.getValues<APInt>();
        for (auto [e, element] : llvm::enumerate(values))
          tensor.data[e] = double(element.getSExtValue());
      } else {
        return unsupported(constant);
      }
    }
    bind(constant.getResult(), std::move(tensor));
    return success();
  }

  /// The value of a size, offset or bound: a constant or a known scalar.
  std::optional<int64_t> integerOf(OpFoldResult value) {
    if (std::optional<int64_t> known = getConstantIntValue(value))
      return known;
    auto scalar = scalars.find(dyn_cast<Value>(value));
    if (scalar == scalars.end())
      return std::nullopt;
    return int64_t(scalar->second);
  }

  /// scf.for over index bounds the evaluator knows, carrying tensors or
  /// scalars: its body evaluated once per iteration, in order.
  LogicalResult evaluateLoop(scf::ForOp loop) {
    std::optional<int64_t> lb = integerOf(loop.getLowerBound()),
                           ub = integerOf(loop.getUpperBound()),
                           step = integerOf(loop.getStep());
    if (!lb || !ub || !step || *step <= 0)
      return unsupported(loop);
    auto carry = [&](Value from, Value to) -> LogicalResult {
      if (const ref::Tensor *tensor = lookup(from)) {
        bind(to, *tensor);
        return success();
      }
      auto scalar = scalars.find(from);
      if (scalar == scalars.end())
        return failure();
      scalars[to] = scalar->second;
      return success();
    };
    for (auto [init, arg] :
         llvm::zip(loop.getInitArgs(), loop.getRegionIterArgs()))
      if (failed(carry(init, arg)))
        return unsupported(loop);
    Block &body = *loop.getBody();
    for (int64_t i = *lb; i < *ub; i += *step) {
      scalars[loop.getInductionVar()] = double(i);
      for (Operation &inner : body.without_terminator())
        if (failed(evaluateAny(&inner)))
          return failure();
      auto yield = cast<scf::YieldOp>(body.getTerminator());
      // Through copies: a yielded value may be an iter arg itself.
      SmallVector<ref::Tensor> tensors;
      SmallVector<std::optional<double>> numbers;
      for (Value yielded : yield.getOperands()) {
        const ref::Tensor *tensor = lookup(yielded);
        tensors.push_back(tensor ? *tensor : ref::Tensor());
        auto scalar = scalars.find(yielded);
        numbers.push_back(scalar == scalars.end()
                              ? std::nullopt
                              : std::optional(scalar->second));
      }
      for (auto [arg, tensor, number] :
           llvm::zip(loop.getRegionIterArgs(), tensors, numbers)) {
        if (isa<RankedTensorType>(arg.getType()))
          bind(arg, std::move(tensor));
        else if (number)
          scalars[arg] = *number;
        else
          return unsupported(loop);
      }
    }
    for (auto [arg, result] :
         llvm::zip(loop.getRegionIterArgs(), loop.getResults()))
      if (failed(carry(arg, result)))
        return unsupported(loop);
    return success();
  }

  /// tensor.extract_slice (no `dest`) or tensor.insert_slice of unit
  /// strides, possibly rank-reducing: the slice of `sizes` at `offsets`.
  LogicalResult evaluateSlice(Operation *op, Value source, Value dest,
                              ArrayRef<OpFoldResult> offsets,
                              ArrayRef<OpFoldResult> sizes,
                              ArrayRef<OpFoldResult> strides) {
    const ref::Tensor *from = lookup(source);
    const ref::Tensor *into = dest ? lookup(dest) : nullptr;
    const ref::Tensor *full = dest ? into : from; // the unsliced tensor
    if (!from || (dest && !into))
      return unsupported(op);
    std::vector<int64_t> at, extent;
    for (auto [offset, size, stride] : llvm::zip(offsets, sizes, strides)) {
      std::optional<int64_t> o = integerOf(offset), n = integerOf(size),
                             s = integerOf(stride);
      if (!o || !n || !s || *s != 1)
        return unsupported(op);
      at.push_back(*o);
      extent.push_back(*n);
    }
    for (size_t d = 0; d < at.size(); ++d)
      if (at[d] < 0 || at[d] + extent[d] > full->shape[d])
        return op->emitError("the float64 reference: slice out of bounds");
    // The slice's own shape drops the unit dimensions the slice's type
    // does not have.
    auto sliceType = cast<RankedTensorType>(
        (dest ? source : op->getResult(0)).getType());
    std::vector<int64_t> sliceShape;
    if (sliceType.getRank() == int64_t(extent.size())) {
      sliceShape = extent;
    } else {
      for (int64_t n : extent)
        if (n != 1 || int64_t(sliceShape.size()) < sliceType.getRank())
          sliceShape.push_back(n);
      while (int64_t(sliceShape.size()) > sliceType.getRank()) {
        auto unit = std::find(sliceShape.begin(), sliceShape.end(), 1);
        if (unit == sliceShape.end())
          return unsupported(op);
        sliceShape.erase(unit);
      }
    }
    ref::Tensor result = dest ? (computeValues ? *into : shapeOnly(into->shape))
                              : make(sliceShape);
    if (computeValues) {
      int64_t count = 1;
      for (int64_t n : extent)
        count *= n;
      std::vector<int64_t> point(extent.size(), 0);
      for (int64_t e = 0; e < count; ++e) {
        int64_t offset = 0;
        for (size_t d = 0; d < point.size(); ++d)
          offset = offset * full->shape[d] + at[d] + point[d];
        if (dest)
          result.data[offset] = from->data[e];
        else
          result.data[e] = from->data[offset];
        for (size_t d = point.size(); d-- > 0;) {
          if (++point[d] < extent[d])
            break;
          point[d] = 0;
        }
      }
    }
    bind(op->getResult(0), std::move(result));
    return success();
  }

  /// A linalg.generic of projected-permutation maps whose body holds
  /// elementwise float ops, comparisons, selects, constants and
  /// linalg.index: its loops run over every point, the body evaluated on
  /// the elements its maps read, the yields stored into copies of the
  /// inits (a reduction accumulates there).
  LogicalResult evaluateGeneric(linalg::GenericOp op) {
    if (!op.hasPureTensorSemantics())
      return unsupported(op);
    SmallVector<const ref::Tensor *> operands;
    for (Value operand : op->getOperands())
      operands.push_back(lookup(operand));
    if (llvm::is_contained(operands, nullptr))
      return unsupported(op);
    // Each loop's extent is a dimension of an operand it indexes alone.
    SmallVector<AffineMap> maps = op.getIndexingMapsArray();
    SmallVector<int64_t> extents(op.getNumLoops(), -1);
    for (auto [operand, map] : llvm::zip(operands, maps)) {
      if (!map.isProjectedPermutation())
        return op.emitError() << "the float64 reference evaluates "
                                 "linalg.generic ops whose indexing maps are "
                                 "projected permutations, not "
                              << AffineMapAttr::get(map);
      for (auto [d, expr] : llvm::enumerate(map.getResults()))
        extents[cast<AffineDimExpr>(expr).getPosition()] = operand->shape[d];
    }
    if (llvm::is_contained(extents, -1))
      return unsupported(op);
    SmallVector<ref::Tensor> results;
    for (const ref::Tensor *init : ArrayRef(operands).take_back(
             op.getNumDpsInits()))
      results.push_back(computeValues ? *init : shapeOnly(init->shape));
    if (computeValues) {
      Block &body = op.getRegion().front();
      SmallVector<int64_t> point(extents.size(), 0);
      int64_t points = 1;
      for (int64_t extent : extents)
        points *= extent;
      llvm::DenseMap<Value, double> elements;
      for (int64_t n = 0; n < points; ++n) {
        // The element of each operand at this point, then the body.
        auto offsetOf = [&](size_t i) {
          int64_t offset = 0;
          for (auto [d, expr] : llvm::enumerate(maps[i].getResults()))
            offset = offset * operands[i]->shape[d] +
                     point[cast<AffineDimExpr>(expr).getPosition()];
          return offset;
        };
        size_t numInputs = op.getNumDpsInputs();
        for (size_t i = 0; i < operands.size(); ++i)
          elements[body.getArgument(i)] =
              i < numInputs ? operands[i]->data[offsetOf(i)]
                            : results[i - numInputs].data[offsetOf(i)];
        for (Operation &inner : body) {
          if (auto yield = dyn_cast<linalg::YieldOp>(inner)) {
            for (auto [i, value] : llvm::enumerate(yield.getValues()))
              results[i].data[offsetOf(numInputs + i)] = elements[value];
            break;
          }
          if (failed(evaluateScalar(inner, elements, point)))
            return failure();
        }
        for (size_t d = point.size(); d-- > 0;) {
          if (++point[d] < extents[d])
            break;
          point[d] = 0;
        }
      }
    }
    for (auto [result, value] : llvm::zip(op->getResults(), results))
      bind(result, std::move(value));
    return success();
  }

  /// One op of a linalg.generic's body, on the elements of this point.
  LogicalResult evaluateScalar(Operation &op,
                               llvm::DenseMap<Value, double> &elements,
                               ArrayRef<int64_t> point) {
    auto operand = [&](unsigned i) {
      Value value = op.getOperand(i);
      auto inside = elements.find(value);
      if (inside != elements.end())
        return inside->second;
      return scalars.lookup(value); // a constant from outside the body
    };
    auto definedOutside = [&](Value value) {
      return elements.count(value) || scalars.count(value);
    };
    // An element of a tensor from outside the body, at indices computed in
    // it (an index-dependent body: a padded column, a per-row bound).
    if (auto extract = dyn_cast<tensor::ExtractOp>(op)) {
      const ref::Tensor *source = lookup(extract.getTensor());
      if (!source ||
          !llvm::all_of(extract.getIndices(), definedOutside))
        return unsupported(&op);
      int64_t offset = 0;
      for (auto [d, index] : llvm::enumerate(extract.getIndices())) {
        auto i = int64_t(operand(1 + d));
        if (i < 0 || i >= source->shape[d])
          return op.emitError("the float64 reference: tensor.extract out of "
                              "bounds");
        offset = offset * source->shape[d] + i;
      }
      elements[extract.getResult()] = source->data[offset];
      return success();
    }
    if (!llvm::all_of(op.getOperands(), definedOutside))
      return unsupported(&op);
    StringRef name = op.getName().getStringRef();
    double value;
    if (auto constant = dyn_cast<arith::ConstantOp>(op)) {
      auto number = dyn_cast<FloatAttr>(constant.getValue());
      auto integer = dyn_cast<IntegerAttr>(constant.getValue());
      if (!number && !integer)
        return unsupported(&op);
      value = number ? number.getValueAsDouble() : double(integer.getInt());
    } else if (auto index = dyn_cast<linalg::IndexOp>(op)) {
      value = double(point[index.getDim()]);
    } else if (auto cmp = dyn_cast<arith::CmpFOp>(op)) {
      value = compare(cmp.getPredicate(), operand(0), operand(1));
    } else if (auto cmp = dyn_cast<arith::CmpIOp>(op)) {
      value = compareIntegers(cmp.getPredicate(), int64_t(operand(0)),
                              int64_t(operand(1)));
    } else if (IntegerBinary h = integerFunction(name);
               h && op.getNumOperands() == 2) {
      value = double(h(int64_t(operand(0)), int64_t(operand(1))));
    } else if (isa<arith::IndexCastOp, arith::ExtSIOp, arith::TruncIOp,
                   arith::SIToFPOp>(op)) {
      value = operand(0); // integers are held exactly
    } else if (isa<arith::SelectOp>(op)) {
      value = operand(0) != 0 ? operand(1) : operand(2);
    } else if (Unary f = unaryFunction(name); f && op.getNumOperands() == 1) {
      value = f(operand(0));
    } else if (Binary g = binaryFunction(name);
               g && op.getNumOperands() == 2) {
      value = g(operand(0), operand(1));
    } else {
      return unsupported(&op);
    }
    elements[op.getResult(0)] = value;
    return success();
  }

  /// Elementwise ops on tensors, by their function of the elements.
  LogicalResult evaluateElementwise(Operation *op) {
    StringRef name = op->getName().getStringRef();
    SmallVector<const ref::Tensor *> operands;
    for (Value operand : op->getOperands())
      operands.push_back(lookup(operand));
    if (llvm::is_contained(operands, nullptr))
      return unsupported(op);
    ref::Tensor result = make(operands.front()->shape);
    if (Unary f = unaryFunction(name); f && operands.size() == 1) {
      if (computeValues)
        std::transform(operands[0]->data.begin(), operands[0]->data.end(),
                       result.data.begin(), f);
    } else if (Binary g = binaryFunction(name); g && operands.size() == 2) {
      if (computeValues)
        std::transform(operands[0]->data.begin(), operands[0]->data.end(),
                       operands[1]->data.begin(), result.data.begin(), g);
    } else {
      return unsupported(op);
    }
    bind(op->getResult(0), std::move(result));
    return success();
  }

  /// The shape of `type` with its dynamic sizes from `sizes` (constants, or
  /// scalars the evaluator knows).
  FailureOr<std::vector<int64_t>> shapeOf(RankedTensorType type,
                                          ArrayRef<OpFoldResult> sizes) {
    std::vector<int64_t> shape;
    for (int64_t d = 0; d < type.getRank(); ++d) {
      if (!type.isDynamicDim(d)) {
        shape.push_back(type.getDimSize(d));
        continue;
      }
      OpFoldResult size = sizes.size() == size_t(type.getRank())
                              ? sizes[d]
                              : sizes[d - (type.getRank() - sizes.size())];
      if (std::optional<int64_t> known = getConstantIntValue(size)) {
        shape.push_back(*known);
        continue;
      }
      auto scalar = scalars.find(dyn_cast<Value>(size));
      if (scalar == scalars.end())
        return failure();
      shape.push_back(int64_t(scalar->second));
    }
    return shape;
  }

  /// A tensor of `shape`: zeros, or only the shape when values are not
  /// computed.
  ref::Tensor make(std::vector<int64_t> shape) {
    return computeValues ? ref::Tensor(std::move(shape))
                         : shapeOnly(std::move(shape));
  }

  ref::Tensor attend(const ref::Tensor &q, const ref::Tensor &k,
                     const ref::Tensor &v, const ref::Tensor *keyLengths,
                     double scale, const ref::Mask &mask,
                     ref::Tensor *lse = nullptr,
                     const ref::ScoreMod &mod = {},
                     const ref::Tensor *sinks = nullptr) {
    if (computeValues)
      return ref::attention(q, k, v, keyLengths, scale, mask, cost, lse, mod,
                            sinks);
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
  /// Index and float scalars: the sizes and fill values of tensor ops.
  llvm::DenseMap<Value, double> scalars;
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
    if (auto ret = dyn_cast<func::ReturnOp>(op)) {
      for (Value operand : ret.getOperands())
        results.push_back(*evaluator.lookup(operand));
      break;
    }
    if (failed(evaluator.evaluateAny(&op)))
      return failure();
  }
  return results;
}
