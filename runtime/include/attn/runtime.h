/*===- attn/runtime.h - C API of the attn runtime ----------------*- C -*-===*\
|*                                                                            *|
|* Loads modules produced by the attn compiler (shared libraries written by   *|
|* attn-translate, or code JIT-compiled in-process), describes their entry    *|
|* functions and invokes them on host tensors after validating every shape.   *|
|*                                                                            *|
|* Conventions:                                                               *|
|*  - Every call that can fail returns an attn_status_t. NULL means success;  *|
|*    anything else is an error the caller owns and frees with                *|
|*    attn_status_free(). Out-parameters come last and are written only on    *|
|*    success.                                                                *|
|*  - Handles are opaque. Modules are reference counted; function handles are *|
|*    borrowed from their module and stay valid while it lives.              *|
|*  - Thread-safety: module and function handles are immutable after          *|
|*    creation, so every query and attn_function_invoke() may be called from  *|
|*    any number of threads at once. attn_module_retain()/release() are       *|
|*    atomic. The allocation statistics are process-wide: they are exact only *|
|*    while one invocation runs at a time.                                    *|
|*  - No MLIR or LLVM dependency; memref descriptors never appear here.       *|
|*                                                                            *|
\*===----------------------------------------------------------------------===*/

#ifndef ATTN_RUNTIME_H
#define ATTN_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) || defined(__clang__)
#define ATTN_RUNTIME_EXPORT __attribute__((visibility("default")))
#else
#define ATTN_RUNTIME_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The module ABI version this runtime reads (the `attn-abi N` header line). */
#define ATTN_RUNTIME_ABI_VERSION 1

/* Returns the runtime's version string, e.g. "0.1.0". */
ATTN_RUNTIME_EXPORT const char *attn_runtime_version(void);

/*===----------------------------------------------------------------------===*
 * Status
 *===----------------------------------------------------------------------===*/

typedef enum attn_status_code_e {
  ATTN_STATUS_OK = 0,
  /* The caller passed something wrong: a NULL handle, a shape that does not
     match the signature, a malformed module signature, ... */
  ATTN_STATUS_INVALID_ARGUMENT = 1,
  /* A file, symbol or function that was asked for does not exist. */
  ATTN_STATUS_NOT_FOUND = 2,
  /* The request is well formed but the system is not in a state to run it
     (e.g. a module built for another ABI version). */
  ATTN_STATUS_FAILED_PRECONDITION = 3,
  /* A resource could not be obtained (dlopen failed, out of memory). */
  ATTN_STATUS_UNAVAILABLE = 4,
  /* A bug in the runtime. */
  ATTN_STATUS_INTERNAL = 5,
  /* Not a code: makes the enum 32 bits wide in C and C++ alike, so that any
     int32 value a caller passes is representable. */
  ATTN_STATUS_CODE_ENUM_MAX_ = 0x7fffffff,
} attn_status_code_t;

/* NULL is success. A non-NULL status carries a code and a message. */
typedef struct attn_status_s *attn_status_t;

/* ATTN_STATUS_OK for NULL. */
ATTN_RUNTIME_EXPORT attn_status_code_t attn_status_code(attn_status_t status);
/* "OK" for NULL. The string lives as long as the status. */
ATTN_RUNTIME_EXPORT const char *attn_status_message(attn_status_t status);
/* Frees a status; NULL is allowed. */
ATTN_RUNTIME_EXPORT void attn_status_free(attn_status_t status);
/* "OK", "INVALID_ARGUMENT", ... ("UNKNOWN" for a value outside the enum). */
ATTN_RUNTIME_EXPORT const char *attn_status_code_name(attn_status_code_t code);

/*===----------------------------------------------------------------------===*
 * Element types and tensors
 *===----------------------------------------------------------------------===*/

typedef enum attn_dtype_e {
  ATTN_DTYPE_F32 = 0,
  ATTN_DTYPE_F16 = 1,
  ATTN_DTYPE_BF16 = 2,
  ATTN_DTYPE_F64 = 3,
  ATTN_DTYPE_I32 = 4,
  ATTN_DTYPE_I64 = 5,
  /* Not a dtype: makes the enum 32 bits wide in C and C++ alike, so that a
     corrupt value is reported instead of being undefined behavior. */
  ATTN_DTYPE_ENUM_MAX_ = 0x7fffffff,
} attn_dtype_t;

/* "f32", "f16", "bf16", "f64", "i32", "i64"; NULL for a value outside the
   enum. */
ATTN_RUNTIME_EXPORT const char *attn_dtype_name(attn_dtype_t dtype);
/* Size of one element in bytes; 0 for a value outside the enum. */
ATTN_RUNTIME_EXPORT size_t attn_dtype_size(attn_dtype_t dtype);
/* Parses one of the names above. */
ATTN_RUNTIME_EXPORT attn_status_t attn_dtype_from_name(const char *name,
                                                       attn_dtype_t *out_dtype);

/* A view of a host buffer; the runtime never owns or frees `data`.
   `shape` has `rank` entries (it may be NULL when rank is 0). `strides` are
   in elements; NULL means row-major contiguous. */
typedef struct attn_tensor_t {
  void *data;
  attn_dtype_t dtype;
  int32_t rank;
  const int64_t *shape;
  const int64_t *strides;
} attn_tensor_t;

/* Product of the dimensions (1 for rank 0). Fails on a negative rank or
   dimension, a NULL shape with rank > 0, or overflow. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_tensor_element_count(const attn_tensor_t *tensor, int64_t *out_count);

/* Writes a shape as "[2,8,128,64]" ("[]" for rank 0) into `buffer`, truncated
   to `buffer_size` bytes including the terminating NUL, like snprintf.
   Returns the length of the full text, without the NUL. `buffer` may be NULL
   when `buffer_size` is 0. */
ATTN_RUNTIME_EXPORT size_t attn_format_shape(int32_t rank, const int64_t *shape,
                                             char *buffer, size_t buffer_size);

/*===----------------------------------------------------------------------===*
 * Modules
 *===----------------------------------------------------------------------===*/

typedef struct attn_module_s attn_module_t;
typedef struct attn_function_s attn_function_t;

/* Opens a shared library built by attn-translate (dlopen with
   RTLD_NOW | RTLD_LOCAL), parses its `attn_module_signature` and resolves
   every `_attn_entry_<name>`. `path` names a file as for any program: a
   bare name ("sdpa.so") is the file in the current folder when there is
   one there, and only otherwise searched for on the loader's path
   (LD_LIBRARY_PATH, the system's library folders). The library's undefined allocation hooks are
   resolved against this runtime, which must therefore be loaded globally
   (linked by the application, as usual). The new module has one reference. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_module_load_library(const char *path, attn_module_t **out_module);

/* Returns the address of `symbol`, or NULL if it is not defined. */
typedef void *(*attn_symbol_lookup_fn_t)(void *user_data, const char *symbol);
/* Called once, when the module's last reference goes away. */
typedef void (*attn_release_fn_t)(void *user_data);

/* Makes a module from code already in the process (e.g. JIT-compiled):
   `lookup` is asked for `attn_module_signature` and for each
   `_attn_entry_<name>`, during this call only. On success the module owns
   `user_data` and calls `release` (which may be NULL) when it is released;
   on failure `release` is not called and the caller keeps ownership. */
ATTN_RUNTIME_EXPORT attn_status_t attn_module_create_from_lookup(
    attn_symbol_lookup_fn_t lookup, void *user_data, attn_release_fn_t release,
    attn_module_t **out_module);

/* Adds a reference. NULL is ignored. */
ATTN_RUNTIME_EXPORT void attn_module_retain(attn_module_t *module);
/* Drops a reference; the last one closes the library (or calls the release
   function) and invalidates every function handle. NULL is ignored. */
ATTN_RUNTIME_EXPORT void attn_module_release(attn_module_t *module);

/* The library path, or "in-process module" for attn_module_create_from_lookup.
   NULL for a NULL module. */
ATTN_RUNTIME_EXPORT const char *attn_module_name(const attn_module_t *module);
/* The full signature text, as the module declares it. NULL for NULL. */
ATTN_RUNTIME_EXPORT const char *
attn_module_signature_text(const attn_module_t *module);
/* Number of entry functions; 0 for NULL. */
ATTN_RUNTIME_EXPORT size_t
attn_module_function_count(const attn_module_t *module);
/* The function at `index`, in signature order. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_module_function_at(const attn_module_t *module, size_t index,
                        const attn_function_t **out_function);
/* The function called `name`; NOT_FOUND lists the available names. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_module_lookup_function(const attn_module_t *module, const char *name,
                            const attn_function_t **out_function);

/* Where a module's code runs. A CUDA module's functions take device
   buffers (attn_device_alloc) for every input and output. */
typedef enum attn_target_e {
  ATTN_TARGET_CPU = 0,
  ATTN_TARGET_CUDA = 1,
  ATTN_TARGET_ENUM_MAX_ = 0x7fffffff,
} attn_target_t;

/* The module's target; ATTN_TARGET_CPU for NULL. */
ATTN_RUNTIME_EXPORT attn_target_t
attn_module_target(const attn_module_t *module);

/*===----------------------------------------------------------------------===*
 * CUDA devices
 *
 * The runtime opens the CUDA driver (libcuda.so.1) with dlopen the first
 * time one of these is called or a CUDA module is loaded; it does not link
 * against CUDA. Without a driver or a GPU every call fails with
 * ATTN_STATUS_UNAVAILABLE and a message that begins "no GPU found". The
 * first device is used, through its primary context.
 *===----------------------------------------------------------------------===*/

/* Describes the GPU: its name (truncated to `name_size` bytes with the NUL),
   compute capability and number of multiprocessors. Any out-parameter may be
   NULL; calling with all NULL just tells whether a GPU is usable. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_cuda_device_info(char *name, size_t name_size, int32_t *major,
                      int32_t *minor, int32_t *multiprocessors);

/* Device memory for the inputs and outputs of a CUDA module's functions. */
ATTN_RUNTIME_EXPORT attn_status_t attn_device_alloc(size_t bytes,
                                                    void **out_pointer);
/* Frees what attn_device_alloc returned; NULL is ignored. */
ATTN_RUNTIME_EXPORT attn_status_t attn_device_free(void *pointer);
ATTN_RUNTIME_EXPORT attn_status_t attn_device_copy_to_device(void *destination,
                                                             const void *source,
                                                             size_t bytes);
ATTN_RUNTIME_EXPORT attn_status_t attn_device_copy_to_host(void *destination,
                                                           const void *source,
                                                           size_t bytes);
/* Waits until the device is idle (invocations already wait for their
   kernels; this is for timing around other work). */
ATTN_RUNTIME_EXPORT attn_status_t attn_device_synchronize(void);

/*===----------------------------------------------------------------------===*
 * Functions
 *===----------------------------------------------------------------------===*/

/* One dimension of a signature argument: either a static size, or a symbol
   that every dimension naming it must match at invocation. */
typedef struct attn_dim_info_t {
  int64_t size;       /* >= 0 when static, -1 when symbolic. */
  const char *symbol; /* NULL when static. */
} attn_dim_info_t;

/* One argument of a signature. Strings and `dims` are owned by the module. */
typedef struct attn_arg_info_t {
  const char *name;
  attn_dtype_t dtype;
  int32_t rank;
  const attn_dim_info_t *dims; /* `rank` entries. */
  /* For `key_lengths: i32[B] <= S`: "S"; every value must lie in [0, S].
     A static bound is its size in decimal ("512" for `<= 512`). NULL when
     the argument has no bound. */
  const char *bound_symbol;
} attn_arg_info_t;

/* The function's name; NULL for NULL. */
ATTN_RUNTIME_EXPORT const char *
attn_function_name(const attn_function_t *function);
/* The function's signature line in canonical spelling, e.g.
   "add(a: f32[B,N], b: f32[B,N]) -> (out: f32[B,N])"; NULL for NULL. */
ATTN_RUNTIME_EXPORT const char *
attn_function_signature(const attn_function_t *function);
/* Number of inputs / outputs; 0 for NULL. */
ATTN_RUNTIME_EXPORT size_t
attn_function_input_count(const attn_function_t *function);
ATTN_RUNTIME_EXPORT size_t
attn_function_output_count(const attn_function_t *function);
/* Describes input / output `index`. */
ATTN_RUNTIME_EXPORT attn_status_t attn_function_input_info(
    const attn_function_t *function, size_t index, attn_arg_info_t *out_info);
ATTN_RUNTIME_EXPORT attn_status_t attn_function_output_info(
    const attn_function_t *function, size_t index, attn_arg_info_t *out_info);

/* Binds the signature's symbols from `inputs` (with every check that
   attn_function_invoke makes on inputs, bounded values included) and writes
   the shape of every output, concatenated in output order, into
   `out_shapes`, which must hold the sum of the output ranks. An output
   dimension whose symbol no input binds is an error. */
ATTN_RUNTIME_EXPORT attn_status_t attn_function_infer_output_shapes(
    const attn_function_t *function, const attn_tensor_t *inputs,
    size_t input_count, int64_t *out_shapes);

/* What the generated code allocated through the runtime's allocation hooks
   during one invocation. */
typedef struct attn_invoke_stats_t {
  /* Highest number of bytes held during the call, above the level at its
     start. */
  uint64_t peak_bytes;
  /* Number of allocations made during the call. */
  uint64_t allocation_count;
  /* Bytes held at the end minus bytes held at the start; non-zero when the
     code kept (or released) memory across calls. */
  int64_t retained_bytes;
} attn_invoke_stats_t;

/* Validates every input and output against the signature, then calls the
   generated code, which writes `outputs` (allocated by the caller, with the
   shapes attn_function_infer_output_shapes gives). Nothing is called when
   validation fails. Buffers must be row-major contiguous, and no output may
   overlap an input or another output. `out_stats` may be NULL; on failure
   it is zeroed. Safe to call concurrently; see the thread-safety note. */
ATTN_RUNTIME_EXPORT attn_status_t attn_function_invoke(
    const attn_function_t *function, const attn_tensor_t *inputs,
    size_t input_count, const attn_tensor_t *outputs, size_t output_count,
    attn_invoke_stats_t *out_stats);

/*===----------------------------------------------------------------------===*
 * K/V caches for decoding
 *===----------------------------------------------------------------------===*/

/* The keys and values of the positions seen so far, per batch row, laid out
   as a decode module reads them: keys (B, Hkv, S_max, D), values
   (B, Hkv, S_max, Dv), and the valid length of each row (i32, B). A row's
   valid positions are its first `length` slots, oldest first, so that a
   module with `key_lengths` and a bottom-right causal (or window) mask sees
   the newest key last.

   A rolling cache serves a model that attends at most the last `window`
   positions (sliding window attention). When an append would overflow
   S_max, each row first moves its last window - 1 positions (all a new
   query can still see) to the front; positions stay in order, and the
   module's window mask (left = window - 1, bottom_right) hides what is
   older. S_max = window - 1 + n fits appends of n positions; each extra
   slot delays the next move by one append, so S_max = 2 window moves
   window - 1 positions once every window appends.

   Not thread-safe: appends must not run concurrently with each other or
   with an invocation that reads the cache. */
typedef struct attn_kv_cache_s attn_kv_cache_t;

typedef struct attn_kv_cache_options_t {
  int64_t batch;      /* B */
  int64_t kv_heads;   /* Hkv */
  int64_t capacity;   /* S_max: slots per (batch row, K/V head) */
  int64_t head_dim;   /* D */
  int64_t value_dim;  /* Dv; 0 means D */
  attn_dtype_t dtype; /* f32, f16 or bf16 */
  int64_t window;     /* 0: a plain cache; w > 0: a rolling cache for w */
} attn_kv_cache_options_t;

/* Sets every field to 0 and the dtype to f32. */
ATTN_RUNTIME_EXPORT void
attn_kv_cache_options_init(attn_kv_cache_options_t *options);

/* Allocates an empty cache (every length 0). */
ATTN_RUNTIME_EXPORT attn_status_t attn_kv_cache_create(
    const attn_kv_cache_options_t *options, attn_kv_cache_t **out_cache);

/* Frees a cache; NULL is allowed. Views of it become invalid. */
ATTN_RUNTIME_EXPORT void attn_kv_cache_free(attn_kv_cache_t *cache);

/* Appends new positions: `keys` (B, Hkv, n, D) and `values` (B, Hkv, n, Dv),
   contiguous, of the cache's dtype. Batch row b takes the first counts[b]
   of the n (ragged prompts); `counts` may be NULL for all n. Every row is
   checked before any is changed: a plain cache that would exceed S_max, or
   a rolling one whose window - 1 kept positions plus the new ones would,
   fails and keeps its contents. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_kv_cache_append(attn_kv_cache_t *cache, const attn_tensor_t *keys,
                     const attn_tensor_t *values, const int32_t *counts);

/* Views of the keys, values and lengths, the inputs k, v and key_lengths of
   a decode module; valid until the cache is freed. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_kv_cache_views(const attn_kv_cache_t *cache, attn_tensor_t *out_keys,
                    attn_tensor_t *out_values, attn_tensor_t *out_lengths);

/* Batch row `row`: how many positions it holds, and how many it has been
   given in all (the position of its next token; larger than the length
   once a rolling cache has dropped old positions). */
ATTN_RUNTIME_EXPORT attn_status_t
attn_kv_cache_row(const attn_kv_cache_t *cache, int64_t row,
                  int64_t *out_length, int64_t *out_next_position);

/* Empties every row. */
ATTN_RUNTIME_EXPORT attn_status_t attn_kv_cache_clear(attn_kv_cache_t *cache);

/*===----------------------------------------------------------------------===*
 * The state of linear attention
 *===----------------------------------------------------------------------===*/

/* What a decoder of linear attention (attn.linear_attention) keeps instead
   of a K/V cache: per (batch row, K/V head) the f32 sums
   S = sum phi(k) [v, 1]^T, a (D x (Dv + 1)) matrix whose last column is the
   normalizer. Its size is fixed, 4 B Hkv D (Dv + 1) bytes, whatever the
   number of tokens it stands for. Two buffers: the module reads `state`
   from one and writes `final_state` into the other; advance() then makes
   the new one current. Not thread-safe. */
typedef struct attn_linear_state_s attn_linear_state_t;

/* A zero state (no token yet) for B batch rows, Hkv K/V heads, head widths
   D and Dv. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_linear_state_create(int64_t batch, int64_t kv_heads, int64_t head_dim,
                         int64_t value_dim, attn_linear_state_t **out_state);

/* Frees a state; NULL is allowed. Views of it become invalid. */
ATTN_RUNTIME_EXPORT void attn_linear_state_free(attn_linear_state_t *state);

/* Views (B, Hkv, D, Dv + 1) f32: `out_current`, the module's `state` input,
   and `out_next`, where its `final_state` output goes. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_linear_state_views(const attn_linear_state_t *state,
                        attn_tensor_t *out_current, attn_tensor_t *out_next);

/* After a call that wrote `next`: it becomes the current state, standing
   for `tokens` more positions. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_linear_state_advance(attn_linear_state_t *state, int64_t tokens);

/* The sum of the advances: the positions the state stands for, counted per
   call, not per batch row (rows whose key lengths hid some tokens took in
   fewer). */
ATTN_RUNTIME_EXPORT attn_status_t
attn_linear_state_positions(const attn_linear_state_t *state,
                            int64_t *out_positions);

/* Back to zero: both buffers, and the count. */
ATTN_RUNTIME_EXPORT attn_status_t
attn_linear_state_clear(attn_linear_state_t *state);

/*===----------------------------------------------------------------------===*
 * Allocation accounting
 *===----------------------------------------------------------------------===*/

/* Process-wide totals of the allocation hooks below. */
typedef struct attn_memory_stats_t {
  uint64_t current_bytes;
  uint64_t peak_bytes; /* Reset to current_bytes at each invocation's start. */
  uint64_t allocation_count;
  uint64_t free_count;
} attn_memory_stats_t;

/* Reads the totals (each field atomically; not a consistent snapshot while
   other threads allocate). */
ATTN_RUNTIME_EXPORT void attn_memory_stats_get(attn_memory_stats_t *out_stats);

/* Large blocks (1 MiB and more) that generated code frees are kept, up to 16
   blocks and 1 GiB, and reused for requests of the same size: repeated calls
   with the same shapes then take no fresh pages from the system. They count
   as held by nobody in the statistics. This frees them now (they are also
   freed at exit). Thread-safe. */
ATTN_RUNTIME_EXPORT void attn_memory_release_cached(void);

/* The allocation functions that generated code calls for its temporaries
   (MLIR's generic allocation functions). They are exported by this library,
   and a loaded module's undefined references bind to them. Sizes are in
   bytes; `alignment` must be a power of two; blocks from either allocation
   function are freed by `_mlir_memref_to_llvm_free` (NULL is ignored). They
   return NULL when memory runs out. */
ATTN_RUNTIME_EXPORT void *_mlir_memref_to_llvm_alloc(size_t size);
ATTN_RUNTIME_EXPORT void *_mlir_memref_to_llvm_aligned_alloc(size_t alignment,
                                                             size_t size);
ATTN_RUNTIME_EXPORT void _mlir_memref_to_llvm_free(void *ptr);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ATTN_RUNTIME_H */
