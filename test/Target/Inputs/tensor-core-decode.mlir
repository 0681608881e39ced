// Decoding steps in f16 and bf16 for the tensor-core kernel (split-K
// partials, the lse, a window): the PTX tests compile them beside the
// examples.
func.func @gqa_step(%q: tensor<?x32x1x128xbf16>, %k: tensor<?x8x?x128xbf16>,
                    %v: tensor<?x8x?x128xbf16>, %len: tensor<?xi32>)
    -> tensor<?x32x1x128xbf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>)
      : (tensor<?x32x1x128xbf16>, tensor<?x8x?x128xbf16>,
         tensor<?x8x?x128xbf16>, tensor<?xi32>) -> tensor<?x32x1x128xbf16>
  return %o : tensor<?x32x1x128xbf16>
}

func.func @mqa_lse(%q: tensor<?x8x2x64xf16>, %k: tensor<?x1x?x64xf16>,
                   %v: tensor<?x1x?x64xf16>, %len: tensor<?xi32>)
    -> (tensor<?x8x2x64xf16>, tensor<?x8x2xf32>) {
  %o, %lse = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.window<left = 1024, right = 0, alignment = bottom_right>)
      : (tensor<?x8x2x64xf16>, tensor<?x1x?x64xf16>, tensor<?x1x?x64xf16>,
         tensor<?xi32>) -> (tensor<?x8x2x64xf16>, tensor<?x8x2xf32>)
  return %o, %lse : tensor<?x8x2x64xf16>, tensor<?x8x2xf32>
}
