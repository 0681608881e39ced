// RUN: attn-opt %s --attn-tile-attention-grad | FileCheck %s --implicit-check-not=200x200

// The flash backward on static tiles: the tail tiles of k (cut by the valid
// keys), q and dout (cut by N); per query tile the lse in the log2 domain
// and the row dots dd. Then in parallel over (batch row, query head), over
// the key tiles, each packed once as K^T and V^T, and for each over the
// query tiles whose block schedule visits it (a causal mask skips the
// others): dk and dv of the key tile, dq of the query tile. Every product is
// of 64 x 64 tiles (what attn-cpu-vectorize-tiles blocks), q, dout and k
// read in place where a tile is whole. Every buffer is a tile or O(N D):
// nothing of 200 x 200.

// The products with a transposed tile (dk += ds^T q, dv += p^T dout).
// CHECK-DAG: #[[TA:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d2, d0)>
// CHECK-DAG: #[[TB:map[0-9]*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-LABEL: func.func @gradients
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<1x4x200x16xf32>, %[[KEY:[a-z0-9]+]]: tensor<1x2x200x16xf32>, %[[V:[a-z0-9]+]]: tensor<1x2x200x8xf32>, %[[O:[a-z0-9]+]]: tensor<1x4x200x8xf32>, %[[DO:[a-z0-9]+]]: tensor<1x4x200x8xf32>, %[[LSE:[a-z0-9]+]]: tensor<1x4x200xf32>)
// CHECK: %[[KEY_TAILS:.*]] = scf.forall ({{.*}}) in (1, 2) {{.*}} -> (tensor<1x2x64x16xf32>)
// CHECK: %[[Q_TAILS:.*]] = scf.forall ({{.*}}) in (1, 4) {{.*}} -> (tensor<1x4x64x16xf32>)
// CHECK: %[[DO_TAILS:.*]] = scf.forall ({{.*}}) in (1, 4) {{.*}} -> (tensor<1x4x64x8xf32>)
// CHECK: %[[ROWS:.*]]:2 = scf.forall ({{.*}}) in (1, 4, %{{.*}}) {{.*}} -> (tensor<1x4x?x64xf32>, tensor<1x4x?x64xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<?x8xf32>) outs(%{{.*}} : tensor<?xf32>)

// One task per (batch row, query head); over the key tiles, each packed
// once (K^T, V^T), then over the query tiles whose schedule visits it.
// CHECK: %[[TASKS:.*]]:3 = scf.forall (%{{.*}}, %{{.*}}) in (1, 4) shared_outs({{.*}}) -> (tensor<1x4x200x16xf32>, tensor<1x4x200x16xf32>, tensor<1x4x200x8xf32>)
// CHECK: scf.for %{{.*}} = %c0 to %c4 step %c1 iter_args({{.*}}) -> (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x8xf32>)
// CHECK: %[[KEYS_T:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<64x16xf32>) outs(%{{.*}} : tensor<16x64xf32>)
// CHECK: %[[VALUES_T:.*]] = linalg.generic {{.*}} ins(%{{.*}} : tensor<64x8xf32>) outs(%{{.*}} : tensor<8x64xf32>)
// CHECK: %[[KTILE:.*]] = scf.if %{{.*}} -> (tensor<64x16xf32>)
// CHECK: tensor.extract_slice %[[KEY]]
// CHECK: tensor.extract_slice %[[KEY_TAILS]]
// CHECK: scf.for %{{.*}} = %c0 to %c4 step %c1 iter_args(%[[DQ_ACC:.*]] = %{{.*}}, %{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<?x16xf32>, tensor<64x16xf32>, tensor<64x8xf32>)
// CHECK: scf.if %{{.*}} -> (tensor<?x16xf32>, tensor<64x16xf32>, tensor<64x8xf32>)
// CHECK: %[[QT:.*]] = scf.if %[[WHOLE:.*]] -> (tensor<64x16xf32>)
// CHECK: tensor.extract_slice %[[Q]]
// CHECK: tensor.extract_slice %[[Q_TAILS]]
// CHECK: %[[DOT:.*]] = scf.if %[[WHOLE]] -> (tensor<64x8xf32>)
// CHECK: %[[S:.*]] = linalg.matmul ins(%[[QT]], %[[KEYS_T]] : tensor<64x16xf32>, tensor<16x64xf32>) outs(%{{.*}} : tensor<64x64xf32>)
// CHECK: linalg.generic {{.*}} outs(%[[S]] : tensor<64x64xf32>)
// CHECK: math.exp2
// CHECK: %[[P:.*]] = scf.if %{{.*}} -> (tensor<64x64xf32>)
// CHECK: %[[DP:.*]] = linalg.matmul ins(%[[DOT]], %[[VALUES_T]] : tensor<64x8xf32>, tensor<8x64xf32>) outs(%{{.*}} : tensor<64x64xf32>)
// CHECK: %[[DS:.*]] = linalg.generic {{.*}} ins(%[[P]], %{{.*}} : tensor<64x64xf32>, tensor<64xf32>) outs(%[[DP]] : tensor<64x64xf32>)
// CHECK: %[[DQ_TILE:.*]] = tensor.extract_slice %[[DQ_ACC]]
// CHECK: linalg.matmul ins(%[[DS]], %[[KTILE]] : tensor<64x64xf32>, tensor<64x16xf32>) outs(%[[DQ_TILE]] : tensor<64x16xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[TA]], #[[TB]], #{{map[0-9]*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[DS]], %[[QT]] : tensor<64x64xf32>, tensor<64x16xf32>) outs(%{{.*}} : tensor<64x16xf32>)
// CHECK: linalg.generic {indexing_maps = [#[[TA]], #[[TB]], #{{map[0-9]*}}], iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]], %[[DOT]] : tensor<64x64xf32>, tensor<64x8xf32>) outs(%{{.*}} : tensor<64x8xf32>)
// CHECK: scf.forall.in_parallel
// CHECK-COUNT-3: tensor.parallel_insert_slice

// The group's shares of dk and dv summed in the order of its heads.
// CHECK: %[[DK_SHARES:.*]] = tensor.expand_shape %[[TASKS]]#1 {{\[}}[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 200, 16]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[DK_SHARES]] : tensor<1x2x2x200x16xf32>)
// CHECK: tensor.expand_shape %[[TASKS]]#2
// CHECK: return %[[TASKS]]#0, %{{.*}}, %{{.*}} : tensor<1x4x200x16xf32>, tensor<1x2x200x16xf32>, tensor<1x2x200x8xf32>
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

// One query head per K/V head: the tasks write dk and dv themselves.
// CHECK-LABEL: func.func @one_head_per_group
// CHECK: %[[TASKS:.*]]:3 = scf.forall (%{{.*}}, %{{.*}}) in (2, 3) shared_outs({{.*}}) -> (tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>)
// CHECK-NOT: tensor.expand_shape
// CHECK: return %[[TASKS]]#0, %[[TASKS]]#1, %[[TASKS]]#2
func.func @one_head_per_group(%q: tensor<2x3x?x32xbf16>, %k: tensor<2x3x?x32xbf16>,
                              %v: tensor<2x3x?x32xbf16>, %o: tensor<2x3x?x32xbf16>,
                              %do: tensor<2x3x?x32xbf16>, %lse: tensor<2x3x?xf32>)
    -> (tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      : (tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>,
         tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>, tensor<2x3x?xf32>)
        -> (tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>)
  return %dq, %dk, %dv
      : tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>, tensor<2x3x?x32xbf16>
}

// A score modifier: the tile of scores in the log2 domain, capped
// (C tanh(x / C), C = 2 log2 e), then p = exp2(x - lse); ds = p (dp - dd)
// f'(s) with f'(s) = 1 - (x / C)^2 from the capped tile.
// CHECK-LABEL: func.func @softcap
// CHECK-DAG: %[[CAP:.*]] = arith.constant 2.885390e+00 : f32
// CHECK-DAG: %[[INV:.*]] = arith.constant 0.346573591 : f32
// CHECK: %[[S:.*]] = linalg.matmul
// CHECK: %[[X:.*]] = linalg.generic {{.*}} outs(%[[S]] : tensor<64x64xf32>)
// CHECK: %[[CAPPED:.*]] = linalg.generic {{.*}} outs(%[[X]] : tensor<64x64xf32>)
// CHECK: math.tanh
// CHECK: linalg.generic {{.*}} outs(%[[CAPPED]] : tensor<64x64xf32>)
// CHECK: math.exp2
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %[[CAPPED]] : tensor<64x64xf32>, tensor<64xf32>, tensor<64x64xf32>)
// CHECK: %[[R:.*]] = arith.mulf %{{.*}}, %[[INV]] : f32
// CHECK: %[[R2:.*]] = arith.mulf %[[R]], %[[R]] : f32
// CHECK: %[[SLOPE:.*]] = arith.subf %{{.*}}, %[[R2]] : f32
// CHECK: arith.mulf %{{.*}}, %[[SLOPE]] : f32
func.func @softcap(%q: tensor<1x2x100x16xf32>, %lse: tensor<1x2x100xf32>)
    -> tensor<1x2x100x16xf32> {
  %dq, %dk, %dv = attn.attention_grad %q, %q, %q, %q, %q, %lse
      mask(#attn.causal<top_left>) score_mod(#attn.softcap<cap = 2.0>)
      {attn.strategy = "flash"}
      : (tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>,
         tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>, tensor<1x2x100xf32>)
        -> (tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>, tensor<1x2x100x16xf32>)
  return %dq : tensor<1x2x100x16xf32>
}
