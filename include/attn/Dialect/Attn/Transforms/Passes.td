//===- Passes.td - passes of the attn dialect --------------*- tablegen -*-===//

#ifndef ATTN_PASSES_TD
#define ATTN_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnExportSignaturePass : Pass<"attn-export-signature", "::mlir::ModuleOp"> {
  let summary = "Describe each public function to the runtime";
  let description = [{
    For every public function on tensors, derives the description of its
    arguments and results that the runtime checks calls against: names (from
    the roles the arguments play in attn ops), element types, and each
    dimension as a static size or a symbol shared by the dimensions that must
    be equal (from the ops' shape contracts). The descriptions are stored in
    the module as the constant string `attn_module_signature`:

        attn-abi 1
        sdpa(q: f32[B,8,N,64], k: f32[B,8,S,64], v: f32[B,8,S,64]) -> (out: f32[B,8,N,64])

    Fails when a result has a dynamic dimension that no argument determines
    (the caller could not allocate it). Marks the functions with
    `llvm.emit_c_interface` so that their C entry points survive lowering,
    and their tensor arguments `bufferization.writable = false`: the code
    never writes an input (bufferization copies one before an op would).
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::bufferization::BufferizationDialect"];
}

def AttnDecomposeLayersPass : Pass<"attn-decompose-layers", "::mlir::func::FuncOp"> {
  let summary = "Decompose attention layers into projections and attn.attention";
  let description = [{
    Rewrites `attn.multi_head` into its projections (contractions of the
    feature dimension, accumulated in f32), head splitting and merging
    (tensor.expand_shape/collapse_shape and linalg.transpose) around one
    `attn.attention`, which keeps the mask, key lengths and scale.
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def AttnGenerateGradientsPass
    : Pass<"attn-generate-gradients", "::mlir::ModuleOp"> {
  let summary = "Emit the backward function of each function of attention ops";
  let description = [{
    For every public function @f with `attn.attention`, `attn.multi_head`
    or `attn.linear_attention` ops, adds @f_backward: f's arguments, then a
    gradient for each of f's
    results; it returns the gradients of sum_r <d_r, f_r> with respect to
    f's floating-point tensor arguments (inputs and weights; key lengths get
    none). It recomputes the forward (layers decomposed as
    attn-decompose-layers does, attentions with their lse) and
    differentiates it in reverse: `attn.attention_grad` for an attention,
    linear attention's gradients in closed form (causal: in chunks of 64,
    the state's gradient by a reverse scan), products for the projections (dX and dW of Q = X W, dO and dW of
    Y = O W), the layout ops reversed, gradients of a value read twice
    summed in f32. Other ops, and gradients through a log-sum-exp result or
    a linear attention's final state, are reported as errors on the op.
  }];
  let dependentDialects = [
    "::mlir::func::FuncDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def AttnPoolKVHeadsPass : Pass<"attn-pool-kv-heads", "::mlir::func::FuncOp"> {
  let summary = "Make multi-head layers grouped-query by mean-pooling K/V heads";
  let description = [{
    The conversion of Ainslie et al. (2023, section 2.1): every
    `attn.multi_head` with Hkv key/value heads gets `kv-heads` = G instead,
    its W_k and W_v replaced by the means of each group of Hkv / G
    consecutive heads (computed in f32 from the weights, which may be
    function arguments or constants). W_q and W_o are unchanged. An op that
    already has G heads is left alone; G must divide Hkv.

    ```mlir
    // Before: heads(8) kv_heads(8), wk : tensor<512x512xf32>
    // After --attn-pool-kv-heads=kv-heads=2:
    //   heads(8) kv_heads(2), wk : the means of heads 0-3 and 4-7,
    //   tensor<512x128xf32>
    ```
  }];
  let options = [
    Option<"kvHeads", "kv-heads", "int64_t", /*default=*/"1",
           "Key/value heads after pooling (1: multi-query)">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def AttnDecomposeSinksPass
    : Pass<"attn-decompose-sinks", "::mlir::func::FuncOp"> {
  let summary = "Apply attention sinks to the output and lse of the softmax";
  let description = [{
    Rewrites an `attn.attention` with `sinks` (a logit t_h per query head in
    every row's denominator, with no value) into the same attention without
    them, returning its log-sum-exp, and one pass over its rows:
    out' = out / (1 + e^(t_h - lse)), lse' = log(e^lse + e^(t_h)). Exact
    (the sink's share of the denominator is additive); a row that sees no
    key stays 0 and gets lse' = t_h. Every strategy then computes the
    attention as it would without sinks.
  }];
  let dependentDialects = [
    "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect"
  ];
}

def AttnDecomposeSequencesPass
    : Pass<"attn-decompose-sequences", "::mlir::func::FuncOp"> {
  let summary = "Attend packed variable-length sequences one at a time";
  let description = [{
    Rewrites an `attn.attention` with `sequences(%cu_q, %cu_k)` into a loop
    over the sequences, each the attention of its rows of q and its keys of
    k and v (dynamic N and S, the op's mask, scale, score modifier and sinks,
    positions counted from the sequence's start), inserted at its rows of
    the output (and lse); rows of no sequence stay 0 (lse -inf). The work is
    the sum over the sequences of their pairs, not that of the whole packed
    row. Offsets are clamped as they are read: nothing reads outside q, k
    or v, and an end below its start is an empty sequence.
  }];
  let dependentDialects = [
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def AttnDecomposeSparseMasksPass
    : Pass<"attn-decompose-sparse-masks", "::mlir::func::FuncOp"> {
  let summary = "Cut masks that leave no tile empty into pieces dense in tiles";
  let description = [{
    Rewrites an `attn.attention` whose mask is a top-left dilated window,
    the Sparse Transformer's strided pattern, or its fixed pattern (not split
    over heads) into attentions that the tiled strategies compute without
    visiting holes:
    - residue classes modulo l (a dilated window's d, the strided pattern's
      every-l-th keys) folded into the batch dimension, each class a plain
      window or causal attention with its own key lengths;
    - the fixed pattern's summary keys gathered, c per block of l, under a
      blockwise mask;
    - the rest (a band, the own block) in the original order;
    merged by `attn.combine` where one row's keys are split between pieces,
    and placed by head parity when the pattern is split over heads. Exact.
    An `attn.attention_grad` with such a mask becomes the pieces' own
    backwards, each fed the whole attention's out, dout and lse in the
    piece's layout (its exact share of the gradients); dq sums the pieces'
    rows, dk and dv the pieces' keys scattered back (in f32, rounded once).
    Other masks (and bottom-right windows, whose residue classes depend on
    each batch row's key length) are left alone.
  }];
  let dependentDialects = [
    "::mlir::affine::AffineDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::arith::ArithDialect"
  ];
}

def AttnSelectStrategyPass
    : Pass<"attn-select-strategy", "::mlir::func::FuncOp"> {
  let summary = "Choose how each attn.attention is computed";
  let description = [{
    Marks every `attn.attention` with `attn.strategy = "flash"`,
    `"materialized"` or `"decode"`, which the lowerings obey (an op without a
    mark is lowered by whichever lowering runs).
    `strategy=flash|materialized|decode` forces one; `auto` picks
    materialized only when B, N and S are static and all the B x H x N x S
    scores fit in one query-tile x key-tile tile (tiling would then just add
    bookkeeping; the materialized loops run on one thread); then decode, when
    `decode` allows it and N is static with the g·N query rows of a K/V head
    within one query tile (a flash query tile would be mostly empty rows, and
    each head of a group would read the K/V tiles again); flash otherwise:
    its memory stays O(N·D) whatever S is, and it skips the key tiles a mask
    hides.
  }];
  let options = [
    Option<"strategy", "strategy", "std::string", /*default=*/"\"auto\"",
           "auto, flash, materialized or decode">,
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "Query rows per tile of the flash strategy">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys per tile of the flash strategy">,
    Option<"decode", "decode", "bool", /*default=*/"true",
           "Whether auto may choose decode (the target has its lowering)">
  ];
}

def AttnLowerCombinePass : Pass<"attn-lower-combine", "::mlir::func::FuncOp"> {
  let summary = "Lower attn.combine to linalg.generic ops";
  let description = [{
    Merges the parts of an attention over disjoint key sets from their
    log-sum-exps: one generic computes each row's weights
    exp(lse_k - lse) and lse = log sum_k exp(lse_k) (from the largest lse_k,
    so nothing overflows), a second the weighted sum of the parts. Rows that
    no part sees are 0.
  }];
  let dependentDialects = [
    "::mlir::tensor::TensorDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect"
  ];
}

def AttnMaterializeAttentionPass
    : Pass<"attn-materialize-attention", "::mlir::func::FuncOp"> {
  let summary = "Lower attn.attention and attn.attention_grad to the materialized score matrix";
  let description = [{
    The reference strategy: the (B, Hkv, G, N, S) score tensor is formed in
    f32, masked (-inf where a key is invisible), normalized by a two-pass
    softmax (row max, then exp and row sum) and multiplied with V, as
    linalg.generic ops on tensors. Query heads are viewed as (Hkv, G) so that
    a group of G heads reads its key/value head without copying it. A row
    with no visible key has max = -inf; its weights are set to 0 and its
    output, divided by a zero sum, to 0, not NaN. Memory: O(B H N S).

    attn.attention_grad the same way, from the forward's lse and out:
    p = exp(x - lse), dd = rowsum(dout * out), ds = p (dout v^T - dd), then
    dv = p^T dout and dk = scale ds^T q summed over the G heads of a group,
    and dq = scale ds k; keys past a row's key length enter as 0 (what
    padding holds may be NaN).
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect"
  ];
}

def AttnApproximateExp2Pass : Pass<"attn-approximate-exp2"> {
  let summary = "exp2 on f32 (scalars and vectors) as a polynomial";
  let description = [{
    Replaces `math.exp2` on f32 by arithmetic that vectorizes and calls no
    library: with x clamped to [-127, 127], n = round(x) and f = x - n in
    [-1/2, 1/2], 2^x = 2^n 2^f where 2^f = e^(f ln 2) is its Taylor
    polynomial of degree 6 (relative error below 1.2e-7, about one f32 ulp)
    and 2^n is built in the exponent bits. For x <= -127 (and -inf) the
    exponent field is 0 and the result is exactly 0, which masked scores
    rely on; NaN stays NaN. With `include-exp`, `math.exp` on f32 becomes
    exp2(x log2(e)) and is approximated the same way (the GPU pipeline: no
    library provides exp there). With `include-log2`, `math.log2` on f32
    becomes e + ln(m) log2(e) from the exponent e and mantissa m of x
    (m in [sqrt(1/2), sqrt(2))), ln m by the atanh series to t^9 (error below
    1e-9), for positive normal x: the log-sum-exp of a row on the GPU.
    `math.tanh` on f32 becomes MLIR's rational approximation (the
    soft-capping score modifier; a library tanhf is a scalar call per lane).
  }];
  let options = [
    Option<"includeExp", "include-exp", "bool", /*default=*/"false",
           "Also approximate math.exp on f32">,
    Option<"includeLog2", "include-log2", "bool", /*default=*/"false",
           "Also approximate math.log2 on f32">
  ];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def AttnLowerLinearAttentionPass
    : Pass<"attn-lower-linear-attention", "::mlir::func::FuncOp"> {
  let summary = "Lower attn.linear_attention to its parallel, chunked or recurrent form";
  let description = [{
    One task per (batch row, K/V head), whose state S (D x (Dv + 1): the sums
    of phi(k) v^T and of phi(k)) serves the g query heads of the group:

    * parallel (no mask): S from all valid keys in tiles of `chunk-size`,
      then every query tile reads it; O((H·N + Hkv·S)·D·Dv) time per batch
      row, the state and a tile of each operand as extra memory.
    * chunked (causal): chunks of `chunk-size` tokens, each reading the
      state of the chunks before it plus its own masked quadratic form, then
      adding its keys to the state.
    * recurrent: one token at a time, O(D·Dv) per token (decoding).

    `form=auto` picks parallel without a mask, and for a causal op recurrent
    when N is static and below `chunk-size`, chunked otherwise. `chunked` on
    an op without a mask is the parallel form; `parallel` on a causal op is
    an error. The state tile is padded to a multiple of `pad-to` columns (the
    CPU's vector width) for the vector code of the products.
  }];
  let options = [
    Option<"form", "form", "std::string", /*default=*/"\"auto\"",
           "auto, parallel, chunked or recurrent">,
    Option<"chunkSize", "chunk-size", "int64_t", /*default=*/"64",
           "Tokens per chunk (and per tile of the parallel form), at most 256">,
    Option<"padTo", "pad-to", "int64_t", /*default=*/"8",
           "Columns of the state tile are a multiple of this">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect"
  ];
}

def AttnEmitEntryPointsPass
    : Pass<"attn-emit-entry-points", "::mlir::ModuleOp"> {
  let summary = "Add the runtime's packed entry point to each exported function";
  let description = [{
    Runs on the LLVM dialect. For each C interface wrapper
    `_mlir_ciface_<name>(ptr, ...)` whose function is described in
    `attn_module_signature`, adds `_attn_entry_<name>(ptr %args)`, which
    loads the i-th memref descriptor pointer from `%args` and forwards the
    pointers. The runtime calls every function through this one signature.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
}

#endif // ATTN_PASSES_TD
