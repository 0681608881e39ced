//===- GPUKernel.h - what the two attention kernels share -------*- C++ -*-===//
//
// The SIMT kernel (SIMTKernel.cpp) and the tensor-core kernel
// (TensorCoreKernel.cpp) compute one attn.attention as one gpu.launch with
// FlashAttention-2's work split and the same block schedule:
//
//   grid  = (row tiles, H / G, B): one block per (tile of packed rows, K/V
//           head, batch row). The G query heads of a K/V head are packed
//           query-major, row p = i G + g owning query i of head hk G + g, so
//           every K/V tile a block loads serves all G heads (the sharing of
//           MQA and GQA; one decoding token of a whole group is one block).
//           A mask that differs between heads (the Sparse Transformer's
//           split) packs one head per block (G = 1 here).
//   decode: the group's g·N rows are one tile and block x is the chunk c of
//           split-K's C; the block visits its chunk's run of key tiles
//           (cutToChunk) and writes its rows' unnormalized (m, l, acc), which
//           mergeSplitKPartials (SoftmaxTile.h) merges exactly after the
//           kernel. A step is otherwise only B Hkv blocks, a few percent of a
//           GPU's multiprocessors at batch 1:
//           C = max(1, min(ceil(4 SMs / (B Hkv)), S / 512)) unless split-k
//           sets it.
//
// The kernels differ in how a block's threads share the rows and compute the
// products; this header holds the rest: the operands as buffers, the buffers
// the kernel writes, the packed rows' geometry, and the results.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_LIB_CONVERSION_ATTNTOGPU_GPUKERNEL_H
#define ATTN_LIB_CONVERSION_ATTNTOGPU_GPUKERNEL_H

#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/OnlineSoftmax.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/PatternMatch.h"

namespace mlir::attn::gpu_kernel {

/// Static shared memory a block may use without opting in (48 KiB).
constexpr int64_t kStaticSharedMemoryBytes = 48 * 1024;

/// The widest head (D or Dv) of the SIMT kernels, whose threads hold a row
/// of q and of the output in registers (FlashAttention's limit too).
constexpr int64_t kMaxHeadDim = 256;

/// Decode blocks wanted per multiprocessor when choosing split-K's chunk
/// count: a decode block has few busy rows and waits on memory most of the
/// time, so several per multiprocessor overlap their loads. (Not tuned by
/// measurement yet.)
constexpr int64_t kBlocksPerSM = 4;

/// Marks a loop of a kernel to be unrolled once the kernel is built (by
/// attn-lower-attention-to-gpu, after its patterns).
constexpr StringLiteral kUnrollAttr = "attn.unroll";

/// Marks a loop over a head dimension to be unrolled once the kernel is
/// built (by the pass): its private arrays are then indexed by constants,
/// which LLVM keeps in registers rather than local memory.
inline scf::ForOp unrollLater(scf::ForOp loop) {
  loop->setAttr(kUnrollAttr, UnitAttr::get(loop.getContext()));
  return loop;
}

/// How a kernel reads its operands: through memrefs of any strides (the SIMT
/// kernel), or with unit-stride rows (the tensor-core kernel's 16-byte
/// copies; bufferization copies an operand whose rows are not).
enum class OperandLayout { AnyStrides, UnitStrideRows };

/// One attention as a kernel: its operands as buffers, its grid, and what it
/// writes.
struct KernelFrame {
  /// (An op handle: const frames still call its accessors.)
  mutable AttentionOp op;
  bool decode = false;
  int64_t headDim = 0, valueDim = 0;
  /// Query heads packed into a block's rows (G above).
  int64_t pack = 1;
  Value q, k, v, keyLengths;
  Value batch, numQueries;
  /// Blocks along x: tiles of packed rows, or the chunks of split-K.
  Value blocksX;
  /// The result (B, H, N, Dv) and the lse (B, H, N); or for decode the
  /// chunks' final states (rowMax, rowSum, partialAcc), shaped
  /// (B, Hkv, C, g·N[, Dv]) with the group's rows head-major.
  Value out, lse, rowMax, rowSum, partialAcc;
};

/// The frame of `op` for blocks of `rowsPerBlock` packed rows: the operands
/// bridged to buffers (to_buffer), the grid's x extent, and the buffers the
/// kernel writes, allocated before the launch.
KernelFrame buildKernelFrame(PatternRewriter &rewriter, AttentionOp op,
                             OperandLayout layout, int64_t rowsPerBlock,
                             int64_t chunks, int64_t multiprocessors);

/// Replaces `op` by what the kernel wrote: its results as tensors, or for
/// decode the exact merge of the chunks' states.
void replaceWithKernelResults(PatternRewriter &rewriter,
                              const KernelFrame &frame);

/// Why the decode kernel cannot take `op` (a mark on an op whose g·N rows do
/// not fit one block); success when it can or the op is not marked decode.
LogicalResult checkDecodeFits(PatternRewriter &rewriter, AttentionOp op,
                              int64_t rowsPerBlock);

/// The block's place in the schedule, uniform over its threads: which heads
/// and queries its rows are, and the key tiles they may see.
struct BlockRows {
  Value tileIndex, headGroup, batch;
  Value firstPacked, firstHead, kvHead;
  /// The block's queries [rowBegin, rowEnd), clipped to N.
  Value rowBegin, rowEnd;
  Value numQueries, numKeys, validKeys;
  /// The key tiles to visit (buildVisitedKeyTiles), cut to the block's
  /// chunk for decode.
  SmallVector<std::pair<Value, Value>> tileRanges;
};

/// The rows of block `launch`'s blocks of `rowsPerBlock` packed rows and
/// their key tiles of `keyTile` keys.
BlockRows buildBlockRows(OpBuilder &b, Location loc, const KernelFrame &frame,
                         gpu::LaunchOp launch, int64_t rowsPerBlock,
                         int64_t keyTile);

/// Packed row `packed` of the block: its query and its head.
struct PackedRow {
  Value query, head;
  /// Whether the query exists (< N).
  Value exists;
};
PackedRow unpackRow(OpBuilder &b, Location loc, const KernelFrame &frame,
                    const BlockRows &rows, Value packed);

/// A decode row's index among its group's rows (head-major, as
/// mergeSplitKPartials reads them): (head - firstHead) N + query.
Value groupRowIndex(OpBuilder &b, Location loc, const BlockRows &rows,
                    const PackedRow &row);

/// x in f32 (extended from f16/bf16).
Value toF32(OpBuilder &b, Location loc, Value x);

/// `tensor` as a read-only buffer of `layout` (to_buffer), for a kernel that
/// reads it in place.
Value operandBuffer(OpBuilder &b, Location loc, Value tensor,
                    OperandLayout layout);

/// The block's `threads` threads (this one is `thread`) copy rows
/// [first, first + R) of one head of `source` (B, H, L, W) into `tile`
/// (R x W, f32, shared memory), times `factor`; rows at or past `limit` are
/// 0, never read. Consecutive threads read consecutive elements of a row
/// (coalesced). No barriers: the caller places them around the tile's uses.
void stageRows(OpBuilder &b, Location loc, Value source, Value batch,
               Value head, Value first, Value limit, Value tile, Value thread,
               int64_t threads, std::optional<double> factor = std::nullopt);

/// scf.for from `lb` to `ub` by `step` whose body needs no results.
scf::ForOp forEach(OpBuilder &b, Location loc, Value lb, Value ub, Value step,
                   function_ref<void(OpBuilder &, Location, Value)> body);

/// scf.if without results whose then-branch `body` builds.
void ifThen(OpBuilder &b, Location loc, Value condition,
            function_ref<void(OpBuilder &, Location)> body);

} // namespace mlir::attn::gpu_kernel

#endif // ATTN_LIB_CONVERSION_ATTNTOGPU_GPUKERNEL_H
