// RUN: attn-opt %s --attn-lower-combine | FileCheck %s

// Per row: M = max lse_k, the weights 2^((lse_k - M) log2 e) / W (0 when no
// part sees a key, W = 0) and the union's lse; per element the weighted sum,
// accumulated in f32 and rounded once to the result's type.
// CHECK-LABEL: func.func @combine
// CHECK: %[[ROWS:.*]]:3 = linalg.generic {{.*}} ins(%arg2, %arg3 : tensor<2x4x7xf32>, tensor<2x4x7xf32>) outs({{.*}}, {{.*}}, {{.*}} : tensor<2x4x7xf32>, tensor<2x4x7xf32>, tensor<2x4x7xf32>)
// CHECK: arith.maximumf
// CHECK: math.exp2
// CHECK: math.exp2
// CHECK: arith.cmpf ugt
// CHECK: arith.divf
// CHECK: math.log2
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} ins(%arg0, %arg1, %[[ROWS]]#0, %[[ROWS]]#1 : tensor<2x4x7x8xf16>, tensor<2x4x7x8xf16>, tensor<2x4x7xf32>, tensor<2x4x7xf32>)
// CHECK: arith.extf
// CHECK: arith.truncf
// CHECK: return %[[OUT]], %[[ROWS]]#2
func.func @combine(%o1: tensor<2x4x7x8xf16>, %o2: tensor<2x4x7x8xf16>,
                   %l1: tensor<2x4x7xf32>, %l2: tensor<2x4x7xf32>)
    -> (tensor<2x4x7x8xf16>, tensor<2x4x7xf32>) {
  %o, %l = attn.combine (%o1, %o2) lse(%l1, %l2)
      : (tensor<2x4x7x8xf16>, tensor<2x4x7x8xf16>, tensor<2x4x7xf32>,
         tensor<2x4x7xf32>) -> (tensor<2x4x7x8xf16>, tensor<2x4x7xf32>)
  return %o, %l : tensor<2x4x7x8xf16>, tensor<2x4x7xf32>
}
