// CPU placement and the command line's own needs: sched_setaffinity / sched_getaffinity on a thread
// id, getcpu, execve, and the shared memory numactl's --shm / --file options give a policy (SysV
// segments, files mapped shared). Each export checks shapes, makes the raw call and returns its
// result or -errno; which CPUs, which threads and what an error means is decided in src/cpu.ts and
// src/cli/.
#include "mempolicy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

namespace mempolicy {
namespace {

// A CPU mask as the kernel reads and writes it: unsigned longs, `bytes` long (a whole number of
// them, as sched_setaffinity and sched_getaffinity want).
size_t MaskBytes(const Mask& mask) { return mask.bits() / 8; }

bool ReadString(napi_env env, napi_value value, std::string* out) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, nullptr, 0, &length) != napi_ok) return false;
  out->assign(length, '\0');
  size_t written = 0;
  if (napi_get_value_string_utf8(env, value, &(*out)[0], length + 1, &written) != napi_ok) return false;
  // exec takes C strings: one with a NUL inside would be cut short, so it is refused.
  return written == length && out->find('\0') == std::string::npos;
}

bool ReadStrings(napi_env env, napi_value value, std::vector<std::string>* out) {
  bool is_array = false;
  uint32_t count = 0;
  if (napi_is_array(env, value, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, value, &count) != napi_ok) {
    return false;
  }
  out->resize(count);
  for (uint32_t i = 0; i < count; i++) {
    napi_value element = nullptr;
    if (napi_get_element(env, value, i, &element) != napi_ok || !ReadString(env, element, &(*out)[i])) return false;
  }
  return true;
}

std::vector<char*> Pointers(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  pointers.reserve(strings.size() + 1);
  for (std::string& s : strings) pointers.push_back(&s[0]);
  pointers.push_back(nullptr);
  return pointers;
}

// Memory this file maps for JavaScript (a SysV segment, a shared file mapping), released when the
// ArrayBuffer is collected. `creating` as in mempolicy.cc's alloc(): Node may run the finalizer from
// inside napi_create_external_arraybuffer when it refuses the buffer.
struct Shared {
  void* base;
  size_t length;
  bool sysv;
  bool creating;
  bool released;
};

void Release(Shared* shared) {
  if (shared->sysv) {
    shmdt(shared->base);
  } else {
    munmap(shared->base, shared->length);
  }
}

void Finalize(napi_env, void*, void* hint) {
  Shared* shared = static_cast<Shared*>(hint);
  Release(shared);
  if (shared->creating) {
    shared->released = true;
    return;
  }
  delete shared;
}

napi_value Wrap(napi_env env, void* base, size_t length, bool sysv) {
  Shared* shared = new Shared{base, length, sysv, true, false};
  napi_value buffer = nullptr;
  const napi_status status = napi_create_external_arraybuffer(env, base, length, Finalize, shared, &buffer);
  shared->creating = false;
  if (status != napi_ok) {
    if (!shared->released) Release(shared);
    delete shared;
    return ExternalBufferFailure(env, status);
  }
  return buffer;
}

}  // namespace

// setAffinity(tid, mask) -> 0 | -errno                          sched_setaffinity(tid, bytes, mask)
// tid 0 is the calling thread.
napi_value SetAffinity(napi_env env, napi_callback_info info) {
  Args<2> args(env, info);
  int64_t tid = 0;
  Mask mask;
  if (!args.Int(0, &tid, 0, INT32_MAX) || !args.NodeMask(1, &mask) || mask.bits() == 0) {
    return ThrowType(env, "setAffinity(tid, mask)");
  }
  long rc = syscall(SYS_sched_setaffinity, static_cast<pid_t>(tid), MaskBytes(mask), mask.ForKernel());
  return Int(env, rc == 0 ? 0 : Failed());
}

// getAffinity(tid, mask) -> bytes the kernel wrote (its cpumask size) | -errno
// -EINVAL when the mask is narrower than the kernel's (the facade then retries with a wider one).
napi_value GetAffinity(napi_env env, napi_callback_info info) {
  Args<2> args(env, info);
  int64_t tid = 0;
  Mask mask;
  if (!args.Int(0, &tid, 0, INT32_MAX) || !args.NodeMask(1, &mask) || mask.bits() == 0) {
    return ThrowType(env, "getAffinity(tid, mask)");
  }
  unsigned long* words = mask.FromKernel();
  memset(words, 0, MaskBytes(mask));
  long rc = syscall(SYS_sched_getaffinity, static_cast<pid_t>(tid), MaskBytes(mask), words);
  if (rc < 0) return Int(env, Failed());
  mask.Written();
  return Int(env, rc);
}

// getcpu(out: Int32Array(2)) -> 0 | -errno; out = [cpu, node]
napi_value Getcpu(napi_env env, napi_callback_info info) {
  Args<1> args(env, info);
  int32_t* out = nullptr;
  size_t count = 0;
  if (!args.Int32Array(0, &out, &count) || count < 2) return ThrowType(env, "getcpu(out)");
  unsigned cpu = 0, node = 0;
  long rc = syscall(SYS_getcpu, &cpu, &node, nullptr);
  if (rc != 0) return Int(env, Failed());
  out[0] = static_cast<int32_t>(cpu);
  out[1] = static_cast<int32_t>(node);
  return Int(env, 0);
}

// execve(path, argv: string[], envp: string[]) -> -errno (it returns only when the exec failed)
// Before the call every signal disposition is set to SIG_DFL and the calling thread's signal mask
// emptied, as a shell does before it execs a command: ignored signals and the mask survive execve,
// and Node ignores SIGPIPE and SIGXFSZ (docs/cli.md, "Exec in place"). Node also marks the standard
// descriptors 0-2 close-on-exec; the command must inherit them, so the mark is cleared. If the exec
// fails, all of this is put back as it was, so the caller can still report the failure.
napi_value Execve(napi_env env, napi_callback_info info) {
  Args<3> args(env, info);
  std::string path;
  std::vector<std::string> argv, envp;
  if (!ReadString(env, args[0], &path) || !ReadStrings(env, args[1], &argv) || !ReadStrings(env, args[2], &envp)) {
    return ThrowType(env, "execve(path, argv, envp)");
  }
  std::vector<char*> argp = Pointers(argv), envpp = Pointers(envp);

  sigset_t all, previous_mask;
  sigfillset(&all);
  // Nothing is delivered while the dispositions change; the mask is emptied by the exec itself below.
  // sigprocmask, not pthread_sigmask: on Linux both set the calling thread's mask (and glibc keeps its
  // own internal signals out of both), but glibc 2.32 moved pthread_sigmask into libc under a new
  // symbol version, which would make the prebuild need glibc 2.32 (docs/packaging.md).
  sigprocmask(SIG_SETMASK, &all, &previous_mask);
  struct sigaction previous[NSIG] = {};
  bool saved[NSIG] = {};
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    saved[sig] = sigaction(sig, &dfl, &previous[sig]) == 0;
  }
  int fd_flags[3] = {-1, -1, -1};
  for (int fd = 0; fd < 3; fd++) {
    fd_flags[fd] = fcntl(fd, F_GETFD);
    if (fd_flags[fd] >= 0 && (fd_flags[fd] & FD_CLOEXEC) != 0) fcntl(fd, F_SETFD, fd_flags[fd] & ~FD_CLOEXEC);
  }
  sigset_t none;
  sigemptyset(&none);
  // The empty mask goes in last, immediately before the exec: a signal pending now is delivered
  // under its default action, as it would be to the command a moment later.
  sigprocmask(SIG_SETMASK, &none, nullptr);
  execve(path.c_str(), argp.data(), envpp.data());
  const int error = errno;
  sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int fd = 0; fd < 3; fd++) {
    if (fd_flags[fd] >= 0) fcntl(fd, F_SETFD, fd_flags[fd]);
  }
  for (int sig = 1; sig < NSIG; sig++) {
    if (saved[sig]) sigaction(sig, &previous[sig], nullptr);
  }
  sigprocmask(SIG_SETMASK, &previous_mask, nullptr);
  return Int(env, -error);
}

// signalDefault(signal) -> 0 | -errno                    sigaction(signal, SIG_DFL)
napi_value SignalDefault(napi_env env, napi_callback_info info) {
  Args<1> args(env, info);
  int64_t sig = 0;
  if (!args.Int(0, &sig, 1, NSIG - 1)) return ThrowType(env, "signalDefault(signal)");
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  return Int(env, sigaction(static_cast<int>(sig), &dfl, nullptr) == 0 ? 0 : Failed());
}

// shmGet(key, size, flags) -> id | -errno                                    shmget
napi_value ShmGet(napi_env env, napi_callback_info info) {
  Args<3> args(env, info);
  int64_t key = 0, size = 0, flags = 0;
  if (!args.Int(0, &key, INT32_MIN, UINT32_MAX) || !args.Int(1, &size, 0) || !args.Int(2, &flags, 0, INT32_MAX)) {
    return ThrowType(env, "shmGet(key, size, flags)");
  }
  int id = shmget(static_cast<key_t>(static_cast<uint32_t>(key)), static_cast<size_t>(size), static_cast<int>(flags));
  return Int(env, id < 0 ? Failed() : id);
}

// shmSize(id) -> the segment's size in bytes | -errno                        shmctl(IPC_STAT)
napi_value ShmSize(napi_env env, napi_callback_info info) {
  Args<1> args(env, info);
  int64_t id = 0;
  if (!args.Int(0, &id, INT32_MIN, INT32_MAX)) return ThrowType(env, "shmSize(id)");
  struct shmid_ds ds = {};
  if (shmctl(static_cast<int>(id), IPC_STAT, &ds) != 0) return Int(env, Failed());
  return Int(env, static_cast<int64_t>(ds.shm_segsz));
}

// shmAttach(id, length) -> ArrayBuffer over the first `length` bytes of the attached segment,
// detached when collected | { errno, syscall }                              shmat
napi_value ShmAttach(napi_env env, napi_callback_info info) {
  Args<2> args(env, info);
  int64_t id = 0, length = 0;
  if (!args.Int(0, &id, INT32_MIN, INT32_MAX) || !args.Int(1, &length, 0))
    return ThrowType(env, "shmAttach(id, length)");
  void* base = shmat(static_cast<int>(id), nullptr, 0);
  if (base == reinterpret_cast<void*>(-1)) return CallFailure(env, "shmat", errno);
  return Wrap(env, base, static_cast<size_t>(length), true);
}

// mapShared(fd, length, offset) -> ArrayBuffer over mmap(MAP_SHARED) of the file, unmapped when
// collected | { errno, syscall }                                             mmap
napi_value MapShared(napi_env env, napi_callback_info info) {
  Args<3> args(env, info);
  int64_t fd = 0, length = 0, offset = 0;
  if (!args.Int(0, &fd, 0, INT32_MAX) || !args.Int(1, &length, 1) || !args.Int(2, &offset, 0)) {
    return ThrowType(env, "mapShared(fd, length, offset)");
  }
  void* base = mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE, MAP_SHARED, static_cast<int>(fd),
                    static_cast<off_t>(offset));
  if (base == MAP_FAILED) return CallFailure(env, "mmap", errno);
  return Wrap(env, base, static_cast<size_t>(length), false);
}

}  // namespace mempolicy
