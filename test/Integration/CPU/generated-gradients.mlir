// The backward functions that attn-generate-gradients derives (the
// derivation itself is held to central differences of the forward in
// unittests/Integration/CPUIntegrationTest.cpp) compile through the CPU
// pipeline and match the float64 reference on random inputs: a grouped-query
// causal layer (the gradients of x and of the four weights), a bf16
// cross-attention layer with padded keys (x, the source and the weights),
// and self-attention on one tensor.
//
// RUN: attn-opt %s --attn-generate-gradients -o %t.mlir
// RUN: attn-run %t.mlir --entry layer_backward --random 1 --check
// RUN: attn-run %t.mlir --entry cross_backward --random 2 --values key_lengths=13,6 --check
// RUN: attn-run %t.mlir --entry self_backward --random 3 --check

func.func @layer(%x: tensor<2x37x20xf32>, %wq: tensor<20x20xf32>,
                 %wk: tensor<20x10xf32>, %wv: tensor<20x10xf32>,
                 %wo: tensor<20x12xf32>) -> tensor<2x37x12xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      mask(#attn.causal<top_left>)
      : (tensor<2x37x20xf32>, tensor<20x20xf32>, tensor<20x10xf32>,
         tensor<20x10xf32>, tensor<20x12xf32>) -> tensor<2x37x12xf32>
  return %y : tensor<2x37x12xf32>
}

func.func @cross(%x: tensor<2x9x16xbf16>, %wq: tensor<16x16xbf16>,
                 %wk: tensor<12x16xbf16>, %wv: tensor<12x8xbf16>,
                 %wo: tensor<8x16xbf16>, %source: tensor<2x13x12xbf16>,
                 %key_lengths: tensor<2xi32>) -> tensor<2x9x16xbf16> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo source(%source)
      key_lengths(%key_lengths) heads(2) kv_heads(2)
      : (tensor<2x9x16xbf16>, tensor<16x16xbf16>, tensor<12x16xbf16>,
         tensor<12x8xbf16>, tensor<8x16xbf16>, tensor<2x13x12xbf16>,
         tensor<2xi32>) -> tensor<2x9x16xbf16>
  return %y : tensor<2x9x16xbf16>
}

func.func @self(%x: tensor<1x3x29x8xf32>) -> tensor<1x3x29x8xf32> {
  %o = attn.attention %x, %x, %x mask(#attn.window<left = 4, right = 4, alignment = top_left>)
      : (tensor<1x3x29x8xf32>, tensor<1x3x29x8xf32>, tensor<1x3x29x8xf32>)
        -> tensor<1x3x29x8xf32>
  return %o : tensor<1x3x29x8xf32>
}
