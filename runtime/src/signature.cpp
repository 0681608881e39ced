//===- signature.cpp - Parser of module signatures ------------------------===//
//
// Grammar (whitespace between tokens is optional):
//
//   signature := 'attn-abi' version '\n' (function '\n')*
//   function  := ident '(' args ')' '->' '(' args ')'
//   args      := empty | arg (',' arg)*
//   arg       := ident ':' dtype '[' dims ']' ('<=' ident)?
//   dims      := empty | dim (',' dim)*
//   dim       := integer | ident
//   dtype     := 'f32' | 'f16' | 'bf16' | 'f64' | 'i32' | 'i64'
//   ident     := [A-Za-z_][A-Za-z0-9_]*
//
// Blank lines are ignored. Besides the grammar, each function must have
// distinct function and argument names, a bound only on integer inputs, and
// a bound symbol that some input's shape binds (otherwise it could not be
// checked before the call).
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <cctype>
#include <set>
#include <string>

namespace attn::detail {

/// Decimal digits to a non-negative int64_t; false on overflow.
static bool parseSize(std::string_view digits, int64_t &out) {
  int64_t value = 0;
  for (char digit : digits)
    if (__builtin_mul_overflow(value, 10, &value) ||
        __builtin_add_overflow(value, digit - '0', &value))
      return false;
  out = value;
  return true;
}

namespace {

enum class TokenKind {
  Ident,
  Integer,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Colon,
  Comma,
  Arrow,
  LessEqual,
  End,
  Invalid,
};

struct Token {
  TokenKind kind;
  std::string_view text;
  size_t column; // 1-based
};

std::string describe(const Token &token) {
  switch (token.kind) {
  case TokenKind::End:
    return "end of line";
  case TokenKind::Invalid:
    return "unexpected character '" + std::string(token.text) + "'";
  default:
    return "'" + std::string(token.text) + "'";
  }
}

bool isIdentStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool isIdentChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

/// Parses one function line; errors are reported as "column N: ...".
class LineParser {
public:
  explicit LineParser(std::string_view line) : line(line) { advance(); }

  bool parseFunction(FunctionSpec &function, std::string &error) {
    if (current.kind != TokenKind::Ident)
      return fail("expected a function name, found " + describe(current),
                  error);
    function.name = std::string(current.text);
    advance();
    if (!expect(TokenKind::LParen, "'(' after the function name", error) ||
        !parseArgs(function.inputs, error) ||
        !expect(TokenKind::RParen, "')' after the inputs", error) ||
        !expect(TokenKind::Arrow, "'->' after the inputs", error) ||
        !expect(TokenKind::LParen, "'(' before the outputs", error) ||
        !parseArgs(function.outputs, error) ||
        !expect(TokenKind::RParen, "')' after the outputs", error))
      return false;
    if (current.kind != TokenKind::End)
      return fail("unexpected " + describe(current) + " after the outputs",
                  error);
    return true;
  }

private:
  std::string_view line;
  size_t position = 0;
  Token current{TokenKind::End, {}, 0};

  void advance() {
    while (position < line.size() &&
           std::isspace(static_cast<unsigned char>(line[position])))
      ++position;
    size_t start = position;
    auto make = [&](TokenKind kind, size_t length) {
      position = start + length;
      current = Token{kind, line.substr(start, length), start + 1};
    };
    if (start == line.size())
      return make(TokenKind::End, 0);
    char c = line[start];
    if (isIdentStart(c)) {
      size_t end = start;
      while (end < line.size() && isIdentChar(line[end]))
        ++end;
      return make(TokenKind::Ident, end - start);
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t end = start;
      while (end < line.size() &&
             std::isdigit(static_cast<unsigned char>(line[end])))
        ++end;
      return make(TokenKind::Integer, end - start);
    }
    auto next = [&](char expected) {
      return start + 1 < line.size() && line[start + 1] == expected;
    };
    switch (c) {
    case '(':
      return make(TokenKind::LParen, 1);
    case ')':
      return make(TokenKind::RParen, 1);
    case '[':
      return make(TokenKind::LBracket, 1);
    case ']':
      return make(TokenKind::RBracket, 1);
    case ':':
      return make(TokenKind::Colon, 1);
    case ',':
      return make(TokenKind::Comma, 1);
    case '-':
      if (next('>'))
        return make(TokenKind::Arrow, 2);
      break;
    case '<':
      if (next('='))
        return make(TokenKind::LessEqual, 2);
      break;
    default:
      break;
    }
    make(TokenKind::Invalid, 1);
  }

  bool fail(const std::string &message, std::string &error) {
    error = "column " +
            std::to_string(current.column ? current.column : line.size() + 1) +
            ": " + message;
    return false;
  }

  bool expect(TokenKind kind, const char *what, std::string &error) {
    if (current.kind != kind)
      return fail(std::string("expected ") + what + ", found " +
                      describe(current),
                  error);
    advance();
    return true;
  }

  bool parseArgs(std::vector<ArgSpec> &args, std::string &error) {
    if (current.kind == TokenKind::RParen)
      return true;
    while (true) {
      ArgSpec arg;
      if (!parseArg(arg, error))
        return false;
      args.push_back(std::move(arg));
      if (current.kind != TokenKind::Comma)
        return true;
      advance();
    }
  }

  bool parseArg(ArgSpec &arg, std::string &error) {
    if (current.kind != TokenKind::Ident)
      return fail("expected an argument name, found " + describe(current),
                  error);
    arg.name = std::string(current.text);
    advance();
    if (!expect(TokenKind::Colon,
                ("':' after argument name '" + arg.name + "'").c_str(), error))
      return false;
    if (current.kind != TokenKind::Ident)
      return fail("expected the dtype of '" + arg.name + "', found " +
                      describe(current),
                  error);
    std::string dtypeName(current.text);
    attn_status_t status = attn_dtype_from_name(dtypeName.c_str(), &arg.dtype);
    if (status) {
      attn_status_free(status);
      return fail("unknown dtype '" + dtypeName + "' for '" + arg.name +
                      "' (expected f32, f16, bf16, f64, i32 or i64)",
                  error);
    }
    advance();
    if (!expect(TokenKind::LBracket,
                ("'[' after the dtype of '" + arg.name + "'").c_str(), error))
      return false;
    if (current.kind != TokenKind::RBracket) {
      while (true) {
        DimSpec dim;
        if (current.kind == TokenKind::Integer) {
          if (!parseSize(current.text, dim.size))
            return fail("dimension " + std::string(current.text) + " of '" +
                            arg.name + "' does not fit in 64 bits",
                        error);
        } else if (current.kind == TokenKind::Ident) {
          dim.symbol = std::string(current.text);
        } else {
          return fail("expected a dimension (an integer or a symbol) of '" +
                          arg.name + "', found " + describe(current),
                      error);
        }
        arg.dims.push_back(std::move(dim));
        advance();
        if (current.kind != TokenKind::Comma)
          break;
        advance();
      }
    }
    if (!expect(TokenKind::RBracket,
                ("']' after the dimensions of '" + arg.name + "'").c_str(),
                error))
      return false;
    if (current.kind == TokenKind::LessEqual) {
      advance();
      if (current.kind != TokenKind::Ident &&
          current.kind != TokenKind::Integer)
        return fail("expected a symbol or a size after '<=' for '" + arg.name +
                        "', found " + describe(current),
                    error);
      arg.bound = std::string(current.text);
      if (current.kind == TokenKind::Integer &&
          !parseSize(current.text, arg.boundSize))
        return fail("the bound " + arg.bound + " of '" + arg.name +
                        "' does not fit in 64 bits",
                    error);
      advance();
      if (current.kind == TokenKind::Ident && current.text == "ascending") {
        arg.ascending = true;
        advance();
      }
    }
    return true;
  }
};

std::string_view trim(std::string_view text) {
  while (!text.empty() &&
         std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  return text;
}

std::string canonicalArg(const ArgSpec &arg) {
  std::string text = arg.name + ": " + attn_dtype_name(arg.dtype) + "[";
  for (size_t i = 0; i < arg.dims.size(); ++i) {
    if (i)
      text += ',';
    const DimSpec &dim = arg.dims[i];
    text += dim.isStatic() ? std::to_string(dim.size) : dim.symbol;
  }
  text += ']';
  if (!arg.bound.empty())
    text += " <= " + arg.bound + (arg.ascending ? " ascending" : "");
  return text;
}

std::string canonicalArgs(const std::vector<ArgSpec> &args) {
  std::string text;
  for (size_t i = 0; i < args.size(); ++i) {
    if (i)
      text += ", ";
    text += args[i].text;
  }
  return text;
}

/// Checks what the grammar cannot express; returns an error or "".
std::string checkFunction(const FunctionSpec &function) {
  std::set<std::string> names;
  std::set<std::string> inputSymbols;
  for (const ArgSpec &arg : function.inputs)
    for (const DimSpec &dim : arg.dims)
      if (!dim.isStatic())
        inputSymbols.insert(dim.symbol);
  for (const std::vector<ArgSpec> *group :
       {&function.inputs, &function.outputs}) {
    for (const ArgSpec &arg : *group) {
      if (!names.insert(arg.name).second)
        return "function '" + function.name + "' has two arguments named '" +
               arg.name + "'";
      if (arg.bound.empty())
        continue;
      if (group == &function.outputs)
        return "output '" + arg.name + "' of '" + function.name +
               "' has a bound ('<= " + arg.bound +
               "'), but only inputs can be bounded";
      if (arg.dtype != ATTN_DTYPE_I32 && arg.dtype != ATTN_DTYPE_I64)
        return "'" + arg.name + "' of '" + function.name + "' is " +
               attn_dtype_name(arg.dtype) +
               ", but only i32 and i64 arguments can be bounded";
      if (arg.boundSize < 0 && !inputSymbols.count(arg.bound))
        return "the bound '" + arg.bound + "' of '" + arg.name + "' in '" +
               function.name + "' is not a dimension of any input";
    }
  }
  return "";
}

void finalize(FunctionSpec &function) {
  for (std::vector<ArgSpec> *group : {&function.inputs, &function.outputs})
    for (ArgSpec &arg : *group)
      arg.text = canonicalArg(arg);
  function.text = function.name + "(" + canonicalArgs(function.inputs) +
                  ") -> (" + canonicalArgs(function.outputs) + ")";
}

} // namespace

void buildCViews(FunctionSpec &function) {
  for (std::vector<ArgSpec> *group : {&function.inputs, &function.outputs}) {
    for (ArgSpec &arg : *group) {
      arg.cDims.clear();
      for (const DimSpec &dim : arg.dims)
        arg.cDims.push_back(
            attn_dim_info_t{dim.isStatic() ? dim.size : -1,
                            dim.isStatic() ? nullptr : dim.symbol.c_str()});
    }
  }
}

bool parseSignature(std::string_view text, std::vector<FunctionSpec> &out,
                    SignatureError &error) {
  out.clear();
  size_t lineNumber = 0;
  bool sawHeader = false;
  std::set<std::string> functionNames;
  while (!text.empty()) {
    size_t newline = text.find('\n');
    std::string_view rawLine = text.substr(0, newline);
    text.remove_prefix(newline == std::string_view::npos ? text.size()
                                                         : newline + 1);
    ++lineNumber;
    if (!rawLine.empty() && rawLine.back() == '\r')
      rawLine.remove_suffix(1);
    std::string_view line = trim(rawLine);
    auto fail = [&](attn_status_code_t code, const std::string &message) {
      error.code = code;
      error.message = "signature line " + std::to_string(lineNumber) + " (\"" +
                      std::string(line) + "\"): " + message;
      return false;
    };

    if (!sawHeader) {
      // The first line is `attn-abi <version>`.
      constexpr std::string_view magic = "attn-abi";
      if (line.substr(0, magic.size()) != magic)
        return fail(ATTN_STATUS_INVALID_ARGUMENT,
                    "expected 'attn-abi 1' as the first line");
      std::string_view version = trim(line.substr(magic.size()));
      bool numeric =
          !version.empty() && line.size() > magic.size() &&
          std::isspace(static_cast<unsigned char>(line[magic.size()]));
      for (char c : version)
        numeric = numeric && std::isdigit(static_cast<unsigned char>(c));
      if (!numeric)
        return fail(ATTN_STATUS_INVALID_ARGUMENT,
                    "expected 'attn-abi 1' as the first line");
      if (version != "1")
        return fail(ATTN_STATUS_FAILED_PRECONDITION,
                    "the module uses ABI version " + std::string(version) +
                        ", but this runtime reads version " +
                        std::to_string(ATTN_RUNTIME_ABI_VERSION));
      sawHeader = true;
      continue;
    }
    if (line.empty())
      continue;

    FunctionSpec function;
    std::string message;
    if (!LineParser(line).parseFunction(function, message))
      return fail(ATTN_STATUS_INVALID_ARGUMENT, message);
    if (!functionNames.insert(function.name).second)
      return fail(ATTN_STATUS_INVALID_ARGUMENT,
                  "function '" + function.name + "' is declared twice");
    message = checkFunction(function);
    if (!message.empty())
      return fail(ATTN_STATUS_INVALID_ARGUMENT, message);
    out.push_back(std::move(function));
  }
  if (!sawHeader) {
    error.code = ATTN_STATUS_INVALID_ARGUMENT;
    error.message = "signature is empty (expected 'attn-abi 1' as the first "
                    "line)";
    return false;
  }
  for (FunctionSpec &function : out)
    finalize(function);
  return true;
}

} // namespace attn::detail
