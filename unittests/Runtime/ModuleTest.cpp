//===- ModuleTest.cpp - Loading module libraries --------------------------===//

#include "TestUtil.h"

#include <cstring>
#include <string>
#include <unistd.h>

using namespace attn::test;

namespace {

TEST(Module, LoadsTheElementwiseFixture) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  ASSERT_NE(module.get(), nullptr);
  EXPECT_STREQ(attn_module_name(module.get()), ATTN_FIXTURE_ELEMENTWISE);
  EXPECT_NE(
      std::strstr(attn_module_signature_text(module.get()), "attn-abi 1\n"),
      nullptr);

  const char *names[] = {"add", "dot", "minmax", "probe", "scale"};
  ASSERT_EQ(attn_module_function_count(module.get()), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const attn_function_t *function = nullptr;
    ATTN_ASSERT_OK(attn_module_function_at(module.get(), i, &function));
    EXPECT_STREQ(attn_function_name(function), names[i]);
    EXPECT_EQ(function, module.function(names[i]));
  }

  // The signature's odd spacing comes back canonical.
  EXPECT_STREQ(attn_function_signature(module.function("scale")),
               "scale(x: f64[3,M]) -> (y: f64[3,M])");
  EXPECT_STREQ(attn_function_signature(module.function("minmax")),
               "minmax(x: f32[B,N]) -> (lo: f32[B], hi: f32[B])");
}

TEST(Module, LookupOfAMissingFunctionListsTheAvailableOnes) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *function = nullptr;
  expectError(
      take(attn_module_lookup_function(module.get(), "attention", &function)),
      ATTN_STATUS_NOT_FOUND,
      {ATTN_FIXTURE_ELEMENTWISE, "no function 'attention'",
       "available: add, dot, minmax, probe, scale"});
  EXPECT_EQ(function, nullptr);
}

TEST(Module, IndexOutOfRange) {
  LoadedModule module(ATTN_FIXTURE_ELEMENTWISE);
  const attn_function_t *function = nullptr;
  expectError(take(attn_module_function_at(module.get(), 5, &function)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"has 5 functions", "index 5 is out of range"});
  attn_arg_info_t info;
  expectError(take(attn_function_input_info(module.function("add"), 2, &info)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"'add' has 2 inputs", "index 2 is out of range"});
  expectError(
      take(attn_function_output_info(module.function("minmax"), 2, &info)),
      ATTN_STATUS_INVALID_ARGUMENT, {"'minmax' has 2 outputs"});
}

TEST(Module, MissingFileIsNotFound) {
  attn_module_t *module = nullptr;
  expectError(
      take(attn_module_load_library("/nonexistent/dir/sdpa.so", &module)),
      ATTN_STATUS_NOT_FOUND, {"'/nonexistent/dir/sdpa.so'", "no such file"});
  EXPECT_EQ(module, nullptr);
}

// A bare file name is the file in the current folder, as for any program
// (dlopen alone would search the loader's path and miss it).
TEST(Module, BareNameIsTheFileInTheCurrentFolder) {
  std::string fixture = ATTN_FIXTURE_ELEMENTWISE;
  size_t slash = fixture.rfind('/');
  ASSERT_NE(slash, std::string::npos);
  std::string folder = fixture.substr(0, slash), name = fixture.substr(slash + 1);
  char saved[4096];
  ASSERT_NE(getcwd(saved, sizeof(saved)), nullptr);
  ASSERT_EQ(chdir(folder.c_str()), 0);
  attn_module_t *module = nullptr;
  attn_status_t status = attn_module_load_library(name.c_str(), &module);
  ASSERT_EQ(chdir(saved), 0);
  ATTN_ASSERT_OK(status);
  EXPECT_EQ(attn_module_function_count(module), 5u);
  attn_module_release(module);
}

TEST(Module, FileThatIsNotALibraryIsUnavailable) {
  attn_module_t *module = nullptr;
  const char *path = ATTN_TEST_SOURCE_DIR "/fixtures/fixture.h";
  expectError(take(attn_module_load_library(path, &module)),
              ATTN_STATUS_UNAVAILABLE, {"cannot load module", path});
  EXPECT_EQ(module, nullptr);
}

TEST(Module, MalformedSignatureNamesTheLibraryAndTheLine) {
  attn_module_t *module = nullptr;
  expectError(take(attn_module_load_library(ATTN_FIXTURE_MALFORMED, &module)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {ATTN_FIXTURE_MALFORMED, "signature line 3",
               "expected ':' after argument name 'x'"});
  EXPECT_EQ(module, nullptr);
}

TEST(Module, MissingEntryIsNotFound) {
  attn_module_t *module = nullptr;
  expectError(
      take(attn_module_load_library(ATTN_FIXTURE_MISSING_ENTRY, &module)),
      ATTN_STATUS_NOT_FOUND,
      {ATTN_FIXTURE_MISSING_ENTRY, "declares function 'second'",
       "no entry point '_attn_entry_second'"});
  EXPECT_EQ(module, nullptr);
}

TEST(Module, LibraryWithoutSignatureIsNotFound) {
  attn_module_t *module = nullptr;
  expectError(
      take(attn_module_load_library(ATTN_FIXTURE_NO_SIGNATURE, &module)),
      ATTN_STATUS_NOT_FOUND,
      {ATTN_FIXTURE_NO_SIGNATURE, "no 'attn_module_signature' symbol"});
  EXPECT_EQ(module, nullptr);
}

TEST(Module, NullHandlesAndPointers) {
  attn_module_t *module = nullptr;
  expectError(take(attn_module_load_library(nullptr, &module)),
              ATTN_STATUS_INVALID_ARGUMENT, {"path is NULL"});
  expectError(take(attn_module_load_library(ATTN_FIXTURE_ELEMENTWISE, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"out_module is NULL"});

  const attn_function_t *function = nullptr;
  expectError(take(attn_module_function_at(nullptr, 0, &function)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"attn_module_function_at", "module is NULL"});
  expectError(take(attn_module_lookup_function(nullptr, "add", &function)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"attn_module_lookup_function", "module is NULL"});

  LoadedModule loaded(ATTN_FIXTURE_ELEMENTWISE);
  expectError(
      take(attn_module_lookup_function(loaded.get(), nullptr, &function)),
      ATTN_STATUS_INVALID_ARGUMENT, {"name is NULL"});
  expectError(take(attn_module_lookup_function(loaded.get(), "add", nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"out_function is NULL"});
  expectError(take(attn_module_function_at(loaded.get(), 0, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"out_function is NULL"});

  attn_arg_info_t info;
  expectError(take(attn_function_input_info(nullptr, 0, &info)),
              ATTN_STATUS_INVALID_ARGUMENT, {"function is NULL"});
  expectError(
      take(attn_function_output_info(loaded.function("add"), 0, nullptr)),
      ATTN_STATUS_INVALID_ARGUMENT, {"out_info is NULL"});

  EXPECT_EQ(attn_module_name(nullptr), nullptr);
  EXPECT_EQ(attn_module_signature_text(nullptr), nullptr);
  EXPECT_EQ(attn_module_function_count(nullptr), 0u);
  EXPECT_EQ(attn_function_name(nullptr), nullptr);
  EXPECT_EQ(attn_function_signature(nullptr), nullptr);
  EXPECT_EQ(attn_function_input_count(nullptr), 0u);
  EXPECT_EQ(attn_function_output_count(nullptr), 0u);
}

TEST(Module, LoadingTwiceGivesIndependentHandles) {
  LoadedModule first(ATTN_FIXTURE_ELEMENTWISE);
  {
    LoadedModule second(ATTN_FIXTURE_ELEMENTWISE);
    EXPECT_NE(first.get(), second.get());
  }
  // Releasing the second handle must leave the first one usable.
  EXPECT_EQ(attn_function_input_count(first.function("add")), 2u);
}

} // namespace

extern "C" int attn_test_c_api_add(const char *path, char *message,
                                   size_t size);

namespace {

TEST(Module, CApiIsUsableFromC) {
  char message[512];
  EXPECT_EQ(
      attn_test_c_api_add(ATTN_FIXTURE_ELEMENTWISE, message, sizeof(message)),
      0)
      << message;
  EXPECT_NE(attn_test_c_api_add("/nonexistent/x.so", message, sizeof(message)),
            0);
  EXPECT_NE(std::strstr(message, "NOT_FOUND"), nullptr) << message;
}

} // namespace
