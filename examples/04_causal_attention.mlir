// Causal (masked) attention (Vaswani et al. 2017, the decoder's
// self-attention): query i sees keys 0..i only, so a model trained on whole
// sequences cannot look ahead. top_left places query i at key position i;
// bottom_right (decoding against a longer cache) at L - N + i, L being the
// number of valid keys of the batch row (S without key lengths).
//
// demo: --shape q=2x8x512x64 --shape k=2x8x512x64
func.func @causal(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                  %v: tensor<?x8x?x64xf32>) -> tensor<?x8x?x64xf32> {
  %out = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>)
        -> tensor<?x8x?x64xf32>
  return %out : tensor<?x8x?x64xf32>
}
