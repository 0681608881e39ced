// Sparse attention (Child et al. 2019), the fixed pattern: keys in blocks of
// l = ceil(sqrt(S)) = 64 (S = 4096 here); a row sees its own block up to
// itself, and the last c = 8 keys of every earlier block ("summary" keys
// that the block's positions have written into). Both patterns in every
// head. The compiler computes the own block in the original order and the
// summary keys gathered into a dense (S / l) c = 512-key tensor, merged
// exactly by their log-sum-exps: O(N (l + c N / l)) pairs, O(N sqrt N).
//
// demo: --shape q=1x8x4096x64
func.func @fixed_sparse(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x4096x64xf32>,
                        %v: tensor<1x8x4096x64xf32>) -> tensor<1x8x?x64xf32> {
  %out = attn.attention %q, %k, %v mask(#attn.fixed<summary = 8>)
      : (tensor<1x8x?x64xf32>, tensor<1x8x4096x64xf32>, tensor<1x8x4096x64xf32>)
        -> tensor<1x8x?x64xf32>
  return %out : tensor<1x8x?x64xf32>
}
