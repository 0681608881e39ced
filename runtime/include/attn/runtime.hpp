//===- attn/runtime.hpp - C++ wrapper of the attn runtime -------*- C++ -*-===//
//
// Thin, header-only RAII over runtime.h. No exceptions: fallible calls return
// attn::Status or attn::Result<T>. Thread-safety is that of the C API: a
// Module and its Functions may be used from many threads at once.
//
//   auto module = attn::Module::loadLibrary("sdpa.so");
//   if (!module.ok()) { std::cerr << module.status().toString(); ... }
//   auto fn = module->lookup("attention");
//   auto outputs = fn->call({q.view(), k.view(), v.view()});
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_RUNTIME_HPP
#define ATTN_RUNTIME_HPP

#include "attn/runtime.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attn {

//===----------------------------------------------------------------------===//
// Status and Result
//===----------------------------------------------------------------------===//

/// A code and a message; default-constructed means OK.
class Status {
public:
  Status() = default;
  Status(attn_status_code_t code, std::string message)
      : code_(code), message_(std::move(message)) {}

  /// Takes ownership of a C status (and frees it).
  static Status fromC(attn_status_t status) {
    if (!status)
      return Status();
    Status result(attn_status_code(status), attn_status_message(status));
    attn_status_free(status);
    return result;
  }

  bool ok() const { return code_ == ATTN_STATUS_OK; }
  attn_status_code_t code() const { return code_; }
  const std::string &message() const { return message_; }
  /// "OK" or e.g. "INVALID_ARGUMENT: attention: argument 'k' ...".
  std::string toString() const {
    if (ok())
      return "OK";
    return std::string(attn_status_code_name(code_)) + ": " + message_;
  }

private:
  attn_status_code_t code_ = ATTN_STATUS_OK;
  std::string message_;
};

/// A value or the Status explaining why there is none.
template <typename T> class Result {
public:
  Result(T value) : value_(std::move(value)) {}
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) // a Result without a value must carry an error
      status_ = Status(ATTN_STATUS_INTERNAL, "Result built from an OK status");
  }

  bool ok() const { return value_.has_value(); }
  const Status &status() const { return status_; }

  /// Only valid when ok().
  T &value() & { return *value_; }
  const T &value() const & { return *value_; }
  T &&value() && { return std::move(*value_); }
  T &operator*() & { return *value_; }
  const T &operator*() const & { return *value_; }
  T *operator->() { return &*value_; }
  const T *operator->() const { return &*value_; }

private:
  Status status_;
  std::optional<T> value_;
};

//===----------------------------------------------------------------------===//
// Tensors
//===----------------------------------------------------------------------===//

inline const char *dtypeName(attn_dtype_t dtype) {
  const char *name = attn_dtype_name(dtype);
  return name ? name : "unknown";
}
inline size_t dtypeSize(attn_dtype_t dtype) { return attn_dtype_size(dtype); }

/// The dtype of a C++ element type (float, double, int32_t, int64_t).
template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> {
  static constexpr attn_dtype_t value = ATTN_DTYPE_F32;
};
template <> struct DTypeOf<double> {
  static constexpr attn_dtype_t value = ATTN_DTYPE_F64;
};
template <> struct DTypeOf<int32_t> {
  static constexpr attn_dtype_t value = ATTN_DTYPE_I32;
};
template <> struct DTypeOf<int64_t> {
  static constexpr attn_dtype_t value = ATTN_DTYPE_I64;
};

/// "[2,8,128,64]".
inline std::string formatShape(const std::vector<int64_t> &shape) {
  auto rank = static_cast<int32_t>(shape.size());
  std::string text(attn_format_shape(rank, shape.data(), nullptr, 0), '\0');
  attn_format_shape(rank, shape.data(), text.data(), text.size() + 1);
  return text;
}

/// Product of the dimensions, or -1 if one is negative or it overflows.
inline int64_t elementCount(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (int64_t dim : shape)
    if (dim < 0 || __builtin_mul_overflow(count, dim, &count))
      return -1;
  return count;
}

/// An owning, row-major contiguous host tensor. Storage is zero-initialized
/// and 64-byte aligned. f16 and bf16 elements are stored as raw uint16_t.
class HostTensor {
public:
  HostTensor() = default;
  /// A zero-filled tensor; a negative or overflowing shape gives an empty
  /// tensor with valid() == false.
  HostTensor(attn_dtype_t dtype, std::vector<int64_t> shape)
      : dtype_(dtype), shape_(std::move(shape)) {
    int64_t count = elementCount(shape_);
    size_t size = attn_dtype_size(dtype_);
    valid_ = count >= 0 && size > 0 &&
             static_cast<uint64_t>(count) <= SIZE_MAX / 64 / size;
    if (valid_)
      storage_.resize((static_cast<size_t>(count) * size + 63) / 64);
  }

  /// A tensor holding `values` (which must have the shape's element count;
  /// otherwise valid() is false).
  template <typename T>
  static HostTensor fromValues(std::vector<int64_t> shape,
                               const std::vector<T> &values) {
    HostTensor tensor(DTypeOf<T>::value, std::move(shape));
    if (tensor.valid_ &&
        static_cast<int64_t>(values.size()) == tensor.numElements())
      std::memcpy(tensor.data(), values.data(), values.size() * sizeof(T));
    else
      tensor.valid_ = false;
    return tensor;
  }

  bool valid() const { return valid_; }
  attn_dtype_t dtype() const { return dtype_; }
  const std::vector<int64_t> &shape() const { return shape_; }
  int32_t rank() const { return static_cast<int32_t>(shape_.size()); }
  int64_t numElements() const { return valid_ ? elementCount(shape_) : 0; }
  size_t byteSize() const {
    return static_cast<size_t>(numElements()) * attn_dtype_size(dtype_);
  }

  void *data() { return storage_.empty() ? nullptr : storage_.data(); }
  const void *data() const {
    return storage_.empty() ? nullptr : storage_.data();
  }
  /// Typed access; nullptr when T does not have the dtype's size.
  template <typename T> T *data() {
    return sizeof(T) == attn_dtype_size(dtype_) ? static_cast<T *>(data())
                                                : nullptr;
  }
  template <typename T> const T *data() const {
    return sizeof(T) == attn_dtype_size(dtype_) ? static_cast<const T *>(data())
                                                : nullptr;
  }
  /// Copies the elements out, e.g. `t.values<float>()`.
  template <typename T> std::vector<T> values() const {
    const T *begin = data<T>();
    return begin ? std::vector<T>(begin, begin + numElements())
                 : std::vector<T>();
  }

  /// A C view of this tensor, valid while the tensor lives and is not
  /// reshaped. The runtime does not write inputs, so a view of a const
  /// tensor may be passed as an input.
  attn_tensor_t view() const {
    attn_tensor_t view;
    view.data = const_cast<void *>(data());
    view.dtype = dtype_;
    view.rank = rank();
    view.shape = shape_.data();
    view.strides = nullptr;
    return view;
  }

private:
  struct alignas(64) Chunk {
    unsigned char bytes[64];
  };
  attn_dtype_t dtype_ = ATTN_DTYPE_F32;
  std::vector<int64_t> shape_;
  std::vector<Chunk> storage_;
  bool valid_ = true;
};

//===----------------------------------------------------------------------===//
// Functions and modules
//===----------------------------------------------------------------------===//

/// One dimension of a signature argument.
struct Dim {
  int64_t size = -1;  ///< >= 0 when static.
  std::string symbol; ///< Non-empty when symbolic.
  bool isStatic() const { return symbol.empty(); }
};

/// One argument of a signature.
struct ArgInfo {
  std::string name;
  attn_dtype_t dtype = ATTN_DTYPE_F32;
  std::vector<Dim> dims;
  std::string bound; ///< Empty when unbounded.
};

/// A borrowed handle to an entry function; valid while its Module lives.
class Function {
public:
  Function() = default;
  explicit Function(const attn_function_t *function) : function_(function) {}

  const attn_function_t *get() const { return function_; }
  std::string name() const { return orEmpty(attn_function_name(function_)); }
  std::string signature() const {
    return orEmpty(attn_function_signature(function_));
  }
  size_t numInputs() const { return attn_function_input_count(function_); }
  size_t numOutputs() const { return attn_function_output_count(function_); }
  Result<ArgInfo> input(size_t index) const {
    return argInfo(attn_function_input_info, index);
  }
  Result<ArgInfo> output(size_t index) const {
    return argInfo(attn_function_output_info, index);
  }

  /// The shape of every output, given the inputs.
  Result<std::vector<std::vector<int64_t>>>
  inferOutputShapes(const std::vector<attn_tensor_t> &inputs) const {
    std::vector<int32_t> ranks;
    size_t total = 0;
    for (size_t i = 0; i < numOutputs(); ++i) {
      attn_arg_info_t info;
      Status status =
          Status::fromC(attn_function_output_info(function_, i, &info));
      if (!status.ok())
        return status;
      ranks.push_back(info.rank);
      total += static_cast<size_t>(info.rank);
    }
    std::vector<int64_t> flat(total);
    Status status = Status::fromC(attn_function_infer_output_shapes(
        function_, inputs.data(), inputs.size(), flat.data()));
    if (!status.ok())
      return status;
    std::vector<std::vector<int64_t>> shapes;
    size_t offset = 0;
    for (int32_t rank : ranks) {
      shapes.emplace_back(flat.begin() + offset, flat.begin() + offset + rank);
      offset += static_cast<size_t>(rank);
    }
    return shapes;
  }

  /// Runs the function on caller-allocated outputs.
  Status invoke(const std::vector<attn_tensor_t> &inputs,
                const std::vector<attn_tensor_t> &outputs,
                attn_invoke_stats_t *stats = nullptr) const {
    return Status::fromC(attn_function_invoke(function_, inputs.data(),
                                              inputs.size(), outputs.data(),
                                              outputs.size(), stats));
  }

  /// Infers the output shapes, allocates the outputs and runs the function.
  Result<std::vector<HostTensor>>
  call(const std::vector<attn_tensor_t> &inputs,
       attn_invoke_stats_t *stats = nullptr) const {
    auto shapes = inferOutputShapes(inputs);
    if (!shapes.ok())
      return shapes.status();
    std::vector<HostTensor> outputs;
    std::vector<attn_tensor_t> views;
    for (size_t i = 0; i < shapes->size(); ++i) {
      auto info = output(i);
      if (!info.ok())
        return info.status();
      outputs.emplace_back(info->dtype, (*shapes)[i]);
      if (!outputs.back().valid())
        return Status(ATTN_STATUS_INVALID_ARGUMENT,
                      name() + ": output '" + info->name + "' of shape " +
                          formatShape((*shapes)[i]) + " is too large");
    }
    for (const HostTensor &tensor : outputs)
      views.push_back(tensor.view());
    Status status = invoke(inputs, views, stats);
    if (!status.ok())
      return status;
    return outputs;
  }

private:
  const attn_function_t *function_ = nullptr;

  static std::string orEmpty(const char *text) { return text ? text : ""; }

  template <typename Query>
  Result<ArgInfo> argInfo(Query query, size_t index) const {
    attn_arg_info_t info;
    Status status = Status::fromC(query(function_, index, &info));
    if (!status.ok())
      return status;
    ArgInfo result;
    result.name = info.name;
    result.dtype = info.dtype;
    for (int32_t d = 0; d < info.rank; ++d)
      result.dims.push_back(
          Dim{info.dims[d].size, orEmpty(info.dims[d].symbol)});
    result.bound = orEmpty(info.bound_symbol);
    return result;
  }
};

/// An owning, reference-counted handle to a loaded module. Copies share the
/// module.
class Module {
public:
  Module() = default;
  /// Adopts one reference of `module`.
  explicit Module(attn_module_t *module) : module_(module) {}
  Module(const Module &other) : module_(other.module_) {
    attn_module_retain(module_);
  }
  Module(Module &&other) noexcept : module_(other.module_) {
    other.module_ = nullptr;
  }
  Module &operator=(Module other) noexcept {
    std::swap(module_, other.module_);
    return *this;
  }
  ~Module() { attn_module_release(module_); }

  /// Loads a shared library built by attn-translate.
  static Result<Module> loadLibrary(const std::string &path) {
    attn_module_t *module = nullptr;
    Status status =
        Status::fromC(attn_module_load_library(path.c_str(), &module));
    if (!status.ok())
      return status;
    return Module(module);
  }

  /// Wraps code already in the process, found through a C lookup.
  static Result<Module> fromLookup(attn_symbol_lookup_fn_t lookup,
                                   void *userData,
                                   attn_release_fn_t release = nullptr) {
    attn_module_t *module = nullptr;
    Status status = Status::fromC(
        attn_module_create_from_lookup(lookup, userData, release, &module));
    if (!status.ok())
      return status;
    return Module(module);
  }

  /// Wraps code already in the process, found through a C++ callable (kept
  /// alive by the module).
  static Result<Module>
  fromLookup(std::function<void *(const char *symbol)> lookup) {
    using Callback = std::function<void *(const char *)>;
    auto owned = std::make_unique<Callback>(std::move(lookup));
    auto trampoline = [](void *userData, const char *symbol) -> void * {
      return (*static_cast<Callback *>(userData))(symbol);
    };
    auto release = [](void *userData) {
      delete static_cast<Callback *>(userData);
    };
    Result<Module> module = fromLookup(trampoline, owned.get(), release);
    if (module.ok())
      owned.release(); // the module owns it now
    return module;
  }

  attn_module_t *get() const { return module_; }
  explicit operator bool() const { return module_ != nullptr; }
  std::string name() const {
    const char *name = attn_module_name(module_);
    return name ? name : "";
  }
  std::string signatureText() const {
    const char *text = attn_module_signature_text(module_);
    return text ? text : "";
  }
  size_t numFunctions() const { return attn_module_function_count(module_); }
  /// The functions in signature order.
  std::vector<Function> functions() const {
    std::vector<Function> result;
    for (size_t i = 0; i < numFunctions(); ++i) {
      const attn_function_t *function = nullptr;
      attn_status_t status = attn_module_function_at(module_, i, &function);
      if (status) {
        attn_status_free(status);
        break;
      }
      result.emplace_back(function);
    }
    return result;
  }
  Result<Function> lookup(const std::string &name) const {
    const attn_function_t *function = nullptr;
    Status status = Status::fromC(
        attn_module_lookup_function(module_, name.c_str(), &function));
    if (!status.ok())
      return status;
    return Function(function);
  }

private:
  attn_module_t *module_ = nullptr;
};

/// An owning handle to a K/V cache (see attn_kv_cache_t): keys, values and
/// lengths laid out as a decode module reads them.
class KVCache {
public:
  KVCache() = default;

  static Result<KVCache> create(const attn_kv_cache_options_t &options) {
    attn_kv_cache_t *cache = nullptr;
    Status status = Status::fromC(attn_kv_cache_create(&options, &cache));
    if (!status.ok())
      return status;
    KVCache result;
    result.cache_.reset(cache);
    return result;
  }

  attn_kv_cache_t *get() const { return cache_.get(); }

  /// Appends keys (B, Hkv, n, D) and values (B, Hkv, n, Dv); row b takes
  /// counts[b] of them (all n when `counts` is empty).
  Status append(const attn_tensor_t &keys, const attn_tensor_t &values,
                const std::vector<int32_t> &counts = {}) {
    if (!counts.empty() &&
        counts.size() != static_cast<size_t>(keys.rank > 0 ? keys.shape[0] : 0))
      return Status(ATTN_STATUS_INVALID_ARGUMENT,
                    "KVCache::append: one count per batch row is needed, "
                    "got " +
                        std::to_string(counts.size()));
    return Status::fromC(
        attn_kv_cache_append(cache_.get(), &keys, &values,
                             counts.empty() ? nullptr : counts.data()));
  }

  /// The inputs k, v and key_lengths of a decode module.
  std::vector<attn_tensor_t> views() const {
    attn_tensor_t keys, values, lengths;
    attn_status_free(
        attn_kv_cache_views(cache_.get(), &keys, &values, &lengths));
    return {keys, values, lengths};
  }

  /// Positions held by batch row `row`, and positions given to it in all.
  Result<std::pair<int64_t, int64_t>> row(int64_t row) const {
    int64_t length = 0, next = 0;
    Status status =
        Status::fromC(attn_kv_cache_row(cache_.get(), row, &length, &next));
    if (!status.ok())
      return status;
    return std::make_pair(length, next);
  }

  Status clear() { return Status::fromC(attn_kv_cache_clear(cache_.get())); }

private:
  struct Free {
    void operator()(attn_kv_cache_t *cache) const { attn_kv_cache_free(cache); }
  };
  std::unique_ptr<attn_kv_cache_t, Free> cache_;
};

/// The state a decoder of linear attention keeps (see attn_linear_state_t):
/// pass current() as the module's `state` input and next() as its
/// `final_state` output, then advance(tokens).
class LinearState {
public:
  LinearState() = default;

  static Result<LinearState> create(int64_t batch, int64_t kvHeads,
                                    int64_t headDim, int64_t valueDim) {
    attn_linear_state_t *state = nullptr;
    Status status = Status::fromC(
        attn_linear_state_create(batch, kvHeads, headDim, valueDim, &state));
    if (!status.ok())
      return status;
    LinearState result;
    result.state_.reset(state);
    return result;
  }

  attn_linear_state_t *get() const { return state_.get(); }

  attn_tensor_t current() const {
    attn_tensor_t view{};
    attn_status_free(attn_linear_state_views(state_.get(), &view, nullptr));
    return view;
  }
  attn_tensor_t next() const {
    attn_tensor_t view{};
    attn_status_free(attn_linear_state_views(state_.get(), nullptr, &view));
    return view;
  }
  Status advance(int64_t tokens) {
    return Status::fromC(attn_linear_state_advance(state_.get(), tokens));
  }
  int64_t positions() const {
    int64_t positions = 0;
    attn_status_free(attn_linear_state_positions(state_.get(), &positions));
    return positions;
  }
  Status clear() {
    return Status::fromC(attn_linear_state_clear(state_.get()));
  }

private:
  struct Free {
    void operator()(attn_linear_state_t *state) const {
      attn_linear_state_free(state);
    }
  };
  std::unique_ptr<attn_linear_state_t, Free> state_;
};

} // namespace attn

#endif // ATTN_RUNTIME_HPP
