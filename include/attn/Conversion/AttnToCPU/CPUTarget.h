//===- CPUTarget.h - what the CPU code is compiled for ----------*- C++ -*-===//
//
// The CPU pipeline shapes its vector code after the machine it compiles for:
// the f32 lanes of a vector register and the number of registers decide the
// register blocks of the products. The machine is LLVM's name for a CPU and a
// list of target features, "host" meaning the CPU this process runs on.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_CONVERSION_ATTNTOCPU_CPUTARGET_H
#define ATTN_CONVERSION_ATTNTOCPU_CPUTARGET_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mlir::attn {

/// A CPU as LLVM names it: "host" resolved to this machine's CPU and its
/// features, followed by the extra `features` (which win).
struct ResolvedCPU {
  std::string cpu, features;
};
ResolvedCPU resolveCPU(llvm::StringRef cpu, llvm::StringRef features);

/// Why `cpu` or `features` name no CPU or target feature of the
/// architecture this process runs on ("unknown CPU 'bogus' ..."), or
/// nothing when they do. LLVM itself only warns of an unknown name and may
/// then abort while it builds the code generator; every entry point checks
/// first. "help" is no name: the tools print the valid ones for it.
std::optional<std::string> checkCPU(llvm::StringRef cpu,
                                    llvm::StringRef features);

/// The CPUs and target features LLVM knows for this architecture, a line
/// each, for --cpu=help and --mattr=help.
void printCPUsAndFeatures(llvm::raw_ostream &os);

/// The vector unit of a CPU, as the products' register blocks see it.
struct CPUVectorUnit {
  /// f32 lanes of the widest vector register with FMA: 16 (AVX-512), 8
  /// (AVX2 + FMA), 4 otherwise.
  int64_t lanes = 4;
  /// Architectural vector registers: 32 with AVX-512, 16 otherwise.
  int64_t registers = 16;
  /// Whether bf16 products may use vdpbf16ps (AVX512-BF16 with AVX512-VL:
  /// two products of bf16 pairs per f32 lane, at 4, 8 or 16 lanes).
  bool bf16Dot = false;
  /// Which of the features the runtime checks (attn/cpu_features.def) the
  /// CPU has: what code compiled for it may use.
  std::vector<std::string> requiredFeatures;
};

/// The vector unit of `cpu` with `features` (see resolveCPU), on the
/// architecture this process runs on.
CPUVectorUnit describeCPUVectorUnit(llvm::StringRef cpu,
                                    llvm::StringRef features);

/// The vectors of columns in the register block of a product C += A B: the
/// most of 4 or 2 that leave room, with `registers` registers, for 6 rows of
/// accumulators, the row of B and a broadcast of A (4 of AVX-512's 32, 2 of
/// AVX2's 16), else 1.
int64_t productBlockVectors(int64_t registers);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOCPU_CPUTARGET_H
