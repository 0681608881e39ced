// RUN: attn-opt %s --attn-decompose-sequences | FileCheck %s
// A lowering given packed sequences says so rather than attend across them:
// RUN: not attn-opt %s --attn-tile-online-softmax 2>&1 | FileCheck %s --check-prefix=LOWER
// LOWER: error: 'attn.attention' op has sequences, which attn-tile-online-softmax does not lower: attn-decompose-sequences takes them out first

// Packed sequences: out filled with 0 and lse with -inf, then a loop over
// the P = dim(cu_q) - 1 sequences; each reads its offsets, clamped to
// [0, N] (S for keys) and its end to [begin, N], slices its rows of q and
// its keys of k and v, attends them with the op's mask and strategy, and
// inserts its output and lse at its rows.
// CHECK-LABEL: func.func @packed
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x4x?x16xf32>, %[[K:[a-z0-9]+]]: tensor<1x2x?x16xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x?x8xf32>, %[[CQ:[a-z0-9]+]]: tensor<?xi32>, %[[CK:[a-z0-9]+]]: tensor<?xi32>
// CHECK: %[[N:.*]] = tensor.dim %[[Q]], %c2
// CHECK: %[[S:.*]] = tensor.dim %[[K]], %c2
// CHECK: %[[OFFSETS:.*]] = tensor.dim %[[CQ]], %c0
// CHECK: %[[LAST:.*]] = arith.subi %[[OFFSETS]], %c1
// CHECK: %[[P:.*]] = arith.maxsi %[[LAST]], %c0
// CHECK: %[[ZEROS:.*]] = linalg.fill ins(%cst{{.*}} : f32) outs(%{{.*}} : tensor<1x4x?x8xf32>)
// CHECK: %[[NEGINF:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<1x4x?xf32>)
// CHECK: scf.for %[[SEQ:.*]] = %c0 to %[[P]] step %c1 iter_args(%[[OUT:.*]] = %[[ZEROS]], %[[LSE:.*]] = %[[NEGINF]])
// CHECK: tensor.extract %[[CQ]][%[[SEQ]]]
// CHECK: %[[QB0:.*]] = arith.maxsi %{{.*}}, %c0
// CHECK: %[[QB:.*]] = arith.minsi %[[QB0]], %[[N]]
// CHECK: tensor.extract %[[CQ]]
// CHECK: %[[QE0:.*]] = arith.maxsi %{{.*}}, %[[QB]]
// CHECK: %[[QE:.*]] = arith.minsi %[[QE0]], %[[N]]
// CHECK: %[[QN:.*]] = arith.subi %[[QE]], %[[QB]]
// CHECK: tensor.extract %[[CK]][%[[SEQ]]]
// CHECK: %[[KB:.*]] = arith.minsi %{{.*}}, %[[S]]
// CHECK: %[[KN:.*]] = arith.subi
// CHECK: %[[QS:.*]] = tensor.extract_slice %[[Q]][0, 0, %[[QB]], 0] [1, 4, %[[QN]], 16]
// CHECK: %[[KS:.*]] = tensor.extract_slice %[[K]][0, 0, %[[KB]], 0] [1, 2, %[[KN]], 16]
// CHECK: %[[VS:.*]] = tensor.extract_slice %[[V]][0, 0, %[[KB]], 0] [1, 2, %[[KN]], 8]
// CHECK: %[[R:.*]], %[[L:.*]] = attn.attention %[[QS]], %[[KS]], %[[VS]] mask(#attn.causal<bottom_right>) {attn.strategy = "flash"}
// CHECK: tensor.insert_slice %[[R]] into %[[OUT]][0, 0, %[[QB]], 0]
// CHECK: tensor.insert_slice %[[L]] into %[[LSE]][0, 0, %[[QB]]]
func.func @packed(%q: tensor<1x4x?x16xf32>, %k: tensor<1x2x?x16xf32>,
                  %v: tensor<1x2x?x8xf32>, %cq: tensor<?xi32>, %ck: tensor<?xi32>)
    -> (tensor<1x4x?x8xf32>, tensor<1x4x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v sequences(%cq, %ck)
      mask(#attn.causal<bottom_right>) {attn.strategy = "flash"}
      : (tensor<1x4x?x16xf32>, tensor<1x2x?x16xf32>, tensor<1x2x?x8xf32>,
         tensor<?xi32>, tensor<?xi32>) -> (tensor<1x4x?x8xf32>, tensor<1x4x?xf32>)
  return %o, %lse : tensor<1x4x?x8xf32>, tensor<1x4x?xf32>
}
