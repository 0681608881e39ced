//===- ExportSignature.cpp - describe entry points to the runtime ---------===//
//
// The runtime checks every call against a one-line description of the
// function, e.g.
//
//   attention(q: f32[B,8,N,64], k: f32[B,2,S,64], v: f32[B,2,S,64],
//             key_lengths: i32[B] <= S) -> (out: f32[B,8,N,64])
//
// Dimensions that the ops' shape contracts tie together share a symbol. They
// are grouped with a union-find over (value, dimension) pairs: each op unites
// the dimensions it names with the same symbol, and the classes that result
// are printed as their static size or as a symbol. Ordinary tensor ops
// around the attention (a residual add, a projection by linalg.matmul, a
// reshape) tie their dimensions by their own semantics (followShapes).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNEXPORTSIGNATUREPASS
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Collects shape contracts into classes of equal dimensions.
class DimClasses : public ShapeContract {
public:
  /// Opens the contract of one op: symbols are local to it.
  void beginOp() { opSymbols.clear(); }

  void addValue(Value value, StringRef role,
                ArrayRef<StringRef> dims) override {
    roles.try_emplace(value, role.str());
    for (auto [dim, symbol] : llvm::enumerate(dims)) {
      unsigned id = idOf(value, dim);
      suggestions.try_emplace(id, symbol.str());
      auto [it, inserted] = opSymbols.try_emplace(symbol, id);
      if (!inserted)
        unite(id, it->second);
    }
  }

  /// Dimension `da` of `a` and `db` of `b` are equal.
  void uniteDims(Value a, unsigned da, Value b, unsigned db) {
    unite(idOf(a, da), idOf(b, db));
  }

  void addBound(Value value, StringRef symbol, bool ascending) override {
    auto it = opSymbols.find(symbol);
    assert(it != opSymbols.end() && "bound by a symbol the op did not name");
    bounds.try_emplace(value, it->second);
    if (ascending)
      ascendingValues.insert(value);
  }

  unsigned idOf(Value value, unsigned dim) {
    auto [it, inserted] = ids.try_emplace({value, dim}, parent.size());
    if (inserted)
      parent.push_back(parent.size());
    return it->second;
  }

  unsigned find(unsigned id) {
    while (parent[id] != id)
      id = parent[id] = parent[parent[id]];
    return id;
  }

  /// The role an op gave `value` (q, k, out, ...), or "".
  StringRef roleOf(Value value) const {
    auto it = roles.find(value);
    return it == roles.end() ? StringRef() : StringRef(it->second);
  }

  /// The first symbol any op gave a dimension of the class of `id`.
  StringRef suggestionFor(unsigned id) {
    for (auto &[member, symbol] : suggestions)
      if (find(member) == find(id))
        return symbol;
    return "d";
  }

  /// Whether the integers of `value` must not decrease.
  bool isAscending(Value value) const { return ascendingValues.contains(value); }

  /// The dimension class bounding the integers of `value`, if any.
  std::optional<unsigned> boundOf(Value value) const {
    auto it = bounds.find(value);
    if (it == bounds.end())
      return std::nullopt;
    return it->second;
  }

private:
  void unite(unsigned a, unsigned b) { parent[find(a)] = find(b); }

  llvm::DenseMap<std::pair<Value, unsigned>, unsigned> ids;
  SmallVector<unsigned> parent;
  llvm::MapVector<unsigned, std::string> suggestions;
  llvm::DenseMap<Value, std::string> roles;
  llvm::DenseMap<Value, unsigned> bounds;
  llvm::DenseSet<Value> ascendingValues;
  llvm::StringMap<unsigned> opSymbols;
};

static int64_t rankOf(Value value) {
  auto type = dyn_cast<RankedTensorType>(value.getType());
  return type ? type.getRank() : -1;
}

/// Unites the dimensions of the ranked tensors among `values` index by
/// index, where their ranks agree.
static void uniteIndexWise(DimClasses &classes, ValueRange values) {
  Value first;
  for (Value value : values) {
    if (rankOf(value) < 0)
      continue;
    if (!first) {
      first = value;
      continue;
    }
    if (rankOf(value) == rankOf(first))
      for (int64_t d = 0; d < rankOf(value); ++d)
        classes.uniteDims(value, d, first, d);
  }
}

/// The dimensions that an op outside attn keeps equal, united. Returns what
/// it could not follow ("tensor.pad", say), if anything: the results'
/// dynamic dimensions it leaves unknown unless something else ties them.
static std::optional<std::string> followShapes(Operation *op,
                                               DimClasses &classes) {
  // One shape for every operand and result: elementwise ops, casts.
  if (op->hasTrait<OpTrait::Elementwise>() ||
      op->hasTrait<OpTrait::SameOperandsAndResultShape>() ||
      isa<tensor::CastOp>(op)) {
    SmallVector<Value> values(op->getOperands());
    llvm::append_range(values, op->getResults());
    uniteIndexWise(classes, values);
    return std::nullopt;
  }
  // A linalg op: the dimensions a loop's index reads alone have the loop's
  // extent (M, N and K of a matmul, say); its results are its inits'.
  if (auto linalgOp = dyn_cast<linalg::LinalgOp>(op)) {
    llvm::DenseMap<unsigned, std::pair<Value, unsigned>> byLoop;
    for (OpOperand &operand : op->getOpOperands()) {
      if (rankOf(operand.get()) < 0)
        continue;
      AffineMap map = linalgOp.getMatchingIndexingMap(&operand);
      for (auto [d, expr] : llvm::enumerate(map.getResults())) {
        auto loop = dyn_cast<AffineDimExpr>(expr);
        if (!loop)
          continue;
        auto [it, first] = byLoop.try_emplace(
            loop.getPosition(), std::make_pair(operand.get(), unsigned(d)));
        if (!first)
          classes.uniteDims(operand.get(), d, it->second.first,
                            it->second.second);
      }
    }
    for (auto [result, init] :
         llvm::zip(op->getResults(), linalgOp.getDpsInits()))
      uniteIndexWise(classes, {result, init});
    return std::nullopt;
  }
  // tensor.empty(%d) with %d = tensor.dim %x, c: the size of x's dim c.
  if (auto empty = dyn_cast<tensor::EmptyOp>(op)) {
    for (int64_t d = 0; d < empty.getType().getRank(); ++d) {
      if (!empty.getType().isDynamicDim(d))
        continue;
      auto dim = empty.getDynamicSize(d).getDefiningOp<tensor::DimOp>();
      std::optional<int64_t> index =
          dim ? dim.getConstantIndex() : std::nullopt;
      if (!index)
        return "the sizes of tensor.empty that are not tensor.dim";
      classes.uniteDims(empty.getResult(), d, dim.getSource(), *index);
    }
    return std::nullopt;
  }
  // A reshape keeps a dimension that is alone in its group but for 1s; a
  // group of several others is their product, which no symbol names.
  auto followGroups =
      [&](Value collapsed, Value expanded,
          ArrayRef<ReassociationIndices> groups) -> std::optional<std::string> {
    auto type = cast<RankedTensorType>(expanded.getType());
    std::optional<std::string> product;
    for (auto [c, group] : llvm::enumerate(groups)) {
      SmallVector<int64_t> kept;
      for (int64_t e : group)
        if (type.getDimSize(e) != 1)
          kept.push_back(e);
      if (kept.size() == 1)
        classes.uniteDims(collapsed, c, expanded, kept.front());
      else if (llvm::any_of(kept, [&](int64_t e) {
                 return type.isDynamicDim(e);
               }))
        product = (op->getName().getStringRef() +
                   " merging dynamic dimensions (their product has no "
                   "symbol)")
                      .str();
    }
    return product;
  };
  if (auto collapse = dyn_cast<tensor::CollapseShapeOp>(op))
    return followGroups(collapse.getResult(), collapse.getSrc(),
                        collapse.getReassociationIndices());
  if (auto expand = dyn_cast<tensor::ExpandShapeOp>(op))
    return followGroups(expand.getSrc(), expand.getResult(),
                        expand.getReassociationIndices());
  // Ops of no tensor result change no shape.
  if (isa<tensor::DimOp, arith::ConstantOp>(op) ||
      llvm::none_of(op->getResultTypes(),
                    [](Type type) { return isa<RankedTensorType>(type); }))
    return std::nullopt;
  return op->getName().getStringRef().str();
}

/// The runtime's name of an element type, or "" if it cannot pass one.
static StringRef dtypeName(Type type) {
  if (type.isF32())
    return "f32";
  if (type.isF16())
    return "f16";
  if (type.isBF16())
    return "bf16";
  if (type.isF64())
    return "f64";
  if (type.isSignlessInteger(32))
    return "i32";
  if (type.isSignlessInteger(64))
    return "i64";
  return "";
}

/// `base`, or `base` with the smallest suffix 2, 3, ... not yet in `used`.
static std::string uniqueName(StringRef base, llvm::StringSet<> &used) {
  std::string name = base.str();
  for (int suffix = 2; used.contains(name); ++suffix)
    name = (base + Twine(suffix)).str();
  used.insert(name);
  return name;
}

class SignatureWriter {
public:
  explicit SignatureWriter(func::FuncOp func) : func(func) {}

  FailureOr<std::string> describe() {
    func.walk([&](Operation *op) {
      if (auto contract = dyn_cast<ShapeContractOpInterface>(op)) {
        classes.beginOp();
        contract.describeShapeContract(classes);
      } else if (op != func) {
        if (std::optional<std::string> missed = followShapes(op, classes))
          unfollowed.insert(*missed);
      }
    });
    auto returnOp =
        cast<func::ReturnOp>(func.getBody().front().getTerminator());

    // Every dimension of an argument is known once the arguments are.
    llvm::DenseSet<unsigned> known;
    for (BlockArgument arg : func.getArguments())
      if (auto type = dyn_cast<RankedTensorType>(arg.getType()))
        for (int64_t d = 0; d < type.getRank(); ++d)
          known.insert(classes.find(classes.idOf(arg, d)));

    std::string text = func.getSymName().str() + "(";
    for (auto [i, arg] : llvm::enumerate(func.getArguments())) {
      // The name said, the role, the source's name, argN (kNameAttr).
      auto name = func.getArgAttrOfType<StringAttr>(i, kNameAttr);
      auto sourceName = func.getArgAttrOfType<StringAttr>(i, kSourceNameAttr);
      StringRef base = name ? name.getValue() : classes.roleOf(arg);
      if (base.empty() && sourceName)
        base = sourceName.getValue();
      std::string fallback = "arg" + std::to_string(i);
      FailureOr<std::string> entry =
          describeValue(arg, base.empty() ? StringRef(fallback) : base,
                        "argument #" + std::to_string(i), nullptr);
      if (failed(entry))
        return failure();
      text += (i ? ", " : "") + *entry;
    }
    text += ") -> (";
    for (auto [i, result] : llvm::enumerate(returnOp.getOperands())) {
      // The name said (kNameAttr on the result), else the role, else outN.
      auto name = func.getResultAttrOfType<StringAttr>(i, kNameAttr);
      StringRef role = name ? name.getValue() : classes.roleOf(result);
      std::string fallback = "out" + std::to_string(i);
      FailureOr<std::string> entry =
          describeValue(result, role.empty() ? StringRef(fallback) : role,
                        "result #" + std::to_string(i), &known);
      if (failed(entry))
        return failure();
      text += (i ? ", " : "") + *entry;
    }
    return text + ")";
  }

private:
  /// `name: dtype[dims]` with an optional `<= bound`. Results pass the
  /// classes the arguments determine in `known`.
  FailureOr<std::string> describeValue(Value value, StringRef base,
                                       const std::string &what,
                                       const llvm::DenseSet<unsigned> *known) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    StringRef dtype = type ? dtypeName(type.getElementType()) : "";
    if (dtype.empty())
      return func.emitError() << what << " has type " << value.getType()
                              << ", which the runtime cannot pass: entry "
                                 "points take ranked tensors of f32, f16, "
                                 "bf16, f64, i32 or i64";
    std::string text = uniqueName(base, usedValueNames) + ": " + dtype.str();
    text += "[";
    for (int64_t d = 0; d < type.getRank(); ++d) {
      unsigned cls = classes.find(classes.idOf(value, d));
      std::string dim = dimText(cls, type.getDimSize(d));
      if (known && symbols.count(cls) && !known->contains(cls)) {
        InFlightDiagnostic error =
            func.emitError()
            << what << " has a dynamic dimension " << d
            << " that no argument determines, so a caller could not "
               "allocate it";
        if (!unfollowed.empty())
          error << " (the sizes are followed through attn ops, elementwise "
                   "ops, linalg ops, tensor.empty, cast, expand_shape and "
                   "collapse_shape, not through "
                << llvm::join(unfollowed.keys(), "; ") << ")";
        return error;
      }
      text += (d ? "," : "") + dim;
    }
    text += "]";
    if (std::optional<unsigned> bound = classes.boundOf(value))
      text += " <= " + dimText(classes.find(*bound), ShapedType::kDynamic) +
              (classes.isAscending(value) ? " ascending" : "");
    return text;
  }

  /// A static size prints as itself; a dynamic class as its symbol.
  std::string dimText(unsigned cls, int64_t size) {
    if (!ShapedType::isDynamic(size))
      staticSizes.try_emplace(cls, size);
    auto it = staticSizes.find(cls);
    if (it != staticSizes.end())
      return std::to_string(it->second);
    auto [sym, inserted] = symbols.try_emplace(cls, "");
    if (inserted)
      sym->second = uniqueName(classes.suggestionFor(cls), usedSymbols);
    return sym->second;
  }

  func::FuncOp func;
  DimClasses classes;
  /// Ops whose result shapes followShapes does not follow, for a message.
  llvm::StringSet<> unfollowed;
  llvm::StringSet<> usedValueNames, usedSymbols;
  llvm::DenseMap<unsigned, std::string> symbols;
  llvm::DenseMap<unsigned, int64_t> staticSizes;
};

struct AttnExportSignaturePass
    : attn::impl::AttnExportSignaturePassBase<AttnExportSignaturePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    std::string text = "attn-abi 1\n";
    for (auto func : module.getOps<func::FuncOp>()) {
      if (func.isPrivate() || func.isExternal())
        continue;
      FailureOr<std::string> line = SignatureWriter(func).describe();
      if (failed(line))
        return signalPassFailure();
      text += *line + "\n";
      func->setAttr(LLVM::LLVMDialect::getEmitCWrapperAttrName(),
                    UnitAttr::get(ctx));
      // Inputs are read-only to the code (the runtime's contract: a caller
      // may pass const data, or one buffer as two inputs): bufferization
      // copies an argument before it writes (an elementwise op on an
      // argument would otherwise reuse its buffer for the result).
      for (BlockArgument arg : func.getArguments()) {
        unsigned i = arg.getArgNumber();
        if (isa<TensorType>(arg.getType()))
          func.setArgAttr(i,
                          bufferization::BufferizationDialect::
                              kWritableAttrName,
                          BoolAttr::get(ctx, false));
        // The names are in the signature now; LLVM has no use for them.
        func.removeArgAttr(i, kNameAttr);
        func.removeArgAttr(i, kSourceNameAttr);
      }
      for (unsigned i = 0; i < func.getNumResults(); ++i)
        func.removeResultAttr(i, StringAttr::get(ctx, kNameAttr));
    }
    if (auto old = module.lookupSymbol<LLVM::GlobalOp>(kSignatureSymbol))
      old.erase();
    text.push_back('\0');
    OpBuilder builder = OpBuilder::atBlockEnd(module.getBody());
    auto type = LLVM::LLVMArrayType::get(IntegerType::get(ctx, 8), text.size());
    LLVM::GlobalOp::create(builder, module.getLoc(), type, /*isConstant=*/true,
                           LLVM::Linkage::External, kSignatureSymbol,
                           builder.getStringAttr(text));
  }
};

} // namespace
