//===- MaskSyntax.cpp - how masks and score modifiers are written ---------===//
//
// The textual form of the mask and score-modifier attributes, parsed by
// hand so that a typo gets a diagnostic in the attribute's own terms: the
// valid names, parameters and keywords, and the closest one to what was
// written.
//
//   #attn.causal<bottom_right>
//   #attn.window<left = 255, right = 0, alignment = bottom_right>
//   #attn.global<tokens = [0, 1]>
//   #attn.strided<stride = 64, split_heads = true>
//   #attn.fixed<block = 128, summary = 8>
//   #attn.blockwise<query_block = 64, key_block = 64, relation = eq>
//   #attn.union<[...]>  #attn.intersection<[...]>
//   #attn.softcap<cap = 50.0>
//   #attn.alibi<bottom_right>  #attn.alibi<top_left, max_bias = 16.0>
//
// Parameters with a default may be left out and are printed only when they
// differ from it; the others are required; any order is accepted.
//
//===----------------------------------------------------------------------===//

#include "Syntax.h"
#include "attn/Dialect/Attn/IR/AttnAttrs.h"

#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"

#include <optional>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Names and suggestions
//===----------------------------------------------------------------------===//

std::string mlir::attn::listOf(ArrayRef<std::string> items,
                               StringRef lastSeparator) {
  std::string text;
  for (auto [i, item] : llvm::enumerate(items))
    text += (i == 0 ? "" : i + 1 == items.size() ? lastSeparator.str() : ", ") +
            item;
  return text;
}

static SmallVector<StringRef> maskNames() {
  return {CausalMaskAttr::getMnemonic(),       WindowMaskAttr::getMnemonic(),
          GlobalMaskAttr::getMnemonic(),       UnionMaskAttr::getMnemonic(),
          IntersectionMaskAttr::getMnemonic(), StridedMaskAttr::getMnemonic(),
          FixedMaskAttr::getMnemonic(),        BlockwiseMaskAttr::getMnemonic()};
}

void mlir::attn::emitUnknownAttribute(AsmParser &parser, SMLoc loc,
                                      StringRef name) {
  SmallVector<StringRef> masks = maskNames();
  SmallVector<StringRef> modifiers = {SoftcapAttr::getMnemonic(),
                                      AlibiAttr::getMnemonic()};
  SmallVector<StringRef> names = masks;
  names.append(modifiers);
  parser.emitError(loc) << "unknown attribute `#attn." << name << "`"
                        << didYouMean(name, names) << "; the masks are "
                        << listOf(llvm::to_vector_of<std::string>(masks),
                                  " and ")
                        << ", the score modifiers "
                        << listOf(llvm::to_vector_of<std::string>(modifiers),
                                  " and ");
}

/// The `<` that opens a mask's parameters, or a diagnostic showing how
/// the mask is written.
static ParseResult parseOpening(AsmParser &parser, StringRef mask,
                                StringRef written) {
  if (succeeded(parser.parseOptionalLess()))
    return success();
  return parser.emitError(parser.getCurrentLocation())
         << "#attn." << mask << " takes its parameters in " << written;
}

/// The keywords of an enum, in the order of its values.
template <typename Enum, typename Stringify>
static SmallVector<StringRef> enumKeywords(unsigned maxValue,
                                          Stringify stringify) {
  SmallVector<StringRef> keywords;
  for (unsigned value = 0; value <= maxValue; ++value)
    keywords.push_back(stringify(static_cast<Enum>(value)));
  return keywords;
}

static SmallVector<StringRef> alignmentKeywords() {
  return enumKeywords<Alignment>(getMaxEnumValForAlignment(),
                                 stringifyAlignment);
}

static SmallVector<StringRef> relationKeywords() {
  return enumKeywords<BlockRelation>(getMaxEnumValForBlockRelation(),
                                     stringifyBlockRelation);
}

FailureOr<int64_t> mlir::attn::parseKeywordOf(AsmParser &parser,
                                              StringRef what,
                                              ArrayRef<StringRef> keywords) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef word;
  std::string choices =
      listOf(llvm::to_vector_of<std::string>(keywords), " or ");
  if (failed(parser.parseOptionalKeyword(&word)))
    return parser.emitError(loc) << "expected " << what << ": " << choices;
  const StringRef *found = llvm::find(keywords, word);
  if (found == keywords.end())
    return parser.emitError(loc)
           << what << " is " << choices << ", not `" << word << "`"
           << didYouMean(word, keywords);
  return found - keywords.begin();
}

//===----------------------------------------------------------------------===//
// Parameters written `<name = value, ...>`
//===----------------------------------------------------------------------===//

namespace {
enum class ParamKind { Integer, Bool, Alignment, Relation };

/// One parameter of a mask: required when it has no default.
struct MaskParam {
  StringLiteral name;
  ParamKind kind;
  std::optional<int64_t> defaultValue;
};

/// The values of a mask's parameters, in the order of its table.
using ParamValues = SmallVector<int64_t, 4>;
} // namespace

static std::string describe(const MaskParam &param) {
  std::string text = param.name.str();
  if (param.kind == ParamKind::Alignment)
    text += " (" + listOf(llvm::to_vector_of<std::string>(alignmentKeywords()),
                          " | ") + ")";
  if (param.kind == ParamKind::Relation)
    text += " (" + listOf(llvm::to_vector_of<std::string>(relationKeywords()),
                          " | ") + ")";
  if (param.defaultValue)
    text += " = " + (param.kind == ParamKind::Bool
                         ? std::string(*param.defaultValue ? "true" : "false")
                         : std::to_string(*param.defaultValue));
  return text;
}

static std::string describe(ArrayRef<MaskParam> params) {
  SmallVector<std::string> items;
  for (const MaskParam &param : params)
    items.push_back(describe(param));
  return listOf(items, " and ");
}

static FailureOr<int64_t> parseValue(AsmParser &parser,
                                     const MaskParam &param) {
  switch (param.kind) {
  case ParamKind::Integer: {
    int64_t value;
    if (parser.parseInteger(value))
      return failure();
    return value;
  }
  case ParamKind::Bool:
    return parseKeywordOf(parser, ("`" + param.name + "`").str(),
                          {"false", "true"});
  case ParamKind::Alignment:
    return parseKeywordOf(parser, "the alignment", alignmentKeywords());
  case ParamKind::Relation:
    return parseKeywordOf(parser, "the relation", relationKeywords());
  }
  llvm_unreachable("a kind of parameter");
}

/// `<` (name `=` value (`,` name `=` value)*)? `>` for the mask `mask`
/// with the parameters `params`, into `values`.
static ParseResult parseParams(AsmParser &parser, StringRef mask,
                               ArrayRef<MaskParam> params, ParamValues &values) {
  SMLoc start = parser.getCurrentLocation();
  SmallVector<bool> given(params.size(), false);
  values.assign(params.size(), 0);
  if (parseOpening(parser, mask,
                   "<name = value, ...> of " + describe(params)))
    return failure();
  if (failed(parser.parseOptionalGreater())) {
    SmallVector<StringRef> names;
    for (const MaskParam &param : params)
      names.push_back(param.name);
    do {
      SMLoc loc = parser.getCurrentLocation();
      StringRef name;
      if (failed(parser.parseOptionalKeyword(&name)))
        return parser.emitError(loc)
               << "expected a parameter of #attn." << mask << ": "
               << describe(params);
      const StringRef *found = llvm::find(names, name);
      if (found == names.end())
        return parser.emitError(loc)
               << "#attn." << mask << " has no parameter `" << name << "`"
               << didYouMean(name, names) << "; its parameters are "
               << describe(params);
      size_t index = found - names.begin();
      if (given[index])
        return parser.emitError(loc)
               << "#attn." << mask << " is given `" << name << "` twice";
      given[index] = true;
      if (parser.parseEqual())
        return failure();
      FailureOr<int64_t> value = parseValue(parser, params[index]);
      if (failed(value))
        return failure();
      values[index] = *value;
    } while (succeeded(parser.parseOptionalComma()));
    if (parser.parseGreater())
      return failure();
  }
  for (auto [index, param] : llvm::enumerate(params)) {
    if (given[index])
      continue;
    if (!param.defaultValue)
      return parser.emitError(start)
             << "#attn." << mask << " needs `" << param.name
             << "`; its parameters are " << describe(params);
    values[index] = *param.defaultValue;
  }
  return success();
}

static void printValue(AsmPrinter &printer, const MaskParam &param,
                       int64_t value) {
  switch (param.kind) {
  case ParamKind::Integer:
    printer << value;
    return;
  case ParamKind::Bool:
    printer << (value ? "true" : "false");
    return;
  case ParamKind::Alignment:
    printer << stringifyAlignment(static_cast<Alignment>(value));
    return;
  case ParamKind::Relation:
    printer << stringifyBlockRelation(static_cast<BlockRelation>(value));
    return;
  }
}

/// The inverse of parseParams: required parameters, and the others when
/// they differ from their default.
static void printParams(AsmPrinter &printer, ArrayRef<MaskParam> params,
                        ArrayRef<int64_t> values) {
  printer << "<";
  bool first = true;
  for (auto [param, value] : llvm::zip_equal(params, values)) {
    if (param.defaultValue == value)
      continue;
    printer << (first ? "" : ", ") << param.name << " = ";
    printValue(printer, param, value);
    first = false;
  }
  printer << ">";
}

/// A mask built from parsed values, verified where its text starts.
template <typename MaskAttr, typename... Args>
static Attribute getVerified(AsmParser &parser, SMLoc start, Args... args) {
  Location loc = parser.getEncodedSourceLoc(start);
  return MaskAttr::getChecked([&] { return emitError(loc); },
                              parser.getContext(), args...);
}

//===----------------------------------------------------------------------===//
// The masks
//===----------------------------------------------------------------------===//

Attribute CausalMaskAttr::parse(AsmParser &parser, Type) {
  if (parseOpening(parser, getMnemonic(),
                   "<...>: #attn.causal<top_left> or "
                   "#attn.causal<bottom_right>"))
    return {};
  FailureOr<int64_t> alignment =
      parseKeywordOf(parser, "the alignment", alignmentKeywords());
  if (failed(alignment) || parser.parseGreater())
    return {};
  return get(parser.getContext(), static_cast<Alignment>(*alignment));
}

void CausalMaskAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyAlignment(getAlignment()) << ">";
}

static constexpr MaskParam kWindowParams[] = {
    {"left", ParamKind::Integer, std::nullopt},
    {"right", ParamKind::Integer, std::nullopt},
    {"alignment", ParamKind::Alignment, std::nullopt},
    {"dilation", ParamKind::Integer, 1}};

Attribute WindowMaskAttr::parse(AsmParser &parser, Type) {
  SMLoc start = parser.getCurrentLocation();
  ParamValues v;
  if (parseParams(parser, getMnemonic(), kWindowParams, v))
    return {};
  return getVerified<WindowMaskAttr>(parser, start, v[0], v[1],
                                    static_cast<Alignment>(v[2]), v[3]);
}

void WindowMaskAttr::print(AsmPrinter &printer) const {
  printParams(printer, kWindowParams,
              {getLeft(), getRight(), static_cast<int64_t>(getAlignment()),
               getDilation()});
}

Attribute GlobalMaskAttr::parse(AsmParser &parser, Type) {
  SMLoc start = parser.getCurrentLocation();
  SmallVector<int64_t> tokens;
  auto parseToken = [&] { return parser.parseInteger(tokens.emplace_back()); };
  if (parseOpening(parser, getMnemonic(),
                   "<...>: #attn.global<tokens = [0, 1]>"))
    return {};
  SMLoc nameLoc = parser.getCurrentLocation();
  StringRef name;
  if (failed(parser.parseOptionalKeyword(&name)) || name != "tokens") {
    parser.emitError(nameLoc)
        << "#attn.global has one parameter, `tokens = [...]` (the global key "
           "positions)"
        << (name.empty() ? "" : didYouMean(name, {"tokens"}));
    return {};
  }
  if (parser.parseEqual() ||
      parser.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                     parseToken, "in the list of tokens") ||
      parser.parseGreater())
    return {};
  return getVerified<GlobalMaskAttr>(parser, start, ArrayRef<int64_t>(tokens));
}

void GlobalMaskAttr::print(AsmPrinter &printer) const {
  printer << "<tokens = [";
  llvm::interleaveComma(getTokens(), printer);
  printer << "]>";
}

static constexpr MaskParam kStridedParams[] = {
    {"stride", ParamKind::Integer, 0},
    {"bidirectional", ParamKind::Bool, 0},
    {"split_heads", ParamKind::Bool, 0}};

Attribute StridedMaskAttr::parse(AsmParser &parser, Type) {
  SMLoc start = parser.getCurrentLocation();
  ParamValues v;
  if (parseParams(parser, getMnemonic(), kStridedParams, v))
    return {};
  return getVerified<StridedMaskAttr>(parser, start, v[0], bool(v[1]),
                                     bool(v[2]));
}

void StridedMaskAttr::print(AsmPrinter &printer) const {
  printParams(printer, kStridedParams,
              {getStride(), getBidirectional(), getSplitHeads()});
}

static constexpr MaskParam kFixedParams[] = {
    {"block", ParamKind::Integer, 0},
    {"summary", ParamKind::Integer, 1},
    {"bidirectional", ParamKind::Bool, 0},
    {"split_heads", ParamKind::Bool, 0}};

Attribute FixedMaskAttr::parse(AsmParser &parser, Type) {
  SMLoc start = parser.getCurrentLocation();
  ParamValues v;
  if (parseParams(parser, getMnemonic(), kFixedParams, v))
    return {};
  return getVerified<FixedMaskAttr>(parser, start, v[0], v[1], bool(v[2]),
                                   bool(v[3]));
}

void FixedMaskAttr::print(AsmPrinter &printer) const {
  printParams(printer, kFixedParams,
              {getBlock(), getSummary(), getBidirectional(), getSplitHeads()});
}

static constexpr MaskParam kBlockwiseParams[] = {
    {"query_block", ParamKind::Integer, std::nullopt},
    {"key_block", ParamKind::Integer, std::nullopt},
    {"relation", ParamKind::Relation, std::nullopt}};

Attribute BlockwiseMaskAttr::parse(AsmParser &parser, Type) {
  SMLoc start = parser.getCurrentLocation();
  ParamValues v;
  if (parseParams(parser, getMnemonic(), kBlockwiseParams, v))
    return {};
  return getVerified<BlockwiseMaskAttr>(parser, start, v[0], v[1],
                                       static_cast<BlockRelation>(v[2]));
}

void BlockwiseMaskAttr::print(AsmPrinter &printer) const {
  printParams(printer, kBlockwiseParams,
              {getQueryBlock(), getKeyBlock(),
               static_cast<int64_t>(getRelation())});
}

//===----------------------------------------------------------------------===//
// Unions and intersections
//===----------------------------------------------------------------------===//

/// Masks nest (a union of intersections of ...); the parser descends once
/// per level, so the depth is bounded: a deeper mask gets one diagnostic
/// instead of exhausting the stack, and a failed member one diagnostic, not
/// one more per enclosing level (each would print the whole source line).
static constexpr int kMaxMaskNesting = 64;
static thread_local int maskNesting = 0;

/// `<` `[` mask (`,` mask)* `]` `>` of a union or an intersection.
static ArrayAttr parseMaskList(AsmParser &parser, StringRef kind) {
  if (maskNesting >= kMaxMaskNesting) {
    parser.emitError(parser.getCurrentLocation())
        << "masks nest at most " << kMaxMaskNesting << " levels deep";
    return {};
  }
  ++maskNesting;
  llvm::scope_exit leave([] { --maskNesting; });
  Attribute masks;
  if (parseOpening(parser, kind,
                   ("<[...]>, a list of masks: #attn." + kind +
                    "<[#attn.causal<top_left>, ...]>")
                       .str()) ||
      parser.parseAttribute(masks))
    return {}; // the member's own diagnostic says why
  auto list = dyn_cast<ArrayAttr>(masks);
  if (!list) {
    parser.emitError(parser.getCurrentLocation())
        << "a mask " << kind << " holds a list of masks, [...]";
    return {};
  }
  if (parser.parseGreater())
    return {};
  return list;
}

/// A union or an intersection, parsed and verified where it starts.
template <typename MaskListAttr>
static Attribute parseMaskListAttr(AsmParser &parser, StringRef kind) {
  SMLoc start = parser.getCurrentLocation();
  ArrayAttr masks = parseMaskList(parser, kind);
  if (!masks)
    return {};
  return getVerified<MaskListAttr>(parser, start, masks);
}

Attribute UnionMaskAttr::parse(AsmParser &parser, Type) {
  return parseMaskListAttr<UnionMaskAttr>(parser, "union");
}

void UnionMaskAttr::print(AsmPrinter &printer) const {
  printer << "<" << getMasks() << ">";
}

Attribute IntersectionMaskAttr::parse(AsmParser &parser, Type) {
  return parseMaskListAttr<IntersectionMaskAttr>(parser, "intersection");
}

void IntersectionMaskAttr::print(AsmPrinter &printer) const {
  printer << "<" << getMasks() << ">";
}

//===----------------------------------------------------------------------===//
// The score modifiers
//===----------------------------------------------------------------------===//

/// #attn.softcap<cap = 50.0>
Attribute SoftcapAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  double cap = 0;
  if (parseOpening(parser, getMnemonic(), "<cap = c>: #attn.softcap<cap = 50.0>") ||
      parser.parseKeyword("cap") || parser.parseEqual() ||
      parser.parseFloat(cap) || parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(loc); },
                    parser.getContext(), APFloat(cap));
}

void SoftcapAttr::print(AsmPrinter &printer) const {
  printer << "<cap = " << getCap() << ">";
}

/// The largest bias of ALiBi unless written: the paper's 8.
static constexpr double kAlibiMaxBias = 8.0;

/// #attn.alibi<bottom_right> or #attn.alibi<top_left, max_bias = 16.0>
Attribute AlibiAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  if (parseOpening(parser, getMnemonic(),
                   "<alignment[, max_bias = b]>: #attn.alibi<bottom_right>"))
    return {};
  FailureOr<int64_t> alignment =
      parseKeywordOf(parser, "the alignment", alignmentKeywords());
  if (failed(alignment))
    return {};
  double maxBias = kAlibiMaxBias;
  if (succeeded(parser.parseOptionalComma()) &&
      (parser.parseKeyword("max_bias") || parser.parseEqual() ||
       parser.parseFloat(maxBias)))
    return {};
  if (parser.parseGreater())
    return {};
  return getChecked([&] { return parser.emitError(loc); },
                    parser.getContext(), static_cast<Alignment>(*alignment),
                    APFloat(maxBias));
}

void AlibiAttr::print(AsmPrinter &printer) const {
  printer << "<" << stringifyAlignment(getAlignment());
  if (getMaxBias().convertToDouble() != kAlibiMaxBias)
    printer << ", max_bias = " << getMaxBias();
  printer << ">";
}
