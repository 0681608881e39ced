//===- TestUtil.h - Helpers shared by the runtime tests ---------*- C++ -*-===//

#ifndef ATTN_UNITTESTS_RUNTIME_TESTUTIL_H
#define ATTN_UNITTESTS_RUNTIME_TESTUTIL_H

#include "attn/runtime.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace attn::test {

/// A C status turned into a value, so that assertions can print it.
struct Outcome {
  attn_status_code_t code = ATTN_STATUS_OK;
  std::string message;
  bool ok() const { return code == ATTN_STATUS_OK; }
};

/// Takes ownership of `status`.
inline Outcome take(attn_status_t status) {
  Outcome outcome{attn_status_code(status), attn_status_message(status)};
  attn_status_free(status);
  return outcome;
}

inline std::ostream &operator<<(std::ostream &os, const Outcome &outcome) {
  return os << attn_status_code_name(outcome.code) << ": " << outcome.message;
}

#define ATTN_EXPECT_OK(expr)                                                   \
  do {                                                                         \
    ::attn::test::Outcome outcome_ = ::attn::test::take(expr);                 \
    EXPECT_TRUE(outcome_.ok()) << outcome_;                                    \
  } while (0)

#define ATTN_ASSERT_OK(expr)                                                   \
  do {                                                                         \
    ::attn::test::Outcome outcome_ = ::attn::test::take(expr);                 \
    ASSERT_TRUE(outcome_.ok()) << outcome_;                                    \
  } while (0)

/// Expects `outcome` to have `code` and to contain every one of `parts`.
inline void expectError(const Outcome &outcome, attn_status_code_t code,
                        const std::vector<std::string> &parts) {
  EXPECT_EQ(outcome.code, code) << outcome;
  for (const std::string &part : parts)
    EXPECT_NE(outcome.message.find(part), std::string::npos)
        << "message lacks \"" << part << "\":\n  " << outcome.message;
}

/// A module loaded for one test, released at the end.
class LoadedModule {
public:
  explicit LoadedModule(const char *path) {
    Outcome outcome = take(attn_module_load_library(path, &module_));
    EXPECT_TRUE(outcome.ok()) << outcome;
  }
  ~LoadedModule() { attn_module_release(module_); }
  LoadedModule(const LoadedModule &) = delete;
  LoadedModule &operator=(const LoadedModule &) = delete;

  attn_module_t *get() const { return module_; }
  const attn_function_t *function(const char *name) const {
    const attn_function_t *function = nullptr;
    Outcome outcome =
        take(attn_module_lookup_function(module_, name, &function));
    EXPECT_TRUE(outcome.ok()) << outcome;
    return function;
  }

private:
  attn_module_t *module_ = nullptr;
};

/// An owning tensor for tests: shape, optional strides and storage.
template <typename T> struct Buffer {
  attn_dtype_t dtype;
  std::vector<int64_t> shape;
  std::vector<T> values;

  Buffer(attn_dtype_t dtype, std::vector<int64_t> shape, T fill = T())
      : dtype(dtype), shape(std::move(shape)) {
    int64_t count = 1;
    for (int64_t dim : this->shape)
      count *= dim;
    values.assign(static_cast<size_t>(count), fill);
  }
  attn_tensor_t view() {
    return attn_tensor_t{values.empty() ? nullptr : values.data(), dtype,
                         static_cast<int32_t>(shape.size()), shape.data(),
                         nullptr};
  }
};

} // namespace attn::test

#endif // ATTN_UNITTESTS_RUNTIME_TESTUTIL_H
