//===- GenericBuilder.h - terse construction of linalg.generic --*- C++ -*-===//
//
// Shared by the lowerings of this directory that spell computations as
// linalg.generic ops on tensors.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_GENERICBUILDER_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_GENERICBUILDER_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <optional>

namespace mlir::attn {

constexpr utils::IteratorType kPar = utils::IteratorType::parallel;
constexpr utils::IteratorType kRed = utils::IteratorType::reduction;

/// Builds the linalg.generic ops of one attention op over the loop dims
/// (b, hk, g, i, ...) with fewer words per op.
class GenericBuilder {
public:
  GenericBuilder(OpBuilder &builder, Location loc)
      : builder(builder), loc(loc), ctx(builder.getContext()) {}

  /// Projection of `numDims` loop dims onto `dims`.
  AffineMap map(unsigned numDims, ArrayRef<unsigned> dims) const {
    return AffineMap::getMultiDimMapWithTargets(numDims, dims, ctx);
  }

  /// A tensor of `sizes` filled with `value`, or left empty without one.
  Value tensor(ArrayRef<OpFoldResult> sizes, Type elementType,
               std::optional<double> value = std::nullopt) const {
    Value empty = tensor::EmptyOp::create(builder, loc, sizes, elementType);
    if (!value)
      return empty;
    Value fill = arith::ConstantOp::create(
        builder, loc, builder.getFloatAttr(elementType, *value));
    return linalg::FillOp::create(builder, loc, fill, empty).getResult(0);
  }

  /// One linalg.generic with a single result written into `init`.
  Value generic(ValueRange inputs, Value init, ArrayRef<AffineMap> maps,
                ArrayRef<utils::IteratorType> iterators,
                function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
    auto op = linalg::GenericOp::create(
        builder, loc, TypeRange{init.getType()}, inputs, ValueRange{init}, maps,
        iterators, [&](OpBuilder &b, Location l, ValueRange args) {
          linalg::YieldOp::create(b, l, body(b, l, args));
        });
    return op.getResult(0);
  }

private:
  OpBuilder &builder;
  Location loc;
  MLIRContext *ctx;
};

/// `fn` of each element of `tensor`, written into `init` (same shape).
inline Value mapElementsInto(
    OpBuilder &builder, Location loc, Value tensor, Value init,
    function_ref<Value(OpBuilder &, Location, Value)> fn) {
  unsigned rank = cast<RankedTensorType>(tensor.getType()).getRank();
  AffineMap identity =
      AffineMap::getMultiDimIdentityMap(rank, builder.getContext());
  return GenericBuilder(builder, loc)
      .generic({tensor}, init, {identity, identity},
               SmallVector<utils::IteratorType>(rank, kPar),
               [&](OpBuilder &b, Location l, ValueRange a) {
                 return fn(b, l, a[0]);
               });
}

/// A float `x` as `type`: itself, truncated or extended.
inline Value convertFloat(OpBuilder &b, Location loc, Value x, Type type) {
  Type from = x.getType();
  if (from == type)
    return x;
  if (type.getIntOrFloatBitWidth() < from.getIntOrFloatBitWidth())
    return arith::TruncFOp::create(b, loc, type, x);
  return arith::ExtFOp::create(b, loc, type, x);
}

/// `tensor` converted elementwise to the element type of `init` (same
/// shape), written into `init`.
inline Value convertElementsInto(OpBuilder &builder, Location loc,
                                 Value tensor, Value init) {
  Type elementType = getElementTypeOrSelf(init.getType());
  return mapElementsInto(builder, loc, tensor, init,
                         [&](OpBuilder &b, Location l, Value x) {
                           return convertFloat(b, l, x, elementType);
                         });
}

/// Converts a float tensor to `elementType` elementwise (no-op if equal).
inline Value convertElements(OpBuilder &builder, Location loc, Value tensor,
                             Type elementType) {
  if (getElementTypeOrSelf(tensor.getType()) == elementType)
    return tensor;
  return convertElementsInto(
      builder, loc, tensor,
      GenericBuilder(builder, loc)
          .tensor(tensor::getMixedSizes(builder, loc, tensor), elementType));
}

/// An f32 `tensor` times `factor`, converted to the element type of `init`
/// (same shape) and written into it, in one pass.
inline Value scaleElementsInto(OpBuilder &builder, Location loc, Value tensor,
                               double factor, Value init) {
  Type elementType = getElementTypeOrSelf(init.getType());
  return mapElementsInto(
      builder, loc, tensor, init, [&](OpBuilder &b, Location l, Value x) {
        Value scaled = arith::MulFOp::create(
            b, l, x, arith::ConstantOp::create(b, l, b.getF32FloatAttr(factor)));
        return convertFloat(b, l, scaled, elementType);
      });
}

/// An f32 `tensor` times `factor`, converted to `elementType`, in one pass
/// (no pass at all for a factor of 1 in f32).
inline Value scaleElements(OpBuilder &builder, Location loc, Value tensor,
                           double factor, Type elementType) {
  if (factor == 1.0)
    return convertElements(builder, loc, tensor, elementType);
  return scaleElementsInto(
      builder, loc, tensor, factor,
      GenericBuilder(builder, loc)
          .tensor(tensor::getMixedSizes(builder, loc, tensor), elementType));
}

/// The sum of `parts` (tensors of one type), added in f32 and converted
/// back to their element type: a half-precision sum is rounded once.
inline Value sumElements(OpBuilder &builder, Location loc,
                         ArrayRef<Value> parts) {
  if (parts.size() == 1)
    return parts.front();
  auto type = cast<RankedTensorType>(parts.front().getType());
  Type element = type.getElementType();
  AffineMap identity =
      AffineMap::getMultiDimIdentityMap(type.getRank(), builder.getContext());
  SmallVector<AffineMap> maps(parts.size() + 1, identity);
  Value init = tensor::EmptyOp::create(
      builder, loc, tensor::getMixedSizes(builder, loc, parts.front()),
      element);
  auto sum = linalg::GenericOp::create(
      builder, loc, TypeRange{init.getType()}, parts, ValueRange{init}, maps,
      SmallVector<utils::IteratorType>(type.getRank(), kPar),
      [&](OpBuilder &b, Location l, ValueRange args) {
        Type f32 = b.getF32Type();
        auto widen = [&](Value x) -> Value {
          return x.getType() == f32 ? x
                                    : arith::ExtFOp::create(b, l, f32, x)
                                          .getResult();
        };
        Value total = widen(args[0]);
        for (Value x : args.drop_front().drop_back())
          total = arith::AddFOp::create(b, l, total, widen(x));
        if (element != f32)
          total = arith::TruncFOp::create(b, l, element, total);
        linalg::YieldOp::create(b, l, total);
      });
  return sum.getResult(0);
}

/// f32 of a scalar `x` (f16, bf16 or f32).
inline Value toF32(OpBuilder &b, Location loc, Value x) {
  Type f32 = b.getF32Type();
  return x.getType() == f32 ? x : arith::ExtFOp::create(b, loc, f32, x);
}

/// The body of a product's reduction, (a, b, acc) -> acc + f32(a) f32(b),
/// reassociable so that LLVM can vectorize the sum.
inline Value multiplyAdd(OpBuilder &b, Location loc, ValueRange args) {
  auto flags = arith::FastMathFlags::reassoc | arith::FastMathFlags::contract;
  Value prod = arith::MulFOp::create(b, loc, toF32(b, loc, args[0]),
                                     toF32(b, loc, args[1]), flags);
  return arith::AddFOp::create(b, loc, args.back(), prod, flags);
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_GENERICBUILDER_H
