func.func @attention(%q: tensor<1x32x1x128xf16>, %k: tensor<1x32x32768x128xf16>, %v: tensor<1x32x32768x128xf16>, %len: tensor<1xi32>) -> tensor<1x32x1x128xf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len) mask(#attn.causal<bottom_right>) : (tensor<1x32x1x128xf16>, tensor<1x32x32768x128xf16>, tensor<1x32x32768x128xf16>, tensor<1xi32>) -> tensor<1x32x1x128xf16>
  return %o : tensor<1x32x1x128xf16>
}
