// Process scope: bringing other threads of this process to a memory policy.
//
// Linux sets a memory policy per thread, and only the calling thread's (KERNEL.md A5). To reach the
// other threads, each one is sent a real-time signal whose handler makes the set_mempolicy call on
// that thread, the way glibc broadcasts setuid() to every thread. This file is the mechanism only:
// choosing a signal nobody uses, installing and restoring its disposition, sending the signal to the
// threads the facade names, and collecting each thread's result with a timeout. Which threads to ask,
// how often, and what the results mean is decided in src/process.ts.
#include "mempolicy.h"

#include <atomic>
#include <climits>
#include <csignal>
#include <cstring>
#include <ctime>
#include <mutex>
#include <linux/futex.h>

namespace mempolicy {
namespace {

// Threads one request can serve; the facade sends larger sets in several calls' worth of chunks.
constexpr uint32_t kSlots = 1024;
// si_value carries generation << kSlotBits | slot, so a late or forged signal is recognisably stale.
constexpr unsigned kSlotBits = sizeof(uintptr_t) == 8 ? 32 : 16;
constexpr uintptr_t kSlotMask = (uintptr_t{1} << kSlotBits) - 1;
constexpr uint32_t kGenerationMask = sizeof(uintptr_t) == 8 ? 0xffffffffu : 0xffffu;
// A slot that no handler has answered yet.
constexpr int32_t kPending = INT32_MIN;

// One round of signals. Two of them alternate, so a handler that was interrupted long enough to
// outlive its round still reads a consistent request rather than the next one being written.
struct Request {
  int mode = 0;
  unsigned long maxnode = 0;
  unsigned long mask[kMaxMaskWords * 8 / sizeof(unsigned long)] = {};
  std::atomic<int32_t> results[kSlots];
};

// Process-global state, the one exception to the no-global-state rule of this addon. A signal
// disposition is per process, a signal handler cannot reach per-environment instance data, and two
// Workers asking for process scope at once must be serialised across their environments: so the lock,
// the chosen signal and the request the handler reads are shared by every environment that loaded
// the addon. Everything the handler touches is static storage (never freed) and lock-free atomics.
struct State {
  std::mutex lock;
  std::atomic<pid_t> owner{0};  // thread id holding `lock` inside processExclusive
  int signal = 0;
  struct sigaction previous = {};
  pid_t pid = 0;
  uint32_t generation = 0;
  std::atomic<uint32_t> active{0};  // generation the handler may serve; 0 between rounds
  std::atomic<int32_t> acks{0};     // futex word: bumped by every handler that answered
  Request requests[2];
};

State state;

static_assert(sizeof(std::atomic<int32_t>) == sizeof(int32_t) && std::atomic<int32_t>::is_always_lock_free,
              "the futex word must be a plain lock-free int");
static_assert(std::atomic<uint32_t>::is_always_lock_free, "the handler may only use lock-free atomics");

pid_t Gettid() { return static_cast<pid_t>(syscall(SYS_gettid)); }

// Runs on the signalled thread. Async-signal-safe: lock-free atomics and raw syscalls only, every
// input prepared before the signal was sent, errno preserved for the interrupted code.
void Handler(int, siginfo_t* info, void*) {
  const int saved = errno;
  if (info != nullptr && info->si_code == SI_QUEUE) {
    const uintptr_t value = reinterpret_cast<uintptr_t>(info->si_value.sival_ptr);
    const uint32_t generation = static_cast<uint32_t>(value >> kSlotBits) & kGenerationMask;
    const uintptr_t slot = value & kSlotMask;
    if (generation != 0 && generation == state.active.load(std::memory_order_acquire) && slot < kSlots) {
      Request& request = state.requests[generation & 1];
      long rc = syscall(SYS_set_mempolicy, request.mode, request.mask, request.maxnode);
      int32_t expected = kPending;
      request.results[slot].compare_exchange_strong(expected, rc == 0 ? 0 : -errno, std::memory_order_release);
      state.acks.fetch_add(1, std::memory_order_release);
      syscall(SYS_futex, reinterpret_cast<int32_t*>(&state.acks), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
    }
  }
  errno = saved;
}

bool IsOurs(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) != 0 && action.sa_sigaction == Handler;
}

// Installs the handler on the highest real-time signal that has no handler (SIG_DFL), so no signal
// that Node, libuv, V8 or the application uses is touched. Returns the signal, or -EAGAIN.
int Install() {
  struct sigaction ours = {};
  ours.sa_sigaction = Handler;
  ours.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&ours.sa_mask);
  for (int sig = SIGRTMAX; sig >= SIGRTMIN; sig--) {
    struct sigaction current = {};
    if (sigaction(sig, nullptr, &current) != 0) continue;
    if ((current.sa_flags & SA_SIGINFO) != 0 || current.sa_handler != SIG_DFL) continue;
    struct sigaction previous = {};
    if (sigaction(sig, &ours, &previous) != 0) continue;
    if ((previous.sa_flags & SA_SIGINFO) != 0 || previous.sa_handler != SIG_DFL) {
      sigaction(sig, &previous, nullptr);  // taken between the look and the install: give it back
      continue;
    }
    state.signal = sig;
    state.previous = previous;
    return sig;
  }
  return -EAGAIN;
}

// Ignoring the signal first discards every instance still pending on any thread (a thread that did
// not answer in time), so none is delivered later under the restored default action, which for a
// real-time signal would end the process. Then the previous disposition comes back, unless someone
// else replaced ours meanwhile, in which case theirs stays.
void Uninstall() {
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  struct sigaction current = {};
  sigaction(state.signal, &ignore, &current);
  sigaction(state.signal, IsOurs(current) ? &state.previous : &current, nullptr);
  state.signal = 0;
}

int64_t NowMs() {
  struct timespec now = {};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

// One round: sends the signal to up to kSlots threads and waits for their answers.
void Round(int mode, const unsigned long* mask, size_t words, unsigned long maxnode, const int32_t* tids,
           int32_t* results, size_t count, int64_t timeout_ms) {
  state.generation = (state.generation + 1) & kGenerationMask;
  if (state.generation == 0) state.generation = 1;
  const uint32_t generation = state.generation;
  Request& request = state.requests[generation & 1];
  request.mode = mode;
  request.maxnode = maxnode;
  if (words != 0) memcpy(request.mask, mask, words * sizeof(unsigned long));
  for (size_t i = 0; i < count; i++) request.results[i].store(kPending, std::memory_order_relaxed);
  state.active.store(generation, std::memory_order_release);

  for (size_t i = 0; i < count; i++) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    si.si_signo = state.signal;
    si.si_code = SI_QUEUE;
    si.si_pid = state.pid;
    si.si_uid = getuid();
    si.si_value.sival_ptr =
        reinterpret_cast<void*>((static_cast<uintptr_t>(generation) << kSlotBits) | static_cast<uintptr_t>(i));
    if (syscall(SYS_rt_tgsigqueueinfo, state.pid, tids[i], state.signal, &si) != 0) {
      int32_t expected = kPending;
      request.results[i].compare_exchange_strong(expected, static_cast<int32_t>(-errno));
    }
  }

  const int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    const int32_t seen = state.acks.load(std::memory_order_acquire);
    size_t pending = 0;
    for (size_t i = 0; i < count; i++) {
      if (request.results[i].load(std::memory_order_acquire) != kPending) continue;
      // A thread that exited before running the handler will never answer.
      if (syscall(SYS_tgkill, state.pid, tids[i], 0) != 0 && errno == ESRCH) {
        int32_t expected = kPending;
        request.results[i].compare_exchange_strong(expected, -ESRCH);
        continue;
      }
      pending++;
    }
    const int64_t left = deadline - NowMs();
    if (pending == 0 || left <= 0) break;
    const int64_t slice = left < 20 ? left : 20;
    struct timespec wait = {static_cast<time_t>(slice / 1000), static_cast<long>((slice % 1000) * 1000000)};
    syscall(SYS_futex, reinterpret_cast<int32_t*>(&state.acks), FUTEX_WAIT_PRIVATE, seen, &wait, nullptr, 0);
  }
  state.active.store(0, std::memory_order_release);
  for (size_t i = 0; i < count; i++) {
    int32_t expected = kPending;
    request.results[i].compare_exchange_strong(expected, -ETIMEDOUT);
    results[i] = request.results[i].load(std::memory_order_acquire);
  }
}

}  // namespace

// processExclusive(callback) -> callback(signal)'s result | -errno
// Runs the callback while this thread holds the process-wide lock, with the handler installed on
// `signal`; restores the disposition and releases the lock however the callback ends (a throw, or a
// Worker being terminated). -EDEADLK: this thread already holds it; -EAGAIN: no free real-time signal.
napi_value ProcessExclusive(napi_env env, napi_callback_info info) {
  Args<1> args(env, info);
  if (!args.Function(0)) return ThrowType(env, "processExclusive(callback)");
  const pid_t self = Gettid();
  if (state.owner.load() == self) return Int(env, -EDEADLK);
  std::lock_guard<std::mutex> guard(state.lock);
  if (state.pid == 0) state.pid = getpid();
  const int sig = Install();
  if (sig < 0) return Int(env, sig);
  state.owner.store(self);
  napi_value argv[1] = {Int(env, sig)};
  napi_value global = nullptr;
  napi_value result = nullptr;
  napi_get_global(env, &global);
  napi_status status = napi_call_function(env, global, args[0], 1, argv, &result);
  state.owner.store(0);
  Uninstall();
  return status == napi_ok ? result : nullptr;  // on failure the callback's exception stays pending
}

// signalThreads(mode, mask, maxnode, tids: Int32Array, results: Int32Array, timeoutMs)
//   -> number of threads that set the policy | -errno
// Only inside processExclusive on the same thread (-EPERM otherwise). Each results[i] becomes 0, the
// -errno of that thread's set_mempolicy, -ESRCH (the thread is gone), -EAGAIN (the signal could not
// be queued) or -ETIMEDOUT (no answer within timeoutMs; the pending signal is discarded).
napi_value SignalThreads(napi_env env, napi_callback_info info) {
  Args<6> args(env, info);
  int64_t mode = 0, timeout_ms = 0;
  unsigned long maxnode = 0;
  Mask mask;
  int32_t* tids = nullptr;
  int32_t* results = nullptr;
  size_t count = 0, result_count = 0;
  if (!args.Int(0, &mode, INT32_MIN, INT32_MAX) || !args.NodeMask(1, &mask) || !args.MaxnodeIn(2, mask, &maxnode) ||
      !args.Int32Array(3, &tids, &count) || !args.Int32Array(4, &results, &result_count) || result_count != count ||
      !args.Int(5, &timeout_ms, 0)) {
    return ThrowType(env, "signalThreads(mode, mask, maxnode, tids, results, timeoutMs)");
  }
  if (state.owner.load() != Gettid() || state.signal == 0) return Int(env, -EPERM);
  const unsigned long* words = mask.ForKernel();
  const size_t word_count = words == nullptr ? 0 : mask.bits() / (8 * sizeof(unsigned long));
  int64_t applied = 0;
  for (size_t start = 0; start < count; start += kSlots) {
    const size_t n = count - start < kSlots ? count - start : kSlots;
    Round(static_cast<int>(mode), words, word_count, maxnode, tids + start, results + start, n, timeout_ms);
    for (size_t i = 0; i < n; i++) applied += results[start + i] == 0;
  }
  return Int(env, applied);
}

}  // namespace mempolicy
