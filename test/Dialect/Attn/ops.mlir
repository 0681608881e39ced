// Every op and attribute prints, parses back and prints the same, in the
// custom form and through the generic form.
// RUN: attn-opt %s | attn-opt | FileCheck %s
// RUN: attn-opt %s --mlir-print-op-generic | attn-opt | FileCheck %s

// CHECK-LABEL: func.func @plain
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32>
func.func @plain(%q: tensor<2x4x8x16xf32>, %k: tensor<2x4x8x16xf32>,
                 %v: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention %q, %k, %v
      : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
        -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// CHECK-LABEL: func.func @grouped_causal_padded
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) mask(#attn.causal<bottom_right>) scale(1.250000e-01)
// CHECK-SAME: (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>, tensor<?xi32>) -> tensor<?x8x?x32xf16>
func.func @grouped_causal_padded(%q: tensor<?x8x?x64xf16>,
    %k: tensor<?x2x?x64xf16>, %v: tensor<?x2x?x32xf16>,
    %len: tensor<?xi32>) -> tensor<?x8x?x32xf16> {
  %o = attn.attention %q, %k, %v key_lengths(%len)
      mask(#attn.causal<bottom_right>) scale(0.125)
      : (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>,
         tensor<?xi32>) -> tensor<?x8x?x32xf16>
  return %o : tensor<?x8x?x32xf16>
}

// A score modifier, applied to each scaled score before the mask.
// CHECK-LABEL: func.func @softcap
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} mask(#attn.causal<top_left>) score_mod(#attn.softcap<cap = 5.000000e+01>)
func.func @softcap(%q: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention %q, %q, %q score_mod(#attn.softcap<cap = 50.0>)
      mask(#attn.causal<top_left>)
      : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
        -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// Sinks: one f32 logit per query head.
// CHECK-LABEL: func.func @sinks
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) sinks(%{{.*}}) mask(#attn.causal<bottom_right>) : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2xi32>, tensor<4xf32>)
func.func @sinks(%q: tensor<2x4x8x16xf32>, %len: tensor<2xi32>,
                 %sinks: tensor<4xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention %q, %q, %q mask(#attn.causal<bottom_right>)
      sinks(%sinks) key_lengths(%len)
      : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>,
         tensor<2xi32>, tensor<4xf32>) -> tensor<2x4x8x16xf32>
  return %o : tensor<2x4x8x16xf32>
}

// Packed sequences: query and key offsets.
// CHECK-LABEL: func.func @sequences
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} sinks(%{{.*}}) sequences(%[[CQ:.*]], %[[CK:.*]]) mask(#attn.causal<bottom_right>) : (tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<4xf32>, tensor<?xi32>, tensor<?xi32>)
func.func @sequences(%q: tensor<1x4x?x16xf32>, %cq: tensor<?xi32>,
                     %ck: tensor<?xi32>, %s: tensor<4xf32>) -> tensor<1x4x?x16xf32> {
  %o = attn.attention %q, %q, %q sequences(%cq, %ck) sinks(%s)
      mask(#attn.causal<bottom_right>)
      : (tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>, tensor<1x4x?x16xf32>,
         tensor<4xf32>, tensor<?xi32>, tensor<?xi32>) -> tensor<1x4x?x16xf32>
  return %o : tensor<1x4x?x16xf32>
}

// ALiBi's alignment, and its largest bias when it is not the paper's 8.
// CHECK-LABEL: func.func @alibi
// CHECK: score_mod(#attn.alibi<bottom_right>)
// CHECK: score_mod(#attn.alibi<top_left, max_bias = 1.600000e+01>)
func.func @alibi(%q: tensor<2x4x8x16xf32>) -> tensor<2x4x8x16xf32> {
  %o = attn.attention %q, %q, %q score_mod(#attn.alibi<bottom_right, max_bias = 8.0>)
      : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
        -> tensor<2x4x8x16xf32>
  %p = attn.attention %o, %q, %q score_mod(#attn.alibi<top_left, max_bias = 16.0>)
      : (tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>, tensor<2x4x8x16xf32>)
        -> tensor<2x4x8x16xf32>
  return %p : tensor<2x4x8x16xf32>
}

// CHECK-LABEL: func.func @window
// CHECK: mask(#attn.window<left = 127, right = 0, alignment = top_left>)
// CHECK-LABEL: func.func @symmetric_window
// CHECK: mask(#attn.window<left = 4, right = 4, alignment = bottom_right>)
func.func @window(%q: tensor<1x1x?x8xbf16>, %k: tensor<1x1x?x8xbf16>,
                  %v: tensor<1x1x?x8xbf16>) -> tensor<1x1x?x8xbf16> {
  %o = attn.attention %q, %k, %v
      mask(#attn.window<left = 127, right = 0, alignment = top_left>)
      : (tensor<1x1x?x8xbf16>, tensor<1x1x?x8xbf16>, tensor<1x1x?x8xbf16>)
        -> tensor<1x1x?x8xbf16>
  return %o : tensor<1x1x?x8xbf16>
}
func.func @symmetric_window(%q: tensor<1x1x?x8xf32>, %k: tensor<1x1x?x8xf32>,
                            %v: tensor<1x1x?x8xf32>) -> tensor<1x1x?x8xf32> {
  %o = attn.attention %q, %k, %v
      mask(#attn.window<left = 4, right = 4, alignment = bottom_right>)
      : (tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>, tensor<1x1x?x8xf32>)
        -> tensor<1x1x?x8xf32>
  return %o : tensor<1x1x?x8xf32>
}

// CHECK-LABEL: func.func @self_layer
// CHECK: attn.multi_head %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} heads(8) kv_heads(2) mask(#attn.causal<top_left>)
func.func @self_layer(%x: tensor<?x?x512xf32>, %wq: tensor<512x512xf32>,
                      %wk: tensor<512x128xf32>, %wv: tensor<512x128xf32>,
                      %wo: tensor<512x512xf32>) -> tensor<?x?x512xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(2)
      mask(#attn.causal<top_left>)
      : (tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>,
         tensor<512x128xf32>, tensor<512x512xf32>) -> tensor<?x?x512xf32>
  return %y : tensor<?x?x512xf32>
}

// CHECK-LABEL: func.func @cross_layer
// CHECK: attn.multi_head %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} source(%{{.*}}) key_lengths(%{{.*}}) heads(4) kv_heads(1) scale(5.000000e-01)
func.func @cross_layer(%x: tensor<2x7x32xf32>, %src: tensor<2x9x24xf32>,
                       %wq: tensor<32x64xf32>, %wk: tensor<24x16xf32>,
                       %wv: tensor<24x8xf32>, %wo: tensor<32x40xf32>,
                       %len: tensor<2xi32>) -> tensor<2x7x40xf32> {
  %y = attn.multi_head %x, %wq, %wk, %wv, %wo source(%src) key_lengths(%len)
      heads(4) kv_heads(1) scale(0.5)
      : (tensor<2x7x32xf32>, tensor<32x64xf32>, tensor<24x16xf32>,
         tensor<24x8xf32>, tensor<32x40xf32>, tensor<2x9x24xf32>,
         tensor<2xi32>) -> tensor<2x7x40xf32>
  return %y : tensor<2x7x40xf32>
}

// The structured masks round-trip; defaults are not printed.
// CHECK-LABEL: func.func @masks
// CHECK: mask(#attn.window<left = 64, right = 64, alignment = top_left, dilation = 4>)
// CHECK: mask(#attn.window<left = 3, right = 0, alignment = bottom_right>)
// CHECK: mask(#attn.union<[#attn.window<left = 8, right = 8, alignment = top_left>, #attn.global<tokens = [0, 17]>]>)
// CHECK: mask(#attn.intersection<[#attn.causal<top_left>, #attn.strided<stride = 4, split_heads = true>]>)
// CHECK: mask(#attn.strided<>)
// CHECK: mask(#attn.fixed<block = 16, summary = 2, bidirectional = true>)
func.func @masks(%q: tensor<1x2x64x8xf32>, %k: tensor<1x2x64x8xf32>) {
  %a = attn.attention %q, %k, %k
      mask(#attn.window<left = 64, right = 64, alignment = top_left, dilation = 4>)
      : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32>
  %b = attn.attention %q, %k, %k
      mask(#attn.window<left = 3, right = 0, alignment = bottom_right, dilation = 1>)
      : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32>
  %c = attn.attention %q, %k, %k
      mask(#attn.union<[#attn.window<left = 8, right = 8, alignment = top_left>, #attn.global<tokens = [0, 17]>]>)
      : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32>
  %d = attn.attention %q, %k, %k
      mask(#attn.intersection<[#attn.causal<top_left>, #attn.strided<stride = 4, split_heads = true>]>)
      : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32>
  %e = attn.attention %q, %k, %k mask(#attn.strided<>)
      : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32>
  %f = attn.attention %q, %k, %k
      mask(#attn.fixed<block = 16, summary = 2, bidirectional = true>)
      : (tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>, tensor<1x2x64x8xf32>) -> tensor<1x2x64x8xf32>
  return
}

// -----

// The log-sum-exp result, blockwise masks, and attn.combine round-trip.
// CHECK-LABEL: func.func @partial_attentions
// CHECK: %[[O1:.*]], %[[L1:.*]] = attn.attention %arg0, %arg0, %arg0 mask(#attn.blockwise<query_block = 4, key_block = 2, relation = ne>) : {{.*}} -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>)
// CHECK: attn.attention {{.*}} mask(#attn.blockwise<query_block = 4, key_block = 4, relation = ge>)
// CHECK: attn.combine(%[[O1]], %{{.*}}) lse(%[[L1]], %{{.*}}) : {{.*}} -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>)
func.func @partial_attentions(%q: tensor<1x2x8x16xf32>)
    -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>) {
  %o1, %l1 = attn.attention %q, %q, %q
      mask(#attn.blockwise<query_block = 4, key_block = 2, relation = ne>)
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
        -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>)
  %o2, %l2 = attn.attention %q, %q, %q
      mask(#attn.blockwise<query_block = 4, key_block = 4, relation = ge>)
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>)
        -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>)
  %o, %l = attn.combine (%o1, %o2) lse(%l1, %l2)
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8xf32>,
         tensor<1x2x8xf32>) -> (tensor<1x2x8x16xf32>, tensor<1x2x8xf32>)
  return %o, %l : tensor<1x2x8x16xf32>, tensor<1x2x8xf32>
}

// Linear attention: every operand and attribute, then the defaults (the
// elu + 1 feature map is not printed).
// CHECK-LABEL: func.func @linear_attention
// CHECK: %{{.*}}, %{{.*}} = attn.linear_attention %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) state(%{{.*}}) feature_map(relu) causal : (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>, tensor<?xi32>, tensor<?x2x64x33xf32>) -> (tensor<?x8x?x32xf16>, tensor<?x2x64x33xf32>)
// CHECK: attn.linear_attention %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>) -> tensor<?x8x?x32xf16>
// CHECK: attn.linear_attention %{{.*}}, %{{.*}}, %{{.*}} feature_map(identity) : (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>) -> tensor<?x8x?x32xf16>
func.func @linear_attention(%q: tensor<?x8x?x64xf16>, %k: tensor<?x2x?x64xf16>,
                            %v: tensor<?x2x?x32xf16>, %len: tensor<?xi32>,
                            %s0: tensor<?x2x64x33xf32>) {
  %o, %s = attn.linear_attention %q, %k, %v key_lengths(%len) state(%s0)
      feature_map(relu) causal
      : (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>,
         tensor<?xi32>, tensor<?x2x64x33xf32>)
        -> (tensor<?x8x?x32xf16>, tensor<?x2x64x33xf32>)
  %p = attn.linear_attention %q, %k, %v feature_map(elu_plus_one)
      : (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>)
        -> tensor<?x8x?x32xf16>
  %r = attn.linear_attention %q, %k, %v feature_map(identity)
      : (tensor<?x8x?x64xf16>, tensor<?x2x?x64xf16>, tensor<?x2x?x32xf16>)
        -> tensor<?x8x?x32xf16>
  return
}

// Clauses come in any order and print in one.
// CHECK-LABEL: func.func @clauses_in_any_order
// CHECK: attn.attention %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) mask(#attn.window<left = 3, right = 0, alignment = bottom_right, dilation = 2>) scale(5.000000e-01) :
// CHECK: attn.multi_head %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) heads(4) kv_heads(2) mask(#attn.fixed<block = 8, summary = 2, split_heads = true>) scale(2.500000e-01) :
// CHECK: attn.linear_attention %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) feature_map(relu) causal :
func.func @clauses_in_any_order(%q: tensor<1x2x8x16xf32>, %len: tensor<1xi32>,
                                %x: tensor<1x8x64xf32>, %w: tensor<64x64xf32>,
                                %wkv: tensor<64x32xf32>) {
  %o = attn.attention %q, %q, %q scale(0.5)
      mask(#attn.window<dilation = 2, alignment = bottom_right, right = 0, left = 3>)
      key_lengths(%len)
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>,
         tensor<1xi32>) -> tensor<1x2x8x16xf32>
  %y = attn.multi_head %x, %w, %wkv, %wkv, %w
      mask(#attn.fixed<split_heads = true, summary = 2, block = 8>)
      kv_heads(2) scale(0.25) key_lengths(%len) heads(4)
      : (tensor<1x8x64xf32>, tensor<64x64xf32>, tensor<64x32xf32>,
         tensor<64x32xf32>, tensor<64x64xf32>, tensor<1xi32>)
        -> tensor<1x8x64xf32>
  %l = attn.linear_attention %q, %q, %q causal feature_map(relu)
      key_lengths(%len)
      : (tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>, tensor<1x2x8x16xf32>,
         tensor<1xi32>) -> tensor<1x2x8x16xf32>
  return
}

// CHECK-LABEL: func.func @gradients
// CHECK: attn.attention_grad %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} key_lengths(%{{.*}}) mask(#attn.causal<top_left>) scale(5.000000e-01)
// CHECK-SAME: (tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x8xbf16>, tensor<?x4x?x8xbf16>, tensor<?x4x?x8xbf16>, tensor<?x4x?xf32>, tensor<?xi32>) -> (tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x8xbf16>)
func.func @gradients(%q: tensor<?x4x?x16xbf16>, %k: tensor<?x2x?x16xbf16>,
                     %v: tensor<?x2x?x8xbf16>, %o: tensor<?x4x?x8xbf16>,
                     %do: tensor<?x4x?x8xbf16>, %lse: tensor<?x4x?xf32>,
                     %len: tensor<?xi32>)
    -> (tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x8xbf16>) {
  // The clauses in any order, as on attn.attention.
  %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse scale(0.5)
      mask(#attn.causal<top_left>) key_lengths(%len)
      : (tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x8xbf16>,
         tensor<?x4x?x8xbf16>, tensor<?x4x?x8xbf16>, tensor<?x4x?xf32>,
         tensor<?xi32>)
        -> (tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x8xbf16>)
  return %dq, %dk, %dv
      : tensor<?x4x?x16xbf16>, tensor<?x2x?x16xbf16>, tensor<?x2x?x8xbf16>
}
