// RUN: attn-opt %s --attn-tile-online-softmax="query-tile=32 key-tile=16" --canonicalize --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-tile-online-softmax="query-tile=32 key-tile=16" --canonicalize --split-input-file | FileCheck %s --check-prefix=NO-SCORES
// A tile beyond 256 (its unrolled products would grow without bound) is an
// error.
// RUN: not attn-opt %s --attn-tile-online-softmax="query-tile=1000000000" --split-input-file 2>&1 | FileCheck %s --check-prefix=HUGE-TILE
// HUGE-TILE: error: query-tile and key-tile must be in [1, 256], not 1000000000 and 64
// RUN: attn-opt %s --attn-tile-online-softmax="query-tile=32 key-tile=16" --one-shot-bufferize="bufferize-function-boundaries allow-unknown-ops" --canonicalize --split-input-file | FileCheck %s --check-prefix=NO-SCORES

// No tensor or buffer of N x S elements exists: with N and S dynamic, none
// ends in two dynamic sizes; with N = 1000 and S = 1200 static, none has
// both. Every score lives in a 32 x 16 tile.
// NO-SCORES-NOT: ?x?xf32>
// NO-SCORES-NOT: 1000x1200
// NO-SCORES-NOT: 1200x1000

// CHECK-LABEL: func.func @causal
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<?x4x?x16xf32>, %[[K:[a-z0-9]+]]: tensor<?x2x?x16xf32>, %[[V:[a-z0-9]+]]: tensor<?x2x?x8xf32>)
// CHECK-DAG: %[[LOG2_SCALE:.*]] = arith.constant 0.360673755 : f32
// CHECK-DAG: %[[NEG_INF:.*]] = arith.constant 0xFF800000 : f32
//
// K packed once, in parallel, into whole key tiles, each transposed:
// (B, Hkv, T, D, 16). f32 V is read in place, except per (batch row, K/V
// head) the tile its valid keys cut, copied with zeros past them:
// (B, Hkv, 16, Dv).
// CHECK: %[[TILES:.*]] = arith.ceildivsi %{{.*}}, %c16 : index
// CHECK: %[[PACKED:.*]] = scf.forall (%{{.*}}, %{{.*}}, %{{.*}}) in (%{{.*}}, 2, %[[TILES]]) shared_outs({{.*}}) -> (tensor<?x2x?x16x16xf32>)
// CHECK: %[[TAILS:.*]] = scf.forall (%{{.*}}, %{{.*}}) in (%{{.*}}, 2) shared_outs({{.*}}) -> (tensor<?x2x16x8xf32>)
//
// One task per (batch row, query head, query tile); a query head reads its
// K/V head h / 2 of the packed tensors.
// CHECK: scf.forall (%[[B:.*]], %[[H:.*]], %[[T:.*]]) in (%{{.*}}, 4, %{{.*}}) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<?x4x?x8xf32>)
// CHECK: %[[KV_HEAD:.*]] = arith.divsi %[[H]], %c2 : index
//
// The query tile, scaled by scale * log2(e) = 0.25 * 1.4427 as it is copied.
// CHECK: %[[ROW_BEGIN:.*]] = arith.muli %[[T]], %c32 : index
// CHECK: arith.mulf %{{.*}}, %[[LOG2_SCALE]] : f32
//
// Causal: the key tiles stop at the one holding the last row's position.
// CHECK: %[[LAST:.*]] = arith.minsi %{{.*}}, %{{.*}} : index
// CHECK: %[[END:.*]] = arith.ceildivsi %[[LAST]], %c16 : index
// CHECK: %[[NUM_KEY_TILES:.*]] = arith.select %{{.*}}, %[[END]], %c0 : index
//
// The loop over key tiles carries (m, l, acc).
// CHECK: scf.for %[[J:.*]] = %c0 to %[[NUM_KEY_TILES]] step %c1 iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}, %[[ACC:.*]] = %{{.*}}) -> (tensor<32xf32>, tensor<32xf32>, tensor<32x8xf32>)
// CHECK: %[[KT:.*]] = tensor.extract_slice %[[PACKED]][%[[B]], %[[KV_HEAD]], %[[J]], 0, 0] [1, 1, 1, 16, 16] [1, 1, 1, 1, 1] : tensor<?x2x?x16x16xf32> to tensor<16x16xf32>
// CHECK: %[[VT:.*]] = scf.if %{{.*}} -> (tensor<16x8xf32>) {
// CHECK:   tensor.extract_slice %[[V]][%[[B]], %[[KV_HEAD]], %{{.*}}, 0] [1, 1, 16, 8] [1, 1, 1, 1] : tensor<?x2x?x8xf32> to tensor<16x8xf32>
// CHECK: } else {
// CHECK:   tensor.extract_slice %[[TAILS]][%[[B]], %[[KV_HEAD]], 0, 0] [1, 1, 16, 8] [1, 1, 1, 1] : tensor<?x2x16x8xf32> to tensor<16x8xf32>
// CHECK: %[[S:.*]] = linalg.matmul ins(%{{.*}}, %[[KT]] : tensor<32x16xf32>, tensor<16x16xf32>) outs(%{{.*}} : tensor<32x16xf32>)
//
// A tile is masked only when the diagonal or the key length cuts it.
// CHECK: %[[FULL:.*]] = arith.andi
// CHECK: %[[MASKED:.*]] = scf.if %[[FULL]] -> (tensor<32x16xf32>) {
// CHECK:   scf.yield %[[S]]
// CHECK: } else {
// CHECK:   arith.select %{{.*}}, %{{.*}}, %[[NEG_INF]] : f32
//
// m' = max(m, rowmax(s)); alpha = exp2(m - m'); p = exp2(s - m') and
// l' = alpha l + rowsum(p) in one pass; acc' = alpha acc + p v.
// The row maximum takes a NaN score as -inf (the NaN reaches the row through
// p), so it may say that it sees no NaN.
// CHECK: %[[TILE_MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[MASKED]] : tensor<32x16xf32>)
// CHECK: %[[IS_NAN:.*]] = arith.cmpf uno, %[[SCORE:.*]], %[[SCORE]] : f32
// CHECK: %[[NOT_NAN:.*]] = arith.select %[[IS_NAN]], %[[NEG_INF]], %[[SCORE]] : f32
// CHECK: arith.maximumf %[[NOT_NAN]], %{{.*}} fastmath<nnan,nsz> : f32
// CHECK: %[[ALPHA:.*]] = linalg.generic {{.*}} ins(%[[M]], %[[TILE_MAX]] : tensor<32xf32>, tensor<32xf32>)
// CHECK: math.exp2
// CHECK: %[[NEW_MAX:.*]] = linalg.generic {{.*}} ins(%[[TILE_MAX]] : tensor<32xf32>) outs(%[[M]] : tensor<32xf32>)
// CHECK: %[[L_SCALED:.*]] = linalg.generic {{.*}} ins(%[[ALPHA]] : tensor<32xf32>) outs(%[[L]] : tensor<32xf32>)
// CHECK: %[[P_AND_L:.*]]:2 = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[NEW_MAX]] : tensor<32xf32>) outs(%[[MASKED]], %[[L_SCALED]] : tensor<32x16xf32>, tensor<32xf32>)
// CHECK: %[[PROB:.*]] = math.exp2
// CHECK: arith.addf %{{.*}}, %[[PROB]] : f32
// CHECK: %[[ACC_SCALED:.*]] = linalg.generic {{.*}} ins(%[[ALPHA]] : tensor<32xf32>) outs(%[[ACC]] : tensor<32x8xf32>)
// CHECK: %[[NEW_ACC:.*]] = linalg.matmul ins(%[[P_AND_L]]#0, %[[VT]] : tensor<32x16xf32>, tensor<16x8xf32>) outs(%[[ACC_SCALED]] : tensor<32x8xf32>)
// CHECK: scf.yield %[[NEW_MAX]], %[[P_AND_L]]#1, %[[NEW_ACC]]
//
// Normalized once: l > 0 ? acc / l : 0; only the rows that exist are
// written.
// CHECK: arith.cmpf ugt
// CHECK: arith.divf
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][%[[B]], %[[H]], %{{.*}}, 0] [1, 1, %{{.*}}, 8] [1, 1, 1, 1] : tensor<?x8xf32> into tensor<?x4x?x8xf32>
func.func @causal(%q: tensor<?x4x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                  %v: tensor<?x2x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x4x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// -----

// A window's key tiles start at the first row's window; key lengths clamp
// both ends; an op marked for the other strategy is left alone.
// CHECK-LABEL: func.func @window_padded
// CHECK: %[[LEN:.*]] = tensor.extract %{{.*}}[%{{.*}}] : tensor<2xi32>
// CHECK: arith.index_cast %[[LEN]] : i32 to index
// CHECK: %[[FROM:.*]] = arith.addi %{{.*}}, %c-4 : index
// CHECK: arith.maxsi %[[FROM]], %c0 : index
// CHECK: arith.divsi %{{.*}}, %c16 : index
// CHECK: scf.for
// CHECK-LABEL: func.func @left_alone
// CHECK: attn.attention
func.func @window_padded(%q: tensor<2x1x1000x16xf32>, %k: tensor<2x1x1200x16xf32>,
                         %v: tensor<2x1x1200x16xf32>, %len: tensor<2xi32>)
    -> tensor<2x1x1000x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.window<left = 4, right = 0, alignment = bottom_right>)
      : (tensor<2x1x1000x16xf32>, tensor<2x1x1200x16xf32>,
         tensor<2x1x1200x16xf32>, tensor<2xi32>) -> tensor<2x1x1000x16xf32>
  return %o : tensor<2x1x1000x16xf32>
}
func.func @left_alone(%q: tensor<2x1x4x16xf32>, %k: tensor<2x1x4x16xf32>,
                      %v: tensor<2x1x4x16xf32>) -> tensor<2x1x4x16xf32> {
  %o = attn.attention %q, %k, %v {attn.strategy = "materialized"}
      : (tensor<2x1x4x16xf32>, tensor<2x1x4x16xf32>, tensor<2x1x4x16xf32>)
        -> tensor<2x1x4x16xf32>
  return %o : tensor<2x1x4x16xf32>
}

// -----

// The log-sum-exp result: a second shared output of the forall, each tile's
// rows written from the final (m, l) as (m + log2 l) ln 2, -inf where l = 0.
// CHECK-LABEL: func.func @with_lse
// CHECK: %[[F:.*]]:2 = scf.forall {{.*}} shared_outs(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<1x2x40x16xf32>, tensor<1x2x40xf32>)
// CHECK: math.log2
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : f32
// CHECK: tensor.parallel_insert_slice %{{.*}} into %{{.*}}[{{.*}}] [1, 1, %{{.*}}] [1, 1, 1] : tensor<?xf32> into tensor<1x2x40xf32>
// CHECK: return %[[F]]#0, %[[F]]#1
func.func @with_lse(%q: tensor<1x2x40x16xf32>)
    -> (tensor<1x2x40x16xf32>, tensor<1x2x40xf32>) {
  %o, %lse = attn.attention %q, %q, %q mask(#attn.causal<top_left>)
      {attn.strategy = "flash"}
      : (tensor<1x2x40x16xf32>, tensor<1x2x40x16xf32>, tensor<1x2x40x16xf32>)
        -> (tensor<1x2x40x16xf32>, tensor<1x2x40xf32>)
  return %o, %lse : tensor<1x2x40x16xf32>, tensor<1x2x40xf32>
}

// -----

// A score modifier on each tile of scores, in the log2 domain (the cap 2
// becomes 2 log2(e) = 2.885), before the mask: cap tanh(s / cap).
// CHECK-LABEL: func.func @softcap
// CHECK-DAG: %[[CAP:.*]] = arith.constant 2.885390e+00 : f32
// CHECK-DAG: %[[INV:.*]] = arith.constant 0.346573591 : f32
// CHECK: %[[S:.*]] = linalg.matmul
// CHECK: %[[CAPPED:.*]] = linalg.generic {{.*}} outs(%[[S]] : tensor<32x16xf32>)
// CHECK: arith.mulf %{{.*}}, %[[INV]]
// CHECK: math.tanh
// CHECK: arith.mulf %{{.*}}, %[[CAP]]
// CHECK: scf.if
// CHECK: linalg.generic {{.*}} outs(%[[CAPPED]] : tensor<32x16xf32>)
// CHECK: arith.select
func.func @softcap(%q: tensor<?x2x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                   %v: tensor<?x2x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      score_mod(#attn.softcap<cap = 2.0>) {attn.strategy = "flash"}
      : (tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}

// -----

// ALiBi on each tile of scores, in the log2 domain: score - log2(e) m_h
// |pos(i) - j| with pos(i) = i + S - N (bottom-right). Six heads are not a
// power of two: log2 m_h = -2 (h + 1) for the first four, -2 (h - 3.5) for
// the other two (the odd-rank slopes of eight heads).
// CHECK-LABEL: func.func @alibi
// CHECK-DAG: %[[LOG2E:.*]] = arith.constant 1.44269502 : f32
// CHECK-DAG: %[[NEG2:.*]] = arith.constant -2.000000e+00 : f32
// CHECK-DAG: %[[ODD:.*]] = arith.constant -3.500000e+00 : f32
// CHECK: %[[S:.*]] = linalg.matmul
// CHECK: %[[BIASED:.*]] = linalg.generic {{.*}} outs(%[[S]] : tensor<32x16xf32>)
// CHECK: %[[FIRST:.*]] = arith.cmpi slt, %{{.*}}, %c4
// CHECK: arith.addf %{{.*}}, %[[ODD]]
// CHECK: arith.select %[[FIRST]]
// CHECK: arith.mulf %{{.*}}, %[[NEG2]]
// CHECK: %[[SLOPE:.*]] = math.exp2
// CHECK: %[[DIST:.*]] = math.absi
// CHECK: %[[UNIT:.*]] = arith.mulf %[[SLOPE]], %[[LOG2E]]
// CHECK: arith.mulf %[[UNIT]]
// CHECK: arith.subf
// CHECK: scf.if
// CHECK: linalg.generic {{.*}} outs(%[[BIASED]] : tensor<32x16xf32>)
// CHECK: arith.select
func.func @alibi(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                 %v: tensor<?x2x?x16xf32>) -> tensor<?x6x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      score_mod(#attn.alibi<bottom_right>) {attn.strategy = "flash"}
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>)
        -> tensor<?x6x?x16xf32>
  return %o : tensor<?x6x?x16xf32>
}
