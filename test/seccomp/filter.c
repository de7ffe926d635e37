// Test helper: runs a command under a seccomp filter that refuses the named memory-policy syscalls.
//   filter ERRNO NAME[,NAME...] -- command args...
// ERRNO is EPERM or ENOSYS (what Docker's default profile answers); NAMEs are get_mempolicy,
// set_mempolicy, mbind, move_pages, migrate_pages, set_mempolicy_home_node. Every other syscall is
// allowed. Built by test/capabilities.test.ts with the system C compiler.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture's AUDIT_ARCH"
#endif

static long number(const char* name) {
  if (strcmp(name, "get_mempolicy") == 0) return SYS_get_mempolicy;
  if (strcmp(name, "set_mempolicy") == 0) return SYS_set_mempolicy;
  if (strcmp(name, "mbind") == 0) return SYS_mbind;
  if (strcmp(name, "move_pages") == 0) return SYS_move_pages;
  if (strcmp(name, "migrate_pages") == 0) return SYS_migrate_pages;
  if (strcmp(name, "set_mempolicy_home_node") == 0) return SYS_set_mempolicy_home_node;
  return -1;
}

int main(int argc, char** argv) {
  if (argc < 5 || strcmp(argv[3], "--") != 0) {
    fprintf(stderr, "usage: %s EPERM|ENOSYS NAME[,NAME...] -- command args...\n", argv[0]);
    return 2;
  }
  const int error = strcmp(argv[1], "ENOSYS") == 0 ? ENOSYS : EPERM;
  struct sock_filter program[64];
  size_t n = 0;
  program[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
  program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  program[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  char names[256];
  snprintf(names, sizeof names, "%s", argv[2]);
  for (char* name = strtok(names, ","); name != NULL && n < 60; name = strtok(NULL, ",")) {
    long nr = number(name);
    if (nr < 0) {
      fprintf(stderr, "unknown syscall %s\n", name);
      return 2;
    }
    program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1);
    program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (error & SECCOMP_RET_DATA));
  }
  program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog fprog = {(unsigned short)n, program};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) != 0) {
    perror("seccomp");
    return 2;
  }
  execvp(argv[4], argv + 4);
  perror("execvp");
  return 127;
}
