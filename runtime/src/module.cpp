//===- module.cpp - Loading modules and describing their functions --------===//

#include "internal.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <optional>
#include <sys/stat.h>

using namespace attn::detail;

namespace {

constexpr const char *kSignatureSymbol = "attn_module_signature";
constexpr const char *kTargetSymbol = "_attn_module_target";
constexpr const char *kCPUFeaturesSymbol = "_attn_module_cpu_features";
constexpr const char *kEntryPrefix = "_attn_entry_";
// A signature longer than this is taken for a symbol that is not a string.
constexpr size_t kMaxSignatureLength = 1 << 20;

using Lookup = void *(*)(void *, const char *);

/// Whether this CPU has `feature`, one of attn/cpu_features.def; nullopt for
/// a name the runtime does not know. $ATTN_CPU_LACKS, a comma-separated list,
/// names features to take as missing (to see what a smaller machine says).
std::optional<bool> cpuHas(std::string_view feature) {
  if (const char *lacks = std::getenv("ATTN_CPU_LACKS")) {
    std::string_view rest = lacks;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      if (rest.substr(0, comma) == feature)
        return false;
      rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    }
  }
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#define ATTN_CPU_FEATURE(name)                                                 \
  if (feature == name)                                                         \
    return __builtin_cpu_supports(name) != 0;
#include "attn/cpu_features.def"
#endif
  return std::nullopt;
}

/// Checks the CPU features a module's code was compiled to use (a
/// comma-separated list) against this CPU.
attn_status_t checkCPUFeatures(const std::string &moduleName,
                               std::string_view features) {
  while (!features.empty()) {
    size_t comma = features.find(',');
    std::string_view feature = features.substr(0, comma);
    features =
        comma == std::string_view::npos ? "" : features.substr(comma + 1);
    std::optional<bool> has = cpuHas(feature);
    if (!has)
      return makeStatus(ATTN_STATUS_UNAVAILABLE,
                        "module '" + moduleName + "' needs the CPU feature '" +
                            std::string(feature) +
                            "', which this runtime cannot check");
    if (!*has)
      return makeStatus(
          ATTN_STATUS_UNAVAILABLE,
          "module '" + moduleName + "' was compiled for a CPU with " +
              std::string(feature) +
              ", which this CPU lacks; compile it for this machine "
              "(attn-translate or attn-run --cpu, --mattr)");
  }
  return nullptr;
}

/// Parses the signature found through `lookup` and resolves every entry.
/// On success `module` holds the functions; on failure returns the error.
attn_status_t populate(attn_module_s &module, Lookup lookup, void *context) {
  auto *signature =
      static_cast<const char *>(lookup(context, kSignatureSymbol));
  if (!signature)
    return makeStatus(ATTN_STATUS_NOT_FOUND,
                      "module '" + module.name + "' has no '" +
                          kSignatureSymbol +
                          "' symbol; is it an attn module built by "
                          "attn-translate?");
  size_t length = strnlen(signature, kMaxSignatureLength);
  if (length == kMaxSignatureLength)
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      "module '" + module.name + "': '" + kSignatureSymbol +
                          "' is not a NUL-terminated string of at most 1 MiB");
  module.signature.assign(signature, length);

  std::vector<FunctionSpec> specs;
  SignatureError error;
  if (!parseSignature(module.signature, specs, error))
    return makeStatus(error.code,
                      "module '" + module.name + "': " + error.message);

  // Code compiled for a larger CPU than this one would stop on its first
  // unknown instruction: refuse it here, naming what is missing.
  if (auto *features =
          static_cast<const char *>(lookup(context, kCPUFeaturesSymbol)))
    if (attn_status_t status =
            checkCPUFeatures(module.name, std::string_view(features, strnlen(features, 4096))))
      return status;

  // A module that launches kernels says so; it needs a GPU to be usable,
  // and the kernel image its constructor loaded must have loaded.
  if (auto *target =
          static_cast<const char *>(lookup(context, kTargetSymbol))) {
    if (std::strncmp(target, "cuda", 5) != 0)
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "module '" + module.name + "' targets '" +
                            std::string(target, strnlen(target, 32)) +
                            "', which this runtime does not know");
    module.target = ATTN_TARGET_CUDA;
    if (attn_status_t status = requireCuda()) {
      // The constructor's failed attempt is explained by the missing GPU.
      attn_status_free(takeGeneratedCodeError(""));
      std::string reason = attn_status_message(status);
      attn_status_free(status);
      return makeStatus(ATTN_STATUS_UNAVAILABLE,
                        "module '" + module.name +
                            "' runs on a CUDA GPU, but " + reason);
    }
    if (attn_status_t status = takeGeneratedCodeError("module '" + module.name +
                                                      "': loading its kernels"))
      return status;
  }

  for (FunctionSpec &spec : specs) {
    std::string symbol = kEntryPrefix + spec.name;
    void *entry = lookup(context, symbol.c_str());
    if (!entry)
      return makeStatus(ATTN_STATUS_NOT_FOUND,
                        "module '" + module.name + "' declares function '" +
                            spec.name + "' but has no entry point '" + symbol +
                            "'");
    auto function = std::make_unique<attn_function_s>();
    function->module = &module;
    function->spec = std::move(spec);
    buildCViews(function->spec);
    function->entry = reinterpret_cast<attn_entry_fn_t>(entry);
    module.functions.push_back(std::move(function));
  }
  return nullptr;
}

void *dlsymLookup(void *handle, const char *symbol) {
  return dlsym(handle, symbol);
}

struct UserLookup {
  attn_symbol_lookup_fn_t lookup;
  void *userData;
};

void *userLookup(void *context, const char *symbol) {
  auto *user = static_cast<UserLookup *>(context);
  return user->lookup(user->userData, symbol);
}

void destroy(attn_module_s *module) {
  // Drop the function tables before the code they point to goes away.
  module->functions.clear();
  if (module->library)
    dlclose(module->library);
  if (module->release)
    module->release(module->userData);
  delete module;
}

attn_status_t nullArgument(const char *function, const char *what) {
  return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                    std::string(function) + ": " + what + " is NULL");
}

attn_status_t describeArg(const attn_function_t *function, size_t index,
                          attn_arg_info_t *out_info, bool output) {
  const char *api =
      output ? "attn_function_output_info" : "attn_function_input_info";
  if (!function)
    return nullArgument(api, "function");
  if (!out_info)
    return nullArgument(api, "out_info");
  const auto &args = output ? function->spec.outputs : function->spec.inputs;
  if (index >= args.size())
    return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                      std::string(api) + ": '" + function->spec.name +
                          "' has " + std::to_string(args.size()) +
                          (output ? " outputs" : " inputs") + ", so index " +
                          std::to_string(index) + " is out of range");
  const ArgSpec &arg = args[index];
  out_info->name = arg.name.c_str();
  out_info->dtype = arg.dtype;
  out_info->rank = arg.rank();
  out_info->dims = arg.cDims.data();
  out_info->bound_symbol = arg.bound.empty() ? nullptr : arg.bound.c_str();
  return nullptr;
}

} // namespace

extern "C" {

ATTN_RUNTIME_EXPORT attn_status_t
attn_module_load_library(const char *path, attn_module_t **out_module) {
  return guard([&]() -> attn_status_t {
    if (!path)
      return nullArgument("attn_module_load_library", "path");
    if (!out_module)
      return nullArgument("attn_module_load_library", "out_module");
    // A path names a file, as it does for every other tool: dlopen would
    // search its library path for a bare name ("sdpa.so") and miss the file
    // in the current folder, so a bare name that is a file here is opened
    // as "./sdpa.so". Only a bare name that is no file here is left to
    // dlopen's search (a module installed in a library folder). dlopen's
    // message for a missing file is vague; say it plainly.
    struct stat info;
    bool exists = stat(path, &info) == 0;
    bool bare = !std::strchr(path, '/');
    if (!bare && !exists)
      return makeStatus(ATTN_STATUS_NOT_FOUND,
                        std::string("cannot load module '") + path +
                            "': no such file");
    std::string file = bare && exists ? std::string("./") + path : path;
    dlerror();
    void *library = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      const char *reason = dlerror();
      return makeStatus(ATTN_STATUS_UNAVAILABLE,
                        std::string("cannot load module '") + path +
                            "': " + (reason ? reason : "dlopen failed"));
    }
    auto module = std::make_unique<attn_module_s>();
    module->name = path;
    module->library = library;
    if (attn_status_t status = populate(*module, dlsymLookup, library)) {
      destroy(module.release());
      return status;
    }
    *out_module = module.release();
    return nullptr;
  });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_module_create_from_lookup(
    attn_symbol_lookup_fn_t lookup, void *user_data, attn_release_fn_t release,
    attn_module_t **out_module) {
  return guard([&]() -> attn_status_t {
    if (!lookup)
      return nullArgument("attn_module_create_from_lookup", "lookup");
    if (!out_module)
      return nullArgument("attn_module_create_from_lookup", "out_module");
    auto module = std::make_unique<attn_module_s>();
    module->name = "in-process module";
    UserLookup context{lookup, user_data};
    if (attn_status_t status = populate(*module, userLookup, &context))
      return status; // the caller keeps user_data
    module->release = release;
    module->userData = user_data;
    *out_module = module.release();
    return nullptr;
  });
}

ATTN_RUNTIME_EXPORT void attn_module_retain(attn_module_t *module) {
  if (module)
    module->references.fetch_add(1, std::memory_order_relaxed);
}

ATTN_RUNTIME_EXPORT void attn_module_release(attn_module_t *module) {
  if (module && module->references.fetch_sub(1, std::memory_order_acq_rel) == 1)
    destroy(module);
}

ATTN_RUNTIME_EXPORT const char *attn_module_name(const attn_module_t *module) {
  return module ? module->name.c_str() : nullptr;
}

ATTN_RUNTIME_EXPORT const char *
attn_module_signature_text(const attn_module_t *module) {
  return module ? module->signature.c_str() : nullptr;
}

ATTN_RUNTIME_EXPORT attn_target_t
attn_module_target(const attn_module_t *module) {
  return module ? module->target : ATTN_TARGET_CPU;
}

ATTN_RUNTIME_EXPORT size_t
attn_module_function_count(const attn_module_t *module) {
  return module ? module->functions.size() : 0;
}

ATTN_RUNTIME_EXPORT attn_status_t
attn_module_function_at(const attn_module_t *module, size_t index,
                        const attn_function_t **out_function) {
  return guard([&]() -> attn_status_t {
    if (!module)
      return nullArgument("attn_module_function_at", "module");
    if (!out_function)
      return nullArgument("attn_module_function_at", "out_function");
    if (index >= module->functions.size())
      return makeStatus(ATTN_STATUS_INVALID_ARGUMENT,
                        "attn_module_function_at: module '" + module->name +
                            "' has " +
                            std::to_string(module->functions.size()) +
                            " functions, so index " + std::to_string(index) +
                            " is out of range");
    *out_function = module->functions[index].get();
    return nullptr;
  });
}

ATTN_RUNTIME_EXPORT attn_status_t
attn_module_lookup_function(const attn_module_t *module, const char *name,
                            const attn_function_t **out_function) {
  return guard([&]() -> attn_status_t {
    if (!module)
      return nullArgument("attn_module_lookup_function", "module");
    if (!name)
      return nullArgument("attn_module_lookup_function", "name");
    if (!out_function)
      return nullArgument("attn_module_lookup_function", "out_function");
    std::string available;
    for (const auto &function : module->functions) {
      if (function->spec.name == name) {
        *out_function = function.get();
        return nullptr;
      }
      available += (available.empty() ? "" : ", ") + function->spec.name;
    }
    return makeStatus(
        ATTN_STATUS_NOT_FOUND,
        "module '" + module->name + "' has no function '" + name +
            "' (available: " + (available.empty() ? "none" : available) + ")");
  });
}

ATTN_RUNTIME_EXPORT const char *
attn_function_name(const attn_function_t *function) {
  return function ? function->spec.name.c_str() : nullptr;
}

ATTN_RUNTIME_EXPORT const char *
attn_function_signature(const attn_function_t *function) {
  return function ? function->spec.text.c_str() : nullptr;
}

ATTN_RUNTIME_EXPORT size_t
attn_function_input_count(const attn_function_t *function) {
  return function ? function->spec.inputs.size() : 0;
}

ATTN_RUNTIME_EXPORT size_t
attn_function_output_count(const attn_function_t *function) {
  return function ? function->spec.outputs.size() : 0;
}

ATTN_RUNTIME_EXPORT attn_status_t attn_function_input_info(
    const attn_function_t *function, size_t index, attn_arg_info_t *out_info) {
  return guard([&] { return describeArg(function, index, out_info, false); });
}

ATTN_RUNTIME_EXPORT attn_status_t attn_function_output_info(
    const attn_function_t *function, size_t index, attn_arg_info_t *out_info) {
  return guard([&] { return describeArg(function, index, out_info, true); });
}

} // extern "C"
