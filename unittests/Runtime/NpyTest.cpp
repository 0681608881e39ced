//===- NpyTest.cpp - Reading and writing .npy files -----------------------===//

#include "attn/npy.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <unistd.h>

using namespace attn;

namespace {

/// A fresh directory per test, removed with its files.
class Npy : public ::testing::Test {
protected:
  std::string dir;

  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "attn-npy-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir = pattern;
  }
  void TearDown() override {
    for (const std::string &file : files)
      std::remove(file.c_str());
    rmdir(dir.c_str());
  }

  std::string path(const std::string &name) {
    files.push_back(dir + "/" + name);
    return files.back();
  }
  std::string writeBytes(const std::string &name, const std::string &bytes) {
    std::string file = path(name);
    std::ofstream(file, std::ios::binary) << bytes;
    return file;
  }
  static std::string readBytes(const std::string &file) {
    std::ifstream in(file, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in),
                       std::istreambuf_iterator<char>());
  }

  /// A .npy file with a hand-written header (version 1.0 unless `major`).
  static std::string npyBytes(const std::string &dict, const std::string &data,
                              int major = 1) {
    std::string header = dict;
    size_t prefix = major == 1 ? 10 : 12;
    while ((prefix + header.size() + 1) % 64 != 0)
      header += ' ';
    header += '\n';
    std::string bytes = "\x93NUMPY";
    bytes += static_cast<char>(major);
    bytes += '\0';
    for (size_t i = 0; i < prefix - 8; ++i)
      bytes += static_cast<char>((header.size() >> (8 * i)) & 0xff);
    return bytes + header + data;
  }

  void expectReadError(const std::string &name, const std::string &bytes,
                       const std::vector<std::string> &parts) {
    std::string file = writeBytes(name, bytes);
    HostTensor tensor;
    Status status = npy::read(file, tensor);
    EXPECT_FALSE(status.ok()) << name;
    EXPECT_NE(status.message().find("'" + file + "'"), std::string::npos)
        << "the message names the file: " << status.message();
    for (const std::string &part : parts)
      EXPECT_NE(status.message().find(part), std::string::npos)
          << "message lacks \"" << part << "\": " << status.message();
  }

private:
  std::vector<std::string> files;
};

template <typename T>
void expectRoundTrip(const std::string &file, attn_dtype_t dtype,
                     std::vector<int64_t> shape, const std::vector<T> &values) {
  HostTensor tensor(dtype, shape);
  ASSERT_TRUE(tensor.valid());
  ASSERT_EQ(static_cast<size_t>(tensor.numElements()), values.size());
  if (!values.empty())
    std::memcpy(tensor.data(), values.data(), values.size() * sizeof(T));
  Status status = npy::write(file, tensor);
  ASSERT_TRUE(status.ok()) << status.toString();
  auto back = npy::read(file);
  ASSERT_TRUE(back.ok()) << back.status().toString();
  EXPECT_EQ(back->dtype(), dtype);
  EXPECT_EQ(back->shape(), shape);
  ASSERT_EQ(back->byteSize(), values.size() * sizeof(T));
  if (!values.empty()) {
    EXPECT_EQ(std::memcmp(back->data(), values.data(), back->byteSize()), 0);
  }
}

TEST_F(Npy, RoundTripsEveryDtype) {
  expectRoundTrip<float>(path("f32.npy"), ATTN_DTYPE_F32, {2, 3},
                         {1, -2, 3.5f, 4, 5e-8f, 1e30f});
  expectRoundTrip<double>(path("f64.npy"), ATTN_DTYPE_F64, {3},
                          {1.0 / 3, -0.0, 1e300});
  expectRoundTrip<uint16_t>(path("f16.npy"), ATTN_DTYPE_F16, {2, 1, 2},
                            {0x3c00, 0xc000, 0x7c00, 0x0001});
  expectRoundTrip<int32_t>(path("i32.npy"), ATTN_DTYPE_I32, {4},
                           {0, -1, INT32_MAX, INT32_MIN});
  expectRoundTrip<int64_t>(path("i64.npy"), ATTN_DTYPE_I64, {1, 2},
                           {INT64_MIN, INT64_MAX});
  expectRoundTrip<uint16_t>(path("bf16.npy"), ATTN_DTYPE_BF16, {3},
                            {0x3f80, 0xc000, 0x7f80});
}

// np.save(f, np.array([1.0, -2.0], dtype=ml_dtypes.bfloat16)) writes '<V2';
// the header and bits below are what it writes.
TEST_F(Npy, ReadsBf16AsMlDtypesSavesIt) {
  for (const char *descr : {"<V2", "|V2"}) {
    std::string file = writeBytes(
        "bf16.npy", npyBytes(std::string("{'descr': '") + descr +
                                 "', 'fortran_order': False, 'shape': (2,), }",
                             std::string("\x80\x3f\x00\xc0", 4)));
    auto tensor = npy::read(file);
    ASSERT_TRUE(tensor.ok()) << tensor.status().toString();
    EXPECT_EQ(tensor->dtype(), ATTN_DTYPE_BF16);
    EXPECT_EQ(tensor->values<uint16_t>(),
              (std::vector<uint16_t>{0x3f80, 0xc000}));
  }
  HostTensor bf16(ATTN_DTYPE_BF16, {1});
  std::string bytes;
  ASSERT_TRUE(npy::serialize(bf16.view(), "x", bytes).ok());
  EXPECT_NE(bytes.find("'descr': '<V2'"), std::string::npos) << bytes;
}

// A header may claim any shape: the file's size is checked first, so a
// huge claim over a small file is an error, not an allocation.
TEST_F(Npy, ChecksTheClaimedShapeAgainstTheFile) {
  expectReadError("claims-a-tebibyte.npy",
                  npyBytes("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (1099511627776,), }",
                           std::string(8192, '\0')),
                  {"truncated", "needs 4398046511104 bytes",
                   "the file has 8192"});
}

TEST_F(Npy, RefusesFolders) {
  HostTensor tensor;
  Status status = npy::read(dir, tensor);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'" + dir + "': it is a folder"),
            std::string::npos)
      << status.message();
}

TEST_F(Npy, RoundTripsScalarsAndEmptyArrays) {
  expectRoundTrip<float>(path("scalar.npy"), ATTN_DTYPE_F32, {}, {2.5f});
  expectRoundTrip<float>(path("empty.npy"), ATTN_DTYPE_F32, {0, 4}, {});
  expectRoundTrip<double>(path("empty1.npy"), ATTN_DTYPE_F64, {0}, {});
}

TEST_F(Npy, WritesVersion1WithAnAlignedHeader) {
  std::string file = path("layout.npy");
  HostTensor tensor = HostTensor::fromValues<float>({5}, {1, 2, 3, 4, 5});
  ASSERT_TRUE(npy::write(file, tensor).ok());
  std::string bytes = readBytes(file);
  ASSERT_GE(bytes.size(), 10u);
  EXPECT_EQ(bytes.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(bytes[6], 1);
  EXPECT_EQ(bytes[7], 0);
  size_t headerLength = static_cast<unsigned char>(bytes[8]) |
                        static_cast<unsigned char>(bytes[9]) << 8;
  EXPECT_EQ((10 + headerLength) % 64, 0u);
  std::string header = bytes.substr(10, headerLength);
  EXPECT_EQ(header.rfind("{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (5,), }",
                         0),
            0u)
      << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(bytes.size(), 10 + headerLength + 20);

  std::string serialized;
  ASSERT_TRUE(npy::serialize(tensor.view(), "memory", serialized).ok());
  EXPECT_EQ(serialized, bytes);

  HostTensor matrix(ATTN_DTYPE_I64, {2, 3});
  ASSERT_TRUE(npy::serialize(matrix.view(), "memory", serialized).ok());
  EXPECT_NE(serialized.find("'shape': (2, 3), }"), std::string::npos);
  HostTensor scalar(ATTN_DTYPE_F64, {});
  ASSERT_TRUE(npy::serialize(scalar.view(), "memory", serialized).ok());
  EXPECT_NE(serialized.find("'descr': '<f8'"), std::string::npos);
  EXPECT_NE(serialized.find("'shape': (), }"), std::string::npos);
}

TEST_F(Npy, ReadsVersion2AndOtherSpellings) {
  float values[] = {1.5f, -2.5f};
  std::string data(reinterpret_cast<const char *>(values), sizeof(values));
  std::string file = writeBytes(
      "v2.npy", npyBytes("{\"descr\":\"<f4\",\"fortran_order\":False,"
                         "\"shape\":(2,)}",
                         data, /*major=*/2));
  auto tensor = npy::read(file);
  ASSERT_TRUE(tensor.ok()) << tensor.status().toString();
  EXPECT_EQ(tensor->shape(), (std::vector<int64_t>{2}));
  EXPECT_EQ(tensor->values<float>(), (std::vector<float>{1.5f, -2.5f}));

  // Keys in another order, '=' byte order, Python 2 long dimensions.
  file = writeBytes("spelling.npy",
                    npyBytes("{'shape': (1L, 2L), 'fortran_order': False, "
                             "'descr': '=f4'}",
                             data));
  tensor = npy::read(file);
  ASSERT_TRUE(tensor.ok()) << tensor.status().toString();
  EXPECT_EQ(tensor->shape(), (std::vector<int64_t>{1, 2}));

  // A Fortran-ordered array that is one-dimensional is still refused: the
  // flag is what the file says.
  HostTensor parsed;
  Status status = npy::parse(
      npyBytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }",
               std::string(8, '\0')),
      "memory", parsed);
  ASSERT_TRUE(status.ok()) << status.toString();
  EXPECT_EQ(parsed.dtype(), ATTN_DTYPE_I32);
}

TEST_F(Npy, RefusesFortranOrder) {
  expectReadError(
      "fortran.npy",
      npyBytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }",
               std::string(16, '\0')),
      {"Fortran order", "only C order is supported"});
}

TEST_F(Npy, RefusesBigEndian) {
  expectReadError(
      "big.npy",
      npyBytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
               std::string(8, '\0')),
      {"big-endian ('>f4')", "only little-endian"});
}

TEST_F(Npy, RefusesUnsupportedDtypes) {
  for (const char *descr : {"<c8", "|u1", "|b1", "<u4", "<f16", "<U4", "|V4"})
    expectReadError("dtype.npy",
                    npyBytes(std::string("{'descr': '") + descr +
                                 "', 'fortran_order': False, 'shape': (1,), }",
                             std::string(8, '\0')),
                    {"unsupported dtype '" + std::string(descr) + "'",
                     "<f4, <f8, <f2, <i4, <i8, and <V2"});
}

TEST_F(Npy, RefusesMalformedFiles) {
  const std::string good =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  expectReadError("short.npy", "\x93NUM", {"not a .npy file"});
  expectReadError("magic.npy", "PK\x03\x04 this is a zip file",
                  {"not a .npy file"});
  std::string v4 = npyBytes(good, std::string(8, '\0'));
  v4[6] = 4;
  expectReadError("v4.npy", v4, {"unsupported .npy format version 4.0"});
  expectReadError(
      "truncated-data.npy", npyBytes(good, std::string(5, '\0')),
      {"truncated", "shape [2] of <f4 needs 8 bytes", "the file has 5"});
  expectReadError("extra-data.npy", npyBytes(good, std::string(12, '\0')),
                  {"needs 8 bytes", "the file has 12"});
  std::string cut = npyBytes(good, "");
  expectReadError("truncated-header.npy", cut.substr(0, 30),
                  {"truncated: the header needs"});
  expectReadError(
      "missing-key.npy",
      npyBytes("{'descr': '<f4', 'shape': (2,), }", std::string(8, '\0')),
      {"lacks one of 'descr', 'fortran_order' and 'shape'"});
  expectReadError("extra-key.npy",
                  npyBytes("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2,), 'extra': 1}",
                           std::string(8, '\0')),
                  {"unexpected key 'extra'"});
  expectReadError("bad-shape.npy",
                  npyBytes("{'descr': '<f4', 'fortran_order': False, "
                           "'shape': (2, -1), }",
                           std::string(8, '\0')),
                  {"expected a non-negative integer in 'shape'"});
  expectReadError("bad-bool.npy",
                  npyBytes("{'descr': '<f4', 'fortran_order': 0, "
                           "'shape': (2,), }",
                           std::string(8, '\0')),
                  {"'fortran_order' must be True or False"});
  expectReadError("not-a-dict.npy", npyBytes("[1, 2]", ""), {"expected '{'"});
  expectReadError("huge.npy",
                  npyBytes("{'descr': '<f8', 'fortran_order': False, "
                           "'shape': (4611686018427387904, 4), }",
                           ""),
                  {"too large"});
}

TEST_F(Npy, MissingFileIsNotFound) {
  std::string file = dir + "/absent.npy";
  HostTensor tensor;
  Status status = npy::read(file, tensor);
  EXPECT_EQ(status.code(), ATTN_STATUS_NOT_FOUND);
  EXPECT_NE(status.message().find("'" + file + "'"), std::string::npos);
}

TEST_F(Npy, WriteErrors) {
  Status status;
  HostTensor matrix(ATTN_DTYPE_F32, {2, 3});
  attn_tensor_t transposed = matrix.view();
  int64_t shape[] = {3, 2}, strides[] = {1, 3};
  transposed.shape = shape;
  transposed.strides = strides;
  std::string file = path("strided.npy");
  status = npy::write(file, transposed);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("'" + file + "'"), std::string::npos);
  EXPECT_NE(status.message().find("row-major contiguous"), std::string::npos);
  EXPECT_NE(status.message().find("strides [1,3]"), std::string::npos);

  attn_tensor_t null = matrix.view();
  null.data = nullptr;
  status = npy::write(path("null.npy"), null);
  EXPECT_NE(status.message().find("data pointer is NULL"), std::string::npos);

  status = npy::write(dir + "/no/such/dir/x.npy", matrix);
  EXPECT_EQ(status.code(), ATTN_STATUS_UNAVAILABLE);
  EXPECT_NE(status.message().find("no/such/dir/x.npy"), std::string::npos);
}

} // namespace
