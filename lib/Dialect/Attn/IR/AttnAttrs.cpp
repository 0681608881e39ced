//===- AttnAttrs.cpp - attributes of the attn dialect ---------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "Syntax.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"
#include "attn/Dialect/Attn/IR/IndexBuilder.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/Attn/IR/AttnAttrInterfaces.cpp.inc"
#include "attn/Dialect/Attn/IR/AttnEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"

void AttnDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "attn/Dialect/Attn/IR/AttnAttrs.cpp.inc"
      >();
}

Attribute AttnDialect::parseAttribute(DialectAsmParser &parser,
                                      Type type) const {
  SMLoc loc = parser.getCurrentLocation();
  StringRef name;
  Attribute attr;
  OptionalParseResult parsed =
      generatedAttributeParser(parser, &name, type, attr);
  if (parsed.has_value())
    return attr;
  emitUnknownAttribute(parser, loc, name);
  return {};
}

void AttnDialect::printAttribute(Attribute attr,
                                 DialectAsmPrinter &printer) const {
  (void)generatedAttributePrinter(attr, printer);
}

/// Index arithmetic for the mask builders: IndexBuilder, plus positions.
namespace {
class MaskBuilder : public IndexBuilder {
public:
  using IndexBuilder::add;
  using IndexBuilder::IndexBuilder;
  Value add(Value x, int64_t v) { return add(x, c(v)); }
  /// Whether `head` is even (the heads of the first pattern when split).
  Value evenHead(Value head) { return eq(rem(head, c(2)), c(0)); }

  /// The key position of query `row`: `row` when aligned top-left, and
  /// `row + numKeys - numQueries` when aligned bottom-right (the last query
  /// sits on the last valid key). May be negative: such a row sees no key.
  Value position(Alignment alignment, Value row, Value numQueries,
                 Value numKeys) {
    if (alignment == Alignment::TopLeft)
      return row;
    return add(row, sub(numKeys, numQueries));
  }
};
} // namespace

bool mlir::attn::splitsHeads(Attribute mask) {
  bool split = false;
  if (mask)
    mask.walk([&](Attribute a) {
      if (auto strided = dyn_cast<StridedMaskAttr>(a))
        split |= strided.getSplitHeads();
      if (auto fixed = dyn_cast<FixedMaskAttr>(a))
        split |= fixed.getSplitHeads();
    });
  return split;
}

/// Mask parameters are positions and lengths among at most kMaxSize keys;
/// bounded, the lowerings' index arithmetic on them (pos - left, a block
/// times a count) stays far inside 64 bits.
static LogicalResult
verifyParameters(function_ref<InFlightDiagnostic()> emitError,
                 ArrayRef<std::pair<StringRef, int64_t>> parameters) {
  for (auto [name, value] : parameters)
    if (value > kMaxSize)
      return emitError() << "`" << name << " = " << value
                         << "` is beyond the largest size or position, "
                         << kMaxSize << " (2^31 - 1)";
  return success();
}

/// The Sparse Transformer's patterns use top-left positions.
static constexpr Alignment kSparseAlignment = Alignment::TopLeft;

/// ceil(sqrt(n)) for n >= 1.
static int64_t ceilSqrt(int64_t n) {
  int64_t r = static_cast<int64_t>(std::sqrt(static_cast<double>(n)));
  while (r * r < n)
    ++r;
  while (r > 1 && (r - 1) * (r - 1) >= n)
    --r;
  return std::max<int64_t>(r, 1);
}

//===----------------------------------------------------------------------===//
// CausalMaskAttr
//===----------------------------------------------------------------------===//

Value CausalMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                     Value col, Value numQueries, Value numKeys,
                                     Value) const {
  // visible <=> col <= pos(row)
  MaskBuilder mb(b, loc);
  return mb.le(col, mb.position(getAlignment(), row, numQueries, numKeys));
}

std::pair<Value, Value>
CausalMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                              Value rowEnd, Value numQueries, Value numKeys,
                              Value) const {
  // Keys 0 .. pos(rowEnd - 1): the last row sees the most.
  MaskBuilder mb(b, loc);
  Value lastPos =
      mb.position(getAlignment(), mb.add(rowEnd, -1), numQueries, numKeys);
  return {mb.c(0), mb.add(lastPos, 1)};
}

Value CausalMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                          Value rowBegin, Value rowEnd,
                                          Value colBegin, Value colEnd,
                                          Value numQueries, Value numKeys,
                                          Value) const {
  // The first row sees the least: colEnd - 1 <= pos(rowBegin).
  MaskBuilder mb(b, loc);
  Value firstPos = mb.position(getAlignment(), rowBegin, numQueries, numKeys);
  return mb.le(mb.add(colEnd, -1), firstPos);
}

//===----------------------------------------------------------------------===//
// WindowMaskAttr
//===----------------------------------------------------------------------===//

LogicalResult
WindowMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t left, int64_t right, Alignment alignment,
                       int64_t dilation) {
  if (left < 0 || right < 0)
    return emitError() << "window extents must be non-negative, got left = "
                       << left << " and right = " << right;
  if (dilation < 1)
    return emitError() << "window dilation must be at least 1, got "
                       << dilation;
  return verifyParameters(emitError, {{"left", left},
                                      {"right", right},
                                      {"dilation", dilation}});
}

Value WindowMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                     Value col, Value numQueries, Value numKeys,
                                     Value) const {
  // visible <=> pos - left <= col <= pos + right, (pos - col) mod d = 0
  MaskBuilder mb(b, loc);
  Value pos = mb.position(getAlignment(), row, numQueries, numKeys);
  Value inside = mb.both(mb.le(mb.add(pos, -getLeft()), col),
                         mb.le(col, mb.add(pos, getRight())));
  if (getDilation() == 1)
    return inside;
  Value onGrid = mb.eq(mb.rem(mb.sub(pos, col), mb.c(getDilation())), mb.c(0));
  return mb.both(inside, onGrid);
}

std::pair<Value, Value>
WindowMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                              Value rowEnd, Value numQueries, Value numKeys,
                              Value) const {
  // From pos(rowBegin) - left to pos(rowEnd - 1) + right, inclusive.
  MaskBuilder mb(b, loc);
  Value firstPos = mb.position(getAlignment(), rowBegin, numQueries, numKeys);
  Value lastPos =
      mb.position(getAlignment(), mb.add(rowEnd, -1), numQueries, numKeys);
  return {mb.add(firstPos, -getLeft()), mb.add(lastPos, getRight() + 1)};
}

Value WindowMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                          Value rowBegin, Value rowEnd,
                                          Value colBegin, Value colEnd,
                                          Value numQueries, Value numKeys,
                                          Value) const {
  // A dilated window leaves holes in every tile wider than one key.
  MaskBuilder mb(b, loc);
  if (getDilation() > 1)
    return mb.truth(false);
  // The last row's window starts latest and the first row's ends earliest:
  // pos(rowEnd - 1) - left <= colBegin and colEnd - 1 <= pos(rowBegin) + right.
  Value firstPos = mb.position(getAlignment(), rowBegin, numQueries, numKeys);
  Value lastPos =
      mb.position(getAlignment(), mb.add(rowEnd, -1), numQueries, numKeys);
  return mb.both(mb.le(mb.add(lastPos, -getLeft()), colBegin),
                 mb.le(mb.add(colEnd, -1), mb.add(firstPos, getRight())));
}

//===----------------------------------------------------------------------===//
// GlobalMaskAttr
//===----------------------------------------------------------------------===//

LogicalResult
GlobalMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       ArrayRef<int64_t> tokens) {
  if (tokens.empty())
    return emitError() << "a global mask needs at least one token";
  // Each token is a comparison in every visibility test.
  if (tokens.size() > kMaxGlobalTokens)
    return emitError() << "a global mask holds at most " << kMaxGlobalTokens
                       << " tokens, got " << tokens.size();
  for (int64_t token : tokens) {
    if (token < 0)
      return emitError() << "global token positions must be non-negative, got "
                         << token;
    if (failed(verifyParameters(emitError, {{"tokens", token}})))
      return failure();
  }
  return success();
}

Value GlobalMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                     Value col, Value numQueries, Value numKeys,
                                     Value) const {
  // visible <=> col is global or the row's position is.
  MaskBuilder mb(b, loc);
  Value pos = mb.position(kSparseAlignment, row, numQueries, numKeys);
  Value visible = mb.truth(false);
  for (int64_t token : getTokens())
    visible = mb.either(
        visible, mb.either(mb.eq(col, mb.c(token)), mb.eq(pos, mb.c(token))));
  return visible;
}

std::pair<Value, Value>
GlobalMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                              Value rowEnd, Value numQueries, Value numKeys,
                              Value) const {
  // A global row sees every key; others only the global columns.
  MaskBuilder mb(b, loc);
  Value anyGlobalRow = mb.truth(false);
  for (int64_t token : getTokens())
    anyGlobalRow = mb.either(anyGlobalRow, mb.both(mb.le(rowBegin, mb.c(token)),
                                                   mb.lt(mb.c(token), rowEnd)));
  auto [lo, hi] = std::minmax_element(getTokens().begin(), getTokens().end());
  return {mb.select(anyGlobalRow, mb.c(0), mb.c(*lo)),
          mb.select(anyGlobalRow, numKeys, mb.c(*hi + 1))};
}

Value GlobalMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc, Value,
                                          Value, Value, Value, Value, Value,
                                          Value) const {
  return MaskBuilder(b, loc).truth(false);
}

//===----------------------------------------------------------------------===//
// UnionMaskAttr and IntersectionMaskAttr
//===----------------------------------------------------------------------===//

static LogicalResult
verifyMaskList(function_ref<InFlightDiagnostic()> emitError, ArrayAttr masks,
               StringRef kind) {
  if (masks.size() < 2)
    return emitError() << "a mask " << kind << " needs at least two masks, got "
                       << masks.size();
  for (Attribute mask : masks)
    if (!isa<MaskAttrInterface>(mask))
      return emitError() << "a mask " << kind << " holds masks, not " << mask;
  return success();
}

static auto masksOf(ArrayAttr masks) {
  return llvm::map_range(
      masks, [](Attribute a) { return cast<MaskAttrInterface>(a); });
}

/// The list with every member resolved for `numKeys`.
static FailureOr<ArrayAttr> resolveMasks(ArrayAttr masks, int64_t numKeys) {
  SmallVector<Attribute> resolved;
  for (MaskAttrInterface mask : masksOf(masks)) {
    FailureOr<Attribute> one = mask.resolveFor(numKeys);
    if (failed(one))
      return failure();
    resolved.push_back(*one);
  }
  return ArrayAttr::get(masks.getContext(), resolved);
}

/// A union (anyOf) or an intersection of masks. Visible: OR / AND of the
/// members. Key range: the hull / the overlap of the members' ranges (a
/// union's hull may cover keys no member sees; the tiled lowerings take a
/// union's members' ranges one by one instead, see collectKeyRanges in
/// OnlineSoftmax.h). Fully visible: sufficient for a union when one member
/// covers the tile; necessary and sufficient for an intersection when all do.
namespace {
struct MaskCombination {
  ArrayAttr masks;
  bool anyOf;

  Value combine(MaskBuilder &mb, Value acc, Value next) const {
    return anyOf ? mb.either(acc, next) : mb.both(acc, next);
  }

  Value isVisible(OpBuilder &b, Location loc, Value row, Value col,
                  Value numQueries, Value numKeys, Value head) const {
    MaskBuilder mb(b, loc);
    Value visible = mb.truth(!anyOf);
    for (MaskAttrInterface mask : masksOf(masks))
      visible = combine(
          mb, visible,
          mask.buildIsVisible(b, loc, row, col, numQueries, numKeys, head));
    return visible;
  }

  std::pair<Value, Value> keyRange(OpBuilder &b, Location loc, Value rowBegin,
                                   Value rowEnd, Value numQueries,
                                   Value numKeys, Value head) const {
    MaskBuilder mb(b, loc);
    Value begin, end;
    for (MaskAttrInterface mask : masksOf(masks)) {
      auto [lo, hi] = mask.buildKeyRange(b, loc, rowBegin, rowEnd, numQueries,
                                         numKeys, head);
      begin = !begin ? lo : anyOf ? mb.min(begin, lo) : mb.max(begin, lo);
      end = !end ? hi : anyOf ? mb.max(end, hi) : mb.min(end, hi);
    }
    return {begin, end};
  }

  Value isFullyVisible(OpBuilder &b, Location loc, Value rowBegin, Value rowEnd,
                       Value colBegin, Value colEnd, Value numQueries,
                       Value numKeys, Value head) const {
    MaskBuilder mb(b, loc);
    Value full = mb.truth(!anyOf);
    for (MaskAttrInterface mask : masksOf(masks))
      full =
          combine(mb, full,
                  mask.buildIsFullyVisible(b, loc, rowBegin, rowEnd, colBegin,
                                           colEnd, numQueries, numKeys, head));
    return full;
  }
};
} // namespace

LogicalResult
UnionMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      ArrayAttr masks) {
  return verifyMaskList(emitError, masks, "union");
}

Value UnionMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                    Value col, Value numQueries, Value numKeys,
                                    Value head) const {
  return MaskCombination{getMasks(), true}.isVisible(b, loc, row, col,
                                                     numQueries, numKeys, head);
}

std::pair<Value, Value>
UnionMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                             Value rowEnd, Value numQueries, Value numKeys,
                             Value head) const {
  return MaskCombination{getMasks(), true}.keyRange(b, loc, rowBegin, rowEnd,
                                                    numQueries, numKeys, head);
}

Value UnionMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                         Value rowBegin, Value rowEnd,
                                         Value colBegin, Value colEnd,
                                         Value numQueries, Value numKeys,
                                         Value head) const {
  return MaskCombination{getMasks(), true}.isFullyVisible(
      b, loc, rowBegin, rowEnd, colBegin, colEnd, numQueries, numKeys, head);
}

FailureOr<Attribute> UnionMaskAttr::resolveFor(int64_t numKeys) const {
  FailureOr<ArrayAttr> masks = resolveMasks(getMasks(), numKeys);
  if (failed(masks))
    return failure();
  return Attribute(UnionMaskAttr::get(getContext(), *masks));
}

LogicalResult
IntersectionMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                             ArrayAttr masks) {
  return verifyMaskList(emitError, masks, "intersection");
}

Value IntersectionMaskAttr::buildIsVisible(OpBuilder &b, Location loc,
                                           Value row, Value col,
                                           Value numQueries, Value numKeys,
                                           Value head) const {
  return MaskCombination{getMasks(), false}.isVisible(
      b, loc, row, col, numQueries, numKeys, head);
}

std::pair<Value, Value>
IntersectionMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                                    Value rowEnd, Value numQueries,
                                    Value numKeys, Value head) const {
  return MaskCombination{getMasks(), false}.keyRange(b, loc, rowBegin, rowEnd,
                                                     numQueries, numKeys, head);
}

Value IntersectionMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                                Value rowBegin, Value rowEnd,
                                                Value colBegin, Value colEnd,
                                                Value numQueries, Value numKeys,
                                                Value head) const {
  return MaskCombination{getMasks(), false}.isFullyVisible(
      b, loc, rowBegin, rowEnd, colBegin, colEnd, numQueries, numKeys, head);
}

FailureOr<Attribute> IntersectionMaskAttr::resolveFor(int64_t numKeys) const {
  FailureOr<ArrayAttr> masks = resolveMasks(getMasks(), numKeys);
  if (failed(masks))
    return failure();
  return Attribute(IntersectionMaskAttr::get(getContext(), *masks));
}

//===----------------------------------------------------------------------===//
// StridedMaskAttr
//===----------------------------------------------------------------------===//

LogicalResult
StridedMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t stride, bool, bool) {
  if (stride < 0)
    return emitError() << "the stride must be positive (or 0 for "
                          "ceil(sqrt(S))), got "
                       << stride;
  return verifyParameters(emitError, {{"stride", stride}});
}

/// The stride of a resolved strided mask (lowerings resolve first).
static int64_t resolvedStride(StridedMaskAttr mask) {
  assert(mask.getStride() > 0 && "resolve the mask for S first");
  return mask.getStride();
}

Value StridedMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                      Value col, Value numQueries,
                                      Value numKeys, Value head) const {
  MaskBuilder mb(b, loc);
  Value l = mb.c(resolvedStride(*this));
  Value pos = mb.position(kSparseAlignment, row, numQueries, numKeys);
  Value diff = mb.sub(pos, col);
  // A1: |p - j| < l (p - l < j <= p when autoregressive).
  Value local = mb.lt(diff, l);
  Value before = mb.le(col, pos);
  local = getBidirectional() ? mb.both(local, mb.lt(mb.sub(col, pos), l))
                             : mb.both(local, before);
  // A2: (p - j) mod l = 0 (and j <= p when autoregressive).
  Value strided = mb.eq(mb.rem(diff, l), mb.c(0));
  if (!getBidirectional())
    strided = mb.both(strided, before);
  if (!getSplitHeads())
    return mb.either(local, strided);
  return mb.select(mb.evenHead(head), local, strided);
}

std::pair<Value, Value>
StridedMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                               Value rowEnd, Value numQueries, Value numKeys,
                               Value head) const {
  MaskBuilder mb(b, loc);
  int64_t l = resolvedStride(*this);
  Value firstPos = mb.position(kSparseAlignment, rowBegin, numQueries, numKeys);
  Value lastPos =
      mb.position(kSparseAlignment, mb.add(rowEnd, -1), numQueries, numKeys);
  // A2 reaches back to the start (and, bidirectional, to the end).
  Value begin = mb.c(0);
  Value end = getBidirectional() ? numKeys : mb.add(lastPos, 1);
  if (!getSplitHeads())
    return {begin, end};
  // Heads of A1 see only their band.
  Value localBegin = mb.add(firstPos, -(l - 1));
  Value localEnd = mb.add(lastPos, getBidirectional() ? l : 1);
  Value even = mb.evenHead(head);
  return {mb.select(even, localBegin, begin), mb.select(even, localEnd, end)};
}

Value StridedMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                           Value rowBegin, Value rowEnd,
                                           Value colBegin, Value colEnd,
                                           Value numQueries, Value numKeys,
                                           Value head) const {
  // Within A1's band for every row of the tile (A2 alone has holes).
  MaskBuilder mb(b, loc);
  int64_t l = resolvedStride(*this);
  Value firstPos = mb.position(kSparseAlignment, rowBegin, numQueries, numKeys);
  Value lastPos =
      mb.position(kSparseAlignment, mb.add(rowEnd, -1), numQueries, numKeys);
  Value lastCol = mb.add(colEnd, -1);
  Value inBand = mb.lt(mb.sub(lastPos, colBegin), mb.c(l));
  inBand = mb.both(inBand, getBidirectional()
                               ? mb.lt(mb.sub(lastCol, firstPos), mb.c(l))
                               : mb.le(lastCol, firstPos));
  if (!getSplitHeads())
    return inBand;
  return mb.both(inBand, mb.evenHead(head));
}

FailureOr<Attribute> StridedMaskAttr::resolveFor(int64_t numKeys) const {
  if (getStride() > 0)
    return Attribute(*this);
  if (numKeys < 1)
    return failure();
  return Attribute(StridedMaskAttr::get(getContext(), ceilSqrt(numKeys),
                                        getBidirectional(), getSplitHeads()));
}

//===----------------------------------------------------------------------===//
// FixedMaskAttr
//===----------------------------------------------------------------------===//

LogicalResult
FixedMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                      int64_t block, int64_t summary, bool, bool) {
  if (block < 0)
    return emitError() << "the block length must be positive (or 0 for "
                          "ceil(sqrt(S))), got "
                       << block;
  if (summary < 1 || (block > 0 && summary > block))
    return emitError() << "the summary length must be in [1, block], got "
                       << summary << " with block = " << block;
  return verifyParameters(emitError, {{"block", block}, {"summary", summary}});
}

Value FixedMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                    Value col, Value numQueries, Value numKeys,
                                    Value head) const {
  assert(getBlock() > 0 && "resolve the mask for S first");
  MaskBuilder mb(b, loc);
  Value l = mb.c(getBlock());
  Value pos = mb.position(kSparseAlignment, row, numQueries, numKeys);
  // A1: the query's own block; A2: the last c keys of every block.
  Value own = mb.eq(mb.floorDiv(col, l), mb.floorDiv(pos, l));
  Value summary = mb.le(mb.c(getBlock() - getSummary()), mb.rem(col, l));
  if (!getBidirectional()) {
    Value before = mb.le(col, pos);
    own = mb.both(own, before);
    summary = mb.both(summary, before);
  }
  if (!getSplitHeads())
    return mb.either(own, summary);
  return mb.select(mb.evenHead(head), own, summary);
}

std::pair<Value, Value>
FixedMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                             Value rowEnd, Value numQueries, Value numKeys,
                             Value head) const {
  MaskBuilder mb(b, loc);
  Value l = mb.c(getBlock());
  Value firstPos = mb.position(kSparseAlignment, rowBegin, numQueries, numKeys);
  Value lastPos =
      mb.position(kSparseAlignment, mb.add(rowEnd, -1), numQueries, numKeys);
  Value end = getBidirectional() ? numKeys : mb.add(lastPos, 1);
  if (!getSplitHeads())
    return {mb.c(0), end};
  // Heads of A1 see only the blocks of their rows.
  Value blockBegin = mb.mul(mb.floorDiv(firstPos, l), l);
  Value blockEnd = mb.mul(mb.add(mb.floorDiv(lastPos, l), 1), l);
  if (!getBidirectional())
    blockEnd = mb.min(blockEnd, end);
  Value even = mb.evenHead(head);
  return {mb.select(even, blockBegin, mb.c(0)), mb.select(even, blockEnd, end)};
}

Value FixedMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                         Value rowBegin, Value rowEnd,
                                         Value colBegin, Value colEnd,
                                         Value numQueries, Value numKeys,
                                         Value head) const {
  // Every row and column of the tile in one block (A1), and before every row
  // when autoregressive.
  MaskBuilder mb(b, loc);
  Value l = mb.c(getBlock());
  Value firstPos = mb.position(kSparseAlignment, rowBegin, numQueries, numKeys);
  Value lastPos =
      mb.position(kSparseAlignment, mb.add(rowEnd, -1), numQueries, numKeys);
  Value lastCol = mb.add(colEnd, -1);
  Value block = mb.floorDiv(firstPos, l);
  Value oneBlock = mb.both(mb.eq(mb.floorDiv(lastPos, l), block),
                           mb.both(mb.eq(mb.floorDiv(colBegin, l), block),
                                   mb.eq(mb.floorDiv(lastCol, l), block)));
  if (!getBidirectional())
    oneBlock = mb.both(oneBlock, mb.le(lastCol, firstPos));
  if (!getSplitHeads())
    return oneBlock;
  return mb.both(oneBlock, mb.evenHead(head));
}

FailureOr<Attribute> FixedMaskAttr::resolveFor(int64_t numKeys) const {
  if (getBlock() > 0)
    return Attribute(*this);
  if (numKeys < 1)
    return failure();
  int64_t block = ceilSqrt(numKeys);
  if (getSummary() > block)
    return failure();
  return Attribute(FixedMaskAttr::get(getContext(), block, getSummary(),
                                      getBidirectional(), getSplitHeads()));
}

//===----------------------------------------------------------------------===//
// BlockwiseMaskAttr
//===----------------------------------------------------------------------===//

LogicalResult
BlockwiseMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                          int64_t queryBlock, int64_t keyBlock, BlockRelation) {
  if (queryBlock < 1 || keyBlock < 1)
    return emitError() << "blocks must hold at least one row and key, got "
                          "query_block = "
                       << queryBlock << " and key_block = " << keyBlock;
  return verifyParameters(emitError, {{"query_block", queryBlock},
                                      {"key_block", keyBlock}});
}

Value BlockwiseMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                        Value col, Value, Value, Value) const {
  MaskBuilder mb(b, loc);
  Value queryBlock = mb.floorDiv(row, mb.c(getQueryBlock()));
  Value keyBlock = mb.floorDiv(col, mb.c(getKeyBlock()));
  switch (getRelation()) {
  case BlockRelation::Less:
    return mb.lt(keyBlock, queryBlock);
  case BlockRelation::LessEqual:
    return mb.le(keyBlock, queryBlock);
  case BlockRelation::Equal:
    return mb.eq(keyBlock, queryBlock);
  case BlockRelation::GreaterEqual:
    return mb.le(queryBlock, keyBlock);
  case BlockRelation::Greater:
    return mb.lt(queryBlock, keyBlock);
  case BlockRelation::NotEqual:
    return mb.either(mb.lt(keyBlock, queryBlock), mb.lt(queryBlock, keyBlock));
  }
  llvm_unreachable("unknown block relation");
}

std::pair<Value, Value>
BlockwiseMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                                 Value rowEnd, Value, Value numKeys,
                                 Value) const {
  // Query blocks first..last meet key blocks by the relation; a key block k
  // covers keys [k kb, (k + 1) kb).
  MaskBuilder mb(b, loc);
  Value qb = mb.c(getQueryBlock()), kb = mb.c(getKeyBlock());
  Value first = mb.floorDiv(rowBegin, qb);
  Value last = mb.floorDiv(mb.add(rowEnd, -1), qb);
  auto start = [&](Value block) { return mb.mul(block, kb); };
  switch (getRelation()) {
  case BlockRelation::Less:
    return {mb.c(0), start(last)};
  case BlockRelation::LessEqual:
    return {mb.c(0), start(mb.add(last, 1))};
  case BlockRelation::Equal:
    return {start(first), start(mb.add(last, 1))};
  case BlockRelation::GreaterEqual:
    return {start(first), numKeys};
  case BlockRelation::Greater:
    return {start(mb.add(first, 1)), numKeys};
  case BlockRelation::NotEqual:
    return {mb.c(0), numKeys};
  }
  llvm_unreachable("unknown block relation");
}

Value BlockwiseMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                             Value rowBegin, Value rowEnd,
                                             Value colBegin, Value colEnd,
                                             Value, Value, Value) const {
  // The relation must hold between every key block [kFirst, kLast] of the
  // tile and every query block [qFirst, qLast].
  MaskBuilder mb(b, loc);
  Value qb = mb.c(getQueryBlock()), kb = mb.c(getKeyBlock());
  Value qFirst = mb.floorDiv(rowBegin, qb);
  Value qLast = mb.floorDiv(mb.add(rowEnd, -1), qb);
  Value kFirst = mb.floorDiv(colBegin, kb);
  Value kLast = mb.floorDiv(mb.add(colEnd, -1), kb);
  switch (getRelation()) {
  case BlockRelation::Less:
    return mb.lt(kLast, qFirst);
  case BlockRelation::LessEqual:
    return mb.le(kLast, qFirst);
  case BlockRelation::Equal:
    return mb.both(mb.both(mb.eq(kFirst, kLast), mb.eq(qFirst, qLast)),
                   mb.eq(kFirst, qFirst));
  case BlockRelation::GreaterEqual:
    return mb.le(qLast, kFirst);
  case BlockRelation::Greater:
    return mb.lt(qLast, kFirst);
  case BlockRelation::NotEqual:
    return mb.either(mb.lt(kLast, qFirst), mb.lt(qLast, kFirst));
  }
  llvm_unreachable("unknown block relation");
}

//===----------------------------------------------------------------------===//
// Score modifiers
//===----------------------------------------------------------------------===//

LogicalResult SoftcapAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  APFloat cap) {
  double value = cap.convertToDouble();
  if (!std::isfinite(value) || value <= 0)
    return emitError() << "#attn.softcap: the cap must be positive and "
                          "finite, not "
                       << value;
  return success();
}

/// unit * cap * tanh(s / cap) = C tanh(score / C) with C = unit * cap: the
/// cap measured in the lowering's unit.
Value SoftcapAttr::buildModifiedScore(OpBuilder &b, Location loc, Value score,
                                      double unit,
                                      const ScorePosition &) const {
  double cap = unit * getCap().convertToDouble();
  Type type = score.getType();
  Value capped = math::TanhOp::create(
      b, loc,
      arith::MulFOp::create(
          b, loc, score,
          arith::ConstantOp::create(b, loc, b.getFloatAttr(type, 1.0 / cap))));
  return arith::MulFOp::create(
      b, loc, capped,
      arith::ConstantOp::create(b, loc, b.getFloatAttr(type, cap)));
}

/// f'(s) = 1 - tanh^2(s / cap) = 1 - (f(s) / cap)^2 = 1 - (x / C)^2 for
/// x = unit * f(s) and C = unit * cap: no second tanh.
Value SoftcapAttr::buildDerivative(OpBuilder &b, Location loc, Value modified,
                                   double unit, const ScorePosition &) const {
  Type type = modified.getType();
  Value ratio = arith::MulFOp::create(
      b, loc, modified,
      arith::ConstantOp::create(
          b, loc,
          b.getFloatAttr(type, 1.0 / (unit * getCap().convertToDouble()))));
  return arith::SubFOp::create(
      b, loc, arith::ConstantOp::create(b, loc, b.getFloatAttr(type, 1.0)),
      arith::MulFOp::create(b, loc, ratio, ratio));
}

bool SoftcapAttr::dependsOnPositions() const { return false; }

LogicalResult AlibiAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                Alignment, APFloat maxBias) {
  double value = maxBias.convertToDouble();
  if (!std::isfinite(value) || value <= 0)
    return emitError() << "#attn.alibi: the largest bias must be positive and "
                          "finite, not "
                       << value;
  return success();
}

/// unit (s - m_h |pos(i) - j|) = score - (unit m_h) |pos(i) - j|, with
/// log2 m_h = -(b / c) x_h: x_h = h + 1 for the first c heads (c the
/// largest power of two not above H) and h - c + 1/2 for the others (the
/// paper's odd-rank slopes of 2c heads: (2 (h - c) + 1) / (2 c)).
Value AlibiAttr::buildModifiedScore(OpBuilder &b, Location loc, Value score,
                                    double unit,
                                    const ScorePosition &at) const {
  MaskBuilder mb(b, loc);
  Type f32 = score.getType();
  int64_t powerOfTwo = llvm::bit_floor(static_cast<uint64_t>(at.numHeads));
  auto constant = [&](double value) -> Value {
    return arith::ConstantOp::create(b, loc, b.getFloatAttr(f32, value));
  };
  auto toFloat = [&](Value index) -> Value {
    return arith::SIToFPOp::create(
        b, loc, f32,
        arith::IndexCastOp::create(b, loc, b.getI64Type(), index));
  };
  Value rank = toFloat(at.head);
  Value x = arith::AddFOp::create(b, loc, rank, constant(1.0));
  if (powerOfTwo != at.numHeads)
    x = arith::SelectOp::create(
        b, loc, mb.lt(at.head, mb.c(powerOfTwo)), x,
        arith::AddFOp::create(b, loc, rank,
                              constant(0.5 - static_cast<double>(powerOfTwo))));
  double bias = getMaxBias().convertToDouble();
  Value slope = math::Exp2Op::create(
      b, loc,
      arith::MulFOp::create(b, loc, x,
                            constant(-bias / static_cast<double>(powerOfTwo))));
  Value distance = toFloat(math::AbsIOp::create(
      b, loc,
      mb.sub(mb.position(getAlignment(), at.row, at.numQueries, at.numKeys),
             at.col)));
  return arith::SubFOp::create(
      b, loc, score,
      arith::MulFOp::create(b, loc,
                            arith::MulFOp::create(b, loc, slope,
                                                  constant(unit)),
                            distance));
}

/// f'(s) = 1: the bias does not depend on s.
Value AlibiAttr::buildDerivative(OpBuilder &, Location, Value, double,
                                 const ScorePosition &) const {
  return {};
}
