//===- module.cpp - attn._attn, the compiler and runtime for Python -------===//
//
// The Python package's native half (nanobind). It compiles attn modules
// in-process (the compiler library: parse, lower, JIT, as attn-run does),
// shows the IR after any pass of a pipeline, and calls the compiled
// functions on any array that speaks DLPack or the buffer protocol (numpy,
// PyTorch, ...) without copying it: the runtime is handed the array's own
// data pointer, shape and strides, and validates them against the
// signature. Outputs are allocated here, 64-byte aligned, and given to the
// caller's framework (numpy or PyTorch) with a capsule that frees them.
// Every failure is a Python exception: attn.CompileError for IR that does
// not compile (with MLIR's diagnostics), attn.InvalidArgument for what the
// runtime refuses (its message names the argument and the shapes), attn.Error
// for the rest.
//
//===----------------------------------------------------------------------===//

#include "attn/Pipelines/Pipelines.h"
#include "attn/Reference/Evaluate.h"
#include "attn/Target/CPU.h"
#include "attn/Target/Schedule.h"
#include "attn/runtime.hpp"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/AsmParser/AsmParser.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "llvm/Support/raw_ostream.h"

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <dlfcn.h>

#include <chrono>

#include <cstdlib>
#include <mutex>
#include <stdexcept>

namespace nb = nanobind;

namespace {

/// What the runtime refused (INVALID_ARGUMENT) or failed to do.
struct InvalidArgument : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct RuntimeFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// IR that does not parse, verify or lower; the message holds MLIR's
/// diagnostics.
struct CompileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

void check(const attn::Status &status) {
  if (status.ok())
    return;
  if (status.code() == ATTN_STATUS_INVALID_ARGUMENT)
    throw InvalidArgument(status.message());
  throw RuntimeFailure(status.toString());
}

template <typename T> T take(attn::Result<T> result) {
  check(result.status());
  return std::move(result).value();
}

/// One MLIR context for the process: compilation holds the GIL (the
/// context's dialects are loaded once and shared).
mlir::MLIRContext &context() {
  static std::unique_ptr<mlir::MLIRContext> shared =
      mlir::attn::createCompilerContext();
  return *shared;
}

/// Parses `source`, collecting the diagnostics of parsing and of whatever
/// `use` does with the module into the CompileError it throws on failure.
template <typename Use>
auto withModule(const std::string &source, const std::string &name, Use use) {
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  // file:line:col: error: message, as the tools print them.
  auto where = [](mlir::Location loc) {
    std::string text;
    llvm::raw_string_ostream out(text);
    if (auto file = llvm::dyn_cast<mlir::FileLineColLoc>(loc))
      out << file.getFilename().getValue() << ":" << file.getLine() << ":"
          << file.getColumn();
    else
      out << loc;
    return text;
  };
  mlir::ScopedDiagnosticHandler handler(
      &context(), [&](mlir::Diagnostic &diagnostic) {
        os << where(diagnostic.getLocation()) << ": "
           << (diagnostic.getSeverity() == mlir::DiagnosticSeverity::Error
                   ? "error: "
                   : "note: ")
           << diagnostic << "\n";
        for (const mlir::Diagnostic &note : diagnostic.getNotes())
          os << where(note.getLocation()) << ": note: " << note << "\n";
        return mlir::success();
      });
  mlir::ParserConfig config(&context());
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceString<mlir::ModuleOp>(source, config, name);
  if (!module)
    throw CompileError(name + " does not parse or verify:\n" + diagnostics);
  if (module->getOps<mlir::func::FuncOp>().empty())
    throw CompileError(name + " holds no function (a module of func.func "
                              "ops with attn ops in them)");
  return use(*module, diagnostics);
}

/// The CPU or CUDA options from the keyword options of attn.compile (the
/// names of attn-run's flags, with underscores).
mlir::attn::CPUTargetOptions targetOptions(const std::string &target,
                                           const nb::dict &options) {
  mlir::attn::CPUTargetOptions result;
  mlir::attn::CPUPipelineConfig &cpu = result.pipeline;
  mlir::attn::NVVMPipelineConfig gpu;
  bool cuda = target == "cuda";
  if (!cuda && target != "cpu")
    throw InvalidArgument("target must be 'cpu' or 'cuda', not '" + target +
                          "'");
  for (auto item : options) {
    std::string name = nb::cast<std::string>(item.first);
    nb::handle value = item.second;
    auto wrongType = [&](const char *wanted) {
      return InvalidArgument("option '" + name + "' must be " + wanted +
                             ", not " +
                             nb::cast<std::string>(nb::repr(value)));
    };
    // Exactly the Python type asked for: no float or bool as an int, no
    // int as a bool.
    auto integer = [&] {
      if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
        throw wrongType("an int");
      return nb::cast<int64_t>(value);
    };
    auto text = [&] {
      if (!PyUnicode_Check(value.ptr()))
        throw wrongType("a str");
      return nb::cast<std::string>(value);
    };
    auto truth = [&] {
      if (!PyBool_Check(value.ptr()))
        throw wrongType("True or False");
      return value.ptr() == Py_True;
    };
    if (name == "strategy")
      cpu.strategy = gpu.strategy = text();
    else if (name == "query_tile")
      cpu.queryTile = gpu.queryTile = integer();
    else if (name == "key_tile")
      cpu.keyTile = gpu.keyTile = integer();
    else if (name == "split_k")
      cpu.splitK = gpu.splitK = integer();
    else if (name == "linear_form")
      cpu.linearForm = gpu.linearForm = text();
    else if (name == "linear_chunk")
      cpu.linearChunk = gpu.linearChunk = integer();
    else if (name == "cpu" && !cuda)
      result.cpu = cpu.cpu = text();
    else if (name == "features" && !cuda)
      result.features = cpu.features = text();
    else if (name == "parallel" && !cuda)
      cpu.parallel = truth();
    else if (name == "opt_level") {
      int64_t level = integer();
      if (level < 0 || level > 3)
        throw InvalidArgument("option 'opt_level' must be 0, 1, 2 or 3, not " +
                              std::to_string(level));
      result.optLevel = unsigned(level);
    }
    else if (name == "gpu_chip" && cuda)
      gpu.chip = text();
    else if (name == "tensor_cores" && cuda)
      gpu.tensorCores = truth();
    else
      throw InvalidArgument(
          "unknown option '" + name + "' for target '" + target +
          "'; the options are strategy, query_tile, key_tile, split_k, "
          "linear_form, linear_chunk, opt_level and " +
          (cuda ? "gpu_chip, tensor_cores" : "cpu, features, parallel"));
  }
  if (cuda)
    result.gpu = gpu;
  return result;
}

/// A compiled module (the runtime's handle) and its target.
struct CompiledModule {
  attn::Module module;
  std::string target;
};

/// The generated code calls the runtime's allocation hooks, which the JIT
/// resolves in the process's global scope; Python loads extensions (and
/// their libraries) locally, so the runtime is promoted to global once.
void exposeRuntimeSymbols() {
  static std::once_flag once;
  std::call_once(once, [] {
    Dl_info info;
    if (dladdr(reinterpret_cast<void *>(&attn_runtime_version), &info) &&
        info.dli_fname)
      dlopen(info.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
  });
}

CompiledModule compile(const std::string &source, const std::string &name,
                       const std::string &target, const nb::dict &options) {
  exposeRuntimeSymbols();
  mlir::attn::CPUTargetOptions opts = targetOptions(target, options);
  return withModule(source, name, [&](mlir::ModuleOp module,
                                      std::string &diagnostics) {
    attn::Result<attn::Module> compiled =
        mlir::attn::compileForRuntime(module, opts);
    if (!compiled.ok())
      throw CompileError(name + ": " + compiled.status().message() +
                         (diagnostics.empty() ? "" : ":\n" + diagnostics));
    return CompiledModule{std::move(compiled).value(), target};
  });
}

/// The pass pipeline of `target` with these options, as attn-opt's named
/// pipeline runs it.
void buildPipeline(mlir::PassManager &pm, const std::string &target,
                   const nb::dict &options) {
  mlir::attn::CPUTargetOptions opts = targetOptions(target, options);
  if (opts.gpu)
    mlir::attn::buildLowerToNVVMPipeline(pm, *opts.gpu);
  else
    mlir::attn::buildLowerToLLVMCPUPipeline(pm, opts.pipeline);
}

/// The passes of a pipeline in the order they run (their command-line
/// names), from its textual form: "builtin.module(a,func.func(b{x=1}),c)"
/// gives a, b, c (a name followed by "(" anchors a nested pipeline; options
/// in braces are skipped).
std::vector<std::string> passNames(mlir::OpPassManager &pm) {
  std::string text;
  llvm::raw_string_ostream os(text);
  pm.printAsTextualPipeline(os);
  std::vector<std::string> names;
  std::string current;
  int braces = 0;
  for (char c : text) {
    if (braces > 0) {
      braces += c == '{' ? 1 : c == '}' ? -1 : 0;
      continue;
    }
    if (c == '{') {
      braces = 1;
    } else if (c == '(') {
      current.clear(); // an op anchor, not a pass
    } else if (c == ',' || c == ')') {
      if (!current.empty())
        names.push_back(current);
      current.clear();
    } else if (c != ' ') {
      current += c;
    }
  }
  if (!current.empty())
    names.push_back(current);
  return names;
}

std::vector<std::string> stages(const std::string &target,
                                const nb::dict &options) {
  mlir::PassManager pm(&context());
  buildPipeline(pm, target, options);
  return passNames(pm);
}

/// The module after the first run of pass `after` in the pipeline of
/// `target` (or the parsed module for "input").
std::string irAfter(const std::string &source, const std::string &name,
                    const std::string &after, const std::string &target,
                    const nb::dict &options) {
  return withModule(source, name, [&](mlir::ModuleOp module,
                                      std::string &diagnostics) {
    std::string text;
    llvm::raw_string_ostream os(text);
    if (after == "input") {
      module.print(os);
      return text;
    }
    std::vector<std::string> names = stages(target, options);
    if (std::find(names.begin(), names.end(), after) == names.end()) {
      std::string list;
      for (const std::string &n : names)
        list += (list.empty() ? "" : ", ") + n;
      throw InvalidArgument("no pass '" + after + "' in the " + target +
                            " pipeline; its passes are: input, " + list);
    }
    mlir::PassManager pm(&context());
    buildPipeline(pm, target, options);
    // The IR of the whole module after the named pass, once.
    bool printed = false;
    pm.getContext()->disableMultithreading();
    pm.enableIRPrinting(
        [](mlir::Pass *, mlir::Operation *) { return false; },
        [&](mlir::Pass *pass, mlir::Operation *) {
          if (printed || pass->getArgument() != after)
            return false;
          printed = true;
          return true;
        },
        /*printModuleScope=*/true, /*printAfterOnlyOnChange=*/false,
        /*printAfterOnlyOnFailure=*/false, os);
    mlir::LogicalResult result = pm.run(module);
    pm.getContext()->enableMultithreading();
    if (!printed && mlir::failed(result))
      throw CompileError(name + ": the pipeline failed before '" + after +
                         "':\n" + diagnostics);
    // Drop the banner line ("// -----// IR Dump After ... //----- //").
    size_t firstLine = text.find('\n');
    if (text.rfind("// -----//", 0) == 0 && firstLine != std::string::npos)
      text.erase(0, firstLine + 1);
    return text;
  });
}

/// Function `entry` of `source` evaluated by the float64 reference (the
/// one attn-run --check uses, written from the formulas) on `inputs`
/// (float64 arrays; integers as their values).
std::vector<nb::ndarray<nb::numpy, double>>
reference(const std::string &source, const std::string &name,
          const std::string &entry,
          const std::vector<nb::ndarray<double, nb::c_contig,
                                       nb::device::cpu>> &inputs) {
  return withModule(source, name, [&](mlir::ModuleOp module,
                                      std::string &diagnostics) {
    auto func = module.lookupSymbol<mlir::func::FuncOp>(entry);
    if (!func)
      throw InvalidArgument("no function @" + entry + " in " + name);
    std::vector<attn::reference::Tensor> arguments;
    for (const auto &input : inputs) {
      attn::reference::Tensor tensor;
      for (size_t d = 0; d < input.ndim(); ++d)
        tensor.shape.push_back(input.shape(d));
      tensor.data.assign(input.data(), input.data() + input.size());
      arguments.push_back(std::move(tensor));
    }
    attn::reference::Cost cost;
    auto results = mlir::attn::evaluateReference(func, arguments, &cost);
    if (mlir::failed(results))
      throw CompileError("the float64 reference cannot evaluate @" + entry +
                         ":\n" + diagnostics);
    std::vector<nb::ndarray<nb::numpy, double>> arrays;
    for (attn::reference::Tensor &result : *results) {
      auto *data = new std::vector<double>(std::move(result.data));
      nb::capsule owner(data, [](void *p) noexcept {
        delete static_cast<std::vector<double> *>(p);
      });
      std::vector<size_t> shape(result.shape.begin(), result.shape.end());
      arrays.emplace_back(data->data(), shape.size(), shape.data(), owner);
    }
    return arrays;
  });
}

// --- the block schedule ----------------------------------------------------

/// A mask attribute from its text (attn.masks' `mlir`), resolved for S
/// keys; null for "" (no mask).
mlir::attn::MaskAttrInterface parseMask(const std::string &text,
                                        int64_t keys) {
  if (text.empty())
    return {};
  std::string diagnostics;
  llvm::raw_string_ostream os(diagnostics);
  mlir::ScopedDiagnosticHandler handler(&context(), [&](mlir::Diagnostic &d) {
    os << d << "\n";
    return mlir::success();
  });
  mlir::Attribute parsed = mlir::parseAttribute(text, &context());
  auto mask = llvm::dyn_cast_or_null<mlir::attn::MaskAttrInterface>(parsed);
  if (!mask)
    throw InvalidArgument("not a mask attribute: " + text +
                          (diagnostics.empty() ? "" : ": " + diagnostics));
  mlir::FailureOr<mlir::Attribute> resolved = mask.resolveFor(keys);
  if (mlir::failed(resolved))
    throw InvalidArgument("the mask " + text + " cannot be resolved for S = " +
                          std::to_string(keys) +
                          (diagnostics.empty() ? "" : ": " + diagnostics));
  return llvm::cast<mlir::attn::MaskAttrInterface>(*resolved);
}

nb::ndarray<nb::numpy, uint8_t> byteMatrix(std::vector<uint8_t> cells,
                                           int64_t rows, int64_t columns) {
  auto *data = new std::vector<uint8_t>(std::move(cells));
  nb::capsule owner(data, [](void *p) noexcept {
    delete static_cast<std::vector<uint8_t> *>(p);
  });
  size_t shape[2] = {size_t(rows), size_t(columns)};
  return nb::ndarray<nb::numpy, uint8_t>(data->data(), 2, shape, owner);
}

/// The tiled lowerings' block schedule for one (batch row, head), as
/// attn-schedule evaluates it: the tiles (0 skipped, 1 partial, 2 full) and
/// what the lowering visits after cutting sparse masks into pieces.
nb::dict schedule(const std::string &maskText, int64_t queries, int64_t keys,
                  int64_t queryTile, int64_t keyTile, int64_t validKeys,
                  int64_t head, int64_t heads, int64_t kvHeads) {
  if (queries < 0 || keys < 0 || validKeys < 0 || validKeys > keys ||
      queryTile <= 0 || keyTile <= 0 || head < 0 || head >= heads ||
      kvHeads <= 0 || heads % kvHeads != 0)
    throw InvalidArgument(
        "schedule: want 0 <= valid <= S, positive tiles, 0 <= head < heads "
        "and heads a multiple of kv_heads");
  mlir::attn::MaskAttrInterface mask = parseMask(maskText, keys);
  std::string error;
  auto tiles = mlir::attn::evaluateSchedule(&context(), mask, queryTile,
                                            keyTile, queries, keys, validKeys,
                                            head, error);
  if (mlir::failed(tiles))
    throw InvalidArgument(error);
  mlir::attn::MaskAttrInterface declared;
  if (!maskText.empty())
    declared = llvm::cast<mlir::attn::MaskAttrInterface>(
        mlir::parseAttribute(maskText, &context()));
  auto lowered = mlir::attn::evaluateLoweredSchedule(
      &context(), declared, queryTile, keyTile, queries, keys, validKeys, head,
      heads, kvHeads, error);
  if (mlir::failed(lowered))
    throw InvalidArgument(error);
  nb::dict result;
  result["cells"] =
      byteMatrix(tiles->cells, tiles->queryTiles, tiles->keyTiles);
  result["full"] = tiles->count(mlir::attn::TileSchedule::Full);
  result["partial"] = tiles->count(mlir::attn::TileSchedule::Partial);
  result["pairs_computed"] = tiles->pairsComputed();
  result["lowered_tiles"] = lowered->tiles;
  result["lowered_full_tiles"] = lowered->fullTiles;
  result["lowered_pairs_computed"] = lowered->pairsComputed;
  result["pieces"] = lowered->pieces;
  return result;
}

/// The mask element by element: 1 where query i may see key j.
nb::ndarray<nb::numpy, uint8_t> maskElements(const std::string &maskText,
                                             int64_t queries, int64_t keys,
                                             int64_t validKeys, int64_t head) {
  if (queries < 0 || keys < 0 || validKeys < 0 || validKeys > keys ||
      queries * keys > (int64_t(1) << 26))
    throw InvalidArgument("mask elements: want 0 <= valid <= S and at most "
                          "2^26 pairs");
  std::string error;
  auto cells = mlir::attn::evaluateMaskElements(
      &context(), parseMask(maskText, keys), queries, keys, validKeys, head,
      error);
  if (mlir::failed(cells))
    throw InvalidArgument(error);
  cells->resize(size_t(queries * keys));
  return byteMatrix(std::move(*cells), queries, keys);
}

// --- calling ----------------------------------------------------------------

/// Any CPU array, read-only ones included (the runtime never writes an
/// input).
using AnyArray = nb::ndarray<nb::ro, nb::device::cpu>;

attn_dtype_t dtypeOf(const nb::dlpack::dtype &dtype, const std::string &arg) {
  using Code = nb::dlpack::dtype_code;
  auto code = Code(dtype.code);
  if (dtype.lanes == 1) {
    if (code == Code::Float && dtype.bits == 32)
      return ATTN_DTYPE_F32;
    if (code == Code::Float && dtype.bits == 16)
      return ATTN_DTYPE_F16;
    if (code == Code::Bfloat && dtype.bits == 16)
      return ATTN_DTYPE_BF16;
    if (code == Code::Float && dtype.bits == 64)
      return ATTN_DTYPE_F64;
    if (code == Code::Int && dtype.bits == 32)
      return ATTN_DTYPE_I32;
    if (code == Code::Int && dtype.bits == 64)
      return ATTN_DTYPE_I64;
  }
  throw InvalidArgument("argument '" + arg +
                        "': unsupported element type (attn takes float32, "
                        "float16, bfloat16, float64, int32, int64)");
}

nb::dlpack::dtype dlpackOf(attn_dtype_t dtype) {
  switch (dtype) {
  case ATTN_DTYPE_F32:
    return nb::dtype<float>();
  case ATTN_DTYPE_F64:
    return nb::dtype<double>();
  case ATTN_DTYPE_I32:
    return nb::dtype<int32_t>();
  case ATTN_DTYPE_I64:
    return nb::dtype<int64_t>();
  case ATTN_DTYPE_F16:
    return {uint8_t(nb::dlpack::dtype_code::Float), 16, 1};
  case ATTN_DTYPE_BF16:
    return {uint8_t(nb::dlpack::dtype_code::Bfloat), 16, 1};
  default:
    throw RuntimeFailure("an output of an unknown element type");
  }
}

/// An input as the runtime sees it: the array's own memory, never a copy.
/// `dtypeOverride` reads the memory as another element type of the same
/// size (numpy's bfloat16 from ml_dtypes travels as uint16).
struct InputView {
  attn_tensor_t tensor;
  std::vector<int64_t> shape, strides;
};

InputView viewOf(const AnyArray &array, const std::string &arg,
                 std::optional<std::string> dtypeOverride) {
  InputView view;
  view.tensor.data = const_cast<void *>(array.data());
  if (dtypeOverride) {
    check(attn::Status::fromC(
        attn_dtype_from_name(dtypeOverride->c_str(), &view.tensor.dtype)));
    if (attn_dtype_size(view.tensor.dtype) * 8 != array.dtype().bits)
      throw InvalidArgument("argument '" + arg + "': a " +
                            *dtypeOverride + " view of elements of " +
                            std::to_string(array.dtype().bits) + " bits");
  } else {
    view.tensor.dtype = dtypeOf(array.dtype(), arg);
  }
  for (size_t d = 0; d < array.ndim(); ++d) {
    view.shape.push_back(array.shape(d));
    view.strides.push_back(array.stride(d));
  }
  view.tensor.rank = int32_t(array.ndim());
  view.tensor.shape = view.shape.data();
  view.tensor.strides = view.strides.data();
  return view;
}

/// Memory for one output: 64-byte aligned, freed by the array's capsule.
void *allocateOutput(size_t bytes) {
  size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  void *data = std::aligned_alloc(64, rounded);
  if (!data)
    throw std::bad_alloc();
  return data;
}

nb::object wrapOutput(void *data, attn_dtype_t dtype,
                      const std::vector<int64_t> &shape,
                      const std::string &framework) {
  nb::capsule owner(data, [](void *p) noexcept { std::free(p); });
  std::vector<size_t> sizes(shape.begin(), shape.end());
  nb::dlpack::dtype element = dlpackOf(dtype);
  if (framework == "torch")
    return nb::cast(nb::ndarray<nb::pytorch, nb::device::cpu>(
        data, sizes.size(), sizes.data(), owner, nullptr, element));
  // numpy has no bfloat16: its bits as uint16 (attn/_arrays.py views them
  // as ml_dtypes.bfloat16).
  if (dtype == ATTN_DTYPE_BF16)
    element = nb::dtype<uint16_t>();
  return nb::cast(nb::ndarray<nb::numpy, nb::device::cpu>(
      data, sizes.size(), sizes.data(), owner, nullptr, element));
}

struct FunctionHandle {
  CompiledModule module; // keeps the code alive
  attn::Function function;

  std::vector<InputView>
  views(const std::vector<AnyArray> &inputs,
        const std::vector<std::optional<std::string>> &dtypes) const {
    size_t expected = function.numInputs();
    if (inputs.size() != expected)
      throw InvalidArgument(function.name() + " takes " +
                            std::to_string(expected) + " arguments (" +
                            function.signature() + "), not " +
                            std::to_string(inputs.size()));
    std::vector<InputView> views;
    for (size_t i = 0; i < inputs.size(); ++i)
      views.push_back(viewOf(inputs[i], take(function.input(i)).name,
                             i < dtypes.size() ? dtypes[i] : std::nullopt));
    return views;
  }

  /// Runs the function; the outputs in `framework`'s arrays, and the
  /// invocation's allocation statistics.
  std::tuple<std::vector<nb::object>, nb::dict>
  call(const std::vector<AnyArray> &inputs,
       const std::vector<std::optional<std::string>> &dtypes,
       const std::string &framework) const {
    std::vector<InputView> inputViews = views(inputs, dtypes);
    std::vector<attn_tensor_t> tensors;
    for (InputView &view : inputViews)
      tensors.push_back(view.tensor);
    std::vector<std::vector<int64_t>> shapes =
        take(function.inferOutputShapes(tensors));
    std::vector<void *> buffers;
    std::vector<attn_tensor_t> outputs;
    std::vector<attn_dtype_t> outputTypes;
    try {
      for (size_t i = 0; i < shapes.size(); ++i) {
        attn::ArgInfo info = take(function.output(i));
        int64_t count = attn::elementCount(shapes[i]);
        if (count < 0)
          throw InvalidArgument(function.name() + ": output '" + info.name +
                                "' of shape " + attn::formatShape(shapes[i]) +
                                " is too large");
        buffers.push_back(
            allocateOutput(size_t(count) * attn_dtype_size(info.dtype)));
        outputTypes.push_back(info.dtype);
        outputs.push_back({buffers.back(), info.dtype,
                           int32_t(shapes[i].size()), shapes[i].data(),
                           nullptr});
      }
      attn_invoke_stats_t stats{};
      {
        // The generated code runs without the GIL (it may take a while and
        // uses every core); the arrays stay alive in the caller's frame.
        nb::gil_scoped_release release;
        check(function.invoke(tensors, outputs, &stats));
      }
      std::vector<nb::object> results;
      for (size_t i = 0; i < outputs.size(); ++i) {
        results.push_back(
            wrapOutput(buffers[i], outputTypes[i], shapes[i], framework));
        buffers[i] = nullptr; // owned by the array now
      }
      nb::dict statistics;
      statistics["peak_bytes"] = stats.peak_bytes;
      statistics["allocation_count"] = stats.allocation_count;
      return {results, statistics};
    } catch (...) {
      for (void *buffer : buffers)
        std::free(buffer);
      throw;
    }
  }

  /// Seconds of each of `repeats` calls made from C++ as an application
  /// makes them (attn::Function::call: output shapes, allocation, invoke),
  /// on the same inputs: the baseline of the Python call's overhead.
  std::vector<double>
  timeNativeCalls(const std::vector<AnyArray> &inputs,
                  const std::vector<std::optional<std::string>> &dtypes,
                  int repeats) const {
    std::vector<InputView> inputViews = views(inputs, dtypes);
    std::vector<attn_tensor_t> tensors;
    for (InputView &view : inputViews)
      tensors.push_back(view.tensor);
    std::vector<double> seconds;
    nb::gil_scoped_release release;
    for (int r = 0; r < repeats; ++r) {
      auto start = std::chrono::steady_clock::now();
      auto outputs = function.call(tensors);
      auto stop = std::chrono::steady_clock::now();
      check(outputs.status());
      seconds.push_back(std::chrono::duration<double>(stop - start).count());
    }
    return seconds;
  }
};

nb::dict argInfo(const attn::ArgInfo &info) {
  nb::dict result;
  result["name"] = info.name;
  result["dtype"] = std::string(attn::dtypeName(info.dtype));
  nb::list dims;
  for (const attn::Dim &dim : info.dims) {
    if (dim.size >= 0)
      dims.append(dim.size);
    else
      dims.append(dim.symbol);
  }
  result["dims"] = dims;
  result["bound"] = info.bound.empty() ? nb::none() : nb::cast(info.bound);
  return result;
}

} // namespace

NB_MODULE(_attn, m) {
  m.doc() = "attn's compiler and runtime (the native half of the attn "
            "package; use `import attn`)";
  // attn.Error, and its two kinds: InvalidArgument is also a ValueError,
  // CompileError a RuntimeError (as Error is).
  static PyObject *error = PyErr_NewExceptionWithDoc(
      "attn.Error", "Any error of attn.", PyExc_RuntimeError, nullptr);
  static PyObject *invalidArgument = PyErr_NewExceptionWithDoc(
      "attn.InvalidArgument",
      "What the runtime or the package refuses: an argument's type, shape "
      "or value, an option; the message names the argument and the shapes.",
      nb::make_tuple(nb::handle(error), nb::handle(PyExc_ValueError)).ptr(),
      nullptr);
  static PyObject *compileError = PyErr_NewExceptionWithDoc(
      "attn.CompileError",
      "IR that does not parse, verify or lower; the message holds MLIR's "
      "diagnostics (file:line:col: error: ...).",
      error, nullptr);
  m.attr("Error") = nb::handle(error);
  m.attr("InvalidArgument") = nb::handle(invalidArgument);
  m.attr("CompileError") = nb::handle(compileError);
  nb::register_exception_translator([](const std::exception_ptr &p, void *) {
    try {
      std::rethrow_exception(p);
    } catch (const InvalidArgument &e) {
      PyErr_SetString(invalidArgument, e.what());
    } catch (const CompileError &e) {
      PyErr_SetString(compileError, e.what());
    } catch (const RuntimeFailure &e) {
      PyErr_SetString(error, e.what());
    }
  });

  m.def("runtime_version", [] { return std::string(attn_runtime_version()); });

  nb::class_<CompiledModule>(m, "Module")
      .def_prop_ro("target",
                   [](const CompiledModule &self) { return self.target; })
      .def_prop_ro("signature",
                   [](const CompiledModule &self) {
                     return self.module.signatureText();
                   })
      .def("function_names", [](const CompiledModule &self) {
        std::vector<std::string> names;
        for (const attn::Function &function : self.module.functions())
          names.push_back(function.name());
        return names;
      });

  nb::class_<FunctionHandle>(m, "Function")
      .def_prop_ro("name",
                   [](const FunctionHandle &self) {
                     return self.function.name();
                   })
      .def_prop_ro("signature",
                   [](const FunctionHandle &self) {
                     return self.function.signature();
                   })
      .def_prop_ro("inputs",
                   [](const FunctionHandle &self) {
                     nb::list result;
                     for (size_t i = 0; i < self.function.numInputs(); ++i)
                       result.append(argInfo(take(self.function.input(i))));
                     return result;
                   })
      .def_prop_ro("outputs",
                   [](const FunctionHandle &self) {
                     nb::list result;
                     for (size_t i = 0; i < self.function.numOutputs(); ++i)
                       result.append(argInfo(take(self.function.output(i))));
                     return result;
                   })
      .def(
          "output_shapes",
          [](const FunctionHandle &self, const std::vector<AnyArray> &inputs,
             const std::vector<std::optional<std::string>> &dtypes) {
            std::vector<InputView> views = self.views(inputs, dtypes);
            std::vector<attn_tensor_t> tensors;
            for (InputView &view : views)
              tensors.push_back(view.tensor);
            return take(self.function.inferOutputShapes(tensors));
          },
          nb::arg("inputs"), nb::arg("dtypes"))
      .def("time_native_calls", &FunctionHandle::timeNativeCalls,
           nb::arg("inputs"), nb::arg("dtypes"), nb::arg("repeats"))
      .def("call", &FunctionHandle::call, nb::arg("inputs"),
           nb::arg("dtypes"), nb::arg("framework"))
      .def(
          "views",
          [](const FunctionHandle &self, const std::vector<AnyArray> &inputs,
             const std::vector<std::optional<std::string>> &dtypes) {
            nb::list result;
            for (const InputView &view : self.views(inputs, dtypes)) {
              nb::dict entry;
              entry["data"] = reinterpret_cast<uintptr_t>(view.tensor.data);
              entry["dtype"] =
                  std::string(attn::dtypeName(view.tensor.dtype));
              entry["shape"] = nb::tuple(nb::cast(view.shape));
              entry["strides"] = nb::tuple(nb::cast(view.strides));
              result.append(entry);
            }
            return result;
          },
          nb::arg("inputs"), nb::arg("dtypes"));

  m.def("compile", &compile, nb::arg("source"), nb::arg("name"),
        nb::arg("target"), nb::arg("options"));
  m.def(
      "function",
      [](const CompiledModule &module, const std::string &name) {
        return FunctionHandle{module, take(module.module.lookup(name))};
      },
      nb::arg("module"), nb::arg("name"));
  m.def("reference", &reference, nb::arg("source"), nb::arg("name"),
        nb::arg("entry"), nb::arg("inputs"));
  m.def("schedule", &schedule, nb::arg("mask"), nb::arg("queries"),
        nb::arg("keys"), nb::arg("query_tile"), nb::arg("key_tile"),
        nb::arg("valid"), nb::arg("head"), nb::arg("heads"),
        nb::arg("kv_heads"));
  m.def("mask_elements", &maskElements, nb::arg("mask"), nb::arg("queries"),
        nb::arg("keys"), nb::arg("valid"), nb::arg("head"));
  m.def("stages", &stages, nb::arg("target"), nb::arg("options"));
  m.def("ir_after", &irAfter, nb::arg("source"), nb::arg("name"),
        nb::arg("after"), nb::arg("target"), nb::arg("options"));
}
