// Sliding-window attention (Beltagy et al. 2020): each query sees the 128
// keys ending at its own position (left = 127, right = 0: the causal window
// of decoder models; left = right gives Longformer's symmetric window).
// Padded keys beyond each row's key length are excluded.
//
// demo: --shape q=2x8x1024x64 --shape k=2x8x1024x64 --values key_lengths=1024,700
func.func @sliding_window(%q: tensor<?x8x?x64xf32>, %k: tensor<?x8x?x64xf32>,
                          %v: tensor<?x8x?x64xf32>, %key_lengths: tensor<?xi32>)
    -> tensor<?x8x?x64xf32> {
  %out = attn.attention %q, %k, %v key_lengths(%key_lengths)
      mask(#attn.window<left = 127, right = 0, alignment = top_left>)
      : (tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>,
         tensor<?xi32>) -> tensor<?x8x?x64xf32>
  return %out : tensor<?x8x?x64xf32>
}
