// alloc()'s mappings, held while calls on the libuv pool use them, and the budget of mappings a
// process has under vm.max_map_count. docs/memory-lifetime.md says why each exists.
#include "mempolicy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>

namespace mempolicy {

struct Mapping {
  uint8_t* data;
  size_t length;
  std::atomic<int> holds;
};

namespace {

// Every live alloc() mapping of this copy of the addon, by start address. Process-wide, since an
// alloc() buffer can be transferred to another thread and used there, and never freed (static, and
// the addon is never unloaded). Not touched by any signal handler.
std::mutex listed_lock;
std::map<uintptr_t, Mapping*>* listed = new std::map<uintptr_t, Mapping*>();

}  // namespace

Mapping* NewMapping(uint8_t* data, size_t length) { return new Mapping{data, length, {1}}; }

void ListMapping(Mapping* mapping) {
  std::lock_guard<std::mutex> guard(listed_lock);
  (*listed)[reinterpret_cast<uintptr_t>(mapping->data)] = mapping;
}

void UnlistMapping(Mapping* mapping) {
  {
    std::lock_guard<std::mutex> guard(listed_lock);
    auto it = listed->find(reinterpret_cast<uintptr_t>(mapping->data));
    if (it != listed->end() && it->second == mapping) listed->erase(it);
  }
  ReleaseMapping(mapping);
}

Mapping* RetainMapping(uintptr_t start, size_t length) {
  std::lock_guard<std::mutex> guard(listed_lock);
  auto it = listed->upper_bound(start);
  if (it == listed->begin()) return nullptr;
  --it;
  Mapping* mapping = it->second;
  const uintptr_t begin = reinterpret_cast<uintptr_t>(mapping->data);
  if (start < begin || length > mapping->length || start - begin > mapping->length - length) return nullptr;
  // The buffer's own hold is still there (it is only let go of after unlisting, under this lock).
  mapping->holds.fetch_add(1, std::memory_order_relaxed);
  return mapping;
}

void ReleaseMapping(Mapping* mapping) {
  if (mapping == nullptr || mapping->holds.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  munmap(mapping->data, mapping->length);
  delete mapping;
}

namespace {

// The budget. Every mapping the kernel refuses past vm.max_map_count is one V8 may need next (a new
// heap page, a thread stack), and V8 dies when it cannot have it; so calls that may add mappings stop
// while `kReserve` of them are still free. Counting this process's mappings means reading
// /proc/self/maps (about a millisecond per 10,000 mappings), so it is counted again only once this
// copy's own calls may have used half of the headroom the last count left: rarely while the process
// is far from the limit, on every call when it is close. Mappings added meanwhile by others (V8, other
// addons, another copy of this one) are what the reserve is for.
struct Budget {
  std::mutex lock;                     // held while counting
  int64_t limit = 0;                   // vm.max_map_count when last counted
  int64_t counted = 0;                 // the process's mappings when last counted
  std::atomic<int64_t> added{0};       // mappings this copy's calls may have added since
  std::atomic<int64_t> recount_at{0};  // `added` at which to count again; 0: on the next call
};

Budget budget;

int64_t Reserve(int64_t limit) { return std::max<int64_t>(1024, limit / 8); }

int64_t ReadLimit() {
  const int fd = open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 65530;  // the kernel's default (DEFAULT_MAX_MAP_COUNT)
  char text[32] = {};
  const ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  const int64_t limit = n > 0 ? strtoll(text, nullptr, 10) : 0;
  return limit > 0 ? limit : 65530;
}

// Lines of /proc/self/maps, one per mapping; -1 if it cannot be read.
int64_t CountMappings() {
  const int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  static thread_local char chunk[1 << 16];
  int64_t lines = 0;
  for (;;) {
    const ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    lines += std::count(chunk, chunk + n, '\n');
  }
  close(fd);
  return lines;
}

// Counts again; false if that leaves fewer than `more` under the reserve. Holds budget.lock.
bool Recount(size_t more) {
  budget.limit = ReadLimit();
  const int64_t count = CountMappings();
  budget.added.store(0, std::memory_order_relaxed);
  if (count < 0) {
    budget.recount_at.store(0, std::memory_order_release);
    return true;  // nothing to go by: the kernel's own ENOMEM is the only limit
  }
  budget.counted = count;
  const int64_t allowed = budget.limit - Reserve(budget.limit);
  budget.recount_at.store(std::max<int64_t>((allowed - count) / 2, 0), std::memory_order_release);
  return count + static_cast<int64_t>(more) <= allowed;
}

}  // namespace

bool MappingsAvailable(size_t more) {
  const int64_t want = static_cast<int64_t>(more);
  const int64_t added = budget.added.fetch_add(want, std::memory_order_relaxed) + want;
  const int64_t at = budget.recount_at.load(std::memory_order_acquire);
  if (at != 0 && added < at) return true;  // far from the limit: no lock, no count
  std::lock_guard<std::mutex> guard(budget.lock);
  if (!Recount(more)) return false;
  budget.added.fetch_add(want, std::memory_order_relaxed);
  return true;
}

// mappings() -> [mappings of this process, vm.max_map_count, the most that calls may leave in use]
// Counted now, for the facade's error message.
napi_value Mappings(napi_env env, napi_callback_info) {
  std::lock_guard<std::mutex> guard(budget.lock);
  Recount(0);
  napi_value result = nullptr;
  if (napi_create_array_with_length(env, 3, &result) != napi_ok) return nullptr;
  napi_set_element(env, result, 0, Int(env, budget.counted));
  napi_set_element(env, result, 1, Int(env, budget.limit));
  napi_set_element(env, result, 2, Int(env, budget.limit - Reserve(budget.limit)));
  return result;
}

}  // namespace mempolicy
