// Logit soft-capping (Gemma 2): each score s becomes 50 tanh(s / 50), so
// no logit leaves (-50, 50) however large q . k grows; grouped-query heads
// (8 query heads share 4 K/V heads), causal.
//
// demo: --shape q=2x8x1024x128 --shape k=2x4x1024x128
func.func @softcap(%q: tensor<?x8x?x128xf32>, %k: tensor<?x4x?x128xf32>,
                   %v: tensor<?x4x?x128xf32>) -> tensor<?x8x?x128xf32> {
  %out = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      score_mod(#attn.softcap<cap = 50.0>)
      : (tensor<?x8x?x128xf32>, tensor<?x4x?x128xf32>, tensor<?x4x?x128xf32>)
        -> tensor<?x8x?x128xf32>
  return %out : tensor<?x8x?x128xf32>
}
