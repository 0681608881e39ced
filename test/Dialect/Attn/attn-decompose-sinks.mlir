// RUN: attn-opt %s --attn-decompose-sinks --split-input-file | FileCheck %s
// A lowering given sinks says so rather than drop them:
// RUN: not attn-opt %s --attn-tile-online-softmax --split-input-file 2>&1 | FileCheck %s --check-prefix=LOWER
// LOWER: error: 'attn.attention' op has sinks, which attn-tile-online-softmax does not lower: attn-decompose-sinks takes them out first

// The attention without its sinks, returning its lse; keep = 1 / (1 +
// 2^((t_h - lse) log2 e)) per row (0 for a row that sees no key), lse' =
// max(lse, t) + log2(1 + 2^((min - max) log2 e)) ln 2, and out' = out keep
// in f32, rounded once to bf16. The clauses and the strategy stay.
// CHECK-LABEL: func.func @sinks
// CHECK-SAME: %[[SINKS:[a-z0-9]+]]: tensor<4xf32>
// CHECK: %[[OUT:.*]], %[[LSE:.*]] = attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.causal<top_left>) {attn.strategy = "flash"}
// CHECK-NOT: sinks(
// CHECK: %[[KEEP:.*]] = linalg.generic {{.*}} ins(%[[LSE]], %[[SINKS]] : tensor<?x4x?xf32>, tensor<4xf32>)
// CHECK: arith.subf %[[T:.*]], %[[L:.*]] : f32
// CHECK: math.exp2
// CHECK: arith.cmpf oeq, %[[L]], %{{.*}} : f32
// CHECK: arith.divf
// CHECK: arith.select
// CHECK: %[[NEWLSE:.*]] = linalg.generic {{.*}} ins(%[[LSE]], %[[SINKS]] : tensor<?x4x?xf32>, tensor<4xf32>)
// CHECK: arith.maximumf
// CHECK: arith.minimumf
// CHECK: math.log2
// CHECK: math.fma
// CHECK: %[[NEWOUT:.*]] = linalg.generic {{.*}} ins(%[[OUT]], %[[KEEP]] : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>)
// CHECK: arith.extf
// CHECK: arith.mulf
// CHECK: arith.truncf {{.*}} to bf16
// CHECK: return %[[NEWOUT]], %[[NEWLSE]]
func.func @sinks(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                 %v: tensor<?x2x?x16xbf16>, %sinks: tensor<4xf32>)
    -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>) {
  %o, %lse = attn.attention %q, %k, %v sinks(%sinks) mask(#attn.causal<top_left>)
      {attn.strategy = "flash"}
      : (tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x16xbf16>,
         tensor<4xf32>) -> (tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>)
  return %o, %lse : tensor<?x4x?x16xbf16>, tensor<?x4x?xf32>
}

// -----

// Without an lse result the new lse has no user and is not computed; key
// lengths and the score modifier go with the attention.
// CHECK-LABEL: func.func @no_lse
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) score_mod(#attn.softcap<cap = 5.000000e+00>) : {{.*}} -> (tensor<2x4x8x16xf32>, tensor<2x4x8xf32>)
// CHECK-NOT: math.log2
// CHECK-COUNT-2: linalg.generic
// CHECK-NOT: math.log2
// CHECK: return
func.func @no_lse(%q: tensor<2x4x8x16xf32>, %len: tensor<2xi32>,
                  %sinks: tensor<4xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention %q, %q, %q key_lengths(%len) sinks(%sinks)
      score_mod(#attn.softcap<cap = 5.0>)
      : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>,
         tensor<2xi32>, tensor<4xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// An op without sinks is left alone.
// CHECK-LABEL: func.func @none
// CHECK-NEXT: attn.attention
// CHECK-NEXT: return
func.func @none(%q: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention %q, %q, %q
      : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
        -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// -----

// The backward: the gradient without sinks (the forward's lse carries
// them), and dt_h = -sum_{b,i} 2^((t_h - lse_i) log2 e) (dout_i . out_i):
// the row dots, then a sum over the batch and the rows into each head.
// CHECK-LABEL: func.func @backward
// CHECK-SAME: %[[Q:[a-z0-9]+]]: tensor<1x2x8x16xf32>, %[[LSE:[a-z0-9]+]]: tensor<1x2x8xf32>, %[[SINKS:[a-z0-9]+]]: tensor<2xf32>
// CHECK: %[[DQ:.*]], %{{.*}}, %{{.*}} = attn.attention_grad {{.*}} {attn.strategy = "flash"} : {{.*}} -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
// CHECK: %[[DOTS:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]
// CHECK: %[[DT:.*]] = linalg.generic {{.*}} iterator_types = ["reduction", "parallel", "reduction"]} ins(%[[LSE]], %[[DOTS]], %[[SINKS]] : tensor<1x2x8xf32>, tensor<1x2x8xf32>, tensor<2xf32>) outs(%{{.*}} : tensor<2xf32>)
// CHECK: math.exp2
// CHECK: arith.select
// CHECK: arith.subf
// CHECK: return %[[DQ]], %[[DT]]
func.func @backward(%q: tensor<1x2x8x16xf32>, %lse: tensor<1x2x8xf32>,
                    %s: tensor<2xf32>) -> (tensor<1x2x8x16xf32>, tensor<2xf32>) {
  %dq, %dk, %dv, %ds = attn.attention_grad %q, %q, %q, %q, %q, %lse sinks(%s)
      {attn.strategy = "flash"}
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>,
         tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8xf32>,
         tensor<2xf32>)
        -> (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>,
            tensor<2xf32>)
  return %dq, %ds : tensor<1x2x8x16xf32>, tensor<2xf32>
}
