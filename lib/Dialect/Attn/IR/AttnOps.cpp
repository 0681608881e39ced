//===- AttnOps.cpp - ops of the attn dialect ------------------------------===//

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "Syntax.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnOpInterfaces.cpp.inc"

//===----------------------------------------------------------------------===//
// Clauses: `keyword(...)` after the operands, in any order
//===----------------------------------------------------------------------===//

/// Parses clauses while a keyword follows (attr-dict's `{` or the `:` of
/// the types end them), each at most once and one of `keywords`;
/// `parseClause` parses what follows its keyword. The parser names the op
/// in front of each diagnostic ("custom op 'attn.attention' has no ...").
static ParseResult
parseClauses(OpAsmParser &parser, ArrayRef<StringRef> keywords,
             function_ref<ParseResult(StringRef keyword)> parseClause) {
  SmallVector<StringRef> given;
  while (true) {
    SMLoc loc = parser.getCurrentLocation();
    StringRef keyword;
    if (failed(parser.parseOptionalKeyword(&keyword)))
      return success();
    if (!llvm::is_contained(keywords, keyword))
      return parser.emitError(loc)
             << "has no clause `" << keyword << "`"
             << didYouMean(keyword, keywords) << "; its clauses are "
             << listOf(llvm::to_vector_of<std::string>(keywords), " and ");
    if (llvm::is_contained(given, keyword))
      return parser.emitError(loc) << "is given `" << keyword << "` twice";
    given.push_back(keyword);
    if (parseClause(keyword))
      return failure();
  }
}

/// `(` operand `)`.
static ParseResult
parseOperandClause(OpAsmParser &parser,
                   std::optional<OpAsmParser::UnresolvedOperand> &operand) {
  operand.emplace();
  return failure(parser.parseLParen() || parser.parseOperand(*operand) ||
                 parser.parseRParen());
}

/// `(` attribute `)`, of the type `type` when it is a number.
template <typename AttrT>
static ParseResult parseAttrClause(OpAsmParser &parser, AttrT &attr,
                                   StringRef what, Type type = {}) {
  SMLoc loc;
  Attribute parsed;
  if (parser.parseLParen() ||
      (loc = parser.getCurrentLocation(), parser.parseAttribute(parsed, type)) ||
      parser.parseRParen())
    return failure();
  attr = dyn_cast<AttrT>(parsed);
  if (!attr)
    return parser.emitError(loc) << "expected " << what << ", got " << parsed;
  return success();
}

static ParseResult parseMaskClause(OpAsmParser &parser,
                                   MaskAttrInterface &mask) {
  // A mask's name alone (`mask(causal)`): say how it is written.
  SMLoc loc;
  StringRef word;
  if (succeeded(parser.parseOptionalLParen())) {
    loc = parser.getCurrentLocation();
    if (succeeded(parser.parseOptionalKeyword(&word)))
      return parser.emitError(loc)
             << "a mask is an attribute, #attn." << word
             << "<...>: #attn.causal<bottom_right>, say, not `" << word << "`";
    Attribute parsed;
    if (parser.parseAttribute(parsed) || parser.parseRParen())
      return failure();
    mask = dyn_cast<MaskAttrInterface>(parsed);
    if (!mask)
      return parser.emitError(loc)
             << "expected a mask such as #attn.causal<bottom_right>, got "
             << parsed;
    return success();
  }
  return parser.emitError(parser.getCurrentLocation()) << "expected '('";
}

static ParseResult parseScaleClause(OpAsmParser &parser, FloatAttr &scale) {
  return parseAttrClause(parser, scale, "a number",
                         parser.getBuilder().getF64Type());
}

static void printOperandClause(OpAsmPrinter &printer, StringRef keyword,
                               Value operand) {
  if (operand)
    printer << " " << keyword << "(" << operand << ")";
}

static void printAttrClause(OpAsmPrinter &printer, StringRef keyword,
                            Attribute attr) {
  if (!attr)
    return;
  printer << " " << keyword << "(";
  if (isa<MaskAttrInterface>(attr))
    printer.printAttribute(attr);
  else
    printer.printAttributeWithoutType(attr);
  printer << ")";
}

/// attn.attention: key_lengths(%l) sinks(%s) sequences(%cq, %ck)
/// mask(#m) scale(s) score_mod(#f); attn.attention_grad's are the same but
/// for sequences (`queryOffsets` null).
static ParseResult parseAttentionClauses(
    OpAsmParser &parser,
    std::optional<OpAsmParser::UnresolvedOperand> &keyLengths,
    std::optional<OpAsmParser::UnresolvedOperand> &sinks,
    std::optional<OpAsmParser::UnresolvedOperand> *queryOffsets,
    std::optional<OpAsmParser::UnresolvedOperand> *keyOffsets,
    MaskAttrInterface &mask, FloatAttr &scale, ScoreModAttrInterface &mod) {
  SmallVector<StringRef> keywords = {"key_lengths", "sinks"};
  if (queryOffsets)
    keywords.push_back("sequences");
  keywords.append({"mask", "scale", "score_mod"});
  return parseClauses(
      parser, keywords,
      [&](StringRef keyword) {
        if (keyword == "key_lengths")
          return parseOperandClause(parser, keyLengths);
        if (keyword == "sinks")
          return parseOperandClause(parser, sinks);
        if (keyword == "sequences") {
          queryOffsets->emplace();
          keyOffsets->emplace();
          return ParseResult(failure(parser.parseLParen() ||
                                     parser.parseOperand(**queryOffsets) ||
                                     parser.parseComma() ||
                                     parser.parseOperand(**keyOffsets) ||
                                     parser.parseRParen()));
        }
        if (keyword == "mask")
          return parseMaskClause(parser, mask);
        if (keyword == "score_mod")
          return parseAttrClause(parser, mod,
                                 "a score modifier such as "
                                 "#attn.softcap<cap = 50.0>");
        return parseScaleClause(parser, scale);
      });
}

static ParseResult parseAttentionClauses(
    OpAsmParser &parser,
    std::optional<OpAsmParser::UnresolvedOperand> &keyLengths,
    std::optional<OpAsmParser::UnresolvedOperand> &sinks,
    std::optional<OpAsmParser::UnresolvedOperand> &queryOffsets,
    std::optional<OpAsmParser::UnresolvedOperand> &keyOffsets,
    MaskAttrInterface &mask, FloatAttr &scale, ScoreModAttrInterface &mod) {
  return parseAttentionClauses(parser, keyLengths, sinks, &queryOffsets,
                               &keyOffsets, mask, scale, mod);
}

static ParseResult parseAttentionClauses(
    OpAsmParser &parser,
    std::optional<OpAsmParser::UnresolvedOperand> &keyLengths,
    std::optional<OpAsmParser::UnresolvedOperand> &sinks,
    MaskAttrInterface &mask, FloatAttr &scale, ScoreModAttrInterface &mod) {
  return parseAttentionClauses(parser, keyLengths, sinks, nullptr, nullptr,
                               mask, scale, mod);
}

static void printAttentionClauses(OpAsmPrinter &printer, Operation *,
                                  Value keyLengths, Value sinks,
                                  Value queryOffsets, Value keyOffsets,
                                  MaskAttrInterface mask, FloatAttr scale,
                                  ScoreModAttrInterface mod) {
  printOperandClause(printer, "key_lengths", keyLengths);
  printOperandClause(printer, "sinks", sinks);
  if (queryOffsets)
    printer << " sequences(" << queryOffsets << ", " << keyOffsets << ")";
  printAttrClause(printer, "mask", mask);
  printAttrClause(printer, "scale", scale);
  printAttrClause(printer, "score_mod", mod);
}

static void printAttentionClauses(OpAsmPrinter &printer, Operation *op,
                                  Value keyLengths, Value sinks,
                                  MaskAttrInterface mask, FloatAttr scale,
                                  ScoreModAttrInterface mod) {
  printAttentionClauses(printer, op, keyLengths, sinks, Value(), Value(),
                        mask, scale, mod);
}

/// attn.multi_head: source(%c) key_lengths(%l) heads(H) kv_heads(Hkv)
/// mask(#m) scale(s); heads and kv_heads are required.
static ParseResult parseLayerClauses(
    OpAsmParser &parser, std::optional<OpAsmParser::UnresolvedOperand> &source,
    std::optional<OpAsmParser::UnresolvedOperand> &keyLengths,
    IntegerAttr &numHeads, IntegerAttr &numKVHeads, MaskAttrInterface &mask,
    FloatAttr &scale) {
  SMLoc loc = parser.getCurrentLocation();
  Type i64 = parser.getBuilder().getI64Type();
  if (parseClauses(parser,
                   {"source", "key_lengths", "heads", "kv_heads", "mask",
                    "scale"},
                   [&](StringRef keyword) {
                     if (keyword == "source")
                       return parseOperandClause(parser, source);
                     if (keyword == "key_lengths")
                       return parseOperandClause(parser, keyLengths);
                     if (keyword == "heads")
                       return parseAttrClause(parser, numHeads,
                                              "a number of heads", i64);
                     if (keyword == "kv_heads")
                       return parseAttrClause(parser, numKVHeads,
                                              "a number of heads", i64);
                     if (keyword == "mask")
                       return parseMaskClause(parser, mask);
                     return parseScaleClause(parser, scale);
                   }))
    return failure();
  if (!numHeads || !numKVHeads)
    return parser.emitError(loc) << "needs heads(H) and kv_heads(Hkv): the "
                                    "query heads and the key/value heads";
  return success();
}

static void printLayerClauses(OpAsmPrinter &printer, MultiHeadOp,
                              Value source, Value keyLengths,
                              IntegerAttr numHeads, IntegerAttr numKVHeads,
                              MaskAttrInterface mask, FloatAttr scale) {
  printOperandClause(printer, "source", source);
  printOperandClause(printer, "key_lengths", keyLengths);
  printAttrClause(printer, "heads", numHeads);
  printAttrClause(printer, "kv_heads", numKVHeads);
  printAttrClause(printer, "mask", mask);
  printAttrClause(printer, "scale", scale);
}

/// attn.linear_attention: key_lengths(%l) state(%s) feature_map(phi) causal.
static ParseResult parseLinearAttentionClauses(
    OpAsmParser &parser,
    std::optional<OpAsmParser::UnresolvedOperand> &keyLengths,
    std::optional<OpAsmParser::UnresolvedOperand> &initialState,
    FeatureMapAttr &featureMap, UnitAttr &causal) {
  return parseClauses(
      parser, {"key_lengths", "state", "feature_map", "causal"},
      [&](StringRef keyword) -> ParseResult {
        if (keyword == "key_lengths")
          return parseOperandClause(parser, keyLengths);
        if (keyword == "state")
          return parseOperandClause(parser, initialState);
        if (keyword == "causal") {
          causal = parser.getBuilder().getUnitAttr();
          return success();
        }
        SmallVector<StringRef> maps;
        for (unsigned v = 0; v <= getMaxEnumValForFeatureMap(); ++v)
          maps.push_back(stringifyFeatureMap(static_cast<FeatureMap>(v)));
        if (parser.parseLParen())
          return failure();
        FailureOr<int64_t> map = parseKeywordOf(parser, "the feature map", maps);
        if (failed(map) || parser.parseRParen())
          return failure();
        featureMap = FeatureMapAttr::get(parser.getContext(),
                                         static_cast<FeatureMap>(*map));
        return success();
      });
}

static void printLinearAttentionClauses(OpAsmPrinter &printer,
                                        LinearAttentionOp, Value keyLengths,
                                        Value initialState,
                                        FeatureMapAttr featureMap,
                                        UnitAttr causal) {
  printOperandClause(printer, "key_lengths", keyLengths);
  printOperandClause(printer, "state", initialState);
  if (featureMap && featureMap.getValue() != FeatureMap::EluPlusOne)
    printer << " feature_map(" << stringifyFeatureMap(featureMap.getValue())
            << ")";
  if (causal)
    printer << " causal";
}

#define GET_OP_CLASSES
#include "attn/Dialect/Attn/IR/AttnOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Verification helpers
//===----------------------------------------------------------------------===//

static bool isDynamic(int64_t size) { return ShapedType::isDynamic(size); }

/// Two sizes may describe the same dimension unless both are static and differ.
static bool sizesAgree(int64_t a, int64_t b) {
  return isDynamic(a) || isDynamic(b) || a == b;
}

static std::string sizeString(int64_t size) {
  return isDynamic(size) ? "?" : std::to_string(size);
}

static bool isSupportedElementType(Type type) {
  return type.isF32() || type.isF16() || type.isBF16();
}

/// Checks that `value` is a ranked tensor of `rank` whose axes are named by
/// `axes` in the diagnostic.
static LogicalResult verifyRank(Operation *op, StringRef what, Value value,
                                int64_t rank, StringRef axes) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.getRank() != rank)
    return op->emitOpError() << what << " must be a rank-" << rank
                             << " tensor (" << axes << "), got " << type;
  return success();
}

/// Checks that dimension `dim` of `value` is static, naming it `axis`.
static LogicalResult verifyStatic(Operation *op, StringRef what, Value value,
                                  int64_t dim, StringRef axis) {
  auto type = cast<RankedTensorType>(value.getType());
  if (type.isDynamicDim(dim))
    return op->emitOpError()
           << "the " << axis << " of " << what << " (dimension " << dim
           << ") must be static, got " << type;
  return success();
}

/// Checks that two dimensions named `axis` agree.
static LogicalResult verifySameSize(Operation *op, StringRef axis,
                                    StringRef whatA, int64_t a, StringRef whatB,
                                    int64_t b) {
  if (!sizesAgree(a, b))
    return op->emitOpError()
           << axis << " differs: " << whatA << " has " << sizeString(a) << ", "
           << whatB << " has " << sizeString(b);
  return success();
}

static LogicalResult verifyScale(Operation *op, FloatAttr scale) {
  if (!scale)
    return success();
  double value = scale.getValueAsDouble();
  if (!(std::isfinite(value) && value > 0.0))
    return op->emitOpError()
           << "scale must be a positive finite number, got " << value;
  return success();
}

/// Key lengths: one i32 per batch row.
static LogicalResult verifyKeyLengths(Operation *op, Value keyLengths,
                                      int64_t batch) {
  if (!keyLengths)
    return success();
  auto type = cast<RankedTensorType>(keyLengths.getType());
  if (type.getRank() != 1 || !type.getElementType().isInteger(32))
    return op->emitOpError() << "key_lengths must be a rank-1 tensor of i32 "
                                "(one length per batch row), got "
                             << type;
  return verifySameSize(op, "batch size", "key_lengths", type.getDimSize(0),
                        "the query", batch);
}

/// All `values` share one element type among f16, bf16 and f32.
static LogicalResult verifyElementTypes(Operation *op, ValueRange values,
                                        ArrayRef<StringRef> names) {
  Type expected = getElementTypeOrSelf(values.front().getType());
  if (!isSupportedElementType(expected))
    return op->emitOpError()
           << names.front() << " must have f16, bf16 or f32 elements, got "
           << expected;
  for (auto [value, name] : llvm::zip(values, names)) {
    Type type = getElementTypeOrSelf(value.getType());
    if (type != expected)
      return op->emitOpError()
             << name << " has element type " << type << " but " << names.front()
             << " has " << expected
             << "; all floating-point operands and the result must agree";
  }
  return success();
}

/// Whether `type` may have the shape `expected` (dynamic sizes agree).
static LogicalResult verifyResultShapeOf(RankedTensorType type,
                                         ArrayRef<int64_t> expected) {
  bool agrees = type.getRank() == static_cast<int64_t>(expected.size());
  for (int64_t i = 0; agrees && i < type.getRank(); ++i)
    agrees = sizesAgree(type.getDimSize(i), expected[i]);
  return success(agrees);
}

/// The result must have exactly `expected` (dynamic sizes agree with any).
static LogicalResult
verifyResultShape(Operation *op, ArrayRef<int64_t> expected, StringRef axes) {
  auto type = cast<RankedTensorType>(op->getResult(0).getType());
  if (succeeded(verifyResultShapeOf(type, expected)))
    return success();
  std::string shape;
  for (int64_t size : expected)
    shape += (shape.empty() ? "" : "x") + sizeString(size);
  return op->emitOpError() << "result must have shape " << shape << " (" << axes
                           << "), got " << type;
}

/// A log-sum-exp: f32 of shape `expected` (batch, heads, queries).
static LogicalResult verifyLogSumExp(Operation *op, StringRef what, Value lse,
                                     ArrayRef<int64_t> expected) {
  if (!lse)
    return success();
  auto type = cast<RankedTensorType>(lse.getType());
  if (type.getElementType().isF32() &&
      succeeded(verifyResultShapeOf(type, expected)))
    return success();
  std::string shape;
  for (int64_t size : expected)
    shape += sizeString(size) + "x";
  return op->emitOpError() << what << " must be a tensor<" << shape
                           << "f32> (batch, heads, queries), got " << type;
}

static int64_t dimOf(Value value, int64_t dim);

/// The static sizes of every operand and result: each at most kMaxSize,
/// and their product (the elements of the static part of a tensor) at most
/// kMaxStaticElements, so that the lowerings' strides and offsets, and
/// their products of sizes, cannot overflow 64 bits.
static LogicalResult verifySizes(Operation *op) {
  SmallVector<Value> values(op->getOperands());
  llvm::append_range(values, op->getResults());
  for (Value value : values) {
    auto type = dyn_cast<RankedTensorType>(value.getType());
    if (!type)
      continue;
    int64_t elements = 1;
    for (int64_t size : type.getShape()) {
      if (ShapedType::isDynamic(size))
        continue;
      if (size > kMaxSize)
        return op->emitOpError()
               << "takes sizes up to " << kMaxSize << " (2^31 - 1), got "
               << type;
      elements *= std::max<int64_t>(size, 1);
      if (elements > kMaxStaticElements)
        return op->emitOpError()
               << "takes tensors of at most " << kMaxStaticElements
               << " (2^48) elements in their static dimensions, got " << type;
    }
  }
  return success();
}

/// What attention ops ask of their q (B, H, N, D), k (B, Hkv, S, D),
/// v (B, Hkv, S, Dv) and result: rank 4, one float type, static heads and
/// head widths, H a multiple of Hkv, and sizes that agree.
static LogicalResult verifyQueryKeyValue(Operation *op, Value q, Value k,
                                         Value v, Value result) {
  if (failed(
          verifyRank(op, "query", q, 4, "batch, heads, queries, head_dim")) ||
      failed(verifyRank(op, "key", k, 4, "batch, kv_heads, keys, head_dim")) ||
      failed(verifyRank(op, "value", v, 4, "batch, kv_heads, keys, value_dim")))
    return failure();
  if (failed(verifyElementTypes(op, {q, k, v, result},
                                {"query", "key", "value", "result"})))
    return failure();
  Value operands[] = {q, k, v};
  StringRef operandNames[] = {"query", "key", "value"};
  for (StringRef axis : {"number of heads", "head dimension"})
    for (auto [value, name] : llvm::zip(operands, operandNames))
      if (failed(verifyStatic(op, name, value,
                              axis == "number of heads" ? 1 : 3, axis)))
        return failure();
  int64_t heads = dimOf(q, 1), kvHeads = dimOf(k, 1);
  if (dimOf(q, 3) > kMaxHeadWidth || dimOf(v, 3) > kMaxHeadWidth)
    return op->emitOpError()
           << "takes head widths up to " << kMaxHeadWidth << ", got D = "
           << dimOf(q, 3) << " and Dv = " << dimOf(v, 3);
  if (heads == 0 || dimOf(q, 3) == 0 || dimOf(v, 3) == 0)
    return op->emitOpError()
           << "needs at least one query head and positive head dimensions, "
              "got H = "
           << heads << ", D = " << dimOf(q, 3) << " and Dv = " << dimOf(v, 3);
  if (dimOf(v, 1) != kvHeads)
    return op->emitOpError()
           << "key has " << kvHeads << " heads but value has " << dimOf(v, 1);
  if (kvHeads == 0 || heads % kvHeads != 0)
    return op->emitOpError()
           << "query has " << heads << " heads, which is not a multiple of the "
           << kvHeads << " key/value heads";
  if (dimOf(q, 3) != dimOf(k, 3))
    return op->emitOpError()
           << "query and key must have the same head dimension, "
              "got "
           << dimOf(q, 3) << " and " << dimOf(k, 3);
  if (failed(verifySameSize(op, "batch size", "query", dimOf(q, 0), "key",
                            dimOf(k, 0))) ||
      failed(verifySameSize(op, "batch size", "key", dimOf(k, 0), "value",
                            dimOf(v, 0))) ||
      failed(verifySameSize(op, "number of keys", "key", dimOf(k, 2), "value",
                            dimOf(v, 2))))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

static int64_t dimOf(Value value, int64_t dim) {
  return cast<RankedTensorType>(value.getType()).getDimSize(dim);
}

int64_t AttentionOp::getNumHeads() { return dimOf(getQuery(), 1); }
int64_t AttentionOp::getNumKVHeads() { return dimOf(getKey(), 1); }

/// 1/sqrt(D) unless the op says otherwise: for unit-variance q and k, q.k has
/// variance D, and the softmax would saturate on it.
static double scaleOrDefault(FloatAttr scale, int64_t headDim) {
  if (scale)
    return scale.getValueAsDouble();
  return 1.0 / std::sqrt(static_cast<double>(headDim));
}

double AttentionOp::getScaleOrDefault() {
  return scaleOrDefault(getScaleAttr(), dimOf(getQuery(), 3));
}

/// The mask with its defaults resolved for the keys of `key`, or null.
static MaskAttrInterface effectiveMask(MaskAttrInterface mask, Value key) {
  if (!mask)
    return {};
  FailureOr<Attribute> resolved = mask.resolveFor(dimOf(key, 2));
  if (failed(resolved))
    return {};
  return cast<MaskAttrInterface>(*resolved);
}

/// The clauses of attn.attention and attn.attention_grad: key lengths, the
/// scale, and a mask that resolves for S.
static LogicalResult verifyAttentionClauses(Operation *op, Value q, Value k,
                                            Value keyLengths,
                                            MaskAttrInterface mask,
                                            FloatAttr scale) {
  if (failed(verifyKeyLengths(op, keyLengths, dimOf(q, 0))) ||
      failed(verifyScale(op, scale)))
    return failure();
  if (mask && !effectiveMask(mask, k))
    return op->emitOpError()
           << "the mask " << mask
           << " leaves a length to ceil(sqrt(S)), which needs "
              "a static number of keys (or its length does not "
              "fit), got S = "
           << (ShapedType::isDynamic(dimOf(k, 2))
                   ? std::string("?")
                   : std::to_string(dimOf(k, 2)));
  return success();
}

/// Sinks, or their gradient: one f32 logit per query head, (H).
static LogicalResult verifySinks(Operation *op, StringRef what, Value sinks,
                                 int64_t heads) {
  if (!sinks)
    return success();
  auto type = cast<RankedTensorType>(sinks.getType());
  if (type.getRank() == 1 && type.getDimSize(0) == heads &&
      type.getElementType().isF32())
    return success();
  return op->emitOpError() << what << " must be one f32 logit per query "
                           << "head, tensor<" << heads << "xf32>, got "
                           << type;
}

LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifySizes(op)))
    return failure();
  if (failed(verifyQueryKeyValue(op, getQuery(), getKey(), getValue(),
                                 getResult())))
    return failure();
  Value q = getQuery(), k = getKey(), v = getValue();
  int64_t heads = dimOf(q, 1);
  if (failed(verifyAttentionClauses(op, q, k, getKeyLengths(), getMaskAttr(),
                                    getScaleAttr())))
    return failure();
  if (failed(verifyResultShape(op,
                               {dimOf(q, 0), heads, dimOf(q, 2), dimOf(v, 3)},
                               "batch, heads, queries, value_dim")))
    return failure();
  if (failed(verifySinks(op, "sinks", getSinks(), heads)) ||
      failed(verifySequences()))
    return failure();
  return verifyLogSumExp(op, "lse", getLse(),
                         {dimOf(q, 0), heads, dimOf(q, 2)});
}

/// Packed sequences: both offset lists, rank-1 i32 of one size, in the one
/// batch row of q, k and v, without key lengths.
LogicalResult AttentionOp::verifySequences() {
  Value queryOffsets = getQueryOffsets(), keyOffsets = getKeyOffsets();
  if (!queryOffsets)
    return success();
  for (auto [offsets, name] : {std::pair(queryOffsets, "query"),
                               std::pair(keyOffsets, "key")}) {
    auto type = cast<RankedTensorType>(offsets.getType());
    if (type.getRank() != 1 || !type.getElementType().isInteger(32))
      return emitOpError() << "sequences: the " << name
                           << " offsets must be a rank-1 tensor of i32 (one "
                              "more than the sequences), got "
                           << type;
  }
  if (failed(verifySameSize(
          getOperation(), "number of offsets", "the query offsets",
          dimOf(queryOffsets, 0), "the key offsets", dimOf(keyOffsets, 0))))
    return failure();
  for (auto [value, name] : {std::pair(getQuery(), "q"),
                             std::pair(getKey(), "k"),
                             std::pair(getValue(), "v")})
    if (dimOf(value, 0) != 1)
      return emitOpError() << "sequences pack into one batch row: " << name
                           << " must have batch size 1, got "
                           << value.getType();
  if (getKeyLengths())
    return emitOpError() << "sequences and key_lengths cannot be combined "
                            "(each sequence has its own keys)";
  return success();
}

MaskAttrInterface AttentionOp::getEffectiveMask() {
  return effectiveMask(getMaskAttr(), getKey());
}

void AttentionOp::describeShapeContract(ShapeContract &contract) {
  contract.addValue(getQuery(), "q", {"B", "H", "N", "D"});
  contract.addValue(getKey(), "k", {"B", "Hkv", "S", "D"});
  contract.addValue(getValue(), "v", {"B", "Hkv", "S", "Dv"});
  if (Value keyLengths = getKeyLengths()) {
    contract.addValue(keyLengths, "key_lengths", {"B"});
    contract.addBound(keyLengths, "S");
  }
  if (Value sinks = getSinks())
    contract.addValue(sinks, "sinks", {"H"});
  if (Value queryOffsets = getQueryOffsets()) {
    contract.addValue(queryOffsets, "query_offsets", {"P"});
    contract.addBound(queryOffsets, "N", /*ascending=*/true);
    contract.addValue(getKeyOffsets(), "key_offsets", {"P"});
    contract.addBound(getKeyOffsets(), "S", /*ascending=*/true);
  }
  contract.addValue(getResult(), "out", {"B", "H", "N", "Dv"});
  if (Value lse = getLse())
    contract.addValue(lse, "lse", {"B", "H", "N"});
}

//===----------------------------------------------------------------------===//
// AttentionGradOp
//===----------------------------------------------------------------------===//

int64_t AttentionGradOp::getNumHeads() { return dimOf(getQuery(), 1); }
int64_t AttentionGradOp::getNumKVHeads() { return dimOf(getKey(), 1); }

double AttentionGradOp::getScaleOrDefault() {
  return scaleOrDefault(getScaleAttr(), dimOf(getQuery(), 3));
}

MaskAttrInterface AttentionGradOp::getEffectiveMask() {
  return effectiveMask(getMaskAttr(), getKey());
}

LogicalResult AttentionGradOp::verify() {
  Operation *op = getOperation();
  if (failed(verifySizes(op)))
    return failure();
  Value q = getQuery(), k = getKey(), v = getValue();
  if (failed(verifyQueryKeyValue(op, q, k, v, getOutput())) ||
      failed(verifyAttentionClauses(op, q, k, getKeyLengths(), getMaskAttr(),
                                    getScaleAttr())))
    return failure();
  // out and dout: the forward's output and its gradient, (B, H, N, Dv).
  SmallVector<int64_t> outShape = {dimOf(q, 0), dimOf(q, 1), dimOf(q, 2),
                                   dimOf(v, 3)};
  for (auto [value, name] : {std::pair(getOutput(), "out"),
                             std::pair(getOutputGrad(), "dout")}) {
    auto type = cast<RankedTensorType>(value.getType());
    if (failed(verifyResultShapeOf(type, outShape)) ||
        type.getElementType() != getElementTypeOrSelf(q.getType()))
      return emitOpError()
             << name << " must have the forward's output type, the shape "
             << "(batch, heads, queries, value_dim) and the query's element "
                "type, got "
             << type;
  }
  if (failed(verifyLogSumExp(op, "lse", getLse(),
                             {dimOf(q, 0), dimOf(q, 1), dimOf(q, 2)})))
    return failure();
  if (failed(verifySinks(op, "sinks", getSinks(), dimOf(q, 1))) ||
      failed(verifySinks(op, "the sinks' gradient", getSinksGrad(),
                         dimOf(q, 1))))
    return failure();
  if (!getSinks() != !getSinksGrad())
    return emitOpError() << (getSinks() ? "with sinks has a fourth result, "
                                          "their gradient"
                                        : "without sinks has three results");
  // Each gradient has its operand's type.
  for (auto [grad, operand, name] :
       {std::tuple(getQueryGrad(), q, "query"), std::tuple(getKeyGrad(), k, "key"),
        std::tuple(getValueGrad(), v, "value")}) {
    if (failed(verifyResultShapeOf(cast<RankedTensorType>(grad.getType()),
                                   cast<RankedTensorType>(operand.getType())
                                       .getShape())) ||
        getElementTypeOrSelf(grad.getType()) !=
            getElementTypeOrSelf(operand.getType()))
      return emitOpError() << "the gradient of the " << name
                           << " must have its type, " << operand.getType()
                           << ", got " << grad.getType();
  }
  return success();
}

void AttentionGradOp::describeShapeContract(ShapeContract &contract) {
  contract.addValue(getQuery(), "q", {"B", "H", "N", "D"});
  contract.addValue(getKey(), "k", {"B", "Hkv", "S", "D"});
  contract.addValue(getValue(), "v", {"B", "Hkv", "S", "Dv"});
  contract.addValue(getOutput(), "out", {"B", "H", "N", "Dv"});
  contract.addValue(getOutputGrad(), "dout", {"B", "H", "N", "Dv"});
  contract.addValue(getLse(), "lse", {"B", "H", "N"});
  if (Value keyLengths = getKeyLengths()) {
    contract.addValue(keyLengths, "key_lengths", {"B"});
    contract.addBound(keyLengths, "S");
  }
  if (Value sinks = getSinks())
    contract.addValue(sinks, "sinks", {"H"});
  contract.addValue(getQueryGrad(), "dq", {"B", "H", "N", "D"});
  contract.addValue(getKeyGrad(), "dk", {"B", "Hkv", "S", "D"});
  contract.addValue(getValueGrad(), "dv", {"B", "Hkv", "S", "Dv"});
  if (Value sinksGrad = getSinksGrad())
    contract.addValue(sinksGrad, "dsinks", {"H"});
}

//===----------------------------------------------------------------------===//
// LinearAttentionOp
//===----------------------------------------------------------------------===//

int64_t LinearAttentionOp::getNumHeads() { return dimOf(getQuery(), 1); }
int64_t LinearAttentionOp::getNumKVHeads() { return dimOf(getKey(), 1); }

LogicalResult LinearAttentionOp::verify() {
  Operation *op = getOperation();
  if (failed(verifySizes(op)))
    return failure();
  if (failed(verifyQueryKeyValue(op, getQuery(), getKey(), getValue(),
                                 getResult())))
    return failure();
  Value q = getQuery(), k = getKey(), v = getValue();
  int64_t heads = dimOf(q, 1), kvHeads = dimOf(k, 1);
  // Causal: query i sits at key position i of this chunk.
  if (getCausal() && !sizesAgree(dimOf(q, 2), dimOf(k, 2)))
    return emitOpError() << "causal linear attention needs as many queries as "
                            "keys (query i at position i), got N = "
                         << sizeString(dimOf(q, 2))
                         << " and S = " << sizeString(dimOf(k, 2));
  if (failed(verifyKeyLengths(op, getKeyLengths(), dimOf(q, 0))))
    return failure();
  if (failed(verifyResultShape(op,
                               {dimOf(q, 0), heads, dimOf(q, 2), dimOf(v, 3)},
                               "batch, heads, queries, value_dim")))
    return failure();
  // The states: f32 (B, Hkv, D, Dv + 1).
  SmallVector<int64_t> stateShape = {dimOf(q, 0), kvHeads, dimOf(k, 3),
                                     dimOf(v, 3) + 1};
  Value states[] = {getInitialState(), getFinalState()};
  StringRef stateNames[] = {"state", "the final state"};
  for (auto [state, name] : llvm::zip(states, stateNames)) {
    if (!state)
      continue;
    auto type = cast<RankedTensorType>(state.getType());
    if (!type.getElementType().isF32() ||
        failed(verifyResultShapeOf(type, stateShape)))
      return emitOpError() << name << " must be a tensor<"
                           << sizeString(stateShape[0]) << "x" << kvHeads << "x"
                           << stateShape[2] << "x" << stateShape[3]
                           << "xf32> (batch, kv_heads, head_dim, value_dim + "
                              "1: the sums of phi(k) v^T and of phi(k)), got "
                           << type;
  }
  return success();
}

void LinearAttentionOp::describeShapeContract(ShapeContract &contract) {
  contract.addValue(getQuery(), "q", {"B", "H", "N", "D"});
  // Causal: as many keys as queries.
  StringRef keys = getCausal() ? "N" : "S";
  contract.addValue(getKey(), "k", {"B", "Hkv", keys, "D"});
  contract.addValue(getValue(), "v", {"B", "Hkv", keys, "Dv"});
  if (Value keyLengths = getKeyLengths()) {
    contract.addValue(keyLengths, "key_lengths", {"B"});
    contract.addBound(keyLengths, keys);
  }
  if (Value state = getInitialState())
    contract.addValue(state, "state", {"B", "Hkv", "D", "Dv+1"});
  contract.addValue(getResult(), "out", {"B", "H", "N", "Dv"});
  if (Value state = getFinalState())
    contract.addValue(state, "final_state", {"B", "Hkv", "D", "Dv+1"});
}

//===----------------------------------------------------------------------===//
// CombineOp
//===----------------------------------------------------------------------===//

LogicalResult CombineOp::verify() {
  if (failed(verifySizes(getOperation())))
    return failure();
  if (getOutputs().empty())
    return emitOpError() << "needs at least one part";
  // The two lists share the operands evenly: an odd count cannot be split.
  if (getNumOperands() != 2 * getOutputs().size())
    return emitOpError() << "needs one lse per output, got " << getNumOperands()
                         << " operands in all";
  Operation *op = getOperation();
  auto resultType = cast<RankedTensorType>(getResult().getType());
  if (resultType.getRank() != 4 ||
      !isSupportedElementType(resultType.getElementType()))
    return emitOpError() << "result must be a rank-4 tensor (batch, heads, "
                            "queries, value_dim) of f16, bf16 or f32, got "
                         << resultType;
  SmallVector<int64_t> rows(resultType.getShape().take_front(3));
  for (auto [index, part] : llvm::enumerate(getOutputs())) {
    auto type = cast<RankedTensorType>(part.getType());
    if (type.getElementType() != resultType.getElementType() ||
        failed(verifyResultShapeOf(type, resultType.getShape())))
      return emitOpError() << "part " << index << " has type " << type
                           << ", which does not match the result "
                           << resultType;
    if (failed(verifyLogSumExp(op, "lse " + std::to_string(index),
                               getLses()[index], rows)))
      return failure();
  }
  return verifyLogSumExp(op, "the lse result", getLse(), rows);
}

void CombineOp::describeShapeContract(ShapeContract &contract) {
  for (Value part : getOutputs())
    contract.addValue(part, "out", {"B", "H", "N", "Dv"});
  for (Value lse : getLses())
    contract.addValue(lse, "lse", {"B", "H", "N"});
  contract.addValue(getResult(), "out", {"B", "H", "N", "Dv"});
  if (Value lse = getLse())
    contract.addValue(lse, "lse", {"B", "H", "N"});
}

//===----------------------------------------------------------------------===//
// MultiHeadOp
//===----------------------------------------------------------------------===//

double MultiHeadOp::getScaleOrDefault() {
  return scaleOrDefault(getScaleAttr(), getHeadDim());
}

int64_t MultiHeadOp::getHeadDim() { return dimOf(getWq(), 1) / getNumHeads(); }

int64_t MultiHeadOp::getValueHeadDim() {
  return dimOf(getWv(), 1) / getNumKvHeads();
}

LogicalResult MultiHeadOp::verify() {
  Operation *op = getOperation();
  if (failed(verifySizes(op)))
    return failure();
  Value x = getInput(), source = getKeyValueInput();
  if (failed(verifyRank(op, "input", x, 3, "batch, tokens, features")) ||
      (getSource() &&
       failed(verifyRank(op, "source", source, 3, "batch, tokens, features"))))
    return failure();
  Value wq = getWq(), wk = getWk(), wv = getWv(), wo = getWo();
  Value weights[] = {wq, wk, wv, wo};
  StringRef weightNames[] = {"wq", "wk", "wv", "wo"};
  for (auto [w, name] : llvm::zip(weights, weightNames)) {
    if (failed(verifyRank(op, name, w, 2, "in_features, out_features")) ||
        failed(verifyStatic(op, name, w, 0, "number of input features")) ||
        failed(verifyStatic(op, name, w, 1, "number of output features")))
      return failure();
  }
  SmallVector<Value> floats = {x, wq, wk, wv, wo, getResult()};
  SmallVector<StringRef> names = {"input", "wq", "wk", "wv", "wo", "result"};
  if (getSource()) {
    floats.push_back(source);
    names.push_back("source");
  }
  if (failed(verifyElementTypes(op, floats, names)))
    return failure();

  int64_t heads = getNumHeads(), kvHeads = getNumKvHeads();
  if (heads % kvHeads != 0)
    return emitOpError() << "num_heads = " << heads
                         << " is not a multiple of num_kv_heads = " << kvHeads;
  if (dimOf(wq, 1) % heads != 0)
    return emitOpError() << "wq has " << dimOf(wq, 1)
                         << " output features, which do not split into "
                         << heads << " heads";
  if (dimOf(wv, 1) % kvHeads != 0)
    return emitOpError() << "wv has " << dimOf(wv, 1)
                         << " output features, which do not split into "
                         << kvHeads << " key/value heads";
  int64_t headDim = getHeadDim(), valueHeadDim = getValueHeadDim();
  if (headDim > kMaxHeadWidth || valueHeadDim > kMaxHeadWidth)
    return emitOpError() << "takes head widths up to " << kMaxHeadWidth
                         << ", got D = " << headDim << " and Dv = "
                         << valueHeadDim;
  if (dimOf(wk, 1) != kvHeads * headDim)
    return emitOpError() << "wk must have num_kv_heads * head_dim = " << kvHeads
                         << " * " << headDim << " = " << kvHeads * headDim
                         << " output features, got " << dimOf(wk, 1);
  if (dimOf(wo, 0) != heads * valueHeadDim)
    return emitOpError() << "wo must have num_heads * value_dim = " << heads
                         << " * " << valueHeadDim << " = "
                         << heads * valueHeadDim << " input features, got "
                         << dimOf(wo, 0);
  if (failed(verifySameSize(op, "input features", "input", dimOf(x, 2), "wq",
                            dimOf(wq, 0))) ||
      failed(verifySameSize(op, "source features",
                            getSource() ? "source" : "input", dimOf(source, 2),
                            "wk", dimOf(wk, 0))) ||
      failed(verifySameSize(op, "source features",
                            getSource() ? "source" : "input", dimOf(source, 2),
                            "wv", dimOf(wv, 0))) ||
      failed(verifySameSize(op, "batch size", "input", dimOf(x, 0), "source",
                            dimOf(source, 0))))
    return failure();
  if (failed(verifyKeyLengths(op, getKeyLengths(), dimOf(x, 0))) ||
      failed(verifyScale(op, getScaleAttr())))
    return failure();
  return verifyResultShape(op, {dimOf(x, 0), dimOf(x, 1), dimOf(wo, 1)},
                           "batch, tokens, output features");
}

void MultiHeadOp::describeShapeContract(ShapeContract &contract) {
  // Self attention attends over its own tokens: S is N.
  StringRef keys = getSource() ? "S" : "N";
  contract.addValue(getInput(), "x", {"B", "N", "Dm"});
  if (Value context = getSource())
    contract.addValue(context, "source", {"B", "S", "Ds"});
  StringRef kvFeatures = getSource() ? "Ds" : "Dm";
  contract.addValue(getWq(), "wq", {"Dm", "Eq"});
  contract.addValue(getWk(), "wk", {kvFeatures, "Ek"});
  contract.addValue(getWv(), "wv", {kvFeatures, "Ev"});
  contract.addValue(getWo(), "wo", {"Eo", "Dout"});
  if (Value keyLengths = getKeyLengths()) {
    contract.addValue(keyLengths, "key_lengths", {"B"});
    contract.addBound(keyLengths, keys);
  }
  contract.addValue(getResult(), "out", {"B", "N", "Dout"});
}
