// Cross-attention (Vaswani et al. 2017, encoder-decoder attention): queries
// come from the decoder's tokens x (B, N, 512), keys and values from the
// encoder's output, the source (B, S, 384), of another length and width.
// Padded source positions are excluded by key_lengths (one length per batch
// row; attn-run and the runtime call the inputs by their roles: x, source,
// wq, ..., key_lengths).
//
// demo: --shape x=2x200x512 --shape source=2x300x384
func.func @cross(%x: tensor<?x?x512xf32>, %source: tensor<?x?x384xf32>,
                 %wq: tensor<512x512xf32>, %wk: tensor<384x512xf32>,
                 %wv: tensor<384x512xf32>, %wo: tensor<512x512xf32>,
                 %key_lengths: tensor<?xi32>) -> tensor<?x?x512xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo source(%source)
      key_lengths(%key_lengths) heads(8) kv_heads(8)
      : (tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<384x512xf32>,
         tensor<384x512xf32>, tensor<512x512xf32>, tensor<?x?x384xf32>,
         tensor<?xi32>) -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}
