//===- cuda.cpp - the CUDA driver, device buffers, and what kernels call --===//
//
// The runtime has no link-time dependency on CUDA: libcuda.so.1 is opened
// with dlopen the first time a GPU is needed, and a machine without it (or
// without a GPU) gets a status that says so. The driver API's few types are
// declared here, so building the runtime needs no CUDA headers either.
//
// Generated host code for the GPU (attn-lower-to-nvvm) calls the mgpu*
// functions at the end of this file, the interface of MLIR's GPU lowering:
// the kernel image is loaded by a constructor of the module when it is
// loaded. MLIR's lowering gives each launch a stream of its own and waits
// for it; within a call of generated code (beginGeneratedCall ..
// endGeneratedCall) the runtime instead hands out one stream for the whole
// call and waits for it once, at the end: generated host code never reads
// device memory (attn-gpu-device-buffers), so stream order is all the
// launches need, and a call of many small kernels is not bound by a
// synchronization after each. A free waits for the stream first (a queued
// kernel may still read the buffer).
// These functions cannot return errors to generated code; they record the
// first one, and the runtime turns it into the status of the module load or
// of the invocation.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <dlfcn.h>

#include <cstring>
#include <mutex>
#include <unordered_map>

namespace {

using namespace attn::detail;

// The driver API, as far as it is used (cuda.h, CUDA 12+ ABI).
using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
constexpr CUresult CUDA_SUCCESS = 0;
constexpr int CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2;
constexpr unsigned CU_MEMORYTYPE_DEVICE = 2;
constexpr int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
constexpr int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
constexpr int CU_JIT_ERROR_LOG_BUFFER = 5;
constexpr int CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES = 6;
constexpr int CU_JIT_OPTIMIZATION_LEVEL = 7;
constexpr int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
/// Shared memory a block gets without opting in (cuFuncSetAttribute).
constexpr int32_t kDefaultSharedMemoryBytes = 48 * 1024;

struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int *);
  CUresult (*cuDeviceGet)(CUdevice *, int);
  CUresult (*cuDeviceGetName)(char *, int, CUdevice);
  CUresult (*cuDeviceGetAttribute)(int *, int, CUdevice);
  CUresult (*cuDevicePrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*cuCtxSetCurrent)(CUcontext);
  CUresult (*cuCtxSynchronize)();
  CUresult (*cuModuleLoadData)(CUmodule *, const void *);
  CUresult (*cuModuleLoadDataEx)(CUmodule *, const void *, unsigned, int *,
                                 void **);
  CUresult (*cuModuleUnload)(CUmodule);
  CUresult (*cuModuleGetFunction)(CUfunction *, CUmodule, const char *);
  CUresult (*cuLaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned,
                             unsigned, unsigned, unsigned, CUstream, void **,
                             void **);
  CUresult (*cuFuncSetAttribute)(CUfunction, int, int);
  CUresult (*cuStreamCreate)(CUstream *, unsigned);
  CUresult (*cuStreamDestroy)(CUstream);
  CUresult (*cuStreamSynchronize)(CUstream);
  CUresult (*cuMemAlloc)(CUdeviceptr *, size_t);
  CUresult (*cuMemFree)(CUdeviceptr);
  CUresult (*cuMemcpy)(CUdeviceptr, CUdeviceptr, size_t);
  CUresult (*cuMemcpyHtoD)(CUdeviceptr, const void *, size_t);
  CUresult (*cuMemcpyDtoH)(void *, CUdeviceptr, size_t);
  CUresult (*cuMemsetD32)(CUdeviceptr, unsigned, size_t);
  CUresult (*cuMemsetD16)(CUdeviceptr, unsigned short, size_t);
  CUresult (*cuPointerGetAttribute)(void *, int, CUdeviceptr);
  CUresult (*cuGetErrorName)(CUresult, const char **);
  CUresult (*cuGetErrorString)(CUresult, const char **);

  /// Empty when the driver is usable; otherwise why not.
  std::string unavailable;
  CUcontext context = nullptr;
  std::string deviceName;
  int major = 0, minor = 0, multiprocessors = 0;
};

std::string describe(const Driver &driver, CUresult result) {
  const char *name = nullptr, *text = nullptr;
  if (driver.cuGetErrorName)
    driver.cuGetErrorName(result, &name);
  if (driver.cuGetErrorString)
    driver.cuGetErrorString(result, &text);
  return std::string(name ? name : "CUDA error " + std::to_string(result)) +
         (text ? std::string(" (") + text + ")" : "");
}

/// Opens and initializes the driver once per process.
Driver &driver() {
  static Driver instance;
  static std::once_flag once;
  std::call_once(once, [] {
    Driver &d = instance;
    void *library = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      const char *reason = dlerror();
      d.unavailable = std::string("no GPU found: the CUDA driver "
                                  "libcuda.so.1 could not be loaded (") +
                      (reason ? reason : "dlopen failed") + ")";
      return;
    }
    bool complete = true;
    auto bind = [&](auto &function, const char *symbol) {
      function = reinterpret_cast<std::remove_reference_t<decltype(function)>>(
          dlsym(library, symbol));
      if (!function) {
        complete = false;
        d.unavailable = std::string("the CUDA driver lacks ") + symbol;
      }
    };
    bind(d.cuGetErrorName, "cuGetErrorName");
    bind(d.cuGetErrorString, "cuGetErrorString");
    bind(d.cuInit, "cuInit");
    bind(d.cuDeviceGetCount, "cuDeviceGetCount");
    bind(d.cuDeviceGet, "cuDeviceGet");
    bind(d.cuDeviceGetName, "cuDeviceGetName");
    bind(d.cuDeviceGetAttribute, "cuDeviceGetAttribute");
    bind(d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain");
    bind(d.cuCtxSetCurrent, "cuCtxSetCurrent");
    bind(d.cuCtxSynchronize, "cuCtxSynchronize");
    bind(d.cuModuleLoadData, "cuModuleLoadData");
    bind(d.cuModuleLoadDataEx, "cuModuleLoadDataEx");
    bind(d.cuModuleUnload, "cuModuleUnload");
    bind(d.cuModuleGetFunction, "cuModuleGetFunction");
    bind(d.cuLaunchKernel, "cuLaunchKernel");
    bind(d.cuFuncSetAttribute, "cuFuncSetAttribute");
    bind(d.cuStreamCreate, "cuStreamCreate");
    bind(d.cuStreamDestroy, "cuStreamDestroy_v2");
    bind(d.cuStreamSynchronize, "cuStreamSynchronize");
    bind(d.cuMemAlloc, "cuMemAlloc_v2");
    bind(d.cuMemFree, "cuMemFree_v2");
    bind(d.cuMemcpy, "cuMemcpy");
    bind(d.cuMemcpyHtoD, "cuMemcpyHtoD_v2");
    bind(d.cuMemcpyDtoH, "cuMemcpyDtoH_v2");
    bind(d.cuMemsetD32, "cuMemsetD32_v2");
    bind(d.cuMemsetD16, "cuMemsetD16_v2");
    bind(d.cuPointerGetAttribute, "cuPointerGetAttribute");
    if (!complete)
      return;
    CUresult result = d.cuInit(0);
    int count = 0;
    if (result == CUDA_SUCCESS)
      result = d.cuDeviceGetCount(&count);
    if (result != CUDA_SUCCESS || count == 0) {
      d.unavailable = "no GPU found: the CUDA driver reports " +
                      (result != CUDA_SUCCESS ? describe(d, result)
                                              : std::string("no device"));
      return;
    }
    CUdevice device = 0;
    char name[256] = {0};
    result = d.cuDeviceGet(&device, 0);
    if (result == CUDA_SUCCESS)
      result = d.cuDeviceGetName(name, sizeof(name) - 1, device);
    if (result == CUDA_SUCCESS)
      result = d.cuDeviceGetAttribute(
          &d.major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
    if (result == CUDA_SUCCESS)
      result = d.cuDeviceGetAttribute(
          &d.minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
    if (result == CUDA_SUCCESS)
      result = d.cuDeviceGetAttribute(
          &d.multiprocessors, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
    if (result == CUDA_SUCCESS)
      result = d.cuDevicePrimaryCtxRetain(&d.context, device);
    if (result != CUDA_SUCCESS) {
      d.unavailable =
          "the CUDA device could not be opened: " + describe(d, result);
      return;
    }
    d.deviceName = name;
  });
  return instance;
}

/// The driver with its context current on this thread, or null when there
/// is no usable GPU.
Driver *currentDriver() {
  Driver &d = driver();
  if (!d.unavailable.empty())
    return nullptr;
  d.cuCtxSetCurrent(d.context);
  return &d;
}

// The first error of generated code, until the runtime takes it.
std::mutex errorMutex;
std::string pendingError;

void recordError(const std::string &message) {
  std::lock_guard<std::mutex> lock(errorMutex);
  if (pendingError.empty())
    pendingError = message;
}

/// Records a failed driver call of generated code; true when it succeeded.
bool checkGenerated(Driver &d, CUresult result, const char *what) {
  if (result == CUDA_SUCCESS)
    return true;
  recordError(std::string(what) + " failed: " + describe(d, result));
  return false;
}

/// The driver for generated code; records why there is none.
Driver *driverForGenerated(const char *what) {
  Driver *d = currentDriver();
  if (!d)
    recordError(std::string(what) + ": " + driver().unavailable);
  return d;
}

// Sizes of the device blocks generated code allocated, for the accounting.
std::mutex blocksMutex;
std::unordered_map<void *, size_t> deviceBlocks;

attn_status_t driverStatus(Driver &d, CUresult result,
                           const std::string &what) {
  if (result == CUDA_SUCCESS)
    return nullptr;
  return makeStatus(ATTN_STATUS_INTERNAL, what + ": " + describe(d, result));
}

} // namespace

namespace attn::detail {

attn_status_t requireCuda() {
  if (!currentDriver())
    return makeStatus(ATTN_STATUS_UNAVAILABLE, driver().unavailable);
  return nullptr;
}

bool isDevicePointer(const void *pointer) {
  Driver *d = currentDriver();
  if (!d || !pointer)
    return false;
  unsigned type = 0;
  return d->cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE,
                                  reinterpret_cast<CUdeviceptr>(pointer)) ==
             CUDA_SUCCESS &&
         type == CU_MEMORYTYPE_DEVICE;
}

attn_status_t copyToHost(void *destination, const void *source, size_t bytes) {
  if (attn_status_t status = requireCuda())
    return status;
  Driver &d = *currentDriver();
  return driverStatus(
      d,
      d.cuMemcpyDtoH(destination, reinterpret_cast<CUdeviceptr>(source), bytes),
      "copying " + std::to_string(bytes) + " bytes from the device");
}

attn_status_t synchronizeDevice() {
  if (attn_status_t status = requireCuda())
    return status;
  Driver &d = *currentDriver();
  return driverStatus(d, d.cuCtxSynchronize(), "waiting for the device");
}

// The stream of the call in progress (created once, kept for the process),
// and whether a call is in progress; guarded by the callers' turns.
CUstream callStream = nullptr;
bool inCall = false;

void beginGeneratedCall() { inCall = true; }

void endGeneratedCall() {
  inCall = false;
  if (Driver *d = currentDriver(); d && callStream)
    checkGenerated(*d, d->cuStreamSynchronize(callStream), "running kernels");
}

attn_status_t takeGeneratedCodeError(std::string_view context) {
  std::lock_guard<std::mutex> lock(errorMutex);
  if (pendingError.empty())
    return nullptr;
  std::string message = std::string(context) + ": " + pendingError;
  pendingError.clear();
  return makeStatus(ATTN_STATUS_INTERNAL, message);
}

} // namespace attn::detail

extern "C" {

//===----------------------------------------------------------------------===//
// The C API
//===----------------------------------------------------------------------===//

ATTN_RUNTIME_EXPORT attn_status_t
attn_cuda_device_info(char *name, size_t name_size, int32_t *major,
                      int32_t *minor, int32_t *multiprocessors) {
  return guard([&]() -> attn_status_t {
    if (attn_status_t status = requireCuda())
      return status;
    Driver &d = driver();
    if (name && name_size > 0) {
      std::strncpy(name, d.deviceName.c_str(), name_size - 1);
      name[name_size - 1] = '\0';
    }
    if (major)
      *major = d.major;
    if (minor)
      *minor = d.minor;
    if (multiprocessors)
      *multiprocessors = d.multiprocessors;
    return nullptr;
  });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_device_alloc(size_t bytes,
                                                    void **out_pointer) {
  return guard([&]() -> attn_status_t {
    if (!out_pointer)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_device_alloc: out_pointer is NULL");
    *out_pointer = nullptr;
    if (attn_status_t status = requireCuda())
      return status;
    Driver &d = *currentDriver();
    CUdeviceptr pointer = 0;
    if (attn_status_t status = driverStatus(
            d, d.cuMemAlloc(&pointer, bytes ? bytes : 1),
            "attn_device_alloc of " + std::to_string(bytes) + " bytes"))
      return status;
    *out_pointer = reinterpret_cast<void *>(pointer);
    return nullptr;
  });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_device_free(void *pointer) {
  return guard([&]() -> attn_status_t {
    if (!pointer)
      return nullptr;
    if (attn_status_t status = requireCuda())
      return status;
    Driver &d = *currentDriver();
    return driverStatus(d, d.cuMemFree(reinterpret_cast<CUdeviceptr>(pointer)),
                        "attn_device_free");
  });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_device_copy_to_device(void *destination,
                                                             const void *source,
                                                             size_t bytes) {
  return guard([&]() -> attn_status_t {
    if (attn_status_t status = requireCuda())
      return status;
    Driver &d = *currentDriver();
    return driverStatus(
        d,
        d.cuMemcpyHtoD(reinterpret_cast<CUdeviceptr>(destination), source,
                       bytes),
        "attn_device_copy_to_device of " + std::to_string(bytes) + " bytes");
  });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_device_copy_to_host(void *destination,
                                                           const void *source,
                                                           size_t bytes) {
  return guard([&]() -> attn_status_t {
    return copyToHost(destination, source, bytes);
  });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_device_synchronize(void) {
  return guard([&]() -> attn_status_t { return synchronizeDevice(); });
}

//===----------------------------------------------------------------------===//
// What generated host code calls (MLIR's GPU runtime interface)
//===----------------------------------------------------------------------===//

/// A cubin or fatbin image.
ATTN_RUNTIME_EXPORT void *mgpuModuleLoad(void *data, size_t /*size*/) {
  Driver *d = driverForGenerated("loading the kernels");
  CUmodule module = nullptr;
  if (d)
    checkGenerated(*d, d->cuModuleLoadData(&module, data),
                   "loading the kernel image");
  return module;
}

/// PTX, compiled for this GPU by the driver.
ATTN_RUNTIME_EXPORT void *mgpuModuleLoadJIT(void *data, int optLevel) {
  Driver *d = driverForGenerated("loading the kernels");
  if (!d)
    return nullptr;
  char log[4096] = {0};
  int options[] = {CU_JIT_OPTIMIZATION_LEVEL, CU_JIT_ERROR_LOG_BUFFER,
                   CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {reinterpret_cast<void *>(static_cast<intptr_t>(optLevel)),
                    log, reinterpret_cast<void *>(sizeof(log) - 1)};
  CUmodule module = nullptr;
  CUresult result = d->cuModuleLoadDataEx(&module, data, 3, options, values);
  if (result != CUDA_SUCCESS)
    recordError("compiling the kernels' PTX failed: " + describe(*d, result) +
                (log[0] ? std::string(": ") + log : std::string()));
  return module;
}

ATTN_RUNTIME_EXPORT void mgpuModuleUnload(void *module) {
  if (!module)
    return;
  if (Driver *d = currentDriver())
    d->cuModuleUnload(static_cast<CUmodule>(module));
}

ATTN_RUNTIME_EXPORT void *mgpuModuleGetFunction(void *module,
                                                const char *name) {
  if (!module) {
    recordError(std::string("kernel '") + name +
                "' has no loaded module (see the first error)");
    return nullptr;
  }
  Driver *d = driverForGenerated("finding a kernel");
  CUfunction function = nullptr;
  if (d)
    checkGenerated(
        *d,
        d->cuModuleGetFunction(&function, static_cast<CUmodule>(module), name),
        (std::string("finding kernel '") + name + "'").c_str());
  return function;
}

ATTN_RUNTIME_EXPORT void *mgpuStreamCreate() {
  if (inCall && callStream)
    return callStream;
  Driver *d = driverForGenerated("creating a stream");
  CUstream stream = nullptr;
  if (d)
    checkGenerated(*d, d->cuStreamCreate(&stream, 0), "creating a stream");
  if (inCall)
    callStream = stream;
  return stream;
}

ATTN_RUNTIME_EXPORT void mgpuStreamDestroy(void *stream) {
  if (stream == callStream)
    return;
  if (Driver *d = currentDriver(); d && stream)
    d->cuStreamDestroy(static_cast<CUstream>(stream));
}

ATTN_RUNTIME_EXPORT void mgpuStreamSynchronize(void *stream) {
  // The call's stream is waited for once, by endGeneratedCall.
  if (inCall && stream == callStream)
    return;
  if (Driver *d = driverForGenerated("waiting for a kernel"))
    checkGenerated(*d, d->cuStreamSynchronize(static_cast<CUstream>(stream)),
                   "running a kernel");
}

ATTN_RUNTIME_EXPORT void
mgpuLaunchKernel(void *function, intptr_t gridX, intptr_t gridY, intptr_t gridZ,
                 intptr_t blockX, intptr_t blockY, intptr_t blockZ,
                 int32_t sharedMemoryBytes, void *stream, void **params,
                 void **extra, size_t /*paramsCount*/) {
  if (!function) {
    recordError("launching a kernel that was not loaded");
    return;
  }
  // An empty grid (a batch of 0, say) launches nothing.
  if (gridX == 0 || gridY == 0 || gridZ == 0)
    return;
  Driver *d = driverForGenerated("launching a kernel");
  if (!d)
    return;
  // Dynamic shared memory beyond 48 KiB (the tensor-core kernel's tiles)
  // must be opted into per kernel.
  if (sharedMemoryBytes > kDefaultSharedMemoryBytes &&
      !checkGenerated(
          *d,
          d->cuFuncSetAttribute(
              static_cast<CUfunction>(function),
              CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
              sharedMemoryBytes),
          ("giving a kernel " + std::to_string(sharedMemoryBytes) +
           " bytes of shared memory per block (past this GPU's limit?)")
              .c_str()))
    return;
  checkGenerated(
        *d,
        d->cuLaunchKernel(static_cast<CUfunction>(function), gridX, gridY,
                          gridZ, blockX, blockY, blockZ, sharedMemoryBytes,
                          static_cast<CUstream>(stream), params, extra),
        ("launching a kernel on a grid of " + std::to_string(gridX) + "x" +
         std::to_string(gridY) + "x" + std::to_string(gridZ) + " blocks of " +
         std::to_string(blockX) + "x" + std::to_string(blockY) + "x" +
         std::to_string(blockZ) + " threads")
            .c_str());
}

ATTN_RUNTIME_EXPORT void *mgpuMemAlloc(uint64_t bytes, void * /*stream*/,
                                       bool /*isHostShared*/) {
  Driver *d = driverForGenerated("allocating device memory");
  if (!d)
    return nullptr;
  CUdeviceptr pointer = 0;
  if (!checkGenerated(
          *d, d->cuMemAlloc(&pointer, bytes ? bytes : 1),
          ("allocating " + std::to_string(bytes) + " bytes of device memory")
              .c_str()))
    return nullptr;
  void *block = reinterpret_cast<void *>(pointer);
  {
    std::lock_guard<std::mutex> lock(blocksMutex);
    deviceBlocks[block] = bytes;
  }
  accountAllocation(bytes);
  return block;
}

ATTN_RUNTIME_EXPORT void mgpuMemFree(void *pointer, void * /*stream*/) {
  if (!pointer)
    return;
  size_t bytes = 0;
  {
    std::lock_guard<std::mutex> lock(blocksMutex);
    auto it = deviceBlocks.find(pointer);
    if (it != deviceBlocks.end()) {
      bytes = it->second;
      deviceBlocks.erase(it);
    }
  }
  accountFree(bytes);
  Driver *d = driverForGenerated("freeing device memory");
  if (!d)
    return;
  // A kernel queued on the call's stream may still read the buffer.
  if (inCall && callStream)
    checkGenerated(*d, d->cuStreamSynchronize(callStream), "running kernels");
  checkGenerated(*d, d->cuMemFree(reinterpret_cast<CUdeviceptr>(pointer)),
                 "freeing device memory");
}

ATTN_RUNTIME_EXPORT void mgpuMemcpy(void *destination, void *source,
                                    size_t bytes, void * /*stream*/) {
  if (Driver *d = driverForGenerated("copying device memory"))
    checkGenerated(*d,
                   d->cuMemcpy(reinterpret_cast<CUdeviceptr>(destination),
                               reinterpret_cast<CUdeviceptr>(source), bytes),
                   "copying device memory");
}

ATTN_RUNTIME_EXPORT void mgpuMemset32(void *destination, unsigned value,
                                      size_t count, void * /*stream*/) {
  if (Driver *d = driverForGenerated("filling device memory"))
    checkGenerated(*d,
                   d->cuMemsetD32(reinterpret_cast<CUdeviceptr>(destination),
                                  value, count),
                   "filling device memory");
}

ATTN_RUNTIME_EXPORT void mgpuMemset16(void *destination, unsigned short value,
                                      size_t count, void * /*stream*/) {
  if (Driver *d = driverForGenerated("filling device memory"))
    checkGenerated(*d,
                   d->cuMemsetD16(reinterpret_cast<CUdeviceptr>(destination),
                                  value, count),
                   "filling device memory");
}

} // extern "C"
