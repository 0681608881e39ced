//===- StatusTest.cpp - Statuses, dtypes and tensor utilities -------------===//

#include "TestUtil.h"

#include <cstring>
#include <limits>

using namespace attn::test;

namespace {

TEST(Status, NullIsOk) {
  EXPECT_EQ(attn_status_code(nullptr), ATTN_STATUS_OK);
  EXPECT_STREQ(attn_status_message(nullptr), "OK");
  attn_status_free(nullptr); // must be harmless
}

TEST(Status, CodeNames) {
  EXPECT_STREQ(attn_status_code_name(ATTN_STATUS_OK), "OK");
  EXPECT_STREQ(attn_status_code_name(ATTN_STATUS_INVALID_ARGUMENT),
               "INVALID_ARGUMENT");
  EXPECT_STREQ(attn_status_code_name(ATTN_STATUS_NOT_FOUND), "NOT_FOUND");
  EXPECT_STREQ(attn_status_code_name(ATTN_STATUS_FAILED_PRECONDITION),
               "FAILED_PRECONDITION");
  EXPECT_STREQ(attn_status_code_name(ATTN_STATUS_UNAVAILABLE), "UNAVAILABLE");
  EXPECT_STREQ(attn_status_code_name(ATTN_STATUS_INTERNAL), "INTERNAL");
  EXPECT_STREQ(attn_status_code_name(static_cast<attn_status_code_t>(99)),
               "UNKNOWN");
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  attn_dtype_t dtype;
  attn_status_t status = attn_dtype_from_name("f8", &dtype);
  ASSERT_NE(status, nullptr);
  EXPECT_EQ(attn_status_code(status), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::strstr(attn_status_message(status), "'f8'"), nullptr);
  attn_status_free(status);
}

TEST(Runtime, Version) {
  EXPECT_STRNE(attn_runtime_version(), "");
  EXPECT_EQ(ATTN_RUNTIME_ABI_VERSION, 1);
}

TEST(DType, NamesSizesAndParsing) {
  struct Case {
    attn_dtype_t dtype;
    const char *name;
    size_t size;
  } cases[] = {{ATTN_DTYPE_F32, "f32", 4},   {ATTN_DTYPE_F16, "f16", 2},
               {ATTN_DTYPE_BF16, "bf16", 2}, {ATTN_DTYPE_F64, "f64", 8},
               {ATTN_DTYPE_I32, "i32", 4},   {ATTN_DTYPE_I64, "i64", 8}};
  for (const Case &c : cases) {
    EXPECT_STREQ(attn_dtype_name(c.dtype), c.name);
    EXPECT_EQ(attn_dtype_size(c.dtype), c.size);
    attn_dtype_t parsed = ATTN_DTYPE_F32;
    ATTN_EXPECT_OK(attn_dtype_from_name(c.name, &parsed));
    EXPECT_EQ(parsed, c.dtype);
  }
  auto invalid = static_cast<attn_dtype_t>(42);
  EXPECT_EQ(attn_dtype_name(invalid), nullptr);
  EXPECT_EQ(attn_dtype_size(invalid), 0u);
}

TEST(DType, ParseErrors) {
  attn_dtype_t dtype;
  expectError(take(attn_dtype_from_name("float32", &dtype)),
              ATTN_STATUS_INVALID_ARGUMENT,
              {"unknown dtype 'float32'", "f32, f16, bf16, f64, i32 or i64"});
  expectError(take(attn_dtype_from_name(nullptr, &dtype)),
              ATTN_STATUS_INVALID_ARGUMENT, {"name is NULL"});
  expectError(take(attn_dtype_from_name("f32", nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"out_dtype is NULL"});
}

TEST(Tensor, ElementCount) {
  int64_t shape[] = {2, 3, 4};
  attn_tensor_t tensor{nullptr, ATTN_DTYPE_F32, 3, shape, nullptr};
  int64_t count = 0;
  ATTN_EXPECT_OK(attn_tensor_element_count(&tensor, &count));
  EXPECT_EQ(count, 24);

  attn_tensor_t scalar{nullptr, ATTN_DTYPE_F32, 0, nullptr, nullptr};
  ATTN_EXPECT_OK(attn_tensor_element_count(&scalar, &count));
  EXPECT_EQ(count, 1);

  int64_t empty[] = {4, 0};
  attn_tensor_t none{nullptr, ATTN_DTYPE_F32, 2, empty, nullptr};
  ATTN_EXPECT_OK(attn_tensor_element_count(&none, &count));
  EXPECT_EQ(count, 0);
}

TEST(Tensor, ElementCountErrors) {
  int64_t count;
  int64_t negative[] = {2, -3};
  attn_tensor_t tensor{nullptr, ATTN_DTYPE_F32, 2, negative, nullptr};
  expectError(take(attn_tensor_element_count(&tensor, &count)),
              ATTN_STATUS_INVALID_ARGUMENT, {"[2,-3]", "negative dimension 1"});

  int64_t huge[] = {int64_t(1) << 40, int64_t(1) << 40};
  tensor.shape = huge;
  expectError(take(attn_tensor_element_count(&tensor, &count)),
              ATTN_STATUS_INVALID_ARGUMENT, {"more elements than int64_t"});

  tensor.shape = nullptr;
  expectError(take(attn_tensor_element_count(&tensor, &count)),
              ATTN_STATUS_INVALID_ARGUMENT, {"shape pointer is NULL"});

  tensor.rank = -2;
  expectError(take(attn_tensor_element_count(&tensor, &count)),
              ATTN_STATUS_INVALID_ARGUMENT, {"negative rank -2"});

  expectError(take(attn_tensor_element_count(nullptr, &count)),
              ATTN_STATUS_INVALID_ARGUMENT, {"tensor is NULL"});
  tensor.rank = 0;
  expectError(take(attn_tensor_element_count(&tensor, nullptr)),
              ATTN_STATUS_INVALID_ARGUMENT, {"out_count is NULL"});
}

TEST(Tensor, FormatShape) {
  int64_t shape[] = {2, 8, 128, 64};
  char buffer[64];
  EXPECT_EQ(attn_format_shape(4, shape, buffer, sizeof(buffer)), 12u);
  EXPECT_STREQ(buffer, "[2,8,128,64]");

  EXPECT_EQ(attn_format_shape(0, nullptr, buffer, sizeof(buffer)), 2u);
  EXPECT_STREQ(buffer, "[]");

  int64_t extremes[] = {-1, std::numeric_limits<int64_t>::min(), 0};
  attn_format_shape(3, extremes, buffer, sizeof(buffer));
  EXPECT_STREQ(buffer, "[-1,-9223372036854775808,0]");

  // Truncated like snprintf; the full length is still reported.
  char small[6];
  EXPECT_EQ(attn_format_shape(4, shape, small, sizeof(small)), 12u);
  EXPECT_STREQ(small, "[2,8,");
  EXPECT_EQ(attn_format_shape(4, shape, nullptr, 0), 12u);

  EXPECT_EQ(attn_format_shape(2, nullptr, buffer, sizeof(buffer)), 6u);
  EXPECT_STREQ(buffer, "<null>");
}

} // namespace
