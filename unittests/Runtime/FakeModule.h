//===- FakeModule.h - In-process modules for the tests ----------*- C++ -*-===//
//
// Builds modules through attn_module_create_from_lookup, the path attn-run
// takes for JIT-compiled code: a signature string plus entry functions that
// live in the test binary.
//
//===----------------------------------------------------------------------===//

#ifndef ATTN_UNITTESTS_RUNTIME_FAKEMODULE_H
#define ATTN_UNITTESTS_RUNTIME_FAKEMODULE_H

#include "TestUtil.h"

#include <atomic>
#include <map>
#include <string>

namespace attn::test {

using Entry = void (*)(void **);

/// Counts the calls of every entry made with `countingEntry`.
inline std::atomic<int> &entryCalls() {
  static std::atomic<int> calls{0};
  return calls;
}
inline void countingEntry(void **) { ++entryCalls(); }

/// The symbols of an in-process module.
struct FakeSymbols {
  std::string signature;
  /// `_attn_module_target` when not empty ("cuda" for GPU code).
  std::string target;
  std::map<std::string, Entry> entries;
  int releases = 0;

  static void *lookup(void *userData, const char *symbol) {
    auto *self = static_cast<FakeSymbols *>(userData);
    if (std::string(symbol) == "attn_module_signature")
      return const_cast<char *>(self->signature.c_str());
    if (std::string(symbol) == "_attn_module_target" && !self->target.empty())
      return const_cast<char *>(self->target.c_str());
    auto found = self->entries.find(symbol);
    return found == self->entries.end()
               ? nullptr
               : reinterpret_cast<void *>(found->second);
  }
  static void release(void *userData) {
    ++static_cast<FakeSymbols *>(userData)->releases;
  }

  /// Creates a module; `module` stays NULL on failure.
  Outcome create(attn_module_t **module) {
    *module = nullptr;
    return take(attn_module_create_from_lookup(lookup, this, release, module));
  }
};

/// Symbols for `signature` where every declared function `names` gets
/// countingEntry.
inline FakeSymbols fakeSymbols(std::string signature,
                               std::initializer_list<const char *> names) {
  FakeSymbols symbols;
  symbols.signature = std::move(signature);
  for (const char *name : names)
    symbols.entries[std::string("_attn_entry_") + name] = countingEntry;
  return symbols;
}

} // namespace attn::test

#endif // ATTN_UNITTESTS_RUNTIME_FAKEMODULE_H
