// RUN: attn-opt %s --attn-approximate-exp2 | FileCheck %s

// 2^x = 2^n 2^f: x clamped to [-127, 127], n = roundeven(x), f = x - n, a
// degree-6 polynomial in f (6 FMAs by Horner), 2^n in the exponent bits.
// CHECK-LABEL: func.func @vector
// CHECK-SAME: (%[[X:.*]]: vector<8xf32>)
// CHECK: %[[LO:.*]] = arith.maximumf %[[X]], %{{.*}} : vector<8xf32>
// CHECK: %[[CLAMPED:.*]] = arith.minimumf %[[LO]], %{{.*}} : vector<8xf32>
// CHECK: %[[N:.*]] = math.roundeven %[[CLAMPED]] : vector<8xf32>
// CHECK: %[[F:.*]] = arith.subf %[[CLAMPED]], %[[N]] : vector<8xf32>
// CHECK-COUNT-6: math.fma %{{.*}}, %[[F]], %{{.*}} : vector<8xf32>
// CHECK: %[[NI:.*]] = arith.fptosi %[[N]] : vector<8xf32> to vector<8xi32>
// CHECK: %[[BIASED:.*]] = arith.addi %[[NI]], %{{.*}} : vector<8xi32>
// CHECK: %[[BITS:.*]] = arith.shli %[[BIASED]], %{{.*}} : vector<8xi32>
// CHECK: %[[SCALE:.*]] = arith.bitcast %[[BITS]] : vector<8xi32> to vector<8xf32>
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : vector<8xf32>
// CHECK-NOT: math.exp2
func.func @vector(%x: vector<8xf32>) -> vector<8xf32> {
  %y = math.exp2 %x : vector<8xf32>
  return %y : vector<8xf32>
}

// Scalars too; f64 is left to the library.
// CHECK-LABEL: func.func @scalars
// CHECK: math.roundeven %{{.*}} : f32
// CHECK: math.exp2 %{{.*}} : f64
func.func @scalars(%x: f32, %y: f64) -> (f32, f64) {
  %a = math.exp2 %x : f32
  %b = math.exp2 %y : f64
  return %a, %b : f32, f64
}
