// RUN: attn-opt %s --attn-pool-kv-heads=kv-heads=2 --split-input-file --verify-diagnostics | FileCheck %s
// RUN: attn-opt %s --attn-pool-kv-heads=kv-heads=2 --split-input-file --verify-diagnostics | attn-opt --split-input-file | FileCheck %s --check-prefix=VALID

// A multi-head layer (8 heads of D = 4, Dv = 6) becomes grouped-query with 2
// K/V heads: W_k (32 x 8*4) viewed as (32, 2, 4, 4), the 4 heads of each
// group summed in f32 and divided by 4, back to (32, 2*4); W_v alike with
// its own head width. W_q, W_o and the number of query heads stay.
// The loops (d0, d1, d2, d3) = (f, g, w, j) read head g k + j at (f, g, j, w).
// CHECK-DAG: #[[HEADS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3, d2)>
// CHECK-DAG: #[[GROUPS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @mha_to_gqa
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<?x?x32xf32>, %[[WQ:[a-z0-9]+]]: tensor<32x32xf32>, %[[WK:[a-z0-9]+]]: tensor<32x32xf32>, %[[WV:[a-z0-9]+]]: tensor<32x48xf32>, %[[WO:[a-z0-9]+]]: tensor<48x32xf32>)
// CHECK: %[[K_HEADS:.*]] = tensor.expand_shape %[[WK]] {{\[}}[0], [1, 2, 3]] output_shape [32, 2, 4, 4] : tensor<32x32xf32> into tensor<32x2x4x4xf32>
// CHECK: %[[K_SUM:.*]] = linalg.generic {indexing_maps = [#[[HEADS]], #[[GROUPS]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[K_HEADS]] : tensor<32x2x4x4xf32>) outs(%{{.*}} : tensor<32x2x4xf32>)
// CHECK: %[[FOUR:.*]] = arith.constant 4.000000e+00 : f32
// CHECK: arith.divf %{{.*}}, %[[FOUR]] : f32
// CHECK: %[[WK2:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2]] : tensor<32x2x4xf32> into tensor<32x8xf32>
// CHECK: tensor.expand_shape %[[WV]] {{\[}}[0], [1, 2, 3]] output_shape [32, 2, 4, 6] : tensor<32x48xf32> into tensor<32x2x4x6xf32>
// CHECK: %[[WV2:.*]] = tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2]] : tensor<32x2x6xf32> into tensor<32x12xf32>
// CHECK: attn.multi_head %[[X]], %[[WQ]], %[[WK2]], %[[WV2]], %[[WO]] heads(8) kv_heads(2) mask(#attn.causal<top_left>)
// CHECK-SAME: (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x8xf32>, tensor<32x12xf32>, tensor<48x32xf32>) -> tensor<?x?x32xf32>
// VALID-LABEL: func.func @mha_to_gqa
// VALID: kv_heads(2)
func.func @mha_to_gqa(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>,
                      %wk: tensor<32x32xf32>, %wv: tensor<32x48xf32>,
                      %wo: tensor<48x32xf32>) -> tensor<?x?x32xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(8)
      mask(#attn.causal<top_left>)
      : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>,
         tensor<32x48xf32>, tensor<48x32xf32>) -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

// -----

// Already 2 K/V heads: left alone.
// CHECK-LABEL: func.func @already_grouped
// CHECK-NOT: linalg.generic
// CHECK: attn.multi_head {{.*}} heads(4) kv_heads(2)
func.func @already_grouped(%x: tensor<?x?x16xf32>, %wq: tensor<16x16xf32>,
                           %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>,
                           %wo: tensor<16x16xf32>) -> tensor<?x?x16xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      : (tensor<?x?x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>,
         tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<?x?x16xf32>
  return %y : tensor<?x?x16xf32>
}

// -----

func.func @not_divisible(%x: tensor<?x?x24xf32>, %wq: tensor<24x24xf32>,
                         %wk: tensor<24x24xf32>, %wv: tensor<24x24xf32>,
                         %wo: tensor<24x24xf32>) -> tensor<?x?x24xf32> {
  // expected-error @+1 {{cannot pool 3 key/value heads into 2 groups: 2 does not divide 3}}
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(3) kv_heads(3)
      : (tensor<?x?x24xf32>, tensor<24x24xf32>, tensor<24x24xf32>,
         tensor<24x24xf32>, tensor<24x24xf32>) -> tensor<?x?x24xf32>
  return %y : tensor<?x?x24xf32>
}
