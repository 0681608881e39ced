//===- CudaTest.cpp - the CUDA target, as far as a machine without a GPU --===//
//
// The runtime opens the CUDA driver only when asked to; without it (this
// suite runs on machines without a GPU) every CUDA call and CUDA module says
// "no GPU found" and nothing crashes. On a machine with a GPU the no-GPU
// expectations are skipped; scripts/gpu/run.py checks the rest there.
//
//===----------------------------------------------------------------------===//

#include "FakeModule.h"

#include <cstring>

using namespace attn::test;

extern "C" {
// What generated host code calls; declared by MLIR's GPU lowering.
void *mgpuMemAlloc(uint64_t bytes, void *stream, bool hostShared);
void *mgpuModuleLoadJIT(void *data, int optLevel);
void mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY,
                      intptr_t gridZ, intptr_t blockX, intptr_t blockY,
                      intptr_t blockZ, int32_t sharedMemoryBytes, void *stream,
                      void **params, void **extra, size_t paramsCount);
}

namespace {

/// True when this machine has a usable GPU (then the no-GPU tests skip).
bool hasGPU() {
  return take(attn_cuda_device_info(nullptr, 0, nullptr, nullptr, nullptr))
      .ok();
}

TEST(Cuda, WithoutAGPUEveryCallSaysSo) {
  if (hasGPU())
    GTEST_SKIP() << "a GPU is present";
  Outcome info =
      take(attn_cuda_device_info(nullptr, 0, nullptr, nullptr, nullptr));
  EXPECT_EQ(info.code, ATTN_STATUS_UNAVAILABLE);
  EXPECT_EQ(info.message.rfind("no GPU found", 0), 0u) << info.message;

  void *pointer = reinterpret_cast<void *>(1);
  Outcome alloc = take(attn_device_alloc(64, &pointer));
  EXPECT_EQ(alloc.code, ATTN_STATUS_UNAVAILABLE);
  EXPECT_EQ(pointer, nullptr);
  EXPECT_TRUE(take(attn_device_free(nullptr)).ok());
  char host[4];
  EXPECT_EQ(take(attn_device_copy_to_host(host, host, 4)).code,
            ATTN_STATUS_UNAVAILABLE);
  EXPECT_EQ(take(attn_device_synchronize()).code, ATTN_STATUS_UNAVAILABLE);
}

TEST(Cuda, GeneratedCodeWithoutAGPUFailsSoftly) {
  if (hasGPU())
    GTEST_SKIP() << "a GPU is present";
  // The module constructor's load, an allocation and a launch: no crash,
  // no memory; the runtime reports the recorded error with the call.
  EXPECT_EQ(mgpuModuleLoadJIT(const_cast<char *>(".version 8.0"), 3), nullptr);
  EXPECT_EQ(mgpuMemAlloc(64, nullptr, false), nullptr);
  mgpuLaunchKernel(nullptr, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr, 0);
}

TEST(Cuda, ACudaModuleNeedsAGPU) {
  if (hasGPU())
    GTEST_SKIP() << "a GPU is present";
  FakeSymbols symbols =
      fakeSymbols("attn-abi 1\nf(x: f32[N]) -> (y: f32[N])\n", {"f"});
  symbols.target = "cuda";
  attn_module_t *module = nullptr;
  Outcome outcome = symbols.create(&module);
  EXPECT_EQ(outcome.code, ATTN_STATUS_UNAVAILABLE);
  EXPECT_NE(outcome.message.find("runs on a CUDA GPU, but no GPU found"),
            std::string::npos)
      << outcome.message;
  EXPECT_EQ(module, nullptr);
}

TEST(Cuda, AnUnknownTargetIsRejected) {
  FakeSymbols symbols =
      fakeSymbols("attn-abi 1\nf(x: f32[N]) -> (y: f32[N])\n", {"f"});
  symbols.target = "tpu";
  attn_module_t *module = nullptr;
  Outcome outcome = symbols.create(&module);
  EXPECT_EQ(outcome.code, ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(outcome.message.find("targets 'tpu'"), std::string::npos)
      << outcome.message;
}

TEST(Cuda, ModulesWithoutATargetRunOnTheCPU) {
  FakeSymbols symbols =
      fakeSymbols("attn-abi 1\nf(x: f32[N]) -> (y: f32[N])\n", {"f"});
  attn_module_t *module = nullptr;
  ASSERT_TRUE(symbols.create(&module).ok());
  EXPECT_EQ(attn_module_target(module), ATTN_TARGET_CPU);
  EXPECT_EQ(attn_module_target(nullptr), ATTN_TARGET_CPU);
  attn_module_release(module);
}

} // namespace
