// RUN: attn-opt %s --attn-decompose-layers --split-input-file | FileCheck %s

// A cross-attention layer with one shared K/V head (multi-query): three
// projections contracting the feature dimension, head splits to
// (B, heads, T, width), one attn.attention that keeps mask, key lengths and
// scale, the head merge and the output projection.

// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
// CHECK-DAG: #[[Y:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-LABEL: func.func @cross_multi_query
// CHECK-SAME: (%[[X_IN:[a-z0-9]+]]: tensor<?x?x32xf32>, %[[SRC:[a-z0-9]+]]: tensor<?x?x24xf32>, %[[WQ:[a-z0-9]+]]: tensor<32x64xf32>, %[[WK:[a-z0-9]+]]: tensor<24x16xf32>, %[[WV:[a-z0-9]+]]: tensor<24x8xf32>, %[[WO:[a-z0-9]+]]: tensor<32x40xf32>, %[[LEN:[a-z0-9]+]]: tensor<?xi32>)
// CHECK: %[[QP:.*]] = linalg.generic {indexing_maps = [#[[X]], #[[W]], #[[Y]]], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%[[X_IN]], %[[WQ]] : tensor<?x?x32xf32>, tensor<32x64xf32>)
// CHECK: %[[QS:.*]] = tensor.expand_shape %[[QP]] {{\[}}[0], [1], [2, 3]] {{.*}} : tensor<?x?x64xf32> into tensor<?x?x4x16xf32>
// CHECK: %[[Q:.*]] = linalg.transpose ins(%[[QS]] : tensor<?x?x4x16xf32>) outs(%{{.*}} : tensor<?x4x?x16xf32>) permutation = [0, 2, 1, 3]
// CHECK: linalg.generic {{.*}} ins(%[[SRC]], %[[WK]] : tensor<?x?x24xf32>, tensor<24x16xf32>)
// CHECK: %[[K:.*]] = linalg.transpose ins(%{{.*}} : tensor<?x?x1x16xf32>) outs(%{{.*}} : tensor<?x1x?x16xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[SRC]], %[[WV]] : tensor<?x?x24xf32>, tensor<24x8xf32>)
// CHECK: %[[V:.*]] = linalg.transpose ins(%{{.*}} : tensor<?x?x1x8xf32>) outs(%{{.*}} : tensor<?x1x?x8xf32>)
// CHECK: %[[O:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] key_lengths(%[[LEN]]) mask(#attn.causal<bottom_right>) scale(5.000000e-01) : (tensor<?x4x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x8xf32>, tensor<?xi32>) -> tensor<?x4x?x8xf32>
// CHECK: %[[OT:.*]] = linalg.transpose ins(%[[O]] : tensor<?x4x?x8xf32>) outs(%{{.*}} : tensor<?x?x4x8xf32>) permutation = [0, 2, 1, 3]
// CHECK: %[[MERGED:.*]] = tensor.collapse_shape %[[OT]] {{\[}}[0], [1], [2, 3]] : tensor<?x?x4x8xf32> into tensor<?x?x32xf32>
// CHECK: %[[Y_OUT:.*]] = linalg.generic {{.*}} ins(%[[MERGED]], %[[WO]] : tensor<?x?x32xf32>, tensor<32x40xf32>)
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
// CHECK: linalg.generic {{.*}} ins(%[[X_IN]], %[[WQ]] : tensor<2x5x16xbf16>, tensor<16x16xbf16>) outs(%{{.*}} : tensor<2x5x16xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: linalg.generic {{.*}} ins(%[[X_IN]], %[[WK]] : tensor<2x5x16xbf16>, tensor<16x8xbf16>)
// CHECK: attn.attention {{.*}} : (tensor<2x4x5x4xbf16>, tensor<2x2x5x4xbf16>, tensor<2x2x5x4xbf16>) -> tensor<2x4x5x4xbf16>
func.func @self_grouped_bf16(%x: tensor<2x5x16xbf16>, %wq: tensor<16x16xbf16>,
    %wk: tensor<16x8xbf16>, %wv: tensor<16x8xbf16>, %wo: tensor<16x16xbf16>)
    -> tensor<2x5x16xbf16> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      : (tensor<2x5x16xbf16>, tensor<16x16xbf16>, tensor<16x8xbf16>,
         tensor<16x8xbf16>, tensor<16x16xbf16>) -> tensor<2x5x16xbf16>
  return %y : tensor<2x5x16xbf16>
}
