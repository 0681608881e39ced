// RUN: attn-opt %s --attn-approximate-exp2 | FileCheck %s
// RUN: attn-opt %s --attn-approximate-exp2=include-exp | FileCheck %s --check-prefix=EXP

// 2^x = 2^n 2^f: x clamped to [-127, 127], n = floor(x + 1/2) as a truncation
// of x + 128.5 (positive), f = x - n, a
// degree-6 polynomial in f (6 FMAs by Horner), 2^n in the exponent bits.
// CHECK-LABEL: func.func @vector
// CHECK-SAME: (%[[X:.*]]: vector<8xf32>)
// CHECK: %[[LO:.*]] = arith.maximumf %[[X]], %{{.*}} : vector<8xf32>
// CHECK: %[[CLAMPED:.*]] = arith.minimumf %[[LO]], %{{.*}} : vector<8xf32>
// CHECK: %[[SHIFTED:.*]] = arith.addf %[[CLAMPED]], %{{.*}} : vector<8xf32>
// CHECK: %[[T:.*]] = arith.fptosi %[[SHIFTED]] : vector<8xf32> to vector<8xi32>
// CHECK: %[[NI:.*]] = arith.subi %[[T]], %{{.*}} : vector<8xi32>
// CHECK: %[[N:.*]] = arith.sitofp %[[NI]] : vector<8xi32> to vector<8xf32>
// CHECK: %[[F:.*]] = arith.subf %[[CLAMPED]], %[[N]] : vector<8xf32>
// CHECK-COUNT-6: math.fma %{{.*}}, %[[F]], %{{.*}} : vector<8xf32>
// CHECK: %[[BIASED:.*]] = arith.addi %[[NI]], %{{.*}} : vector<8xi32>
// CHECK: %[[BITS:.*]] = arith.shli %[[BIASED]], %{{.*}} : vector<8xi32>
// CHECK: %[[SCALE:.*]] = arith.bitcast %[[BITS]] : vector<8xi32> to vector<8xf32>
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : vector<8xf32>
// CHECK-NOT: math.roundeven
// CHECK-NOT: math.exp2
func.func @vector(%x: vector<8xf32>) -> vector<8xf32> {
  %y = math.exp2 %x : vector<8xf32>
  return %y : vector<8xf32>
}

// Scalars too; f64 is left to the library.
// CHECK-LABEL: func.func @scalars
// CHECK: arith.fptosi %{{.*}} : f32 to i32
// CHECK: math.exp2 %{{.*}} : f64
func.func @scalars(%x: f32, %y: f64) -> (f32, f64) {
  %a = math.exp2 %x : f32
  %b = math.exp2 %y : f64
  return %a, %b : f32, f64
}

// exp is left to the library, unless include-exp: exp(x) = exp2(x log2(e)),
// then the same polynomial.
// CHECK-LABEL: func.func @natural
// CHECK: math.exp
// EXP-LABEL: func.func @natural
// EXP: arith.mulf %{{.*}}, %{{.*}} : f32
// EXP-COUNT-6: math.fma
// EXP-NOT: math.exp
func.func @natural(%x: f32) -> f32 {
  %y = math.exp %x : f32
  return %y : f32
}

// tanh (soft-capping) by MLIR's rational approximation: x clamped to about
// [-8, 8], an odd polynomial over an even one, x itself near 0; no call.
// CHECK-LABEL: func.func @hyperbolic
// CHECK: arith.cmpf ult
// CHECK-NOT: math.tanh
// CHECK: arith.divf %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK-NOT: math.tanh
func.func @hyperbolic(%x: vector<16xf32>) -> vector<16xf32> {
  %y = math.tanh %x : vector<16xf32>
  return %y : vector<16xf32>
}
