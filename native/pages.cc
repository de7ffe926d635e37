// Page placement: move_pages (query and move), migrate_pages, and mbind off the event loop.
// Each export checks the shapes of its arguments and makes the raw syscalls; results are -errno or
// the kernel's own per-page status. What the statuses mean is decided in src/pages.ts.
//
// The asynchronous calls run on the libuv pool. Until the work completes each one holds a strong
// reference to the memory object it was given (so dropping every JavaScript reference cannot free
// it) and keeps its own copy of every nodemask (the facade reuses one scratch mask per thread).
// A reference does not hold the memory of an ArrayBuffer that is detached meanwhile (a BYOB stream
// read detaches any ArrayBuffer it is given, even one marked untransferable; Node 22 adds
// ArrayBuffer.prototype.transfer), after which its memory can be freed and the same addresses handed
// to someone else. So a call on the pool holds alloc() memory by its mapping (mappings.cc), which stays
// mapped until the work ends; memory of a SharedArrayBuffer cannot be detached at all; and for any
// other ArrayBuffer, which nothing can hold, the call is made at once on the calling thread and the
// promise is returned settled (docs/memory-lifetime.md).
#include "mempolicy.h"

#include <algorithm>
#include <climits>
#include <vector>

#ifndef SYS_move_pages
#error "this architecture has no move_pages"
#endif

namespace mempolicy {
namespace {

// move_pages batches per syscall; the kernel itself works in batches of 16.
constexpr size_t kChunk = 1024;

// Filled into the status array before a move; the kernel only ever stores a node id (>= 0) or a
// -errno (>= -4095) there, so anything still holding it was left unreported.
constexpr int kUnreported = INT_MIN;

// Every page holding at least one byte of `span`: the first page's address and the count.
// Empty or detached memory has no pages. False if the span wraps the address space.
bool OverlappingPages(const Span& span, uintptr_t* first, size_t* count) {
  *first = 0;
  *count = 0;
  if (span.data == nullptr || span.length == 0) return true;
  const uintptr_t page = PageSize();
  const uintptr_t begin = reinterpret_cast<uintptr_t>(span.data);
  const uintptr_t end = begin + span.length;
  if (end < begin || end + page - 1 < end) return false;
  *first = begin & ~(page - 1);
  *count = (((end + page - 1) & ~(page - 1)) - *first) / page;
  return true;
}

void PageAddresses(uintptr_t first, size_t from, size_t n, void** pages) {
  const uintptr_t page = PageSize();
  for (size_t i = 0; i < n; i++) pages[i] = reinterpret_cast<void*>(first + (from + i) * page);
}

// move_pages in query mode (nodes == NULL): each status is the page's node or -errno. Nothing is
// faulted in. Returns 0 or -errno.
int64_t QueryPages(uintptr_t first, size_t count, int* status) {
  void* pages[kChunk];
  for (size_t done = 0; done < count; done += kChunk) {
    const size_t n = std::min(kChunk, count - done);
    PageAddresses(first, done, n, pages);
    if (syscall(SYS_move_pages, 0, n, pages, nullptr, status + done, 0) < 0) return Failed();
  }
  return 0;
}

// Moves the pages to `node`. Each status ends as the node the page is on, or -errno for the page.
// When the kernel gives up on a batch (it returns how many pages it did not migrate and leaves their
// statuses unwritten), those pages are queried so that their status still says where they are.
// Returns 0 or -errno of a call the kernel refused as a whole (pages before it may have moved).
int64_t MovePagesTo(uintptr_t first, size_t count, int node, int flags, int* status) {
  void* pages[kChunk];
  int nodes[kChunk];
  std::fill(nodes, nodes + kChunk, node);
  std::fill(status, status + count, kUnreported);
  for (size_t done = 0; done < count; done += kChunk) {
    const size_t n = std::min(kChunk, count - done);
    PageAddresses(first, done, n, pages);
    const long rc = syscall(SYS_move_pages, 0, n, pages, nodes, status + done, flags);
    if (rc < 0) return Failed();
    if (rc == 0) continue;
    void* left[kChunk];
    int where[kChunk];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
      if (status[done + i] == kUnreported) left[k++] = pages[i];
    }
    if (k == 0 || syscall(SYS_move_pages, 0, k, left, nullptr, where, 0) < 0) continue;
    k = 0;
    for (size_t i = 0; i < n; i++) {
      if (status[done + i] == kUnreported) status[done + i] = where[k++];
    }
  }
  return 0;
}

// A new Int32Array of `count` elements and a pointer to its data.
bool NewStatus(napi_env env, size_t count, napi_value* array, int** data) {
  napi_value buffer;
  void* raw = nullptr;
  if (napi_create_arraybuffer(env, count * sizeof(int), &raw, &buffer) != napi_ok) return false;
  if (napi_create_typedarray(env, napi_int32_array, count, buffer, 0, array) != napi_ok) return false;
  *data = static_cast<int*>(raw);
  return true;
}

// A nodemask copied out of the caller's array: the facade reuses that array for the next call.
std::vector<unsigned long> CopyMask(Mask& mask) {
  const unsigned long* words = mask.ForKernel();
  if (words == nullptr) return {};
  return std::vector<unsigned long>(words, words + mask.bits() / (8 * sizeof(unsigned long)));
}

const unsigned long* MaskData(const std::vector<unsigned long>& mask) { return mask.empty() ? nullptr : mask.data(); }

// Runs Execute() on the libuv pool and resolves a promise with Result() on the JavaScript thread.
// Written on the C API with every status checked and nothing thrown: the completion also runs while
// a Worker's environment is being torn down, where calling into JavaScript is refused; the promise
// then simply never settles (no one is left to observe it) and the work is still freed.
class Work {
 public:
  virtual ~Work() {
    ReleaseMapping(mapping_);
    if (held_ != nullptr) napi_delete_reference(env_, held_);
    if (result_ref_ != nullptr) napi_delete_reference(env_, result_ref_);
    if (work_ != nullptr) napi_delete_async_work(env_, work_);
  }

  // Queues the work and returns its promise. If it cannot be queued the work is deleted and the
  // promise resolves to -ENOMEM (nullptr if not even a promise could be made).
  static napi_value Start(napi_env env, Work* work, const char* name) {
    napi_value promise = nullptr, resource_name = nullptr;
    if (napi_create_promise(env, &work->deferred_, &promise) != napi_ok) {
      delete work;
      return nullptr;
    }
    if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name) != napi_ok ||
        napi_create_async_work(env, nullptr, resource_name, OnExecute, OnComplete, work, &work->work_) != napi_ok ||
        napi_queue_async_work(env, work->work_) != napi_ok) {
      napi_value failed = work->Number(-ENOMEM);
      if (failed != nullptr) napi_resolve_deferred(env, work->deferred_, failed);
      delete work;
    }
    return promise;
  }

 protected:
  explicit Work(napi_env env) : env_(env) {}

  // Keeps `value` (the memory) alive until this work is deleted, and `mapping` (a hold that this
  // work now owns, or nullptr).
  bool Hold(napi_value value, Mapping* mapping) {
    mapping_ = mapping;
    return napi_create_reference(env_, value, 1, &held_) == napi_ok;
  }
  // Keeps `value` (a result prepared in advance) alive, to be handed back by Result().
  bool Keep(napi_value value) { return napi_create_reference(env_, value, 1, &result_ref_) == napi_ok; }
  napi_value Kept() {
    napi_value value = nullptr;
    return result_ref_ != nullptr && napi_get_reference_value(env_, result_ref_, &value) == napi_ok ? value : nullptr;
  }
  napi_value Number(int64_t value) {
    napi_value result = nullptr;
    return napi_create_int64(env_, value, &result) == napi_ok ? result : nullptr;
  }

  virtual void Execute() = 0;
  virtual napi_value Result() = 0;

 private:
  static void OnExecute(napi_env, void* data) { static_cast<Work*>(data)->Execute(); }

  static void OnComplete(napi_env env, napi_status status, void* data) {
    Work* work = static_cast<Work*>(data);
    if (status == napi_ok) {
      napi_handle_scope scope = nullptr;
      if (napi_open_handle_scope(env, &scope) == napi_ok) {
        napi_value result = work->Result();
        if (result != nullptr) napi_resolve_deferred(env, work->deferred_, result);
        napi_close_handle_scope(env, scope);
      }
    }
    delete work;
  }

  napi_env env_;
  napi_async_work work_ = nullptr;
  napi_deferred deferred_ = nullptr;
  napi_ref held_ = nullptr;
  napi_ref result_ref_ = nullptr;
  Mapping* mapping_ = nullptr;
};

class MoveWork : public Work {
 public:
  MoveWork(napi_env env, uintptr_t first, size_t count, int node, int flags, int* status)
      : Work(env), first_(first), count_(count), node_(node), flags_(flags), status_(status) {}

  bool Init(napi_value memory, Mapping* mapping, napi_value status_array) {
    return Hold(memory, mapping) && Keep(status_array);
  }

 protected:
  void Execute() override { rc_ = MovePagesTo(first_, count_, node_, flags_, status_); }
  napi_value Result() override { return rc_ != 0 ? Number(rc_) : Kept(); }

 private:
  uintptr_t first_;
  size_t count_;
  int node_;
  int flags_;
  int* status_;
  int64_t rc_ = 0;
};

// True when `memory` lies on an ArrayBuffer (not a SharedArrayBuffer), so it could be detached.
bool Detachable(napi_env env, napi_value memory) {
  napi_value buffer = memory;
  bool is_buffer = false;
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  if (napi_get_typedarray_info(env, memory, &type, &length, &data, &buffer, &offset) != napi_ok &&
      napi_get_dataview_info(env, memory, &length, &data, &buffer, &offset) != napi_ok) {
    buffer = memory;
  }
  return napi_is_arraybuffer(env, buffer, &is_buffer) != napi_ok || is_buffer;
}

// A promise already resolved with `value`.
napi_value Resolved(napi_env env, napi_value value) {
  napi_deferred deferred = nullptr;
  napi_value promise = nullptr;
  if (value == nullptr || napi_create_promise(env, &deferred, &promise) != napi_ok) return nullptr;
  napi_resolve_deferred(env, deferred, value);
  return promise;
}

}  // namespace

// pageNodes(memory) -> Int32Array (one status per page overlapping memory) | -errno
napi_value PageNodes(napi_env env, napi_callback_info info) {
  Args<1> args(env, info);
  Span span;
  uintptr_t first = 0;
  size_t count = 0;
  if (!args.Memory(0, &span) || !OverlappingPages(span, &first, &count)) return ThrowType(env, "pageNodes(memory)");
  napi_value array;
  int* status = nullptr;
  if (!NewStatus(env, count, &array, &status)) return Int(env, -ENOMEM);
  const int64_t rc = QueryPages(first, count, status);
  if (rc != 0) return Int(env, rc);
  return array;
}

// movePages(memory, node, flags) -> Promise<Int32Array (final status per page overlapping memory) | -errno>
napi_value MovePages(napi_env env, napi_callback_info info) {
  Args<3> args(env, info);
  Span span;
  uintptr_t first = 0;
  size_t count = 0;
  int64_t node = 0, flags = 0;
  if (!args.Memory(0, &span) || !OverlappingPages(span, &first, &count) || !args.Int(1, &node, 0, INT_MAX) ||
      !args.Int(2, &flags, 0, INT_MAX)) {
    return ThrowType(env, "movePages(memory, node, flags)");
  }
  napi_value array;
  int* status = nullptr;
  if (!NewStatus(env, count, &array, &status)) return Resolved(env, Int(env, -ENOMEM));
  Mapping* mapping = count == 0 ? nullptr : RetainMapping(first, count * PageSize());
  if (mapping == nullptr && Detachable(env, args[0])) {
    const int64_t rc = MovePagesTo(first, count, static_cast<int>(node), static_cast<int>(flags), status);
    return Resolved(env, rc != 0 ? Int(env, rc) : array);
  }
  auto* work = new MoveWork(env, first, count, static_cast<int>(node), static_cast<int>(flags), status);
  if (!work->Init(args[0], mapping, array)) {
    delete work;
    return Resolved(env, Int(env, -ENOMEM));
  }
  return Work::Start(env, work, "mempolicy.movePages");
}

namespace {

class MbindWork : public Work {
 public:
  MbindWork(napi_env env, uintptr_t start, size_t length, int64_t code, unsigned long mode,
            std::vector<unsigned long> mask, unsigned long maxnode, unsigned flags)
      : Work(env),
        start_(start),
        length_(length),
        code_(code),
        mode_(mode),
        mask_(std::move(mask)),
        maxnode_(maxnode),
        flags_(flags) {}

  bool Init(napi_value memory, Mapping* mapping) { return Hold(memory, mapping); }

 protected:
  void Execute() override {
    rc_ = syscall(SYS_mbind, start_, length_, mode_, MaskData(mask_), maxnode_, flags_) == 0 ? code_ : Failed();
  }
  napi_value Result() override { return Number(rc_); }

 private:
  uintptr_t start_;
  size_t length_;
  int64_t code_;
  unsigned long mode_;
  std::vector<unsigned long> mask_;
  unsigned long maxnode_;
  unsigned flags_;
  int64_t rc_ = 0;
};

// mbindAsync(memory, mode, mask, maxnode, flags)
//   -> Promise<SpanCode of the whole pages acted on | -errno | kNoWholePage>, as mbind()
}  // namespace

napi_value MbindAsync(napi_env env, napi_callback_info info) {
  Args<5> args(env, info);
  Span span;
  int64_t mode = 0, flags = 0;
  unsigned long maxnode = 0;
  Mask mask;
  if (!args.Memory(0, &span) || !args.Int(1, &mode, INT32_MIN, INT32_MAX) || !args.NodeMask(2, &mask) ||
      !args.MaxnodeIn(3, mask, &maxnode) || !args.Int(4, &flags, 0, UINT32_MAX)) {
    return ThrowType(env, "mbindAsync(memory, mode, mask, maxnode, flags)");
  }
  uintptr_t start = 0;
  size_t length = 0;
  if (!WholePages(span, &start, &length)) return Resolved(env, Int(env, kNoWholePage));
  if (!MappingsAvailable(2)) return Resolved(env, Int(env, kMapLimit));
  Mapping* mapping = RetainMapping(start, length);
  if (mapping == nullptr && Detachable(env, args[0])) {
    const long rc = syscall(SYS_mbind, start, length, static_cast<unsigned long>(mode), mask.ForKernel(), maxnode,
                            static_cast<unsigned>(flags));
    return Resolved(env, Int(env, rc == 0 ? SpanCode(span, start, length) : Failed()));
  }
  auto* work = new MbindWork(env, start, length, SpanCode(span, start, length), static_cast<unsigned long>(mode),
                             CopyMask(mask), maxnode, static_cast<unsigned>(flags));
  if (!work->Init(args[0], mapping)) {
    delete work;
    return Resolved(env, Int(env, -ENOMEM));
  }
  return Work::Start(env, work, "mempolicy.mbind");
}

namespace {

class MigrateWork : public Work {
 public:
  MigrateWork(napi_env env, int pid, std::vector<unsigned long> from, std::vector<unsigned long> to,
              unsigned long maxnode)
      : Work(env), pid_(pid), from_(std::move(from)), to_(std::move(to)), maxnode_(maxnode) {}

 protected:
  void Execute() override {
    const long rc = syscall(SYS_migrate_pages, pid_, maxnode_, MaskData(from_), MaskData(to_));
    rc_ = rc < 0 ? Failed() : rc;
  }
  napi_value Result() override { return Number(rc_); }

 private:
  int pid_;
  std::vector<unsigned long> from_;
  std::vector<unsigned long> to_;
  unsigned long maxnode_;
  int64_t rc_ = 0;
};

}  // namespace

// migratePages(pid, from: Uint32Array, to: Uint32Array, maxnode) -> Promise<pages not moved | -errno>
napi_value MigratePages(napi_env env, napi_callback_info info) {
  Args<4> args(env, info);
  int64_t pid = 0;
  unsigned long maxnode = 0;
  Mask from, to;
  if (!args.Int(0, &pid, 0, INT_MAX) || !args.NodeMask(1, &from) || !args.NodeMask(2, &to) ||
      !args.MaxnodeIn(3, from.bits() < to.bits() ? from : to, &maxnode)) {
    return ThrowType(env, "migratePages(pid, from, to, maxnode)");
  }
  auto* work = new MigrateWork(env, static_cast<int>(pid), CopyMask(from), CopyMask(to), maxnode);
  return Work::Start(env, work, "mempolicy.migratePages");
}

// migratePagesSync(pid, from | null, to | null, maxnode) -> pages not moved | -errno, on the calling thread.
// For probes that cannot move anything (an empty destination fails with EINVAL before any work).
napi_value MigratePagesSync(napi_env env, napi_callback_info info) {
  Args<4> args(env, info);
  int64_t pid = 0;
  unsigned long maxnode = 0;
  Mask from, to;
  if (!args.Int(0, &pid, 0, INT_MAX) || !args.NodeMask(1, &from) || !args.NodeMask(2, &to) ||
      !args.MaxnodeIn(3, from.bits() < to.bits() ? from : to, &maxnode)) {
    return ThrowType(env, "migratePagesSync(pid, from, to, maxnode)");
  }
  const long rc = syscall(SYS_migrate_pages, static_cast<int>(pid), maxnode, from.ForKernel(), to.ForKernel());
  return Int(env, rc < 0 ? Failed() : rc);
}

}  // namespace mempolicy
