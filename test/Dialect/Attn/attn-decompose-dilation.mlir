// RUN: attn-opt %s --attn-decompose-dilation --split-input-file | FileCheck %s

// A top-left window with dilation 2 becomes two plain windows of half the
// extents, over the even and the odd rows and keys (strided slices), written
// back to the even and odd rows of the result; key lengths become each
// class's valid keys, ceil((len - r) / 2).
// CHECK-LABEL: func.func @dilated
// CHECK: %[[OUT:.*]] = tensor.empty(%{{.*}}, %{{.*}}) : tensor<?x2x?x8xf32>
// CHECK: %[[Q0:.*]] = tensor.extract_slice %{{.*}}[0, 0, 0, 0] [%{{.*}}, 2, %{{.*}}, 8] [1, 1, 2, 1]
// CHECK: %[[L0:.*]] = linalg.generic
// CHECK: arith.ceildivsi %{{.*}}, %c2_i32 : i32
// CHECK: %[[A0:.*]] = attn.attention %[[Q0]], %{{.*}}, %{{.*}} key_lengths(%[[L0]]) mask(#attn.window<left = 3, right = 1, alignment = top_left>)
// CHECK: %[[O0:.*]] = tensor.insert_slice %[[A0]] into %[[OUT]][0, 0, 0, 0] [%{{.*}}, 2, %{{.*}}, 8] [1, 1, 2, 1]
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 1, 0] [%{{.*}}, 2, %{{.*}}, 8] [1, 1, 2, 1]
// CHECK: arith.subi %{{.*}}, %c1_i32 : i32
// CHECK: %[[A1:.*]] = attn.attention {{.*}} mask(#attn.window<left = 3, right = 1, alignment = top_left>)
// CHECK: %[[O1:.*]] = tensor.insert_slice %[[A1]] into %[[O0]][0, 0, 1, 0]
// CHECK: return %[[O1]]
func.func @dilated(%q: tensor<?x2x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                   %v: tensor<?x2x?x8xf32>, %len: tensor<?xi32>)
    -> tensor<?x2x?x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.window<left = 7, right = 3, alignment = top_left, dilation = 2>)
      : (tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x8xf32>,
         tensor<?xi32>) -> tensor<?x2x?x8xf32>
  return %o : tensor<?x2x?x8xf32>
}

// -----

// Static sizes stay static: 10 rows in classes of 4, 3, 3 (dilation 3).
// CHECK-LABEL: func.func @static_sizes
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 0, 0] [1, 1, 4, 8] [1, 1, 3, 1] : tensor<1x1x10x8xf32> to tensor<1x1x4x8xf32>
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 1, 0] [1, 1, 3, 8] [1, 1, 3, 1] : tensor<1x1x10x8xf32> to tensor<1x1x3x8xf32>
// CHECK: tensor.extract_slice %{{.*}}[0, 0, 2, 0] [1, 1, 3, 8] [1, 1, 3, 1] : tensor<1x1x10x8xf32> to tensor<1x1x3x8xf32>
func.func @static_sizes(%q: tensor<1x1x10x8xf32>) -> tensor<1x1x10x8xf32> {
  %o = attn.attention %q, %q, %q
      mask(#attn.window<left = 6, right = 6, alignment = top_left, dilation = 3>)
      : (tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>)
        -> tensor<1x1x10x8xf32>
  return %o : tensor<1x1x10x8xf32>
}

// -----

// Bottom-right (a row's residue depends on its batch row's key length) and
// undilated windows are left alone.
// CHECK-LABEL: func.func @left_alone
// CHECK-NOT: tensor.extract_slice
// CHECK: mask(#attn.window<left = 4, right = 0, alignment = bottom_right, dilation = 2>)
// CHECK: mask(#attn.window<left = 4, right = 0, alignment = top_left>)
func.func @left_alone(%q: tensor<1x1x10x8xf32>)
    -> (tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>) {
  %a = attn.attention %q, %q, %q
      mask(#attn.window<left = 4, right = 0, alignment = bottom_right, dilation = 2>)
      : (tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>)
        -> tensor<1x1x10x8xf32>
  %b = attn.attention %q, %q, %q
      mask(#attn.window<left = 4, right = 0, alignment = top_left>)
      : (tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>)
        -> tensor<1x1x10x8xf32>
  return %a, %b : tensor<1x1x10x8xf32>, tensor<1x1x10x8xf32>
}
