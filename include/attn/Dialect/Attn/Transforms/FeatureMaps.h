//===- FeatureMaps.h - linear attention's phi and its derivative -*- C++ -*-===//
//
// The feature maps of attn.linear_attention on one f32 element: the
// forward's lowering applies phi, the generated backward phi' too.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_FEATUREMAPS_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_FEATUREMAPS_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"

namespace mlir::attn {

/// exp(x) of an f32 x as exp2(x log2 e), the exponential the lowerings
/// approximate.
inline Value expViaExp2(OpBuilder &b, Location loc, Value x) {
  return math::Exp2Op::create(
      b, loc, arith::MulFOp::create(b, loc, x, f32Constant(b, loc, kLog2E)));
}

/// phi(x) for an f32 x: elu(x) + 1 = x + 1 for x > 0, exp(x) otherwise;
/// relu; x.
inline Value applyFeature(OpBuilder &b, Location loc, FeatureMap map,
                          Value x) {
  Value zero = f32Constant(b, loc, 0);
  switch (map) {
  case FeatureMap::EluPlusOne: {
    Value positive =
        arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, zero);
    Value plusOne = arith::AddFOp::create(b, loc, x, f32Constant(b, loc, 1));
    return arith::SelectOp::create(b, loc, positive, plusOne,
                                   expViaExp2(b, loc, x));
  }
  case FeatureMap::Relu:
    return arith::MaximumFOp::create(b, loc, x, zero);
  case FeatureMap::Identity:
    return x;
  }
  return x;
}

/// phi'(x): 1 for x > 0 and exp(x) otherwise (elu + 1); 1 for x > 0 and 0
/// otherwise (relu); 1.
inline Value applyFeatureDerivative(OpBuilder &b, Location loc, FeatureMap map,
                                    Value x) {
  Value zero = f32Constant(b, loc, 0), one = f32Constant(b, loc, 1);
  Value positive =
      arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OGT, x, zero);
  switch (map) {
  case FeatureMap::EluPlusOne:
    return arith::SelectOp::create(b, loc, positive, one,
                                   expViaExp2(b, loc, x));
  case FeatureMap::Relu:
    return arith::SelectOp::create(b, loc, positive, one, zero);
  case FeatureMap::Identity:
    return one;
  }
  return one;
}

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_FEATUREMAPS_H
