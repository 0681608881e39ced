func.func @bad(%q: tensor<1x8x4x16xf32>, %k: tensor<1x3x4x16xf32>,
               %v: tensor<1x3x4x16xf32>) -> tensor<1x8x4x16xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<1x8x4x16xf32>, tensor<1x3x4x16xf32>, tensor<1x3x4x16xf32>)
        -> tensor<1x8x4x16xf32>
  return %o : tensor<1x8x4x16xf32>
}
