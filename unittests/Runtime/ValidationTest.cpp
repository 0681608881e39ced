//===- ValidationTest.cpp - Every bad input is refused before the call ----===//
//
// Each case checks the status code, that the message names the function, the
// argument (name and index) and the shapes involved, and that the generated
// code was not entered (its output keeps a sentinel value).
//
//===----------------------------------------------------------------------===//

#include "FakeModule.h"

#include <cmath>
#include <cstring>

using namespace attn::test;

namespace {

constexpr float kSentinel = 42.0f;
constexpr int64_t B = 2, N = 3, S = 5;

/// The attention fixture with valid arguments that each test spoils.
class Validation : public ::testing::Test {
protected:
  LoadedModule module{ATTN_FIXTURE_ATTENTION};
  const attn_function_t *attention = module.function("attention");
  Buffer<float> q{ATTN_DTYPE_F32, {B, 2, N, 4}, 0.5f};
  Buffer<float> k{ATTN_DTYPE_F32, {B, 1, S, 4}, 0.25f};
  Buffer<float> v{ATTN_DTYPE_F32, {B, 1, S, 4}, 1.0f};
  Buffer<int32_t> lengths{ATTN_DTYPE_I32, {B}, 5};
  Buffer<float> out{ATTN_DTYPE_F32, {B, 2, N, 4}, kSentinel};
  std::vector<attn_tensor_t> inputs;
  std::vector<attn_tensor_t> outputs;

  void SetUp() override {
    ASSERT_NE(attention, nullptr);
    inputs = {q.view(), k.view(), v.view(), lengths.view()};
    outputs = {out.view()};
  }

  Outcome invoke() {
    return invoke(inputs.data(), inputs.size(), outputs.data(), outputs.size());
  }
  Outcome invoke(const attn_tensor_t *in, size_t inCount,
                 const attn_tensor_t *outs, size_t outCount) {
    attn_invoke_stats_t stats{1, 1, 1};
    Outcome outcome = take(
        attn_function_invoke(attention, in, inCount, outs, outCount, &stats));
    if (!outcome.ok()) {
      EXPECT_EQ(stats.peak_bytes, 0u) << "stats are zeroed on failure";
      EXPECT_EQ(stats.allocation_count, 0u);
      EXPECT_EQ(stats.retained_bytes, 0);
    }
    return outcome;
  }

  /// The invocation fails with `code`, the message holds `parts`, and the
  /// generated code never ran.
  void expectRejected(const Outcome &outcome, attn_status_code_t code,
                      const std::vector<std::string> &parts) {
    expectError(outcome, code, parts);
    EXPECT_EQ(outcome.message.rfind("attention: ", 0), 0u)
        << "the message starts with the function name: " << outcome.message;
    for (float value : out.values)
      ASSERT_EQ(value, kSentinel) << "the generated code ran";
  }

  void expectInvalid(const std::vector<std::string> &parts) {
    expectRejected(invoke(), ATTN_STATUS_INVALID_ARGUMENT, parts);
  }

  /// The same input error from shape inference.
  void expectInferInvalid(const std::vector<std::string> &parts) {
    int64_t shape[4];
    expectError(take(attn_function_infer_output_shapes(attention, inputs.data(),
                                                       inputs.size(), shape)),
                ATTN_STATUS_INVALID_ARGUMENT, parts);
  }
};

TEST_F(Validation, TheValidArgumentsWork) {
  Outcome outcome = invoke();
  ASSERT_TRUE(outcome.ok()) << outcome;
  EXPECT_NE(out.values[0], kSentinel);
}

TEST_F(Validation, NullFunction) {
  expectError(take(attn_function_invoke(nullptr, inputs.data(), 4,
                                        outputs.data(), 1, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"attn_function_invoke", "function handle is NULL"});
  int64_t shape[4];
  expectError(
      take(attn_function_infer_output_shapes(nullptr, inputs.data(), 4, shape)),
      ATTN_STATUS_INVALID_ARGUMENT,
      {"attn_function_infer_output_shapes", "function handle is NULL"});
}

TEST_F(Validation, WrongNumberOfInputs) {
  expectRejected(invoke(inputs.data(), 3, outputs.data(), 1),
                 ATTN_STATUS_INVALID_ARGUMENT,
                 {"expected 4 inputs (q, k, v, key_lengths) but got 3"});
  int64_t shape[4];
  expectError(take(attn_function_infer_output_shapes(attention, inputs.data(),
                                                     5, shape)),
              ATTN_STATUS_INVALID_ARGUMENT, {"expected 4 inputs", "got 5"});
}

TEST_F(Validation, WrongNumberOfOutputs) {
  expectRejected(invoke(inputs.data(), 4, outputs.data(), 0),
                 ATTN_STATUS_INVALID_ARGUMENT,
                 {"expected 1 output (out) but got 0"});
  attn_tensor_t two[] = {out.view(), out.view()};
  expectRejected(invoke(inputs.data(), 4, two, 2), ATTN_STATUS_INVALID_ARGUMENT,
                 {"expected 1 output (out) but got 2"});
}

TEST_F(Validation, NullTensorArrays) {
  expectRejected(invoke(nullptr, 4, outputs.data(), 1),
                 ATTN_STATUS_INVALID_ARGUMENT,
                 {"the input array is NULL but 4 inputs"});
  expectRejected(invoke(inputs.data(), 4, nullptr, 1),
                 ATTN_STATUS_INVALID_ARGUMENT,
                 {"the output array is NULL but 1 outputs"});
}

TEST_F(Validation, NullData) {
  inputs[0].data = nullptr;
  expectInvalid({"argument 'q' (input 0)", "shape [2,2,3,4] (48 elements)",
                 "data pointer is NULL", "(signature q: f32[B,2,N,4])"});
  expectInferInvalid({"argument 'q' (input 0)", "data pointer is NULL"});
  inputs[0] = q.view();
  outputs[0].data = nullptr;
  expectInvalid(
      {"argument 'out' (output 0)", "shape [2,2,3,4]", "data pointer is NULL"});
}

TEST_F(Validation, NullShape) {
  inputs[1].shape = nullptr;
  expectInvalid({"argument 'k' (input 1) has rank 4 but its shape pointer is "
                 "NULL",
                 "(signature k: f32[B,1,S,4])"});
  inputs[1] = k.view();
  outputs[0].shape = nullptr;
  expectInvalid({"argument 'out' (output 0) has rank 4 but its shape pointer "
                 "is NULL"});
}

TEST_F(Validation, NegativeRank) {
  inputs[2].rank = -1;
  expectInvalid({"argument 'v' (input 2) has negative rank -1"});
}

TEST_F(Validation, DtypeMismatch) {
  inputs[0].dtype = ATTN_DTYPE_F16;
  expectInvalid({"argument 'q' (input 0) with shape [2,2,3,4] has dtype f16 "
                 "but the signature requires f32",
                 "(signature q: f32[B,2,N,4])"});
  expectInferInvalid({"argument 'q' (input 0)", "dtype f16"});
  inputs[0] = q.view();
  inputs[3].dtype = ATTN_DTYPE_I64;
  expectInvalid({"argument 'key_lengths' (input 3) with shape [2] has dtype "
                 "i64 but the signature requires i32",
                 "(signature key_lengths: i32[B] <= S)"});
  inputs[3] = lengths.view();
  outputs[0].dtype = static_cast<attn_dtype_t>(42);
  expectInvalid({"argument 'out' (output 0)", "has dtype unknown dtype 42"});
}

TEST_F(Validation, RankMismatch) {
  inputs[0].rank = 3;
  expectInvalid({"argument 'q' (input 0) has rank 3 (shape [2,2,3]) but the "
                 "signature requires rank 4"});
  inputs[0] = q.view();
  int64_t flat[] = {B * 2 * N * 4};
  outputs[0].rank = 1;
  outputs[0].shape = flat;
  expectInvalid(
      {"argument 'out' (output 0) has rank 1 (shape [48])", "requires rank 4"});
}

TEST_F(Validation, NegativeDimension) {
  int64_t shape[] = {2, -2, 3, 4};
  inputs[0].shape = shape;
  expectInvalid({"argument 'q' (input 0) has shape [2,-2,3,4] but dimension "
                 "1 is negative"});
}

TEST_F(Validation, ElementCountOverflow) {
  int64_t tooMany[] = {2, 2, int64_t(1) << 59, 4};
  inputs[0].shape = tooMany;
  expectInvalid({"argument 'q' (input 0)", "more elements than int64_t"});
  int64_t tooManyBytes[] = {2, 2, int64_t(1) << 58, 4};
  inputs[0].shape = tooManyBytes;
  expectInvalid({"argument 'q' (input 0)", "size in bytes does not fit"});
}

TEST_F(Validation, StaticDimensionMismatch) {
  int64_t shape[] = {2, 1, 5, 3};
  inputs[1].shape = shape;
  Outcome outcome = invoke();
  expectRejected(outcome, ATTN_STATUS_INVALID_ARGUMENT, {});
  EXPECT_EQ(outcome.message,
            "attention: argument 'k' (input 1) has shape [2,1,5,3] but "
            "dimension 3 must be 4 (signature k: f32[B,1,S,4])");
  expectInferInvalid({"argument 'k' (input 1)", "dimension 3 must be 4"});
}

TEST_F(Validation, SymbolMismatchBetweenInputs) {
  int64_t shape[] = {2, 1, 4, 4};
  inputs[2].shape = shape;
  Outcome outcome = invoke();
  expectRejected(outcome, ATTN_STATUS_INVALID_ARGUMENT, {});
  EXPECT_EQ(outcome.message,
            "attention: argument 'v' (input 2) has shape [2,1,4,4] but "
            "dimension 2 is S = 4 while argument 'k' (input 1) with shape "
            "[2,1,5,4] bound S = 5 (signature v: f32[B,1,S,4])");

  inputs[2] = v.view();
  int64_t three[] = {3};
  inputs[3].shape = three;
  lengths.values.push_back(0);
  inputs[3].data = lengths.values.data();
  expectInvalid({"argument 'key_lengths' (input 3) has shape [3]",
                 "dimension 0 is B = 3 while argument 'q' (input 0) with "
                 "shape [2,2,3,4] bound B = 2"});
}

TEST_F(Validation, SymbolRepeatedWithinOneArgument) {
  FakeSymbols symbols = fakeSymbols(
      "attn-abi 1\nsquare(x: f32[N,N]) -> (y: f32[N,N])\n", {"square"});
  attn_module_t *fake = nullptr;
  ASSERT_TRUE(symbols.create(&fake).ok());
  const attn_function_t *square = nullptr;
  ATTN_ASSERT_OK(attn_module_function_at(fake, 0, &square));
  Buffer<float> x(ATTN_DTYPE_F32, {2, 3}), y(ATTN_DTYPE_F32, {2, 3});
  attn_tensor_t input = x.view(), output = y.view();
  expectError(
      take(attn_function_invoke(square, &input, 1, &output, 1, nullptr)),
      ATTN_STATUS_INVALID_ARGUMENT,
      {"square: argument 'x' (input 0) has shape [2,3] but dimension "
       "1 is N = 3 while an earlier dimension of the same argument "
       "bound N = 2"});
  attn_module_release(fake);
}

TEST_F(Validation, OutputShapeMustEqualTheDerivedOne) {
  int64_t wrongSymbol[] = {2, 2, 4, 4};
  outputs[0].shape = wrongSymbol;
  expectInvalid({"argument 'out' (output 0) has shape [2,2,4,4] but "
                 "dimension 2 is N = 4 while argument 'q' (input 0) with "
                 "shape [2,2,3,4] bound N = 3",
                 "the inputs give it the shape [2,2,3,4]",
                 "(signature out: f32[B,2,N,4])"});
  int64_t wrongStatic[] = {2, 2, 3, 5};
  outputs[0].shape = wrongStatic;
  expectInvalid({"argument 'out' (output 0) has shape [2,2,3,5] but "
                 "dimension 3 must be 4; the inputs give it the shape "
                 "[2,2,3,4]"});
}

TEST_F(Validation, NonContiguousStrides) {
  // q viewed with its last two dimensions transposed.
  int64_t strides[] = {24, 12, 1, 3};
  inputs[0].strides = strides;
  expectInvalid({"argument 'q' (input 0) has shape [2,2,3,4] and strides "
                 "[24,12,1,3]",
                 "requires row-major contiguous buffers, i.e. strides "
                 "[24,12,4,1]",
                 "dimensions of size 1 may have any stride"});
  expectInferInvalid({"argument 'q' (input 0)", "row-major contiguous"});
  inputs[0] = q.view();
  int64_t padded[] = {48, 24, 4, 1};
  outputs[0].strides = padded;
  expectInvalid(
      {"argument 'out' (output 0)", "strides [48,24,4,1]", "[24,12,4,1]"});
}

TEST_F(Validation, ContiguousStridesGivenExplicitlyAreAccepted) {
  int64_t strides[] = {24, 12, 4, 1};
  inputs[0].strides = strides;
  int64_t kStrides[] = {20, 1234, 4, 1}; // dimension 1 has size 1
  inputs[1].strides = kStrides;
  Outcome outcome = invoke();
  EXPECT_TRUE(outcome.ok()) << outcome;
}

TEST_F(Validation, OutputOverlappingAnInput) {
  outputs[0].data = q.values.data();
  expectInvalid({"argument 'out' (output 0) with shape [2,2,3,4] overlaps "
                 "argument 'q' (input 0) with shape [2,2,3,4]",
                 "outputs must not alias inputs or other outputs"});

  // A partial overlap: out starts inside k.
  std::vector<float> storage(200, kSentinel);
  std::memcpy(storage.data(), k.values.data(), k.values.size() * 4);
  inputs[1].data = storage.data();
  outputs[0].data = storage.data() + k.values.size() - 1;
  Outcome outcome = invoke();
  expectError(outcome, ATTN_STATUS_INVALID_ARGUMENT,
              {"argument 'out' (output 0)",
               "overlaps argument 'k' (input 1) with shape [2,1,5,4]"});

  // Adjacent buffers do not overlap.
  outputs[0].data = storage.data() + k.values.size();
  outcome = invoke();
  EXPECT_TRUE(outcome.ok()) << outcome;
}

TEST(ValidationOutputs, OutputsOverlappingEachOther) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *minmax = module.function("minmax");
  Buffer<float> x(ATTN_DTYPE_F32, {2, 3}, 1.0f);
  std::vector<float> storage(4, kSentinel);
  int64_t shape[] = {2};
  attn_tensor_t input = x.view();
  attn_tensor_t outputs[] = {
      {storage.data(), ATTN_DTYPE_F32, 1, shape, nullptr},
      {storage.data() + 1, ATTN_DTYPE_F32, 1, shape, nullptr}};
  expectError(
      take(attn_function_invoke(minmax, &input, 1, outputs, 2, nullptr)),
      ATTN_STATUS_INVALID_ARGUMENT,
      {"minmax: argument 'hi' (output 1) with shape [2] overlaps "
       "argument 'lo' (output 0) with shape [2]"});
  EXPECT_EQ(storage, std::vector<float>(4, kSentinel));

  outputs[1].data = storage.data() + 2;
  ATTN_EXPECT_OK(attn_function_invoke(minmax, &input, 1, outputs, 2, nullptr));
}

TEST(ValidationOutputs, InputsMayAliasEachOther) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  Buffer<float> a(ATTN_DTYPE_F32, {1, 2}, 2.0f), out(ATTN_DTYPE_F32, {1, 2});
  attn_tensor_t inputs[] = {a.view(), a.view()};
  attn_tensor_t output = out.view();
  ATTN_ASSERT_OK(attn_function_invoke(module.function("add"), inputs, 2,
                                      &output, 1, nullptr));
  EXPECT_EQ(out.values, (std::vector<float>{4.0f, 4.0f}));
}

TEST_F(Validation, BoundedValuesAboveTheBound) {
  lengths.values = {5, 6};
  expectInvalid({"argument 'key_lengths' (input 3) has value 6 at index [1], "
                 "outside [0, S = 5]",
                 "S bound by argument 'k' (input 1) with shape [2,1,5,4]",
                 "(signature key_lengths: i32[B] <= S)"});
  expectInferInvalid({"argument 'key_lengths' (input 3) has value 6"});
}

TEST_F(Validation, BoundedValuesBelowZero) {
  lengths.values = {-1, 2};
  expectInvalid({"argument 'key_lengths' (input 3) has value -1 at index [0], "
                 "outside [0, S = 5]"});
}

TEST_F(Validation, BoundedValuesAtTheEdgesAreAccepted) {
  lengths.values = {0, 5};
  Outcome outcome = invoke();
  EXPECT_TRUE(outcome.ok()) << outcome;
}

TEST(ValidationBounds, I64BoundBoundByALaterInput) {
  FakeSymbols symbols = fakeSymbols(
      "attn-abi 1\nf(l: i64[2,2] <= S, x: f32[S]) -> (y: f32[S])\n", {"f"});
  attn_module_t *module = nullptr;
  ASSERT_TRUE(symbols.create(&module).ok());
  const attn_function_t *f = nullptr;
  ATTN_ASSERT_OK(attn_module_lookup_function(module, "f", &f));
  Buffer<int64_t> l(ATTN_DTYPE_I64, {2, 2}, 1);
  l.values[2] = int64_t(1) << 40;
  Buffer<float> x(ATTN_DTYPE_F32, {3}), y(ATTN_DTYPE_F32, {3});
  attn_tensor_t inputs[] = {l.view(), x.view()};
  attn_tensor_t output = y.view();
  int before = entryCalls();
  expectError(take(attn_function_invoke(f, inputs, 2, &output, 1, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"f: argument 'l' (input 0) has value 1099511627776 at index "
               "[1,0], outside [0, S = 3]"});
  EXPECT_EQ(entryCalls(), before);
  l.values[2] = 3;
  ATTN_EXPECT_OK(attn_function_invoke(f, inputs, 2, &output, 1, nullptr));
  EXPECT_EQ(entryCalls(), before + 1);
  attn_module_release(module);
}

TEST(ValidationBounds, AscendingValuesMustNotDecrease) {
  // Offsets (packed sequences' cu_seqlens): bounded and ascending; equal
  // neighbours (an empty sequence) are fine.
  FakeSymbols symbols = fakeSymbols(
      "attn-abi 1\nf(x: f32[N], c: i32[P] <= N ascending) -> (y: f32[N])\n",
      {"f"});
  attn_module_t *module = nullptr;
  ASSERT_TRUE(symbols.create(&module).ok());
  EXPECT_STREQ(attn_module_signature_text(module),
               "attn-abi 1\nf(x: f32[N], c: i32[P] <= N ascending) -> "
               "(y: f32[N])\n");
  const attn_function_t *f = nullptr;
  ATTN_ASSERT_OK(attn_module_lookup_function(module, "f", &f));
  Buffer<float> x(ATTN_DTYPE_F32, {4}), y(ATTN_DTYPE_F32, {4});
  Buffer<int32_t> c(ATTN_DTYPE_I32, {4});
  c.values = {0, 3, 1, 4};
  attn_tensor_t inputs[] = {x.view(), c.view()};
  attn_tensor_t output = y.view();
  int before = entryCalls();
  expectError(take(attn_function_invoke(f, inputs, 2, &output, 1, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"f: argument 'c' (input 1) must not decrease (offsets), but "
               "has 1 at index [2] after 3"});
  EXPECT_EQ(entryCalls(), before);
  c.values = {0, 3, 3, 4};
  ATTN_EXPECT_OK(attn_function_invoke(f, inputs, 2, &output, 1, nullptr));
  EXPECT_EQ(entryCalls(), before + 1);
  attn_module_release(module);
}

TEST(ValidationInference, OutputSymbolThatNoInputBinds) {
  FakeSymbols symbols = fakeSymbols(
      "attn-abi 1\ng(x: f32[N]) -> (y: f32[M], z: f32[M,N])\n", {"g"});
  attn_module_t *module = nullptr;
  ASSERT_TRUE(symbols.create(&module).ok());
  const attn_function_t *g = nullptr;
  ATTN_ASSERT_OK(attn_module_lookup_function(module, "g", &g));
  Buffer<float> x(ATTN_DTYPE_F32, {3});
  attn_tensor_t input = x.view();
  int64_t shapes[3];
  expectError(take(attn_function_infer_output_shapes(g, &input, 1, shapes)),
              ATTN_STATUS_FAILED_PRECONDITION,
              {"g: argument 'y' (output 0): dimension 0 is 'M', which no input "
               "binds",
               "(signature y: f32[M])"});

  // At invocation the first output naming M binds it; the others must agree.
  Buffer<float> y(ATTN_DTYPE_F32, {2}), z(ATTN_DTYPE_F32, {2, 3}),
      zBad(ATTN_DTYPE_F32, {4, 3});
  attn_tensor_t outputs[] = {y.view(), z.view()};
  int before = entryCalls();
  ATTN_EXPECT_OK(attn_function_invoke(g, &input, 1, outputs, 2, nullptr));
  EXPECT_EQ(entryCalls(), before + 1);
  outputs[1] = zBad.view();
  expectError(take(attn_function_invoke(g, &input, 1, outputs, 2, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"g: argument 'z' (output 1) has shape [4,3] but dimension 0 is "
               "M = 4 while argument 'y' (output 0) with shape [2] bound M = "
               "2"});
  EXPECT_EQ(entryCalls(), before + 1);
  attn_module_release(module);
}

TEST_F(Validation, InferRequiresOutShapes) {
  expectError(take(attn_function_infer_output_shapes(attention, inputs.data(),
                                                     4, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"out_shapes is NULL", "'attention' has 4 output dimensions"});
}

} // namespace
