// Test helper: makes each syscall of test/seccomp/profiles.ts's table once, raw, with arguments that
// change nothing (most are rejected by the kernel with EINVAL, ENOENT or EBADF before they do
// anything), and prints "name=0" or "name=-ERRNO" per line. Under a filter, EPERM or ENOSYS for
// a call the kernel would answer otherwise is the filter's answer.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static long call(const char* name) {
  if (strcmp(name, "get_mempolicy") == 0) return syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0);
  if (strcmp(name, "set_mempolicy") == 0) return syscall(SYS_set_mempolicy, -1, NULL, 0);
  if (strcmp(name, "mbind") == 0) return syscall(SYS_mbind, NULL, 0, -1, NULL, 0, 0);
  if (strcmp(name, "set_mempolicy_home_node") == 0) return syscall(SYS_set_mempolicy_home_node, 0, 0, 1L << 30, 0);
  if (strcmp(name, "move_pages") == 0) return syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0);
  if (strcmp(name, "migrate_pages") == 0) return syscall(SYS_migrate_pages, 0, 0, NULL, NULL);
  if (strcmp(name, "sched_setaffinity") == 0) return syscall(SYS_sched_setaffinity, 0, 0, NULL);
  if (strcmp(name, "sched_getaffinity") == 0) return syscall(SYS_sched_getaffinity, 0, 0, NULL);
  if (strcmp(name, "getcpu") == 0) return syscall(SYS_getcpu, NULL, NULL, NULL);
  if (strcmp(name, "execve") == 0) return syscall(SYS_execve, "", NULL, NULL);
  if (strcmp(name, "execveat") == 0) return syscall(SYS_execveat, -1, "", NULL, NULL, 0);
  if (strcmp(name, "clone3") == 0) return syscall(SYS_clone3, NULL, 0);
  errno = 0;
  return -2;
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; i++) {
    errno = 0;
    long rc = call(argv[i]);
    if (rc == -2 && errno == 0) {
      fprintf(stderr, "unknown syscall %s\n", argv[i]);
      return 2;
    }
    if (rc >= 0)
      printf("%s=0\n", argv[i]);
    else
      printf("%s=%d\n", argv[i], -errno);
  }
  return 0;
}
