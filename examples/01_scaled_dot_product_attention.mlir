// Scaled dot-product attention (Vaswani et al. 2017):
//   out = softmax(q k^T / sqrt(D)) v
// for a batch of B single-head sequences. B, N and S are dynamic: one
// compiled function serves every batch size and length.
//
// demo: --shape q=4x1x512x64 --shape k=4x1x512x64
func.func @sdpa(%q: tensor<?x1x?x64xf32>, %k: tensor<?x1x?x64xf32>,
                %v: tensor<?x1x?x64xf32>) -> tensor<?x1x?x64xf32> {
  %out = attn.attention %q, %k, %v
      : (tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32>, tensor<?x1x?x64xf32>)
        -> tensor<?x1x?x64xf32>
  return %out : tensor<?x1x?x64xf32>
}
