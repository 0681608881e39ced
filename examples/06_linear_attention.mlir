// Linear attention (Katharopoulos et al. 2020, "Transformers are RNNs"):
// exp(q . k) is replaced by phi(q) . phi(k), phi(x) = elu(x) + 1, so the sums
// over keys regroup into a fixed-size state S = sum_j phi(k_j) [v_j, 1]^T
// (D x (Dv + 1), its last column the normalizer) and the cost is linear in
// the sequence length. Causal, grouped-query (8 query heads over 2 K/V
// heads), head width 64. It continues a sequence: %s0 summarizes the tokens
// before this chunk, and the final state is returned for the next one.
// attn-run --linear-form chunked (the default here) or recurrent picks the
// lowering; parallel is only for ops without the causal mask.
//
// demo: --shape q=1x8x300x64
func.func @linear(%q: tensor<?x8x?x64xf32>, %k: tensor<?x2x?x64xf32>,
                  %v: tensor<?x2x?x64xf32>, %s0: tensor<?x2x64x65xf32>)
    -> (tensor<?x8x?x64xf32>, tensor<?x2x64x65xf32>) {
  %o, %s = attn.linear_attention %q, %k, %v state(%s0) causal
      : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
         tensor<?x2x64x65xf32>) -> (tensor<?x8x?x64xf32>, tensor<?x2x64x65xf32>)
  return %o, %s : tensor<?x8x?x64xf32>, tensor<?x2x64x65xf32>
}
