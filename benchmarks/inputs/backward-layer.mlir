// A causal multi-head layer (8 heads of 64, f32) whose backward
// attn-generate-gradients derives: the forward and the generated backward
// (which recomputes the forward), timed in one session (docs/Training.md):
//   attn-opt benchmarks/inputs/backward-layer.mlir --attn-generate-gradients -o layer-train.mlir
//   attn-run layer-train.mlir --entry layer --random 1 --repeat 5
//   attn-run layer-train.mlir --entry layer_backward --random 1 --repeat 5
func.func @layer(%x: tensor<2x512x512xf32>, %wq: tensor<512x512xf32>,
                 %wk: tensor<512x512xf32>, %wv: tensor<512x512xf32>,
                 %wo: tensor<512x512xf32>) -> tensor<2x512x512xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(8)
      mask(#attn.causal<top_left>)
      : (tensor<2x512x512xf32>, tensor<512x512xf32>, tensor<512x512xf32>,
         tensor<512x512xf32>, tensor<512x512xf32>) -> tensor<2x512x512xf32>
  return %y : tensor<2x512x512xf32>
}
