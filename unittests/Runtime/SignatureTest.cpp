//===- SignatureTest.cpp - Parsing module signatures ----------------------===//

#include "FakeModule.h"

#include <cstring>

using namespace attn::test;

namespace {

struct ParsedModule {
  FakeSymbols symbols;
  attn_module_t *module = nullptr;
  Outcome outcome;

  ParsedModule(std::string signature, std::initializer_list<const char *> names)
      : symbols(fakeSymbols(std::move(signature), names)) {
    outcome = symbols.create(&module);
  }
  ~ParsedModule() { attn_module_release(module); }
};

TEST(Signature, ParsesTheDocumentedExample) {
  ParsedModule parsed("attn-abi 1\n"
                      "attention(q: f32[B,8,N,64], k: f32[B,2,S,64], "
                      "v: f32[B,2,S,64], key_lengths: i32[B] <= S) -> "
                      "(out: f32[B,8,N,64])\n"
                      "other_fn(x: f32[B,N,512]) -> (out: f32[B,N,512])\n",
                      {"attention", "other_fn"});
  ASSERT_TRUE(parsed.outcome.ok()) << parsed.outcome;
  ASSERT_EQ(attn_module_function_count(parsed.module), 2u);

  const attn_function_t *attention = nullptr;
  ATTN_ASSERT_OK(attn_module_function_at(parsed.module, 0, &attention));
  EXPECT_STREQ(attn_function_name(attention), "attention");
  EXPECT_EQ(attn_function_input_count(attention), 4u);
  EXPECT_EQ(attn_function_output_count(attention), 1u);
  EXPECT_STREQ(attn_function_signature(attention),
               "attention(q: f32[B,8,N,64], k: f32[B,2,S,64], "
               "v: f32[B,2,S,64], key_lengths: i32[B] <= S) -> "
               "(out: f32[B,8,N,64])");

  attn_arg_info_t info;
  ATTN_ASSERT_OK(attn_function_input_info(attention, 1, &info));
  EXPECT_STREQ(info.name, "k");
  EXPECT_EQ(info.dtype, ATTN_DTYPE_F32);
  ASSERT_EQ(info.rank, 4);
  EXPECT_STREQ(info.dims[0].symbol, "B");
  EXPECT_EQ(info.dims[0].size, -1);
  EXPECT_EQ(info.dims[1].symbol, nullptr);
  EXPECT_EQ(info.dims[1].size, 2);
  EXPECT_STREQ(info.dims[2].symbol, "S");
  EXPECT_EQ(info.dims[3].size, 64);
  EXPECT_EQ(info.bound_symbol, nullptr);

  ATTN_ASSERT_OK(attn_function_input_info(attention, 3, &info));
  EXPECT_STREQ(info.name, "key_lengths");
  EXPECT_EQ(info.dtype, ATTN_DTYPE_I32);
  EXPECT_STREQ(info.bound_symbol, "S");

  ATTN_ASSERT_OK(attn_function_output_info(attention, 0, &info));
  EXPECT_STREQ(info.name, "out");
  EXPECT_EQ(info.rank, 4);

  const attn_function_t *other = nullptr;
  ATTN_ASSERT_OK(
      attn_module_lookup_function(parsed.module, "other_fn", &other));
  EXPECT_EQ(attn_function_input_count(other), 1u);
}

TEST(Signature, WhitespaceIsOptionalAndBlankLinesAreSkipped) {
  ParsedModule parsed("  attn-abi   1  \r\n\n"
                      "f(x:f64[3,M],y :i64[ ] )->(z:f64[  3 ,M ])\r\n"
                      "   \n"
                      "g ( ) -> ( )\n\n",
                      {"f", "g"});
  ASSERT_TRUE(parsed.outcome.ok()) << parsed.outcome;
  ASSERT_EQ(attn_module_function_count(parsed.module), 2u);
  const attn_function_t *f = nullptr, *g = nullptr;
  ATTN_ASSERT_OK(attn_module_function_at(parsed.module, 0, &f));
  ATTN_ASSERT_OK(attn_module_function_at(parsed.module, 1, &g));
  EXPECT_STREQ(attn_function_signature(f),
               "f(x: f64[3,M], y: i64[]) -> (z: f64[3,M])");
  EXPECT_STREQ(attn_function_signature(g), "g() -> ()");
  attn_arg_info_t info;
  ATTN_ASSERT_OK(attn_function_input_info(f, 1, &info));
  EXPECT_EQ(info.rank, 0);
}

TEST(Signature, EveryDtype) {
  ParsedModule parsed("attn-abi 1\n"
                      "f(a: f32[1], b: f16[1], c: bf16[1], d: f64[1], "
                      "e: i32[1], g: i64[1]) -> ()\n",
                      {"f"});
  ASSERT_TRUE(parsed.outcome.ok()) << parsed.outcome;
  const attn_function_t *f = nullptr;
  ATTN_ASSERT_OK(attn_module_function_at(parsed.module, 0, &f));
  attn_dtype_t expected[] = {ATTN_DTYPE_F32, ATTN_DTYPE_F16, ATTN_DTYPE_BF16,
                             ATTN_DTYPE_F64, ATTN_DTYPE_I32, ATTN_DTYPE_I64};
  for (size_t i = 0; i < 6; ++i) {
    attn_arg_info_t info;
    ATTN_ASSERT_OK(attn_function_input_info(f, i, &info));
    EXPECT_EQ(info.dtype, expected[i]) << i;
  }
}

TEST(Signature, KeepsTheTextItWasGiven) {
  const char *text = "attn-abi 1\nf(x: f32[N]) -> (y: f32[N])\n";
  ParsedModule parsed(text, {"f"});
  ASSERT_TRUE(parsed.outcome.ok()) << parsed.outcome;
  EXPECT_STREQ(attn_module_signature_text(parsed.module), text);
  EXPECT_STREQ(attn_module_name(parsed.module), "in-process module");
}

TEST(Signature, StaticBoundIsASize) {
  ParsedModule parsed("attn-abi 1\n"
                      "f(x: f32[2,12], l: i32[2] <= 12) -> (y: f32[2,12])\n",
                      {"f"});
  ASSERT_TRUE(parsed.outcome.ok()) << parsed.outcome;
  const attn_function_t *f = nullptr;
  ATTN_ASSERT_OK(attn_module_function_at(parsed.module, 0, &f));
  attn_arg_info_t info;
  ATTN_ASSERT_OK(attn_function_input_info(f, 1, &info));
  EXPECT_STREQ(info.bound_symbol, "12");
}

struct MalformedCase {
  const char *signature;
  attn_status_code_t code;
  std::vector<std::string> parts;
};

class MalformedSignature : public ::testing::TestWithParam<MalformedCase> {};

TEST_P(MalformedSignature, IsRejectedWithTheLine) {
  const MalformedCase &c = GetParam();
  ParsedModule parsed(c.signature, {"f", "g"});
  EXPECT_EQ(parsed.module, nullptr);
  expectError(parsed.outcome, c.code, c.parts);
  EXPECT_EQ(parsed.symbols.releases, 0) << "the caller keeps its data";
}

const std::string kLine2 = "signature line 2";

INSTANTIATE_TEST_SUITE_P(
    Runtime, MalformedSignature,
    ::testing::Values(
        MalformedCase{"", ATTN_STATUS_INVALID_ARGUMENT, {"signature is empty"}},
        MalformedCase{"attn-abi\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {"signature line 1", "expected 'attn-abi 1'"}},
        MalformedCase{
            "attn-abi x\n", ATTN_STATUS_INVALID_ARGUMENT, {"signature line 1"}},
        MalformedCase{"f(x: f32[N]) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {"signature line 1", "expected 'attn-abi 1'"}},
        MalformedCase{"attn-abi 2\nf(x: f32[N]) -> (y: f32[N])\n",
                      ATTN_STATUS_FAILED_PRECONDITION,
                      {"signature line 1", "ABI version 2", "reads version 1"}},
        MalformedCase{"attn-abi 1\nf(x f32[N]) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "column 5",
                       "expected ':' after argument name "
                       "'x', found 'f32'"}},
        MalformedCase{"attn-abi 1\nf(x: f8[N]) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "unknown dtype 'f8' for 'x'"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N] -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected ')' after the inputs, found '->'"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N]) (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected '->'"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N]) -> y: f32[N]\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected '(' before the outputs"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N]) -> (y: f32[N]) extra\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "unexpected 'extra' after the outputs"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N,]) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected a dimension"}},
        MalformedCase{"attn-abi 1\nf(x: f32[-1]) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "unexpected character '-'"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected ']' after the dimensions of 'x'"}},
        MalformedCase{"attn-abi 1\nf(x: f32) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected '[' after the dtype of 'x'"}},
        MalformedCase{"attn-abi 1\nf(x: f32[99999999999999999999]) -> ()\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "does not fit in 64 bits"}},
        MalformedCase{"attn-abi 1\n1f(x: f32[N]) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected a function name, found '1'"}},
        MalformedCase{"attn-abi 1\nf(x: i32[N] <= ) -> ()\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "expected a symbol or a size after '<='"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N]) -> (y: f32[N])\n"
                      "f(x: f32[N]) -> (y: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {"signature line 3", "'f' is declared twice"}},
        MalformedCase{"attn-abi 1\nf(x: f32[N]) -> (x: f32[N])\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "two arguments named 'x'"}},
        MalformedCase{"attn-abi 1\nf(x: f32[S], l: f32[2] <= S) -> ()\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "'l' of 'f' is f32",
                       "only i32 and i64 arguments can be bounded"}},
        MalformedCase{"attn-abi 1\nf(x: f32[S]) -> (l: i32[2] <= S)\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {kLine2, "only inputs can be bounded"}},
        MalformedCase{
            "attn-abi 1\nf(l: i32[2] <= T) -> ()\n",
            ATTN_STATUS_INVALID_ARGUMENT,
            {kLine2, "the bound 'T' of 'l'", "not a dimension of any input"}},
        MalformedCase{"attn-abi 1\n\n\ng(x: f32[N] -> ()\n",
                      ATTN_STATUS_INVALID_ARGUMENT,
                      {"signature line 4", "g(x: f32[N] -> ()"}}));

TEST(Signature, MissingEntryIsNotFound) {
  ParsedModule parsed("attn-abi 1\n"
                      "f(x: f32[N]) -> (y: f32[N])\n"
                      "h(x: f32[N]) -> (y: f32[N])\n",
                      {"f"});
  EXPECT_EQ(parsed.module, nullptr);
  expectError(parsed.outcome, ATTN_STATUS_NOT_FOUND,
              {"declares function 'h'", "no entry point '_attn_entry_h'"});
  EXPECT_EQ(parsed.symbols.releases, 0);
}

TEST(Signature, MissingSignatureIsNotFound) {
  FakeSymbols symbols;
  attn_module_t *module = nullptr;
  auto noSignature = [](void *, const char *) -> void * { return nullptr; };
  expectError(take(attn_module_create_from_lookup(noSignature, &symbols,
                                                  nullptr, &module)),
              ATTN_STATUS_NOT_FOUND,
              {"in-process module", "no 'attn_module_signature' symbol"});
  EXPECT_EQ(module, nullptr);
}

TEST(Signature, ModuleWithoutFunctionsIsAllowed) {
  ParsedModule parsed("attn-abi 1\n", {});
  ASSERT_TRUE(parsed.outcome.ok()) << parsed.outcome;
  EXPECT_EQ(attn_module_function_count(parsed.module), 0u);
  const attn_function_t *function = nullptr;
  expectError(take(attn_module_lookup_function(parsed.module, "f", &function)),
              ATTN_STATUS_NOT_FOUND, {"no function 'f'", "available: none"});
}

TEST(Signature, ReleaseRunsOnceAtTheLastReference) {
  FakeSymbols symbols =
      fakeSymbols("attn-abi 1\nf(x: f32[N]) -> (y: f32[N])\n", {"f"});
  attn_module_t *module = nullptr;
  ASSERT_TRUE(symbols.create(&module).ok());
  attn_module_retain(module);
  attn_module_release(module);
  EXPECT_EQ(symbols.releases, 0);
  attn_module_release(module);
  EXPECT_EQ(symbols.releases, 1);
  attn_module_retain(nullptr);
  attn_module_release(nullptr);
}

TEST(Signature, CreateFromLookupRejectsNulls) {
  attn_module_t *module = nullptr;
  expectError(
      take(attn_module_create_from_lookup(nullptr, nullptr, nullptr, &module)),
      ATTN_STATUS_INVALID_ARGUMENT, {"lookup is NULL"});
  expectError(take(attn_module_create_from_lookup(FakeSymbols::lookup, nullptr,
                                                  nullptr, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"out_module is NULL"});
}

} // namespace
