// Score modifiers against the float64 reference (which restates each one):
// logit soft-capping, s <- cap tanh(s / cap), applied before the mask, by
// every CPU strategy (flash, materialized, decode) and through the sparse
// decompositions; grouped heads, key lengths with a 0, N != S, bf16, and
// logits far beyond the cap (scale 4: the cap decides the weights).
//
// RUN: attn-run %s --entry gqa_causal --random 1 --shape q=2x6x37x16 --shape k=2x2x37x16 --values key_lengths=37,0 --check
// RUN: attn-run %s --entry gqa_causal --random 1 --shape q=2x6x37x16 --shape k=2x2x37x16 --values key_lengths=37,0 --strategy materialized --check
// RUN: attn-run %s --entry gqa_causal --random 2 --shape q=1x6x150x16 --shape k=1x2x201x16 --values key_lengths=190 --query-tile 16 --key-tile 32 --check
// RUN: attn-run %s --entry large_logits --random 3 --shape q=1x2x70x32 --shape k=1x2x90x32 --check
// RUN: attn-run %s --entry large_logits --random 3 --shape q=1x2x70x32 --shape k=1x2x90x32 --strategy materialized --check
// RUN: attn-run %s --entry decode_softcap --random 4 --shape k=2x2x300x16 --values key_lengths=300,7 --check | FileCheck %s --check-prefix=DECODE
// RUN: attn-run %s --entry window_strided --random 5 --shape q=1x4x120x8 --shape k=1x4x120x8 --check
// RUN: attn-run %s --entry bfloat --random 6 --shape q=1x2x45x16 --shape k=1x2x45x16 --check
//
// DECODE: decode_softcap (decode)

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
