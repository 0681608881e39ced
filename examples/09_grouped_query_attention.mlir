// Grouped-query attention (Ainslie et al. 2023): 8 query heads in 2 groups
// of 4, each group sharing one key/value head; between multi-head (8 K/V
// heads) and multi-query (1) in quality and in K/V size. Causal.
//
// demo: --shape x=2x256x512
func.func @grouped_query(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                         %wk: tensor<512x128xf32>, %wv: tensor<512x128xf32>,
                         %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(2)
      mask(#attn.causal<top_left>)
      : (tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>,
         tensor<512x128xf32>, tensor<512x512xf32>) -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
