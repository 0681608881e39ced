//===- CPUTarget.cpp - what the CPU code is compiled for ------------------===//

#include "attn/Conversion/AttnToCPU/CPUTarget.h"
#include "attn/Support/DidYouMean.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#include <memory>

using namespace mlir::attn;
using llvm::SmallVector;

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

/// This architecture's generic subtarget: the tables of its CPUs and
/// features (asking for no CPU and no feature prints no warning).
static std::unique_ptr<llvm::MCSubtargetInfo> genericSubtarget() {
  llvm::InitializeNativeTarget();
  llvm::Triple triple(llvm::sys::getProcessTriple());
  std::string error;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(triple, error);
  if (!target)
    return nullptr;
  return std::unique_ptr<llvm::MCSubtargetInfo>(
      target->createMCSubtargetInfo(triple, "", ""));
}

std::optional<std::string> mlir::attn::checkCPU(llvm::StringRef cpu,
                                                llvm::StringRef features) {
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget = genericSubtarget();
  if (!subtarget)
    return std::nullopt; // nothing to check against; LLVM reports it
  std::string arch = llvm::Triple(llvm::sys::getProcessTriple()).getArchName().str();
  if (cpu != "host" && !subtarget->isCPUStringValid(cpu)) {
    SmallVector<llvm::StringRef> names;
    for (const llvm::SubtargetSubTypeKV &known :
         subtarget->getAllProcessorDescriptions())
      names.push_back(known.Key);
    return "unknown CPU '" + cpu.str() + "'" + didYouMean(cpu, names) +
           "; --cpu=help lists the CPUs LLVM knows for " + arch;
  }
  SmallVector<llvm::StringRef> names;
  for (const llvm::SubtargetFeatureKV &known :
       subtarget->getAllProcessorFeatures())
    names.push_back(known.Key);
  SmallVector<llvm::StringRef> items;
  features.split(items, ',', /*MaxSplit=*/-1, /*KeepEmpty=*/false);
  for (llvm::StringRef item : items) {
    item = item.trim();
    if (item.empty())
      continue;
    if (!item.starts_with("+") && !item.starts_with("-"))
      return "target feature '" + item.str() + "' needs a sign: +" +
             item.str() + " adds it, -" + item.str() + " takes it away";
    llvm::StringRef name = item.drop_front();
    if (!llvm::is_contained(names, name))
      return "unknown target feature '" + name.str() + "'" +
             didYouMean(name, names) +
             "; --mattr=help lists the features LLVM knows for " + arch;
  }
  return std::nullopt;
}

void mlir::attn::printCPUsAndFeatures(llvm::raw_ostream &os) {
  std::unique_ptr<llvm::MCSubtargetInfo> subtarget = genericSubtarget();
  if (!subtarget)
    return;
  os << "CPUs (--cpu; host is this machine's, "
     << llvm::sys::getHostCPUName() << "):\n";
  for (const llvm::SubtargetSubTypeKV &known :
       subtarget->getAllProcessorDescriptions())
    os << "  " << known.Key << "\n";
  os << "Target features (--mattr=+name,-name):\n";
  for (const llvm::SubtargetFeatureKV &known :
       subtarget->getAllProcessorFeatures())
    os << "  " << llvm::left_justify(known.Key, 24) << known.Desc << "\n";
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
