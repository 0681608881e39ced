// Score modifiers against the float64 reference (which restates each one):
// logit soft-capping, s <- cap tanh(s / cap), and ALiBi, s <- s - m_h
// |pos(i) - j|, applied before the mask, by every CPU strategy (flash,
// materialized, decode) and through the sparse decompositions (which keep
// ALiBi's op whole); grouped heads, key lengths with a 0, N != S, N = 1,
// bf16, logits far beyond the cap (scale 4: the cap decides the weights),
// 6 heads (ALiBi's slopes for a count that is not a power of two) and a
// larger bias.
//
// RUN: attn-run %s --entry gqa_causal --random 1 --shape q=2x6x37x16 --shape k=2x2x37x16 --values key_lengths=37,0 --check
// RUN: attn-run %s --entry gqa_causal --random 1 --shape q=2x6x37x16 --shape k=2x2x37x16 --values key_lengths=37,0 --strategy materialized --check
// RUN: attn-run %s --entry gqa_causal --random 2 --shape q=1x6x150x16 --shape k=1x2x201x16 --values key_lengths=190 --query-tile 16 --key-tile 32 --check
// RUN: attn-run %s --entry large_logits --random 3 --shape q=1x2x70x32 --shape k=1x2x90x32 --check
// RUN: attn-run %s --entry large_logits --random 3 --shape q=1x2x70x32 --shape k=1x2x90x32 --strategy materialized --check
// RUN: attn-run %s --entry decode_softcap --random 4 --shape k=2x2x300x16 --values key_lengths=300,7 --check | FileCheck %s --check-prefix=DECODE
// RUN: attn-run %s --entry window_strided --random 5 --shape q=1x4x120x8 --shape k=1x4x120x8 --check
// RUN: attn-run %s --entry bfloat --random 6 --shape q=1x2x45x16 --shape k=1x2x45x16 --check
// RUN: attn-run %s --entry alibi_gqa_causal --random 7 --shape q=2x6x37x16 --shape k=2x2x53x16 --values key_lengths=53,0 --check
// RUN: attn-run %s --entry alibi_gqa_causal --random 7 --shape q=2x6x37x16 --shape k=2x2x53x16 --values key_lengths=41,0 --strategy materialized --check
// RUN: attn-run %s --entry alibi_gqa_causal --random 8 --shape q=1x6x150x16 --shape k=1x2x201x16 --values key_lengths=190 --query-tile 16 --key-tile 32 --check
// RUN: attn-run %s --entry alibi_bidirectional --random 9 --shape q=2x8x1x8 --shape k=2x8x77x8 --check
// RUN: attn-run %s --entry alibi_bidirectional --random 9 --shape q=1x8x70x8 --shape k=1x8x45x8 --strategy materialized --check
// RUN: attn-run %s --entry decode_alibi --random 10 --shape k=2x2x300x16 --values key_lengths=300,7 --check | FileCheck %s --check-prefix=DECODE-ALIBI
// RUN: attn-run %s --entry alibi_window --random 11 --shape q=1x4x130x8 --shape k=1x4x130x8 --check
// RUN: attn-run %s --entry alibi_strided --random 12 --shape q=1x4x120x8 --shape k=1x4x120x8 --check
// RUN: attn-run %s --entry alibi_bfloat --random 13 --shape q=1x3x45x16 --shape k=1x3x60x16 --check
//
// DECODE: decode_softcap (decode)
// DECODE-ALIBI: decode_alibi (decode)

func.func @gqa_causal(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                      %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x6x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) score_mod(#attn.softcap<cap = 2.0>)
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x6x?x16xf32>
  return %o : tensor<?x6x?x16xf32>
}

func.func @large_logits(%q: tensor<?x2x?x32xf32>, %k: tensor<?x2x?x32xf32>,
                        %v: tensor<?x2x?x32xf32>) -> tensor<?x2x?x32xf32> {
  %o = attn.attention %q, %k, %v scale(4.0) score_mod(#attn.softcap<cap = 5.0>)
      : (tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>, tensor<?x2x?x32xf32>)
        -> tensor<?x2x?x32xf32>
  return %o : tensor<?x2x?x32xf32>
}

func.func @decode_softcap(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>,
                          %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x1x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) score_mod(#attn.softcap<cap = 1.5>)
      : (tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}

// The strided pattern is cut into pieces; the cap, which ignores
// positions, goes with each.
func.func @window_strided(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                          %v: tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<stride = 6>)
      score_mod(#attn.softcap<cap = 0.5>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @bfloat(%q: tensor<?x2x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                  %v: tensor<?x2x?x16xbf16>) -> tensor<?x2x?x16xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      score_mod(#attn.softcap<cap = 1.0>)
      : (tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>)
        -> tensor<?x2x?x16xbf16>
  return %o : tensor<?x2x?x16xbf16>
}

func.func @alibi_gqa_causal(%q: tensor<?x6x?x16xf32>, %k: tensor<?x2x?x16xf32>,
                            %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x6x?x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) score_mod(#attn.alibi<bottom_right>)
      : (tensor<?x6x?x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x6x?x16xf32>
  return %o : tensor<?x6x?x16xf32>
}

// Symmetric distances (an encoder's ALiBi), with a larger bias.
func.func @alibi_bidirectional(%q: tensor<?x8x?x8xf32>, %k: tensor<?x8x?x8xf32>,
                               %v: tensor<?x8x?x8xf32>) -> tensor<?x8x?x8xf32> {
  %o = attn.attention %q, %k, %v
      score_mod(#attn.alibi<top_left, max_bias = 16.0>)
      : (tensor<?x8x?x8xf32>, tensor<?x8x?x8xf32>, tensor<?x8x?x8xf32>)
        -> tensor<?x8x?x8xf32>
  return %o : tensor<?x8x?x8xf32>
}

func.func @decode_alibi(%q: tensor<?x4x1x16xf32>, %k: tensor<?x2x?x16xf32>,
                        %v: tensor<?x2x?x16xf32>, %len: tensor<?xi32>)
    -> tensor<?x4x1x16xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) score_mod(#attn.alibi<bottom_right>)
      : (tensor<?x4x1x16xf32>, tensor<?x2x?x16xf32>, tensor<?x2x?x16xf32>,
         tensor<?xi32>) -> tensor<?x4x1x16xf32>
  return %o : tensor<?x4x1x16xf32>
}

func.func @alibi_window(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                        %v: tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.window<left = 40, right = 0, alignment = bottom_right>)
      score_mod(#attn.alibi<bottom_right>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

// ALiBi depends on positions: the strided pattern stays one op.
func.func @alibi_strided(%q: tensor<?x4x?x8xf32>, %k: tensor<?x4x?x8xf32>,
                         %v: tensor<?x4x?x8xf32>) -> tensor<?x4x?x8xf32> {
  %o = attn.attention %q, %k, %v mask(#attn.strided<stride = 6>)
      score_mod(#attn.alibi<top_left>)
      : (tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>, tensor<?x4x?x8xf32>)
        -> tensor<?x4x?x8xf32>
  return %o : tensor<?x4x?x8xf32>
}

func.func @alibi_bfloat(%q: tensor<?x3x?x16xbf16>, %k: tensor<?x3x?x16xbf16>,
                        %v: tensor<?x3x?x16xbf16>) -> tensor<?x3x?x16xbf16> {
  %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      score_mod(#attn.alibi<bottom_right>)
      : (tensor<?x3x?x16xbf16>, tensor<?x3x?x16xbf16>, tensor<?x3x?x16xbf16>)
        -> tensor<?x3x?x16xbf16>
  return %o : tensor<?x3x?x16xbf16>
}
