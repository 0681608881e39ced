//===- attn-run.cpp - compile, run, check and time an attn module ---------===//
//
//   attn-run examples/04_causal_attention.mlir --random 7 \
//       --shape q=2x8x100x64 --shape k=2x8x130x64 --check --repeat 10 --stats
//
// The module is compiled in-process (the same pipeline as attn-translate) and
// run through the runtime, which checks the shapes of the call. Inputs come
// from .npy files or from a seeded generator; --check compares every output
// with the float64 reference evaluated on the same inputs.
//
//===----------------------------------------------------------------------===//

#include "ToolSupport.h"
#include "attn/Conversion/AttnToCPU/Passes.h"
#include "attn/Dialect/Attn/IR/AttnOps.h"
#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Reference/Evaluate.h"
#include "attn/Reference/HostTensors.h"
#include "attn/Target/CPU.h"
#include "attn/Target/Schedule.h"
#include "attn/npy.hpp"

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <limits>
#include <map>
#include <set>
#include <unistd.h>

using namespace mlir;
namespace tools = mlir::attn::tools;
namespace cl = llvm::cl;
namespace ref = ::attn::reference;
using ::attn::HostTensor;

static cl::OptionCategory runCategory("attn-run options");

// Not cl::Required, so that --cpu=help needs no module (checkOptions asks
// for one otherwise).
static cl::opt<std::string> inputFile(cl::Positional, cl::cat(runCategory),
                                      cl::desc("<module.mlir>"));
static cl::opt<std::string>
    entryName("entry", cl::cat(runCategory),
              cl::desc("Function to run (default: the only one)"));
static cl::list<std::string>
    inputFiles("input", cl::cat(runCategory),
               cl::desc("An input from a .npy file: NAME=FILE"));
static cl::list<std::string>
    valueSpecs("values", cl::cat(runCategory),
               cl::desc("A rank-1 input given inline: NAME=V0,V1,... (e.g. "
                        "key_lengths=0,17,33)"));
static cl::list<std::string>
    shapeSpecs("shape", cl::cat(runCategory),
               cl::desc("The shape of a random input: NAME=AxBxC (sizes of "
                        "dynamic dimensions come from here)"));
static cl::opt<uint64_t>
    randomSeed("random", cl::cat(runCategory),
               cl::desc("Generate missing inputs from this seed"));
static cl::opt<std::string>
    saveInputsDir("save-inputs", cl::cat(runCategory),
                  cl::desc("Write every input as DIR/NAME.npy"));
static cl::opt<bool> convertInputs(
    "convert-inputs", cl::cat(runCategory),
    cl::desc("Convert a .npy input of another floating type (f64, f32, f16, "
             "bf16) to the one its argument takes, rounding to nearest even "
             "(without it, a file of another dtype is an error)"));
static cl::opt<std::string> saveReferenceDir(
    "save-reference", cl::cat(runCategory),
    cl::desc("Write the float64 reference of every output as DIR/NAME.npy "
             "(implies --check)"));
static cl::opt<std::string>
    runTarget("target", cl::cat(runCategory),
              cl::desc("Where to run: cpu (default) or cuda (host code on "
                       "this CPU, kernels on the first CUDA GPU)"),
              cl::init("cpu"));
static cl::opt<std::string>
    gpuChip("gpu-chip", cl::cat(runCategory),
            cl::desc("GPU compute capability to compile for (default: "
                     "the GPU's own, else sm_90)"));
static cl::opt<bool> gpuTensorCores(
    "gpu-tensor-cores", cl::cat(runCategory),
    cl::desc("Run f16/bf16 attention on the tensor cores (mma.sync, sm_80+; "
             "not yet checked on a GPU); --query-tile and --key-tile then "
             "set that kernel's tiles"));
static cl::list<std::string>
    outputFiles("output", cl::cat(runCategory),
                cl::desc("Write an output: FILE (the first) or NAME=FILE"));
static cl::opt<bool> check("check", cl::cat(runCategory),
                           cl::desc("Compare with the float64 reference; exit "
                                    "1 beyond the tolerance"));
static cl::opt<double> tolerance(
    "tolerance", cl::cat(runCategory),
    cl::desc("Largest accepted error max|out - ref| / max(1, max|ref|) "
             "(default: 1e-4 for f32, 1e-2 for f16, 5e-2 for bf16)"),
    cl::init(0));
static cl::opt<unsigned> repeat("repeat", cl::cat(runCategory),
                                cl::desc("Run N times and report the median"),
                                cl::init(1));
// Named --stats in main(), once LLVM's --stats (its pass statistics, which
// mean nothing here) has made way.
static cl::opt<bool> printStats(
    "attn-stats", cl::cat(runCategory),
    cl::desc("Print one JSON line of statistics (time, GFLOP/s, peak bytes "
             "allocated by the generated code, tiles visited, max error)"));
static cl::opt<std::string>
    targetCPU("cpu", cl::cat(runCategory),
              cl::desc("Target CPU (default: host, with its features)"),
              cl::init("host"));
static cl::opt<std::string> targetFeatures(
    "mattr", cl::cat(runCategory),
    cl::desc("Target features added to the CPU's, in LLVM's syntax: "
             "-avx512f compiles for AVX2"),
    cl::init(""));
static cl::opt<std::string> strategy(
    "strategy", cl::cat(runCategory),
    cl::desc("How attention is computed: auto (the default: materialized when "
             "the whole score matrix is one tile, decode for a few queries "
             "per K/V head, flash otherwise), flash, materialized or decode"),
    cl::init("auto"));
static cl::opt<int64_t>
    splitK("split-k", cl::cat(runCategory),
           cl::desc("Key chunks per (batch row, K/V head) of the decode "
                    "strategy: 1 off, 0 (the default) chosen from the cache "
                    "length and the cores (multiprocessors on a GPU)"),
           cl::init(0));
static cl::opt<std::string>
    linearForm("linear-form", cl::cat(runCategory),
               cl::desc("How linear attention is computed: auto (the "
                        "default), parallel, chunked or recurrent"),
               cl::init("auto"));
static cl::opt<int64_t>
    linearChunk("linear-chunk", cl::cat(runCategory),
                cl::desc("Tokens per chunk of linear attention (64)"),
                cl::init(64));
static cl::opt<int64_t> queryTile("query-tile", cl::cat(runCategory),
                                  cl::desc("Query rows per flash tile"),
                                  cl::init(64));
static cl::opt<int64_t> keyTile("key-tile", cl::cat(runCategory),
                                cl::desc("Keys per flash tile"), cl::init(64));
static cl::opt<bool>
    sequential("sequential", cl::cat(runCategory),
               cl::desc("Run the tiles on one core (default: all cores)"));
static cl::opt<unsigned> decodeSteps(
    "decode-steps", cl::cat(runCategory),
    cl::desc("Drive a decode function (inputs q, k, v, key_lengths) as a "
             "model would: prefill a K/V cache, then run this many steps of "
             "N new tokens, checking each step against the reference on the "
             "whole sequence (k's --shape gives the cache: B x Hkv x S_max x "
             "D)"),
    cl::init(0));
static cl::list<int64_t>
    prefillLengths("prefill", cl::cat(runCategory), cl::CommaSeparated,
                   cl::desc("Positions put in the cache before the first "
                            "decode step, per batch row (one value: all "
                            "rows)"));
static cl::opt<int64_t>
    rollingWindow("rolling-window", cl::cat(runCategory),
                  cl::desc("Decode with a rolling cache for a model that "
                           "attends the last W positions"),
                  cl::init(0));
static cl::opt<unsigned> optLevel("O", cl::cat(runCategory),
                                  cl::desc("LLVM optimization level"),
                                  cl::Prefix, cl::init(3));

namespace {

[[noreturn]] void fail(const std::string &message) {
  llvm::errs() << "attn-run: " << message << "\n";
  std::exit(tools::kError);
}

void failIf(const ::attn::Status &status, const std::string &context = "") {
  if (!status.ok())
    fail((context.empty() ? "" : context + ": ") + status.message());
}

/// `folder` for the files of `option`: it may exist, or be made in a folder
/// that exists; nothing above it is made (a typo in a path should not
/// create a tree of folders).
void createOutputFolder(const std::string &folder, StringRef option) {
  if (llvm::sys::fs::is_directory(folder))
    return;
  if (llvm::sys::fs::exists(folder))
    fail("--" + option.str() + " " + folder + ": it is a file, not a folder");
  if (std::error_code ec = llvm::sys::fs::create_directory(folder))
    fail("--" + option.str() + " " + folder + ": cannot make the folder (" +
         ec.message() + ")");
}

/// "NAME=VALUE" -> (NAME, VALUE).
std::pair<std::string, std::string> splitAssignment(StringRef text,
                                                    StringRef option) {
  auto [name, value] = text.split('=');
  if (name.empty() || value.empty())
    fail("--" + option.str() + " expects NAME=VALUE, got '" + text.str() + "'");
  return {name.str(), value.str()};
}

std::string shapeText(const std::vector<int64_t> &shape) {
  return ::attn::formatShape(shape);
}

/// A decimal integer, all of `text`: no fraction, no exponent, no sign
/// beyond a leading one, in the range of int64.
std::optional<int64_t> parseInteger(StringRef text) {
  int64_t value;
  if (text.empty() || text.getAsInteger(10, value))
    return std::nullopt;
  return value;
}

std::vector<int64_t> parseShape(StringRef text, StringRef spec) {
  std::vector<int64_t> shape;
  if (text == "scalar")
    return shape;
  SmallVector<StringRef> parts;
  text.split(parts, 'x');
  for (StringRef part : parts) {
    std::optional<int64_t> size = parseInteger(part);
    if (!size || *size < 0)
      fail("--shape " + spec.str() + ": '" + part.str() +
           "' is not a size; sizes are non-negative integers separated by "
           "'x' (or 'scalar' for rank 0)");
    shape.push_back(*size);
  }
  return shape;
}

/// The bytes of memory of this machine: no tensor may need more.
uint64_t physicalMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), pageSize = sysconf(_SC_PAGE_SIZE);
  return pages > 0 && pageSize > 0 ? uint64_t(pages) * uint64_t(pageSize)
                                   : UINT64_MAX;
}

/// A zero-filled tensor, or a failure naming `what` (and where its sizes
/// came from) when it would need more than this machine's memory: the
/// allocation must never reach LLVM's out-of-memory handler, which aborts.
HostTensor allocate(attn_dtype_t dtype, const std::vector<int64_t> &shape,
                    const std::string &what) {
  int64_t count = ::attn::elementCount(shape);
  uint64_t bytes;
  if (count < 0 || __builtin_mul_overflow(uint64_t(count),
                                          uint64_t(attn_dtype_size(dtype)),
                                          &bytes) ||
      bytes > physicalMemory())
    fail(what + " of shape " + shapeText(shape) + " needs " +
         (count < 0 ? std::string("more than 2^63 elements")
                    : std::to_string(bytes) + " bytes") +
         ", more than the " + std::to_string(physicalMemory()) +
         " bytes of memory of this machine");
  return HostTensor(dtype, shape);
}

//===----------------------------------------------------------------------===//
// Inputs
//===----------------------------------------------------------------------===//

/// Sizes of the signature's symbols, bound from given shapes and files, and
/// the option that bound each (for the message of a conflict).
class SymbolSizes {
public:
  void bind(const ::attn::ArgInfo &arg, const std::vector<int64_t> &shape,
            StringRef origin) {
    if (shape.size() != arg.dims.size())
      fail(origin.str() + " gives '" + arg.name + "' the shape " +
           shapeText(shape) + " of rank " + std::to_string(shape.size()) +
           ", but it has rank " + std::to_string(arg.dims.size()));
    for (auto [d, dim] : llvm::enumerate(arg.dims)) {
      if (dim.isStatic()) {
        if (dim.size != shape[d])
          fail(origin.str() + " gives '" + arg.name + "' the shape " +
               shapeText(shape) + ", but its dimension " + std::to_string(d) +
               " is " + std::to_string(dim.size));
        continue;
      }
      auto [it, inserted] =
          sizes.try_emplace(dim.symbol, Binding{shape[d], origin.str()});
      if (!inserted && it->second.size != shape[d])
        fail(origin.str() + " gives '" + arg.name + "' the shape " +
             shapeText(shape) + " with " + dim.symbol + " = " +
             std::to_string(shape[d]) + ", but " + it->second.origin +
             " gives " + dim.symbol + " = " +
             std::to_string(it->second.size));
    }
  }

  std::vector<int64_t> shapeOf(const ::attn::ArgInfo &arg) const {
    std::vector<int64_t> shape;
    for (auto [d, dim] : llvm::enumerate(arg.dims)) {
      if (dim.isStatic()) {
        shape.push_back(dim.size);
        continue;
      }
      auto it = sizes.find(dim.symbol);
      if (it == sizes.end())
        fail("the size " + dim.symbol + " of dimension " + std::to_string(d) +
             " of '" + arg.name + "' is unknown: give it with --shape " +
             arg.name + "=...");
      shape.push_back(it->second.size);
    }
    return shape;
  }

  /// The options that gave the dynamic sizes of `arg`, for a message.
  std::string originsOf(const ::attn::ArgInfo &arg) const {
    std::set<std::string> origins;
    for (const auto &dim : arg.dims)
      if (auto it = sizes.find(dim.symbol); !dim.isStatic() && it != sizes.end())
        origins.insert(it->second.origin);
    std::string text;
    for (const std::string &origin : origins)
      text += (text.empty() ? "" : ", ") + origin;
    return text;
  }

  int64_t valueOf(const std::string &symbol) const {
    if (std::optional<int64_t> size = parseInteger(symbol))
      return *size;
    auto it = sizes.find(symbol);
    if (it == sizes.end())
      fail("the size " + symbol + " is unknown: give it with --shape");
    return it->second.size;
  }

private:
  struct Binding {
    int64_t size;
    std::string origin;
  };
  std::map<std::string, Binding> sizes;
};

/// The elements of `--values NAME=V0,V1,...` for an input of `dtype`:
/// integers in the dtype's range for integer inputs (1.5, 5e1 and 2^31 are
/// refused for i32), numbers for the others.
HostTensor parseValues(const std::string &spec, const std::string &name,
                       const std::string &text, attn_dtype_t dtype) {
  SmallVector<StringRef> items;
  StringRef(text).split(items, ',');
  HostTensor tensor = allocate(dtype, {int64_t(items.size())},
                               "--values " + name);
  bool integer = dtype == ATTN_DTYPE_I32 || dtype == ATTN_DTYPE_I64;
  for (auto [e, item] : llvm::enumerate(items)) {
    item = item.trim();
    if (integer) {
      std::optional<int64_t> value = parseInteger(item);
      int64_t lo = dtype == ATTN_DTYPE_I32 ? INT32_MIN : INT64_MIN;
      int64_t hi = dtype == ATTN_DTYPE_I32 ? INT32_MAX : INT64_MAX;
      bool digits = !item.empty() && llvm::all_of(item.drop_front(
                                                      item[0] == '-' ||
                                                      item[0] == '+'),
                                                  llvm::isDigit);
      if (!value && !digits)
        fail("--values " + spec + ": '" + item.str() + "' is not an integer, "
             "and '" + name + "' takes " + ::attn::dtypeName(dtype));
      if (!value || *value < lo || *value > hi)
        fail("--values " + spec + ": " + item.str() + " is outside the range "
             "of " + ::attn::dtypeName(dtype) + " ('" + name + "'), [" +
             std::to_string(lo) + ", " + std::to_string(hi) + "]");
      if (dtype == ATTN_DTYPE_I32)
        tensor.data<int32_t>()[e] = int32_t(*value);
      else
        tensor.data<int64_t>()[e] = *value;
      continue;
    }
    double value;
    if (item.empty() || item.getAsDouble(value))
      fail("--values " + spec + ": '" + item.str() + "' is not a number");
    // A finite number the element type rounds to infinity is a mistake (an
    // infinity or a NaN written as such is taken).
    double largest = dtype == ATTN_DTYPE_F16    ? 65504.0
                     : dtype == ATTN_DTYPE_BF16 ? 3.3895313892515355e38
                     : dtype == ATTN_DTYPE_F32
                         ? double(std::numeric_limits<float>::max())
                         : std::numeric_limits<double>::max();
    if (std::isfinite(value) && std::fabs(value) > largest)
      fail("--values " + spec + ": " + item.str() + " is beyond the largest " +
           ::attn::dtypeName(dtype) + " ('" + name + "'), " +
           llvm::formatv("{0:e}", largest).str());
    ref::storeElement(tensor, int64_t(e), value);
  }
  return tensor;
}

/// A .npy input of `arg`: of its element type, or of another floating type
/// converted with --convert-inputs (rounded to nearest even).
HostTensor readInput(const std::string &path, const ::attn::ArgInfo &arg) {
  HostTensor tensor;
  failIf(::attn::npy::read(path, tensor), "--input " + arg.name);
  if (tensor.dtype() == arg.dtype)
    return tensor;
  auto isFloat = [](attn_dtype_t dtype) {
    return dtype == ATTN_DTYPE_F32 || dtype == ATTN_DTYPE_F64 ||
           dtype == ATTN_DTYPE_F16 || dtype == ATTN_DTYPE_BF16;
  };
  std::string mismatch = path + " holds " +
                         ::attn::dtypeName(tensor.dtype()) +
                         " elements, but '" + arg.name + "' takes " +
                         ::attn::dtypeName(arg.dtype);
  if (!isFloat(tensor.dtype()) || !isFloat(arg.dtype))
    fail(mismatch);
  if (!convertInputs)
    fail(mismatch + " (--convert-inputs converts floating-point files, "
                    "rounding to the nearest " +
         ::attn::dtypeName(arg.dtype) + ")");
  HostTensor converted =
      allocate(arg.dtype, tensor.shape(), "input '" + arg.name + "'");
  for (int64_t i = 0; i < tensor.numElements(); ++i)
    ref::storeElement(converted, i, ref::loadElement(tensor, i));
  return converted;
}

std::vector<HostTensor> prepareInputs(const ::attn::Function &function) {
  std::vector<::attn::ArgInfo> args;
  std::map<std::string, size_t> indexOf;
  std::string names;
  for (size_t i = 0; i < function.numInputs(); ++i) {
    auto info = function.input(i);
    failIf(info.status());
    indexOf[info->name] = i;
    names += (i ? ", " : "") + info->name;
    args.push_back(*info);
  }
  auto argIndex = [&](const std::string &name, StringRef option) {
    auto it = indexOf.find(name);
    if (it == indexOf.end())
      fail("--" + option.str() + " names '" + name + "', but the inputs of " +
           function.name() + " are " + names);
    return it->second;
  };

  std::vector<HostTensor> tensors(args.size());
  // The option that gave each input (its value, or its shape), once.
  std::vector<std::string> givenBy(args.size()), shapedBy(args.size());
  auto give = [&](size_t i, std::string origin) {
    if (!givenBy[i].empty())
      fail(origin + " gives '" + args[i].name + "' again, after " +
           givenBy[i]);
    givenBy[i] = std::move(origin);
  };
  SymbolSizes symbols;
  for (const std::string &spec : inputFiles) {
    auto [name, path] = splitAssignment(spec, "input");
    size_t i = argIndex(name, "input");
    give(i, "--input " + spec);
    tensors[i] = readInput(path, args[i]);
    symbols.bind(args[i], tensors[i].shape(), "--input " + spec);
  }
  for (const std::string &spec : valueSpecs) {
    auto [name, text] = splitAssignment(spec, "values");
    size_t i = argIndex(name, "values");
    give(i, "--values " + spec);
    if (args[i].dims.size() != 1)
      fail("--values gives '" + name +
           "' inline, but only rank-1 inputs can be given so; '" + name +
           "' has rank " + std::to_string(args[i].dims.size()));
    tensors[i] = parseValues(spec, name, text, args[i].dtype);
    symbols.bind(args[i], tensors[i].shape(), "--values " + spec);
  }
  // Which option gives what first, then the sizes: an input given twice is
  // reported as such, not as the size conflict it causes.
  for (const std::string &spec : shapeSpecs) {
    auto [name, text] = splitAssignment(spec, "shape");
    size_t i = argIndex(name, "shape");
    if (!givenBy[i].empty())
      fail("--shape " + spec + " gives the shape of a random input, but '" +
           name + "' is given by " + givenBy[i]);
    if (!shapedBy[i].empty())
      fail("--shape " + spec + " gives '" + name + "' a shape again, after " +
           shapedBy[i]);
    shapedBy[i] = "--shape " + spec;
  }
  for (const std::string &spec : shapeSpecs) {
    auto [name, text] = splitAssignment(spec, "shape");
    symbols.bind(args[argIndex(name, "shape")], parseShape(text, spec),
                 "--shape " + spec);
  }

  for (size_t i = 0; i < args.size(); ++i) {
    if (!givenBy[i].empty())
      continue;
    if (randomSeed.getNumOccurrences() == 0)
      fail("no value for input '" + args[i].name + "': give --input " +
           args[i].name + "=FILE.npy or --random SEED");
    std::string origins = symbols.originsOf(args[i]);
    tensors[i] = allocate(args[i].dtype, symbols.shapeOf(args[i]),
                          "input '" + args[i].name + "'" +
                              (origins.empty() ? "" : " (from " + origins + ")"));
    // One stream per input, so giving one input from a file leaves the
    // others as they were.
    int64_t bound = args[i].bound.empty() ? 8 : symbols.valueOf(args[i].bound);
    ref::fillRandom(tensors[i], randomSeed * 1000003 + i, bound);
  }

  if (!saveInputsDir.empty()) {
    createOutputFolder(saveInputsDir, "save-inputs");
    for (size_t i = 0; i < args.size(); ++i) {
      SmallString<128> path(saveInputsDir);
      llvm::sys::path::append(path, args[i].name + ".npy");
      failIf(::attn::npy::write(path.str().str(), tensors[i]),
             "--save-inputs");
    }
  }
  return tensors;
}

//===----------------------------------------------------------------------===//
// Running, checking, reporting
//===----------------------------------------------------------------------===//

/// Rows [from, from + count) of every (batch row, head) of `source` (B, H,
/// L, W), row b starting at from[b], as a (B, H, count, W) tensor; rows past
/// count[b] are left 0.
HostTensor takeRows(const HostTensor &source, const std::vector<int64_t> &from,
                    const std::vector<int64_t> &count, int64_t rows) {
  const std::vector<int64_t> &shape = source.shape();
  HostTensor part(source.dtype(), {shape[0], shape[1], rows, shape[3]});
  std::memset(part.data(), 0, part.byteSize());
  size_t rowBytes = shape[3] * ::attn::dtypeSize(source.dtype());
  for (int64_t b = 0; b < shape[0]; ++b)
    for (int64_t h = 0; h < shape[1]; ++h)
      std::memcpy(static_cast<char *>(part.data()) +
                      ((b * shape[1] + h) * rows) * rowBytes,
                  static_cast<const char *>(source.data()) +
                      ((b * shape[1] + h) * shape[2] + from[b]) * rowBytes,
                  count[b] * rowBytes);
  return part;
}

/// --decode-steps: prefill a K/V cache of the runtime, then decode step by
/// step, checking each step's output against the reference evaluated on the
/// whole sequence so far (not the cache): a cache that loses, reorders or
/// keeps a wrong position shows as an error.
int runDecodeLoop(const ::attn::Function &function, func::FuncOp func) {
  std::vector<std::string> names;
  std::vector<::attn::ArgInfo> args;
  for (size_t i = 0; i < function.numInputs(); ++i) {
    args.push_back(*function.input(i));
    names.push_back(args.back().name);
  }
  if (names != std::vector<std::string>{"q", "k", "v", "key_lengths"} ||
      function.numOutputs() < 1)
    fail("--decode-steps runs a function of q, k, v and key_lengths (an "
         "attn.attention with key lengths); " +
         function.name() + " takes other inputs");
  SymbolSizes symbols;
  for (const std::string &spec : shapeSpecs) {
    auto [name, text] = splitAssignment(spec, "shape");
    auto it = llvm::find(names, name);
    if (it == names.end())
      fail("--shape names '" + name + "', which is not an input of " +
           function.name());
    symbols.bind(args[it - names.begin()], parseShape(text, name),
                 "--shape " + spec);
  }
  if (!inputFiles.empty() || !valueSpecs.empty())
    fail("--decode-steps draws the whole sequence at random (--random SEED) "
         "and keeps the cache itself: --input and --values are not used");
  // The cache first: its shape is the one a user must give.
  std::vector<int64_t> kShape = symbols.shapeOf(args[1]);
  std::vector<int64_t> qShape = symbols.shapeOf(args[0]);
  std::vector<int64_t> vShape = symbols.shapeOf(args[2]);
  int64_t batch = kShape[0], capacity = kShape[2], newRows = qShape[2];
  std::vector<int64_t> prefill(prefillLengths.begin(), prefillLengths.end());
  if (prefill.size() == 1)
    prefill.assign(batch, prefill[0]);
  if (prefill.empty())
    prefill.assign(batch, 0);
  if (int64_t(prefill.size()) != batch)
    fail("--prefill gives " + std::to_string(prefill.size()) + " lengths for " +
         std::to_string(batch) + " batch rows");
  for (int64_t length : prefill)
    if (length < 0)
      fail("--prefill " + shapeText(prefill) +
           ": lengths are numbers of positions, not negative");

  // The whole sequence of every row, drawn once.
  int64_t stepRows, total;
  if (__builtin_mul_overflow(int64_t(decodeSteps), newRows, &stepRows) ||
      __builtin_add_overflow(*llvm::max_element(prefill), stepRows, &total))
    fail("--decode-steps " + std::to_string(decodeSteps) + " of " +
         std::to_string(newRows) + " tokens after --prefill " +
         shapeText(prefill) + " make a sequence of more than 2^63 tokens");
  uint64_t seed = randomSeed.getNumOccurrences() ? randomSeed.getValue() : 0;
  std::string sequence = "the sequence of --decode-steps and --prefill";
  HostTensor allQ = allocate(args[0].dtype,
                             {batch, qShape[1], total, qShape[3]}, sequence);
  HostTensor allK = allocate(args[1].dtype,
                             {batch, kShape[1], total, kShape[3]}, sequence);
  HostTensor allV = allocate(args[2].dtype,
                             {batch, vShape[1], total, vShape[3]}, sequence);
  ref::fillRandom(allQ, seed * 3 + 0, 0);
  ref::fillRandom(allK, seed * 3 + 1, 0);
  ref::fillRandom(allV, seed * 3 + 2, 0);

  attn_kv_cache_options_t options;
  attn_kv_cache_options_init(&options);
  options.batch = batch;
  options.kv_heads = kShape[1];
  options.capacity = capacity;
  options.head_dim = kShape[3];
  options.value_dim = vShape[3];
  options.dtype = args[1].dtype;
  options.window = rollingWindow;
  auto cache = ::attn::KVCache::create(options);
  failIf(cache.status(), "the K/V cache");
  std::vector<int64_t> zeros(batch, 0);
  failIf(cache->append(
             takeRows(allK, zeros, prefill, *llvm::max_element(prefill)).view(),
             takeRows(allV, zeros, prefill, *llvm::max_element(prefill)).view(),
             std::vector<int32_t>(prefill.begin(), prefill.end())),
         "prefill");

  std::vector<int64_t> position = prefill, all(batch, newRows);
  double worst = 0, limit = 0;
  std::vector<double> seconds;
  bool passed = true;
  for (unsigned step = 0; step < decodeSteps; ++step) {
    failIf(cache->append(takeRows(allK, position, all, newRows).view(),
                         takeRows(allV, position, all, newRows).view()),
           "step " + std::to_string(step));
    HostTensor q = takeRows(allQ, position, all, newRows);
    std::vector<attn_tensor_t> inputs = {q.view()};
    for (const attn_tensor_t &view : cache->views())
      inputs.push_back(view);
    auto start = std::chrono::steady_clock::now();
    auto outputs = function.call(inputs);
    seconds.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
    failIf(outputs.status(), "step " + std::to_string(step));

    // The reference sees every position of the row so far.
    for (int64_t b = 0; b < batch; ++b)
      position[b] += newRows;
    int64_t longest = *llvm::max_element(position);
    HostTensor lengths(ATTN_DTYPE_I32, {batch});
    for (int64_t b = 0; b < batch; ++b)
      lengths.data<int32_t>()[b] = int32_t(position[b]);
    std::vector<ref::Tensor> referenceInputs = {
        ref::toReference(q),
        ref::toReference(takeRows(allK, zeros, position, longest)),
        ref::toReference(takeRows(allV, zeros, position, longest)),
        ref::toReference(lengths)};
    auto expected =
        mlir::attn::evaluateReference(func, referenceInputs, nullptr);
    if (failed(expected))
      fail("the reference cannot evaluate " + function.name());
    for (size_t i = 0; i < outputs->size(); ++i) {
      double error = ref::maxError((*outputs)[i], (*expected)[i]);
      limit = tolerance > 0 ? double(tolerance)
                            : ref::defaultTolerance((*outputs)[i].dtype());
      worst = std::max(worst, error);
      if (error > limit) {
        passed = false;
        llvm::outs() << "step " << step << ": " << function.output(i)->name
                     << " max error " << llvm::format("%.3g", error)
                     << " FAILED\n";
      }
    }
  }
  std::sort(seconds.begin(), seconds.end());
  std::string cacheKind =
      rollingWindow > 0 ? "rolling cache for window " +
                              std::to_string(rollingWindow) + ", capacity "
                        : "cache of capacity ";
  llvm::outs() << "decode " << function.name() << ": " << decodeSteps
               << " steps of " << newRows << " token"
               << (newRows > 1 ? "s" : "") << " after prefill "
               << shapeText(prefill) << " (" << cacheKind << capacity
               << "): max error " << llvm::format("%.3g", worst)
               << " (tolerance " << llvm::format("%.3g", limit) << ") "
               << (passed ? "ok" : "FAILED");
  if (!seconds.empty())
    llvm::outs() << ", "
                 << llvm::format("%.3f", seconds[seconds.size() / 2] * 1e3)
                 << " ms per step (median)";
  llvm::outs() << "\n";
  return passed ? tools::kSuccess : tools::kCheckFailed;
}

void writeOutputs(const ::attn::Function &function,
                  const std::vector<HostTensor> &outputs) {
  for (const std::string &spec : outputFiles) {
    size_t index = 0;
    std::string path = spec;
    if (StringRef(spec).contains('=')) {
      auto [name, file] = splitAssignment(spec, "output");
      path = file;
      index = function.numOutputs();
      for (size_t i = 0; i < function.numOutputs(); ++i)
        if (function.output(i)->name == name)
          index = i;
      if (index == function.numOutputs())
        fail("--output names '" + name + "', which is not an output of " +
             function.name());
    }
    failIf(::attn::npy::write(path, outputs[index]), "--output " + spec);
  }
}

/// The strategies attn-select-strategy picks for the attention ops of
/// `module` with these options of a pipeline ("flash", "materialized",
/// "decode", "flash backward", several joined by "+", or "none" without
/// attention).
std::string chosenStrategies(ModuleOp module, const std::string &strategy,
                             int64_t queryTile, int64_t keyTile) {
  OwningOpRef<ModuleOp> copy(module.clone());
  PassManager pm(module.getContext());
  pm.addNestedPass<func::FuncOp>(mlir::attn::createAttnDecomposeLayersPass());
  pm.addNestedPass<func::FuncOp>(mlir::attn::createAttnSelectStrategyPass(
      {strategy, queryTile, keyTile, /*decode=*/true}));
  if (failed(pm.run(*copy)))
    fail("cannot choose a strategy");
  std::set<std::string> names;
  copy->walk([&](mlir::attn::AttentionOp op) {
    if (auto mark = op->getAttrOfType<StringAttr>(mlir::attn::kStrategyAttr))
      names.insert(mark.getValue().str());
  });
  copy->walk([&](mlir::attn::AttentionGradOp op) {
    if (auto mark = op->getAttrOfType<StringAttr>(mlir::attn::kStrategyAttr))
      names.insert(mark.getValue().str() + " backward");
  });
  copy->walk([&](mlir::attn::LinearAttentionOp op) {
    static const char *forms[] = {"parallel", "chunked", "recurrent"};
    names.insert(std::string("linear ") +
                 forms[static_cast<int>(mlir::attn::chooseLinearForm(
                     op, linearForm, linearChunk))]);
  });
  std::string text;
  for (const std::string &name : names)
    text += (text.empty() ? "" : "+") + name;
  return text.empty() ? "none" : text;
}

size_t byteSize(const attn_tensor_t &view) {
  int64_t count = 1;
  for (int32_t d = 0; d < view.rank; ++d)
    count *= view.shape[d];
  return size_t(count) * attn_dtype_size(view.dtype);
}

/// Device copies of the buffers of one run, freed at exit.
class DeviceBuffers {
public:
  DeviceBuffers() = default;
  DeviceBuffers(const DeviceBuffers &) = delete;
  DeviceBuffers &operator=(const DeviceBuffers &) = delete;
  ~DeviceBuffers() {
    for (void *pointer : pointers)
      attn_status_free(attn_device_free(pointer));
  }
  void *allocate(size_t bytes) {
    void *pointer = nullptr;
    failIf(::attn::Status::fromC(attn_device_alloc(bytes, &pointer)),
           "allocating device memory");
    pointers.push_back(pointer);
    return pointer;
  }
  void *upload(const void *host, size_t bytes) {
    void *pointer = allocate(bytes);
    failIf(
        ::attn::Status::fromC(attn_device_copy_to_device(pointer, host, bytes)),
        "copying an input to the device");
    return pointer;
  }

private:
  std::vector<void *> pointers;
};

/// The tiles the flash lowering visits and the pairs it computes, summed
/// over the attentions of `func` whose sizes and key lengths come straight
/// from its inputs (std::nullopt when some do not). A mask depends on the
/// head only through its parity (split heads), so heads 0 and 1 stand for
/// all.
std::optional<mlir::attn::ScheduleTotals>
countVisits(func::FuncOp func, const std::vector<HostTensor> &inputs,
            int64_t queryTile, int64_t keyTile, bool decode) {
  mlir::attn::ScheduleTotals totals;
  auto input = [&](Value value) -> const HostTensor * {
    auto arg = dyn_cast_or_null<BlockArgument>(value);
    if (!arg || arg.getOwner() != &func.getBody().front())
      return nullptr;
    return &inputs[arg.getArgNumber()];
  };
  bool known = true;
  func.walk([&](Operation *op) {
    Value q, k, keyLengths;
    int64_t heads = 0, kvHeads = 0, queryDim = 2, keyDim = 2;
    mlir::attn::MaskAttrInterface mask;
    if (auto attention = dyn_cast<mlir::attn::AttentionOp>(op)) {
      q = attention.getQuery();
      k = attention.getKey();
      keyLengths = attention.getKeyLengths();
      heads = attention.getNumHeads();
      kvHeads = attention.getNumKVHeads();
      mask = attention.getMaskAttr();
    } else if (auto layer = dyn_cast<mlir::attn::MultiHeadOp>(op)) {
      q = layer.getInput();
      k = layer.getKeyValueInput();
      keyLengths = layer.getKeyLengths();
      heads = layer.getNumHeads();
      kvHeads = layer.getNumKvHeads();
      mask = layer.getMaskAttr();
      queryDim = keyDim = 1;
    } else {
      return;
    }
    const HostTensor *qt = input(q), *kt = input(k);
    const HostTensor *lengths = keyLengths ? input(keyLengths) : nullptr;
    if (!qt || !kt || (keyLengths && !lengths)) {
      known = false;
      return;
    }
    // The attentions the lowering runs: (queries, keys, valid keys) of each
    // batch row, or of each packed sequence (offsets clamped as
    // attn-decompose-sequences reads them).
    std::vector<std::array<int64_t, 3>> attentions;
    int64_t batch = qt->shape()[0];
    auto attention = dyn_cast<mlir::attn::AttentionOp>(op);
    if (attention && attention.getQueryOffsets()) {
      const HostTensor *cq = input(attention.getQueryOffsets());
      const HostTensor *ck = input(attention.getKeyOffsets());
      if (!cq || !ck) {
        known = false;
        return;
      }
      auto range = [](const HostTensor &offsets, int64_t s, int64_t size) {
        int64_t begin = std::clamp<int64_t>(
            int64_t(ref::loadElement(offsets, s)), 0, size);
        int64_t end = std::clamp<int64_t>(
            int64_t(ref::loadElement(offsets, s + 1)), begin, size);
        return end - begin;
      };
      for (int64_t s = 0; s + 1 < cq->numElements(); ++s) {
        int64_t keys = range(*ck, s, kt->shape()[keyDim]);
        attentions.push_back(
            {range(*cq, s, qt->shape()[queryDim]), keys, keys});
      }
    } else {
      for (int64_t b = 0; b < batch; ++b) {
        int64_t s = kt->shape()[keyDim];
        attentions.push_back(
            {qt->shape()[queryDim], s,
             lengths ? std::clamp<int64_t>(
                           int64_t(ref::loadElement(*lengths, b)), 0, s)
                     : s});
      }
    }
    for (auto [n, s, valid] : attentions) {
      if (!known)
        break;
      if (n == 0)
        continue;
      if (decode) {
        // One task per K/V head visits the tiles of its rows (N queries of
        // the first head: the mask treats heads alike), once for all G
        // heads; each visited tile computes G N x T scores.
        std::string error;
        auto whole = mlir::attn::evaluateLoweredSchedule(
            func.getContext(), mask, n, keyTile, n, s, valid, 0, heads, kvHeads,
            error);
        if (failed(whole) || whole->pieces.size() != 1) {
          known = false; // decomposed into pieces: not one decode task
          return;
        }
        totals.tiles += kvHeads * whole->tiles;
        totals.fullTiles += kvHeads * whole->fullTiles;
        totals.pairsComputed += heads * whole->pairsComputed;
        continue;
      }
      for (int64_t parity = 0; parity < 2 && parity < heads; ++parity) {
        std::string error;
        auto one = mlir::attn::evaluateLoweredSchedule(
            func.getContext(), mask, queryTile, keyTile, n, s, valid, parity,
            heads, kvHeads, error);
        if (failed(one)) {
          known = false;
          return;
        }
        int64_t count = parity == 0 ? (heads + 1) / 2 : heads / 2;
        totals.tiles += count * one->tiles;
        totals.fullTiles += count * one->fullTiles;
        totals.pairsComputed += count * one->pairsComputed;
      }
    }
  });
  if (!known)
    return std::nullopt;
  return totals;
}

std::string jsonNumber(double value) {
  if (!std::isfinite(value))
    return "null";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.6g", value);
  return buffer;
}

/// The options' values that no parser checks.
void checkOptions() {
  if (inputFile.empty())
    fail("which module? attn-run FILE.mlir [options] (--help lists them)");
  // --save-reference compares as it saves.
  if (!saveReferenceDir.empty())
    check = true;
  tools::checkChoice("attn-run", strategy, tools::kStrategies);
  tools::checkChoice("attn-run", linearForm, tools::kLinearForms);
  if (repeat < 1)
    fail("--repeat=" + std::to_string(repeat) +
         ": the runs to time are at least 1");
  if (tolerance.getNumOccurrences() &&
      !(std::isfinite(tolerance) && tolerance > 0)) {
    std::string value;
    llvm::raw_string_ostream(value) << llvm::format("%g", double(tolerance));
    fail("--tolerance=" + value +
         ": the largest accepted error is a positive number");
  }
  if (tolerance.getNumOccurrences() && !check && decodeSteps == 0)
    fail("--tolerance sets the largest error that --check accepts (or a "
         "--decode-steps loop); give --check too");
  if (optLevel > 3)
    fail("-O" + std::to_string(optLevel) + ": LLVM's levels are 0 to 3");
  auto checkAtLeast = [](const cl::opt<int64_t> &option, int64_t least) {
    if (option < least)
      fail("--" + option.ArgStr.str() + "=" + std::to_string(option) +
           ": it is at least " + std::to_string(least));
  };
  checkAtLeast(splitK, 0);
  checkAtLeast(rollingWindow, 0);
  // The GPU's kernels check their own tiles (threads per block, shared
  // memory).
  if (runTarget == "cpu")
    for (const cl::opt<int64_t> *tile : {&queryTile, &keyTile})
      if (*tile < 1 || *tile > mlir::attn::kMaxCPUTile)
        fail("--" + tile->ArgStr.str() + "=" + std::to_string(*tile) +
             ": a tile of the CPU code is 1 to " +
             std::to_string(mlir::attn::kMaxCPUTile));
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  auto &options = cl::getRegisteredOptions();
  if (auto llvmStats = options.find("stats"); llvmStats != options.end())
    llvmStats->second->setArgStr("llvm-stats");
  printStats.setArgStr("stats");
  tools::parseCommandLine(argc, argv, "attn module runner\n",
                                {&runCategory});
  tools::checkTargetOptions("attn-run", targetCPU, targetFeatures);
  checkOptions();

  std::unique_ptr<MLIRContext> context = mlir::attn::createCompilerContext();
  tools::InputModule input(*context);
  OwningOpRef<ModuleOp> module = input.parse(inputFile);
  if (!module)
    return tools::kError;

  // Only the function to run is compiled: the others are dropped first.
  std::vector<func::FuncOp> publicFunctions;
  for (auto func : module->getOps<func::FuncOp>())
    if (func.isPublic() && !func.isExternal())
      publicFunctions.push_back(func);
  std::string names;
  for (func::FuncOp func : publicFunctions)
    names += (names.empty() ? "" : ", ") + func.getSymName().str();
  std::string entry = entryName;
  if (publicFunctions.empty())
    fail(inputFile + " has no public function with a body to run");
  if (entry.empty()) {
    if (publicFunctions.size() != 1)
      fail(inputFile + " has " + std::to_string(publicFunctions.size()) +
           " public functions (" + names + "); choose one with --entry");
    entry = publicFunctions.front().getSymName().str();
  }
  if (!llvm::any_of(publicFunctions, [&](func::FuncOp func) {
        return func.getSymName() == entry;
      }))
    fail(inputFile + " has no public function '" + entry + "'; it has " +
         names);
  OwningOpRef<ModuleOp> toCompile(module->clone());
  for (auto func :
       llvm::make_early_inc_range(toCompile->getOps<func::FuncOp>()))
    if (func.isPublic() && func.getSymName() != entry)
      func.erase();

  mlir::attn::CPUTargetOptions target;
  target.cpu = targetCPU;
  target.features = targetFeatures;
  target.optLevel = optLevel;
  target.pipeline.strategy = strategy;
  target.pipeline.queryTile = queryTile;
  target.pipeline.keyTile = keyTile;
  target.pipeline.parallel = !sequential;
  target.pipeline.splitK = splitK;
  target.pipeline.linearForm = linearForm;
  target.pipeline.linearChunk = linearChunk;
  if (linearChunk <= 0 || linearChunk > mlir::attn::kMaxChunkSize)
    fail("--linear-chunk must be in [1, " +
         std::to_string(mlir::attn::kMaxChunkSize) + "], got " +
         std::to_string(linearChunk));
  bool onGPU = runTarget == "cuda";
  if (!onGPU && runTarget != "cpu")
    fail("--target must be cpu or cuda, not '" + runTarget + "'");
  if (!onGPU && gpuTensorCores)
    fail("--gpu-tensor-cores chooses a GPU kernel; it needs --target cuda");
  if (onGPU) {
    // Fail early and plainly on a machine without a GPU.
    int32_t major = 0, minor = 0, multiprocessors = 0;
    failIf(::attn::Status::fromC(attn_cuda_device_info(
               nullptr, 0, &major, &minor, &multiprocessors)),
           "--target cuda");
    mlir::attn::NVVMPipelineConfig gpu;
    gpu.strategy = strategy;
    gpu.tensorCores = gpuTensorCores;
    gpu.setTiles(queryTile.getNumOccurrences()
                     ? std::optional<int64_t>(queryTile)
                     : std::nullopt,
                 keyTile.getNumOccurrences() ? std::optional<int64_t>(keyTile)
                                             : std::nullopt);
    gpu.splitK = splitK;
    gpu.linearForm = linearForm;
    gpu.linearChunk = linearChunk;
    gpu.multiprocessors = multiprocessors;
    gpu.chip = gpuChip.empty() ? "sm_" + std::to_string(major * 10 + minor)
                               : gpuChip.getValue();
    target.gpu = gpu;
  }
  std::string chosen =
      onGPU ? chosenStrategies(*toCompile, strategy, target.gpu->queryTile,
                               target.gpu->keyTile)
            : chosenStrategies(*toCompile, strategy, target.pipeline.queryTile,
                               target.pipeline.keyTile);
  auto compiled = mlir::attn::compileForRuntime(*toCompile, target);
  failIf(compiled.status(), inputFile);
  auto found = compiled->lookup(entry);
  failIf(found.status());
  ::attn::Function function = *found;

  if (decodeSteps > 0) {
    if (onGPU)
      fail("--decode-steps runs on the CPU");
    return runDecodeLoop(function,
                         module->lookupSymbol<func::FuncOp>(function.name()));
  }
  std::vector<HostTensor> inputs = prepareInputs(function);
  std::vector<attn_tensor_t> inputViews;
  for (const HostTensor &tensor : inputs)
    inputViews.push_back(tensor.view());
  // On the GPU every buffer has a device copy; the views point there.
  DeviceBuffers device;
  if (onGPU)
    for (attn_tensor_t &view : inputViews)
      view.data = device.upload(view.data, byteSize(view));
  auto shapes = function.inferOutputShapes(inputViews);
  failIf(shapes.status());
  std::vector<HostTensor> outputs;
  std::vector<attn_tensor_t> outputViews;
  for (size_t i = 0; i < shapes->size(); ++i)
    outputs.push_back(allocate(function.output(i)->dtype, (*shapes)[i],
                               "output '" + function.output(i)->name + "'"));
  for (const HostTensor &tensor : outputs)
    outputViews.push_back(tensor.view());
  if (onGPU)
    for (attn_tensor_t &view : outputViews)
      view.data = device.allocate(byteSize(view));

  // Median wall time of `repeat` runs, after one warm-up run when repeating.
  attn_invoke_stats_t invokeStats{};
  std::vector<double> seconds;
  for (unsigned run = 0; run < repeat + (repeat > 1); ++run) {
    auto start = std::chrono::steady_clock::now();
    failIf(function.invoke(inputViews, outputViews, &invokeStats));
    std::chrono::duration<double> elapsed =
        std::chrono::steady_clock::now() - start;
    if (repeat == 1 || run > 0)
      seconds.push_back(elapsed.count());
  }
  std::sort(seconds.begin(), seconds.end());
  double median = seconds[seconds.size() / 2];
  if (onGPU)
    for (size_t i = 0; i < outputs.size(); ++i)
      failIf(::attn::Status::fromC(attn_device_copy_to_host(
                 outputs[i].data(), outputViews[i].data,
                 byteSize(outputViews[i]))),
             "reading the outputs back");
  writeOutputs(function, outputs);

  auto func = module->lookupSymbol<func::FuncOp>(function.name());
  if (check || !saveReferenceDir.empty()) {
    // The reference holds every input and output again, in f64.
    uint64_t bytes = 0;
    for (const auto *tensors : {&inputs, &outputs})
      for (const HostTensor &tensor : *tensors)
        bytes += uint64_t(tensor.numElements()) * sizeof(double);
    if (bytes > physicalMemory())
      fail("--check: the float64 reference needs " + std::to_string(bytes) +
           " bytes for its copies of the inputs and outputs, more than the " +
           std::to_string(physicalMemory()) + " bytes of this machine");
  }
  std::vector<ref::Tensor> referenceInputs;
  for (const HostTensor &tensor : inputs)
    referenceInputs.push_back(check || !saveReferenceDir.empty()
                                  ? ref::toReference(tensor)
                                  : ref::Tensor(tensor.shape()));
  // Bounded integer inputs (key lengths) change the cost: keep their values.
  for (size_t i = 0; i < inputs.size(); ++i)
    if (!(check || !saveReferenceDir.empty()) &&
        !function.input(i)->bound.empty())
      referenceInputs[i] = ref::toReference(inputs[i]);
  ref::Cost cost;
  FailureOr<std::vector<ref::Tensor>> expected;
  {
    // Without --check the reference only counts the work: an op it does not
    // know leaves the FLOPs unknown (NaN, null in --stats) instead of
    // failing the run.
    bool checking = check || !saveReferenceDir.empty();
    std::optional<ScopedDiagnosticHandler> quiet;
    if (!checking)
      quiet.emplace(context.get(), [](Diagnostic &) { return success(); });
    expected =
        mlir::attn::evaluateReference(func, referenceInputs, &cost, checking);
    if (failed(expected) && checking)
      fail("--check: the float64 reference cannot evaluate " +
           function.name());
    if (failed(expected))
      cost.flops = cost.pairs = std::numeric_limits<double>::quiet_NaN();
  }
  if (!saveReferenceDir.empty()) {
    createOutputFolder(saveReferenceDir, "save-reference");
    for (size_t i = 0; i < expected->size(); ++i) {
      const ref::Tensor &values = (*expected)[i];
      HostTensor exact(ATTN_DTYPE_F64, values.shape);
      std::memcpy(exact.data(), values.data.data(),
                  values.data.size() * sizeof(double));
      SmallString<128> path(saveReferenceDir);
      llvm::sys::path::append(path, function.output(i)->name + ".npy");
      failIf(::attn::npy::write(path.str().str(), exact));
    }
  }

  double worst = std::numeric_limits<double>::quiet_NaN();
  bool passed = true;
  if (check) {
    worst = 0;
    for (size_t i = 0; i < outputs.size(); ++i) {
      double error = ref::maxError(outputs[i], (*expected)[i]);
      double limit = tolerance > 0 ? double(tolerance)
                                   : ref::defaultTolerance(outputs[i].dtype());
      bool ok = error <= limit;
      passed &= ok;
      worst = std::max(worst, error);
      llvm::outs() << "check " << function.output(i)->name << " "
                   << shapeText(outputs[i].shape()) << ": max error "
                   << llvm::format("%.3g", error) << " (tolerance "
                   << llvm::format("%.3g", limit) << ") "
                   << (ok ? "ok" : "FAILED") << "\n";
    }
  }

  // The schedule of the flash or decode lowering, when every attention
  // uses it.
  std::optional<mlir::attn::ScheduleTotals> visits;
  if (chosen == "flash" || chosen == "decode") {
    int64_t qTile = onGPU ? target.gpu->queryTile : target.pipeline.queryTile;
    int64_t kTile = onGPU ? target.gpu->keyTile : target.pipeline.keyTile;
    visits = countVisits(func, inputs, qTile, kTile, chosen == "decode");
  }

  double gflops = cost.flops / median * 1e-9;
  llvm::outs() << function.name() << " (" << chosen << (onGPU ? ", cuda" : "")
               << "): " << llvm::format("%.3f", median * 1e3) << " ms";
  if (repeat > 1)
    llvm::outs() << " (median of " << repeat << ")";
  if (std::isnan(gflops))
    llvm::outs() << " (FLOPs unknown: the reference does not evaluate every "
                    "op)";
  else if (onGPU)
    llvm::outs() << ", " << llvm::format("%.2f", gflops * 1e-3) << " TFLOP/s";
  else
    llvm::outs() << ", " << llvm::format("%.2f", gflops) << " GFLOP/s";
  llvm::outs() << ", peak " << invokeStats.peak_bytes
               << (onGPU ? " device" : "") << " bytes allocated\n";
  if (visits && !std::isnan(cost.pairs))
    llvm::outs() << "schedule: " << visits->tiles << " tiles visited ("
                 << visits->fullTiles << " full, "
                 << visits->tiles - visits->fullTiles << " masked), "
                 << visits->pairsComputed << " pairs computed for "
                 << int64_t(cost.pairs) << " attended\n";
  if (printStats)
    llvm::outs() << "{\"function\": \"" << function.name()
                 << "\", \"target\": \"" << runTarget.getValue()
                 << "\", \"strategy\": \"" << chosen
                 << "\", \"time_ms\": " << jsonNumber(median * 1e3)
                 << ", \"repeat\": " << repeat
                 << ", \"flops\": " << jsonNumber(cost.flops)
                 << ", \"pairs\": " << jsonNumber(cost.pairs)
                 << ", \"gflops\": " << jsonNumber(gflops)
                 << ", \"tflops\": " << jsonNumber(gflops * 1e-3)
                 << ", \"peak_bytes\": " << invokeStats.peak_bytes
                 << ", \"allocations\": " << invokeStats.allocation_count
                 << ", \"tiles_visited\": "
                 << (visits ? std::to_string(visits->tiles) : "null")
                 << ", \"tiles_full\": "
                 << (visits ? std::to_string(visits->fullTiles) : "null")
                 << ", \"pairs_computed\": "
                 << (visits ? std::to_string(visits->pairsComputed) : "null")
                 << ", \"max_error\": " << jsonNumber(worst) << "}\n";
  return passed ? tools::kSuccess : tools::kCheckFailed;
}
