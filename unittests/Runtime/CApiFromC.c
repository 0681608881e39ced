/* CApiFromC.c - The C API compiles and works as C
 *
 * runtime.h must be a C header: this file includes it from C and drives the
 * whole load / lookup / infer / invoke sequence, which the GoogleTest side
 * calls through attn_test_c_api_add().
 */

#include "attn/runtime.h"

#include <stdio.h>
#include <string.h>

int attn_test_c_api_add(const char *path, char *message, size_t size);

static int report(attn_status_t status, char *message, size_t size) {
  snprintf(message, size, "%s: %s",
           attn_status_code_name(attn_status_code(status)),
           attn_status_message(status));
  attn_status_free(status);
  return 1;
}

int attn_test_c_api_add(const char *path, char *message, size_t size) {
  attn_module_t *module = NULL;
  attn_status_t status = attn_module_load_library(path, &module);
  if (status)
    return report(status, message, size);

  const attn_function_t *add = NULL;
  status = attn_module_lookup_function(module, "add", &add);
  if (status) {
    attn_module_release(module);
    return report(status, message, size);
  }

  float a[4] = {1, 2, 3, 4}, b[4] = {10, 20, 30, 40}, out[4] = {0, 0, 0, 0};
  int64_t shape[2] = {2, 2};
  attn_tensor_t inputs[2] = {{a, ATTN_DTYPE_F32, 2, shape, NULL},
                             {b, ATTN_DTYPE_F32, 2, shape, NULL}};
  attn_tensor_t output = {out, ATTN_DTYPE_F32, 2, shape, NULL};

  int64_t inferred[2] = {0, 0};
  status = attn_function_infer_output_shapes(add, inputs, 2, inferred);
  if (!status) {
    attn_invoke_stats_t stats;
    status = attn_function_invoke(add, inputs, 2, &output, 1, &stats);
  }
  attn_module_release(module);
  if (status)
    return report(status, message, size);

  if (inferred[0] != 2 || inferred[1] != 2 || out[0] != 11 || out[3] != 44) {
    snprintf(message, size, "wrong results");
    return 1;
  }
  snprintf(message, size, "OK");
  return 0;
}
