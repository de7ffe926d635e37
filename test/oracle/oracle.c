/*
 * Placement oracle for the tests: an N-API addon in plain C that is independent of the package's own
 * native code. It only reports where pages live (move_pages in query mode, which neither moves nor
 * faults anything in), the address of a buffer, the calling thread's id, and hands out isolated
 * mappings (PROT_NONE guard pages on both sides, so the mapping is a VMA of its own in
 * /proc/self/maps and /proc/self/numa_maps).
 *
 * Built at test time by test/oracle/build.mjs:
 *   cc -shared -fPIC -O2 -I/usr/include/node -o test/oracle/build/oracle.node test/oracle/oracle.c
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CHECK(env, call)                                                                                           \
  do {                                                                                                             \
    if ((call) != napi_ok) {                                                                                       \
      const napi_extended_error_info* info_ = NULL;                                                                \
      napi_get_last_error_info((env), &info_);                                                                     \
      bool pending_ = false;                                                                                       \
      napi_is_exception_pending((env), &pending_);                                                                 \
      if (!pending_)                                                                                               \
        napi_throw_error((env), NULL, info_ && info_->error_message ? info_->error_message : "N-API call failed"); \
      return NULL;                                                                                                 \
    }                                                                                                              \
  } while (0)

static napi_value throw_errno(napi_env env, const char* syscall_name, int err) {
  char msg[256];
  const char* name = strerrorname_np(err);
  snprintf(msg, sizeof msg, "%s: %s (%s)", syscall_name, strerror(err), name ? name : "?");
  napi_value code, message, error, errno_value;
  if (napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message) != napi_ok ||
      napi_create_error(env, code, message, &error) != napi_ok ||
      napi_create_int32(env, -err, &errno_value) != napi_ok ||
      napi_set_named_property(env, error, "errno", errno_value) != napi_ok) {
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  napi_throw(env, error);
  return NULL;
}

static size_t element_size(napi_typedarray_type type) {
  switch (type) {
    case napi_int8_array:
    case napi_uint8_array:
    case napi_uint8_clamped_array: return 1;
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    default: /* float64, bigint64, biguint64 */ return 8;
  }
}

/* Pointer and byte length of an ArrayBuffer, a typed array (Buffer included) or a DataView. 0 = ok. */
static int memory_of(napi_env env, napi_value value, uint8_t** data, size_t* length) {
  bool is = false;
  void* ptr = NULL;
  napi_value arraybuffer;
  size_t offset;
  if (napi_is_typedarray(env, value, &is) == napi_ok && is) {
    napi_typedarray_type type;
    size_t count;
    if (napi_get_typedarray_info(env, value, &type, &count, &ptr, &arraybuffer, &offset) != napi_ok) return -1;
    *data = ptr;
    *length = count * element_size(type);
    return 0;
  }
  if (napi_is_dataview(env, value, &is) == napi_ok && is) {
    size_t bytes;
    if (napi_get_dataview_info(env, value, &bytes, &ptr, &arraybuffer, &offset) != napi_ok) return -1;
    *data = ptr;
    *length = bytes;
    return 0;
  }
  if (napi_is_arraybuffer(env, value, &is) == napi_ok && is) {
    size_t bytes;
    if (napi_get_arraybuffer_info(env, value, &ptr, &bytes) != napi_ok) return -1;
    *data = ptr;
    *length = bytes;
    return 0;
  }
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "oracle: expected an ArrayBuffer, a typed array or a DataView");
  return -1;
}

static int one_memory_arg(napi_env env, napi_callback_info info, uint8_t** data, size_t* length) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return -1;
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "oracle: the memory argument is required");
    return -1;
  }
  return memory_of(env, argv[0], data, length);
}

/* pageNodes(memory) -> Int32Array: per page overlapping memory, its node or -errno (move_pages query). */
static napi_value page_nodes(napi_env env, napi_callback_info info) {
  uint8_t* data;
  size_t length;
  if (one_memory_arg(env, info, &data, &length) != 0) return NULL;

  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  size_t count = 0;
  uintptr_t first = 0;
  if (length > 0) {
    first = (uintptr_t)data & ~(page - 1);
    const uintptr_t end = ((uintptr_t)data + length + page - 1) & ~(page - 1);
    count = (end - first) / page;
  }

  napi_value arraybuffer, result;
  void* status_data = NULL;
  CHECK(env, napi_create_arraybuffer(env, count * sizeof(int32_t), &status_data, &arraybuffer));
  CHECK(env, napi_create_typedarray(env, napi_int32_array, count, arraybuffer, 0, &result));
  if (count == 0) return result;

  void** pages = malloc(count * sizeof(void*));
  if (pages == NULL) return throw_errno(env, "malloc", ENOMEM);
  for (size_t i = 0; i < count; i++) pages[i] = (void*)(first + i * page);
  int32_t* status = status_data;
  for (size_t i = 0; i < count; i++) status[i] = INT32_MIN;

  long rc = syscall(SYS_move_pages, 0, (unsigned long)count, pages, NULL, status, 0);
  int err = errno;
  free(pages);
  if (rc < 0) return throw_errno(env, "move_pages", err);
  return result;
}

/* address(memory) -> bigint: the address of the first byte. */
static napi_value address(napi_env env, napi_callback_info info) {
  uint8_t* data;
  size_t length;
  if (one_memory_arg(env, info, &data, &length) != 0) return NULL;
  napi_value result;
  CHECK(env, napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)data, &result));
  return result;
}

/* gettid() -> number: the calling thread's kernel id. */
static napi_value get_tid(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(env, napi_create_int64(env, (int64_t)syscall(SYS_gettid), &result));
  return result;
}

/* pageSize() -> number */
static napi_value page_size(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  CHECK(env, napi_create_int64(env, (int64_t)sysconf(_SC_PAGESIZE), &result));
  return result;
}

static void unmap_isolated(napi_env env, void* data, void* hint) {
  (void)env;
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  munmap((uint8_t*)data - page, (size_t)(uintptr_t)hint);
}

/*
 * mapIsolated(bytes) -> ArrayBuffer: a fresh private anonymous read-write mapping of bytes rounded up to
 * whole pages, between two PROT_NONE guard pages, so it never merges with a neighbouring VMA. Untouched:
 * every page reads as "not present" (-ENOENT) until written. Unmapped when the ArrayBuffer is collected.
 */
static napi_value map_isolated(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double requested = -1;
  napi_valuetype type = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &type);
  if (type != napi_number || napi_get_value_double(env, argv[0], &requested) != napi_ok || !(requested >= 1) ||
      requested > (double)(1ULL << 40) || requested != (double)(uint64_t)requested) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "oracle.mapIsolated: bytes must be an integer from 1 to 2^40");
    return NULL;
  }
  const size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const size_t length = (((size_t)requested) + page - 1) & ~(page - 1);
  const size_t total = length + 2 * page;
  uint8_t* base = mmap(NULL, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return throw_errno(env, "mmap", errno);
  if (mprotect(base + page, length, PROT_READ | PROT_WRITE) != 0) {
    int err = errno;
    munmap(base, total);
    return throw_errno(env, "mprotect", err);
  }
  napi_value result;
  napi_status st =
      napi_create_external_arraybuffer(env, base + page, length, unmap_isolated, (void*)(uintptr_t)total, &result);
  if (st != napi_ok) {
    munmap(base, total);
    napi_throw_error(env, NULL, "oracle.mapIsolated: napi_create_external_arraybuffer failed");
    return NULL;
  }
  return result;
}

NAPI_MODULE_INIT() {
  static const struct {
    const char* name;
    napi_callback fn;
  } fns[] = {
      {"pageNodes", page_nodes}, {"address", address},          {"gettid", get_tid},
      {"pageSize", page_size},   {"mapIsolated", map_isolated},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok)
      return NULL;
  }
  return exports;
}
