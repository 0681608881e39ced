// Every verifier error of the attn dialect, with the message a user sees.
// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @query_rank(%q: tensor<2x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{query must be a rank-4 tensor (batch, heads, queries, head_dim), got 'tensor<2x8x16xf32>'}}
  %o = attn.attention %q, %k, %v : (tensor<2x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @key_rank(%q: tensor<2x1x8x16xf32>, %k: tensor<2x8x16xf32>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{key must be a rank-4 tensor (batch, kv_heads, keys, head_dim), got 'tensor<2x8x16xf32>'}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xf32>, tensor<2x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @value_rank(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<1x8x16xf32>) {
  // expected-error @+1 {{value must be a rank-4 tensor (batch, kv_heads, keys, value_dim), got 'tensor<1x8x16xf32>'}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @integer_query(%q: tensor<2x1x8x16xi32>, %k: tensor<2x1x8x16xi32>, %v: tensor<2x1x8x16xi32>) {
  // expected-error @+1 {{query must have f16, bf16 or f32 elements, got 'i32'}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xi32>, tensor<2x1x8x16xi32>, tensor<2x1x8x16xi32>) -> tensor<2x1x8x16xi32>
  return
}

// -----

func.func @mixed_types(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf16>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{key has element type 'f16' but query has 'f32'; all floating-point operands and the result must agree}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf16>, tensor<2x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @dynamic_heads(%q: tensor<2x?x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{the number of heads of query (dimension 1) must be static, got 'tensor<2x?x8x16xf32>'}}
  %o = attn.attention %q, %k, %v : (tensor<2x?x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x?x8x16xf32>
  return
}

// -----

func.func @dynamic_head_dim(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x?xf32>) {
  // expected-error @+1 {{the head dimension of value (dimension 3) must be static, got 'tensor<2x1x8x?xf32>'}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x?xf32>) -> tensor<2x1x8x?xf32>
  return
}

// -----

func.func @kv_heads_differ(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x8x16xf32>, %v: tensor<2x4x8x16xf32>) {
  // expected-error @+1 {{key has 2 heads but value has 4}}
  %o = attn.attention %q, %k, %v : (tensor<2x4x8x16xf32>, tensor<2x2x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @heads_not_multiple(%q: tensor<2x8x8x16xf32>, %k: tensor<2x3x8x16xf32>, %v: tensor<2x3x8x16xf32>) {
  // expected-error @+1 {{query has 8 heads, which is not a multiple of the 3 key/value heads}}
  %o = attn.attention %q, %k, %v : (tensor<2x8x8x16xf32>, tensor<2x3x8x16xf32>, tensor<2x3x8x16xf32>) -> tensor<2x8x8x16xf32>
  return
}

// -----

func.func @head_dims_differ(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x32xf32>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{query and key must have the same head dimension, got 16 and 32}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xf32>, tensor<2x1x8x32xf32>, tensor<2x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @batch_differs(%q: tensor<2x1x8x16xf32>, %k: tensor<3x1x8x16xf32>, %v: tensor<3x1x8x16xf32>) {
  // expected-error @+1 {{batch size differs: query has 2, key has 3}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xf32>, tensor<3x1x8x16xf32>, tensor<3x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @keys_differ(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x10x16xf32>, %v: tensor<2x1x9x16xf32>) {
  // expected-error @+1 {{number of keys differs: key has 10, value has 9}}
  %o = attn.attention %q, %k, %v : (tensor<2x1x8x16xf32>, tensor<2x1x10x16xf32>, tensor<2x1x9x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @key_lengths_type(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x16xf32>, %len: tensor<2xi64>) {
  // expected-error @+1 {{key_lengths must be a rank-1 tensor of i32 (one length per batch row), got 'tensor<2xi64>'}}
  %o = attn.attention %q, %k, %v key_lengths(%len) : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2xi64>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @key_lengths_batch(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x16xf32>, %len: tensor<3xi32>) {
  // expected-error @+1 {{batch size differs: key_lengths has 3, the query has 2}}
  %o = attn.attention %q, %k, %v key_lengths(%len) : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<3xi32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @zero_scale(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{scale must be a positive finite number, got 0}}
  %o = attn.attention %q, %k, %v scale(0.0) : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @result_shape(%q: tensor<2x4x8x16xf32>, %k: tensor<2x1x9x16xf32>, %v: tensor<2x1x9x32xf32>) {
  // expected-error @+1 {{result must have shape 2x4x8x32 (batch, heads, queries, value_dim), got 'tensor<2x4x8x16xf32>'}}
  %o = attn.attention %q, %k, %v : (tensor<2x4x8x16xf32>, tensor<2x1x9x16xf32>, tensor<2x1x9x32xf32>) -> tensor<2x4x8x16xf32>
  return
}

// -----

func.func @negative_window(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{window extents must be non-negative, got left = -1 and right = 0}}
  %o = attn.attention %q, %k, %v mask(#attn.window<left = -1, right = 0, alignment = top_left>) : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @unknown_alignment(%q: tensor<2x1x8x16xf32>, %k: tensor<2x1x8x16xf32>, %v: tensor<2x1x8x16xf32>) {
  // expected-error @+1 {{the alignment is top_left or bottom_right, not `center`}}
  %o = attn.attention %q, %k, %v mask(#attn.causal<center>) : (tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>, tensor<2x1x8x16xf32>) -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @layer_input_rank(%x: tensor<2x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{input must be a rank-3 tensor (batch, tokens, features), got 'tensor<2x64xf32>'}}
  %y = attn.multi_head %x, %w, %w, %w, %w heads(4) kv_heads(4) : (tensor<2x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x64xf32>
  return
}

// -----

func.func @layer_dynamic_weight(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>, %wd: tensor<64x?xf32>) {
  // expected-error @+1 {{the number of output features of wk (dimension 1) must be static, got 'tensor<64x?xf32>'}}
  %y = attn.multi_head %x, %w, %wd, %w, %w heads(4) kv_heads(4) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x?xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_zero_heads(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %y = attn.multi_head %x, %w, %w, %w, %w heads(0) kv_heads(4) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_groups(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>, %wkv: tensor<64x48xf32>) {
  // expected-error @+1 {{num_heads = 4 is not a multiple of num_kv_heads = 3}}
  %y = attn.multi_head %x, %w, %wkv, %wkv, %w heads(4) kv_heads(3) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x48xf32>, tensor<64x48xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_wq_split(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>, %wq: tensor<64x66xf32>) {
  // expected-error @+1 {{wq has 66 output features, which do not split into 4 heads}}
  %y = attn.multi_head %x, %wq, %w, %w, %w heads(4) kv_heads(4) : (tensor<2x5x64xf32>, tensor<64x66xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_wv_split(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>, %wk: tensor<64x32xf32>, %wv: tensor<64x33xf32>) {
  // expected-error @+1 {{wv has 33 output features, which do not split into 2 key/value heads}}
  %y = attn.multi_head %x, %w, %wk, %wv, %w heads(4) kv_heads(2) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>, tensor<64x33xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_wk_width(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>, %wk: tensor<64x16xf32>, %wv: tensor<64x32xf32>) {
  // expected-error @+1 {{wk must have num_kv_heads * head_dim = 2 * 16 = 32 output features, got 16}}
  %y = attn.multi_head %x, %w, %wk, %wv, %w heads(4) kv_heads(2) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x16xf32>, tensor<64x32xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_wo_width(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>, %wo: tensor<32x64xf32>) {
  // expected-error @+1 {{wo must have num_heads * value_dim = 4 * 16 = 64 input features, got 32}}
  %y = attn.multi_head %x, %w, %w, %w, %wo heads(4) kv_heads(4) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<32x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_input_features(%x: tensor<2x5x32xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{input features differs: input has 32, wq has 64}}
  %y = attn.multi_head %x, %w, %w, %w, %w heads(4) kv_heads(4) : (tensor<2x5x32xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_source_features(%x: tensor<2x5x64xf32>, %src: tensor<2x7x48xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{source features differs: source has 48, wk has 64}}
  %y = attn.multi_head %x, %w, %w, %w, %w source(%src) heads(4) kv_heads(4) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<2x7x48xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_source_batch(%x: tensor<2x5x64xf32>, %src: tensor<3x7x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{batch size differs: input has 2, source has 3}}
  %y = attn.multi_head %x, %w, %w, %w, %w source(%src) heads(4) kv_heads(4) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<3x7x64xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_result(%x: tensor<2x5x64xf32>, %w: tensor<64x64xf32>, %wo: tensor<64x32xf32>) {
  // expected-error @+1 {{result must have shape 2x5x32 (batch, tokens, output features), got 'tensor<2x5x64xf32>'}}
  %y = attn.multi_head %x, %w, %w, %w, %wo heads(4) kv_heads(4) : (tensor<2x5x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>) -> tensor<2x5x64xf32>
  return
}

// -----

func.func @layer_mixed_types(%x: tensor<2x5x64xf16>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{wq has element type 'f32' but input has 'f16'; all floating-point operands and the result must agree}}
  %y = attn.multi_head %x, %w, %w, %w, %w heads(4) kv_heads(4) : (tensor<2x5x64xf16>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<2x5x64xf16>
  return
}

// -----

func.func @dilation_zero(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{window dilation must be at least 1, got 0}}
  %o = attn.attention %q, %q, %q mask(#attn.window<left = 2, right = 2, alignment = top_left, dilation = 0>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @global_negative(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{global token positions must be non-negative, got -1}}
  %o = attn.attention %q, %q, %q mask(#attn.global<tokens = [-1]>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @union_of_one(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{a mask union needs at least two masks, got 1}}
  %o = attn.attention %q, %q, %q mask(#attn.union<[#attn.causal<top_left>]>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @union_of_non_masks(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{a mask intersection holds masks, not 3 : i64}}
  %o = attn.attention %q, %q, %q mask(#attn.intersection<[#attn.causal<top_left>, 3]>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @negative_stride(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{the stride must be positive (or 0 for ceil(sqrt(S))), got -2}}
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = -2>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @summary_too_long(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{the summary length must be in [1, block], got 9 with block = 8}}
  %o = attn.attention %q, %q, %q mask(#attn.fixed<block = 8, summary = 9>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @auto_stride_dynamic_keys(%q: tensor<1x1x?x8xf32>) {
  // expected-error @+1 {{'attn.attention' op the mask #attn.strided<> leaves a length to ceil(sqrt(S)), which needs a static number of keys (or its length does not fit), got S = ?}}
  %o = attn.attention %q, %q, %q mask(#attn.strided<>) : (tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>) -> tensor<1x1x?x8xf32>
  return
}

// -----

func.func @lse_wrong_shape(%q: tensor<1x2x4x8xf32>) {
  // expected-error @+1 {{'attn.attention' op lse must be a tensor<1x2x4xf32> (batch, heads, queries), got 'tensor<1x2x5xf32>'}}
  %o, %l = attn.attention %q, %q, %q : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x5xf32>)
  return
}

// -----

func.func @lse_not_f32(%q: tensor<1x2x4x8xf16>) {
  // expected-error @+1 {{'attn.attention' op lse must be a tensor<1x2x4xf32> (batch, heads, queries), got 'tensor<1x2x4xf16>'}}
  %o, %l = attn.attention %q, %q, %q : (tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>, tensor<1x2x4x8xf16>) -> (tensor<1x2x4x8xf16>, tensor<1x2x4xf16>)
  return
}

// -----

func.func @combine_mismatched_part(%a: tensor<1x2x4x8xf32>, %b: tensor<1x2x5x8xf32>, %la: tensor<1x2x4xf32>, %lb: tensor<1x2x4xf32>) {
  // expected-error @+1 {{'attn.combine' op part 1 has type 'tensor<1x2x5x8xf32>', which does not match the result 'tensor<1x2x4x8xf32>'}}
  %o = attn.combine (%a, %b) lse(%la, %lb) : (tensor<1x2x4x8xf32>, tensor<1x2x5x8xf32>, tensor<1x2x4xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4x8xf32>
  return
}

// -----

func.func @combine_bad_lse(%a: tensor<1x2x4x8xf32>, %la: tensor<1x3x4xf32>) {
  // expected-error @+1 {{'attn.combine' op lse 0 must be a tensor<1x2x4xf32> (batch, heads, queries), got 'tensor<1x3x4xf32>'}}
  %o = attn.combine (%a) lse(%la) : (tensor<1x2x4x8xf32>, tensor<1x3x4xf32>) -> tensor<1x2x4x8xf32>
  return
}

// -----

func.func @combine_counts(%a: tensor<1x2x4x8xf32>, %la: tensor<1x2x4xf32>) {
  // expected-error @+1 {{'attn.combine' op needs one lse per output, got 3 operands in all}}
  %o = attn.combine (%a, %a) lse(%la) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4xf32>) -> tensor<1x2x4x8xf32>
  return
}

// -----

func.func @empty_block(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{blocks must hold at least one row and key, got query_block = 0 and key_block = 4}}
  %o = attn.attention %q, %q, %q mask(#attn.blockwise<query_block = 0, key_block = 4, relation = lt>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @linear_causal_lengths(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x9x16xf32>) {
  // expected-error @+1 {{causal linear attention needs as many queries as keys (query i at position i), got N = 8 and S = 9}}
  %o = attn.linear_attention %q, %k, %k causal : (tensor<1x2x8x16xf32>, tensor<1x2x9x16xf32>, tensor<1x2x9x16xf32>) -> tensor<1x2x8x16xf32>
  return
}

// -----

func.func @linear_state_shape(%q: tensor<1x2x8x16xf32>, %k: tensor<1x1x8x16xf32>, %s: tensor<1x1x16x16xf32>) {
  // expected-error @+1 {{state must be a tensor<1x1x16x17xf32> (batch, kv_heads, head_dim, value_dim + 1: the sums of phi(k) v^T and of phi(k)), got 'tensor<1x1x16x16xf32>'}}
  %o = attn.linear_attention %q, %k, %k state(%s) : (tensor<1x2x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x8x16xf32>, tensor<1x1x16x16xf32>) -> tensor<1x2x8x16xf32>
  return
}

// -----

func.func @linear_state_type(%q: tensor<1x2x8x16xf16>, %k: tensor<1x1x8x16xf16>) {
  // expected-error @+1 {{the final state must be a tensor<1x1x16x17xf32> (batch, kv_heads, head_dim, value_dim + 1: the sums of phi(k) v^T and of phi(k)), got 'tensor<1x1x16x17xf16>'}}
  %o, %s = attn.linear_attention %q, %k, %k : (tensor<1x2x8x16xf16>, tensor<1x1x8x16xf16>, tensor<1x1x8x16xf16>) -> (tensor<1x2x8x16xf16>, tensor<1x1x16x17xf16>)
  return
}

// -----

func.func @linear_heads(%q: tensor<1x3x8x16xf32>, %k: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{query has 3 heads, which is not a multiple of the 2 key/value heads}}
  %o = attn.linear_attention %q, %k, %k : (tensor<1x3x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x3x8x16xf32>
  return
}

// -----

func.func @linear_result(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x4xf32>) {
  // expected-error @+1 {{result must have shape 1x2x8x4 (batch, heads, queries, value_dim), got 'tensor<1x2x8x16xf32>'}}
  %o = attn.linear_attention %q, %k, %v : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x4xf32>) -> tensor<1x2x8x16xf32>
  return
}

// -----

func.func @linear_types(%q: tensor<1x2x8x16xf32>, %k: tensor<1x2x8x16xbf16>) {
  // expected-error @+1 {{key has element type 'bf16' but query has 'f32'; all floating-point operands and the result must agree}}
  %o = attn.linear_attention %q, %k, %k : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xbf16>, tensor<1x2x8x16xbf16>) -> tensor<1x2x8x16xf32>
  return
}

// -----

func.func @linear_no_value(%q: tensor<1x4x8x16xf32>, %k: tensor<1x2x8x16xf32>, %v: tensor<1x2x8x0xf32>) {
  // expected-error @+1 {{needs at least one query head and positive head dimensions, got H = 4, D = 16 and Dv = 0}}
  %o = attn.linear_attention %q, %k, %v : (tensor<1x4x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x0xf32>) -> tensor<1x4x8x0xf32>
  return
}

// -----

func.func @no_query_heads(%q: tensor<1x0x8x16xf32>, %k: tensor<1x2x8x16xf32>) {
  // expected-error @+1 {{needs at least one query head and positive head dimensions, got H = 0, D = 16 and Dv = 16}}
  %o = attn.attention %q, %k, %k : (tensor<1x0x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>) -> tensor<1x0x8x16xf32>
  return
}

// -----

// A member that fails gets its own diagnostic, and no enclosing mask adds
// another (each would print the whole source line again).
func.func @nested_bad_member(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{a mask intersection needs at least two masks, got 1}}
  %o = attn.attention %q, %q, %q mask(#attn.union<[#attn.union<[#attn.intersection<[#attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>)
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

// Masks nest at most 64 levels deep (the parser descends once per level).
func.func @too_deep(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{masks nest at most 64 levels deep}}
  %o = attn.attention %q, %q, %q mask(#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.intersection<[#attn.causal<top_left>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>, #attn.causal<top_left>]>)
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

func.func @mask_name_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{unknown attribute `#attn.casual` (did you mean `causal`?); the masks are causal, window, global, union, intersection, strided, fixed and blockwise, the score modifiers softcap and alibi}}
  %o = attn.attention %q, %q, %q mask(#attn.casual<top_left>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @alignment_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{the alignment is top_left or bottom_right, not `top_lft` (did you mean `top_left`?)}}
  %o = attn.attention %q, %q, %q mask(#attn.causal<top_lft>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @window_parameter_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.window has no parameter `rigth` (did you mean `right`?); its parameters are left, right, alignment (top_left | bottom_right) and dilation = 1}}
  %o = attn.attention %q, %q, %q mask(#attn.window<left = 3, rigth = 0, alignment = top_left>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @window_parameter_missing(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.window needs `right`; its parameters are left, right, alignment (top_left | bottom_right) and dilation = 1}}
  %o = attn.attention %q, %q, %q mask(#attn.window<left = 3, alignment = top_left>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @window_parameter_twice(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.window is given `left` twice}}
  %o = attn.attention %q, %q, %q mask(#attn.window<left = 3, right = 0, left = 4, alignment = top_left>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @window_alignment_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{the alignment is top_left or bottom_right, not `bottom_rigth` (did you mean `bottom_right`?)}}
  %o = attn.attention %q, %q, %q mask(#attn.window<left = 3, right = 0, alignment = bottom_rigth>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @strided_parameter_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.strided has no parameter `strde` (did you mean `stride`?); its parameters are stride = 0, bidirectional = false and split_heads = false}}
  %o = attn.attention %q, %q, %q mask(#attn.strided<strde = 4>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @strided_bool(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{`split_heads` is false or true, not `yes`}}
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = 4, split_heads = yes>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @fixed_parameter_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.fixed has no parameter `sumary` (did you mean `summary`?); its parameters are block = 0, summary = 1, bidirectional = false and split_heads = false}}
  %o = attn.attention %q, %q, %q mask(#attn.fixed<block = 4, sumary = 1>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @blockwise_relation_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{the relation is lt, le, eq, ge, gt or ne, not `lq` (did you mean `lt`?)}}
  %o = attn.attention %q, %q, %q mask(#attn.blockwise<query_block = 4, key_block = 4, relation = lq>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @global_parameter_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.global has one parameter, `tokens = [...]` (the global key positions) (did you mean `tokens`?)}}
  %o = attn.attention %q, %q, %q mask(#attn.global<token = [0]>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @clause_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{custom op 'attn.attention' has no clause `scael` (did you mean `scale`?); its clauses are key_lengths, sinks, sequences, mask, scale and score_mod}}
  %o = attn.attention %q, %q, %q scael(0.5) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @clause_twice(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{custom op 'attn.attention' is given `scale` twice}}
  %o = attn.attention %q, %q, %q scale(0.5) scale(0.25) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @mask_not_a_mask(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{custom op 'attn.attention' expected a mask such as #attn.causal<bottom_right>, got 5.000000e-01 : f64}}
  %o = attn.attention %q, %q, %q mask(0.5) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @layer_without_heads(%x: tensor<1x8x64xf32>, %w: tensor<64x64xf32>) {
  // expected-error @+1 {{custom op 'attn.multi_head' needs heads(H) and kv_heads(Hkv): the query heads and the key/value heads}}
  %y = attn.multi_head %x, %w, %w, %w, %w heads(4)
      : (tensor<1x8x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<1x8x64xf32>
  return
}

// -----

func.func @feature_map_typo(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{the feature map is elu_plus_one, relu or identity, not `rellu` (did you mean `relu`?)}}
  %o = attn.linear_attention %q, %q, %q feature_map(rellu) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @stride_beyond_sizes(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{`stride = 2147483648` is beyond the largest size or position, 2147483647 (2^31 - 1)}}
  %o = attn.attention %q, %q, %q mask(#attn.strided<stride = 2147483648>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @window_beyond_sizes(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{`left = 4611686018427387904` is beyond the largest size or position, 2147483647 (2^31 - 1)}}
  %o = attn.attention %q, %q, %q mask(#attn.window<left = 4611686018427387904, right = 0, alignment = top_left>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @token_beyond_sizes(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{`tokens = 9223372036854775807` is beyond the largest size or position}}
  %o = attn.attention %q, %q, %q mask(#attn.global<tokens = [0, 9223372036854775807]>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @blockwise_beyond_sizes(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{`key_block = 4294967296` is beyond the largest size or position}}
  %o = attn.attention %q, %q, %q mask(#attn.blockwise<query_block = 4, key_block = 4294967296, relation = eq>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

// Static sizes: each at most 2^31 - 1, head widths at most 65536, and the
// static part of a tensor at most 2^48 elements (its strides, and the
// lowerings' products of sizes, stay within 64 bits).
func.func @size_beyond(%q: tensor<1x2x4611686018427387904x8xf32>) {
  // expected-error @+1 {{'attn.attention' op takes sizes up to 2147483647 (2^31 - 1), got 'tensor<1x2x4611686018427387904x8xf32>'}}
  %o = attn.attention %q, %q, %q : (tensor<1x2x4611686018427387904x8xf32>, tensor<1x2x4611686018427387904x8xf32>, tensor<1x2x4611686018427387904x8xf32>) -> tensor<1x2x4611686018427387904x8xf32>
  return
}

// -----

func.func @elements_beyond(%q: tensor<65536x65536x65536x8xf32>) {
  // expected-error @+1 {{'attn.attention' op takes tensors of at most 281474976710656 (2^48) elements in their static dimensions, got 'tensor<65536x65536x65536x8xf32>'}}
  %o = attn.attention %q, %q, %q : (tensor<65536x65536x65536x8xf32>, tensor<65536x65536x65536x8xf32>, tensor<65536x65536x65536x8xf32>) -> tensor<65536x65536x65536x8xf32>
  return
}

// -----

func.func @head_beyond(%q: tensor<?x1x?x131072xf32>) {
  // expected-error @+1 {{'attn.attention' op takes head widths up to 65536, got D = 131072 and Dv = 131072}}
  %o = attn.attention %q, %q, %q : (tensor<?x1x?x131072xf32>, tensor<?x1x?x131072xf32>, tensor<?x1x?x131072xf32>) -> tensor<?x1x?x131072xf32>
  return
}

// -----

func.func @linear_size_beyond(%q: tensor<1x2x8x4611686018427387904xf32>) {
  // expected-error @+1 {{'attn.linear_attention' op takes sizes up to 2147483647 (2^31 - 1)}}
  %o = attn.linear_attention %q, %q, %q causal : (tensor<1x2x8x4611686018427387904xf32>, tensor<1x2x8x4611686018427387904xf32>, tensor<1x2x8x4611686018427387904xf32>) -> tensor<1x2x8x4611686018427387904xf32>
  return
}

// -----

func.func @mask_without_parameters(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.causal takes its parameters in <...>: #attn.causal<top_left> or #attn.causal<bottom_right>}}
  %o = attn.attention %q, %q, %q mask(#attn.causal) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @window_without_parameters(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.window takes its parameters in <name = value, ...> of left, right, alignment (top_left | bottom_right) and dilation = 1}}
  %o = attn.attention %q, %q, %q mask(#attn.window) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @union_without_list(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{#attn.union takes its parameters in <[...]>, a list of masks: #attn.union<[#attn.causal<top_left>, ...]>}}
  %o = attn.attention %q, %q, %q mask(#attn.union) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @mask_name_alone(%q: tensor<1x1x4x8xf32>) {
  // expected-error @+1 {{custom op 'attn.attention' a mask is an attribute, #attn.causal<...>: #attn.causal<bottom_right>, say, not `causal`}}
  %o = attn.attention %q, %q, %q mask(causal) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return
}

// -----

func.func @grad_output_shape(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x9x16xf32>, %v: tensor<2x2x9x8xf32>, %o: tensor<2x4x8x16xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{out must have the forward's output type, the shape (batch, heads, queries, value_dim) and the query's element type, got 'tensor<2x4x8x16xf32>'}}
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %o, %lse : (tensor<2x4x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>)
  return
}

// -----

func.func @grad_output_grad_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x9x16xf32>, %v: tensor<2x2x9x8xf32>, %o: tensor<2x4x8x8xf32>, %do: tensor<2x4x8x8xf16>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{dout must have the forward's output type, the shape (batch, heads, queries, value_dim) and the query's element type, got 'tensor<2x4x8x8xf16>'}}
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse : (tensor<2x4x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf16>, tensor<2x4x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>)
  return
}

// -----

func.func @grad_lse(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x9x16xf32>, %v: tensor<2x2x9x8xf32>, %o: tensor<2x4x8x8xf32>, %lse: tensor<2x2x8xf32>) {
  // expected-error @+1 {{lse must be a tensor<2x4x8xf32> (batch, heads, queries), got 'tensor<2x2x8xf32>'}}
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %o, %lse : (tensor<2x4x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x2x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>)
  return
}

// -----

func.func @grad_key_grad_type(%q: tensor<2x4x8x16xf32>, %k: tensor<2x2x9x16xf32>, %v: tensor<2x2x9x8xf32>, %o: tensor<2x4x8x8xf32>, %lse: tensor<2x4x8xf32>) {
  // expected-error @+1 {{the gradient of the key must have its type, 'tensor<2x2x9x16xf32>', got 'tensor<2x4x9x16xf32>'}}
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %o, %lse : (tensor<2x4x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8x8xf32>, tensor<2x4x8xf32>) -> (tensor<2x4x8x16xf32>, tensor<2x4x9x16xf32>, tensor<2x2x9x8xf32>)
  return
}

// -----

func.func @grad_heads(%q: tensor<2x3x8x16xf32>, %k: tensor<2x2x9x16xf32>, %v: tensor<2x2x9x8xf32>, %o: tensor<2x3x8x8xf32>, %lse: tensor<2x3x8xf32>) {
  // expected-error @+1 {{query has 3 heads, which is not a multiple of the 2 key/value heads}}
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %o, %lse : (tensor<2x3x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>, tensor<2x3x8x8xf32>, tensor<2x3x8x8xf32>, tensor<2x3x8xf32>) -> (tensor<2x3x8x16xf32>, tensor<2x2x9x16xf32>, tensor<2x2x9x8xf32>)
  return
}

// -----

func.func @softcap_not_positive(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{#attn.softcap: the cap must be positive and finite, not 0.000000e+00}}
  %o = attn.attention %q, %q, %q score_mod(#attn.softcap<cap = 0.0>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

func.func @alibi_bias_not_positive(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{#attn.alibi: the largest bias must be positive and finite, not -1.000000e+00}}
  %o = attn.attention %q, %q, %q score_mod(#attn.alibi<top_left, max_bias = -1.0>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

func.func @alibi_without_alignment(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{#attn.alibi takes its parameters in <alignment[, max_bias = b]>: #attn.alibi<bottom_right>}}
  %o = attn.attention %q, %q, %q score_mod(#attn.alibi) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

func.func @sinks_not_per_head(%q: tensor<1x4x4x8xf32>, %s: tensor<2xf32>) -> tensor<1x4x4x8xf32> {
  // expected-error @+1 {{'attn.attention' op sinks must be one f32 logit per query head, tensor<4xf32>, got 'tensor<2xf32>'}}
  %o = attn.attention %q, %q, %q sinks(%s) : (tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>, tensor<1x4x4x8xf32>, tensor<2xf32>) -> tensor<1x4x4x8xf32>
  return %o : tensor<1x4x4x8xf32>
}

// -----

func.func @sinks_not_f32(%q: tensor<1x4x4x8xbf16>, %s: tensor<4xbf16>) -> tensor<1x4x4x8xbf16> {
  // expected-error @+1 {{sinks must be one f32 logit per query head, tensor<4xf32>, got 'tensor<4xbf16>'}}
  %o = attn.attention %q, %q, %q sinks(%s) : (tensor<1x4x4x8xbf16>, tensor<1x4x4x8xbf16>, tensor<1x4x4x8xbf16>, tensor<4xbf16>) -> tensor<1x4x4x8xbf16>
  return %o : tensor<1x4x4x8xbf16>
}

// -----

func.func @grad_with_sinks_and_three_results(%q: tensor<1x1x4x8xf32>, %lse: tensor<1x1x4xf32>, %s: tensor<1xf32>) {
  // expected-error @+1 {{'attn.attention_grad' op with sinks has a fourth result, their gradient}}
  %dq, %dk, %dv = attn.attention_grad %q, %q, %q, %q, %q, %lse sinks(%s) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4xf32>, tensor<1xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
  return
}

// -----

func.func @grad_sinks_gradient_shape(%q: tensor<1x2x4x8xf32>, %lse: tensor<1x2x4xf32>, %s: tensor<2xf32>) {
  // expected-error @+1 {{the sinks' gradient must be one f32 logit per query head, tensor<2xf32>, got 'tensor<3xf32>'}}
  %dq, %dk, %dv, %ds = attn.attention_grad %q, %q, %q, %q, %q, %lse sinks(%s) : (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4xf32>, tensor<2xf32>) -> (tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<1x2x4x8xf32>, tensor<3xf32>)
  return
}

// -----

func.func @score_mod_not_a_modifier(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{expected a score modifier such as #attn.softcap<cap = 50.0>, got #attn.causal<top_left>}}
  %o = attn.attention %q, %q, %q score_mod(#attn.causal<top_left>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

  %dq, %dk, %dv = attn.attention_grad %q, %q, %q, %q, %q, %lse score_mod(#attn.softcap<cap = 1.0>) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4xf32>) -> (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
  return
}

// -----

func.func @sequences_batch(%q: tensor<2x1x4x8xf32>, %c: tensor<3xi32>) -> tensor<2x1x4x8xf32> {
  // expected-error @+1 {{sequences pack into one batch row: q must have batch size 1, got 'tensor<2x1x4x8xf32>'}}
  %o = attn.attention %q, %q, %q sequences(%c, %c) : (tensor<2x1x4x8xf32>, tensor<2x1x4x8xf32>, tensor<2x1x4x8xf32>, tensor<3xi32>, tensor<3xi32>) -> tensor<2x1x4x8xf32>
  return %o : tensor<2x1x4x8xf32>
}

// -----

func.func @sequences_offsets_differ(%q: tensor<1x1x4x8xf32>, %c: tensor<3xi32>, %d: tensor<4xi32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{number of offsets}}
  %o = attn.attention %q, %q, %q sequences(%c, %d) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<3xi32>, tensor<4xi32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

func.func @sequences_not_i32(%q: tensor<1x1x4x8xf32>, %c: tensor<3xi64>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{sequences: the query offsets must be a rank-1 tensor of i32 (one more than the sequences), got 'tensor<3xi64>'}}
  %o = attn.attention %q, %q, %q sequences(%c, %c) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<3xi64>, tensor<3xi64>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

func.func @sequences_and_key_lengths(%q: tensor<1x1x4x8xf32>, %c: tensor<3xi32>, %l: tensor<1xi32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{sequences and key_lengths cannot be combined (each sequence has its own keys)}}
  %o = attn.attention %q, %q, %q key_lengths(%l) sequences(%c, %c) : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1xi32>, tensor<3xi32>, tensor<3xi32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}
