// RUN: attn-opt %s --attn-select-strategy="strategy=fastest" --verify-diagnostics

// expected-error @+1 {{unknown attention strategy 'fastest'; expected auto, flash, materialized or decode}}
func.func @f(%q: tensor<?x1x?x8xf32>) -> tensor<?x1x?x8xf32> {
  %o = attn.attention %q, %q, %q
      : (tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>, tensor<?x1x?x8xf32>)
        -> tensor<?x1x?x8xf32>
  return %o : tensor<?x1x?x8xf32>
}
