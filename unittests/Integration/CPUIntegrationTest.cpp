//===- CPUIntegrationTest.cpp - generated CPU code against the reference --===//
//
// Each test compiles one function once (the CPU pipeline, JIT, the runtime)
// and runs it on many shapes drawn at random: sizes that are not multiples of
// anything, N != S, more queries than keys, B > 1, random key lengths with
// zeros (rows that see nothing). Every output is compared with the float64
// reference evaluated on the same inputs. One compiled function serving every
// shape is itself part of what is tested.
//
// ctest runs the suite twice: for this machine, and (as integration-avx2/)
// with the target features in $ATTN_TEST_MATTR (-avx512f: the vector code of
// an AVX2 machine, 8 lanes and its register blocks, on this one).
//
//===----------------------------------------------------------------------===//

#include "attn/Dialect/Attn/Transforms/Passes.h"
#include "attn/Reference/Evaluate.h"
#include "attn/Reference/HostTensors.h"
#include "attn/Target/CPU.h"

#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <random>

namespace ref = ::attn::reference;
using ::attn::HostTensor;

namespace {

/// The machine the tests compile for: this one, with $ATTN_TEST_MATTR.
mlir::attn::CPUTargetOptions testTarget() {
  mlir::attn::CPUTargetOptions options;
  if (const char *features = std::getenv("ATTN_TEST_MATTR"))
    options.features = features;
  return options;
}

struct Case {
  const char *file;     // Relative to the source root.
  const char *function; // Entry to compile.
  int draws;            // Random shapes to run.
  // How to compile it: the strategy, and the flash tiles. Small tiles make
  // the short random sequences span many query and key tiles.
  const char *strategy = "auto";
  int64_t queryTile = 64, keyTile = 64;
  // Key chunks of the decode strategy (0: chosen by the compiler).
  int64_t splitK = 0;
  // The form of linear attention and its chunk size.
  const char *linearForm = "auto";
  int64_t linearChunk = 64;
};

std::ostream &operator<<(std::ostream &os, const Case &c) {
  return os << c.file << ":" << c.function << " " << c.strategy << " "
            << c.queryTile << "x" << c.keyTile << " split-k " << c.splitK
            << " linear " << c.linearForm << " " << c.linearChunk;
}

std::string caseName(const ::testing::TestParamInfo<Case> &info) {
  const Case &c = info.param;
  std::string name = c.function;
  if (std::string(c.strategy) != "auto")
    name += std::string("_") + c.strategy;
  if (c.queryTile != 64 || c.keyTile != 64)
    name += "_" + std::to_string(c.queryTile) + "x" + std::to_string(c.keyTile);
  if (c.splitK != 0)
    name += "_split" + std::to_string(c.splitK);
  if (std::string(c.linearForm) != "auto")
    name += std::string("_") + c.linearForm;
  if (c.linearChunk != 64)
    name += "_chunk" + std::to_string(c.linearChunk);
  return name;
}

class CPUIntegration : public ::testing::TestWithParam<Case> {
protected:
  static mlir::MLIRContext &context() {
    static std::unique_ptr<mlir::MLIRContext> ctx =
        mlir::attn::createCompilerContext();
    return *ctx;
  }
};

/// Sizes for the symbols of a signature: B small, every other dynamic size in
/// [1, 70], so rows, keys and tokens are rarely multiples of anything.
std::map<std::string, int64_t> drawSizes(const ::attn::Function &function,
                                         std::mt19937_64 &rng) {
  std::map<std::string, int64_t> sizes;
  auto visit = [&](const ::attn::ArgInfo &arg) {
    for (const ::attn::Dim &dim : arg.dims)
      if (!dim.isStatic() && !sizes.count(dim.symbol))
        sizes[dim.symbol] = dim.symbol == "B" ? 1 + int64_t(rng() % 3)
                                              : 1 + int64_t(rng() % 70);
  };
  for (size_t i = 0; i < function.numInputs(); ++i)
    visit(*function.input(i));
  return sizes;
}

std::string describe(const std::map<std::string, int64_t> &sizes) {
  std::string text;
  for (auto &[symbol, size] : sizes)
    text += symbol + "=" + std::to_string(size) + " ";
  return text;
}

TEST_P(CPUIntegration, MatchesTheReferenceOnRandomShapes) {
  const Case &c = GetParam();
  std::string path = std::string(ATTN_SOURCE_DIR) + "/" + c.file;
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(path, &context());
  ASSERT_TRUE(module) << "cannot parse " << path;
  auto func = module->lookupSymbol<mlir::func::FuncOp>(c.function);
  ASSERT_TRUE(func) << c.function << " is not in " << path;

  // Compile only this function.
  mlir::OwningOpRef<mlir::ModuleOp> single(module->clone());
  for (auto other :
       llvm::make_early_inc_range(single->getOps<mlir::func::FuncOp>()))
    if (other.isPublic() && other.getSymName() != c.function)
      other.erase();
  mlir::attn::CPUTargetOptions options = testTarget();
  options.pipeline.strategy = c.strategy;
  options.pipeline.queryTile = c.queryTile;
  options.pipeline.keyTile = c.keyTile;
  options.pipeline.splitK = c.splitK;
  options.pipeline.linearForm = c.linearForm;
  options.pipeline.linearChunk = c.linearChunk;
  auto compiled = mlir::attn::compileForRuntime(*single, options);
  ASSERT_TRUE(compiled.ok()) << compiled.status().toString();
  auto function = compiled->lookup(c.function);
  ASSERT_TRUE(function.ok()) << function.status().toString();

  std::mt19937_64 rng(0x5eed ^ std::hash<std::string>()(c.function));
  for (int draw = 0; draw < c.draws; ++draw) {
    std::map<std::string, int64_t> sizes = drawSizes(*function, rng);
    SCOPED_TRACE("draw " + std::to_string(draw) + ": " + describe(sizes));

    std::vector<HostTensor> inputs;
    std::vector<attn_tensor_t> views;
    std::vector<ref::Tensor> referenceInputs;
    for (size_t i = 0; i < function->numInputs(); ++i) {
      ::attn::ArgInfo arg = *function->input(i);
      std::vector<int64_t> shape;
      for (const ::attn::Dim &dim : arg.dims)
        shape.push_back(dim.isStatic() ? dim.size : sizes[dim.symbol]);
      HostTensor tensor(arg.dtype, shape);
      int64_t bound = 0;
      if (!arg.bound.empty())
        bound =
            sizes.count(arg.bound) ? sizes[arg.bound] : std::stoll(arg.bound);
      ref::fillRandom(tensor, rng(), bound);
      referenceInputs.push_back(ref::toReference(tensor));
      inputs.push_back(std::move(tensor));
    }
    for (const HostTensor &tensor : inputs)
      views.push_back(tensor.view());

    auto outputs = function->call(views);
    ASSERT_TRUE(outputs.ok()) << outputs.status().toString();
    auto expected = mlir::attn::evaluateReference(func, referenceInputs,
                                                  /*cost=*/nullptr);
    ASSERT_TRUE(mlir::succeeded(expected));
    ASSERT_EQ(outputs->size(), expected->size());
    for (size_t i = 0; i < outputs->size(); ++i) {
      const HostTensor &out = (*outputs)[i];
      ASSERT_EQ(out.shape(), (*expected)[i].shape);
      EXPECT_LE(ref::maxError(out, (*expected)[i]),
                ref::defaultTolerance(out.dtype()))
          << "output " << i;
    }
  }
}

constexpr const char *kAttention = "test/Integration/CPU/attention.mlir";
constexpr const char *kLayers = "test/Integration/CPU/layers.mlir";
constexpr const char *kMasks = "test/Integration/CPU/masks.mlir";
constexpr const char *kDecode = "test/Integration/CPU/decode.mlir";
constexpr const char *kLinear = "test/Integration/CPU/linear.mlir";
constexpr const char *kGradients = "test/Integration/CPU/gradients.mlir";

/// Every function of `file` under every configuration of `configs` (their
/// file, function and draws are filled in).
std::vector<Case> sweep(const char *file, std::vector<const char *> functions,
                        int draws, const std::vector<Case> &configs) {
  std::vector<Case> cases;
  for (const char *function : functions)
    for (Case config : configs) {
      config.file = file;
      config.function = function;
      config.draws = draws;
      cases.push_back(config);
    }
  return cases;
}

/// The flash strategy with its default tiles and with small ones, and the
/// materialized strategy.
std::vector<Case> allStrategies(const char *file,
                                std::vector<const char *> functions,
                                int draws) {
  return sweep(file, functions, draws,
               {{nullptr, nullptr, 0, "flash"},
                {nullptr, nullptr, 0, "flash", 8, 16},
                {nullptr, nullptr, 0, "materialized"}});
}

INSTANTIATE_TEST_SUITE_P(
    Attention, CPUIntegration,
    ::testing::ValuesIn(allStrategies(kAttention,
                                      {"mha", "gqa_causal", "mqa_decode",
                                       "window_padded", "window_decode",
                                       "scaled", "fixed", "half", "bfloat",
                                       "bfloat_gqa", "bfloat_odd"},
                                      10)),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Masks, CPUIntegration,
    ::testing::ValuesIn(allStrategies(
        kMasks,
        {"window_dilated", "window_global", "strided_causal", "strided_split",
         "fixed_causal", "fixed_split", "causal_and_dilated", "strided_auto",
         "strided_bidirectional", "strided_split_mha", "fixed_bidirectional",
         "blockwise_lse", "combine_two", "blockwise_after",
         "strided_split_lse"},
        6)),
    caseName);

/// The decode strategy with split-K off, forced to 3 chunks of small tiles
/// (the random caches then span several tiles per chunk, and chunks that
/// see nothing) and chosen by the compiler; and flash, an independent
/// lowering of the same op.
std::vector<Case> decodeStrategies(const char *file,
                                   std::vector<const char *> functions,
                                   int draws) {
  return sweep(file, functions, draws,
               {{nullptr, nullptr, 0, "decode", 64, 16, 1},
                {nullptr, nullptr, 0, "decode", 64, 16, 3},
                {nullptr, nullptr, 0, "decode"},
                {nullptr, nullptr, 0, "flash", 8, 16}});
}

INSTANTIATE_TEST_SUITE_P(Decode, CPUIntegration,
                         ::testing::ValuesIn(decodeStrategies(
                             kDecode,
                             {"mha_step", "gqa_step", "mqa_rows", "gqa_window",
                              "gqa_lse", "half_cache"},
                             8)),
                         caseName);

/// Linear attention in each form: the default (parallel without a mask,
/// chunked when causal) with chunks of 64 and of 8 (the random sequences
/// then span several chunks, the last one partial), and recurrent.
INSTANTIATE_TEST_SUITE_P(
    Linear, CPUIntegration,
    ::testing::ValuesIn(
        sweep(kLinear, {"plain", "causal", "half", "relu_bf16"}, 6,
              {{nullptr, nullptr, 0},
               {nullptr, nullptr, 0, "auto", 64, 64, 0, "chunked", 8},
               {nullptr, nullptr, 0, "auto", 64, 64, 0, "recurrent"}})),
    caseName);

/// The backward pass by each strategy (the forward before it by the same):
/// dq, dk and dv of random shapes, key lengths that may be 0, every mask
/// family, the decomposed sparse masks' pieces.
INSTANTIATE_TEST_SUITE_P(
    Gradients, CPUIntegration,
    ::testing::ValuesIn(sweep(kGradients,
                              {"plain", "causal_top_left",
                               "causal_bottom_right", "window_global",
                               "strided_split", "fixed_causal", "dilated",
                               "strided_bidirectional", "fixed_bidirectional",
                               "half", "bfloat"},
                              4,
                              {{nullptr, nullptr, 0, "flash", 8, 16},
                               {nullptr, nullptr, 0, "materialized"}})),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Layers, CPUIntegration,
    ::testing::ValuesIn(allStrategies(
        kLayers,
        {"self_mha", "self_gqa_causal", "self_mqa_window", "cross_padded"}, 5)),
    caseName);

INSTANTIATE_TEST_SUITE_P(
    Examples, CPUIntegration,
    ::testing::Values(
        Case{"examples/01_scaled_dot_product_attention.mlir", "sdpa", 4},
        Case{"examples/02_multi_head_attention.mlir", "multi_head", 3},
        Case{"examples/03_cross_attention.mlir", "cross", 3},
        Case{"examples/04_causal_attention.mlir", "causal", 4},
        Case{"examples/06_linear_attention.mlir", "linear", 3},
        Case{"examples/05_sparse_attention.mlir", "sparse", 3},
        Case{"examples/05_fixed_sparse_attention.mlir", "fixed_sparse", 2},
        Case{"examples/08_multi_query_attention.mlir", "multi_query", 3},
        Case{"examples/09_grouped_query_attention.mlir", "grouped_query", 3},
        Case{"examples/10_sliding_window_attention.mlir", "sliding_window", 4},
        Case{"examples/10_dilated_window_attention.mlir", "dilated_window", 3},
        Case{"examples/10_global_window_attention.mlir", "global_window", 3}),
    [](const auto &info) { return std::string(info.param.function); });

} // namespace

namespace {

/// The module of `file` (relative to the source root) with only `function`
/// left of its public functions; null when it does not parse.
mlir::OwningOpRef<mlir::ModuleOp> loadFunction(const char *file,
                                               llvm::StringRef function,
                                               mlir::MLIRContext *context) {
  mlir::OwningOpRef<mlir::ModuleOp> module =
      mlir::parseSourceFile<mlir::ModuleOp>(
          std::string(ATTN_SOURCE_DIR) + "/" + file, context);
  if (module)
    for (auto other :
         llvm::make_early_inc_range(module->getOps<mlir::func::FuncOp>()))
      if (other.isPublic() && other.getSymName() != function)
        other.erase();
  return module;
}

/// Split-K merges the chunks exactly: the same function compiled with one
/// chunk and with 2, 3 and 7 agrees to f32 rounding (only the order of the
/// sums differs), far tighter than the tolerance against the reference.
TEST(DecodeSplitK, MergeMatchesTheUnsplitResult) {
  std::unique_ptr<mlir::MLIRContext> context =
      mlir::attn::createCompilerContext();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      loadFunction(kDecode, "gqa_lse", context.get());
  ASSERT_TRUE(module);
  auto compile = [&](int64_t chunks) {
    mlir::attn::CPUTargetOptions options = testTarget();
    options.pipeline.strategy = "decode";
    options.pipeline.keyTile = 16;
    options.pipeline.splitK = chunks;
    return mlir::attn::compileForRuntime(*module, options);
  };
  auto unsplit = compile(1);
  ASSERT_TRUE(unsplit.ok()) << unsplit.status().toString();
  auto one = unsplit->lookup("gqa_lse");
  ASSERT_TRUE(one.ok());

  std::mt19937_64 rng(7);
  // Rows of 300, 17 and 0 valid keys in a cache of 301.
  HostTensor q(ATTN_DTYPE_F32, {3, 4, 1, 16});
  HostTensor k(ATTN_DTYPE_F32, {3, 2, 301, 16});
  HostTensor v(ATTN_DTYPE_F32, {3, 2, 301, 16});
  HostTensor lengths = HostTensor::fromValues<int32_t>({3}, {300, 17, 0});
  for (HostTensor *t : {&q, &k, &v})
    ref::fillRandom(*t, rng(), 0);
  std::vector<attn_tensor_t> inputs = {q.view(), k.view(), v.view(),
                                       lengths.view()};
  auto expected = one->call(inputs);
  ASSERT_TRUE(expected.ok()) << expected.status().toString();

  for (int64_t chunks : {2, 3, 7}) {
    SCOPED_TRACE(std::to_string(chunks) + " chunks");
    auto split = compile(chunks);
    ASSERT_TRUE(split.ok()) << split.status().toString();
    auto function = split->lookup("gqa_lse");
    ASSERT_TRUE(function.ok());
    auto outputs = function->call(inputs);
    ASSERT_TRUE(outputs.ok()) << outputs.status().toString();
    for (size_t i = 0; i < outputs->size(); ++i) {
      ASSERT_EQ((*outputs)[i].numElements(), (*expected)[i].numElements());
      auto got = (*outputs)[i].values<float>();
      auto want = (*expected)[i].values<float>();
      for (size_t e = 0; e < got.size(); ++e) {
        if (std::isinf(want[e])) { // the lse of the empty row
          EXPECT_EQ(got[e], want[e]) << "output " << i << " element " << e;
          continue;
        }
        EXPECT_NEAR(got[e], want[e], 2e-6 * std::max(1.0f, std::abs(want[e])))
            << "output " << i << " element " << e;
      }
    }
  }
}

/// gqa_lse of the decode tests (q 3x4x1x16, k and v 3x2x70x16, key lengths
/// 70, 17, 0) on random inputs that `poison` edits, compiled for every
/// strategy (key tiles of 16, split-K merged from 3 chunks); `check` sees
/// each strategy's outputs.
void runPoisonedGqaLse(
    uint64_t seed,
    llvm::function_ref<void(HostTensor &, HostTensor &, HostTensor &)> poison,
    llvm::function_ref<void(const std::vector<HostTensor> &)> check) {
  std::unique_ptr<mlir::MLIRContext> context =
      mlir::attn::createCompilerContext();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      loadFunction(kDecode, "gqa_lse", context.get());
  ASSERT_TRUE(module);
  std::mt19937_64 rng(seed);
  HostTensor q(ATTN_DTYPE_F32, {3, 4, 1, 16});
  HostTensor k(ATTN_DTYPE_F32, {3, 2, 70, 16});
  HostTensor v(ATTN_DTYPE_F32, {3, 2, 70, 16});
  HostTensor lengths = HostTensor::fromValues<int32_t>({3}, {70, 17, 0});
  for (HostTensor *t : {&q, &k, &v})
    ref::fillRandom(*t, rng(), 0);
  poison(q, k, v);
  std::vector<attn_tensor_t> inputs = {q.view(), k.view(), v.view(),
                                       lengths.view()};
  for (const char *strategy : {"decode", "flash", "materialized"}) {
    SCOPED_TRACE(strategy);
    mlir::attn::CPUTargetOptions options = testTarget();
    options.pipeline.strategy = strategy;
    options.pipeline.keyTile = 16;
    options.pipeline.splitK = 3;
    auto compiled = mlir::attn::compileForRuntime(*module, options);
    ASSERT_TRUE(compiled.ok()) << compiled.status().toString();
    auto function = compiled->lookup("gqa_lse");
    ASSERT_TRUE(function.ok());
    auto outputs = function->call(inputs);
    ASSERT_TRUE(outputs.ok()) << outputs.status().toString();
    check(*outputs);
  }
}

/// The index of element (b, h, s, d) of a 3x2x70x16 k or v.
int64_t kvIndex(int64_t b, int64_t h, int64_t s, int64_t d) {
  return ((b * 2 + h) * 70 + s) * 16 + d;
}

/// A NaN in the inputs reaches exactly the outputs that the math says it
/// reaches, and is never taken for an empty row's 0: with a NaN in
/// q[0, 0, 0, 0], row (0, 0) is NaN (output and log-sum-exp) and the other
/// heads are finite; with a NaN in v at a key that batch row 1 sees, column 0
/// of that K/V head's query heads is NaN and their other columns finite; the
/// row with no key stays 0 (lse -inf). For every strategy, split-K merged.
TEST(NaNInputs, ReachTheirRowsAndNoOthers) {
  auto poison = [](HostTensor &q, HostTensor &, HostTensor &v) {
    q.data<float>()[0] = NAN;                   // q[0, 0, 0, 0]
    v.data<float>()[kvIndex(1, 0, 5, 0)] = NAN; // a key row 1 sees
  };
  runPoisonedGqaLse(11, poison, [](const std::vector<HostTensor> &outputs) {
    auto out = outputs[0].values<float>();
    auto lse = outputs[1].values<float>();
    for (int64_t b = 0; b < 3; ++b)
      for (int64_t h = 0; h < 4; ++h) {
        int64_t row = b * 4 + h;
        for (int64_t d = 0; d < 16; ++d) {
          float o = out[row * 16 + d];
          bool nan = (b == 0 && h == 0) || (b == 1 && h < 2 && d == 0);
          if (nan)
            EXPECT_TRUE(std::isnan(o)) << "row " << row << " column " << d;
          else if (b == 2)
            EXPECT_EQ(o, 0.0f) << "row " << row << " column " << d;
          else
            EXPECT_TRUE(std::isfinite(o)) << "row " << row << " column " << d;
        }
        if (b == 0 && h == 0)
          EXPECT_TRUE(std::isnan(lse[row])) << "row " << row;
        else if (b == 2)
          EXPECT_EQ(lse[row], -INFINITY) << "row " << row;
        else
          EXPECT_TRUE(std::isfinite(lse[row])) << "row " << row;
      }
  });
}

/// A key past its row's key length is not attended, whatever its value: a
/// NaN or an infinity there (the garbage of a padded batch or an unused
/// cache slot) reaches no output, in a tile the key length cuts as well as
/// in one it skips, and for q, k and v alike.
TEST(NaNPastTheKeyLength, ReachesNoRow) {
  // Row 1 sees keys 0-16: key 20 shares a tile of 16 with them, key 40 is
  // in a tile it skips; row 2 sees nothing.
  auto poison = [](HostTensor &, HostTensor &k, HostTensor &v) {
    for (int64_t s : {20, 40}) {
      k.data<float>()[kvIndex(1, 0, s, 3)] = NAN;
      v.data<float>()[kvIndex(1, 0, s, 0)] = NAN;
      v.data<float>()[kvIndex(1, 1, s, 1)] = INFINITY;
      v.data<float>()[kvIndex(2, 0, s, 2)] = NAN;
    }
  };
  runPoisonedGqaLse(12, poison, [](const std::vector<HostTensor> &outputs) {
    auto out = outputs[0].values<float>();
    for (int64_t i = 0; i < int64_t(out.size()); ++i)
      EXPECT_TRUE(std::isfinite(out[i])) << "element " << i;
  });
}

} // namespace

namespace {

/// Positions [first, first + count) of a (B, H, T, W) f32 tensor.
HostTensor positions(const HostTensor &tensor, int64_t first, int64_t count) {
  const std::vector<int64_t> &full = tensor.shape();
  HostTensor part(ATTN_DTYPE_F32, {full[0], full[1], count, full[3]});
  const float *from = tensor.data<float>();
  float *to = part.data<float>();
  for (int64_t row = 0; row < full[0] * full[1]; ++row)
    std::copy_n(from + (row * full[2] + first) * full[3], count * full[3],
                to + row * count * full[3]);
  return part;
}

/// The recurrent form continues exactly from the state that a chunked
/// prefill returned: a sequence of 37 + 6 tokens computed as one chunked
/// prefill of 37 (chunks of 8) and then 6 recurrent steps of one token, each
/// fed the state the previous call returned, equals the reference on the
/// whole sequence, outputs and final state. The runtime's LinearState
/// carries the state between the calls.
TEST(LinearContinuation, RecurrentStepsContinueAChunkedPrefill) {
  std::unique_ptr<mlir::MLIRContext> context =
      mlir::attn::createCompilerContext();
  mlir::OwningOpRef<mlir::ModuleOp> module =
      loadFunction(kLinear, "causal", context.get());
  ASSERT_TRUE(module);
  auto func = module->lookupSymbol<mlir::func::FuncOp>("causal");
  auto compile = [&](const char *form) {
    mlir::attn::CPUTargetOptions options = testTarget();
    options.pipeline.linearForm = form;
    options.pipeline.linearChunk = 8;
    return mlir::attn::compileForRuntime(*module, options);
  };
  auto chunked = compile("chunked");
  auto recurrent = compile("recurrent");
  ASSERT_TRUE(chunked.ok()) << chunked.status().toString();
  ASSERT_TRUE(recurrent.ok()) << recurrent.status().toString();
  auto prefill = chunked->lookup("causal");
  auto step = recurrent->lookup("causal");
  ASSERT_TRUE(prefill.ok() && step.ok());

  const int64_t batch = 2, prompt = 37, steps = 6, total = prompt + steps;
  std::mt19937_64 rng(11);
  HostTensor q(ATTN_DTYPE_F32, {batch, 4, total, 16});
  HostTensor k(ATTN_DTYPE_F32, {batch, 2, total, 16});
  HostTensor v(ATTN_DTYPE_F32, {batch, 2, total, 8});
  HostTensor zeroState(ATTN_DTYPE_F32, {batch, 2, 16, 9});
  for (HostTensor *t : {&q, &k, &v})
    ref::fillRandom(*t, rng(), 0);

  // The runtime's state holds what the calls carry from one to the next:
  // each reads current() and writes next().
  auto state = ::attn::LinearState::create(batch, 2, 16, 8);
  ASSERT_TRUE(state.ok()) << state.status().toString();
  std::vector<std::vector<float>> outputs;
  auto call = [&](::attn::Function &function, int64_t first, int64_t count) {
    HostTensor lengths = HostTensor::fromValues<int32_t>(
        {batch}, std::vector<int32_t>(batch, count));
    HostTensor qs = positions(q, first, count), ks = positions(k, first, count),
               vs = positions(v, first, count),
               out(ATTN_DTYPE_F32, {batch, 4, count, 8});
    std::vector<attn_tensor_t> inputs = {qs.view(), ks.view(), vs.view(),
                                         lengths.view(), state->current()};
    std::vector<attn_tensor_t> results = {out.view(), state->next()};
    ::attn::Status status = function.invoke(inputs, results);
    if (status.ok())
      status = state->advance(count);
    outputs.push_back(out.values<float>());
    return status;
  };
  ::attn::Status status = call(*prefill, 0, prompt);
  ASSERT_TRUE(status.ok()) << status.toString();
  for (int64_t t = prompt; t < total; ++t) {
    status = call(*step, t, 1);
    ASSERT_TRUE(status.ok()) << status.toString();
  }
  EXPECT_EQ(state->positions(), total);
  attn_tensor_t final = state->current();
  HostTensor carried(ATTN_DTYPE_F32, {batch, 2, 16, 9});
  std::copy_n(static_cast<const float *>(final.data), carried.numElements(),
              carried.data<float>());

  // The reference on the whole sequence, from a zero state.
  HostTensor lengths = HostTensor::fromValues<int32_t>(
      {batch}, std::vector<int32_t>(batch, total));
  std::vector<ref::Tensor> inputs = {
      ref::toReference(q), ref::toReference(k), ref::toReference(v),
      ref::toReference(lengths), ref::toReference(zeroState)};
  auto expected = mlir::attn::evaluateReference(func, inputs, nullptr);
  ASSERT_TRUE(mlir::succeeded(expected));
  const ref::Tensor &out = (*expected)[0], &finalState = (*expected)[1];
  // Output (b, h, i, e) of the whole sequence against the call that made it.
  double worst = 0, scale = 1;
  for (double x : out.data)
    scale = std::max(scale, std::abs(x));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t i = 0; i < total; ++i)
        for (int64_t e = 0; e < 8; ++e) {
          double want = out.data[((b * 4 + h) * total + i) * 8 + e];
          double got = i < prompt
                           ? outputs[0][((b * 4 + h) * prompt + i) * 8 + e]
                           : outputs[1 + i - prompt][(b * 4 + h) * 8 + e];
          worst = std::max(worst, std::abs(got - want));
        }
  EXPECT_LE(worst / scale, 1e-4);
  EXPECT_LE(ref::maxError(carried, finalState), 1e-4);
}

} // namespace

namespace {

/// attn-generate-gradients derives the backward right: for random inputs
/// x, output gradients dy and a random direction u, the gradients g that
/// @f_backward returns satisfy sum_i <g_i, u_i> = d/dh sum <dy, f(x + h u)>
/// at h = 0, the derivative taken by central differences of the float64
/// reference's forward (the backward is evaluated by the same reference, so
/// this checks the derivation, not a lowering): layers, softmax attention
/// (with sinks and score modifiers too) and linear attention (causal too:
/// the reverse scan over two chunks of 64).
TEST(GenerateGradients, MatchCentralDifferencesOfTheForward) {
  const char *text = R"mlir(
    func.func @layer_gqa_causal(%x: tensor<2x7x12xf32>, %wq: tensor<12x12xf32>,
                                %wk: tensor<12x6xf32>, %wv: tensor<12x6xf32>,
                                %wo: tensor<12x10xf32>) -> tensor<2x7x10xf32> {
      %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(4) kv_heads(2)
          mask(#attn.causal<top_left>)
          : (tensor<2x7x12xf32>, tensor<12x12xf32>, tensor<12x6xf32>,
             tensor<12x6xf32>, tensor<12x10xf32>) -> tensor<2x7x10xf32>
      return %y : tensor<2x7x10xf32>
    }
    func.func @layer_cross_padded(%x: tensor<2x5x12xf32>, %wq: tensor<12x8xf32>,
                                  %wk: tensor<8x8xf32>, %wv: tensor<8x6xf32>,
                                  %wo: tensor<6x12xf32>, %c: tensor<2x9x8xf32>,
                                  %len: tensor<2xi32>) -> tensor<2x5x12xf32> {
      %y = attn.multi_head %x, %wq, %wk, %wv, %wo source(%c) key_lengths(%len)
          heads(2) kv_heads(2)
          : (tensor<2x5x12xf32>, tensor<12x8xf32>, tensor<8x8xf32>,
             tensor<8x6xf32>, tensor<6x12xf32>, tensor<2x9x8xf32>,
             tensor<2xi32>) -> tensor<2x5x12xf32>
      return %y : tensor<2x5x12xf32>
    }
    func.func @self_window(%x: tensor<1x3x11x4xf32>) -> tensor<1x3x11x4xf32> {
      %o = attn.attention %x, %x, %x
          mask(#attn.window<left = 3, right = 2, alignment = top_left, dilation = 2>)
          scale(0.7)
          : (tensor<1x3x11x4xf32>, tensor<1x3x11x4xf32>, tensor<1x3x11x4xf32>)
            -> tensor<1x3x11x4xf32>
      return %o : tensor<1x3x11x4xf32>
    }
    func.func @sinks_gqa_causal(%q: tensor<2x4x5x4xf32>, %k: tensor<2x2x6x4xf32>,
                                %v: tensor<2x2x6x3xf32>, %len: tensor<2xi32>,
                                %sinks: tensor<4xf32>) -> tensor<2x4x5x3xf32> {
      %o = attn.attention %q, %k, %v key_lengths(%len) sinks(%sinks)
          mask(#attn.causal<bottom_right>)
          : (tensor<2x4x5x4xf32>, tensor<2x2x6x4xf32>, tensor<2x2x6x3xf32>,
             tensor<2xi32>, tensor<4xf32>) -> tensor<2x4x5x3xf32>
      return %o : tensor<2x4x5x3xf32>
    }
    func.func @softcap_window(%q: tensor<1x2x9x4xf32>, %k: tensor<1x2x9x4xf32>,
                              %v: tensor<1x2x9x3xf32>) -> tensor<1x2x9x3xf32> {
      %o = attn.attention %q, %k, %v scale(2.0)
          mask(#attn.window<left = 3, right = 1, alignment = top_left>)
          score_mod(#attn.softcap<cap = 0.7>)
          : (tensor<1x2x9x4xf32>, tensor<1x2x9x4xf32>, tensor<1x2x9x3xf32>)
            -> tensor<1x2x9x3xf32>
      return %o : tensor<1x2x9x3xf32>
    }
    func.func @alibi_gqa(%q: tensor<1x6x5x4xf32>, %k: tensor<1x2x8x4xf32>,
                         %v: tensor<1x2x8x3xf32>) -> tensor<1x6x5x3xf32> {
      %o = attn.attention %q, %k, %v mask(#attn.causal<bottom_right>)
          score_mod(#attn.alibi<bottom_right>)
          : (tensor<1x6x5x4xf32>, tensor<1x2x8x4xf32>, tensor<1x2x8x3xf32>)
            -> tensor<1x6x5x3xf32>
      return %o : tensor<1x6x5x3xf32>
    }
    func.func @linear_gqa_state(%q: tensor<2x4x9x8xf32>, %k: tensor<2x2x11x8xf32>,
                                %v: tensor<2x2x11x6xf32>, %len: tensor<2xi32>,
                                %s0: tensor<2x2x8x7xf32>) -> tensor<2x4x9x6xf32> {
      %o = attn.linear_attention %q, %k, %v key_lengths(%len) state(%s0)
          : (tensor<2x4x9x8xf32>, tensor<2x2x11x8xf32>, tensor<2x2x11x6xf32>,
             tensor<2xi32>, tensor<2x2x8x7xf32>) -> tensor<2x4x9x6xf32>
      return %o : tensor<2x4x9x6xf32>
    }
    func.func @linear_relu(%q: tensor<1x2x5x4xf32>, %k: tensor<1x2x7x4xf32>,
                           %v: tensor<1x2x7x3xf32>) -> tensor<1x2x5x3xf32> {
      %o = attn.linear_attention %q, %k, %v feature_map(relu)
          : (tensor<1x2x5x4xf32>, tensor<1x2x7x4xf32>, tensor<1x2x7x3xf32>)
            -> tensor<1x2x5x3xf32>
      return %o : tensor<1x2x5x3xf32>
    }
    func.func @causal_linear_chunks(%q: tensor<1x2x70x8xf32>,
                                    %k: tensor<1x1x70x8xf32>,
                                    %v: tensor<1x1x70x6xf32>,
                                    %s0: tensor<1x1x8x7xf32>)
        -> tensor<1x2x70x6xf32> {
      %o = attn.linear_attention %q, %k, %v state(%s0) causal
          : (tensor<1x2x70x8xf32>, tensor<1x1x70x8xf32>, tensor<1x1x70x6xf32>,
             tensor<1x1x8x7xf32>) -> tensor<1x2x70x6xf32>
      return %o : tensor<1x2x70x6xf32>
    }
    func.func @causal_linear_padded(%q: tensor<2x1x12x4xf32>,
                                    %k: tensor<2x1x12x4xf32>,
                                    %v: tensor<2x1x12x3xf32>,
                                    %len: tensor<2xi32>)
        -> tensor<2x1x12x3xf32> {
      %o = attn.linear_attention %q, %k, %v key_lengths(%len)
          feature_map(relu) causal
          : (tensor<2x1x12x4xf32>, tensor<2x1x12x4xf32>, tensor<2x1x12x3xf32>,
             tensor<2xi32>) -> tensor<2x1x12x3xf32>
      return %o : tensor<2x1x12x3xf32>
    })mlir";
  std::unique_ptr<mlir::MLIRContext> context =
      mlir::attn::createCompilerContext();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, context.get());
  ASSERT_TRUE(module);
  mlir::PassManager pm(context.get());
  pm.addPass(mlir::attn::createAttnGenerateGradientsPass());
  ASSERT_TRUE(mlir::succeeded(pm.run(*module)));

  std::mt19937 rng(17);
  std::uniform_real_distribution<double> uniform(-1, 1);
  auto randomLike = [&](mlir::Type type) {
    auto tensor = mlir::cast<mlir::RankedTensorType>(type);
    ref::Tensor t(std::vector<int64_t>(tensor.getShape()));
    for (double &x : t.data)
      x = uniform(rng);
    return t;
  };
  for (const char *name :
       {"layer_gqa_causal", "layer_cross_padded", "self_window",
        "sinks_gqa_causal", "softcap_window", "alibi_gqa", "linear_gqa_state", "linear_relu", "causal_linear_chunks",
        "causal_linear_padded"}) {
    SCOPED_TRACE(name);
    auto forward = module->lookupSymbol<mlir::func::FuncOp>(name);
    auto backward = module->lookupSymbol<mlir::func::FuncOp>(
        std::string(name) + "_backward");
    ASSERT_TRUE(forward && backward);
    std::vector<ref::Tensor> inputs, direction;
    for (mlir::Type type : forward.getArgumentTypes()) {
      auto tensor = mlir::cast<mlir::RankedTensorType>(type);
      if (tensor.getElementType().isInteger(32)) {
        ref::Tensor lengths({tensor.getDimSize(0)});
        lengths.data = {9, 4}; // a full row and a padded one
        inputs.push_back(lengths);
        direction.push_back(ref::Tensor());
        continue;
      }
      inputs.push_back(randomLike(type));
      direction.push_back(randomLike(type));
      // A linear attention's state: a normalizer column that keeps the
      // denominators away from 0 (a positive feature map's states have
      // one).
      if (tensor.getRank() == 4 && tensor.getDimSize(2) == 8 &&
          tensor.getDimSize(3) == 7)
        for (size_t e = 6; e < inputs.back().data.size(); e += 7)
          inputs.back().data[e] = 2 + std::abs(inputs.back().data[e]);
    }
    std::vector<ref::Tensor> outputGrads;
    for (mlir::Type type : forward.getResultTypes())
      outputGrads.push_back(randomLike(type));

    // sum <dy, f(x + h u)>
    auto loss = [&](double h) {
      std::vector<ref::Tensor> moved = inputs;
      for (size_t i = 0; i < moved.size(); ++i)
        for (size_t e = 0; e < direction[i].data.size(); ++e)
          moved[i].data[e] += h * direction[i].data[e];
      auto results = mlir::attn::evaluateReference(forward, moved, nullptr);
      EXPECT_TRUE(mlir::succeeded(results));
      double sum = 0;
      for (size_t r = 0; r < outputGrads.size(); ++r)
        for (size_t e = 0; e < outputGrads[r].data.size(); ++e)
          sum += outputGrads[r].data[e] * (*results)[r].data[e];
      return sum;
    };
    double h = 1e-4;
    double numeric = (loss(h) - loss(-h)) / (2 * h);

    std::vector<ref::Tensor> backwardInputs = inputs;
    backwardInputs.insert(backwardInputs.end(), outputGrads.begin(),
                          outputGrads.end());
    auto grads = mlir::attn::evaluateReference(backward, backwardInputs,
                                               nullptr);
    ASSERT_TRUE(mlir::succeeded(grads));
    double analytic = 0;
    size_t g = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (direction[i].data.empty())
        continue;
      ASSERT_LT(g, grads->size());
      for (size_t e = 0; e < direction[i].data.size(); ++e)
        analytic += (*grads)[g].data[e] * direction[i].data[e];
      ++g;
    }
    EXPECT_EQ(g, grads->size());
    EXPECT_NEAR(analytic, numeric, 1e-6 * std::max(1.0, std::abs(numeric)));
  }
}

/// attn-pool-kv-heads, run before the CPU pipeline on a multi-head layer
/// (8 heads of 4 over 2 groups), computes what the grouped-query layer with
/// the mean-pooled weights computes: the reference evaluates that layer
/// with weights pooled here, in float64.
TEST(PoolKVHeads, MatchesTheGroupedLayerWithPooledWeights) {
  const char *text = R"mlir(
    func.func @layer(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>,
                     %wk: tensor<32x32xf32>, %wv: tensor<32x32xf32>,
                     %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
      %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(8)
          mask(#attn.causal<top_left>)
          : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x32xf32>,
             tensor<32x32xf32>, tensor<32x32xf32>) -> tensor<?x?x32xf32>
      return %y : tensor<?x?x32xf32>
    }
    func.func @grouped(%x: tensor<?x?x32xf32>, %wq: tensor<32x32xf32>,
                       %wk: tensor<32x8xf32>, %wv: tensor<32x8xf32>,
                       %wo: tensor<32x32xf32>) -> tensor<?x?x32xf32> {
      %y = attn.multi_head %x, %wq, %wk, %wv, %wo heads(8) kv_heads(2)
          mask(#attn.causal<top_left>)
          : (tensor<?x?x32xf32>, tensor<32x32xf32>, tensor<32x8xf32>,
             tensor<32x8xf32>, tensor<32x32xf32>) -> tensor<?x?x32xf32>
      return %y : tensor<?x?x32xf32>
    })mlir";
  std::unique_ptr<mlir::MLIRContext> context =
      mlir::attn::createCompilerContext();
  auto module = mlir::parseSourceString<mlir::ModuleOp>(text, context.get());
  ASSERT_TRUE(module);
  auto grouped = module->lookupSymbol<mlir::func::FuncOp>("grouped");

  mlir::OwningOpRef<mlir::ModuleOp> layer(module->clone());
  layer->lookupSymbol<mlir::func::FuncOp>("grouped").erase();
  mlir::PassManager pm(context.get());
  pm.addNestedPass<mlir::func::FuncOp>(
      mlir::attn::createAttnPoolKVHeadsPass({/*kvHeads=*/2}));
  ASSERT_TRUE(mlir::succeeded(pm.run(*layer)));
  auto compiled = mlir::attn::compileForRuntime(*layer, {});
  ASSERT_TRUE(compiled.ok()) << compiled.status().toString();
  auto function = compiled->lookup("layer");
  ASSERT_TRUE(function.ok());

  std::mt19937_64 rng(11);
  std::vector<HostTensor> inputs;
  inputs.emplace_back(ATTN_DTYPE_F32, std::vector<int64_t>{2, 13, 32});
  for (int i = 0; i < 4; ++i)
    inputs.emplace_back(ATTN_DTYPE_F32, std::vector<int64_t>{32, 32});
  std::vector<attn_tensor_t> views;
  for (HostTensor &t : inputs) {
    ref::fillRandom(t, rng(), 0);
    views.push_back(t.view());
  }
  auto outputs = function->call(views);
  ASSERT_TRUE(outputs.ok()) << outputs.status().toString();

  // W[:, g, :] = mean of the 4 heads (of width 4) of group g.
  auto pool = [](const HostTensor &w) {
    ref::Tensor pooled({32, 8});
    const float *data = w.data<float>();
    for (int64_t f = 0; f < 32; ++f)
      for (int64_t g = 0; g < 2; ++g)
        for (int64_t e = 0; e < 4; ++e) {
          double sum = 0;
          for (int64_t j = 0; j < 4; ++j)
            sum += data[f * 32 + (g * 4 + j) * 4 + e];
          pooled.data[f * 8 + g * 4 + e] = sum / 4;
        }
    return pooled;
  };
  std::vector<ref::Tensor> referenceInputs = {
      ref::toReference(inputs[0]), ref::toReference(inputs[1]), pool(inputs[2]),
      pool(inputs[3]), ref::toReference(inputs[4])};
  auto expected =
      mlir::attn::evaluateReference(grouped, referenceInputs, nullptr);
  ASSERT_TRUE(mlir::succeeded(expected));
  EXPECT_LE(ref::maxError((*outputs)[0], (*expected)[0]),
            ref::defaultTolerance(ATTN_DTYPE_F32));
}

} // namespace
