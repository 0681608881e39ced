// ALiBi (Press et al. 2022, "Train Short, Test Long"): no position
// embedding; each score of head h is lowered by m_h times the distance from
// the query to the key, m_h = 2^(-8 (h + 1) / H) for H = 8 heads (1/2 ...
// 1/256), so every head prefers near keys at its own rate and the model
// extrapolates past the lengths it was trained on (BLOOM, MPT). Causal,
// aligned bottom-right (a query among cached keys sits on the last one).
//
// demo: --shape q=2x8x1024x64 --shape k=2x8x1024x64
func.func @alibi(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                 %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %out = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      score_mod(#attn.alibi<bottom_right>)
      : (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>)
        -> tensor<?x8x?x64xf32>
  return %out : tensor<?x8x?x64xf32>
}
