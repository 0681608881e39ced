// Causal attention, H = 8, D = 64, f32: the forward alone and the forward
// followed by its backward, timed in one session (docs/Training.md):
//   attn-run benchmarks/inputs/backward-causal.mlir --entry forward --random 1 --shape q=1x8x1024x64 --shape k=1x8x1024x64 --repeat 3
//   attn-run benchmarks/inputs/backward-causal.mlir --entry forward_backward --random 1 --shape q=1x8x1024x64 --shape k=1x8x1024x64 --repeat 3
// (add --strategy materialized for the score-matrix backward).
func.func @forward(%q: tensor<1x8x?x64xf32>, %k: tensor<1x8x?x64xf32>,
                   %v: tensor<1x8x?x64xf32>)
    -> (tensor<1x8x?x64xf32>, tensor<1x8x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>)
        -> (tensor<1x8x?x64xf32>, tensor<1x8x?xf32>)
  return %o, %lse : tensor<1x8x?x64xf32>, tensor<1x8x?xf32>
}

func.func @forward_backward(%q: tensor<1x8x?x64xf32>,
                            %k: tensor<1x8x?x64xf32>,
                            %v: tensor<1x8x?x64xf32>,
                            %dout: tensor<1x8x?x64xf32>)
    -> (tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>) {
  %o, %lse = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
      : (tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>)
        -> (tensor<1x8x?x64xf32>, tensor<1x8x?xf32>)
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %dout, %lse
      mask(#attn.causal<top_left>)
      : (tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>,
         tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?xf32>)
        -> (tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>)
  return %dq, %dk, %dv
      : tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>, tensor<1x8x?x64xf32>
}
