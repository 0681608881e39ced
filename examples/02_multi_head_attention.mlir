// Multi-head self-attention (Vaswani et al. 2017): d_model = 512 split into
// 8 heads of 64, each attending in its own subspace, concatenated and
// projected back. Weights are (in_features, out_features).
//
// demo: --shape x=2x256x512
func.func @multi_head(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                      %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                      %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(8)
      : (tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
         tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
