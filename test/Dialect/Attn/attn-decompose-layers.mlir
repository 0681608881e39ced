// RUN: attn-opt %s --attn-decompose-layers --split-input-file | FileCheck %s

// A cross-attention layer with one shared K/V head (multi-query): three
// projections contracting the feature dimension, written straight into the
// (B, heads, T, width) layout of attention by their indexing maps (the head
// split is no copy: no transpose, no reshape of the activations), one
// attn.attention that keeps mask, key lengths and scale, and the output
// projection reading the heads of its result in place (the merge).

// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d4)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d4, d1, d3)>
// CHECK-DAG: #[[P:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[O:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d4)>
// CHECK-DAG: #[[WO:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d3, d4, d2)>
// CHECK-DAG: #[[Y:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @cross_multi_query
// CHECK-SAME: (%[[X_IN:[a-z0-9]+]]: tensor<?x?x32xf32>, %[[SRC:[a-z0-9]+]]: tensor<?x?x24xf32>, %[[WQ:[a-z0-9]+]]: tensor<32x64xf32>, %[[WK:[a-z0-9]+]]: tensor<24x16xf32>, %[[WV:[a-z0-9]+]]: tensor<24x8xf32>, %[[WO_IN:[a-z0-9]+]]: tensor<32x40xf32>, %[[LEN:[a-z0-9]+]]: tensor<?xi32>)
// CHECK-NOT: linalg.transpose
// CHECK: %[[WQH:.*]] = tensor.expand_shape %[[WQ]] {{\[}}[0], [1, 2]] output_shape [32, 4, 16] : tensor<32x64xf32> into tensor<32x4x16xf32>
// CHECK: %[[Q:.*]] = linalg.generic {indexing_maps = [#[[X]], #[[W]], #[[P]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[X_IN]], %[[WQH]] : tensor<?x?x32xf32>, tensor<32x4x16xf32>) outs(%{{.*}} : tensor<?x4x?x16xf32>)
// CHECK: %[[K:.*]] = linalg.generic {{.*}} ins(%[[SRC]], %{{.*}} : tensor<?x?x24xf32>, tensor<24x1x16xf32>) outs(%{{.*}} : tensor<?x1x?x16xf32>)
// CHECK: %[[V:.*]] = linalg.generic {{.*}} ins(%[[SRC]], %{{.*}} : tensor<?x?x24xf32>, tensor<24x1x8xf32>) outs(%{{.*}} : tensor<?x1x?x8xf32>)
// CHECK: %[[ATT:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] key_lengths(%[[LEN]]) mask(#attn.causal<bottom_right>) scale(5.000000e-01) : (tensor<?x4x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x8xf32>, tensor<?xi32>) -> tensor<?x4x?x8xf32>
// CHECK: %[[WOH:.*]] = tensor.expand_shape %[[WO_IN]] {{\[}}[0, 1], [2]] output_shape [4, 8, 40] : tensor<32x40xf32> into tensor<4x8x40xf32>
// CHECK: %[[Y_OUT:.*]] = linalg.generic {indexing_maps = [#[[O]], #[[WO]], #[[Y]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[ATT]], %[[WOH]] : tensor<?x4x?x8xf32>, tensor<4x8x40xf32>)
// CHECK-NOT: linalg.transpose
// CHECK: return %[[Y_OUT]] : tensor<?x?x40xf32>
// CHECK-NOT: attn.multi_head
func.func @cross_multi_query(%x: tensor<?x?x32xf32>, %src: tensor<?x?x24xf32>,
    %wq: tensor<32x64xf32>, %wk: tensor<24x16xf32>, %wv: tensor<24x8xf32>,
    %wo: tensor<32x40xf32>, %len: tensor<?xi32>) -> tensor<?x?x40xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo source(%src) key_lengths(%len)
      heads(4) kv_heads(1) mask(#attn.causal<bottom_right>) scale(0.5)
      : (tensor<?x?x32xf32>, tensor<32x64xf32>, tensor<24x16xf32>,
         tensor<24x8xf32>, tensor<32x40xf32>, tensor<?x?x24xf32>,
         tensor<?xi32>) -> tensor<?x?x40xf32>
  return %y : tensor<?x?x40xf32>
}

// -----

// Self attention projects K and V from the input; bf16 projections are
// accumulated in f32 and narrowed before attention.

// CHECK-LABEL: func.func @self_grouped_bf16
// CHECK-SAME: (%[[X_IN:[a-z0-9]+]]: tensor<2x5x16xbf16>, %[[WQ:[a-z0-9]+]]: tensor<16x16xbf16>, %[[WK:[a-z0-9]+]]: tensor<16x8xbf16>
// CHECK: linalg.generic {{.*}} ins(%[[X_IN]], %{{.*}} : tensor<2x5x16xbf16>, tensor<16x4x4xbf16>) outs(%{{.*}} : tensor<2x4x5x4xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: linalg.generic {{.*}} ins(%[[X_IN]], %{{.*}} : tensor<2x5x16xbf16>, tensor<16x2x4xbf16>)
// CHECK: attn.attention {{.*}} : (tensor<2x4x5x4xbf16>, tensor<2x2x5x4xbf16>, tensor<2x2x5x4xbf16>) -> tensor<2x4x5x4xbf16>
func.func @self_grouped_bf16(%x: tensor<2x5x16xbf16>, %wq: tensor<16x16xbf16>,
    %wk: tensor<16x8xbf16>, %wv: tensor<16x8xbf16>, %wo: tensor<16x16xbf16>)
    -> tensor<2x5x16xbf16> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      : (tensor<2x5x16xbf16>, tensor<16x16xbf16>, tensor<16x8xbf16>,
         tensor<16x8xbf16>, tensor<16x16xbf16>) -> tensor<2x5x16xbf16>
  return %y : tensor<2x5x16xbf16>
}
