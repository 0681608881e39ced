//===- Passes.h - passes of the attn dialect --------------------*- C++ -*-===//

#ifndef ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
#define ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H

#include "mlir/Dialect/Affine/IR/AffineOps.h"
#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Pass/Pass.h"

namespace mlir::attn {

/// Name of the constant string that describes a module's entry points.
inline constexpr llvm::StringLiteral kSignatureSymbol = "attn_module_signature";
/// Name of the constant string that says where a module's code runs: absent
/// for the CPU, "cuda" when it launches kernels through the runtime.
inline constexpr llvm::StringLiteral kTargetSymbol = "_attn_module_target";
/// Name of the constant string that lists, comma-separated, the CPU features
/// (attn/cpu_features.def) the module's code was compiled to use: the runtime
/// refuses to load it on a CPU that lacks one, rather than fault on an
/// unknown instruction.
inline constexpr llvm::StringLiteral kCPUFeaturesSymbol =
    "_attn_module_cpu_features";
/// The names of a function's arguments in the runtime's signature (see
/// attn-export-signature): `attn.name` says one, else the role the argument
/// plays in an attn op (q, k, key_lengths, x, wq, ...), else the name it had
/// in the source (`attn.source_name`, which the tools record as they parse
/// a file: %x gives x), else argN. On a result, `attn.name` names it too
/// (else its role, else outN).
inline constexpr llvm::StringLiteral kNameAttr = "attn.name";
inline constexpr llvm::StringLiteral kSourceNameAttr = "attn.source_name";
/// Prefix of the packed entry point the runtime calls: void(void **args).
inline constexpr llvm::StringLiteral kEntryPrefix = "_attn_entry_";
/// The attribute by which attn-select-strategy tells the lowerings how to
/// compute an attn.attention, and its values.
inline constexpr llvm::StringLiteral kStrategyAttr = "attn.strategy";
inline constexpr llvm::StringLiteral kFlashStrategy = "flash";
inline constexpr llvm::StringLiteral kMaterializedStrategy = "materialized";
inline constexpr llvm::StringLiteral kDecodeStrategy = "decode";

class AttentionOp;
class LinearAttentionOp;

/// The three lowerings of attn.linear_attention (LowerLinearAttention.cpp).
enum class LinearForm { Parallel, Chunked, Recurrent };

/// The largest chunk of the chunked form: its weights are a g·T x T tile,
/// and its code (register blocks of the products) grows with T.
inline constexpr int64_t kMaxChunkSize = 256;

/// The form attn-lower-linear-attention gives `op` for its `form` option
/// (auto, parallel, chunked or recurrent): without a mask, parallel unless
/// recurrent is asked for; causal, the form asked for, or by default
/// recurrent for a static N below `chunkSize` (decoding) and chunked
/// otherwise. (Parallel on a causal op is an error of the pass.)
LinearForm chooseLinearForm(LinearAttentionOp op, llvm::StringRef form,
                            int64_t chunkSize);

/// Whether the decode strategy (attn-tile-decode) can lower `op`: a static
/// number of queries N whose g·N rows per K/V head fit in `maxRows`, and a
/// mask that treats all heads alike.
bool isDecodeShaped(AttentionOp op, int64_t maxRows);

/// Whether a lowering for `strategy` may lower `op`: it has no mark or this
/// one.
bool isMarkedFor(Operation *op, StringRef strategy);

/// Success when no attn.attention or attn.attention_grad under `root` has
/// sinks or packed sequences; else an error on the first, naming the pass
/// `lowering` that cannot take it and the pass that takes the clause out
/// first (attn-decompose-sinks, attn-decompose-sequences; the pipelines
/// run them).
LogicalResult verifyDecomposedClauses(Operation *root, StringRef lowering);

#define GEN_PASS_DECL
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"

void populateDecomposeLayersPatterns(RewritePatternSet &patterns);
void populateMaterializeAttentionPatterns(RewritePatternSet &patterns);
void populateApproximateExp2Patterns(RewritePatternSet &patterns);

#define GEN_PASS_REGISTRATION
#include "attn/Dialect/Attn/Transforms/Passes.h.inc"

} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTN_TRANSFORMS_PASSES_H
