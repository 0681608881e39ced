// f16 and bf16 attention at the shapes the tensor-core GPU kernel takes
// (head dimensions 64 and 128, 1, 4 and 8 query heads per K/V head), one
// function per mask family. test/Integration/GPU/cases.txt runs them on a
// GPU with --gpu-tensor-cores at sizes that are multiples of nothing
// (blocks of 64 rows, key tiles of 64); these RUN lines check them on the
// CPU against the same float64 reference.
//
// RUN: attn-run %s --entry mha --random 1 --shape q=2x4x77x64 --shape k=2x4x133x64 --check
// RUN: attn-run %s --entry gqa_causal --random 2 --shape q=1x8x70x128 --shape k=1x2x70x128 --check
// RUN: attn-run %s --entry mqa_padded --random 3 --shape q=2x8x33x64 --shape k=2x1x90x64 --values key_lengths=90,0 --check
// RUN: attn-run %s --entry sliding --random 4 --shape q=1x4x150x64 --shape k=1x4x150x64 --values key_lengths=150 --check
// RUN: attn-run %s --entry dilated --random 5 --shape q=1x2x100x64 --shape k=1x2x100x64 --check
// RUN: attn-run %s --entry window_global --random 6 --shape q=1x2x130x64 --shape k=1x2x130x64 --check
// RUN: attn-run %s --entry strided --random 7 --shape q=1x4x90x64 --shape k=1x4x90x64 --check
// RUN: attn-run %s --entry fixed --random 8 --shape q=1x4x90x64 --shape k=1x4x90x64 --check
// RUN: attn-run %s --entry cross_lse --random 9 --shape q=2x4x45x64 --shape k=2x4x61x64 --shape v=2x4x61x128 --check
// RUN: attn-run %s --entry small_scale --random 10 --shape q=1x2x40x64 --shape k=1x2x40x64 --check
// RUN: attn-run %s --entry decode --random 11 --shape k=2x2x300x128 --values key_lengths=300,1 --check
// RUN: attn-run %s --entry decode_rows --random 12 --shape k=1x1x200x64 --values key_lengths=130 --check
// RUN: attn-run %s --entry layer --random 13 --shape x=2x37x256 --check

// No mask, N != S, both in tiles of nothing.
func.func @mha(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>,
               %v: tensor<?x4x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %o = attn.attention %q, %k, %v
      : (tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>)
        -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}

// GQA-4, D = 128, causal from the top left.
func.func @gqa_causal(%q: tensor<?x8x?x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                      %v: tensor<?x2x?x128xbf16>) -> tensor<?x8x?x128xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x8x?x128xbf16>, tensor<?x2x?x128xbf16>,
         tensor<?x2x?x128xbf16>) -> tensor<?x8x?x128xbf16>
  return %o : tensor<?x8x?x128xbf16>
}

// MQA (g = 8) in f16, causal from the bottom right, key lengths of 0 (a
// batch row whose queries see nothing: zeros).
func.func @mqa_padded(%q: tensor<?x8x?x64xf16>, %k: tensor<?x1x?x64xf16>,
                      %v: tensor<?x1x?x64xf16>, %len: tensor<?xi32>)
    -> tensor<?x8x?x64xf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x?x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16>,
         tensor<?xi32>) -> tensor<?x8x?x64xf16>
  return %o : tensor<?x8x?x64xf16>
}

// Mistral's causal window of 48 keys.
func.func @sliding(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>,
                   %v: tensor<?x4x?x64xbf16>, %len: tensor<?xi32>)
    -> tensor<?x4x?x64xbf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.window<left = 47, right = 0, alignment = top_left>)
      : (tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>,
         tensor<?xi32>) -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}

// Longformer's dilated window (decomposed into residue classes).
func.func @dilated(%q: tensor<?x2x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                   %v: tensor<?x2x?x64xbf16>) -> tensor<?x2x?x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.window<left = 40, right = 40, alignment = top_left,
                        dilation = 2>)
      : (tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>)
        -> tensor<?x2x?x64xbf16>
  return %o : tensor<?x2x?x64xbf16>
}

// A window with global tokens: a union, each tile visited once.
func.func @window_global(%q: tensor<?x2x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                         %v: tensor<?x2x?x64xbf16>) -> tensor<?x2x?x64xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.union<[#attn.window<left = 20, right = 20,
                                     alignment = top_left>,
                        #attn.global<tokens = [0, 1, 100]>]>)
      : (tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>)
        -> tensor<?x2x?x64xbf16>
  return %o : tensor<?x2x?x64xbf16>
}

// The Sparse Transformer's strided and fixed patterns, autoregressive.
func.func @strided(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>,
                   %v: tensor<?x4x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<stride = 16>)
      : (tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>)
        -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}

func.func @fixed(%q: tensor<?x4x?x64xbf16>, %k: tensor<?x4x?x64xbf16>,
                 %v: tensor<?x4x?x64xbf16>) -> tensor<?x4x?x64xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.fixed<block = 16, summary = 4>)
      : (tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>, tensor<?x4x?x64xbf16>)
        -> tensor<?x4x?x64xbf16>
  return %o : tensor<?x4x?x64xbf16>
}

// Cross attention with Dv != D, and the lse.
func.func @cross_lse(%q: tensor<?x4x?x64xf16>, %k: tensor<?x4x?x64xf16>,
                     %v: tensor<?x4x?x128xf16>)
    -> (tensor<?x4x?x128xf16>, tensor<?x4x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v
      : (tensor<?x4x?x64xf16>, tensor<?x4x?x64xf16>, tensor<?x4x?x128xf16>)
        -> (tensor<?x4x?x128xf16>, tensor<?x4x?xf32>)
  return %o, %lse : tensor<?x4x?x128xf16>, tensor<?x4x?xf32>
}

// A scale of its own (folded into exp2's argument with log2(e)).
func.func @small_scale(%q: tensor<?x2x?x64xbf16>, %k: tensor<?x2x?x64xbf16>,
                       %v: tensor<?x2x?x64xbf16>) -> tensor<?x2x?x64xbf16> {
  %o = attn.attention %q, %k, %v scale(0.03)
      : (tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>, tensor<?x2x?x64xbf16>)
        -> tensor<?x2x?x64xbf16>
  return %o : tensor<?x2x?x64xbf16>
}

// One decoding token of a GQA-4 group against a ragged cache (split-K).
func.func @decode(%q: tensor<?x8x1x128xbf16>, %k: tensor<?x2x?x128xbf16>,
                  %v: tensor<?x2x?x128xbf16>, %len: tensor<?xi32>)
    -> tensor<?x8x1x128xbf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x1x128xbf16>, tensor<?x2x?x128xbf16>,
         tensor<?x2x?x128xbf16>, tensor<?xi32>) -> tensor<?x8x1x128xbf16>
  return %o : tensor<?x8x1x128xbf16>
}

// Three new rows of an MQA group of 8 (24 rows of a block) in f16.
func.func @decode_rows(%q: tensor<?x8x3x64xf16>, %k: tensor<?x1x?x64xf16>,
                       %v: tensor<?x1x?x64xf16>, %len: tensor<?xi32>)
    -> tensor<?x8x3x64xf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x8x3x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16>,
         tensor<?xi32>) -> tensor<?x8x3x64xf16>
  return %o : tensor<?x8x3x64xf16>
}

// A grouped-query layer in bf16: projections around the attention.
func.func @layer(%x: tensor<?x?x256xbf16>, %wq: tensor<256x256xbf16>,
                 %wk: tensor<256x128xbf16>, %wv: tensor<256x128xbf16>,
                 %wo: tensor<256x256xbf16>) -> tensor<?x?x256xbf16> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      mask(#attn.causal<top_left>)
      : (tensor<?x?x256xbf16>, tensor<256x256xbf16>, tensor<256x128xbf16>,
         tensor<256x128xbf16>, tensor<256x256xbf16>) -> tensor<?x?x256xbf16>
  return %y : tensor<?x?x256xbf16>
}
