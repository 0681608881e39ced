//===- CPUTarget.cpp - what the CPU code is compiled for ------------------===//

#include "attn/Conversion/AttnToCPU/CPUTarget.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <memory>

using namespace mlir::attn;

ResolvedCPU mlir::attn::resolveCPU(llvm::StringRef cpu,
                                   llvm::StringRef features) {
  ResolvedCPU resolved{cpu.str(), ""};
  if (cpu == "host") {
    resolved.cpu = llvm::sys::getHostCPUName().str();
    for (const auto &feature : llvm::sys::getHostCPUFeatures())
      resolved.features += std::string(resolved.features.empty() ? "" : ",") +
                           (feature.second ? "+" : "-") +
                           feature.first().str();
  }
  // Later features override earlier ones: the caller's come last.
  if (!features.empty())
    resolved.features +=
        (resolved.features.empty() ? "" : ",") + features.str();
  return resolved;
}

CPUVectorUnit mlir::attn::describeCPUVectorUnit(llvm::StringRef cpu,
                                                llvm::StringRef features) {
  CPUVectorUnit unit;
  llvm::InitializeNativeTarget();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  // The features below are x86's; elsewhere the code is the plain form.
  if (!target || !triple.isX86())
    return unit;
  ResolvedCPU resolved = resolveCPU(cpu, features);
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget(
      target->createMCSubtargetInfo(triple, resolved.cpu, resolved.features));
  if (!subtarget)
    return unit;
  auto has = [&](llvm::StringRef feature) {
    return subtarget->checkFeatures("+" + feature.str());
  };
  if (has("avx512f"))
    unit = {16, 32, has("avx512bf16") && has("avx512vl"), {}};
  else if (has("avx2") && has("fma"))
    unit = {8, 16, false, {}};
#define ATTN_CPU_FEATURE(name)                                                 \
  if (has(name))                                                               \
    unit.requiredFeatures.push_back(name);
#include "attn/cpu_features.def"
  return unit;
}

int64_t mlir::attn::productBlockVectors(int64_t registers) {
  for (int64_t vectors : {4, 2})
    if (6 * vectors + vectors + 1 <= registers)
      return vectors;
  return 1;
}
