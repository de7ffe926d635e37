// Process scope: bringing other threads of this process to a memory policy.
//
// Linux sets a memory policy per thread, and only the calling thread's (docs/kernel.md, "Thread scope"). To reach the
// other threads, each one is sent a real-time signal whose handler makes the set_mempolicy call on
// that thread, the way glibc broadcasts setuid() to every thread. This file is the mechanism only:
// choosing a signal nobody uses, installing and restoring its disposition, sending the signal to the
// threads the facade names, and collecting each thread's result with a timeout. Which threads to ask,
// how often, and what the results mean is decided in src/process.ts.
#include "mempolicy.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/file.h>
#include <atomic>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>

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
// The result of a thread that blocks the signal and sleeps (docs/threads.md, "Threads that block
// signals"): not reached, its policy left as it was.
constexpr int32_t kBlocked = 1;
// How long a thread that blocks every signal must sleep without a context switch to count as parked.
constexpr int64_t kParkedMs = 2;
// The longest wait between two looks at the threads that have not answered.
constexpr int64_t kSliceMs = 2;

// One round of signals. Two of them alternate, so a handler that was interrupted long enough to
// outlive its round still reads a consistent request rather than the next one being written.
// Each slot is claimed exactly once, by its thread's handler or by the sender giving up on it (no
// answer in time, the thread gone, or blocking the signal): whoever swaps `claims[slot]` from the
// round's generation to 0. So a handler that runs late, after its slot was given up, does nothing,
// and what a round reports is what the threads did.
struct Request {
  int mode = 0;
  unsigned long maxnode = 0;
  unsigned long mask[kMaxMaskWords * 8 / sizeof(unsigned long)] = {};
  std::atomic<uint32_t> claims[kSlots];
  std::atomic<int32_t> results[kSlots];
};

// Process-global state, the one exception to the no-global-state rule of this addon. A signal
// disposition is per process, a signal handler cannot reach per-environment instance data, and two
// Workers asking for process scope at once must be serialised across their environments: so the lock,
// the chosen signal and the request the handler reads are shared by every environment that loaded
// this copy of the addon. Everything the handler touches is static storage (never unmapped: the addon
// is linked with -z nodelete) and lock-free atomics. Another copy of the addon (another version of the
// package in the same process) has statics of its own: the two are serialised by the lock on
// /proc/self (ProcessLock below), and each installs its handler only while it holds that lock.
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
      uint32_t expected = generation;
      if (request.claims[slot].compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) {
        long rc = syscall(SYS_set_mempolicy, request.mode, request.mask, request.maxnode);
        request.results[slot].store(rc == 0 ? 0 : -errno, std::memory_order_release);
        state.acks.fetch_add(1, std::memory_order_release);
        syscall(SYS_futex, reinterpret_cast<int32_t*>(&state.acks), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr, nullptr, 0);
      }
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

// What /proc/self/task/<tid>/status says of a thread, as far as a round needs it.
struct ThreadState {
  bool blocks = false;      // the signal is in its blocked mask
  bool blocks_all = false;  // and so is every other signal a thread can block
  bool sleeping = false;    // State S: waiting for an event, not running or about to run
  uint64_t switches = 0;    // voluntary + involuntary context switches so far
};

// The mask of a thread that blocks every signal it can: all but SIGKILL and SIGSTOP, which cannot be
// blocked, and the C library's own signals below SIGRTMIN, which its pthread_sigmask keeps unblocked.
uint64_t AllBlockable() {
  uint64_t mask = 0;
  for (int sig = 1; sig <= 64; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || (sig >= 32 && sig < SIGRTMIN)) continue;
    mask |= uint64_t{1} << (sig - 1);
  }
  return mask;
}

uint64_t Field(const char* text, const char* key, int base) {
  const char* at = strstr(text, key);
  return at == nullptr ? 0 : strtoull(at + strlen(key), nullptr, base);
}

bool ReadThread(pid_t tid, int sig, ThreadState* out) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/task/%d/status", static_cast<int>(tid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[4096];
  size_t used = 0;
  for (;;) {
    const ssize_t n = read(fd, text + used, sizeof(text) - 1 - used);
    if (n > 0) used += static_cast<size_t>(n);
    if (n == 0 || used == sizeof(text) - 1) break;
    if (n < 0 && errno != EINTR) break;
  }
  close(fd);
  text[used] = '\0';
  const char* state_line = strstr(text, "\nState:\t");
  out->sleeping = state_line != nullptr && state_line[8] == 'S';
  const uint64_t blocked = Field(text, "\nSigBlk:\t", 16);
  out->blocks = ((blocked >> (sig - 1)) & 1) != 0;
  out->blocks_all = (blocked & AllBlockable()) == AllBlockable();
  out->switches = Field(text, "\nvoluntary_ctxt_switches:\t", 10) + Field(text, "\nnonvoluntary_ctxt_switches:\t", 10);
  return true;
}

// Gives up on a slot with `code`, unless its handler claimed it first (then its answer is coming).
bool GiveUp(Request& request, size_t slot, uint32_t generation, int32_t code) {
  uint32_t expected = generation;
  if (!request.claims[slot].compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return false;
  request.results[slot].store(code, std::memory_order_release);
  return true;
}

// One round: sends the signal to up to kSlots threads and waits for their answers.
//
// The signal is sent to threads that block it too: one that blocks signals only for a moment (libuv
// blocks most of them around fork() in every spawn, a Worker's spawnSync included, and may sleep so
// while the child starts) runs the handler as soon as it unblocks them, and is waited for like any
// other. A thread that blocks every signal it can and sleeps, with no context switch between two looks
// at least kParkedMs apart, is parked for good (Node's SIGUSR1 watchdog thread waits so for the life of
// the process): it is given up at once as kBlocked. One that still blocks the signal when the answer
// time is up is given up as kBlocked too. A signal left pending is discarded by Uninstall.
void Round(int mode, const unsigned long* mask, size_t words, unsigned long maxnode, const int32_t* tids,
           int32_t* results, size_t count, int64_t timeout_ms) {
  state.generation = (state.generation + 1) & kGenerationMask;
  if (state.generation == 0) state.generation = 1;
  const uint32_t generation = state.generation;
  Request& request = state.requests[generation & 1];
  request.mode = mode;
  request.maxnode = maxnode;
  if (words != 0) memcpy(request.mask, mask, words * sizeof(unsigned long));
  for (size_t i = 0; i < count; i++) {
    request.results[i].store(kPending, std::memory_order_relaxed);
    request.claims[i].store(generation, std::memory_order_relaxed);
  }
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
      GiveUp(request, i, generation, static_cast<int32_t>(-errno));
    }
  }

  // Per slot: 0 not yet seen parked; else 1 + its context switches when it was first seen so, at parked_at.
  uint64_t parked[kSlots] = {};
  int64_t parked_at[kSlots] = {};
  const int64_t deadline = NowMs() + timeout_ms;
  for (;;) {
    const int32_t seen = state.acks.load(std::memory_order_acquire);
    const bool late = NowMs() >= deadline;
    size_t pending = 0;
    for (size_t i = 0; i < count; i++) {
      if (request.results[i].load(std::memory_order_acquire) != kPending) continue;
      if (request.claims[i].load(std::memory_order_acquire) == 0) {
        pending++;  // claimed by its handler: the answer is a few instructions away
        continue;
      }
      // A thread that exited before running the handler will never answer.
      if (syscall(SYS_tgkill, state.pid, tids[i], 0) != 0 && errno == ESRCH) {
        GiveUp(request, i, generation, -ESRCH);
        continue;
      }
      ThreadState thread;
      const bool read = ReadThread(tids[i], state.signal, &thread);
      if (read && thread.blocks_all && thread.sleeping) {
        if (parked[i] != thread.switches + 1) {
          parked[i] = thread.switches + 1;
          parked_at[i] = NowMs();
        } else if (NowMs() - parked_at[i] >= kParkedMs) {
          GiveUp(request, i, generation, kBlocked);
          continue;
        }
      } else {
        parked[i] = 0;
      }
      if (late) {
        GiveUp(request, i, generation, read && thread.blocks ? kBlocked : -ETIMEDOUT);
        continue;
      }
      pending++;
    }
    // A handler stopped (SIGSTOP) between its claim and its answer is not waited for forever.
    if (pending == 0 || NowMs() >= deadline + timeout_ms) break;
    const int64_t left = deadline - NowMs();
    // Claimed slots are waited for past the deadline: their handler is already running.
    const int64_t slice = left < 1 ? 1 : left < kSliceMs ? left : kSliceMs;
    struct timespec wait = {static_cast<time_t>(slice / 1000), static_cast<long>((slice % 1000) * 1000000)};
    syscall(SYS_futex, reinterpret_cast<int32_t*>(&state.acks), FUTEX_WAIT_PRIVATE, seen, &wait, nullptr, 0);
  }
  state.active.store(0, std::memory_order_release);
  for (size_t i = 0; i < count; i++) {
    const int32_t result = request.results[i].load(std::memory_order_acquire);
    results[i] = result == kPending ? -ETIMEDOUT : result;
  }
}

// The lock that serialises process-scope calls, and spawn()'s borrowing of its thread's policy,
// across the whole process: the mutex between this copy's threads, and flock() on /proc/self between
// copies of the addon. /proc/self is the same inode for every thread of this process, whichever copy
// opens it, and another for every other process, in any pid namespace (a lock file named by pid would
// be shared by two processes of different namespaces, and is not the same name seen from both). Each
// acquisition opens its own descriptor, so the lock is held by this acquisition alone; it is released
// with LOCK_UN, which also covers a fork child still holding the descriptor until it execs. Without
// /proc nothing can list the threads, so no copy can run a process-scope call: the mutex is enough.
// docs/threads.md, "Several copies of the package".
class ProcessLock {
 public:
  ProcessLock() : guard_(state.lock) {
    fd_ = open("/proc/self", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd_ < 0) return;
    while (flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  ~ProcessLock() {
    if (fd_ < 0) return;
    flock(fd_, LOCK_UN);
    close(fd_);
  }
  ProcessLock(const ProcessLock&) = delete;
  ProcessLock& operator=(const ProcessLock&) = delete;

 private:
  std::lock_guard<std::mutex> guard_;
  int fd_ = -1;
};

}  // namespace

// processExclusive(callback, signal: boolean) -> callback(signal number | 0)'s result | -errno
// Runs the callback while this thread holds the process-wide lock (ProcessLock), with the handler
// installed on a free real-time signal when `signal` is true (the callback gets 0 otherwise);
// restores the disposition and releases the lock however the callback ends (a throw, or a Worker
// being terminated). -EDEADLK: this thread already holds it; -EAGAIN: no free real-time signal.
napi_value ProcessExclusive(napi_env env, napi_callback_info info) {
  Args<2> args(env, info);
  napi_valuetype type = napi_undefined;
  bool with_signal = false;
  if (!args.Function(0) || napi_typeof(env, args[1], &type) != napi_ok || type != napi_boolean ||
      napi_get_value_bool(env, args[1], &with_signal) != napi_ok) {
    return ThrowType(env, "processExclusive(callback, signal)");
  }
  const pid_t self = Gettid();
  if (state.owner.load() == self) return Int(env, -EDEADLK);
  ProcessLock lock;
  if (state.pid == 0) state.pid = getpid();
  const int sig = with_signal ? Install() : 0;
  if (sig < 0) return Int(env, sig);
  state.owner.store(self);
  napi_value argv[1] = {Int(env, sig)};
  napi_value global = nullptr;
  napi_value result = nullptr;
  napi_get_global(env, &global);
  napi_status status = napi_call_function(env, global, args[0], 1, argv, &result);
  state.owner.store(0);
  if (with_signal) Uninstall();
  return status == napi_ok ? result : nullptr;  // on failure the callback's exception stays pending
}

// signalThreads(mode, mask, maxnode, tids: Int32Array, results: Int32Array, timeoutMs)
//   -> number of threads that set the policy | -errno
// Only inside processExclusive(callback, true) on the same thread (-EPERM otherwise). Each results[i]
// becomes 0, the -errno of that thread's set_mempolicy, 1 (it blocks the signal and sleeps: not
// reached), -ESRCH (the thread is gone), -EAGAIN (the signal could not be queued) or -ETIMEDOUT (no
// answer within timeoutMs). A signal left pending is discarded when the callback ends.
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
