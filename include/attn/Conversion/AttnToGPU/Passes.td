//===- Passes.td - the GPU lowering of attn --------------*- tablegen -*-===//
//
// What is specific to NVIDIA GPUs: the attention kernels (SIMT and tensor
// cores), device buffers for the host code, the mapping of the other loop
// nests onto blocks and threads, and one kernel module per compiled module.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOGPU_PASSES_TD
#define ATTN_CONVERSION_ATTNTOGPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnLowerAttentionToGPUPass
    : Pass<"attn-lower-attention-to-gpu", "::mlir::func::FuncOp"> {
  let summary = "Lower attn.attention (flash, decode) and attn.attention_grad (flash) to GPU kernels (gpu.launch)";
  let description = [{
    The flash strategy for GPUs, with FlashAttention-2's work split: one
    thread block per (query tile, K/V head, batch row), the query heads of a
    K/V head packed into the tile's rows. Only the key tiles the mask and the
    key lengths let the block's rows see are visited; a row that sees no key
    gets zeros. The head dimensions must be static. The operands are read
    through to_buffer and the result is a new buffer wrapped by to_tensor,
    so the pass runs before bufferization.

    Two kernels:
    - SIMT (every op): one thread per query row of the tile (`query-tile`
      threads), each K/V tile staged in shared memory (f32); each thread
      keeps its scaled query row, its f32 accumulator and the tile's scores
      in private memory and updates the running maximum and sum of the
      online softmax (log2 domain, as attn-tile-online-softmax). The key
      tile shrinks when D + Dv would not fit 48 KiB of shared memory.
    - Tensor cores (`tensor-cores`, sm_80+; f16 or bf16 q, k and v, D and
      Dv multiples of 16 up to 128): four warps per block of
      `tensor-core-query-tile` rows, S = Q K^T and O += P V on
      `nvvm.mma.sync` m16n8k16 with f32 accumulators, fragments read from
      shared memory by `nvgpu.ldmatrix`, K/V tiles of
      `tensor-core-key-tile` keys double-buffered by `nvgpu.device_async_copy`
      (cp.async), the online softmax on the accumulator fragments with P
      kept in registers as the A operand of P V. Other ops take the SIMT
      kernel.

    The decode strategy runs either kernel with split-K: block x is a chunk
    of the key tiles, blocks write their rows' (m, l, acc), and the exact
    merge of attn-tile-decode follows as linalg ops.

    A flash-marked attn.attention_grad becomes two SIMT kernels after its
    row dots (rowsum(dout * out), a linalg op): dk and dv with a thread per
    key (`query-tile` keys per block, `key-tile` staged query rows), dq
    with a thread per query row (as the forward kernel's geometry). No
    atomics: each gradient element is summed by one thread in a fixed
    order.
  }];
  let options = [
    Option<"queryTile", "query-tile", "int64_t", /*default=*/"128",
           "Query rows per block of the SIMT kernel (= threads per block)">,
    Option<"keyTile", "key-tile", "int64_t", /*default=*/"32",
           "Keys per shared-memory tile of the SIMT kernel">,
    Option<"tensorCores", "tensor-cores", "bool", /*default=*/"false",
           "Run f16/bf16 attention on the tensor cores (mma.sync, sm_80+)">,
    Option<"tensorCoreQueryTile", "tensor-core-query-tile", "int64_t",
           /*default=*/"64",
           "Query rows per block of the tensor-core kernel (64 or 128)">,
    Option<"tensorCoreKeyTile", "tensor-core-key-tile", "int64_t",
           /*default=*/"64",
           "Keys per tile of the tensor-core kernel (a multiple of 16)">,
    Option<"splitK", "split-k", "int64_t", /*default=*/"0",
           "Chunks of the decode kernel's split-K (0: from the cache length "
           "and the multiprocessor count)">,
    Option<"multiprocessors", "multiprocessors", "int64_t", /*default=*/"132",
           "Multiprocessors of the GPU, for split-K's automatic chunk count">
  ];
  let dependentDialects = [
    "::mlir::gpu::GPUDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::NVVM::NVVMDialect",
    "::mlir::LLVM::LLVMDialect",
    "::mlir::vector::VectorDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::bufferization::BufferizationDialect",
    "::mlir::memref::MemRefDialect",
    "::mlir::arith::ArithDialect",
    "::mlir::math::MathDialect",
    "::mlir::scf::SCFDialect"
  ];
}

def AttnGPUDeviceBuffersPass
    : Pass<"attn-gpu-device-buffers", "::mlir::func::FuncOp"> {
  let summary = "Allocate a GPU function's buffers on the device";
  let description = [{
    Runs on buffers. Host-side `memref.alloc`/`memref.dealloc` become
    `gpu.alloc`/`gpu.dealloc` and `memref.copy` becomes `linalg.copy` (later
    a kernel): the host code of a GPU function never touches memory.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::linalg::LinalgDialect"];
}

def AttnGPUMapLoopsPass : Pass<"attn-gpu-map-loops", "::mlir::func::FuncOp"> {
  let summary = "Map outermost scf.parallel nests onto GPU blocks and threads";
  let description = [{
    Each outermost scf.parallel outside a gpu.launch is collapsed to one
    dimension and cut into blocks of `block-size` threads (block x, thread
    x); parallel loops nested inside run sequentially in each thread.
    convert-parallel-loops-to-gpu then makes the kernels.
  }];
  let options = [
    Option<"blockSize", "block-size", "int64_t", /*default=*/"128",
           "Threads per block">
  ];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::affine::AffineDialect",
                           "::mlir::arith::ArithDialect"];
}

def AttnGPUMergeKernelModulesPass
    : Pass<"attn-gpu-merge-kernel-modules", "::mlir::ModuleOp"> {
  let summary = "Merge the outlined kernels into one gpu.module";
  let description = [{
    Moves every kernel of every gpu.module into the first one, renamed
    `attn_kernels`, and updates the launches: one PTX/cubin image per
    compiled module.
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect"];
}

def AttnGPUOccupancyHintsPass
    : Pass<"attn-gpu-occupancy-hints", "::mlir::gpu::GPUModuleOp"> {
  let summary = "Let kernels with register-resident tiles use every register";
  let description = [{
    A kernel whose matrix tiles live in registers (warp-level `nvvm.mma.sync`:
    the tensor-core attention kernel) gets `nvvm.minctasm = 1`
    (`.minnctapersm 1`): without it, ptxas may cap its registers to fit more
    blocks per multiprocessor than its shared memory allows anyway, and
    spill the tiles to local memory. The other kernels keep ptxas's choice.
  }];
  let dependentDialects = ["::mlir::NVVM::NVVMDialect"];
}

def AttnGPULegalizeMathPass
    : Pass<"attn-gpu-legalize-math", "::mlir::gpu::GPUModuleOp"> {
  let summary = "The kernels' math functions: expanded, or a diagnostic";
  let description = [{
    A math op in a kernel (an activation after the attention, say) reaches
    PTX as attn's own polynomial (exp, exp2, log2: attn-approximate-exp2),
    an intrinsic that NVPTX selects (fma, trunc) or a libdevice function
    that gpu-module-to-binary links from the CUDA Toolkit (erf, tan, ...).
    The hyperbolic functions would reach none (NVPTX's instruction selection
    aborts on llvm.tanh): they are expanded through exp here. The ops that
    the lowering to LLVM turns into intrinsics the NVVM lowering refuses
    (sqrt, fabs, floor, ceil, log, sin, cos, pow, ...) get a diagnostic
    naming the op.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect"];
}

#endif // ATTN_CONVERSION_ATTNTOGPU_PASSES_TD
