// Shared helpers for the mempolicy shim: argument shapes, memory spans and nodemasks.
// Everything here is stateless; policy logic and messages live in the TypeScript facade.
#pragma once

#include <napi.h>

#include <sys/syscall.h>
#include <unistd.h>
#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace mempolicy {

// Kernel values (include/uapi/linux/mempolicy.h). Distro headers lag the kernel, so we define our own.
enum : int {
  kMpolDefault = 0,
  kMpolPreferred = 1,
  kMpolBind = 2,
  kMpolInterleave = 3,
  kMpolLocal = 4,
  kMpolPreferredMany = 5,
  kMpolWeightedInterleave = 6,
  kMpolMax = 7,
  kMpolFStaticNodes = 1 << 15,
  kMpolFRelativeNodes = 1 << 14,
  kMpolFNumaBalancing = 1 << 13,
  kMpolFNode = 1 << 0,
  kMpolFAddr = 1 << 1,
  kMpolFMemsAllowed = 1 << 2,
  kMpolMfStrict = 1 << 0,
  kMpolMfMove = 1 << 1,
  kMpolMfMoveAll = 1 << 2,
};

// Returned instead of -errno when a range call finds no whole page inside the memory it was given;
// the syscall is not made. Not an errno value.
constexpr int32_t kNoWholePage = -0x10000;

// Returned instead of -errno when a call that may add mappings to the process would leave fewer than
// the reserve under vm.max_map_count (mappings.cc); the syscall is not made. Not an errno value.
constexpr int32_t kMapLimit = -0x10001;

// Words of a nodemask we accept: the kernel reads at most PAGE_SIZE * 8 bits (maxnode <= 32769 on 4 KiB pages).
constexpr size_t kMaxMaskWords = 1024;

inline size_t PageSize() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

// A byte range owned by an ArrayBuffer, SharedArrayBuffer (through a view) or ArrayBufferView.
struct Span {
  uint8_t* data = nullptr;
  size_t length = 0;
};

// Reads the data pointer and length of a typed array, DataView or ArrayBuffer. False if `value` is none of them.
// Each napi_get_*_info refuses a value of another kind (napi_invalid_arg), so no napi_is_* call is
// needed first: typed arrays, the usual case, are tried first.
inline bool GetSpan(napi_env env, napi_value value, Span* span) {
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type;
  size_t count = 0;
  if (napi_get_typedarray_info(env, value, &type, &count, &data, nullptr, nullptr) == napi_ok) {
    size_t element = 1;
    switch (type) {
      case napi_int16_array:
      case napi_uint16_array: element = 2; break;
      case napi_int32_array:
      case napi_uint32_array:
      case napi_float32_array: element = 4; break;
      case napi_float64_array:
      case napi_bigint64_array:
      case napi_biguint64_array: element = 8; break;
      default: element = 1; break;
    }
    length = count * element;
  } else if (napi_get_arraybuffer_info(env, value, &data, &length) != napi_ok &&
             napi_get_dataview_info(env, value, &length, &data, nullptr, nullptr) != napi_ok) {
    return false;
  }
  span->data = static_cast<uint8_t*>(data);
  span->length = data == nullptr ? 0 : length;
  return true;
}

// What mbind and mbindAsync return for the whole pages [start, start + length) inside a span: their
// offset in the span plus their length. The offset is less than a page and the length a multiple of
// one, so the facade splits them with one remainder, with no need to read the memory's length again
// after the syscall (exact as a double: both are below 2^53).
inline int64_t SpanCode(const Span& span, uintptr_t start, size_t length) {
  return static_cast<int64_t>(start - reinterpret_cast<uintptr_t>(span.data) + length);
}

// The whole pages inside a span: [start, start + length), page-aligned. False if there is none.
inline bool WholePages(const Span& span, uintptr_t* start, size_t* length) {
  const uintptr_t page = PageSize();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(span.data);
  const uintptr_t end = begin + span.length;
  if (span.data == nullptr || end < begin) return false;
  const uintptr_t first = (begin + page - 1) & ~(page - 1);
  const uintptr_t last = end & ~(page - 1);
  if (first < begin || last <= first) return false;
  *start = first;
  *length = last - first;
  return true;
}

// A nodemask passed from JavaScript as a Uint32Array of 32-bit halves, low half first, in whole
// 64-bit words, or as the ArrayBuffer under such an array (cheaper to read: a Uint32Array is
// identified by a chain of type tests). The kernel wants an array of unsigned long; on 64-bit
// little-endian and on 32-bit machines that is the same memory, elsewhere the halves are swapped
// into `scratch`.
constexpr bool kDirectMask = sizeof(unsigned long) == 4 || __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

class Mask {
 public:
  // `value` is a Uint32Array, an ArrayBuffer, or null/undefined (no mask). False if it is anything
  // else, or not whole words.
  bool Init(napi_env env, napi_value value) {
    void* data = nullptr;
    size_t count = 0;
    size_t bytes = 0;
    napi_typedarray_type kind;
    if (napi_get_arraybuffer_info(env, value, &data, &bytes) == napi_ok) {
      if (bytes % 8 != 0 || bytes / 8 > kMaxMaskWords) return false;
      count = bytes / 4;
    } else {
      napi_valuetype type;
      if (napi_typeof(env, value, &type) != napi_ok) return false;
      if (type == napi_null || type == napi_undefined) return true;
      if (napi_get_typedarray_info(env, value, &kind, &count, &data, nullptr, nullptr) != napi_ok ||
          kind != napi_uint32_array || count % 2 != 0 || count / 2 > kMaxMaskWords) {
        return false;
      }
    }
    halves_ = static_cast<uint32_t*>(data);
    words_ = count / 2;
    return true;
  }

  size_t bits() const { return words_ * 64; }

  // Pointer for a call that reads the mask.
  const unsigned long* ForKernel() {
    if (halves_ == nullptr) return nullptr;
    if (Direct()) return reinterpret_cast<const unsigned long*>(halves_);
    for (size_t i = 0; i < words_; i++) {
      scratch_[i] = static_cast<unsigned long>(halves_[2 * i]) | (static_cast<unsigned long>(halves_[2 * i + 1]) << 32);
    }
    return scratch_;
  }

  // Pointer for a call that writes the mask; call Written() afterwards.
  unsigned long* FromKernel() {
    if (halves_ == nullptr) return nullptr;
    return Direct() ? reinterpret_cast<unsigned long*>(halves_) : scratch_;
  }

  void Written() {
    if (halves_ == nullptr || Direct()) return;
    for (size_t i = 0; i < words_; i++) {
      halves_[2 * i] = static_cast<uint32_t>(scratch_[i]);
      halves_[2 * i + 1] = static_cast<uint32_t>(static_cast<uint64_t>(scratch_[i]) >> 32);
    }
  }

 private:
  static constexpr bool Direct() { return kDirectMask; }

  uint32_t* halves_ = nullptr;
  size_t words_ = 0;
  unsigned long scratch_[kDirectMask ? 1 : kMaxMaskWords] = {};
};

// Defence in depth: the facade validates everything, the shim only refuses shapes it cannot use.
inline napi_value ThrowType(napi_env env, const char* what) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", what);
  return nullptr;
}

inline napi_value Int(napi_env env, int64_t value) {
  napi_value result;
  // The same number either way; an int32 becomes a small integer without a trip through double.
  if (value >= INT32_MIN && value <= INT32_MAX) {
    napi_create_int32(env, static_cast<int32_t>(value), &result);
  } else {
    napi_create_int64(env, value, &result);
  }
  return result;
}

// The one way every export reads its arguments: Args<N> takes the first N (missing ones read as
// undefined, and are refused like any other wrong shape), and each reader returns false for a value
// it cannot use, so an export is a chain of reads followed by ThrowType on the first failure.
// Exports are plain napi_callback functions: node-addon-api's CallbackInfo wrapper costs a few
// nanoseconds a call, measurable next to a 300 ns syscall (bench/), and the asynchronous work and the
// signal handler are written on the C API anyway. node-addon-api builds the exports object at load.
template <size_t N>
class Args {
 public:
  Args(napi_env env, napi_callback_info info) : env_(env) {
    size_t argc = N;
    ok_ = napi_get_cb_info(env, info, &argc, argv_, nullptr, nullptr) == napi_ok;
  }

  napi_value operator[](size_t i) const { return argv_[i]; }

  // An integer in [min, max]; napi_get_value_int64 refuses anything but a number itself.
  bool Int(size_t i, int64_t* out, int64_t min = INT64_MIN, int64_t max = INT64_MAX) const {
    return ok_ && napi_get_value_int64(env_, argv_[i], out) == napi_ok && *out >= min && *out <= max;
  }

  bool Memory(size_t i, Span* span) const { return ok_ && GetSpan(env_, argv_[i], span); }

  bool NodeMask(size_t i, Mask* mask) const { return ok_ && mask->Init(env_, argv_[i]); }

  // maxnode for a call that reads `mask` (set_mempolicy, mbind, migrate_pages): the kernel reads
  // maxnode - 1 bits, so at most the mask's bits + 1 (docs/kernel.md, "maxnode").
  bool MaxnodeIn(size_t i, const Mask& mask, unsigned long* out) const {
    int64_t value = 0;
    if (!Int(i, &value, 0, static_cast<int64_t>(mask.bits()) + 1)) return false;
    *out = static_cast<unsigned long>(value);
    return true;
  }

  // maxnode for get_mempolicy, which writes ALIGN(maxnode - 1, 64) / 8 bytes: at most the mask's bits
  // (0 with no mask).
  bool MaxnodeOut(size_t i, const Mask& mask, unsigned long* out) const {
    int64_t value = 0;
    if (!Int(i, &value, 0, static_cast<int64_t>(mask.bits()))) return false;
    *out = static_cast<unsigned long>(value);
    return true;
  }

  bool Int32Array(size_t i, int32_t** data, size_t* count) const {
    napi_typedarray_type kind;
    void* raw = nullptr;
    if (!ok_ || napi_get_typedarray_info(env_, argv_[i], &kind, count, &raw, nullptr, nullptr) != napi_ok ||
        kind != napi_int32_array) {
      return false;
    }
    *data = static_cast<int32_t*>(raw);
    return true;
  }

  bool Function(size_t i) const {
    napi_valuetype type;
    return ok_ && napi_typeof(env_, argv_[i], &type) == napi_ok && type == napi_function;
  }

 private:
  napi_env env_;
  bool ok_ = false;
  napi_value argv_[N] = {};
};

// { errno: -error, syscall } for the exports that return an object on success (alloc, shmAttach,
// mapShared) and so cannot return a bare -errno; nullptr (an exception pending) if even that fails.
inline napi_value CallFailure(napi_env env, const char* syscall_name, int error) {
  napi_value result = nullptr, name = nullptr;
  if (napi_create_object(env, &result) != napi_ok ||
      napi_create_string_utf8(env, syscall_name, NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_set_named_property(env, result, "errno", Int(env, -error)) != napi_ok ||
      napi_set_named_property(env, result, "syscall", name) != napi_ok) {
    return nullptr;
  }
  return result;
}

// What alloc, shmAttach and mapShared return when napi_create_external_arraybuffer refuses their
// memory (the caller has freed it): the exception that may be pending cleared, and EOPNOTSUPP where
// the runtime allows no external buffers (Electron's sandbox, some embedders), EOVERFLOW otherwise.
inline napi_value ExternalBufferFailure(napi_env env, napi_status status) {
  bool pending = false;
  napi_value ignored = nullptr;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
  return CallFailure(env, "napi_create_external_arraybuffer",
                     status == napi_no_external_buffers_allowed ? EOPNOTSUPP : EOVERFLOW);
}

// -errno of the last failed call, as the facade expects.
inline int64_t Failed() { return -static_cast<int64_t>(errno); }

// mappings.cc: alloc()'s mappings and the process's budget of mappings.
//
// An alloc() mapping is unmapped when its last holder lets go: the ArrayBuffer's finalizer and each
// call on the libuv pool working on it (docs/memory-lifetime.md).
struct Mapping;
// A mapping of `length` bytes at `data`, held once (by the buffer about to be made), not yet listed.
Mapping* NewMapping(uint8_t* data, size_t length);
// Lists it, so RetainMapping can find it (once the buffer exists).
void ListMapping(Mapping* mapping);
// Drops it from the list (the buffer is gone) and lets go of the buffer's hold.
void UnlistMapping(Mapping* mapping);
// Holds the alloc() mapping that contains [start, start + length), or returns nullptr if none does.
Mapping* RetainMapping(uintptr_t start, size_t length);
// Lets go of one hold; the last one unmaps it.
void ReleaseMapping(Mapping* mapping);

// True when `more` new mappings leave the process at least its reserve under vm.max_map_count;
// counted from /proc/self/maps when the count last taken may be stale (so rarely, far from the limit).
bool MappingsAvailable(size_t more);

// The exports, one line each in the table of binding.cc, which registers them for every environment
// (main thread and each Worker). Their JavaScript signatures are declared in src/binding.ts.
// mempolicy.cc: the core syscalls and alloc().
napi_value SetMempolicy(napi_env env, napi_callback_info info);
napi_value GetMempolicy(napi_env env, napi_callback_info info);
napi_value ThreadPolicy(napi_env env, napi_callback_info info);
napi_value NodeOf(napi_env env, napi_callback_info info);
napi_value Mbind(napi_env env, napi_callback_info info);
napi_value SetHomeNode(napi_env env, napi_callback_info info);
napi_value Alloc(napi_env env, napi_callback_info info);
napi_value Constants(napi_env env);
// mappings.cc
napi_value Mappings(napi_env env, napi_callback_info info);
// pages.cc: move_pages, migrate_pages and mbind on the libuv pool.
napi_value PageNodes(napi_env env, napi_callback_info info);
napi_value MovePages(napi_env env, napi_callback_info info);
napi_value MbindAsync(napi_env env, napi_callback_info info);
napi_value MigratePages(napi_env env, napi_callback_info info);
napi_value MigratePagesSync(napi_env env, napi_callback_info info);
// process.cc: process scope, a policy set on other threads through a real-time signal.
napi_value ProcessExclusive(napi_env env, napi_callback_info info);
napi_value SignalThreads(napi_env env, napi_callback_info info);
// cpu.cc: CPU affinity, getcpu, execve and the shared memory of the command line's --shm / --file.
napi_value SetAffinity(napi_env env, napi_callback_info info);
napi_value GetAffinity(napi_env env, napi_callback_info info);
napi_value Getcpu(napi_env env, napi_callback_info info);
napi_value Execve(napi_env env, napi_callback_info info);
napi_value SignalDefault(napi_env env, napi_callback_info info);
napi_value ShmGet(napi_env env, napi_callback_info info);
napi_value ShmSize(napi_env env, napi_callback_info info);
napi_value ShmAttach(napi_env env, napi_callback_info info);
napi_value MapShared(napi_env env, napi_callback_info info);

}  // namespace mempolicy
