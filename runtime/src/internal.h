//===- internal.h - Shared pieces of the runtime implementation -*- C++ -*-===//
//
// Not installed: the types behind the opaque handles, the signature parser
// and the status helpers that the runtime's sources share.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_SRC_INTERNAL_H
#define ATTN_RUNTIME_SRC_INTERNAL_H

#include "attn/runtime.h"

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

namespace attn::detail {

//===----------------------------------------------------------------------===//
// Statuses
//===----------------------------------------------------------------------===//

/// Allocates a status. Never returns NULL for a non-OK code: when memory runs
/// out it returns a preallocated "out of memory" status.
attn_status_t makeStatus(attn_status_code_t code, std::string_view message);

/// The preallocated status returned when memory runs out.
attn_status_t outOfMemoryStatus();

/// Runs `body` (which returns an attn_status_t) and turns any escaping C++
/// exception into a status, so that no exception crosses the C API.
template <typename Body> attn_status_t guard(Body &&body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return outOfMemoryStatus();
  } catch (const std::exception &e) {
    try {
      return makeStatus(ATTN_STATUS_INTERNAL,
                        std::string("unexpected exception: ") + e.what());
    } catch (...) {
      return outOfMemoryStatus();
    }
  } catch (...) {
    return makeStatus(ATTN_STATUS_INTERNAL, "unexpected exception");
  }
}

/// "[2,8,128,64]"; "[]" for rank 0; "<null>" for a NULL shape of rank > 0.
std::string formatShape(int32_t rank, const int64_t *shape);
inline std::string formatShape(const std::vector<int64_t> &shape) {
  return formatShape(static_cast<int32_t>(shape.size()), shape.data());
}

/// Element size in bytes, or 0 for a value outside the enum.
size_t dtypeSize(attn_dtype_t dtype);
/// Name, or "unknown dtype N" for a value outside the enum.
std::string dtypeDescription(attn_dtype_t dtype);

//===----------------------------------------------------------------------===//
// Signatures
//===----------------------------------------------------------------------===//

/// One dimension: a static size, or a symbol when `symbol` is non-empty.
struct DimSpec {
  int64_t size = -1;
  std::string symbol;
  bool isStatic() const { return symbol.empty(); }
};

/// One argument, e.g. `key_lengths: i32[B] <= S`.
struct ArgSpec {
  std::string name;
  attn_dtype_t dtype = ATTN_DTYPE_F32;
  std::vector<DimSpec> dims;
  /// What bounds the values: a symbol, or a static size in decimal; empty
  /// when there is none.
  std::string bound;
  /// The bound when it is a static size, -1 otherwise.
  int64_t boundSize = -1;
  /// Whether the values must not decrease along the tensor (`<= N
  /// ascending`: offsets).
  bool ascending = false;
  /// Canonical text, e.g. "k: f32[B,2,S,64]".
  std::string text;
  /// `dims` in the C API's form; the strings point into `dims`, so
  /// buildCViews() must run again whenever the spec moves.
  std::vector<attn_dim_info_t> cDims;

  int32_t rank() const { return static_cast<int32_t>(dims.size()); }
};

/// One entry function of a module signature.
struct FunctionSpec {
  std::string name;
  /// Canonical text of the whole line.
  std::string text;
  std::vector<ArgSpec> inputs;
  std::vector<ArgSpec> outputs;
};

struct SignatureError {
  attn_status_code_t code = ATTN_STATUS_INVALID_ARGUMENT;
  std::string message;
};

/// Parses a module signature (`attn-abi 1` followed by one line per entry
/// function). On failure fills `error` with a message that names the line.
bool parseSignature(std::string_view text, std::vector<FunctionSpec> &out,
                    SignatureError &error);

/// Fills every ArgSpec::cDims of `function` from its dims; call it once the
/// spec has reached its final address.
void buildCViews(FunctionSpec &function);

//===----------------------------------------------------------------------===//
// Allocation accounting
//===----------------------------------------------------------------------===//

/// The counters at the start of an invocation.
struct AllocationMark {
  uint64_t currentBytes;
  uint64_t allocationCount;
};

/// Resets the process-wide peak to the current level and returns the marks.
AllocationMark beginAllocationWindow();
/// Fills `stats` with what happened since `mark`.
void endAllocationWindow(const AllocationMark &mark,
                         attn_invoke_stats_t &stats);
/// Counts memory allocated elsewhere (the GPU's) in the same totals.
void accountAllocation(size_t size);
void accountFree(size_t size);

//===----------------------------------------------------------------------===//
// CUDA (cuda.cpp): the driver, opened with dlopen on first use
//===----------------------------------------------------------------------===//

/// OK when a CUDA GPU is usable (the driver loads, initializes and has a
/// device; its primary context is made current on this thread); otherwise
/// ATTN_STATUS_UNAVAILABLE saying why.
attn_status_t requireCuda();
/// Whether `pointer` is device memory of the CUDA driver.
bool isDevicePointer(const void *pointer);
/// Copies device memory to the host.
attn_status_t copyToHost(void *destination, const void *source, size_t bytes);
/// Waits for the device; OK or the driver's error.
attn_status_t synchronizeDevice();
/// Brackets a call of generated GPU code (one at a time): its launches run
/// back to back on one stream, which the end of the call waits for once
/// (see the mgpu* functions in cuda.cpp).
void beginGeneratedCall();
void endGeneratedCall();
/// The first error that generated code hit in the runtime's GPU functions
/// (module loads, launches, device allocations) since the last call, as a
/// status, and clears it; NULL when there was none.
attn_status_t takeGeneratedCodeError(std::string_view context);

} // namespace attn::detail

//===----------------------------------------------------------------------===//
// The types behind the opaque handles
//===----------------------------------------------------------------------===//

using attn_entry_fn_t = void (*)(void **);

struct attn_function_s {
  attn_module_s *module = nullptr;
  attn::detail::FunctionSpec spec;
  attn_entry_fn_t entry = nullptr;
};

struct attn_module_s {
  std::atomic<int64_t> references{1};
  /// Where the code runs; a CUDA module takes device buffers.
  attn_target_t target = ATTN_TARGET_CPU;
  std::string name;
  std::string signature;
  /// dlopen handle, for attn_module_load_library.
  void *library = nullptr;
  /// Ownership of the lookup's user data, for attn_module_create_from_lookup.
  attn_release_fn_t release = nullptr;
  void *userData = nullptr;
  std::vector<std::unique_ptr<attn_function_s>> functions;
};

#endif // ATTN_RUNTIME_SRC_INTERNAL_H
