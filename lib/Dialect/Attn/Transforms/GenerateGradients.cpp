//===- GenerateGradients.cpp - the backward function of a forward ---------===//
//
// For a public function @f of attention ops (attn.attention, attn.multi_head,
// attn.linear_attention)
// emits @f_backward: its arguments are f's, then one gradient per result of
// f (d_result, shaped like the result); its results are the gradients of
// sum_r <d_result_r, f_r> with respect to each of f's floating-point
// arguments (x, the weights, q, k, v...). Key lengths get none.
//
// The backward recomputes the forward (its attentions now with their lse,
// its layers decomposed into projections and attentions by
// attn-decompose-layers), then walks it in reverse (reverse-mode
// differentiation), each op's gradients from its result's:
//
//   attn.attention         attn.attention_grad with the forward's out, lse
//   attn.linear_attention  its state and g = d(num / den), in closed form;
//                          causal by a reverse scan of the state's
//                          gradient (LinearAttentionGradient.cpp)
//   into heads (Q = X W)   dX[b,t,f] = sum_{h,d} dQ[b,h,t,d] W[f,h,d]
//                          dW[f,h,d] = sum_{b,t} X[b,t,f] dQ[b,h,t,d]
//   from heads (Y = O W)   dO[b,h,t,d] = sum_e dY[b,t,e] W[h,d,e]
//                          dW[h,d,e] = sum_{b,t} O[b,h,t,d] dY[b,t,e]
//
// dX and dO are projections of the other form with the weight transposed
// (so the CPU's projection tiles compute them); the weights' gradients,
// which sum over (b, t), are plain products.
//   conversions, casts     the gradient converted or cast back
//   expand/collapse_shape  the gradient collapsed/expanded back
//
// A value read by several ops (self-attention's x feeds Q, K and V) sums the
// gradients they give it, in f32. Any other op is an error that names it: no
// backward is emitted for what it cannot differentiate.
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/GenericBuilder.h"
#include "attn/Dialect/Attn/Transforms/LinearAttentionGradient.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Dialect/Attn/Transforms/Projections.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNGENERATEGRADIENTSPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The gradients of the values of one function, accumulated op by op in
/// reverse.
class Differentiator {
public:
  Differentiator(OpBuilder &b, Location loc) : b(b), loc(loc), gb(b, loc) {}

  /// Adds `gradient` (of `value`'s shape) to what `value` receives.
  void add(Value value, Value gradient) {
    if (gradient.getType() != value.getType())
      gradient = convertTo(gradient, value.getType());
    contributions[value].push_back(gradient);
  }

  /// The sum of what `value` received, or null if nothing reached it.
  Value gradientOf(Value value) {
    auto it = contributions.find(value);
    if (it == contributions.end())
      return Value();
    Value sum = sumElements(b, loc, it->second);
    it->second = {sum};
    return sum;
  }

  /// Sends the gradient of `op`'s results to its operands.
  LogicalResult visit(Operation *op) {
    if (isa<linalg::FillOp, tensor::EmptyOp, arith::ConstantOp>(op))
      return success(); // results read only as a product's initial values
    if (llvm::none_of(op->getResults(),
                      [&](Value r) { return contributions.count(r); }))
      return success();
    if (auto attention = dyn_cast<AttentionOp>(op))
      return visitAttention(attention);
    if (auto linear = dyn_cast<LinearAttentionOp>(op))
      return visitLinearAttention(linear);
    if (auto generic = dyn_cast<linalg::GenericOp>(op))
      return visitGeneric(generic);
    if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op)) {
      add(expand.getSrc(),
          tensor::CollapseShapeOp::create(b, loc, expand.getSrcType(),
                                          gradientOf(expand.getResult()),
                                          expand.getReassociationIndices()));
      return success();
    }
    if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op)) {
      add(collapse.getSrc(),
          tensor::ExpandShapeOp::create(
              b, loc, collapse.getSrcType(), gradientOf(collapse.getResult()),
              collapse.getReassociationIndices(),
              tensor::getMixedSizes(b, loc, collapse.getSrc())));
      return success();
    }
    if (auto cast = dyn_cast<tensor::CastOp>(op)) {
      add(cast.getSource(), gradientOf(cast.getResult()));
      return success();
    }
    return op->emitError("attn-generate-gradients cannot differentiate '")
           << op->getName() << "'";
  }

private:
  /// `x` as a tensor of `type`: its elements converted, then cast to the
  /// static shape where `type` has one.
  Value convertTo(Value x, Type type) {
    auto target = cast<RankedTensorType>(type);
    x = convertElements(b, loc, x, target.getElementType());
    if (x.getType() != type)
      x = tensor::CastOp::create(b, loc, type, x);
    return x;
  }

  LogicalResult visitAttention(AttentionOp op) {
    if (op.getQueryOffsets())
      return op.emitError("attn-generate-gradients: the gradient of packed "
                          "sequences is not supported yet");
    if (op.getLse() && contributions.count(op.getLse()))
      return op.emitError("attn-generate-gradients: the gradient through a "
                          "log-sum-exp is not supported");
    Value dout = gradientOf(op.getResult());
    Value sinks = op.getSinks();
    auto grad = AttentionGradOp::create(
        b, loc, op.getQuery().getType(), op.getKey().getType(),
        op.getValue().getType(), sinks ? sinks.getType() : Type(),
        op.getQuery(), op.getKey(), op.getValue(), op.getResult(), dout,
        op.getLse(), op.getKeyLengths(), sinks, op.getMaskAttr(),
        op.getScaleAttr(), op.getScoreModAttr());
    if (sinks)
      add(sinks, grad.getSinksGrad());
    add(op.getQuery(), grad.getQueryGrad());
    add(op.getKey(), grad.getKeyGrad());
    add(op.getValue(), grad.getValueGrad());
    return success();
  }

  /// Linear attention, causal or not (LinearAttentionGradient.cpp).
  LogicalResult visitLinearAttention(LinearAttentionOp op) {
    if (op.getFinalState() && contributions.count(op.getFinalState()))
      return op.emitError("attn-generate-gradients: the gradient through a "
                          "linear attention's final state is not supported");
    differentiateLinearAttention(b, loc, op, gradientOf(op.getResult()),
                                 [&](Value x, Value grad) { add(x, grad); });
    return success();
  }

  /// The projections of attn-decompose-layers and the conversions of their
  /// results.
  LogicalResult visitGeneric(linalg::GenericOp op) {
    Value result = op.getResult(0);
    Value grad = gradientOf(result);
    if (isConversion(op)) {
      add(op.getDpsInputs()[0], grad);
      return success();
    }
    std::optional<ProjectionForm> form = matchProjection(op);
    if (!form)
      return op.emitError("attn-generate-gradients cannot differentiate this "
                          "linalg.generic (only the layers' projections and "
                          "conversions)");
    Value activations = op.getDpsInputs()[0], weights = op.getDpsInputs()[1];
    // A weight's gradient: a sum over (b, t), the last two of five loops,
    // into the weight's three dimensions.
    auto product = [&](Value lhs, Value rhs, ArrayRef<unsigned> lhsDims,
                       ArrayRef<unsigned> rhsDims, Value like,
                       ArrayRef<OpFoldResult> sizes) {
      SmallVector<utils::IteratorType> iterators(5, kPar);
      iterators[3] = iterators[4] = kRed;
      Value sum = gb.generic(
          {lhs, rhs}, gb.tensor(sizes, b.getF32Type(), 0.0),
          {gb.map(5, lhsDims), gb.map(5, rhsDims), gb.map(5, {0, 1, 2})},
          iterators, multiplyAdd);
      add(like, sum);
    };
    auto sizesOf = [&](Value x) { return tensor::getMixedSizes(b, loc, x); };
    // The gradient of the activations is a projection of the other form,
    // with the weight transposed (a copy of a weight, small) and viewed
    // per head as the forward views its weights (an expand_shape of a 2-D
    // weight): the CPU tiles it as it tiles the forward's.
    auto view = weights.getDefiningOp<tensor::ExpandShapeOp>();
    if (!view || view.getSrcType().getRank() != 2)
      return op.emitError("attn-generate-gradients expects the weights of a "
                          "projection as a view of a 2-D weight");
    auto transposedView = [&](int64_t heads, int64_t width) -> Value {
      Value weight = view.getSrc();
      auto type = cast<RankedTensorType>(weight.getType());
      Type element = type.getElementType();
      Value flipped =
          linalg::TransposeOp::create(
              b, loc, weight,
              gb.tensor({b.getIndexAttr(type.getDimSize(1)),
                         b.getIndexAttr(type.getDimSize(0))},
                        element),
              ArrayRef<int64_t>{1, 0})
              .getResult()[0];
      // (heads * width, K) as (heads, width, K) into heads' gradient, or
      // (K, heads * width) as (K, heads, width) from heads'.
      bool headsFirst = *form == ProjectionForm::IntoHeads;
      int64_t other = type.getDimSize(headsFirst ? 0 : 1);
      SmallVector<int64_t> shape =
          headsFirst ? SmallVector<int64_t>{heads, width, other}
                     : SmallVector<int64_t>{other, heads, width};
      SmallVector<ReassociationIndices> groups =
          headsFirst ? SmallVector<ReassociationIndices>{{0, 1}, {2}}
                     : SmallVector<ReassociationIndices>{{0}, {1, 2}};
      return tensor::ExpandShapeOp::create(
          b, loc, RankedTensorType::get(shape, element), flipped, groups);
    };
    auto project = [&](ProjectionForm form, Value lhs, Value rhs,
                       ArrayRef<OpFoldResult> sizes) {
      return gb.generic({lhs, rhs}, gb.tensor(sizes, b.getF32Type(), 0.0),
                        getProjectionMaps(b.getContext(), form),
                        getProjectionIterators(form),
                        [](OpBuilder &nb, Location l, ValueRange a) {
                          return buildProjectionBody(nb, l, a);
                        });
    };
    if (*form == ProjectionForm::IntoHeads) {
      // Q[b,h,t,d] = sum_f X[b,t,f] W[f,h,d]:
      // dX[b,t,f] = sum_{h,d} dQ[b,h,t,d] W^T[h,d,f], from heads;
      // dW[f,h,d] = sum_{b,t} X[b,t,f] dQ[b,h,t,d], loops (f, h, d, b, t).
      auto w = cast<RankedTensorType>(weights.getType()); // (F, H, D)
      add(activations,
          project(ProjectionForm::FromHeads, grad,
                  transposedView(w.getDimSize(1), w.getDimSize(2)),
                  sizesOf(activations)));
      product(activations, grad, {3, 4, 0}, {3, 1, 4, 2}, weights,
              sizesOf(weights));
    } else {
      // Y[b,t,e] = sum_{h,d} O[b,h,t,d] W[h,d,e]:
      // dO[b,h,t,d] = sum_e dY[b,t,e] W^T[e,h,d], into heads;
      // dW[h,d,e] = sum_{b,t} O[b,h,t,d] dY[b,t,e], loops (h, d, e, b, t).
      auto w = cast<RankedTensorType>(weights.getType()); // (H, D, E)
      add(activations,
          project(ProjectionForm::IntoHeads, grad,
                  transposedView(w.getDimSize(0), w.getDimSize(1)),
                  sizesOf(activations)));
      product(activations, grad, {3, 0, 4, 1}, {3, 4, 2}, weights,
              sizesOf(weights));
    }
    return success();
  }

  /// Whether `op` only converts its one input elementwise (extf, truncf or
  /// a copy).
  static bool isConversion(linalg::GenericOp op) {
    if (op.getNumDpsInputs() != 1 || op.getNumDpsInits() != 1 ||
        op.getNumReductionLoops() != 0 ||
        !llvm::all_of(op.getIndexingMapsArray(),
                      [](AffineMap m) { return m.isIdentity(); }))
      return false;
    Block &body = op.getRegion().front();
    Value yielded = cast<linalg::YieldOp>(body.getTerminator()).getValues()[0];
    if (yielded == body.getArgument(0))
      return true;
    Operation *def = yielded.getDefiningOp();
    return def && isa<arith::ExtFOp, arith::TruncFOp>(def) &&
           def->getOperand(0) == body.getArgument(0);
  }

  OpBuilder &b;
  Location loc;
  GenericBuilder gb;
  DenseMap<Value, SmallVector<Value>> contributions;
};

/// Records the roles f's arguments play in its attn ops.
class ArgumentRoles : public ShapeContract {
public:
  explicit ArgumentRoles(func::FuncOp func)
      : func(func), names(func.getNumArguments()) {}

  void addValue(Value value, StringRef role, ArrayRef<StringRef>) override {
    auto arg = dyn_cast<BlockArgument>(value);
    if (arg && arg.getOwner()->getParentOp() == func.getOperation() &&
        names[arg.getArgNumber()].empty())
      names[arg.getArgNumber()] = role.str();
  }
  void addBound(Value, StringRef, bool) override {}

  func::FuncOp func;
  SmallVector<std::string> names;
};

/// f's argument names: the attn.name or attn.source_name it has, else its
/// role in an attn op, else empty.
static SmallVector<std::string> argumentNames(func::FuncOp func) {
  ArgumentRoles roles(func);
  func.walk([&](ShapeContractOpInterface op) {
    op.describeShapeContract(roles);
  });
  for (unsigned i = 0; i < func.getNumArguments(); ++i)
    for (StringRef attr : {kNameAttr, kSourceNameAttr})
      if (auto name = func.getArgAttrOfType<StringAttr>(i, attr)) {
        roles.names[i] = name.getValue().str();
        break;
      }
  return roles.names;
}

struct AttnGenerateGradientsPass
    : attn::impl::AttnGenerateGradientsPassBase<AttnGenerateGradientsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    // The public functions with an attention or a layer.
    SmallVector<func::FuncOp> forwards;
    for (auto func : module.getOps<func::FuncOp>()) {
      if (!func.isPublic() || func.isExternal())
        continue;
      WalkResult found = func.walk([](Operation *op) {
        return isa<AttentionOp, MultiHeadOp, LinearAttentionOp>(op)
                   ? WalkResult::interrupt()
                   : WalkResult::advance();
      });
      if (found.wasInterrupted())
        forwards.push_back(func);
    }
    for (func::FuncOp forward : forwards)
      if (failed(generate(module, forward)))
        return signalPassFailure();
  }

  LogicalResult generate(ModuleOp module, func::FuncOp forward) {
    if (!forward.getBody().hasOneBlock())
      return forward.emitError("attn-generate-gradients needs a function of "
                               "one block");
    std::string name = (forward.getName() + "_backward").str();
    if (module.lookupSymbol(name))
      return forward.emitError("attn-generate-gradients: @")
             << name << " exists already";
    Location loc = forward.getLoc();
    FunctionType type = forward.getFunctionType();
    SmallVector<Type> inputs(type.getInputs()), outputs;
    llvm::append_range(inputs, type.getResults());
    SmallVector<unsigned> differentiated; // f's arguments that get one
    for (auto [i, input] : llvm::enumerate(type.getInputs()))
      if (auto tensor = dyn_cast<RankedTensorType>(input);
          tensor && isa<FloatType>(tensor.getElementType())) {
        differentiated.push_back(i);
        outputs.push_back(input);
      }

    OpBuilder b(module.getContext());
    b.setInsertionPointAfter(forward);
    auto backward = func::FuncOp::create(
        b, loc, name, FunctionType::get(b.getContext(), inputs, outputs));
    // The runtime's names: f's arguments keep theirs (their attributes, or
    // the role they play in f's attn ops: x, wq, q, ...), then dout (dout0,
    // dout1, ... for several results); each gradient is d + its argument's
    // name (dx, dwq, dq, ...).
    SmallVector<std::string> names = argumentNames(forward);
    for (unsigned i = 0; i < type.getNumInputs(); ++i) {
      backward.setArgAttrs(i, forward.getArgAttrDict(i));
      // attn.name: a tool that reads the printed function records the
      // %argN names as source names, which this outranks.
      if (!names[i].empty())
        backward.setArgAttr(i, kNameAttr, b.getStringAttr(names[i]));
    }
    for (auto [r, i] : llvm::enumerate(differentiated))
      if (!names[i].empty())
        backward.setResultAttr(r, kNameAttr,
                               b.getStringAttr("d" + names[i]));
    for (unsigned r = 0; r < type.getNumResults(); ++r)
      backward.setArgAttr(
          type.getNumInputs() + r, kNameAttr,
          b.getStringAttr(type.getNumResults() == 1
                              ? std::string("dout")
                              : "dout" + std::to_string(r)));
    Block *entry = backward.addEntryBlock();
    b.setInsertionPointToStart(entry);

    // The forward again, its layers decomposed into projections and
    // attentions, every attention with its lse.
    IRMapping mapping;
    for (auto [from, to] : llvm::zip(forward.getArguments(),
                                     entry->getArguments()))
      mapping.map(from, to);
    Operation *terminator = forward.getBody().front().getTerminator();
    for (Operation &op : forward.getBody().front().without_terminator())
      b.clone(op, mapping);
    SmallVector<Value> results = llvm::map_to_vector(
        terminator->getOperands(), [&](Value v) { return mapping.lookup(v); });
    // A terminator for now (the layers are decomposed in place; the
    // gradients replace it).
    auto placeholder = func::ReturnOp::create(b, loc, results);
    RewritePatternSet patterns(b.getContext());
    populateDecomposeLayersPatterns(patterns);
    if (failed(applyPatternsGreedily(backward, std::move(patterns))))
      return backward.emitError("attn-generate-gradients: the layers did not "
                                "decompose");
    for (AttentionOp attention :
         llvm::to_vector(backward.getBody().getOps<AttentionOp>())) {
      if (attention.getLse())
        continue;
      b.setInsertionPoint(attention);
      auto outType = cast<RankedTensorType>(attention.getResult().getType());
      auto withLse = AttentionOp::create(
          b, attention.getLoc(), outType,
          RankedTensorType::get(outType.getShape().drop_back(),
                                b.getF32Type()),
          attention.getQuery(), attention.getKey(), attention.getValue(),
          attention.getKeyLengths(), attention.getSinks(),
          attention.getQueryOffsets(), attention.getKeyOffsets(),
          attention.getMaskAttr(), attention.getScaleAttr(),
          attention.getScoreModAttr());
      attention.getResult().replaceAllUsesWith(withLse.getResult());
      attention.erase();
    }

    // Reverse mode from the results' gradients.
    b.setInsertionPoint(placeholder);
    Differentiator diff(b, loc);
    unsigned numArgs = type.getNumInputs();
    for (auto [r, result] : llvm::enumerate(placeholder.getOperands()))
      diff.add(result, entry->getArgument(numArgs + r));
    SmallVector<Operation *> ops;
    for (Operation &op : backward.getBody().front().without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops))
      if (failed(diff.visit(op))) {
        backward.erase();
        return failure();
      }
    GenericBuilder gb(b, loc);
    SmallVector<Value> gradients;
    for (unsigned i : differentiated) {
      Value arg = entry->getArgument(i);
      Value grad = diff.gradientOf(arg);
      if (!grad) // f does not read it: its gradient is 0
        grad = gb.tensor(tensor::getMixedSizes(b, loc, arg),
                         getElementTypeOrSelf(arg.getType()), 0.0);
      gradients.push_back(grad);
    }
    func::ReturnOp::create(b, loc, gradients);
    placeholder.erase();
    return success();
  }
};

} // namespace
