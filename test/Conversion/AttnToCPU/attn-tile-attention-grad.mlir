// RUN: attn-opt %s --attn-tile-attention-grad | FileCheck %s --implicit-check-not=200x200

// The flash backward: the row dots dd once; then in parallel over (batch
// row, K/V head, key tile) dk and dv of the tile, over the group's query
// heads and the query tiles that meet it (a causal mask skips the others);
// then in parallel over (batch row, query head, query tile) dq. Every
// buffer is a tile: nothing of 200 x 200.

// CHECK-LABEL: func.func @gradients
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x4x200x16xf32>, %[[KEY:[a-z0-9]+]]: tensor<1x2x200x16xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x200x8xf32>, %[[O:[a-z0-9]+]]: tensor<1x4x200x8xf32>, %[[DO:[a-z0-9]+]]: tensor<1x4x200x8xf32>, %[[LSE:[a-z0-9]+]]: tensor<1x4x200xf32>)
// CHECK: %[[DD:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[DO]], %[[O]] :
// CHECK: %[[KV:.*]]:2 = scf.forall (%[[B:.*]], %[[HK:.*]], %[[KT:.*]]) in (1, 2, %{{.*}}) shared_outs(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<1x2x200x16xf32>, tensor<1x2x200x8xf32>)
// CHECK: %[[KEYS:.*]] = tensor.extract_slice %[[KEY]][%[[B]], %[[HK]], %{{.*}}, 0] [1, 1, %{{.*}}, 16]
// CHECK: scf.for %{{.*}} = %c0 to %c2 step %c1
// CHECK: scf.for
// CHECK: scf.if
// CHECK: %[[S:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[KEYS]] : tensor<?x16xf32>, tensor<?x16xf32>) outs(%{{.*}} : tensor<?x?xf32>)
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[S]], %{{.*}} : tensor<?x?xf32>, tensor<?xf32>)
// CHECK: math.exp
// CHECK: %[[DP:.*]] = linalg.generic
// CHECK: %[[DS:.*]] = linalg.generic {{.*}} ins(%[[P]], %{{.*}} : tensor<?x?xf32>, tensor<?xf32>) outs(%[[DP]] : tensor<?x?xf32>)
// CHECK: %[[DV_NEXT:.*]] = linalg.generic {{.*}} ins(%[[P]], %{{.*}} : tensor<?x?xf32>, tensor<?x8xf32>) outs(%{{.*}} : tensor<?x8xf32>)
// CHECK: %[[DK_NEXT:.*]] = linalg.generic {{.*}} ins(%[[DS]], %{{.*}} : tensor<?x?xf32>, tensor<?x16xf32>) outs(%{{.*}} : tensor<?x16xf32>)
// CHECK: scf.yield %[[DK_NEXT]], %[[DV_NEXT]]
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice
// CHECK: tensor.parallel_insert_slice
// CHECK: %[[DQ:.*]] = scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (1, 4, %{{.*}}) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<1x4x200x16xf32>)
// CHECK: scf.for
// CHECK: scf.if
// CHECK: arith.cmpi slt
// CHECK: tensor.parallel_insert_slice
// CHECK: return %[[DQ]], %[[KV]]#0, %[[KV]]#1
// CHECK-NOT: attn.attention_grad
func.func @gradients(%q: tensor<1x4x200x16xf32>, %k: tensor<1x2x200x16xf32>,
                     %v: tensor<1x2x200x8xf32>, %o: tensor<1x4x200x8xf32>,
                     %do: tensor<1x4x200x8xf32>, %lse: tensor<1x4x200xf32>)
    -> (tensor<1x4x200x16xf32>, tensor<1x2x200x16xf32>, tensor<1x2x200x8xf32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      mask(#attn.causal<top_left>)
      : (tensor<1x4x200x16xf32>, tensor<1x2x200x16xf32>, tensor<1x2x200x8xf32>,
         tensor<1x4x200x8xf32>, tensor<1x4x200x8xf32>, tensor<1x4x200xf32>)
        -> (tensor<1x4x200x16xf32>, tensor<1x2x200x16xf32>, tensor<1x2x200x8xf32>)
  return %dq, %dk, %dv
      : tensor<1x4x200x16xf32>, tensor<1x2x200x16xf32>, tensor<1x2x200x8xf32>
}
