// Attention sinks (Xiao et al. 2023; learned per head in gpt-oss): each
// head's logit t_h joins every row's softmax denominator with no value, so
// a row may put its weight nowhere. As in gpt-oss's local layers: a causal
// sliding window of 128 keys, grouped-query heads (8 query heads, 2 K/V
// heads), padded keys beyond each row's key length.
//
// demo: --shape q=2x8x1024x64 --shape k=2x2x1024x64 --values key_lengths=1024,700 --values sinks=0.5,-1,2,0,1,-0.5,3,0.25
func.func @sinks(%q: tensor<?x8x?x64xf32>, %k: tensor<?x2x?x64xf32>,
                 %v: tensor<?x2x?x64xf32>, %key_lengths: tensor<?xi32>,
                 %sinks: tensor<8xf32>) -> tensor<?x8x?x64xf32> {
  %out = attn.attention %q, %k, %v key_lengths(%key_lengths) sinks(%sinks)
      mask(#attn.window<left = 127, right = 0, alignment = bottom_right>)
      : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
         tensor<?xi32>, tensor<8xf32>) -> tensor<?x8x?x64xf32>
  return %out : tensor<?x8x?x64xf32>
}
