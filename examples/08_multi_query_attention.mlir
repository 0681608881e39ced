// Multi-query attention (Shazeer 2019): 8 query heads share one key/value
// head, so W_k and W_v project to a single head of 64 and the K/V a decoder
// keeps per token shrink eightfold. Causal, as in a decoder.
//
// demo: --shape x=2x256x512
func.func @multi_query(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                       %wk: tensor<512x64xf32>, %wv: tensor<512x64xf32>,
                       %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(1)
      mask(#attn.causal<top_left>)
      : (tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x64xf32>,
         tensor<512x64xf32>, tensor<512x512xf32>) -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
