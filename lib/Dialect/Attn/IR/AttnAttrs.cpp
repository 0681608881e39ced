//===- AttnAttrs.cpp - attributes of the attn dialect ---------------------===//

#include "attn/Dialect/Attn/IR/AttnAttrs.h"
#include "attn/Dialect/Attn/IR/AttnDialect.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

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

/// The key position of query `row`: `row` when aligned top-left, and
/// `row + numKeys - numQueries` when aligned bottom-right (the last query sits
/// on the last valid key). May be negative: such a row sees no key.
static Value buildQueryPosition(OpBuilder &b, Location loc, Alignment alignment,
                                Value row, Value numQueries, Value numKeys) {
  if (alignment == Alignment::TopLeft)
    return row;
  Value offset = arith::SubIOp::create(b, loc, numKeys, numQueries);
  return arith::AddIOp::create(b, loc, row, offset);
}

static Value buildIndex(OpBuilder &b, Location loc, int64_t value) {
  return arith::ConstantIndexOp::create(b, loc, value);
}

static Value buildAddConstant(OpBuilder &b, Location loc, Value value,
                              int64_t constant) {
  return arith::AddIOp::create(b, loc, value, buildIndex(b, loc, constant));
}

/// lhs <= rhs on signed indices.
static Value buildSLE(OpBuilder &b, Location loc, Value lhs, Value rhs) {
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, lhs, rhs);
}

//===----------------------------------------------------------------------===//
// CausalMaskAttr
//===----------------------------------------------------------------------===//

Value CausalMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                     Value col, Value numQueries,
                                     Value numKeys) const {
  // visible <=> col <= pos(row)
  Value pos =
      buildQueryPosition(b, loc, getAlignment(), row, numQueries, numKeys);
  return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, col, pos);
}

std::pair<Value, Value>
CausalMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                              Value rowEnd, Value numQueries,
                              Value numKeys) const {
  // Keys 0 .. pos(rowEnd - 1): the last row sees the most.
  Value lastRow = buildAddConstant(b, loc, rowEnd, -1);
  Value lastPos =
      buildQueryPosition(b, loc, getAlignment(), lastRow, numQueries, numKeys);
  return {buildIndex(b, loc, 0), buildAddConstant(b, loc, lastPos, 1)};
}

Value CausalMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                          Value rowBegin, Value rowEnd,
                                          Value colBegin, Value colEnd,
                                          Value numQueries,
                                          Value numKeys) const {
  // The first row sees the least: colEnd - 1 <= pos(rowBegin).
  Value firstPos =
      buildQueryPosition(b, loc, getAlignment(), rowBegin, numQueries, numKeys);
  return buildSLE(b, loc, buildAddConstant(b, loc, colEnd, -1), firstPos);
}

//===----------------------------------------------------------------------===//
// WindowMaskAttr
//===----------------------------------------------------------------------===//

LogicalResult
WindowMaskAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t left, int64_t right, Alignment alignment) {
  if (left < 0 || right < 0)
    return emitError() << "window extents must be non-negative, got left = "
                       << left << " and right = " << right;
  return success();
}

Value WindowMaskAttr::buildIsVisible(OpBuilder &b, Location loc, Value row,
                                     Value col, Value numQueries,
                                     Value numKeys) const {
  // visible <=> pos(row) - left <= col <= pos(row) + right
  Value pos =
      buildQueryPosition(b, loc, getAlignment(), row, numQueries, numKeys);
  Value lo = arith::SubIOp::create(b, loc, pos, buildIndex(b, loc, getLeft()));
  Value hi = arith::AddIOp::create(b, loc, pos, buildIndex(b, loc, getRight()));
  Value afterLo =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sge, col, lo);
  Value beforeHi =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, col, hi);
  return arith::AndIOp::create(b, loc, afterLo, beforeHi);
}

std::pair<Value, Value>
WindowMaskAttr::buildKeyRange(OpBuilder &b, Location loc, Value rowBegin,
                              Value rowEnd, Value numQueries,
                              Value numKeys) const {
  // From pos(rowBegin) - left to pos(rowEnd - 1) + right, inclusive.
  Value firstPos =
      buildQueryPosition(b, loc, getAlignment(), rowBegin, numQueries, numKeys);
  Value lastPos = buildQueryPosition(b, loc, getAlignment(),
                                     buildAddConstant(b, loc, rowEnd, -1),
                                     numQueries, numKeys);
  return {buildAddConstant(b, loc, firstPos, -getLeft()),
          buildAddConstant(b, loc, lastPos, getRight() + 1)};
}

Value WindowMaskAttr::buildIsFullyVisible(OpBuilder &b, Location loc,
                                          Value rowBegin, Value rowEnd,
                                          Value colBegin, Value colEnd,
                                          Value numQueries,
                                          Value numKeys) const {
  // The last row's window starts latest and the first row's ends earliest:
  // pos(rowEnd - 1) - left <= colBegin and colEnd - 1 <= pos(rowBegin) + right.
  Value firstPos =
      buildQueryPosition(b, loc, getAlignment(), rowBegin, numQueries, numKeys);
  Value lastPos = buildQueryPosition(b, loc, getAlignment(),
                                     buildAddConstant(b, loc, rowEnd, -1),
                                     numQueries, numKeys);
  Value startsBefore =
      buildSLE(b, loc, buildAddConstant(b, loc, lastPos, -getLeft()), colBegin);
  Value endsAfter = buildSLE(b, loc, buildAddConstant(b, loc, colEnd, -1),
                             buildAddConstant(b, loc, firstPos, getRight()));
  return arith::AndIOp::create(b, loc, startsBefore, endsAfter);
}
