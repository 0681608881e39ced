// RUN: attn-opt %s --attn-decompose-sparse-masks --split-input-file | FileCheck %s

// A top-left window with dilation 3: one op over the 3 residue classes
// folded into the batch dimension. Each (batch row, class) is a strided
// copy in an scf.forall: rows r, r + 3, ... (ceil((10 - r) / 3) of them) to
// batch row 3 b + r of a zeroed (3, 1, 4, 8) tensor; the window is divided
// by 3 and each class gets its valid keys; the result is copied back the
// same way. Rows are copied one at a time (each a contiguous copy once
// lowered).
// CHECK-LABEL: func.func @dilated
// CHECK: %[[ZERO:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%{{.*}} : tensor<3x1x4x8xf32>)
// CHECK: %[[Q:.*]] = scf.forall (%[[B:.*]], %[[R:.*]]) in (1, 3) shared_outs(%[[ACC:.*]] = %[[ZERO]])
// CHECK: %[[ROWS:.*]] = arith.ceildivsi %{{.*}}, %c3 : index
// CHECK: %[[FROM:.*]] = tensor.extract_slice %arg0[%[[B]], 0, %[[R]], 0] [1, 1, %[[ROWS]], 8] [1, 1, 3, 1]
// CHECK: %[[TO:.*]] = tensor.extract_slice %[[ACC]][%{{.*}}, 0, %c0, 0] [1, 1, %[[ROWS]], 8] [1, 1, 1, 1]
// CHECK: scf.for %[[H:.*]] = %c0 to %c1
// CHECK: scf.for %[[A:.*]] = %c0 to %[[ROWS]]
// CHECK: %[[ROW:.*]] = tensor.extract_slice %[[FROM]][0, %[[H]], %[[A]], 0] [1, 1, 1, 8] [1, 1, 1, 1] : tensor<1x1x?x8xf32> to tensor<8xf32>
// CHECK: tensor.insert_slice %[[ROW]] into %{{.*}}[0, %[[H]], %[[A]], 0] [1, 1, 1, 8] [1, 1, 1, 1] : tensor<8xf32> into tensor<1x1x?x8xf32>
// CHECK: tensor.parallel_insert_slice
// CHECK: %[[LEN:.*]] = tensor.generate
// CHECK: arith.ceildivsi
// CHECK: } : tensor<3xi32>
// CHECK: %[[O:.*]], %{{.*}} = attn.attention %[[Q]], %{{.*}}, %{{.*}} key_lengths(%[[LEN]]) mask(#attn.window<left = 2, right = 2, alignment = top_left>) : {{.*}} -> (tensor<3x1x4x8xf32>, tensor<3x1x4xf32>)
// CHECK: %[[OUT:.*]] = scf.forall {{.*}} -> (tensor<1x1x10x8xf32>)
// CHECK: tensor.extract_slice %[[O]][%{{.*}}, 0, %c0, 0] [1, 1, %{{.*}}, 8] [1, 1, 1, 1]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %{{.*}}[%{{.*}}, 0, %{{.*}}, 0] [1, 1, %{{.*}}, 8] [1, 1, 3, 1]
// CHECK-NOT: attn.combine
// CHECK: return %[[OUT]]
func.func @dilated(%q: tensor<1x1x10x8xf32>) -> tensor<1x1x10x8xf32> {
  %o = attn.attention %q, %q, %q
      mask(#attn.window<left = 6, right = 6, alignment = top_left, dilation = 3>)
      : (tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>)
        -> tensor<1x1x10x8xf32>
  return %o : tensor<1x1x10x8xf32>
}

// -----

// Strided (l = 4, autoregressive): the band of 4 keys in the original order,
// and the residue classes' earlier keys (rows from 4 on against all keys,
// causal), copied back to rows 4.. of a tensor whose first 4 rows hold
// (0, -inf), and merged.
// CHECK-LABEL: func.func @strided
// CHECK: %[[BAND:.*]], %[[BANDLSE:.*]] = attn.attention %arg0, %arg1, %arg2 mask(#attn.window<left = 3, right = 0, alignment = top_left>)
// CHECK: tensor.extract_slice %arg0[%{{.*}}, 0, %{{.*}}, 0] [1, 2, %{{.*}}, 16] [1, 1, 4, 1]
// CHECK: %[[CLS:.*]], %[[CLSLSE:.*]] = attn.attention {{.*}} mask(#attn.causal<top_left>) : (tensor<?x2x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?xi32>)
// CHECK: linalg.fill ins(%cst{{.*}} : f32) outs(%{{.*}} : tensor<?x2x?x16xf32>)
// CHECK: %[[OUT:.*]] = scf.forall
// CHECK: linalg.fill ins(%cst{{.*}} : f32) outs(%{{.*}} : tensor<?x2x?xf32>)
// CHECK: %[[LSE:.*]] = scf.forall
// CHECK: %[[C:.*]] = attn.combine(%[[BAND]], %[[OUT]]) lse(%[[BANDLSE]], %[[LSE]])
// CHECK: return %[[C]]
func.func @strided(%q: tensor<?x2x?x16xf32>, %k: tensor<?x1x?x16xf32>,
                   %v: tensor<?x1x?x16xf32>) -> tensor<?x2x?x16xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<stride = 4>)
      : (tensor<?x2x?x16xf32>, tensor<?x1x?x16xf32>, tensor<?x1x?x16xf32>)
        -> tensor<?x2x?x16xf32>
  return %o : tensor<?x2x?x16xf32>
}

// -----

// Bidirectional: a third piece, the classes' later keys (keys from 4 on),
// a window reaching every key of the class.
// CHECK-LABEL: func.func @strided_bidirectional
// CHECK: attn.attention %arg0, %arg0, %arg0 mask(#attn.window<left = 3, right = 3, alignment = top_left>)
// CHECK: attn.attention {{.*}} mask(#attn.causal<top_left>)
// CHECK: attn.attention {{.*}} mask(#attn.window<left = 0, right = 5, alignment = top_left>)
// CHECK: attn.combine({{.*}}, {{.*}}, {{.*}}) lse
func.func @strided_bidirectional(%q: tensor<1x1x16x8xf32>) -> tensor<1x1x16x8xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = 4, bidirectional = true>)
      : (tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>)
        -> tensor<1x1x16x8xf32>
  return %o : tensor<1x1x16x8xf32>
}

// -----

// Split over heads: even heads (a strided slice of the heads) see the band,
// odd heads the residue classes; each head one piece, nothing to merge.
// With one K/V head per query head the K/V heads are sliced alike.
// CHECK-LABEL: func.func @strided_split
// CHECK: %[[QE:.*]] = tensor.extract_slice %arg0[0, 0, 0, 0] [1, 2, 12, 8] [1, 2, 1, 1] : tensor<1x3x12x8xf32> to tensor<1x2x12x8xf32>
// CHECK: %[[KE:.*]] = tensor.extract_slice %arg1[0, 0, 0, 0] [1, 2, 12, 8] [1, 2, 1, 1]
// CHECK: %[[EVEN:.*]], %{{.*}} = attn.attention %[[QE]], %[[KE]], %{{.*}} mask(#attn.window<left = 3, right = 0, alignment = top_left>)
// CHECK: tensor.extract_slice %arg0[0, 1, 0, 0] [1, 1, 12, 8] [1, 2, 1, 1] : tensor<1x3x12x8xf32> to tensor<1x1x12x8xf32>
// CHECK: attn.attention {{.*}} mask(#attn.causal<top_left>) : (tensor<4x1x3x8xf32>
// CHECK-NOT: attn.combine
// CHECK: %[[INS:.*]] = tensor.insert_slice %[[EVEN]] into %{{.*}}[0, 0, 0, 0] [1, 2, 12, 8] [1, 2, 1, 1]
// CHECK: tensor.insert_slice %{{.*}} into %[[INS]][0, 1, 0, 0] [1, 1, 12, 8] [1, 2, 1, 1]
func.func @strided_split(%q: tensor<1x3x12x8xf32>, %k: tensor<1x3x12x8xf32>)
    -> tensor<1x3x12x8xf32> {
  %o = attn.attention %q, %k, %k mask(#attn.strided<stride = 4, split_heads = true>)
      : (tensor<1x3x12x8xf32>, tensor<1x3x12x8xf32>, tensor<1x3x12x8xf32>)
        -> tensor<1x3x12x8xf32>
  return %o : tensor<1x3x12x8xf32>
}

// -----

// Fixed (l = 8, c = 2): the own block (blockwise eq, causal) in the original
// order, and the summary keys gathered (24 keys -> 3 blocks x 2 = 6) under
// "earlier block" (blockwise lt, blocks of 8 rows and 2 keys).
// CHECK-LABEL: func.func @fixed
// CHECK: attn.attention %arg0, %arg0, %arg0 mask(#attn.intersection<[#attn.blockwise<query_block = 8, key_block = 8, relation = eq>, #attn.causal<top_left>]>)
// CHECK: tensor.expand_shape %arg0 {{\[}}[0], [1], [2, 3], [4]] output_shape [1, 1, 3, 8, 8]
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 6, 0] [1, 1, 3, 2, 8] [1, 1, 1, 1, 1]
// CHECK: linalg.copy
// CHECK: tensor.collapse_shape %{{.*}} : tensor<1x1x3x2x8xf32> into tensor<1x1x6x8xf32>
// CHECK: attn.attention %arg0, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) mask(#attn.blockwise<query_block = 8, key_block = 2, relation = lt>) : (tensor<1x1x24x8xf32>, tensor<1x1x6x8xf32>
// CHECK: attn.combine
func.func @fixed(%q: tensor<1x1x24x8xf32>) -> tensor<1x1x24x8xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.fixed<block = 8, summary = 2>)
      : (tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>)
        -> tensor<1x1x24x8xf32>
  return %o : tensor<1x1x24x8xf32>
}

// -----

// Left alone: bottom-right dilated windows (a row's residue depends on its
// batch row's key length), plain windows, fixed split over heads, and a
// split over heads whose K/V groups have an odd size (3 query heads per K/V
// head: a parity slice would not keep a uniform grouping).
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: attn.combine
// CHECK-NOT: tensor.extract_slice
// CHECK: mask(#attn.window<left = 4, right = 0, alignment = bottom_right, dilation = 2>)
// CHECK: mask(#attn.window<left = 4, right = 0, alignment = top_left>)
// CHECK: mask(#attn.fixed<block = 4, split_heads = true>)
// CHECK: mask(#attn.strided<stride = 4, split_heads = true>)
func.func @left_alone(%q: tensor<1x6x10x8xf32>, %k: tensor<1x2x10x8xf32>)
    -> (tensor<1x6x10x8xf32>, tensor<1x6x10x8xf32>, tensor<1x6x10x8xf32>,
        tensor<1x6x10x8xf32>) {
  %a = attn.attention %q, %k, %k
      mask(#attn.window<left = 4, right = 0, alignment = bottom_right, dilation = 2>)
      : (tensor<1x6x10x8xf32>, tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>)
        -> tensor<1x6x10x8xf32>
  %b = attn.attention %q, %k, %k
      mask(#attn.window<left = 4, right = 0, alignment = top_left>)
      : (tensor<1x6x10x8xf32>, tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>)
        -> tensor<1x6x10x8xf32>
  %c = attn.attention %q, %k, %k
      mask(#attn.fixed<block = 4, summary = 1, split_heads = true>)
      : (tensor<1x6x10x8xf32>, tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>)
        -> tensor<1x6x10x8xf32>
  %d = attn.attention %q, %k, %k
      mask(#attn.strided<stride = 4, split_heads = true>)
      : (tensor<1x6x10x8xf32>, tensor<1x2x10x8xf32>, tensor<1x2x10x8xf32>)
        -> tensor<1x6x10x8xf32>
  return %a, %b, %c, %d : tensor<1x6x10x8xf32>, tensor<1x6x10x8xf32>,
      tensor<1x6x10x8xf32>, tensor<1x6x10x8xf32>
}

// -----

// Split over heads with the lse requested: each parity's lse is placed back
// by parity too.
// CHECK-LABEL: func.func @split_lse
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0, 0] [1, 2, 12, 8] [1, 2, 1, 1]
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 1, 0, 0] [1, 2, 12, 8] [1, 2, 1, 1]
// CHECK: %[[L0:.*]] = tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0] [1, 2, 12] [1, 2, 1] : tensor<1x2x12xf32> into tensor<1x4x12xf32>
// CHECK: %[[L1:.*]] = tensor.insert_slice %{{.*}} into %[[L0]][0, 1, 0] [1, 2, 12] [1, 2, 1] : tensor<1x2x12xf32> into tensor<1x4x12xf32>
// CHECK: return %{{.*}}, %[[L1]]
func.func @split_lse(%q: tensor<1x4x12x8xf32>, %k: tensor<1x2x12x8xf32>)
    -> (tensor<1x4x12x8xf32>, tensor<1x4x12xf32>) {
  %o, %l = attn.attention %q, %k, %k mask(#attn.strided<stride = 4, split_heads = true>)
      : (tensor<1x4x12x8xf32>, tensor<1x2x12x8xf32>, tensor<1x2x12x8xf32>)
        -> (tensor<1x4x12x8xf32>, tensor<1x4x12xf32>)
  return %o, %l : tensor<1x4x12x8xf32>, tensor<1x4x12xf32>
}

// -----

// A stride, dilation or block beyond the keys (S static), or beyond 2^16
// classes (S dynamic), is not folded into the batch: each class would hold
// at most one key, and the batch would grow by the parameter (2^31 - 1
// here, the largest a mask parameter may be).
// The mask stays whole, for the flash tiles to mask element-wise.
// CHECK-LABEL: func.func @huge_parameters
// CHECK-NOT: scf.forall
// CHECK: attn.attention {{.*}} mask(#attn.strided<stride = 2147483647>)
// CHECK: attn.attention {{.*}} mask(#attn.window<left = 2147483647, right = 0, alignment = top_left, dilation = 2147483647>)
// CHECK: attn.attention {{.*}} mask(#attn.strided<stride = 65537>)
// CHECK-NOT: scf.forall
func.func @huge_parameters(%q: tensor<1x1x16x8xf32>, %d: tensor<1x1x?x8xf32>)
    -> (tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x?x8xf32>) {
  %a = attn.attention %q, %q, %q mask(#attn.strided<stride = 2147483647>)
      : (tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>)
        -> tensor<1x1x16x8xf32>
  %b = attn.attention %q, %q, %q
      mask(#attn.window<left = 2147483647, right = 0, alignment = top_left, dilation = 2147483647>)
      : (tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>)
        -> tensor<1x1x16x8xf32>
  %c = attn.attention %d, %d, %d mask(#attn.strided<stride = 65537>)
      : (tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>)
        -> tensor<1x1x?x8xf32>
  return %a, %b, %c : tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x?x8xf32>
}

// -----

// The backward of strided (l = 4, causal): each piece's attention_grad in
// its layout, fed the whole attention's out, dout and lse (folded like the
// queries): the band in the original order, the residue classes from row 4
// on. dq sums the pieces' rows; dk and dv the pieces' keys, the classes'
// unfolded back first. The sums are f32 (a half-precision gradient is
// rounded once).
// CHECK-LABEL: func.func @strided_grad
// CHECK: %[[BAND_DQ:[a-z_0-9]+]], %[[BAND_DK:[a-z_0-9]+]], %[[BAND_DV:[a-z_0-9]+]] = attn.attention_grad %arg0, %arg1, %arg2, %arg3, %arg4, %arg5 mask(#attn.window<left = 3, right = 0, alignment = top_left>) : (tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16xf32>)
// CHECK: attn.attention_grad {{.*}} key_lengths(%{{.*}}) mask(#attn.causal<top_left>) : (tensor<4x2x3x8xbf16>, tensor<4x2x4x8xbf16>, tensor<4x2x4x8xbf16>, tensor<4x2x3x8xbf16>, tensor<4x2x3x8xbf16>, tensor<4x2x3xf32>, tensor<4xi32>)
// CHECK: %[[DQ:.*]] = scf.forall {{.*}} -> (tensor<1x2x16x8xbf16>)
// CHECK: %[[DK:.*]] = scf.forall {{.*}} -> (tensor<1x2x16x8xbf16>)
// CHECK: %[[DV:.*]] = scf.forall {{.*}} -> (tensor<1x2x16x8xbf16>)
// CHECK: %[[DQ_SUM:.*]] = linalg.generic {{.*}} ins(%[[BAND_DQ]], %[[DQ]] : tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>)
// CHECK: arith.extf
// CHECK: arith.addf
// CHECK: arith.truncf
// CHECK: %[[DK_SUM:.*]] = linalg.generic {{.*}} ins(%[[BAND_DK]], %[[DK]] :
// CHECK: %[[DV_SUM:.*]] = linalg.generic {{.*}} ins(%[[BAND_DV]], %[[DV]] :
// CHECK: return %[[DQ_SUM]], %[[DK_SUM]], %[[DV_SUM]]
func.func @strided_grad(%q: tensor<1x2x16x8xbf16>, %k: tensor<1x2x16x8xbf16>,
                        %v: tensor<1x2x16x8xbf16>, %o: tensor<1x2x16x8xbf16>,
                        %do: tensor<1x2x16x8xbf16>, %lse: tensor<1x2x16xf32>)
    -> (tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>) {
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
      mask(#attn.strided<stride = 4>)
      : (tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>,
         tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16xf32>)
        -> (tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>)
  return %dq, %dk, %dv
      : tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>, tensor<1x2x16x8xbf16>
}

// -----

// The backward of fixed (l = 8, c = 2): the summary keys' gradients go back
// to the last 2 keys of every block of 8 (the others zero).
// CHECK-LABEL: func.func @fixed_grad
// CHECK: attn.attention_grad %arg0, %arg0, %arg0, %arg1, %arg2, %arg3 mask(#attn.intersection
// CHECK: %{{.*}}, %[[SUMMARY_DK:[a-z_0-9]+]], %{{.*}} = attn.attention_grad {{.*}} mask(#attn.blockwise<query_block = 8, key_block = 2, relation = lt>) : (tensor<1x1x24x8xf32>, tensor<1x1x6x8xf32>
// CHECK: tensor.expand_shape %[[SUMMARY_DK]] {{\[}}[0], [1], [2, 3], [4]] output_shape [1, 1, 3, 2, 8]
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[0, 0, 0, 6, 0] [1, 1, 3, 2, 8] [1, 1, 1, 1, 1] : tensor<1x1x3x2x8xf32> into tensor<1x1x3x8x8xf32>
// CHECK: tensor.collapse_shape %{{.*}} : tensor<1x1x3x8x8xf32> into tensor<1x1x24x8xf32>
func.func @fixed_grad(%q: tensor<1x1x24x8xf32>, %o: tensor<1x1x24x8xf32>,
                      %do: tensor<1x1x24x8xf32>, %lse: tensor<1x1x24xf32>)
    -> (tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>) {
  %dq, %dk, %dv = attn.attention_grad %q, %q, %q, %o, %do, %lse
      mask(#attn.fixed<block = 8, summary = 2>)
      : (tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>,
         tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>, tensor<1x1x24xf32>)
        -> (tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>)
  return %dq, %dk, %dv
      : tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>, tensor<1x1x24x8xf32>
}
