// Attention layers with their projections, compiled for the CPU and checked
// against the float64 reference (also swept over random shapes by the
// integration tests in unittests/Integration).
//
// RUN: attn-run %s --entry cross_padded --random 3 --shape x=2x13x32 --shape source=2x29x24 --values key_lengths=29,0 --check
//
// The projections' tasks hold 96 tokens and reduce in chunks of 128
// features (attn-tile-projections): these cross both, with 6-row blocks
// and single leftover rows, heads of 64 (strips of 64 columns on AVX-512)
// and an output of 96 columns (strips of 32), in f32 and f16, and one token.
// RUN: attn-run %s --entry self_wide --random 4 --shape x=2x203x160 --check
// RUN: attn-run %s --entry self_wide --random 5 --shape x=1x1x160 --check
// RUN: attn-run %s --entry self_wide_f16 --random 6 --shape x=1x97x160 --check

func.func @self_mha(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>,
                    %wk: tensor<32x32xf32>, %wv: tensor<32x32xf32>,
                    %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(4)
      : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>,
         tensor<32x32xf32>, tensor<32x32xf32>) -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

func.func @self_gqa_causal(%x: tensor<?x?x48xf32>, %wq: tensor<48x48xf32>,
                           %wk: tensor<48x16xf32>, %wv: tensor<48x16xf32>,
                           %wo: tensor<48x40xf32>) -> tensor<?x?x40xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(6) kv_heads(2)
      mask(#attn.causal<top_left>)
      : (tensor<?x?x48xf32>, tensor<48x48xf32>, tensor<48x16xf32>,
         tensor<48x16xf32>, tensor<48x40xf32>) -> tensor<?x?x40xf32>
  return %y : tensor<?x?x40xf32>
}

func.func @self_mqa_window(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>,
                           %wk: tensor<32x8xf32>, %wv: tensor<32x12xf32>,
                           %wo: tensor<48x32xf32>, %len: tensor<?xi32>)
    -> tensor<?x?x32xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo key_lengths(%len)
      heads(4) kv_heads(1)
      mask(#attn.window<left = 6, right = 0, alignment = bottom_right>)
      scale(0.2)
      : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x8xf32>,
         tensor<32x12xf32>, tensor<48x32xf32>, tensor<?xi32>)
        -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

func.func @cross_padded(%x: tensor<?x?x32xf32>, %source: tensor<?x?x24xf32>,
                        %wq: tensor<32x32xf32>, %wk: tensor<24x16xf32>,
                        %wv: tensor<24x16xf32>, %wo: tensor<32x32xf32>,
                        %len: tensor<?xi32>) -> tensor<?x?x32xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo source(%source)
      key_lengths(%len) heads(4) kv_heads(2)
      : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<24x16xf32>,
         tensor<24x16xf32>, tensor<32x32xf32>, tensor<?x?x24xf32>,
         tensor<?xi32>) -> tensor<?x?x32xf32>
  return %y : tensor<?x?x32xf32>
}

func.func @self_wide(%x: tensor<?x?x160xf32>, %wq: tensor<160x128xf32>,
                     %wk: tensor<160x64xf32>, %wv: tensor<160x64xf32>,
                     %wo: tensor<128x96xf32>) -> tensor<?x?x96xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(2) kv_heads(1)
      mask(#attn.causal<top_left>)
      : (tensor<?x?x160xf32>, tensor<160x128xf32>, tensor<160x64xf32>,
         tensor<160x64xf32>, tensor<128x96xf32>) -> tensor<?x?x96xf32>
  return %y : tensor<?x?x96xf32>
}

func.func @self_wide_f16(%x: tensor<?x?x160xf16>, %wq: tensor<160x128xf16>,
                         %wk: tensor<160x64xf16>, %wv: tensor<160x64xf16>,
                         %wo: tensor<128x96xf16>) -> tensor<?x?x96xf16> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(2) kv_heads(1)
      : (tensor<?x?x160xf16>, tensor<160x128xf16>, tensor<160x64xf16>,
         tensor<160x64xf16>, tensor<128x96xf16>) -> tensor<?x?x96xf16>
  return %y : tensor<?x?x96xf16>
}
