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
    `llvm.emit_c_interface` so that their C entry points survive lowering.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect"];
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

def AttnMaterializeAttentionPass
    : Pass<"attn-materialize-attention", "::mlir::func::FuncOp"> {
  let summary = "Lower attn.attention to the materialized score matrix";
  let description = [{
    The reference strategy: the (B, Hkv, G, N, S) score tensor is formed in
    f32, masked (-inf where a key is invisible), normalized by a two-pass
    softmax (row max, then exp and row sum) and multiplied with V, as
    linalg.generic ops on tensors. Query heads are viewed as (Hkv, G) so that
    a group of G heads reads its key/value head without copying it. A row
    with no visible key has max = -inf; its weights are set to 0 and its
    output, divided by a zero sum, to 0, not NaN. Memory: O(B H N S).
  }];
  let dependentDialects = [
    "::mlir::linalg::LinalgDialect",
    "::mlir::tensor::TensorDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect"
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
