// RUN: attn-opt %s --attn-lower-linear-attention="form=parallel" --verify-diagnostics --split-input-file
// RUN: not attn-opt %s --attn-lower-linear-attention="form=fast" 2>&1 | FileCheck %s --check-prefix=FORM
// RUN: not attn-opt %s --attn-lower-linear-attention="chunk-size=0" 2>&1 | FileCheck %s --check-prefix=CHUNK
// RUN: not attn-opt %s --attn-lower-linear-attention="chunk-size=257" 2>&1 | FileCheck %s --check-prefix=BIG

// The parallel form sums every key into one state: it has no causal mask.
func.func @causal(%q: tensor<1x2x8x16xf32>) -> tensor<1x2x8x16xf32> {
  // expected-error @+1 {{the parallel form sums every key into one state and cannot apply a causal mask; use the chunked or the recurrent form}}
  %o = attn.linear_attention %q, %q, %q causal
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
        -> tensor<1x2x8x16xf32>
  return %o : tensor<1x2x8x16xf32>
}

// FORM: unknown linear attention form 'fast'; expected auto, parallel, chunked or recurrent
// CHUNK: chunk-size must be in [1, 256] and pad-to positive, got 0 and 8
// BIG: chunk-size must be in [1, 256] and pad-to positive, got 257 and 8
