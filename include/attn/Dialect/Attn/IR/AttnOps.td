//===- AttnOps.td - ops of the attn dialect ----------------*- tablegen -*-===//

#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "attn/Dialect/Attn/IR/AttnDialect.td"
include "attn/Dialect/Attn/IR/AttnAttrs.td"
include "attn/Dialect/Attn/IR/AttnInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_AttentionOp : Attn_Op<"attention", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ShapeContractOpInterface>]> {
  let summary = "scaled dot-product attention over heads, with sharing and masks";
  let description = [{
    For every batch row b, query head h and query row i:

        out[b,h,i,:] = sum_j softmax_j(scale * q[b,h,i,:] . k[b,g(h),j,:]) v[b,g(h),j,:]

    where the softmax runs over the keys j that row i may see (the mask and the
    key length of b), and g(h) = h / (H / Hkv) is the key/value head that query
    head h reads. One op therefore covers multi-head (Hkv = H), multi-query
    (Hkv = 1) and grouped-query (1 < Hkv < H) attention, and cross attention
    (S != N). A row that may see no key at all yields zeros.

    Shapes: q (B, H, N, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv) and the result
    (B, H, N, Dv). Heads and head widths are static; B, N and S may be dynamic.
    `key_lengths` (B, i32) says how many keys of each batch row are valid
    (padding beyond). `scale` defaults to 1/sqrt(D). `score_mod` applies a
    score modifier to each s = scale q . k before the mask and the softmax
    (`#attn.softcap<cap = c>`: s <- c tanh(s / c); `#attn.alibi<...>`:
    s <- s - m_h |pos(i) - j|; docs/ScoreModifiers.md). `sinks` (H, f32)
    gives each query head a logit that joins every row's softmax
    denominator but has no value (an attention sink): the weights of a row
    sum to less than 1, and a row that sees no key still yields zeros.
    `sequences(%cu_q, %cu_k)` packs variable-length sequences into the one
    batch row (B = 1) of q and of k and v, as FlashAttention's cu_seqlens:
    sequence s holds the queries [cu_q[s], cu_q[s+1]) and the keys
    [cu_k[s], cu_k[s+1]) (i32, P + 1 offsets each, ascending from 0); each
    query sees only its sequence's keys, the mask and modifier applying
    to positions within the sequence, and a query outside every sequence
    yields zeros.
    The clauses after the operands may come in any order.

    Bounds (every attn op; the verifier says which is broken): a static size
    is at most 2^31 - 1, a head width (D, Dv) at most 65536, and the static
    dimensions of a tensor hold at most 2^48 elements, so that the
    lowerings' strides and products of sizes stay within 64 bits; a mask
    parameter is at most 2^31 - 1, and a global mask lists at most 4096
    tokens.

    ```mlir
    %o = attn.attention %q, %k, %v key_lengths(%len) mask(#attn.causal<bottom_right>)
         : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
            tensor<?xi32>) -> tensor<?x8x?x64xf32>
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    Optional<AnyRankedTensor>:$key_lengths,
    Optional<AnyRankedTensor>:$sinks,
    Optional<AnyRankedTensor>:$query_offsets,
    Optional<AnyRankedTensor>:$key_offsets,
    OptionalAttr<Attn_MaskAttrInterface>:$mask,
    OptionalAttr<F64Attr>:$scale,
    OptionalAttr<Attn_ScoreModAttrInterface>:$score_mod
  );
  let results = (outs AnyRankedTensor:$result,
                     Optional<AnyRankedTensor>:$lse);
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$query,
      "::mlir::Value":$key, "::mlir::Value":$value,
      "::mlir::Value":$key_lengths, "::mlir::attn::MaskAttrInterface":$mask,
      "::mlir::FloatAttr":$scale,
      CArg<"::mlir::attn::ScoreModAttrInterface", "{}">:$score_mod), [{
      build($_builder, $_state, result, ::mlir::Type(), query, key, value,
            key_lengths, ::mlir::Value(), ::mlir::Value(), ::mlir::Value(),
            mask, scale, score_mod);
    }]>
  ];
  let assemblyFormat = [{
    $query `,` $key `,` $value ``
    custom<AttentionClauses>($key_lengths, $sinks, $query_offsets,
                             $key_offsets, $mask, $scale, $score_mod)
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to q.k: the attribute, or 1/sqrt(D) by default.
    double getScaleOrDefault();
    /// Number of query heads H and of key/value heads Hkv.
    int64_t getNumHeads();
    int64_t getNumKVHeads();
    /// The mask with its defaults resolved for S (a sparse pattern's length
    /// ceil(sqrt(S))): what the lowerings and the reference apply. Null
    /// without a mask (and, before verification, when it cannot resolve).
    ::mlir::attn::MaskAttrInterface getEffectiveMask();
  private:
    ::mlir::LogicalResult verifySequences();
  public:
  }];
}

def Attn_AttentionGradOp : Attn_Op<"attention_grad", [Pure,
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ShapeContractOpInterface>]> {
  let summary = "the gradients of attn.attention with respect to q, k and v";
  let description = [{
    The backward pass of `attn.attention`: given the forward's operands, its
    output `out` and log-sum-exp `lse` (the forward's second result), and the
    gradient `dout` of a loss with respect to `out`, the gradients of that
    loss with respect to q, k and v. With P the softmax weights of each row
    over the keys it may see (P_ij = exp(scale q_i . k_j - lse_i)):

        dv_j  = sum over the query heads of j's group and rows i of P_ij dout_i
        dS_ij = P_ij (dout_i . v_j - dout_i . out_i)
        dq_i  = scale sum_j dS_ij k_j
        dk_j  = scale sum over the query heads of j's group and rows i of dS_ij q_i

    (dout_i . out_i = sum_j P_ij dout_i . v_j is the softmax's Jacobian
    applied to dP = dout v^T.) `out` and `lse` must be what the forward
    computed from the same q, k, v and clauses: the backward reads them
    instead of recomputing them, as FlashAttention's does. A row that may see
    no key (lse = -inf) passes no gradient; its dq is 0. The clauses mean
    what they mean on `attn.attention`: key lengths, every mask family and
    alignment, the scale (1/sqrt(D) by default), grouped and multi-query
    heads (dk and dv sum over the query heads that share a key/value head),
    cross attention (S != N), and f16, bf16 and f32 (the gradients have
    their operand's element type). With `sinks` (the forward's), lse
    includes them and a fourth result is their gradient (H, f32):

        dsinks_h = -sum over the batch and the rows i of head h of
                   exp(sinks_h - lse_i) (dout_i . out_i)

    (the sink's weight times the Jacobian's row term, the sink having no
    value). With the forward's `score_mod` f, P is the softmax of
    f(scale q . k) and dS_ij is multiplied by f'(scale q_i . k_j).

    ```mlir
    %o, %lse = attn.attention %q, %k, %v mask(#attn.causal<top_left>)
        : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>)
          -> (tensor<?x8x?x64xf32>, tensor<?x8x?xf32>)
    %dq, %dk, %dv = attn.attention_grad %q, %k, %v, %o, %do, %lse
        mask(#attn.causal<top_left>)
        : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
           tensor<?x8x?x64xf32>, tensor<?x8x?x64xf32>, tensor<?x8x?xf32>)
          -> (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>)
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    AnyRankedTensor:$output,
    AnyRankedTensor:$output_grad,
    AnyRankedTensor:$lse,
    Optional<AnyRankedTensor>:$key_lengths,
    Optional<AnyRankedTensor>:$sinks,
    OptionalAttr<Attn_MaskAttrInterface>:$mask,
    OptionalAttr<F64Attr>:$scale,
    OptionalAttr<Attn_ScoreModAttrInterface>:$score_mod
  );
  let results = (outs AnyRankedTensor:$query_grad,
                      AnyRankedTensor:$key_grad,
                      AnyRankedTensor:$value_grad,
                      Optional<AnyRankedTensor>:$sinks_grad);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` $output `,` $output_grad `,` $lse ``
    custom<AttentionClauses>($key_lengths, $sinks, $mask, $scale, $score_mod)
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// As on attn.attention.
    double getScaleOrDefault();
    int64_t getNumHeads();
    int64_t getNumKVHeads();
    ::mlir::attn::MaskAttrInterface getEffectiveMask();
  }];
}

def Attn_MultiHeadOp : Attn_Op<"multi_head", [Pure, AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ShapeContractOpInterface>]> {
  let summary = "an attention layer with its projections (MHA, MQA, GQA, cross)";
  let description = [{
    The layer of Vaswani et al. 2017 with the K/V head sharing of Shazeer 2019
    and Ainslie et al. 2023:

        Q = x W_q        split into H heads of width D        (B, H, N, D)
        K = c W_k        split into Hkv heads of width D      (B, Hkv, S, D)
        V = c W_v        split into Hkv heads of width Dv     (B, Hkv, S, Dv)
        O = attention(Q, K, V) with its heads concatenated   (B, N, H*Dv)
        y = O W_o                                            (B, N, d_out)

    where x is (B, N, d_model) and c is the `source` (B, S, d_source) of
    cross attention (an encoder's output, say), or x itself for self
    attention. Weights are stored
    (in_features, out_features), so `x W` needs no transpose; column
    h * D + d of W_q feeds head h. No biases. `num_kv_heads` = `num_heads` is
    multi-head attention, 1 is multi-query, anything between that divides
    `num_heads` is grouped-query. Mask, key lengths and scale mean what they
    mean on `attn.attention`, which this op decomposes into.

    ```mlir
    %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(2)
         mask(#attn.causal<top_left>)
         : (tensor<?x?x512xf32>, tensor<512x512xf32>, tensor<512x128xf32>,
            tensor<512x128xf32>, tensor<512x512xf32>) -> tensor<?x?x512xf32>
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$input,
    AnyRankedTensor:$wq,
    AnyRankedTensor:$wk,
    AnyRankedTensor:$wv,
    AnyRankedTensor:$wo,
    Optional<AnyRankedTensor>:$source,
    Optional<AnyRankedTensor>:$key_lengths,
    ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
    ConfinedAttr<I64Attr, [IntPositive]>:$num_kv_heads,
    OptionalAttr<Attn_MaskAttrInterface>:$mask,
    OptionalAttr<F64Attr>:$scale
  );
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $wq `,` $wk `,` $wv `,` $wo ``
    custom<LayerClauses>($source, $key_lengths, $num_heads, $num_kv_heads,
                         $mask, $scale)
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The keys and values come from the source, or from the input itself.
    ::mlir::Value getKeyValueInput() {
      return getSource() ? getSource() : getInput();
    }
    /// The scale applied to q.k: the attribute, or 1/sqrt(D) by default.
    double getScaleOrDefault();
    /// Widths of one query/key head (D) and of one value head (Dv).
    int64_t getHeadDim();
    int64_t getValueHeadDim();
  }];
}

def Attn_CombineOp : Attn_Op<"combine", [Pure, SameVariadicOperandSize,
    DeclareOpInterfaceMethods<Attn_ShapeContractOpInterface>]> {
  let summary = "merges attentions over disjoint key sets, exactly";
  let description = [{
    Given the outputs o_k and log-sum-exps lse_k of attentions of the same
    queries over disjoint sets of keys (`attn.attention` with its `lse`
    result), the attention over their union is

        lse = log sum_k exp(lse_k)
        out = sum_k exp(lse_k - lse) o_k

    since exp(lse_k) is the softmax denominator of part k and o_k its
    normalized output. Computed from M = max_k lse_k so that no exp overflows.
    A row that no part sees (every lse_k = -inf) yields zeros and lse = -inf.
    The outputs are (B, H, N, Dv) of one element type, the lse (B, H, N, f32);
    the result `lse` is optional.

    ```mlir
    %o, %lse = attn.combine (%o1, %o2) lse(%lse1, %lse2)
        : (tensor<1x8x128x64xf32>, tensor<1x8x128x64xf32>,
           tensor<1x8x128xf32>, tensor<1x8x128xf32>)
        -> (tensor<1x8x128x64xf32>, tensor<1x8x128xf32>)
    ```
  }];
  let arguments = (ins Variadic<AnyRankedTensor>:$outputs,
                       Variadic<AnyRankedTensor>:$lses);
  let results = (outs AnyRankedTensor:$result,
                     Optional<AnyRankedTensor>:$lse);
  let assemblyFormat = [{
    `(` $outputs `)` `lse` `(` $lses `)` attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def Attn_LinearAttentionOp : Attn_Op<"linear_attention", [Pure,
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<Attn_ShapeContractOpInterface>]> {
  let summary = "kernelized linear attention (Katharopoulos et al. 2020)";
  let description = [{
    Softmax attention with exp(q . k) replaced by the kernel
    phi(q) . phi(k) of an elementwise feature map phi, so that the sums
    factor through a state of fixed size. For batch row b, query head h
    (K/V head g(h) = h / (H / Hkv)) and query row i:

        out[b,h,i,:] = phi(q_i)^T S_i[:, :Dv] / (phi(q_i)^T S_i[:, Dv] + eps)

        S_i = S_0 + sum_j phi(k_j) [v_j, 1]^T      (D x (Dv + 1))

    where j runs over the valid keys (below the key length of b) and, when
    `causal`, only j <= i. The last column of the state is the normalizer
    z = sum_j phi(k_j): one tensor holds the numerator's and the
    denominator's sums. S_0 is `state` (zeros without it), for instance the
    final state of an earlier chunk of the same sequence; `causal` then
    continues it, query i sitting at position i of this chunk (N = S). The
    optional second result is the final state S_0 + sum_j phi(k_j) [v_j, 1]^T
    over every valid key. eps = 1e-6 (`kEpsilon`), added to the normalizer in
    f32.

    phi is elu(x) + 1 (`elu_plus_one`, the paper's choice and the default:
    positive, so the normalizer is positive), `relu`, or `identity` (whose
    normalizer may be zero or negative: for experiments).

    Shapes: q (B, H, N, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv), result
    (B, H, N, Dv); q, k, v and the result share one of f16, bf16, f32.
    `key_lengths` (B, i32). The states are f32 (B, Hkv, D, Dv + 1): shared
    by the query heads of a group, like K and V.

    ```mlir
    %o, %s = attn.linear_attention %q, %k, %v state(%s0) causal
        : (tensor<?x8x?x64xf32>, tensor<?x2x?x64xf32>, tensor<?x2x?x64xf32>,
           tensor<?x2x64x65xf32>) -> (tensor<?x8x?x64xf32>, tensor<?x2x64x65xf32>)
    ```
  }];
  let arguments = (ins
    AnyRankedTensor:$query,
    AnyRankedTensor:$key,
    AnyRankedTensor:$value,
    Optional<AnyRankedTensor>:$key_lengths,
    Optional<AnyRankedTensor>:$initial_state,
    DefaultValuedAttr<Attn_FeatureMap, "::mlir::attn::FeatureMap::EluPlusOne">:$feature_map,
    UnitAttr:$causal
  );
  let results = (outs AnyRankedTensor:$result,
                     Optional<AnyRankedTensor>:$final_state);
  let assemblyFormat = [{
    $query `,` $key `,` $value ``
    custom<LinearAttentionClauses>($key_lengths, $initial_state, $feature_map,
                                   $causal)
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Added to the normalizer phi(q)^T z: a row that sees no key (z = 0)
    /// gives 0 / eps = 0, not NaN.
    static constexpr double kEpsilon = 1e-6;
    /// Number of query heads H and of key/value heads Hkv.
    int64_t getNumHeads();
    int64_t getNumKVHeads();
  }];
}

#endif // ATTN_OPS_TD
