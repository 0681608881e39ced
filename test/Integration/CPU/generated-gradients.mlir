// The backward functions that attn-generate-gradients derives (the
// derivation itself is held to central differences of the forward in
// unittests/Integration/CPUIntegrationTest.cpp) compile through the CPU
// pipeline and match the float64 reference on random inputs: a grouped-query
// causal layer (the gradients of x and of the four weights), a bf16
// cross-attention layer with padded keys (x, the source and the weights),
// self-attention on one tensor, a layer of dynamic sizes, and linear
// attention (grouped heads, padded keys, an initial state; bf16 with relu;
// causal, f32 and f16).
//
// RUN: attn-opt %s --attn-generate-gradients -o %t.mlir
// RUN: attn-run %t.mlir --entry layer_backward --random 1 --check
// RUN: attn-run %t.mlir --entry cross_backward --random 2 --values key_lengths=13,6 --check
// RUN: attn-run %t.mlir --entry self_backward --random 3 --check
// RUN: attn-run %t.mlir --entry dynamic_layer_backward --random 4 --shape x=3x41x32 --check | FileCheck %s
// RUN: attn-run %t.mlir --entry linear_backward --random 6 --shape q=2x4x37x8 --shape k=2x2x45x8 --shape dout=2x4x37x6 --values key_lengths=45,17 --check
// RUN: attn-run %t.mlir --entry linear_bf16_backward --random 7 --check
// Causal linear attention (the reverse scan, chunks of 64): one chunk and a
// partial one, a key length of 0, grouped heads, an initial state; f16.
// RUN: attn-run %t.mlir --entry causal_linear_backward --random 8 --shape q=2x4x150x8 --shape dout=2x4x150x6 --values key_lengths=150,0 --check
// RUN: attn-run %t.mlir --entry causal_linear_backward --random 9 --shape q=1x4x1x8 --shape dout=1x4x1x6 --values key_lengths=1 --check
// RUN: attn-run %t.mlir --entry causal_linear_f16_backward --random 10 --check
// Weight gradients over more tokens than one chunk (128) and a partial one:
// RUN: attn-run %t.mlir --entry dynamic_layer_backward --random 5 --shape x=2x300x32 --check
//
// The gradients are named after what they differentiate (the runtime's
// signature: d + the argument's name or role).
// CHECK: check dx [3,41,32]
// CHECK: check dwq [32,32]
// CHECK: check dwo [32,24]

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

func.func @dynamic_layer(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>,
                         %wk: tensor<32x16xf32>, %wv: tensor<32x16xf32>,
                         %wo: tensor<32x24xf32>) -> tensor<?x?x24xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      mask(#attn.window<left = 6, right = 0, alignment = top_left>)
      : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x16xf32>,
         tensor<32x16xf32>, tensor<32x24xf32>) -> tensor<?x?x24xf32>
  return %y : tensor<?x?x24xf32>
}

func.func @linear(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                  %v: tensor<?x2x?x6xf32>, %key_lengths: tensor<?xi32>,
                  %state: tensor<?x2x8x7xf32>) -> tensor<?x4x?x6xf32> {
  %o = attn.linear_attention %q, %k, %v key_lengths(%key_lengths) state(%state)
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x6xf32>,
         tensor<?xi32>, tensor<?x2x8x7xf32>) -> tensor<?x4x?x6xf32>
  return %o : tensor<?x4x?x6xf32>
}

func.func @linear_bf16(%q: tensor<2x2x19x8xbf16>, %k: tensor<2x2x23x8xbf16>,
                       %v: tensor<2x2x23x8xbf16>) -> tensor<2x2x19x8xbf16> {
  %o = attn.linear_attention %q, %k, %v feature_map(relu)
      : (tensor<2x2x19x8xbf16>, tensor<2x2x23x8xbf16>, tensor<2x2x23x8xbf16>)
        -> tensor<2x2x19x8xbf16>
  return %o : tensor<2x2x19x8xbf16>
}

func.func @causal_linear(%q: tensor<?x4x?x8xf32>, %k: tensor<?x2x?x8xf32>,
                         %v: tensor<?x2x?x6xf32>, %key_lengths: tensor<?xi32>,
                         %state: tensor<?x2x8x7xf32>) -> tensor<?x4x?x6xf32> {
  %o = attn.linear_attention %q, %k, %v key_lengths(%key_lengths) state(%state)
      causal
      : (tensor<?x4x?x8xf32>, tensor<?x2x?x8xf32>, tensor<?x2x?x6xf32>,
         tensor<?xi32>, tensor<?x2x8x7xf32>) -> tensor<?x4x?x6xf32>
  return %o : tensor<?x4x?x6xf32>
}

func.func @causal_linear_f16(%q: tensor<2x1x70x8xf16>, %k: tensor<2x1x70x8xf16>,
                             %v: tensor<2x1x70x4xf16>) -> tensor<2x1x70x4xf16> {
  %o = attn.linear_attention %q, %k, %v causal
      : (tensor<2x1x70x8xf16>, tensor<2x1x70x8xf16>, tensor<2x1x70x4xf16>)
        -> tensor<2x1x70x4xf16>
  return %o : tensor<2x1x70x4xf16>
}
