// The multi-head layer of example 02 at d_model = 1024: 16 heads of 64.
// Timed at x = 8x512x1024 (benchmarks/results/cpu-2core-avx512.md):
//   attn-run benchmarks/inputs/layer-1024.mlir --random 1 --shape x=8x512x1024 --repeat 5
func.func @layer(%x: tensor<?x?x1024xf32>, %wq: tensor<1024x1024xf32>,
                 %wk: tensor<1024x1024xf32>, %wv: tensor<1024x1024xf32>,
                 %wo: tensor<1024x1024xf32>) -> tensor<?x?x1024xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(16) kv_heads(16)
      : (tensor<?x?x1024xf32>, tensor<1024x1024xf32>, tensor<1024x1024xf32>,
         tensor<1024x1024xf32>, tensor<1024x1024xf32>) -> tensor<?x?x1024xf32>
  return %y : tensor<?x?x1024xf32>
}
