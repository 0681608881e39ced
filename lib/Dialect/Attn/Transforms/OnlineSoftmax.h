//===- OnlineSoftmax.h - pieces shared by the flash lowerings ---*- C++ -*-===//
//
// The CPU tiles (TileOnlineSoftmax.cpp) and the GPU kernel
// (LowerAttentionToGPU.cpp) compute the same online softmax in the log2
// domain; these are the index arithmetic and the two scalar steps they share.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H
#define ATTN_LIB_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

namespace mlir::attn {

constexpr double kLog2E = 1.4426950408889634;
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// Index arithmetic with fewer words.
class IndexBuilder {
public:
  IndexBuilder(OpBuilder &b, Location loc) : b(b), loc(loc) {}

  Value c(int64_t value) {
    return arith::ConstantIndexOp::create(b, loc, value);
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, loc, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, loc, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, loc, x, y); }
  Value div(Value x, Value y) { return arith::DivSIOp::create(b, loc, x, y); }
  Value rem(Value x, Value y) { return arith::RemSIOp::create(b, loc, x, y); }
  Value ceilDiv(Value x, Value y) {
    return arith::CeilDivSIOp::create(b, loc, x, y);
  }
  Value min(Value x, Value y) { return arith::MinSIOp::create(b, loc, x, y); }
  Value max(Value x, Value y) { return arith::MaxSIOp::create(b, loc, x, y); }
  Value le(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::sle, x, y);
  }
  Value lt(Value x, Value y) {
    return arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, x, y);
  }
  /// Size `d` of a ranked tensor or memref.
  Value dim(Value shaped, int64_t d) {
    if (isa<MemRefType>(shaped.getType()))
      return memref::DimOp::create(b, loc, shaped, d);
    return tensor::DimOp::create(b, loc, shaped, d);
  }

private:
  OpBuilder &b;
  Location loc;
};

inline Value f32Constant(OpBuilder &b, Location loc, double value) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(value));
}

/// The running maximum as an exp2 offset: a row that has seen no key yet has
/// m = -inf, and exp2(x - m) would be exp2(-inf + inf) = NaN; with offset 0
/// its masked scores give exp2(-inf) = 0.
inline Value safeOffset(OpBuilder &b, Location loc, Value rowMax) {
  Value empty = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OEQ, rowMax,
                                      f32Constant(b, loc, kNegInf));
  return arith::SelectOp::create(b, loc, empty, f32Constant(b, loc, 0), rowMax);
}

inline Value exp2Of(OpBuilder &b, Location loc, Value x, Value offset) {
  return math::Exp2Op::create(b, loc, arith::SubFOp::create(b, loc, x, offset));
}

} // namespace mlir::attn

#endif // ATTN_LIB_DIALECT_ATTN_TRANSFORMS_ONLINESOFTMAX_H
