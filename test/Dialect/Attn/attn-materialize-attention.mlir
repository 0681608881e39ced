// RUN: attn-opt %s --attn-materialize-attention --split-input-file | FileCheck %s

// The score matrix, in f32, over (b, hk, g, i, j) with the reduction over d;
// a two-pass softmax that turns a row with no visible key into zeros; the
// weighted sum with e innermost; and the division by the row sum.

// CHECK-DAG: #[[Q5:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d5)>
// CHECK-DAG: #[[K:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5)>
// CHECK-DAG: #[[S6:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3, d4)>
// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @plain
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<2x4x8x16xf32>, %[[KEY:[a-z0-9]+]]: tensor<2x4x10x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x4x10x32xf32>)
// CHECK-DAG: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[Q5V:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1, 2], [3], [4]] output_shape [2, 4, 1, 8, 16]
// CHECK: %[[SCORES:.*]] = linalg.generic {indexing_maps = [#[[Q5]], #[[K]], #[[S6]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%[[Q5V]], %[[KEY]] : tensor<2x4x1x8x16xf32>, tensor<2x4x10x16xf32>) outs(%{{.*}} : tensor<2x4x1x8x10xf32>)
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<reassoc,contract> : f32
// CHECK: %[[LOGITS:.*]] = linalg.generic
// CHECK-SAME: ins(%[[SCORES]] : tensor<2x4x1x8x10xf32>) outs(%[[SCORES]] : tensor<2x4x1x8x10xf32>)
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: %[[MAX:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]
// CHECK: arith.maximumf
// CHECK: %[[P:.*]] = linalg.generic
// CHECK-SAME: ins(%[[LOGITS]], %[[MAX]] : tensor<2x4x1x8x10xf32>, tensor<2x4x1x8xf32>)
// CHECK: %[[EMPTY_ROW:.*]] = arith.cmpf oeq, %{{.*}}, %[[NEG_INF]] : f32
// CHECK: %[[E:.*]] = math.exp
// CHECK: arith.select %[[EMPTY_ROW]], %[[ZERO]], %[[E]] : f32
// CHECK: %[[SUM:.*]] = linalg.generic
// CHECK-SAME: ins(%[[P]] : tensor<2x4x1x8x10xf32>)
// CHECK: arith.addf
// CHECK: %[[ACC:.*]] = linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "parallel"]
// CHECK-SAME: ins(%[[P]], %[[V]] : tensor<2x4x1x8x10xf32>, tensor<2x4x10x32xf32>)
// CHECK: %[[OUT5:.*]] = linalg.generic
// CHECK-SAME: ins(%[[ACC]], %[[SUM]] : tensor<2x4x1x8x32xf32>, tensor<2x4x1x8xf32>)
// CHECK: %[[ANY:.*]] = arith.cmpf ugt, %{{.*}}, %[[ZERO]] : f32
// CHECK: %[[QUOT:.*]] = arith.divf
// CHECK: arith.select %[[ANY]], %[[QUOT]], %[[ZERO]] : f32
// CHECK: %[[OUT:.*]] = tensor.collapse_shape %[[OUT5]] {{\[}}[0], [1, 2], [3], [4]] : tensor<2x4x1x8x32xf32> into tensor<2x4x8x32xf32>
// CHECK: return %[[OUT]]
// CHECK-NOT: attn.attention
func.func @plain(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x10x16xf32>,
                 %v: tensor<2x4x10x32xf32>) -> tensor<2x4x8x32xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<2x4x8x16xf32>, tensor<2x4x10x16xf32>, tensor<2x4x10x32xf32>)
        -> tensor<2x4x8x32xf32>
  return %o : tensor<2x4x8x32xf32>
}

// -----

// Grouped heads: q is viewed as (B, Hkv = 2, G = 4, N, D) and the key is read
// through (d0, d1, d4, d5), i.e. by its K/V head only: no copy per group.

// CHECK-DAG: #[[K:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5)>
// CHECK-LABEL: func.func @grouped
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<?x8x?x16xf32>, %[[KEY:[a-z0-9]+]]: tensor<?x2x?x16xf32>
// CHECK: %[[Q5:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1, 2], [3], [4]] output_shape [%{{.*}}, 2, 4, %{{.*}}, 16] : tensor<?x8x?x16xf32> into tensor<?x2x4x?x16xf32>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[K]], #{{.*}}]
// CHECK-SAME: ins(%[[Q5]], %[[KEY]] : tensor<?x2x4x?x16xf32>, tensor<?x2x?x16xf32>)
// CHECK-NOT: tensor.insert_slice
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2], [3], [4]] : tensor<?x2x4x?x16xf32> into tensor<?x8x?x16xf32>
func.func @grouped(%q: tensor<?x8x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                   %v: tensor<?x2x?x16xf32>) -> tensor<?x8x?x16xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x8x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x8x?x16xf32>
  return %o : tensor<?x8x?x16xf32>
}

// -----

// Causal, bottom-right, with key lengths: row i sits at L - N + i where L is
// the batch row's clamped key length; keys at or beyond L are invisible.

// CHECK-LABEL: func.func @causal_bottom_right_padded
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<?x2x?x16xf32>, %[[KEY:[a-z0-9]+]]: tensor<?x1x?x16xf32>, %{{[a-z0-9]+}}: tensor<?x1x?x16xf32>, %[[LEN:[a-z0-9]+]]: tensor<?xi32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C2:.*]] = arith.constant 2 : index
// CHECK-DAG: %[[N:.*]] = tensor.dim %[[Q]], %[[C2]] : tensor<?x2x?x16xf32>
// CHECK-DAG: %[[S:.*]] = tensor.dim %[[KEY]], %[[C2]] : tensor<?x1x?x16xf32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %[[LEN]] : tensor<?x1x2x?x?xf32>, tensor<?xi32>)
// CHECK: ^bb0(%{{.*}}: f32, %[[LEN_B:.*]]: i32, %{{.*}}: f32):
// CHECK: %[[ROW:.*]] = linalg.index 3 : index
// CHECK: %[[COL:.*]] = linalg.index 4 : index
// CHECK: %[[L0:.*]] = arith.index_cast %[[LEN_B]] : i32 to index
// CHECK: %[[L1:.*]] = arith.maxsi %[[L0]], %[[C0]] : index
// CHECK: %[[L:.*]] = arith.minsi %[[L1]], %[[S]] : index
// CHECK: %[[IN_LEN:.*]] = arith.cmpi slt, %[[COL]], %[[L]] : index
// CHECK: %[[OFFSET:.*]] = arith.subi %[[L]], %[[N]] : index
// CHECK: %[[POS:.*]] = arith.addi %[[ROW]], %[[OFFSET]] : index
// CHECK: %[[CAUSAL:.*]] = arith.cmpi sle, %[[COL]], %[[POS]] : index
// CHECK: %[[VISIBLE:.*]] = arith.andi %[[IN_LEN]], %[[CAUSAL]] : i1
// CHECK: arith.select %[[VISIBLE]], %{{.*}}, %{{.*}} : f32
func.func @causal_bottom_right_padded(%q: tensor<?x2x?x16xf32>,
    %k: tensor<?x1x?x16xf32>, %v: tensor<?x1x?x16xf32>,
    %len: tensor<?xi32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x2x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>,
         tensor<?xi32>) -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}

// -----

// A window, top-left: visible <=> i - left <= j <= i + right.

// CHECK-LABEL: func.func @window
// CHECK-DAG: %[[MINUS_LEFT:.*]] = arith.constant -3 : index
// CHECK-DAG: %[[RIGHT:.*]] = arith.constant 1 : index
// CHECK: %[[ROW:.*]] = linalg.index 3 : index
// CHECK: %[[COL:.*]] = linalg.index 4 : index
// CHECK: %[[LO:.*]] = arith.addi %[[ROW]], %[[MINUS_LEFT]] : index
// CHECK: %[[AFTER:.*]] = arith.cmpi sle, %[[LO]], %[[COL]] : index
// CHECK: %[[HI:.*]] = arith.addi %[[ROW]], %[[RIGHT]] : index
// CHECK: %[[BEFORE:.*]] = arith.cmpi sle, %[[COL]], %[[HI]] : index
// CHECK: arith.andi %[[AFTER]], %[[BEFORE]] : i1
func.func @window(%q: tensor<1x1x9x8xf32>, %k: tensor<1x1x9x8xf32>,
                  %v: tensor<1x1x9x8xf32>) -> tensor<1x1x9x8xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.window<left = 3, right = 1, alignment = top_left>)
      : (tensor<1x1x9x8xf32>, tensor<1x1x9x8xf32>, tensor<1x1x9x8xf32>)
        -> tensor<1x1x9x8xf32>
  return %o : tensor<1x1x9x8xf32>
}

// -----

// Half-precision inputs are widened to f32 for every product and sum; only
// the normalized output is narrowed.

// CHECK-LABEL: func.func @half
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: tensor<1x2x1x5x6xf32>
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: tensor.collapse_shape %{{.*}} : tensor<1x2x1x5x8xf16> into tensor<1x2x5x8xf16>
func.func @half(%q: tensor<1x2x5x8xf16>, %k: tensor<1x2x6x8xf16>,
                %v: tensor<1x2x6x8xf16>) -> tensor<1x2x5x8xf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<1x2x5x8xf16>, tensor<1x2x6x8xf16>, tensor<1x2x6x8xf16>)
        -> tensor<1x2x5x8xf16>
  return %o : tensor<1x2x5x8xf16>
}

// -----

// The log-sum-exp from the row maximum and sum: m + log l, computed as
// (m log2 e + log2 l) ln 2 like the flash tiles, viewed as (B, H, N).
// CHECK-LABEL: func.func @with_lse
// CHECK: %[[LSE:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x1x2x5xf32>, tensor<1x1x2x5xf32>) outs(%{{.*}} : tensor<1x1x2x5xf32>)
// CHECK: math.log2
// CHECK: %[[VIEW:.*]] = tensor.collapse_shape %[[LSE]] {{\[}}[0], [1, 2], [3]] : tensor<1x1x2x5xf32> into tensor<1x2x5xf32>
// CHECK: return %{{.*}}, %[[VIEW]]
func.func @with_lse(%q: tensor<1x2x5x8xf32>, %k: tensor<1x1x6x8xf32>)
    -> (tensor<1x2x5x8xf32>, tensor<1x2x5xf32>) {
  %o, %lse = attn.attention %q, %k, %k {attn.strategy = "materialized"}
      : (tensor<1x2x5x8xf32>, tensor<1x1x6x8xf32>, tensor<1x1x6x8xf32>)
        -> (tensor<1x2x5x8xf32>, tensor<1x2x5xf32>)
  return %o, %lse : tensor<1x2x5x8xf32>, tensor<1x2x5xf32>
}

// -----

// The backward from the forward's lse and out: p = exp(x - lse) (0 where lse
// is -inf), dd = rowsum(dout * out), dp = dout . v, ds = p (dp - dd) (0
// where p is), then dv and dk summed over the two query heads of each K/V
// head and its rows (two reductions), dq over the keys with the keys past the
// key length read as 0; the scale applied once to dq and dk.

// CHECK-DAG: #[[X5:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3, d4)>
// CHECK-DAG: #[[ROW5:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[P_BY_KEY:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5, d2)>
// CHECK-DAG: #[[ROW_BY_KEY:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d4, d5, d3)>
// CHECK-DAG: #[[KV_OUT:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d3)>
// CHECK-LABEL: func.func @gradients
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<2x4x8x16xf32>, %[[KEY:[a-z0-9]+]]: tensor<2x2x10x16xf32>, %[[V:[a-z0-9]+]]: tensor<2x2x10x32xf32>, %[[O:[a-z0-9]+]]: tensor<2x4x8x32xf32>, %[[DO:[a-z0-9]+]]: tensor<2x4x8x32xf32>, %[[LSE:[a-z0-9]+]]: tensor<2x4x8xf32>, %[[LEN:[a-z0-9]+]]: tensor<2xi32>)
// CHECK-DAG: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
// CHECK-DAG: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK-DAG: %[[SCALE:.*]] = arith.constant 2.500000e-01 : f32
// CHECK-DAG: %[[Q5:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1, 2], [3], [4]] output_shape [2, 2, 2, 8, 16]
// CHECK-DAG: %[[O5:.*]] = tensor.expand_shape %[[O]]
// CHECK-DAG: %[[DO5:.*]] = tensor.expand_shape %[[DO]]
// CHECK-DAG: %[[LSE4:.*]] = tensor.expand_shape %[[LSE]] {{\[}}[0], [1, 2], [3]] output_shape [2, 2, 2, 8]
// CHECK: %[[LOGITS:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[LEN]] : tensor<2x2x2x8x10xf32>, tensor<2xi32>)
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[X5]], #[[ROW5]], #[[X5]]]
// CHECK-SAME: ins(%[[LOGITS]], %[[LSE4]] : tensor<2x2x2x8x10xf32>, tensor<2x2x2x8xf32>)
// CHECK: %[[NO_KEY:.*]] = arith.cmpf oeq, %{{.*}}, %[[NEG_INF]] : f32
// CHECK: math.exp
// CHECK: arith.select %[[NO_KEY]], %[[ZERO]]
// CHECK: %[[DD:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[DO5]], %[[O5]] :
// CHECK: %[[DP:.*]] = linalg.generic {{.*}} ins(%[[DO5]], %[[V]] : tensor<2x2x2x8x32xf32>, tensor<2x2x10x32xf32>) outs(%{{.*}} : tensor<2x2x2x8x10xf32>)
// CHECK: %[[DS:.*]] = linalg.generic {{.*}} ins(%[[P]], %[[DD]] : tensor<2x2x2x8x10xf32>, tensor<2x2x2x8xf32>) outs(%[[DP]] : tensor<2x2x2x8x10xf32>)
// CHECK: %[[NO_WEIGHT:.*]] = arith.cmpf oeq, %{{.*}}, %[[ZERO]] : f32
// CHECK: arith.select %[[NO_WEIGHT]], %[[ZERO]]
// CHECK: %[[DV:.*]] = linalg.generic {indexing_maps = [#[[P_BY_KEY]], #[[ROW_BY_KEY]], #[[KV_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[P]], %[[DO5]] :
// CHECK: %[[DQ5:.*]] = linalg.generic {{.*}} ins(%[[DS]], %[[KEY]], %[[LEN]] : tensor<2x2x2x8x10xf32>, tensor<2x2x10x16xf32>, tensor<2xi32>) outs(%{{.*}} : tensor<2x2x2x8x16xf32>)
// CHECK: arith.cmpi slt
// CHECK: %[[DK:.*]] = linalg.generic {indexing_maps = [#[[P_BY_KEY]], #[[ROW_BY_KEY]], #[[KV_OUT]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[DS]], %[[Q5]] :
// CHECK: %[[DQ_SCALED:.*]] = linalg.generic {{.*}} ins(%[[DQ5]] :
// CHECK: arith.mulf %{{.*}}, %[[SCALE]]
// CHECK: %[[DQ:.*]] = tensor.collapse_shape %[[DQ_SCALED]] {{\[}}[0], [1, 2], [3], [4]] : tensor<2x2x2x8x16xf32> into tensor<2x4x8x16xf32>
// CHECK: %[[DK_SCALED:.*]] = linalg.generic {{.*}} ins(%[[DK]] :
// CHECK: arith.mulf %{{.*}}, %[[SCALE]]
// CHECK: return %[[DQ]], %[[DK_SCALED]], %[[DV]]
// CHECK-NOT: attn.attention_grad
func.func @gradients(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x10x16xf32>,
                     %v: tensor<2x2x10x32xf32>, %o: tensor<2x4x8x32xf32>,
                     %do: tensor<2x4x8x32xf32>, %lse: tensor<2x4x8xf32>,
                     %len: tensor<2xi32>)
    -> (tensor<2x4x8x16xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x32xf32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      key_lengths(%len)
      : (tensor<2x4x8x16xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x32xf32>,
         tensor<2x4x8x32xf32>, tensor<2x4x8x32xf32>, tensor<2x4x8xf32>,
         tensor<2xi32>)
        -> (tensor<2x4x8x16xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x32xf32>)
  return %dq, %dk, %dv
      : tensor<2x4x8x16xf32>, tensor<2x2x10x16xf32>, tensor<2x2x10x32xf32>
}
