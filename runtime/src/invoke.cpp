//===- invoke.cpp - Validating arguments and calling generated code -------===//
//
// Every check happens before the generated code is entered: it trusts its
// descriptors completely, so a wrong shape there is an out-of-bounds access.
// Messages name the function, the argument (by name, kind and index), the
// shapes involved and the signature of the argument, so that a user can act
// on them without reading the module.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <mutex>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <map>

using namespace attn::detail;

namespace {

/// The argument that first gave a symbol its value.
struct Binding {
  int64_t value;
  std::string where; // "argument 'k' (input 1) with shape [2,2,100,64]"
};

/// What validation learned about one tensor.
struct Checked {
  const attn_tensor_t *tensor = nullptr;
  const ArgSpec *arg = nullptr;
  bool output = false;
  size_t index = 0;
  int64_t elements = 0;
  size_t bytes = 0;
};

std::string hexAddress(uintptr_t address) {
  char text[2 + 16 + 1];
  std::snprintf(text, sizeof(text), "0x%" PRIxPTR, address);
  return text;
}

std::string listNames(const std::vector<ArgSpec> &args) {
  std::string names;
  for (const ArgSpec &arg : args)
    names += (names.empty() ? "" : ", ") + arg.name;
  return names;
}

class Validator {
public:
  explicit Validator(const FunctionSpec &function) : function(function) {}

  /// Checks the input array, binding every symbol the inputs name.
  attn_status_t checkInputs(const attn_tensor_t *inputs, size_t count) {
    if (attn_status_t status =
            checkArray(inputs, count, function.inputs, /*output=*/false))
      return status;
    for (size_t i = 0; i < count; ++i)
      if (attn_status_t status =
              checkTensor(inputs[i], function.inputs[i], false, i))
        return status;
    return nullptr;
  }

  /// Checks the output array against the shapes the inputs imply; symbols
  /// that no input binds are bound by the first output naming them.
  attn_status_t checkOutputs(const attn_tensor_t *outputs, size_t count) {
    if (attn_status_t status =
            checkArray(outputs, count, function.outputs, /*output=*/true))
      return status;
    for (size_t i = 0; i < count; ++i)
      if (attn_status_t status =
              checkTensor(outputs[i], function.outputs[i], true, i))
        return status;
    return nullptr;
  }

  /// Outputs are written while inputs are read: no output may share a byte
  /// with an input or with another output.
  attn_status_t checkOverlaps() {
    for (const Checked &output : checked) {
      if (!output.output || output.bytes == 0)
        continue;
      for (const Checked &other : checked) {
        if (&other == &output || other.bytes == 0)
          continue;
        // Report each pair of outputs once, at the later one.
        if (other.output && other.index >= output.index)
          continue;
        uintptr_t a = reinterpret_cast<uintptr_t>(output.tensor->data);
        uintptr_t b = reinterpret_cast<uintptr_t>(other.tensor->data);
        if (a < b + other.bytes && b < a + output.bytes)
          return fail(
              output,
              "with shape " +
                  formatShape(output.tensor->rank, output.tensor->shape) +
                  " overlaps " + describe(other) + " in memory (bytes [" +
                  hexAddress(a) + ", " + hexAddress(a + output.bytes) +
                  ") and [" + hexAddress(b) + ", " +
                  hexAddress(b + other.bytes) +
                  ")); outputs must not alias inputs or other outputs");
      }
    }
    return nullptr;
  }

  /// For a CUDA module: every non-empty buffer must be device memory, and
  /// an f16/bf16 one 16-byte aligned (the tensor-core kernel copies rows in
  /// 16-byte pieces; a misaligned one would fault on the GPU).
  attn_status_t checkDeviceBuffers() {
    for (const Checked &entry : checked) {
      if (entry.bytes == 0)
        continue;
      if (!isDevicePointer(entry.tensor->data))
        return fail(entry, "is not device memory; the functions of a CUDA "
                           "module take buffers from attn_device_alloc");
      auto address = reinterpret_cast<uintptr_t>(entry.tensor->data);
      attn_dtype_t dtype = entry.tensor->dtype;
      if ((dtype == ATTN_DTYPE_F16 || dtype == ATTN_DTYPE_BF16) &&
          address % 16 != 0)
        return fail(entry, "is at " + hexAddress(address) +
                               ", not 16-byte aligned; the f16/bf16 buffers "
                               "of a CUDA module must be (attn_device_alloc "
                               "and PyTorch allocations are)");
    }
    return nullptr;
  }

  /// Reads every bounded input and checks 0 <= value <= bound, and that an
  /// ascending one never decreases; from the device through a host copy
  /// when `onDevice`.
  attn_status_t checkBoundedValues(bool onDevice) {
    for (const Checked &entry : checked) {
      if (entry.output || entry.arg->bound.empty())
        continue;
      int64_t bound = entry.arg->boundSize;
      std::string origin = "static";
      if (bound < 0) {
        auto binding = symbols.find(entry.arg->bound);
        if (binding == symbols.end())
          return makeStatus(ATTN_STATUS_INTERNAL,
                            function.name + ": bound symbol '" +
                                entry.arg->bound + "' of '" + entry.arg->name +
                                "' was never bound");
        bound = binding->second.value;
        origin = entry.arg->bound + " bound by " + binding->second.where;
      }
      const void *data = entry.tensor->data;
      std::vector<char> hostCopy;
      if (onDevice) {
        hostCopy.resize(entry.bytes);
        if (attn_status_t status =
                copyToHost(hostCopy.data(), data, entry.bytes))
          return status;
        data = hostCopy.data();
      }
      int64_t previous = 0;
      for (int64_t i = 0; i < entry.elements; ++i) {
        int64_t value;
        if (entry.arg->dtype == ATTN_DTYPE_I32) {
          int32_t element;
          std::memcpy(&element, static_cast<const char *>(data) + 4 * i, 4);
          value = element;
        } else {
          std::memcpy(&value, static_cast<const char *>(data) + 8 * i, 8);
        }
        if (value < 0 || value > bound)
          return fail(entry, "has value " + std::to_string(value) +
                                 " at index " + unravel(*entry.tensor, i) +
                                 ", outside [0, " + entry.arg->bound + " = " +
                                 std::to_string(bound) + "] (" + origin + ")");
        if (entry.arg->ascending && i > 0 && value < previous)
          return fail(entry, "must not decrease (offsets), but has " +
                                 std::to_string(value) + " at index " +
                                 unravel(*entry.tensor, i) + " after " +
                                 std::to_string(previous));
        previous = value;
      }
    }
    return nullptr;
  }

  /// The shape of output `index` from the bound symbols; fails when a
  /// symbol is unbound.
  attn_status_t deriveOutputShape(size_t index, std::vector<int64_t> &shape) {
    const ArgSpec &arg = function.outputs[index];
    shape.clear();
    for (size_t d = 0; d < arg.dims.size(); ++d) {
      const DimSpec &dim = arg.dims[d];
      if (dim.isStatic()) {
        shape.push_back(dim.size);
        continue;
      }
      auto binding = symbols.find(dim.symbol);
      if (binding == symbols.end())
        return makeStatus(ATTN_STATUS_FAILED_PRECONDITION,
                          function.name + ": argument '" + arg.name +
                              "' (output " + std::to_string(index) +
                              "): dimension " + std::to_string(d) + " is '" +
                              dim.symbol +
                              "', which no input binds, so the output shape "
                              "cannot be inferred (signature " +
                              arg.text + ")");
      shape.push_back(binding->second.value);
    }
    return nullptr;
  }

  const std::vector<Checked> &tensors() const { return checked; }

private:
  const FunctionSpec &function;
  std::map<std::string, Binding> symbols;
  std::vector<Checked> checked;

  static std::string location(const ArgSpec &arg, bool output, size_t index) {
    return "argument '" + arg.name + "' (" + (output ? "output " : "input ") +
           std::to_string(index) + ")";
  }

  static std::string describe(const Checked &entry) {
    return location(*entry.arg, entry.output, entry.index) + " with shape " +
           formatShape(entry.tensor->rank, entry.tensor->shape);
  }

  static std::string unravel(const attn_tensor_t &tensor, int64_t linear) {
    std::vector<int64_t> index(tensor.rank);
    for (int32_t d = tensor.rank - 1; d >= 0; --d) {
      index[d] = tensor.shape[d] ? linear % tensor.shape[d] : 0;
      linear = tensor.shape[d] ? linear / tensor.shape[d] : 0;
    }
    return formatShape(index);
  }

  attn_status_t failAt(const ArgSpec &arg, bool output, size_t index,
                       const std::string &detail) {
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      function.name + ": " + location(arg, output, index) +
                          " " + detail + " (signature " + arg.text + ")");
  }

  attn_status_t fail(const Checked &entry, const std::string &detail) {
    return failAt(*entry.arg, entry.output, entry.index, detail);
  }

  attn_status_t checkArray(const attn_tensor_t *tensors, size_t count,
                           const std::vector<ArgSpec> &args, bool output) {
    const char *kind = output ? "output" : "input";
    if (count != args.size())
      return makeStatus(
          ATTN_STATUS_INVALID_ARGUMENT,
          function.name + ": expected " + std::to_string(args.size()) + " " +
              kind + (args.size() == 1 ? "" : "s") + " (" + listNames(args) +
              ") but got " + std::to_string(count) + " (signature " +
              function.text + ")");
    if (!tensors && count > 0)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        function.name + ": the " + kind +
                            " array is NULL but " + std::to_string(count) +
                            " " + kind + "s (" + listNames(args) +
                            ") are expected");
    return nullptr;
  }

  /// The shape of output `index` as far as the bound symbols determine it,
  /// e.g. "[2,8,16,64]" or "[2,8,?,64]".
  std::string expectedShape(const ArgSpec &arg) {
    std::string text = "[";
    for (size_t d = 0; d < arg.dims.size(); ++d) {
      if (d)
        text += ',';
      const DimSpec &dim = arg.dims[d];
      auto binding = symbols.find(dim.symbol);
      text += dim.isStatic()             ? std::to_string(dim.size)
              : binding != symbols.end() ? std::to_string(binding->second.value)
                                         : dim.symbol;
    }
    return text + "]";
  }

  attn_status_t checkTensor(const attn_tensor_t &tensor, const ArgSpec &arg,
                            bool output, size_t index) {
    auto failHere = [&](const std::string &detail) {
      return failAt(arg, output, index, detail);
    };
    if (tensor.rank < 0)
      return failHere("has negative rank " + std::to_string(tensor.rank));
    if (tensor.rank > 0 && !tensor.shape)
      return failHere("has rank " + std::to_string(tensor.rank) +
                      " but its shape pointer is NULL");
    std::string shapeText = formatShape(tensor.rank, tensor.shape);
    if (tensor.dtype != arg.dtype)
      return failHere("with shape " + shapeText + " has dtype " +
                      dtypeDescription(tensor.dtype) +
                      " but the signature requires " +
                      attn_dtype_name(arg.dtype));
    if (tensor.rank != arg.rank())
      return failHere("has rank " + std::to_string(tensor.rank) + " (shape " +
                      shapeText + ") but the signature requires rank " +
                      std::to_string(arg.rank()));
    int64_t elements = 1;
    for (int32_t d = 0; d < tensor.rank; ++d) {
      if (tensor.shape[d] < 0)
        return failHere("has shape " + shapeText + " but dimension " +
                        std::to_string(d) + " is negative");
      if (__builtin_mul_overflow(elements, tensor.shape[d], &elements))
        return failHere("has shape " + shapeText +
                        ", which has more elements than int64_t can count");
    }
    size_t bytes;
    if (__builtin_mul_overflow(static_cast<uint64_t>(elements),
                               static_cast<uint64_t>(dtypeSize(arg.dtype)),
                               &bytes))
      return failHere("has shape " + shapeText +
                      ", whose size in bytes does not fit in size_t");

    // Dimensions: static sizes first, then the symbols in order.
    std::string where =
        location(arg, output, index) + " with shape " + shapeText;
    std::string expected =
        output ? "; the inputs give it the shape " + expectedShape(arg) : "";
    for (int32_t d = 0; d < tensor.rank; ++d) {
      const DimSpec &dim = arg.dims[d];
      int64_t size = tensor.shape[d];
      if (dim.isStatic()) {
        if (size != dim.size)
          return failHere("has shape " + shapeText + " but dimension " +
                          std::to_string(d) + " must be " +
                          std::to_string(dim.size) + expected);
        continue;
      }
      auto [binding, inserted] =
          symbols.try_emplace(dim.symbol, Binding{size, where});
      if (!inserted && binding->second.value != size) {
        const Binding &earlier = binding->second;
        // The same argument may name a symbol twice, e.g. x: f32[N,N].
        std::string other = earlier.where == where
                                ? "an earlier dimension of the same argument"
                                : earlier.where;
        return failHere("has shape " + shapeText + " but dimension " +
                        std::to_string(d) + " is " + dim.symbol + " = " +
                        std::to_string(size) + " while " + other + " bound " +
                        dim.symbol + " = " + std::to_string(earlier.value) +
                        expected);
      }
    }

    // The generated code indexes with the contiguous strides; any other
    // layout would be read wrongly, so refuse it rather than copy.
    if (tensor.strides && elements > 0) {
      int64_t contiguous = 1;
      std::vector<int64_t> wanted(tensor.rank);
      bool matches = true;
      for (int32_t d = tensor.rank - 1; d >= 0; --d) {
        wanted[d] = contiguous;
        if (tensor.shape[d] != 1 && tensor.strides[d] != contiguous)
          matches = false;
        contiguous *= tensor.shape[d];
      }
      if (!matches)
        return failHere("has shape " + shapeText + " and strides " +
                        formatShape(tensor.rank, tensor.strides) +
                        ", but the generated code requires row-major "
                        "contiguous buffers, i.e. strides " +
                        formatShape(wanted) +
                        " (dimensions of size 1 may have any stride)");
    }
    if (!tensor.data && elements > 0)
      return failHere("has shape " + shapeText + " (" +
                      std::to_string(elements) +
                      " elements) but its data pointer is NULL");
    if (tensor.data && bytes > 0) {
      uintptr_t end;
      if (__builtin_add_overflow(reinterpret_cast<uintptr_t>(tensor.data),
                                 bytes, &end))
        return failHere("has shape " + shapeText +
                        " but its buffer would extend past the end of the "
                        "address space");
    }

    Checked entry;
    entry.tensor = &tensor;
    entry.arg = &arg;
    entry.output = output;
    entry.index = index;
    entry.elements = elements;
    entry.bytes = bytes;
    checked.push_back(entry);
    return nullptr;
  }
};

attn_status_t nullFunction(const char *api) {
  return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                    std::string(api) + ": function handle is NULL");
}

/// The memref descriptor of a contiguous tensor, as 64-bit words:
/// { allocated, aligned, offset, sizes[rank], strides[rank] }.
std::vector<int64_t> makeDescriptor(const attn_tensor_t &tensor) {
  static_assert(sizeof(void *) == sizeof(int64_t),
                "descriptors are laid out for 64-bit pointers");
  std::vector<int64_t> words(3 + 2 * static_cast<size_t>(tensor.rank));
  auto address = static_cast<int64_t>(reinterpret_cast<intptr_t>(tensor.data));
  words[0] = address;
  words[1] = address;
  words[2] = 0;
  int64_t stride = 1;
  for (int32_t d = tensor.rank - 1; d >= 0; --d) {
    words[3 + d] = tensor.shape[d];
    words[3 + tensor.rank + d] = stride;
    stride *= tensor.shape[d];
  }
  return words;
}

} // namespace

extern "C" {

ATTN_RUNTIME_EXPORT attn_status_t attn_function_infer_output_shapes(
    const attn_function_t *function, const attn_tensor_t *inputs,
    size_t input_count, int64_t *out_shapes) {
  return guard([&]() -> attn_status_t {
    if (!function)
      return nullFunction("attn_function_infer_output_shapes");
    const FunctionSpec &spec = function->spec;
    Validator validator(spec);
    if (attn_status_t status = validator.checkInputs(inputs, input_count))
      return status;
    // A CUDA module's inputs are device buffers.
    bool onDevice = function->module->target == ATTN_TARGET_CUDA;
    if (onDevice) {
      if (attn_status_t status = validator.checkDeviceBuffers())
        return status;
    }
    if (attn_status_t status = validator.checkBoundedValues(onDevice))
      return status;
    std::vector<int64_t> all;
    for (size_t i = 0; i < spec.outputs.size(); ++i) {
      std::vector<int64_t> shape;
      if (attn_status_t status = validator.deriveOutputShape(i, shape))
        return status;
      all.insert(all.end(), shape.begin(), shape.end());
    }
    if (!out_shapes && !all.empty())
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_function_infer_output_shapes: out_shapes is NULL "
                        "but '" +
                            spec.name + "' has " + std::to_string(all.size()) +
                            " output dimensions");
    std::copy(all.begin(), all.end(), out_shapes);
    return nullptr;
  });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_function_invoke(
    const attn_function_t *function, const attn_tensor_t *inputs,
    size_t input_count, const attn_tensor_t *outputs, size_t output_count,
    attn_invoke_stats_t *out_stats) {
  if (out_stats)
    *out_stats = attn_invoke_stats_t{0, 0, 0};
  return guard([&]() -> attn_status_t {
    if (!function)
      return nullFunction("attn_function_invoke");
    Validator validator(function->spec);
    if (attn_status_t status = validator.checkInputs(inputs, input_count))
      return status;
    if (attn_status_t status = validator.checkOutputs(outputs, output_count))
      return status;
    if (attn_status_t status = validator.checkOverlaps())
      return status;
    bool onDevice = function->module->target == ATTN_TARGET_CUDA;
    if (onDevice) {
      if (attn_status_t status = requireCuda())
        return status;
      if (attn_status_t status = validator.checkDeviceBuffers())
        return status;
    }
    if (attn_status_t status = validator.checkBoundedValues(onDevice))
      return status;

    // checkInputs/checkOutputs recorded the tensors in argument order:
    // inputs, then outputs, which is the order of the entry's arguments.
    const std::vector<Checked> &tensors = validator.tensors();
    std::vector<std::vector<int64_t>> descriptors;
    descriptors.reserve(tensors.size());
    std::vector<void *> arguments;
    arguments.reserve(tensors.size());
    for (const Checked &entry : tensors) {
      descriptors.push_back(makeDescriptor(*entry.tensor));
      arguments.push_back(descriptors.back().data());
    }

    // GPU invocations take turns: the driver errors that generated code
    // records are then those of this call.
    static std::mutex gpuMutex;
    std::unique_lock<std::mutex> gpuTurn(gpuMutex, std::defer_lock);
    if (onDevice) {
      gpuTurn.lock();
      attn_status_free(takeGeneratedCodeError(""));
    }
    AllocationMark mark = beginAllocationWindow();
    if (onDevice)
      beginGeneratedCall();
    function->entry(arguments.data());
    if (onDevice)
      endGeneratedCall();
    if (out_stats)
      endAllocationWindow(mark, *out_stats);
    if (onDevice)
      return takeGeneratedCodeError("'" + function->spec.name + "' on the GPU");
    return nullptr;
  });
}

} // extern "C"
