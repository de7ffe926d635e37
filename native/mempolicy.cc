// The core syscalls: set_mempolicy, get_mempolicy, mbind, set_mempolicy_home_node, and mmap for alloc().
// Each export checks the shapes of its arguments, makes the raw syscall and returns its result or -errno.
#include "mempolicy.h"

#include <sys/mman.h>

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

namespace mempolicy {

// setMempolicy(mode, mask: Uint32Array | ArrayBuffer | null, maxnode) -> 0 | -errno
napi_value SetMempolicy(napi_env env, napi_callback_info info) {
  Args<3> args(env, info);
  int64_t mode = 0;
  unsigned long maxnode = 0;
  Mask mask;
  if (!args.Int(0, &mode, INT32_MIN, INT32_MAX) || !args.NodeMask(1, &mask) || !args.MaxnodeIn(2, mask, &maxnode)) {
    return ThrowType(env, "setMempolicy(mode, mask, maxnode)");
  }
  long rc = syscall(SYS_set_mempolicy, static_cast<int>(mode), mask.ForKernel(), maxnode);
  return Int(env, rc == 0 ? 0 : Failed());
}

// getMempolicy(mask: Uint32Array | ArrayBuffer | null, maxnode, memory | undefined, byteOffset, flags)
//   -> mode | node | -errno
// With MPOL_F_ADDR the address is `byteOffset` into `memory`, or its first whole page when byteOffset is -1;
// without it, memory and byteOffset are not read.
napi_value GetMempolicy(napi_env env, napi_callback_info info) {
  Args<5> args(env, info);
  int64_t offset = 0, flags = 0;
  unsigned long maxnode = 0;
  Mask mask;
  if (!args.NodeMask(0, &mask) || !args.MaxnodeOut(1, mask, &maxnode) || !args.Int(4, &flags, 0, INT32_MAX)) {
    return ThrowType(env, "getMempolicy(mask, maxnode, memory, byteOffset, flags)");
  }
  uintptr_t addr = 0;
  if (flags & kMpolFAddr) {
    Span span;
    if (!args.Int(3, &offset) || !args.Memory(2, &span)) {
      return ThrowType(env, "getMempolicy(mask, maxnode, memory, byteOffset, flags)");
    }
    if (offset == -1) {
      size_t length = 0;
      if (!WholePages(span, &addr, &length)) return Int(env, kNoWholePage);
    } else {
      if (offset < 0 || static_cast<uint64_t>(offset) >= span.length) return Int(env, -ERANGE);
      addr = reinterpret_cast<uintptr_t>(span.data) + static_cast<uintptr_t>(offset);
    }
  }
  int mode = 0;
  long rc = syscall(SYS_get_mempolicy, &mode, mask.FromKernel(), maxnode, addr, static_cast<unsigned long>(flags));
  if (rc != 0) return Int(env, Failed());
  mask.Written();
  return Int(env, mode);
}

// Two uses of get_mempolicy with only the arguments they need: after a syscall every argument read
// costs several nanoseconds more than in a warm loop, and these calls take 250 to 400 ns in all.
// Through getMempolicy, npm run bench measured getMempolicy() 17% and nodeOf() 6% slower
// (docs/performance.md, "Fast paths"); policyOf() was not, and uses it. maxnode is the
// mask's own size in bits, which is what get_mempolicy writes (ALIGN(maxnode - 1, 64) / 8 bytes).

// threadPolicy(mask) -> the calling thread's mode | flags | -errno        get_mempolicy(0)
napi_value ThreadPolicy(napi_env env, napi_callback_info info) {
  Args<1> args(env, info);
  Mask mask;
  if (!args.NodeMask(0, &mask)) return ThrowType(env, "threadPolicy(mask)");
  int mode = 0;
  long rc = syscall(SYS_get_mempolicy, &mode, mask.FromKernel(), static_cast<unsigned long>(mask.bits()), 0UL, 0UL);
  if (rc != 0) return Int(env, Failed());
  mask.Written();
  return Int(env, mode);
}

// nodeOf(memory, byteOffset) -> node of the page at byteOffset | -errno | -ERANGE outside memory
//                                                       get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), no mask
napi_value NodeOf(napi_env env, napi_callback_info info) {
  Args<2> args(env, info);
  Span span;
  int64_t offset = 0;
  if (!args.Memory(0, &span) || !args.Int(1, &offset)) return ThrowType(env, "nodeOf(memory, byteOffset)");
  if (offset < 0 || static_cast<uint64_t>(offset) >= span.length) return Int(env, -ERANGE);
  int node = 0;
  long rc = syscall(SYS_get_mempolicy, &node, nullptr, 0UL,
                    reinterpret_cast<uintptr_t>(span.data) + static_cast<uintptr_t>(offset),
                    static_cast<unsigned long>(kMpolFNode | kMpolFAddr));
  return Int(env, rc == 0 ? node : Failed());
}

// mbind(memory, mode, mask: Uint32Array | ArrayBuffer | null, maxnode, flags)
//   -> SpanCode of the whole pages acted on | -errno | kNoWholePage
napi_value Mbind(napi_env env, napi_callback_info info) {
  Args<5> args(env, info);
  Span span;
  int64_t mode = 0, flags = 0;
  unsigned long maxnode = 0;
  Mask mask;
  if (!args.Memory(0, &span) || !args.Int(1, &mode, INT32_MIN, INT32_MAX) || !args.NodeMask(2, &mask) ||
      !args.MaxnodeIn(3, mask, &maxnode) || !args.Int(4, &flags, 0, UINT32_MAX)) {
    return ThrowType(env, "mbind(memory, mode, mask, maxnode, flags)");
  }
  uintptr_t start = 0;
  size_t length = 0;
  if (!WholePages(span, &start, &length)) return Int(env, kNoWholePage);
  // A range inside a mapping splits it in up to three.
  if (!MappingsAvailable(2)) return Int(env, kMapLimit);
  long rc = syscall(SYS_mbind, start, length, static_cast<unsigned long>(mode), mask.ForKernel(), maxnode,
                    static_cast<unsigned>(flags));
  if (rc != 0) return Int(env, Failed());
  return Int(env, SpanCode(span, start, length));
}

// setHomeNode(memory, node) -> offset of the first whole page | -errno | kNoWholePage
napi_value SetHomeNode(napi_env env, napi_callback_info info) {
  Args<2> args(env, info);
  Span span;
  int64_t node = 0;
  if (!args.Memory(0, &span) || !args.Int(1, &node, 0)) return ThrowType(env, "setHomeNode(memory, node)");
  uintptr_t start = 0;
  size_t length = 0;
  if (!WholePages(span, &start, &length)) return Int(env, kNoWholePage);
  if (!MappingsAvailable(2)) return Int(env, kMapLimit);
  long rc = syscall(SYS_set_mempolicy_home_node, start, length, static_cast<unsigned long>(node), 0UL);
  if (rc != 0) return Int(env, Failed());
  return Int(env, static_cast<int64_t>(start - reinterpret_cast<uintptr_t>(span.data)));
}

namespace {

// The finalizer's data: the mapping, and whether napi_create_external_arraybuffer is still running
// (Node calls the finalizer from inside it when it refuses the buffer, longer than
// buffer.constants.MAX_LENGTH, and Alloc then cleans up itself).
//
// V8 counts the length of every ArrayBuffer as external memory itself, from its creation until it is
// swept, so nothing more is reported here: reporting it again made V8 see twice the memory, and run
// two full collections on the spot for a large buffer instead of the one any ArrayBuffer of that size
// costs (docs/memory-lifetime.md, "What V8 counts").
struct Owner {
  Mapping* mapping;
  bool creating;
};

void Unmap(napi_env, void*, void* hint) {
  Owner* owner = static_cast<Owner*>(hint);
  if (owner->creating) return;
  // Unmapped now, or when the last call on the pool that holds it ends.
  UnlistMapping(owner->mapping);
  delete owner;
}

}  // namespace

// alloc(byteLength, align, hugePages: -1 | 0 | 1, mode: -1 | mode, mask, maxnode)
//   -> ArrayBuffer over a private anonymous mapping, unmapped when collected and no call on the pool
//      holds it | { errno, syscall } (errno kMapLimit: refused, see MappingsAvailable)
// The mapping is placed at a multiple of `align` (0: no constraint), madvised for transparent huge
// pages when hugePages is 1 (refused when 0), and given the range policy before any page is touched.
napi_value Alloc(napi_env env, napi_callback_info info) {
  Args<6> args(env, info);
  int64_t byte_length = 0, align = 0, huge = 0, mode = 0;
  unsigned long maxnode = 0;
  Mask mask;
  if (!args.Int(0, &byte_length, 1) || !args.Int(1, &align, 0) || (align & (align - 1)) != 0 ||
      !args.Int(2, &huge, -1, 1) || !args.Int(3, &mode, -1, INT32_MAX) || !args.NodeMask(4, &mask) ||
      !args.MaxnodeIn(5, mask, &maxnode)) {
    return ThrowType(env, "alloc(byteLength, align, hugePages, mode, mask, maxnode)");
  }
  const size_t page = PageSize();
  const size_t length = (static_cast<size_t>(byte_length) + page - 1) & ~(page - 1);
  const size_t slack = static_cast<size_t>(align) > page ? static_cast<size_t>(align) : 0;
  if (length < static_cast<size_t>(byte_length) || length + slack < length) return CallFailure(env, "mmap", ENOMEM);
  if (!MappingsAvailable(1)) return CallFailure(env, "mmap", -kMapLimit);

  void* raw = mmap(nullptr, length + slack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (raw == MAP_FAILED) return CallFailure(env, "mmap", errno);
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
    return CallFailure(env, "madvise", error);
  }
  if (mode >= 0) {
    long rc = syscall(SYS_mbind, reinterpret_cast<uintptr_t>(data), length, static_cast<unsigned long>(mode),
                      mask.ForKernel(), maxnode, 0U);
    if (rc != 0) {
      int error = errno;
      munmap(data, length);
      return CallFailure(env, "mbind", error);
    }
  }
  // The C call, not Napi::ArrayBuffer::New: on failure that frees its finalizer data a second time
  // after Node has already run (and freed) it.
  Owner* owner = new Owner{NewMapping(data, length), true};
  napi_value buffer = nullptr;
  const napi_status status =
      napi_create_external_arraybuffer(env, data, static_cast<size_t>(byte_length), Unmap, owner, &buffer);
  owner->creating = false;
  if (status != napi_ok) {
    ReleaseMapping(owner->mapping);  // never listed: this unmaps it
    delete owner;
    return ExternalBufferFailure(env, status);
  }
  ListMapping(owner->mapping);
  return buffer;
}

napi_value Constants(napi_env env) {
  static const struct {
    const char* name;
    long value;
  } kConstants[] = {
      {"MPOL_DEFAULT", kMpolDefault},
      {"MPOL_PREFERRED", kMpolPreferred},
      {"MPOL_BIND", kMpolBind},
      {"MPOL_INTERLEAVE", kMpolInterleave},
      {"MPOL_LOCAL", kMpolLocal},
      {"MPOL_PREFERRED_MANY", kMpolPreferredMany},
      {"MPOL_WEIGHTED_INTERLEAVE", kMpolWeightedInterleave},
      {"MPOL_F_STATIC_NODES", kMpolFStaticNodes},
      {"MPOL_F_RELATIVE_NODES", kMpolFRelativeNodes},
      {"MPOL_F_NUMA_BALANCING", kMpolFNumaBalancing},
      {"MPOL_F_NODE", kMpolFNode},
      {"MPOL_F_ADDR", kMpolFAddr},
      {"MPOL_F_MEMS_ALLOWED", kMpolFMemsAllowed},
      {"MPOL_MF_STRICT", kMpolMfStrict},
      {"MPOL_MF_MOVE", kMpolMfMove},
      {"MPOL_MF_MOVE_ALL", kMpolMfMoveAll},
      {"SYS_set_mempolicy", SYS_set_mempolicy},
      {"SYS_get_mempolicy", SYS_get_mempolicy},
      {"SYS_mbind", SYS_mbind},
      {"SYS_set_mempolicy_home_node", SYS_set_mempolicy_home_node},
  };
  napi_value object = nullptr;
  if (napi_create_object(env, &object) != napi_ok) return nullptr;
  for (const auto& constant : kConstants) {
    if (napi_set_named_property(env, object, constant.name, Int(env, constant.value)) != napi_ok) return nullptr;
  }
  return object;
}

}  // namespace mempolicy
