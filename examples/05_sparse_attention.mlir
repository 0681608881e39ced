// Sparse attention (Child et al. 2019): the strided pattern with its two
// halves split over the heads — even heads see the previous 64 positions,
// odd heads every 64th position before them — so that any position reaches
// any earlier one in two steps. The stride 64 = sqrt(4096) suits sequences
// of about 4k tokens: even heads run as a band, odd heads as 64 residue
// classes folded into the batch (O(N sqrt N) in all). See
// docs/mechanisms/sparse.md for the fixed pattern (example 05_fixed_...),
// the merged variant and what the tiled lowering visits.
//
// demo: --shape q=1x8x1024x64 --shape k=1x8x1024x64
func.func @sparse(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                  %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %out = attn.attention %q, %k, %v
      mask(#attn.strided<stride = 64, split_heads = true>)
      : (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>)
        -> tensor<?x8x?x64xf32>
  return %out : tensor<?x8x?x64xf32>
}
