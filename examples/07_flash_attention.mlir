// Flash attention (Dao et al. 2022): exact attention computed tile by tile
// with an online softmax, so that no N x S score matrix is ever stored and
// memory stays O(N D). In attn it is a strategy, not an op: any
// attn.attention lowers this way (attn-run --strategy=flash, or by default
// whenever the score matrix is not a single tile). Causal, grouped-query
// (8 query heads over 2 K/V heads), head width 128: the shape the CPU
// benchmark times.
//
// demo: --strategy flash --shape q=1x8x2048x128 --shape k=1x2x2048x128
func.func @flash(%q: tensor<?x8x?x128xf32>, %k: tensor<?x2x?x128xf32>,
                 %v: tensor<?x2x?x128xf32>) -> tensor<?x8x?x128xf32> {
  %out = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
      : (tensor<?x8x?x128xf32>, tensor<?x2x?x128xf32>, tensor<?x2x?x128xf32>)
        -> tensor<?x8x?x128xf32>
  return %out : tensor<?x8x?x128xf32>
}
