//===- CppWrapperTest.cpp - The header-only C++ wrapper -------------------===//

#include "attn/runtime.hpp"

#include "FakeModule.h"

#include <gtest/gtest.h>

using namespace attn;

namespace {

TEST(CppStatus, DefaultIsOk) {
  Status status;
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.toString(), "OK");
  EXPECT_TRUE(Status::fromC(nullptr).ok());
}

TEST(CppStatus, FromCTakesCodeAndMessage) {
  attn_dtype_t dtype;
  Status status = Status::fromC(attn_dtype_from_name("q8", &dtype));
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("'q8'"), std::string::npos);
  EXPECT_EQ(status.toString().rfind("INVALID_ARGUMENT: ", 0), 0u);
}

TEST(CppResult, ValueOrStatus) {
  Result<int> value(7);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(*value, 7);
  Result<int> error(Status(ATTN_STATUS_NOT_FOUND, "gone"));
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), ATTN_STATUS_NOT_FOUND);
  Result<int> misuse{Status()};
  EXPECT_FALSE(misuse.ok());
  EXPECT_EQ(misuse.status().code(), ATTN_STATUS_INTERNAL);
}

TEST(CppHostTensor, ShapeStorageAndView) {
  HostTensor tensor(ATTN_DTYPE_F32, {2, 3});
  EXPECT_TRUE(tensor.valid());
  EXPECT_EQ(tensor.rank(), 2);
  EXPECT_EQ(tensor.numElements(), 6);
  EXPECT_EQ(tensor.byteSize(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(tensor.data()) % 64, 0u);
  for (float value : tensor.values<float>())
    EXPECT_EQ(value, 0.0f);
  EXPECT_EQ(tensor.data<double>(), nullptr) << "wrong element size";

  attn_tensor_t view = tensor.view();
  EXPECT_EQ(view.data, tensor.data());
  EXPECT_EQ(view.dtype, ATTN_DTYPE_F32);
  EXPECT_EQ(view.rank, 2);
  EXPECT_EQ(view.shape[1], 3);
  EXPECT_EQ(view.strides, nullptr);

  HostTensor copy = tensor;
  copy.data<float>()[0] = 5.0f;
  EXPECT_EQ(tensor.data<float>()[0], 0.0f) << "copies own their storage";

  HostTensor values = HostTensor::fromValues<int64_t>({3}, {1, 2, 3});
  EXPECT_EQ(values.dtype(), ATTN_DTYPE_I64);
  EXPECT_EQ(values.values<int64_t>(), (std::vector<int64_t>{1, 2, 3}));

  EXPECT_FALSE((HostTensor::fromValues<float>({2}, {1.0f}).valid()));
  EXPECT_FALSE(HostTensor(ATTN_DTYPE_F32, {-1}).valid());
  EXPECT_FALSE(HostTensor(ATTN_DTYPE_F32, {int64_t(1) << 62, 16}).valid());
  EXPECT_EQ(HostTensor(ATTN_DTYPE_F16, {0, 5}).data(), nullptr);
  EXPECT_EQ(formatShape({2, 8, 128}), "[2,8,128]");
  EXPECT_EQ(formatShape({}), "[]");
}

TEST(CppModule, LoadLookupAndCall) {
  auto module = Module::loadLibrary(ATTN_FIXTURE_ATTENTION);
  ASSERT_TRUE(module.ok()) << module.status().toString();
  EXPECT_EQ(module->name(), ATTN_FIXTURE_ATTENTION);
  EXPECT_EQ(module->numFunctions(), 1u);
  ASSERT_EQ(module->functions().size(), 1u);
  EXPECT_EQ(module->functions()[0].name(), "attention");

  auto fn = module->lookup("attention");
  ASSERT_TRUE(fn.ok()) << fn.status().toString();
  EXPECT_EQ(fn->numInputs(), 4u);
  EXPECT_EQ(fn->numOutputs(), 1u);
  auto k = fn->input(1);
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(k->name, "k");
  ASSERT_EQ(k->dims.size(), 4u);
  EXPECT_EQ(k->dims[0].symbol, "B");
  EXPECT_TRUE(k->dims[1].isStatic());
  EXPECT_EQ(k->dims[1].size, 1);
  EXPECT_EQ(fn->input(3)->bound, "S");
  EXPECT_FALSE(fn->input(4).ok());

  HostTensor q(ATTN_DTYPE_F32, {1, 2, 3, 4}), kt(ATTN_DTYPE_F32, {1, 1, 2, 4}),
      v = HostTensor::fromValues<float>({1, 1, 2, 4}, {1, 2, 3, 4, 1, 2, 3, 4});
  HostTensor lengths = HostTensor::fromValues<int32_t>({1}, {2});
  auto shapes =
      fn->inferOutputShapes({q.view(), kt.view(), v.view(), lengths.view()});
  ASSERT_TRUE(shapes.ok()) << shapes.status().toString();
  EXPECT_EQ(*shapes, (std::vector<std::vector<int64_t>>{{1, 2, 3, 4}}));

  attn_invoke_stats_t stats;
  auto outputs =
      fn->call({q.view(), kt.view(), v.view(), lengths.view()}, &stats);
  ASSERT_TRUE(outputs.ok()) << outputs.status().toString();
  ASSERT_EQ(outputs->size(), 1u);
  const HostTensor &out = (*outputs)[0];
  EXPECT_EQ(out.shape(), (std::vector<int64_t>{1, 2, 3, 4}));
  // q is zero, so every score ties and the output is the mean of v's rows.
  for (size_t i = 0; i < 24; ++i)
    EXPECT_FLOAT_EQ(out.data<float>()[i], static_cast<float>(i % 4 + 1));
  EXPECT_EQ(stats.allocation_count, 1u);

  // Errors come back as statuses.
  auto bad = fn->call({q.view(), kt.view(), v.view()});
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("expected 4 inputs"),
            std::string::npos);
  Status status =
      fn->invoke({q.view(), kt.view(), v.view(), lengths.view()}, {q.view()});
  EXPECT_EQ(status.code(), ATTN_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(status.message().find("overlaps argument 'q' (input 0)"),
            std::string::npos)
      << status.message();
}

TEST(CppModule, Errors) {
  auto missing = Module::loadLibrary("/nonexistent/sdpa.so");
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ATTN_STATUS_NOT_FOUND);
  EXPECT_NE(missing.status().message().find("/nonexistent/sdpa.so"),
            std::string::npos);

  auto module = Module::loadLibrary(ATTN_FIXTURE_ELEMENTWISE);
  ASSERT_TRUE(module.ok());
  auto fn = module->lookup("nope");
  EXPECT_EQ(fn.status().code(), ATTN_STATUS_NOT_FOUND);
  EXPECT_NE(fn.status().message().find("available: add, dot"),
            std::string::npos);

  Module empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.numFunctions(), 0u);
  EXPECT_FALSE(empty.lookup("add").ok());
  Function none;
  EXPECT_EQ(none.name(), "");
  EXPECT_FALSE(none.invoke({}, {}).ok());
  EXPECT_FALSE(none.call({}).ok());
}

TEST(CppModule, CopiesShareTheModule) {
  test::FakeSymbols symbols =
      test::fakeSymbols("attn-abi 1\nf(x: f32[N]) -> (y: f32[N])\n", {"f"});
  {
    auto module = Module::fromLookup(test::FakeSymbols::lookup, &symbols,
                                     test::FakeSymbols::release);
    ASSERT_TRUE(module.ok()) << module.status().toString();
    Module copy = *module;
    Module moved = std::move(copy);
    EXPECT_EQ(moved.get(), module->get());
    auto fn = moved.lookup("f");
    ASSERT_TRUE(fn.ok());
    EXPECT_EQ(fn->signature(), "f(x: f32[N]) -> (y: f32[N])");
  }
  EXPECT_EQ(symbols.releases, 1);
}

TEST(CppModule, FromLookupWithACallable) {
  auto destroyed = std::make_shared<int>(0);
  struct Tracker {
    std::shared_ptr<int> counter;
    ~Tracker() {
      if (counter)
        ++*counter;
    }
  };
  static const char signature[] =
      "attn-abi 1\ntwice(x: i32[N]) -> (y: i32[N])\n";
  static void (*entry)(void **) = [](void **args) {
    // Rank-1 descriptors: { allocated, aligned, offset, size, stride }.
    auto *in = static_cast<int64_t *>(args[0]);
    auto *out = static_cast<int64_t *>(args[1]);
    auto *x = reinterpret_cast<int32_t *>(in[1]);
    auto *y = reinterpret_cast<int32_t *>(out[1]);
    for (int64_t i = 0; i < in[3]; ++i)
      y[i] = 2 * x[i];
  };
  {
    auto tracker = std::make_shared<Tracker>();
    tracker->counter = destroyed;
    auto module = Module::fromLookup([tracker](const char *symbol) -> void * {
      std::string name = symbol;
      if (name == "attn_module_signature")
        return const_cast<char *>(signature);
      if (name == "_attn_entry_twice")
        return reinterpret_cast<void *>(entry);
      return nullptr;
    });
    tracker.reset();
    ASSERT_TRUE(module.ok()) << module.status().toString();
    EXPECT_EQ(*destroyed, 0) << "the module keeps the callable alive";
    auto fn = module->lookup("twice");
    ASSERT_TRUE(fn.ok());
    HostTensor x = HostTensor::fromValues<int32_t>({3}, {1, 2, 3});
    auto y = fn->call({x.view()});
    ASSERT_TRUE(y.ok()) << y.status().toString();
    EXPECT_EQ((*y)[0].values<int32_t>(), (std::vector<int32_t>{2, 4, 6}));
  }
  EXPECT_EQ(*destroyed, 1) << "released with the module";

  // A failed creation frees the callable too.
  auto failed = Module::fromLookup([](const char *) { return nullptr; });
  EXPECT_EQ(failed.status().code(), ATTN_STATUS_NOT_FOUND);
}

} // namespace
