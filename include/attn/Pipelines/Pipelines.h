//===- Pipelines.h - named lowering pipelines -------------------*- C++ -*-===//

#ifndef ATTN_PIPELINES_PIPELINES_H
#define ATTN_PIPELINES_PIPELINES_H

#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassOptions.h"

#include <memory>
#include <optional>

namespace mlir {
class OpPassManager;
class DialectRegistry;
} // namespace mlir

namespace mlir::attn {

/// How attn-lower-to-llvm-cpu compiles.
struct CPUPipelineConfig {
  /// auto, flash, materialized or decode (see attn-select-strategy).
  std::string strategy = "auto";
  /// Tile sizes of the flash strategy; the decode strategy's key tile and
  /// its most query rows per K/V head.
  int64_t queryTile = 64, keyTile = 64;
  /// Key chunks per (batch row, K/V head) of the decode strategy: 1 is no
  /// split-K, 0 chooses from the cache length and the cores.
  int64_t splitK = 0;
  /// The form of linear attention (attn-lower-linear-attention): auto,
  /// parallel, chunked or recurrent; and its chunk size.
  std::string linearForm = "auto";
  int64_t linearChunk = 64;
  /// The CPU the code is for, as LLVM names it ("host": this one, with its
  /// features) and extra target features ("+avx2,-avx512f"). They decide
  /// the vector width and the register blocks (describeCPUVectorUnit).
  std::string cpu = "host", features;
  /// f32 lanes per vector register; 0 takes the target's (16 with AVX-512,
  /// 8 with AVX2). Another value is for experiments.
  int64_t vectorWidth = 0;
  /// Spread the tiles over all cores (OpenMP); sequential when false.
  bool parallel = true;
};

/// The same, as the named pipeline's options.
struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<std::string> strategy{
      *this, "strategy", llvm::cl::desc("auto, flash, materialized or decode"),
      llvm::cl::init("auto")};
  Option<int64_t> queryTile{*this, "query-tile",
                            llvm::cl::desc("Query rows per flash tile"),
                            llvm::cl::init(64)};
  Option<int64_t> keyTile{*this, "key-tile",
                          llvm::cl::desc("Keys per flash tile"),
                          llvm::cl::init(64)};
  Option<std::string> cpu{
      *this, "cpu",
      llvm::cl::desc("Target CPU as LLVM names it (host: this machine)"),
      llvm::cl::init("host")};
  Option<std::string> features{
      *this, "features",
      llvm::cl::desc("Extra target features, e.g. -avx512f or +avx2,+fma"),
      llvm::cl::init("")};
  Option<int64_t> vectorWidth{
      *this, "vector-width",
      llvm::cl::desc("f32 lanes per vector register: 0 from the target (16 "
                     "with AVX-512, 8 with AVX2)"),
      llvm::cl::init(0)};
  Option<int64_t> splitK{
      *this, "split-k",
      llvm::cl::desc("Decode key chunks per (batch row, K/V head): 1 off, 0 "
                     "chosen from the cache length and the cores"),
      llvm::cl::init(0)};
  Option<std::string> linearForm{
      *this, "linear-form",
      llvm::cl::desc("Linear attention: auto, parallel, chunked or recurrent"),
      llvm::cl::init("auto")};
  Option<int64_t> linearChunk{
      *this, "linear-chunk",
      llvm::cl::desc("Tokens per chunk of linear attention"),
      llvm::cl::init(64)};
  Option<bool> parallel{*this, "parallel",
                        llvm::cl::desc("Run the tiles on all cores"),
                        llvm::cl::init(true)};

  CPUPipelineConfig config() const;
};

/// attn ops on tensors -> LLVM dialect with the runtime's entry points:
/// signature export, layer decomposition, the strategy of each attention
/// (flash tiles or the materialized score matrix), bufferization with
/// caller-allocated results, vector code for the tiles, LLVM.
void buildLowerToLLVMCPUPipeline(OpPassManager &pm,
                                 const CPUPipelineConfig &config);

/// How attn-lower-to-nvvm compiles.
struct NVVMPipelineConfig {
  /// auto, flash, materialized or decode (see attn-select-strategy).
  std::string strategy = "auto";
  /// Query rows (= threads) per block and keys per shared-memory tile of
  /// the attention kernel.
  int64_t queryTile = 128, keyTile = 32;
  /// Key chunks per (batch row, K/V head) of the decode kernel: 1 is no
  /// split-K, 0 chooses from the cache length and `multiprocessors`.
  int64_t splitK = 0;
  /// The form of linear attention and its chunk size (as on the CPU).
  std::string linearForm = "auto";
  int64_t linearChunk = 64;
  /// The GPU's multiprocessors (132 on an H100 SXM or H200).
  int64_t multiprocessors = 132;
  /// Threads per block of the other kernels.
  int64_t blockSize = 128;
  /// f16/bf16 attention on the tensor cores (mma.sync, sm_80+; not yet
  /// checked on a GPU, so off by default), and that kernel's tiles: query
  /// rows per block of 4 warps (64 or 128) and keys per K/V tile.
  bool tensorCores = false;
  int64_t tensorCoreQueryTile = 64, tensorCoreKeyTile = 64;

  /// What the tools' --query-tile and --key-tile set: the tensor-core
  /// kernel's tiles when it is on (ops it does not take keep the SIMT
  /// kernel's defaults), the SIMT kernel's otherwise.
  void setTiles(std::optional<int64_t> queryRows,
                std::optional<int64_t> keys);
  /// The GPU: its compute capability, extra PTX features (e.g. "+ptx80").
  std::string chip = "sm_90", features;
  /// LLVM optimization level of the kernels.
  int64_t optLevel = 3;
  /// The kernel image: "isa" (PTX, compiled by the driver when the module
  /// is loaded), "bin" (cubin from ptxas) or "fatbin".
  std::string format = "isa";
  /// The CUDA Toolkit with ptxas, for "bin" and "fatbin" (default: found by
  /// MLIR, e.g. /usr/local/cuda).
  std::string toolkitPath;
};

/// The same, as the named pipeline's options.
struct NVVMPipelineOptions : public PassPipelineOptions<NVVMPipelineOptions> {
  Option<std::string> strategy{
      *this, "strategy", llvm::cl::desc("auto, flash, materialized or decode"),
      llvm::cl::init("auto")};
  Option<int64_t> queryTile{
      *this, "query-tile",
      llvm::cl::desc("Query rows (threads) per attention block"),
      llvm::cl::init(128)};
  Option<int64_t> keyTile{*this, "key-tile",
                          llvm::cl::desc("Keys per shared-memory tile"),
                          llvm::cl::init(32)};
  Option<int64_t> splitK{
      *this, "split-k",
      llvm::cl::desc("Decode key chunks per (batch row, K/V head): 1 off, 0 "
                     "chosen from the cache length and the multiprocessors"),
      llvm::cl::init(0)};
  Option<int64_t> multiprocessors{
      *this, "multiprocessors",
      llvm::cl::desc("Multiprocessors of the GPU (for split-K)"),
      llvm::cl::init(132)};
  Option<std::string> linearForm{
      *this, "linear-form",
      llvm::cl::desc("Linear attention: auto, parallel, chunked or recurrent"),
      llvm::cl::init("auto")};
  Option<int64_t> linearChunk{
      *this, "linear-chunk",
      llvm::cl::desc("Tokens per chunk of linear attention"),
      llvm::cl::init(64)};
  Option<int64_t> blockSize{
      *this, "block-size",
      llvm::cl::desc("Threads per block of the other kernels"),
      llvm::cl::init(128)};
  Option<bool> tensorCores{
      *this, "tensor-cores",
      llvm::cl::desc("f16/bf16 attention on the tensor cores (mma.sync, "
                     "sm_80+; not yet checked on a GPU)"),
      llvm::cl::init(false)};
  Option<int64_t> tensorCoreQueryTile{
      *this, "tensor-core-query-tile",
      llvm::cl::desc("Query rows per block of the tensor-core kernel (64 or "
                     "128)"),
      llvm::cl::init(64)};
  Option<int64_t> tensorCoreKeyTile{
      *this, "tensor-core-key-tile",
      llvm::cl::desc("Keys per tile of the tensor-core kernel (a multiple of "
                     "16)"),
      llvm::cl::init(64)};
  Option<std::string> chip{*this, "chip",
                           llvm::cl::desc("GPU compute capability (sm_80, "
                                          "sm_90, ...)"),
                           llvm::cl::init("sm_90")};
  Option<std::string> features{*this, "features",
                               llvm::cl::desc("PTX features, e.g. +ptx80"),
                               llvm::cl::init("")};
  Option<int64_t> optLevel{*this, "opt-level",
                           llvm::cl::desc("LLVM optimization level (0-3)"),
                           llvm::cl::init(3)};
  Option<std::string> format{
      *this, "format", llvm::cl::desc("Kernel image: isa (PTX), bin, fatbin"),
      llvm::cl::init("isa")};
  Option<std::string> toolkitPath{
      *this, "toolkit", llvm::cl::desc("CUDA Toolkit path (for bin/fatbin)"),
      llvm::cl::init("")};
  NVVMPipelineConfig config() const;
};

/// attn ops on tensors -> host code in the LLVM dialect that launches NVVM
/// kernels (a gpu.binary), with the runtime's entry points: the attention
/// kernel, the other loop nests as kernels, device buffers throughout.
void buildLowerToNVVMPipeline(OpPassManager &pm,
                              const NVVMPipelineConfig &config);

/// Registers the named pipelines (attn-lower-to-llvm-cpu, attn-lower-to-nvvm).
void registerPipelines();

/// Every dialect and interface the pipelines need, for tools that parse,
/// lower and translate attn modules.
void registerCompilerDialects(DialectRegistry &registry);

/// A context with those dialects loaded, for tools and tests that compile.
std::unique_ptr<MLIRContext> createCompilerContext();

} // namespace mlir::attn

#endif // ATTN_PIPELINES_PIPELINES_H
