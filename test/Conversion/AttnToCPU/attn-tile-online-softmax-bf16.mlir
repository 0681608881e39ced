// RUN: attn-opt %s --attn-tile-online-softmax="query-tile=32 key-tile=16 bf16-pairs=true" --canonicalize --split-input-file | FileCheck %s
// RUN: attn-opt %s --attn-tile-online-softmax="query-tile=32 key-tile=16" --canonicalize --split-input-file | FileCheck %s --check-prefix=WIDENED

// bf16 attention with bf16-pairs stays bf16 up to the products: K packed as
// (D/2, keyTile, 2) pair tiles, Kp[j, n, i] = K[n, 2j + i], and V as
// (keyTile/2, Dv, 2), Vp[j, d, i] = V[2j + i, d], each from the tile's rows
// padded with zero keys; no f32 copy of K or V.
// CHECK-DAG: #[[KEY_PAIRS:.*]] = affine_map<(d0, d1, d2) -> (d1, d0 * 2 + d2)>
// CHECK-DAG: #[[VALUE_PAIRS:.*]] = affine_map<(d0, d1, d2) -> (d0 * 2 + d2, d1)>
// CHECK-DAG: #[[LHS:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2, d3)>
// CHECK-DAG: #[[RHS:.*]] = affine_map<(d0, d1, d2, d3) -> (d2, d1, d3)>
// CHECK-DAG: #[[OUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1)>
// CHECK-LABEL: func.func @pairs
// CHECK-DAG: %[[LOG2_SCALE:.*]] = arith.constant 0.360673755 : f32
// CHECK: scf.forall ({{.*}}) -> (tensor<?x2x?x8x16x2xbf16>, tensor<?x2x?x8x8x2xbf16>)
// CHECK:   tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [%{{.*}}, 16] [1, 1] : tensor<?x16xbf16> into tensor<16x16xbf16>
// CHECK:   linalg.generic {indexing_maps = [#[[KEY_PAIRS]], {{.*}}]{{.*}} ins(%{{.*}} : tensor<16x16xbf16>) outs(%{{.*}} : tensor<8x16x2xbf16>)
// CHECK:   tensor.insert_slice %{{.*}} into %{{.*}}[0, 0] [%{{.*}}, 8] [1, 1] : tensor<?x8xbf16> into tensor<16x8xbf16>
// CHECK:   linalg.generic {indexing_maps = [#[[VALUE_PAIRS]], {{.*}}]{{.*}} ins(%{{.*}} : tensor<16x8xbf16>) outs(%{{.*}} : tensor<8x8x2xbf16>)
//
// The query tile: the rows as they are (not scaled, so not rounded again),
// viewed as pairs.
// CHECK: scf.forall
// CHECK:   %[[QROWS:.*]] = tensor.insert_slice %{{.*}} : tensor<?x16xbf16> into tensor<32x16xbf16>
// CHECK:   %[[Q:.*]] = tensor.expand_shape %[[QROWS]] {{\[}}[0], [1, 2]] output_shape [32, 8, 2] : tensor<32x16xbf16> into tensor<32x8x2xbf16>
// CHECK:   scf.for
// CHECK:     %[[KT:.*]] = tensor.extract_slice %{{.*}} : tensor<?x2x?x8x16x2xbf16> to tensor<8x16x2xbf16>
// CHECK:     %[[VT:.*]] = tensor.extract_slice %{{.*}} : tensor<?x2x?x8x8x2xbf16> to tensor<8x8x2xbf16>
//
// s = q k^T as a product of pairs in f32, then scaled by scale * log2(e).
// CHECK:     %[[S:.*]] = linalg.generic {indexing_maps = [#[[LHS]], #[[RHS]], #[[OUT]]], iterator_types = ["parallel", "parallel", "reduction", "reduction"]} ins(%[[Q]], %[[KT]] : tensor<32x8x2xbf16>, tensor<8x16x2xbf16>) outs(%{{.*}} : tensor<32x16xf32>)
// CHECK:       arith.extf %{{.*}} : bf16 to f32
// CHECK:       arith.extf %{{.*}} : bf16 to f32
// CHECK:       arith.mulf
// CHECK:       arith.addf
// CHECK:     linalg.generic {{.*}} outs(%[[S]] : tensor<32x16xf32>)
// CHECK:       arith.mulf %{{.*}}, %[[LOG2_SCALE]] : f32
//
// p rounded to bf16 and viewed as pairs along the keys; the rescaling of acc
// comes right before p v (where the vectorizer folds it into the loads).
// CHECK:     arith.truncf %{{.*}} : f32 to bf16
// CHECK:     %[[P:.*]] = tensor.expand_shape %{{.*}} {{\[}}[0], [1, 2]] output_shape [32, 8, 2] : tensor<32x16xbf16> into tensor<32x8x2xbf16>
// CHECK:     %[[ACC:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<32x8xf32>)
// CHECK-NEXT:  ^bb0
// CHECK-NEXT:    arith.mulf
// CHECK-NEXT:    linalg.yield
// CHECK-NEXT:  } -> tensor<32x8xf32>
// CHECK-NEXT: linalg.generic {indexing_maps = [#[[LHS]], #[[RHS]], #[[OUT]]], {{.*}} ins(%[[P]], %[[VT]] : tensor<32x8x2xbf16>, tensor<8x8x2xbf16>) outs(%[[ACC]] : tensor<32x8xf32>)
// CHECK-NOT: linalg.matmul
//
// Without bf16-pairs, K and V are widened to f32 as they are packed.
// WIDENED-LABEL: func.func @pairs
// WIDENED: scf.forall ({{.*}}) -> (tensor<?x2x?x16x16xf32>, tensor<?x2x?x16x8xf32>)
// WIDENED: linalg.matmul
func.func @pairs(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                 %v: tensor<?x2x?x8xbf16>) -> tensor<?x4x?x8xbf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x8xbf16>)
        -> tensor<?x4x?x8xbf16>
  return %o : tensor<?x4x?x8xbf16>
}

// -----

// An odd D has no whole pairs: widened to f32, as without bf16-pairs. So are
// f16 and f32 inputs.
// CHECK-LABEL: func.func @odd_head_dim
// CHECK: scf.forall ({{.*}}) -> (tensor<?x1x?x7x16xf32>, tensor<?x1x?x16x7xf32>)
// CHECK: linalg.matmul
// CHECK-LABEL: func.func @half
// CHECK: scf.forall ({{.*}}) -> (tensor<?x1x?x8x16xf32>, tensor<?x1x?x16x8xf32>)
// CHECK: linalg.matmul
func.func @odd_head_dim(%q: tensor<?x1x?x7xbf16>, %k: tensor<?x1x?x7xbf16>,
                        %v: tensor<?x1x?x7xbf16>) -> tensor<?x1x?x7xbf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x1x?x7xbf16>, tensor<?x1x?x7xbf16>, tensor<?x1x?x7xbf16>)
        -> tensor<?x1x?x7xbf16>
  return %o : tensor<?x1x?x7xbf16>
}

func.func @half(%q: tensor<?x1x?x8xf16>, %k: tensor<?x1x?x8xf16>,
                %v: tensor<?x1x?x8xf16>) -> tensor<?x1x?x8xf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x1x?x8xf16>, tensor<?x1x?x8xf16>, tensor<?x1x?x8xf16>)
        -> tensor<?x1x?x8xf16>
  return %o : tensor<?x1x?x8xf16>
}
