// Mask parameters far beyond the sequence (found by mutating the examples:
// the sparse decomposition folded 2^32 residue classes into the batch and
// the pipeline aborted with "SmallVector unable to grow") compile, static
// or dynamic S, in bounded time (2^31 - 1 is the largest parameter the
// verifier accepts; see invalid.mlir).
// RUN: attn-opt %s --attn-lower-to-llvm-cpu | FileCheck %s
// CHECK-LABEL: llvm.func @strided
// CHECK-LABEL: llvm.func @dilated
// CHECK-LABEL: llvm.func @fixed
// CHECK-LABEL: llvm.func @dynamic
func.func @strided(%q: tensor<1x1x16x8xf32>) -> tensor<1x1x16x8xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = 2147483647>)
      : (tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>)
        -> tensor<1x1x16x8xf32>
  return %o : tensor<1x1x16x8xf32>
}
func.func @dilated(%q: tensor<1x1x16x8xf32>) -> tensor<1x1x16x8xf32> {
  %o = attn.attention %q, %q, %q
      mask(#attn.window<left = 2147483647, right = 0, alignment = top_left, dilation = 2147483647>)
      : (tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>)
        -> tensor<1x1x16x8xf32>
  return %o : tensor<1x1x16x8xf32>
}
func.func @fixed(%q: tensor<1x1x16x8xf32>) -> tensor<1x1x16x8xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.fixed<block = 2147483647, summary = 8>)
      : (tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>, tensor<1x1x16x8xf32>)
        -> tensor<1x1x16x8xf32>
  return %o : tensor<1x1x16x8xf32>
}
func.func @dynamic(%q: tensor<1x1x?x8xf32>) -> tensor<1x1x?x8xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = 2147483647, bidirectional = true>)
      : (tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>)
        -> tensor<1x1x?x8xf32>
  return %o : tensor<1x1x?x8xf32>
}
