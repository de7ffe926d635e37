// The core syscalls: set_mempolicy, get_mempolicy, mbind, set_mempolicy_home_node, and mmap for alloc().
// Each export checks the shapes of its arguments, makes the raw syscall and returns its result or -errno.
#include "mempolicy.h"

#include <sys/mman.h>

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

namespace mempolicy {
namespace {

// The calls made in loops use the C callback signature (napi_callback) rather than node-addon-api's
// CallbackInfo wrapper, which costs about 10 ns a call: measurable next to a 300 ns syscall (bench/).
// Arguments missing from a call read as undefined, and are refused like any other wrong shape.
template <size_t N>
bool ReadArgs(napi_env env, napi_callback_info info, napi_value (&argv)[N]) {
  size_t argc = N;
  return napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok;
}

// setMempolicy(mode, mask: Uint32Array | ArrayBuffer | null, maxnode) -> 0 | -errno
napi_value SetMempolicy(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int64_t mode = 0, maxnode = 0;
  Mask mask;
  if (!ReadArgs(env, info, argv) || !GetInt64(env, argv[0], &mode) || !mask.Init(env, argv[1]) ||
      !GetInt64(env, argv[2], &maxnode) || maxnode < 0 || static_cast<uint64_t>(maxnode) > mask.bits() + 1) {
    return ThrowType(env, "setMempolicy(mode, mask, maxnode)");
  }
  long rc = syscall(SYS_set_mempolicy, static_cast<int>(mode), mask.ForKernel(), static_cast<unsigned long>(maxnode));
  return Int(env, rc == 0 ? 0 : Failed());
}

// getMempolicy(mask: Uint32Array | ArrayBuffer | null, maxnode, memory | undefined, byteOffset, flags)
//   -> mode | node | -errno
// With MPOL_F_ADDR the address is `byteOffset` into `memory`, or its first whole page when byteOffset is -1;
// without it, memory and byteOffset are not read.
napi_value GetMempolicy(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  int64_t maxnode = 0, offset = 0, flags = 0;
  Mask mask;
  if (!ReadArgs(env, info, argv) || !mask.Init(env, argv[0]) || !GetInt64(env, argv[1], &maxnode) ||
      !GetInt64(env, argv[4], &flags) || maxnode < 0 || (maxnode > 0 && static_cast<uint64_t>(maxnode) > mask.bits())) {
    return ThrowType(env, "getMempolicy(mask, maxnode, memory, byteOffset, flags)");
  }
  uintptr_t addr = 0;
  if (flags & kMpolFAddr) {
    Span span;
    if (!GetInt64(env, argv[3], &offset)) return ThrowType(env, "getMempolicy(mask, maxnode, memory, byteOffset, flags)");
    if (!GetSpan(env, argv[2], &span)) return ThrowType(env, "getMempolicy: memory");
    if (offset == -1) {
      size_t length = 0;
      if (!WholePages(span, &addr, &length)) return Int(env, kNoWholePage);
    } else {
      if (offset < 0 || static_cast<uint64_t>(offset) >= span.length) return Int(env, -ERANGE);
      addr = reinterpret_cast<uintptr_t>(span.data) + static_cast<uintptr_t>(offset);
    }
  }
  int mode = 0;
  long rc = syscall(SYS_get_mempolicy, &mode, mask.FromKernel(), static_cast<unsigned long>(maxnode), addr,
                    static_cast<unsigned long>(flags));
  if (rc != 0) return Int(env, Failed());
  mask.Written();
  return Int(env, mode);
}

// Three uses of get_mempolicy that the facade makes in loops, each with only the arguments it needs:
// after a syscall every argument read costs several nanoseconds more than in a warm loop, and these
// calls take 250 to 400 ns in all. maxnode is the mask's own size in bits, which is what
// get_mempolicy writes (ALIGN(maxnode - 1, 64) / 8 bytes: the whole mask).

// threadPolicy(mask) -> the calling thread's mode | flags | -errno        get_mempolicy(0)
napi_value ThreadPolicy(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  Mask mask;
  if (!ReadArgs(env, info, argv) || !mask.Init(env, argv[0])) return ThrowType(env, "threadPolicy(mask)");
  int mode = 0;
  long rc = syscall(SYS_get_mempolicy, &mode, mask.FromKernel(), static_cast<unsigned long>(mask.bits()), 0UL, 0UL);
  if (rc != 0) return Int(env, Failed());
  mask.Written();
  return Int(env, mode);
}

// rangePolicy(mask, memory) -> mode | flags of the first whole page of memory | -errno | kNoWholePage
//                                                                      get_mempolicy(MPOL_F_ADDR)
napi_value RangePolicy(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Mask mask;
  Span span;
  if (!ReadArgs(env, info, argv) || !mask.Init(env, argv[0]) || !GetSpan(env, argv[1], &span)) {
    return ThrowType(env, "rangePolicy(mask, memory)");
  }
  uintptr_t addr = 0;
  size_t length = 0;
  if (!WholePages(span, &addr, &length)) return Int(env, kNoWholePage);
  int mode = 0;
  long rc = syscall(SYS_get_mempolicy, &mode, mask.FromKernel(), static_cast<unsigned long>(mask.bits()), addr,
                    static_cast<unsigned long>(kMpolFAddr));
  if (rc != 0) return Int(env, Failed());
  mask.Written();
  return Int(env, mode);
}

// nodeOf(memory, byteOffset) -> node of the page at byteOffset | -errno | -ERANGE outside memory
//                                                       get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), no mask
napi_value NodeOf(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  Span span;
  int64_t offset = 0;
  if (!ReadArgs(env, info, argv) || !GetSpan(env, argv[0], &span) || !GetInt64(env, argv[1], &offset)) {
    return ThrowType(env, "nodeOf(memory, byteOffset)");
  }
  if (offset < 0 || static_cast<uint64_t>(offset) >= span.length) return Int(env, -ERANGE);
  int node = 0;
  long rc = syscall(SYS_get_mempolicy, &node, nullptr, 0UL, reinterpret_cast<uintptr_t>(span.data) + static_cast<uintptr_t>(offset),
                    static_cast<unsigned long>(kMpolFNode | kMpolFAddr));
  return Int(env, rc == 0 ? node : Failed());
}

// mbind(memory, mode, mask: Uint32Array | ArrayBuffer | null, maxnode, flags)
//   -> SpanCode of the whole pages acted on | -errno | kNoWholePage
napi_value Mbind(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  Span span;
  int64_t mode = 0, maxnode = 0, flags = 0;
  Mask mask;
  if (!ReadArgs(env, info, argv) || !GetSpan(env, argv[0], &span) || !GetInt64(env, argv[1], &mode) ||
      !mask.Init(env, argv[2]) || !GetInt64(env, argv[3], &maxnode) || !GetInt64(env, argv[4], &flags) || maxnode < 0 ||
      static_cast<uint64_t>(maxnode) > mask.bits() + 1) {
    return ThrowType(env, "mbind(memory, mode, mask, maxnode, flags)");
  }
  uintptr_t start = 0;
  size_t length = 0;
  if (!WholePages(span, &start, &length)) return Int(env, kNoWholePage);
  long rc = syscall(SYS_mbind, start, length, static_cast<unsigned long>(mode), mask.ForKernel(),
                    static_cast<unsigned long>(maxnode), static_cast<unsigned>(flags));
  if (rc != 0) return Int(env, Failed());
  return Int(env, SpanCode(span, start, length));
}

// setHomeNode(memory, node) -> offset of the first whole page | -errno | kNoWholePage
Napi::Value SetHomeNode(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  Span span;
  int64_t node = 0;
  if (!GetSpan(env, info[0], &span) || !GetInt64(env, info[1], &node) || node < 0) {
    return Napi::Value(env, ThrowType(env, "setHomeNode(memory, node)"));
  }
  uintptr_t start = 0;
  size_t length = 0;
  if (!WholePages(span, &start, &length)) return Napi::Value(env, Int(env, kNoWholePage));
  long rc = syscall(SYS_set_mempolicy_home_node, start, length, static_cast<unsigned long>(node), 0UL);
  if (rc != 0) return Napi::Value(env, Int(env, Failed()));
  return Napi::Value(env, Int(env, static_cast<int64_t>(start - reinterpret_cast<uintptr_t>(span.data))));
}

struct Mapping {
  size_t length;
  // True while napi_create_external_arraybuffer runs: Node calls the finalizer from inside it when it
  // refuses the buffer (longer than buffer.constants.MAX_LENGTH), and Alloc then cleans up itself.
  bool creating;
  bool released;
};

void Unmap(napi_env env, void* data, void* hint) {
  Mapping* mapping = static_cast<Mapping*>(hint);
  munmap(data, mapping->length);
  if (mapping->creating) {
    mapping->released = true;
    return;
  }
  int64_t ignored = 0;
  napi_adjust_external_memory(env, -static_cast<int64_t>(mapping->length), &ignored);
  delete mapping;
}

Napi::Value AllocFailure(napi_env env, const char* syscall_name, int error) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("errno", Napi::Number::New(env, -error));
  result.Set("syscall", Napi::String::New(env, syscall_name));
  return result;
}

// alloc(byteLength, align, hugePages: -1 | 0 | 1, mode: -1 | mode, mask, maxnode)
//   -> ArrayBuffer over a private anonymous mapping, unmapped when collected | { errno, syscall }
// The mapping is placed at a multiple of `align` (0: no constraint), madvised for transparent huge
// pages when hugePages is 1 (refused when 0), and given the range policy before any page is touched.
Napi::Value Alloc(const Napi::CallbackInfo& info) {
  napi_env env = info.Env();
  int64_t byte_length = 0, align = 0, huge = 0, mode = 0, maxnode = 0;
  Mask mask;
  if (!GetInt64(env, info[0], &byte_length) || !GetInt64(env, info[1], &align) || !GetInt64(env, info[2], &huge) ||
      !GetInt64(env, info[3], &mode) || !mask.Init(env, info[4]) || !GetInt64(env, info[5], &maxnode) ||
      byte_length <= 0 || align < 0 || (align & (align - 1)) != 0 || maxnode < 0 ||
      static_cast<uint64_t>(maxnode) > mask.bits() + 1) {
    return Napi::Value(env, ThrowType(env, "alloc(byteLength, align, hugePages, mode, mask, maxnode)"));
  }
  const size_t page = PageSize();
  const size_t length = (static_cast<size_t>(byte_length) + page - 1) & ~(page - 1);
  const size_t slack = static_cast<size_t>(align) > page ? static_cast<size_t>(align) : 0;
  if (length < static_cast<size_t>(byte_length) || length + slack < length) return AllocFailure(env, "mmap", ENOMEM);

  void* raw = mmap(nullptr, length + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return AllocFailure(env, "mmap", errno);
  uint8_t* data = static_cast<uint8_t*>(raw);
  if (slack != 0) {
    // Trim the over-mapping so the buffer starts on an `align` boundary.
    uintptr_t base = reinterpret_cast<uintptr_t>(raw);
    uintptr_t aligned = (base + slack - 1) & ~(static_cast<uintptr_t>(slack) - 1);
    size_t head = aligned - base;
    if (head != 0) munmap(raw, head);
    if (slack - head != 0) munmap(reinterpret_cast<void*>(aligned + length), slack - head);
    data = reinterpret_cast<uint8_t*>(aligned);
  }
  if (huge >= 0 && madvise(data, length, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) {
    int error = errno;
    munmap(data, length);
    return AllocFailure(env, "madvise", error);
  }
  if (mode >= 0) {
    long rc = syscall(SYS_mbind, reinterpret_cast<uintptr_t>(data), length, static_cast<unsigned long>(mode),
                      mask.ForKernel(), static_cast<unsigned long>(maxnode), 0U);
    if (rc != 0) {
      int error = errno;
      munmap(data, length);
      return AllocFailure(env, "mbind", error);
    }
  }
  // The C call, not Napi::ArrayBuffer::New: on failure that frees its finalizer data a second time
  // after Node has already run (and freed) it.
  Mapping* mapping = new Mapping{length, true, false};
  napi_value buffer = nullptr;
  const napi_status status =
      napi_create_external_arraybuffer(env, data, static_cast<size_t>(byte_length), Unmap, mapping, &buffer);
  mapping->creating = false;
  if (status != napi_ok) {
    if (!mapping->released) munmap(data, length);
    delete mapping;
    bool pending = false;
    napi_value ignored = nullptr;
    if (napi_is_exception_pending(env, &pending) == napi_ok && pending) napi_get_and_clear_last_exception(env, &ignored);
    return AllocFailure(env, "napi_create_external_arraybuffer", status == napi_no_external_buffers_allowed ? EOPNOTSUPP : EOVERFLOW);
  }
  int64_t ignored = 0;
  napi_adjust_external_memory(env, static_cast<int64_t>(length), &ignored);
  return Napi::Value(env, buffer);
}

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  c.Set("MPOL_DEFAULT", static_cast<double>(kMpolDefault));
  c.Set("MPOL_PREFERRED", static_cast<double>(kMpolPreferred));
  c.Set("MPOL_BIND", static_cast<double>(kMpolBind));
  c.Set("MPOL_INTERLEAVE", static_cast<double>(kMpolInterleave));
  c.Set("MPOL_LOCAL", static_cast<double>(kMpolLocal));
  c.Set("MPOL_PREFERRED_MANY", static_cast<double>(kMpolPreferredMany));
  c.Set("MPOL_WEIGHTED_INTERLEAVE", static_cast<double>(kMpolWeightedInterleave));
  c.Set("MPOL_F_STATIC_NODES", static_cast<double>(kMpolFStaticNodes));
  c.Set("MPOL_F_RELATIVE_NODES", static_cast<double>(kMpolFRelativeNodes));
  c.Set("MPOL_F_NUMA_BALANCING", static_cast<double>(kMpolFNumaBalancing));
  c.Set("MPOL_F_NODE", static_cast<double>(kMpolFNode));
  c.Set("MPOL_F_ADDR", static_cast<double>(kMpolFAddr));
  c.Set("MPOL_F_MEMS_ALLOWED", static_cast<double>(kMpolFMemsAllowed));
  c.Set("MPOL_MF_STRICT", static_cast<double>(kMpolMfStrict));
  c.Set("MPOL_MF_MOVE", static_cast<double>(kMpolMfMove));
  c.Set("MPOL_MF_MOVE_ALL", static_cast<double>(kMpolMfMoveAll));
  c.Set("SYS_set_mempolicy", static_cast<double>(SYS_set_mempolicy));
  c.Set("SYS_get_mempolicy", static_cast<double>(SYS_get_mempolicy));
  c.Set("SYS_mbind", static_cast<double>(SYS_mbind));
  c.Set("SYS_set_mempolicy_home_node", static_cast<double>(SYS_set_mempolicy_home_node));
  return c;
}

void ExportCallback(Napi::Env env, Napi::Object exports, const char* name, napi_callback callback) {
  napi_value fn = nullptr;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, callback, nullptr, &fn) == napi_ok) exports.Set(name, Napi::Value(env, fn));
}

}  // namespace

void InitMempolicy(Napi::Env env, Napi::Object exports) {
  ExportCallback(env, exports, "setMempolicy", SetMempolicy);
  ExportCallback(env, exports, "getMempolicy", GetMempolicy);
  ExportCallback(env, exports, "mbind", Mbind);
  ExportCallback(env, exports, "threadPolicy", ThreadPolicy);
  ExportCallback(env, exports, "rangePolicy", RangePolicy);
  ExportCallback(env, exports, "nodeOf", NodeOf);
  exports.Set("setHomeNode", Napi::Function::New<SetHomeNode>(env, "setHomeNode"));
  exports.Set("alloc", Napi::Function::New<Alloc>(env, "alloc"));
  exports.Set("constants", Constants(env));
  exports.Set("pageSize", Napi::Number::New(env, static_cast<double>(PageSize())));
  exports.Set("noWholePage", Napi::Number::New(env, kNoWholePage));
}

}  // namespace mempolicy
