// Test helper: runs a command under a seccomp filter made of per-syscall rules.
//   filter NAME=ACTION[,NAME=ACTION...] -- command args...
// ACTION is allow, or an errno name (EPERM, ENOSYS) or number the call fails with. Syscalls not named
// are allowed. The rules of each container runtime's default profile, for the syscalls this package
// makes, are in test/seccomp/profiles.ts, which builds this file and starts commands through it.
//
// The filter is installed without PR_SET_NO_NEW_PRIVS where the caller may (CAP_SYS_ADMIN), as a
// container runtime does before it drops its capabilities; otherwise with it. Calls made through
// another architecture's ABI (32-bit x86 on x86_64, say) are not filtered.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture's AUDIT_ARCH"
#endif

// Numbers the libc headers may not have yet (both architectures use the generic table here).
#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif

static const struct {
  const char* name;
  long nr;
} SYSCALLS[] = {
    {"get_mempolicy", SYS_get_mempolicy},
    {"set_mempolicy", SYS_set_mempolicy},
    {"mbind", SYS_mbind},
    {"move_pages", SYS_move_pages},
    {"migrate_pages", SYS_migrate_pages},
    {"set_mempolicy_home_node", SYS_set_mempolicy_home_node},
    {"sched_setaffinity", SYS_sched_setaffinity},
    {"sched_getaffinity", SYS_sched_getaffinity},
    {"getcpu", SYS_getcpu},
    {"execve", SYS_execve},
    {"execveat", SYS_execveat},
    {"clone3", SYS_clone3},
};

static long number(const char* name) {
  for (size_t i = 0; i < sizeof SYSCALLS / sizeof SYSCALLS[0]; i++) {
    if (strcmp(SYSCALLS[i].name, name) == 0) return SYSCALLS[i].nr;
  }
  return -1;
}

// allow -> SECCOMP_RET_ALLOW; EPERM, ENOSYS or a number -> SECCOMP_RET_ERRNO with it; else 0.
static unsigned action(const char* text) {
  if (strcmp(text, "allow") == 0) return SECCOMP_RET_ALLOW;
  long errnum = -1;
  if (strcmp(text, "EPERM") == 0)
    errnum = EPERM;
  else if (strcmp(text, "ENOSYS") == 0)
    errnum = ENOSYS;
  else {
    char* end;
    errnum = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0') errnum = -1;
  }
  if (errnum <= 0 || errnum > 4095) return 0;
  return SECCOMP_RET_ERRNO | (unsigned)errnum;
}

static int usage(const char* self) {
  fprintf(stderr, "usage: %s NAME=allow|EPERM|ENOSYS|ERRNO[,...] -- command args...\n", self);
  return 2;
}

int main(int argc, char** argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) return usage(argv[0]);
  struct sock_filter program[64];
  size_t n = 0;
  program[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0);
  program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  program[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
  char rules[1024];
  if (snprintf(rules, sizeof rules, "%s", argv[1]) >= (int)sizeof rules) return usage(argv[0]);
  char* saved;
  for (char* rule = strtok_r(rules, ",", &saved); rule != NULL; rule = strtok_r(NULL, ",", &saved)) {
    char* equals = strchr(rule, '=');
    if (equals == NULL) return usage(argv[0]);
    *equals = '\0';
    long nr = number(rule);
    unsigned ret = action(equals + 1);
    if (nr < 0 || ret == 0) {
      fprintf(stderr, "%s: unknown syscall or action in %s=%s\n", argv[0], rule, equals + 1);
      return 2;
    }
    if (n + 3 > sizeof program / sizeof program[0]) return usage(argv[0]);
    program[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1);
    program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
  }
  program[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog fprog = {(unsigned short)n, program};
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
    // Without CAP_SYS_ADMIN the kernel takes a filter only from a thread with no_new_privs set.
    if (errno != EACCES || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) != 0) {
      perror("seccomp");
      return 2;
    }
  }
  execvp(argv[3], argv + 3);
  perror("execvp");
  return 127;
}
