//===- status.cpp - Status objects of the C API ---------------------------===//
//
// A status is one malloc'd block: the header followed by the NUL-terminated
// message. Running out of memory while reporting an error must not lose the
// error, so a preallocated "out of memory" status exists whose free is a
// no-op.
//
//===----------------------------------------------------------------------===//

#include "internal.h"

#include <cstdlib>
#include <cstring>
#include <new>

struct attn_status_s {
  attn_status_code_t code;
  bool preallocated;
  char *message;
};

namespace {
char outOfMemoryText[] = "out of memory";
attn_status_s outOfMemory = {ATTN_STATUS_UNAVAILABLE, true, outOfMemoryText};
} // namespace

namespace attn::detail {

attn_status_t outOfMemoryStatus() { return &outOfMemory; }

attn_status_t makeStatus(attn_status_code_t code, std::string_view message) {
  if (code == ATTN_STATUS_OK)
    return nullptr;
  void *memory = std::malloc(sizeof(attn_status_s) + message.size() + 1);
  if (!memory)
    return outOfMemoryStatus();
  auto *status = new (memory) attn_status_s;
  status->code = code;
  status->preallocated = false;
  status->message = static_cast<char *>(memory) + sizeof(attn_status_s);
  std::memcpy(status->message, message.data(), message.size());
  status->message[message.size()] = '\0';
  return status;
}

} // namespace attn::detail

extern "C" {

ATTN_RUNTIME_EXPORT const char *attn_runtime_version(void) { return "0.1.0"; }

ATTN_RUNTIME_EXPORT attn_status_code_t attn_status_code(attn_status_t status) {
  return status ? status->code : ATTN_STATUS_OK;
}

ATTN_RUNTIME_EXPORT const char *attn_status_message(attn_status_t status) {
  return status ? status->message : "OK";
}

ATTN_RUNTIME_EXPORT void attn_status_free(attn_status_t status) {
  if (!status || status->preallocated)
    return;
  status->~attn_status_s();
  std::free(status);
}

ATTN_RUNTIME_EXPORT const char *attn_status_code_name(attn_status_code_t code) {
  switch (code) {
  case ATTN_STATUS_OK:
    return "OK";
  case ATTN_STATUS_INVALID_ARGUMENT:
    return "INVALID_ARGUMENT";
  case ATTN_STATUS_NOT_FOUND:
    return "NOT_FOUND";
  case ATTN_STATUS_FAILED_PRECONDITION:
    return "FAILED_PRECONDITION";
  case ATTN_STATUS_UNAVAILABLE:
    return "UNAVAILABLE";
  case ATTN_STATUS_INTERNAL:
    return "INTERNAL";
  case ATTN_STATUS_CODE_ENUM_MAX_:
    break;
  }
  return "UNKNOWN";
}

} // extern "C"
