// RUN: attn-opt %s --attn-generate-gradients --split-input-file --verify-diagnostics | FileCheck %s

// An attention: the backward recomputes it with its lse, then
// attn.attention_grad; key lengths get no gradient. The arguments keep the
// names the runtime gives them (their roles), and each gradient is named
// after its argument.
// CHECK-LABEL: func.func @attention(
// CHECK-LABEL: func.func @attention_backward
// CHECK-SAME: (%[[Q:[a-z0-9]+]]: tensor<2x4x9x8xf32> {attn.name = "q"}, %[[K:[a-z0-9]+]]: tensor<2x2x11x8xf32> {attn.name = "k"}, %[[V:[a-z0-9]+]]: tensor<2x2x11x8xf32> {attn.name = "v"}, %[[LEN:[a-z0-9]+]]: tensor<2xi32> {attn.name = "key_lengths"}, %[[DOUT:[a-z0-9]+]]: tensor<2x4x9x8xf32> {attn.name = "dout"})
// CHECK-SAME: -> (tensor<2x4x9x8xf32> {attn.name = "dq"}, tensor<2x2x11x8xf32> {attn.name = "dk"}, tensor<2x2x11x8xf32> {attn.name = "dv"})
// CHECK: %[[O:.*]], %[[LSE:.*]] = attn.attention %[[Q]], %[[K]], %[[V]] key_lengths(%[[LEN]]) mask(#attn.causal<bottom_right>) scale(2.500000e-01)
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]] = attn.attention_grad %[[Q]], %[[K]], %[[V]], %[[O]], %[[DOUT]], %[[LSE]] key_lengths(%[[LEN]]) mask(#attn.causal<bottom_right>) scale(2.500000e-01)
// CHECK: return %[[DQ]], %[[DK]], %[[DV]]
func.func @attention(%q: tensor<2x4x9x8xf32>, %k: tensor<2x2x11x8xf32>,
                     %v: tensor<2x2x11x8xf32>, %len: tensor<2xi32>)
    -> tensor<2x4x9x8xf32> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) scale(0.25)
      : (tensor<2x4x9x8xf32>, tensor<2x2x11x8xf32>, tensor<2x2x11x8xf32>,
         tensor<2xi32>) -> tensor<2x4x9x8xf32>
  return %o : tensor<2x4x9x8xf32>
}

// -----

// Self-attention on one tensor: its gradient is the sum of the three it
// receives (as q, k and v), added in f32 and rounded once to bf16.
// CHECK-LABEL: func.func @self_backward
// CHECK: %[[DQ:[a-z_0-9]+]], %[[DK:[a-z_0-9]+]], %[[DV:[a-z_0-9]+]] = attn.attention_grad
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[DQ]], %[[DK]], %[[DV]] : tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>)
// CHECK: arith.extf
// CHECK: arith.extf
// CHECK: arith.addf
// CHECK: arith.extf
// CHECK: arith.addf
// CHECK: arith.truncf
// CHECK: return %[[SUM]]
func.func @self(%x: tensor<1x2x5x8xbf16>) -> tensor<1x2x5x8xbf16> {
  %o = attn.attention %x, %x, %x
      : (tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>, tensor<1x2x5x8xbf16>)
        -> tensor<1x2x5x8xbf16>
  return %o : tensor<1x2x5x8xbf16>
}

// -----

// A grouped-query layer: the forward decomposed (projections into heads,
// the attention with its lse, the projection from heads), then in reverse
// dO and dWo from dy, attn.attention_grad, and dX and dW of each projection
// into heads; x's three gradients (from Q, K and V) summed.
// CHECK-DAG: #[[INTO_X:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d4)>
// CHECK-DAG: #[[INTO_W:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d4, d1, d3)>
// CHECK-DAG: #[[INTO_Q:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2, d3)>
// CHECK-DAG: #[[FROM_O:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d4)>
// CHECK-DAG: #[[FROM_W:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d3, d4, d2)>
// CHECK-DAG: #[[FROM_Y:map[0-9]*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @layer_backward
// CHECK-SAME: (%[[X:[a-z0-9]+]]: tensor<2x6x16xf32> {attn.name = "x"}, %[[WQ:[a-z0-9]+]]: tensor<16x16xf32> {attn.name = "wq"}, %[[WK:[a-z0-9]+]]: tensor<16x8xf32> {attn.name = "wk"}, %[[WV:[a-z0-9]+]]: tensor<16x8xf32> {attn.name = "wv"}, %[[WO:[a-z0-9]+]]: tensor<16x16xf32> {attn.name = "wo"}, %[[DY:[a-z0-9]+]]: tensor<2x6x16xf32> {attn.name = "dout"})
// CHECK: %[[O:.*]], %[[LSE:.*]] = attn.attention
// dO[b,h,t,d] = sum_e dY[b,t,e] Wo^T[e,h,d], a projection into heads
// (the forward's maps) with Wo transposed and viewed per head as the
// forward views its weights; dWo[h,d,e] = sum_{b,t} O dY.
// CHECK: %[[WO_T:.*]] = linalg.transpose ins(%[[WO]] : tensor<16x16xf32>) outs(%{{.*}} : tensor<16x16xf32>) permutation = [1, 0]
// CHECK: %[[WOT:.*]] = tensor.expand_shape %[[WO_T]] {{\[}}[0], [1, 2]] output_shape [16, 4, 4]
// CHECK: %[[DO:.*]] = linalg.generic {indexing_maps = [#[[INTO_X]], #[[INTO_W]], #[[INTO_Q]]], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[DY]], %[[WOT]] : tensor<2x6x16xf32>, tensor<16x4x4xf32>)
// CHECK: %[[DWO:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%[[O]], %[[DY]] : tensor<2x4x6x4xf32>, tensor<2x6x16xf32>) outs(%{{.*}} : tensor<4x4x16xf32>)
// CHECK: attn.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %[[O]], %[[DO]], %[[LSE]] mask(#attn.causal<top_left>)
// dV's share of dx: a projection from heads with Wv transposed.
// CHECK: %[[WV_T:.*]] = linalg.transpose ins(%[[WV]] : tensor<16x8xf32>) outs(%{{.*}} : tensor<8x16xf32>) permutation = [1, 0]
// CHECK: tensor.expand_shape %[[WV_T]] {{\[}}[0, 1], [2]] output_shape [2, 4, 16]
// CHECK: linalg.generic {indexing_maps = [#[[FROM_O]], #[[FROM_W]], #[[FROM_Y]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%{{.*}}, %{{.*}} : tensor<2x2x6x4xf32>, tensor<2x4x16xf32>) outs(%{{.*}} : tensor<2x6x16xf32>)
// CHECK: tensor.collapse_shape %{{.*}} {{\[}}[0], [1, 2]] : tensor<16x2x4xf32> into tensor<16x8xf32>
// CHECK: %[[DX:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x6x16xf32>, tensor<2x6x16xf32>, tensor<2x6x16xf32>)
// CHECK: return %[[DX]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x6x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>
func.func @layer(%x: tensor<2x6x16xf32>, %wq: tensor<16x16xf32>,
                 %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>,
                 %wo: tensor<16x16xf32>) -> tensor<2x6x16xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
      mask(#attn.causal<top_left>)
      : (tensor<2x6x16xf32>, tensor<16x16xf32>, tensor<16x8xf32>,
         tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<2x6x16xf32>
  return %y : tensor<2x6x16xf32>
}

// -----

// What it cannot differentiate is named, and no backward is emitted.
func.func @through_lse(%q: tensor<1x1x4x8xf32>)
    -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>) {
  // expected-error @+1 {{the gradient through a log-sum-exp is not supported}}
  %o, %lse = attn.attention %q, %q, %q
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
        -> (tensor<1x1x4x8xf32>, tensor<1x1x4xf32>)
  return %o, %lse : tensor<1x1x4x8xf32>, tensor<1x1x4xf32>
}

// -----

func.func @other_ops(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  %o = attn.attention %q, %q, %q
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
        -> tensor<1x1x4x8xf32>
  // expected-error @+1 {{attn-generate-gradients cannot differentiate 'math.tanh'}}
  %t = math.tanh %o : tensor<1x1x4x8xf32>
  return %t : tensor<1x1x4x8xf32>
}

// -----

// Linear attention (not causal): the state S = S0 + phi(k)^T [v, 1] and
// nd = phi(q) S recomputed, g = [dout / den, -(dout . num) / den^2], then
// dq = (g S^T) phi'(q), G = phi(q)^T g summed over the group's heads (the
// initial state's gradient), dk = ([v, 1] G^T) phi'(k), dv = phi(k) G.
// CHECK-LABEL: func.func @linear_backward
// CHECK-SAME: -> (tensor<2x4x9x8xf32> {attn.name = "dq"}, tensor<2x2x11x8xf32> {attn.name = "dk"}, tensor<2x2x11x6xf32> {attn.name = "dv"}, tensor<2x2x8x7xf32> {attn.name = "dstate"})
// CHECK: %[[STATE:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x2x8x7xf32>)
// CHECK: %[[ND:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[STATE]] : tensor<2x2x2x9x8xf32>, tensor<2x2x8x7xf32>) outs(%{{.*}} : tensor<2x2x2x9x7xf32>)
// CHECK: %[[G:.*]] = linalg.generic {{.*}} ins(%[[ND]], %{{.*}}, %{{.*}} : tensor<2x2x2x9x7xf32>, tensor<2x2x2x9x7xf32>, tensor<2x2x2x9xf32>)
// CHECK: math.exp2
// CHECK: %[[BIG_G:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%{{.*}}, %[[G]] : tensor<2x2x2x9x8xf32>, tensor<2x2x2x9x7xf32>) outs(%{{.*}} : tensor<2x2x8x7xf32>)
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %[[BIG_G]]
func.func @linear(%q: tensor<2x4x9x8xf32>, %k: tensor<2x2x11x8xf32>,
                  %v: tensor<2x2x11x6xf32>, %len: tensor<2xi32>,
                  %s0: tensor<2x2x8x7xf32>) -> tensor<2x4x9x6xf32> {
  %o = attn.linear_attention %q, %k, %v key_lengths(%len) state(%s0)
      : (tensor<2x4x9x8xf32>, tensor<2x2x11x8xf32>, tensor<2x2x11x6xf32>,
         tensor<2xi32>, tensor<2x2x8x7xf32>) -> tensor<2x4x9x6xf32>
  return %o : tensor<2x4x9x6xf32>
}

// -----

// Causal linear attention: in chunks of 64 tokens (130 = 3 chunks, the last
// padded). The states before each chunk by a scan from the initial state;
// the chunks' masked quadratic forms (64 x 64: A = tril(phi(q) phi(k)^T),
// and tril(g [v, 1]^T)); the state's gradient by a reverse scan of the
// chunks' phi(q)^T g; dstate their sum. Nothing of N x N.
// CHECK-LABEL: func.func @causal_linear_backward
// CHECK-SAME: %[[S0:[a-z0-9]+]]: tensor<2x2x8x7xf32> {attn.name = "state"}
// CHECK-NOT: tensor<2x2x2x130x130xf32>
// CHECK: %[[PHI_Q:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x2x2x3x64x8xf32>)
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %{{.*}} iter_args(%{{.*}} = %{{.*}}, %{{.*}} = %[[S0]])
// CHECK: tensor.insert_slice
// CHECK: %[[A:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<2x2x2x3x64x64xf32>)
// CHECK: arith.cmpi sle
// CHECK: %[[G:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<2x2x2x3x64x7xf32>, tensor<2x2x2x3x64x7xf32>, tensor<2x2x2x3x64xf32>)
// CHECK: %[[CHUNK_GRADS:.*]] = linalg.generic {{.*}} ins(%[[PHI_Q]], %[[G]] : tensor<2x2x2x3x64x8xf32>, tensor<2x2x2x3x64x7xf32>) outs(%{{.*}} : tensor<2x2x3x8x7xf32>)
// CHECK: scf.for
// CHECK: %[[DSTATE:.*]] = linalg.generic {{.*}} ins(%[[PHI_Q]], %[[G]] : tensor<2x2x2x3x64x8xf32>, tensor<2x2x2x3x64x7xf32>) outs(%{{.*}} : tensor<2x2x8x7xf32>)
// CHECK: return %{{.*}}, %{{.*}}, %{{.*}}, %[[DSTATE]] : tensor<2x4x130x8xf32>, tensor<2x2x130x8xf32>, tensor<2x2x130x6xf32>, tensor<2x2x8x7xf32>
func.func @causal_linear(%q: tensor<2x4x130x8xf32>, %k: tensor<2x2x130x8xf32>,
                         %v: tensor<2x2x130x6xf32>, %s0: tensor<2x2x8x7xf32>)
    -> tensor<2x4x130x6xf32> {
  %o = attn.linear_attention %q, %k, %v state(%s0) causal
      : (tensor<2x4x130x8xf32>, tensor<2x2x130x8xf32>, tensor<2x2x130x6xf32>,
         tensor<2x2x8x7xf32>) -> tensor<2x4x130x6xf32>
  return %o : tensor<2x4x130x6xf32>
}

// -----

func.func @final_state(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x8x9xf32> {
  // expected-error @+1 {{the gradient through a linear attention's final state is not supported}}
  %o, %s = attn.linear_attention %q, %q, %q causal
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
        -> (tensor<1x1x4x8xf32>, tensor<1x1x8x9xf32>)
  return %s : tensor<1x1x8x9xf32>
}

// -----

// A score modifier goes with the gradient op (which recomputes f(s) and
// multiplies dS by f'(s)).
// CHECK-LABEL: func.func @softcap_backward
// CHECK: attn.attention_grad {{.*}} score_mod(#attn.softcap<cap = 5.000000e+00>)
func.func @softcap(%q: tensor<1x1x4x8xf32>) -> tensor<1x1x4x8xf32> {
  %o = attn.attention %q, %q, %q score_mod(#attn.softcap<cap = 5.0>)
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>)
        -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

// Sinks: the gradient op takes them and returns theirs, named dsinks.
// CHECK-LABEL: func.func @sinks_backward
// CHECK-SAME: -> (tensor<1x1x4x8xf32> {attn.name = "dq"}, tensor<1xf32> {attn.name = "dsinks"})
// CHECK: %[[O:.*]], %[[LSE:.*]] = attn.attention %{{.*}} sinks(%{{.*}})
// CHECK: %[[DQ:.*]], %[[DK:.*]], %[[DV:.*]], %[[DS:.*]] = attn.attention_grad {{.*}}, %[[O]], %{{.*}}, %[[LSE]] sinks(%{{.*}})
func.func @sinks(%q: tensor<1x1x4x8xf32>, %s: tensor<1xf32>) -> tensor<1x1x4x8xf32> {
  %o = attn.attention %q, %q, %q sinks(%s)
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>,
         tensor<1xf32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}

// -----

func.func @packed(%q: tensor<1x1x4x8xf32>, %c: tensor<3xi32>) -> tensor<1x1x4x8xf32> {
  // expected-error @+1 {{the gradient of packed sequences is not supported yet}}
  %o = attn.attention %q, %q, %q sequences(%c, %c)
      : (tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>, tensor<1x1x4x8xf32>,
         tensor<3xi32>, tensor<3xi32>) -> tensor<1x1x4x8xf32>
  return %o : tensor<1x1x4x8xf32>
}
