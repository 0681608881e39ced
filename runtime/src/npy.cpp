//===- npy.cpp - NumPy .npy files -----------------------------------------===//
//
// Layout of a .npy file:
//   "\x93NUMPY" major minor  header_len (uint16 LE in 1.0, uint32 LE after)
//   header: a Python dict literal, e.g.
//     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
//   padded with spaces and a final '\n' so that the data starts at a multiple
//   of 64 bytes, then the elements in C order.
//
//===----------------------------------------------------------------------===//

#include "attn/npy.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <sys/stat.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy reader assumes a little-endian host"
#endif

namespace attn::npy {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlignment = 64;

Status error(const std::string &name, const std::string &message) {
  return Status(ATTN_STATUS_INVALID_ARGUMENT, "'" + name + "': " + message);
}

struct Descr {
  const char *text;
  attn_dtype_t dtype;
};
/// NumPy has no bf16; ml_dtypes.bfloat16, the type numpy users hold bf16
/// in (JAX's, PyTorch's .numpy() through it), is saved by np.save as a
/// 2-byte opaque element, '<V2', and read back with .view(bfloat16). No
/// other 2-byte opaque element is in use, so '<V2' is bf16 here.
constexpr Descr kDescrs[] = {
    {"f4", ATTN_DTYPE_F32}, {"f8", ATTN_DTYPE_F64}, {"f2", ATTN_DTYPE_F16},
    {"i4", ATTN_DTYPE_I32}, {"i8", ATTN_DTYPE_I64}, {"V2", ATTN_DTYPE_BF16},
};

/// A tiny reader for the Python literals a .npy header holds.
class HeaderParser {
public:
  explicit HeaderParser(std::string_view text) : text(text) {}

  struct Header {
    std::optional<std::string> descr;
    std::optional<bool> fortranOrder;
    std::optional<std::vector<int64_t>> shape;
  };

  bool parse(Header &header, std::string &message) {
    skipSpace();
    if (!consume('{'))
      return fail("expected '{' at the start of the header", message);
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (!parseString(key))
        return fail("expected a quoted key", message);
      skipSpace();
      if (!consume(':'))
        return fail("expected ':' after '" + key + "'", message);
      skipSpace();
      if (key == "descr") {
        std::string value;
        if (!parseString(value))
          return fail("'descr' must be a string", message);
        header.descr = value;
      } else if (key == "fortran_order") {
        if (consumeWord("True"))
          header.fortranOrder = true;
        else if (consumeWord("False"))
          header.fortranOrder = false;
        else
          return fail("'fortran_order' must be True or False", message);
      } else if (key == "shape") {
        std::vector<int64_t> shape;
        if (!parseTuple(shape, message))
          return false;
        header.shape = shape;
      } else {
        return fail("unexpected key '" + key + "'", message);
      }
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume('}'))
        break;
      return fail("expected ',' or '}'", message);
    }
    skipSpace();
    if (position != text.size())
      return fail("unexpected text after the header's '}'", message);
    return true;
  }

private:
  std::string_view text;
  size_t position = 0;

  bool fail(const std::string &what, std::string &message) {
    message = "malformed header at offset " + std::to_string(position) + ": " +
              what + " in \"" + std::string(text) + "\"";
    return false;
  }
  void skipSpace() {
    while (position < text.size() &&
           std::isspace(static_cast<unsigned char>(text[position])))
      ++position;
  }
  bool consume(char c) {
    if (position < text.size() && text[position] == c) {
      ++position;
      return true;
    }
    return false;
  }
  bool consumeWord(std::string_view word) {
    if (text.substr(position, word.size()) != word)
      return false;
    position += word.size();
    return true;
  }
  bool parseString(std::string &out) {
    if (position >= text.size() ||
        (text[position] != '\'' && text[position] != '"'))
      return false;
    char quote = text[position];
    size_t end = text.find(quote, position + 1);
    if (end == std::string_view::npos)
      return false;
    out = std::string(text.substr(position + 1, end - position - 1));
    position = end + 1;
    return true;
  }
  bool parseTuple(std::vector<int64_t> &shape, std::string &message) {
    if (!consume('('))
      return fail("'shape' must be a tuple", message);
    while (true) {
      skipSpace();
      if (consume(')'))
        return true;
      if (position >= text.size() ||
          !std::isdigit(static_cast<unsigned char>(text[position])))
        return fail("expected a non-negative integer in 'shape'", message);
      int64_t value = 0;
      while (position < text.size() &&
             std::isdigit(static_cast<unsigned char>(text[position]))) {
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, text[position] - '0', &value))
          return fail("dimension too large in 'shape'", message);
        ++position;
      }
      consume('L'); // Python 2 longs
      shape.push_back(value);
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume(')'))
        return true;
      return fail("expected ',' or ')' in 'shape'", message);
    }
  }
};

uint32_t readLittle(const unsigned char *bytes, size_t count) {
  uint32_t value = 0;
  for (size_t i = 0; i < count; ++i)
    value |= static_cast<uint32_t>(bytes[i]) << (8 * i);
  return value;
}

} // namespace

Status parse(std::string_view bytes, const std::string &name, HostTensor &out) {
  try {
    auto data = reinterpret_cast<const unsigned char *>(bytes.data());
    if (bytes.size() < kMagicSize + 2 ||
        std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
      return error(name, "not a .npy file (missing the \\x93NUMPY magic)");
    unsigned major = data[6], minor = data[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
      return error(name, "unsupported .npy format version " +
                             std::to_string(major) + "." +
                             std::to_string(minor) +
                             " (supported: 1.0, 2.0, 3.0)");
    size_t lengthSize = major == 1 ? 2 : 4;
    size_t prefix = kMagicSize + 2 + lengthSize;
    if (bytes.size() < prefix)
      return error(name, "truncated: the file ends inside the header length");
    size_t headerLength = readLittle(data + kMagicSize + 2, lengthSize);
    if (bytes.size() - prefix < headerLength)
      return error(name, "truncated: the header needs " +
                             std::to_string(headerLength) + " bytes but only " +
                             std::to_string(bytes.size() - prefix) + " follow");

    HeaderParser::Header header;
    std::string message;
    if (!HeaderParser(bytes.substr(prefix, headerLength))
             .parse(header, message))
      return error(name, message);
    if (!header.descr || !header.fortranOrder || !header.shape)
      return error(name, "the header lacks one of 'descr', 'fortran_order' "
                         "and 'shape'");
    if (*header.fortranOrder)
      return error(name, "the array is stored in Fortran order; only C order "
                         "is supported (save np.ascontiguousarray(a))");

    const std::string &descr = *header.descr;
    if (!descr.empty() && descr[0] == '>')
      return error(name, "the array is big-endian ('" + descr +
                             "'); only little-endian data is supported "
                             "(save a.astype(a.dtype.newbyteorder('<')))");
    // '|' (no byte order) is how NumPy writes one-byte and opaque types.
    std::optional<attn_dtype_t> dtype;
    if (descr.size() == 3 &&
        (descr[0] == '<' || descr[0] == '=' || descr[0] == '|'))
      for (const Descr &known : kDescrs)
        if (descr.compare(1, 2, known.text) == 0)
          dtype = known.dtype;
    if (!dtype)
      return error(name, "unsupported dtype '" + descr +
                             "' (supported: <f4, <f8, <f2, <i4, <i8, and <V2 "
                             "for bf16 as ml_dtypes.bfloat16 saves it)");

    // The data's size is checked against the file before anything is
    // allocated: a header may claim any shape.
    int64_t count = elementCount(*header.shape);
    size_t elementBytes = attn_dtype_size(*dtype);
    size_t available = bytes.size() - prefix - headerLength;
    if (count < 0 ||
        static_cast<uint64_t>(count) > SIZE_MAX / 64 / elementBytes)
      return error(name,
                   "shape " + formatShape(*header.shape) + " is too large");
    size_t expected = static_cast<size_t>(count) * elementBytes;
    if (available != expected)
      return error(name,
                   std::string(available < expected ? "truncated" : "corrupt") +
                       ": shape " + formatShape(*header.shape) + " of " +
                       descr + " needs " + std::to_string(expected) +
                       " bytes of data but the file has " +
                       std::to_string(available));
    HostTensor tensor(*dtype, *header.shape);
    if (expected)
      std::memcpy(tensor.data(), bytes.data() + prefix + headerLength,
                  expected);
    out = std::move(tensor);
    return Status();
  } catch (const std::bad_alloc &) {
    return Status(ATTN_STATUS_UNAVAILABLE,
                  "'" + name + "': out of memory while reading");
  }
}

Status read(const std::string &path, HostTensor &out) {
  // A folder opens as a stream whose first read fails (EISDIR); say so
  // before, as for a missing file.
  struct stat info;
  if (stat(path.c_str(), &info) != 0)
    return Status(errno == ENOENT ? ATTN_STATUS_NOT_FOUND
                                  : ATTN_STATUS_UNAVAILABLE,
                  "cannot open '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(info.st_mode))
    return Status(ATTN_STATUS_INVALID_ARGUMENT,
                  "cannot read '" + path + "': " +
                      (S_ISDIR(info.st_mode) ? "it is a folder"
                                             : "it is not a regular file"));
  std::ifstream file(path, std::ios::binary);
  if (!file)
    return Status(errno == ENOENT ? ATTN_STATUS_NOT_FOUND
                                  : ATTN_STATUS_UNAVAILABLE,
                  "cannot open '" + path + "': " + std::strerror(errno));
  std::string bytes;
  try {
    bytes.assign(std::istreambuf_iterator<char>(file),
                 std::istreambuf_iterator<char>());
  } catch (const std::bad_alloc &) {
    return Status(ATTN_STATUS_UNAVAILABLE,
                  "'" + path + "': out of memory while reading");
  } catch (const std::exception &failure) {
    return Status(ATTN_STATUS_UNAVAILABLE,
                  "cannot read '" + path + "': " + failure.what());
  }
  if (file.bad())
    return Status(ATTN_STATUS_UNAVAILABLE, "cannot read '" + path + "'");
  return parse(bytes, path, out);
}

Status serialize(const attn_tensor_t &tensor, const std::string &name,
                 std::string &out) {
  const char *descr = nullptr;
  for (const Descr &known : kDescrs)
    if (known.dtype == tensor.dtype)
      descr = known.text;
  if (!descr)
    return error(name, std::string("dtype ") + dtypeName(tensor.dtype) +
                           " has no .npy equivalent (supported: f32, f64, "
                           "f16, bf16, i32, i64)");
  int64_t count = 0;
  Status status = Status::fromC(attn_tensor_element_count(&tensor, &count));
  if (!status.ok())
    return error(name, status.message());
  std::vector<int64_t> shape(tensor.shape, tensor.shape + tensor.rank);
  if (tensor.strides && count > 0) {
    int64_t contiguous = 1;
    for (int32_t d = tensor.rank - 1; d >= 0; --d) {
      if (shape[d] != 1 && tensor.strides[d] != contiguous)
        return error(name,
                     "only row-major contiguous tensors can be written; "
                     "shape " +
                         formatShape(shape) + " has strides " +
                         formatShape(std::vector<int64_t>(
                             tensor.strides, tensor.strides + tensor.rank)));
      contiguous *= shape[d];
    }
  }
  if (!tensor.data && count > 0)
    return error(name, "the tensor's data pointer is NULL");

  try {
    std::string header = std::string("{'descr': '<") + descr +
                         "', 'fortran_order': False, 'shape': (";
    for (size_t d = 0; d < shape.size(); ++d)
      header += std::to_string(shape[d]) + (shape.size() == 1      ? ","
                                            : d + 1 < shape.size() ? ", "
                                                                   : "");
    header += "), }";
    // Pad so that the data starts at a multiple of 64; end with '\n'.
    size_t prefix = kMagicSize + 2 + 2;
    if (prefix + header.size() + 1 > 0xffff)
      prefix = kMagicSize + 2 + 4; // version 2.0: 32-bit header length
    size_t total = prefix + header.size() + 1;
    header.append((kAlignment - total % kAlignment) % kAlignment, ' ');
    header += '\n';

    size_t bytes = static_cast<size_t>(count) * attn_dtype_size(tensor.dtype);
    out.clear();
    out.reserve(prefix + header.size() + bytes);
    out.append(kMagic, kMagicSize);
    bool version1 = prefix == kMagicSize + 4;
    out += static_cast<char>(version1 ? 1 : 2);
    out += '\0';
    size_t length = header.size();
    for (size_t i = 0; i < (version1 ? 2u : 4u); ++i)
      out += static_cast<char>((length >> (8 * i)) & 0xff);
    out += header;
    if (bytes)
      out.append(static_cast<const char *>(tensor.data), bytes);
    return Status();
  } catch (const std::bad_alloc &) {
    return Status(ATTN_STATUS_UNAVAILABLE,
                  "'" + name + "': out of memory while writing");
  }
}

Status write(const std::string &path, const attn_tensor_t &tensor) {
  std::string bytes;
  Status status = serialize(tensor, path, bytes);
  if (!status.ok())
    return status;
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  if (!file)
    return Status(ATTN_STATUS_UNAVAILABLE,
                  "cannot create '" + path + "': " + std::strerror(errno));
  file.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  file.close();
  if (!file)
    return Status(ATTN_STATUS_UNAVAILABLE,
                  "cannot write '" + path + "': " + std::strerror(errno));
  return Status();
}

} // namespace attn::npy
