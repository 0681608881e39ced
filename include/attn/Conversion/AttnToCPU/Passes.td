//===- Passes.td - the CPU lowering of attn --------------*- tablegen -*-===//
//
// What only the CPU pipeline runs: the flash and decode strategies as tiles
// on all cores, and the vector code of the tiles (the register-blocked
// products, with the vector width and register block of the target).
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOCPU_PASSES_TD
#define ATTN_CONVERSION_ATTNTOCPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnTileAttentionGradPass
    : Pass<"attn-tile-attention-grad", "::mlir::func::FuncOp"> {
  let summary = "Lower attn.attention_grad to tiles (the flash backward)";
  let description = [{
    The backward of FlashAttention-2 (Dao 2023, Algorithm 2) for
    attn.attention_grad ops marked `flash` (or not marked), on static
    query-tile x key-tile tiles that attn-cpu-vectorize-tiles turns into
    register-blocked vector code. Prepared once: the tail tiles of q, dout
    and k, and per query tile the lse and the row dots dd = rowsum(dout *
    out). Then one task per (batch row, query head): over its key tiles in
    order, each packed once as K^T and V^T, and for each over the query
    tiles whose block schedule (the forward's) visits it, in order,
    p = exp(scale q k^T - lse) recomputed, dp = dout v^T, ds = p (dp - dd),
    and dk += ds^T q, dv += p^T dout, dq += ds k: five products per pair of
    tiles. dk and dv accumulate in tiles, dq in the task's f32 rows; with
    several query heads per K/V head each task keeps its head's share of dk
    and dv and the group's shares are summed in the order of its heads
    afterwards. Every sum runs in a fixed order (no atomics): the results do
    not depend on the threads. Memory is O(N D).
  }];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "Query rows per tile">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys per tile">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect"
  ];
}

def AttnTileOnlineSoftmaxPass
    : Pass<"attn-tile-online-softmax", "::mlir::func::FuncOp"> {
  let summary = "Lower attn.attention to tiles with an online softmax (flash)";
  let description = [{
    The flash strategy (Dao et al. 2022; the work split of FlashAttention-2).
    K is first packed once, in f32 and zero-padded to a whole number of key
    tiles (each tile transposed, D x keyTile, so that it is D rows of
    contiguous keys). f32 V is read in place, except per (batch row, K/V
    head) the one tile its valid keys cut, copied with zeros past them;
    f16/bf16 V is packed like K, untransposed. Then, in parallel over
    (batch, head, query tile), each
    query tile (scaled by scale * log2(e) as it is loaded) walks the key tiles
    its rows may see, keeping per row the running maximum m, the running sum
    l and an f32 accumulator:

        s     = q k^T                       (log2 domain)
        m'    = max(m, rowmax(s))
        p     = exp2(s - m'),   alpha = exp2(m - m')
        l'    = alpha l + rowsum(p)
        acc'  = alpha acc + p v

    and normalizes once: out = acc / l (0 for a row that saw no key). Key
    tiles that the mask or the key length hide entirely are not visited;
    tiles they hide partly are masked element-wise, others not at all. Every
    buffer is a tile or a packed K/V: no N x S tensor exists after this pass.

    With `bf16-pairs`, bf16 attention (q, k and v in bf16, D and the key tile
    even) stays in bf16 up to the products, which take pairs of elements
    along their reduction, as AVX512-BF16's `vdpbf16ps` does: K is packed as
    (D/2, keyTile, 2) tiles (Kp[j, n, i] = K[n, 2j + i]), V as
    (keyTile/2, Dv, 2) tiles (Vp[j, d, i] = V[2j + i, d]), q and p (rounded
    to bf16, as FlashAttention's p v on tensor cores) are row-major tiles
    viewed as (rows, depth/2, 2). A product is the linalg.generic

        C[m, n] += extf(A[m, j, i]) * extf(B[j, n, i])   (j, i reduced)

    accumulated in f32. The scores are scaled into the log2 domain after the
    product, in f32, so q is not rounded a second time.
  }];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"64",
           "Query rows per tile">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys per tile">,
    Option<"bf16Pairs", "bf16-pairs", "bool", /*default=*/"false",
           "bf16 attention multiplies bf16 pairs (K/V packed in bf16 as "
           "pairs along the reduction) instead of widening to f32 first">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def AttnTileDecodePass : Pass<"attn-tile-decode", "::mlir::func::FuncOp"> {
  let summary = "Lower few-query attn.attention over a K/V cache (decoding)";
  let description = [{
    The decode strategy: a few new query rows (N static, often 1) against a
    long K/V cache. One task per (batch row, K/V head, chunk of keys). The
    g = H / Hkv query heads of a K/V head are one tile of g·N rows, so each
    K/V tile is read once for the whole group (the saving of multi-query and
    grouped-query attention), straight from the cache: K and V are neither
    packed nor copied. Scores are dot products along D against the cache's
    key rows; the online softmax then runs as in the flash strategy.

    Split-K: the key tiles a task's rows see are cut into C chunks of
    consecutive tiles, processed in parallel, each keeping its own running
    maximum, sum and accumulator (m_c, l_c, acc_c) in the log2 domain. They
    merge exactly, as one more online-softmax step would:

        M = max_c m_c,  L = sum_c 2^(m_c - M) l_c,
        out = (sum_c 2^(m_c - M) acc_c) / L     (0 when L = 0)

    C is `chunks`, or when 0, enough chunks for every one of `workers` cores
    to have a task, but no chunk under 512 keys.
  }];
  let options = [
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"64",
           "Keys per tile">,
    Option<"maxRows", "max-rows", "int64_t", /*default=*/"64",
           "Most query rows (g·N) a task may hold">,
    Option<"chunks", "chunks", "int64_t", /*default=*/"0",
           "Key chunks per (batch row, K/V head): 1 turns split-K off, 0 "
           "chooses from the cache length and `workers`">,
    Option<"workers", "workers", "int64_t", /*default=*/"0",
           "Cores to fill with chunks (0: the cores of this machine)">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def AttnTileProjectionsPass
    : Pass<"attn-tile-projections", "::mlir::func::FuncOp"> {
  let summary = "Cut the layers' projections into register-blocked products";
  let description = [{
    The projections that attn-decompose-layers writes (into heads,
    P[b, h, t, d] = sum_f x[b, t, f] W[f, h d], and from heads,
    y[b, t, e] = sum_{h, d} O[b, h, t, d] W[h w + d, e]) become what a BLAS
    does: tasks in parallel over (batch row, tile of `row-tile` tokens)
    compute each strip of nc columns of their rows (nc the register block's
    columns, or the widest fraction of it that divides the head width or E)
    as linalg.matmul ops of `depth-tile` deep chunks, each reading a block of
    the weight packed into a contiguous f32 tile (which then stays in L1),
    on views of the activations and of the result: the head split and merge
    are offsets of those views, never copies. The projections of the same
    activations (q, k, v of self-attention) share the task loop, so each
    task reads its rows of x once for all of them.
    The gradients of the weights that attn-generate-gradients writes
    (dW[f, h, d] = sum_{b,t} x[b, t, f] dq[b, h, t, d], and
    dW[h, d, e] = sum_{b,t} O[b, h, t, d] dy[b, t, e]) become tasks over
    (block of rows, strip of columns) of dW, each summing over the batch
    rows and `depth-tile` chunks of tokens, in order, C += A^T B on the
    chunks packed into f32 tiles.
    Projections whose widths no vector divides are left as they are.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"8",
           "f32 lanes per vector register (8: AVX2, 16: AVX-512)">,
    Option<"vectorRegisters", "vector-registers", "int64_t",
           /*default=*/"16", "Vector registers of the target (16, 32)">,
    Option<"rowTile", "row-tile", "int64_t", /*default=*/"96",
           "Tokens per task (a multiple of the 6-row register blocks)">,
    Option<"depthTile", "depth-tile", "int64_t", /*default=*/"128",
           "Reduction depth of one product (its strip chunk stays in L1)">
  ];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def AttnCPUVectorizeTilesPass
    : Pass<"attn-cpu-vectorize-tiles", "::mlir::func::FuncOp"> {
  let summary = "Vector code for the static tiles of the flash strategy";
  let description = [{
    Runs on buffers, after bufferization. Every `linalg.matmul` whose shapes
    are static becomes a register-tiled loop nest: blocks of rows by a few
    vectors of columns are accumulated in vector registers over the
    reduction (one row of B loaded, a broadcast of A per row, an FMA per
    accumulator and step) and written once. The block fills the registers
    the options give: 6 rows by 2 vectors (12 accumulators) with 16
    registers (AVX2), 6 rows by 4 vectors (24) with 32 (AVX-512). The CPU
    pipeline sets both options from the target machine. Every other linalg op with static shapes becomes
    a loop over its rows whose body works on 1-D vectors of the innermost
    dimension (row maxima and sums as vector reductions). Copies between
    strided views become loops too, so no runtime copy routine is needed.
    With 16 lanes, a static transposing copy of f32 (the packing of K
    tiles) becomes 16 x 16 blocks transposed in registers.
    Ops with dynamic shapes are left for the loop lowering.

    With `bf16-dot`, the products of bf16 pairs that attn-tile-online-softmax
    forms (`bf16-pairs`) get the same register blocks, each step one
    `x86vector.avx512.dot` (vdpbf16ps: two products per f32 lane) per
    accumulator; the target must have AVX512-BF16. Without it they stay
    loops.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"8",
           "f32 lanes per vector register (8: AVX2, 16: AVX-512)">,
    Option<"vectorRegisters", "vector-registers", "int64_t",
           /*default=*/"16",
           "Vector registers the register blocks may fill (16: AVX2, 32: "
           "AVX-512)">,
    Option<"bf16Dot", "bf16-dot", "bool", /*default=*/"false",
           "Products of bf16 pairs as vdpbf16ps (the target has "
           "AVX512-BF16)">
  ];
  let dependentDialects = [
    "::mlir::x86vector::X86VectorDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::scf::SCFDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect"
  ];
}

#endif // ATTN_CONVERSION_ATTNTOCPU_PASSES_TD
