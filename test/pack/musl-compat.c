// Test harness only, never shipped. Bun's musl builds need libstdc++.so.6 and libgcc_s.so.1
// built for musl, which no package reachable here provides; the musl-like root that
// scripts/pack-smoke.mjs makes gives Bun Debian's glibc-built ones instead. musl's loader maps
// their libc.so.6 and libm.so.6 onto musl itself and ignores symbol versions, so what is left is
// this handful of glibc-only symbols they refer to, supplied here (built for musl with zig and
// preloaded). The mempolicy addon itself needs none of this: its only library is musl's libc
// (scripts/check-prebuilds.mjs proves that from its ELF headers before it is packed).
#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <time.h>

// glibc's flag for "the process has one thread": 0 tells libstdc++ to use atomic reference counts.
char __libc_single_threaded = 0;

uint32_t arc4random(void) {
  uint32_t value = 0;
  while (getrandom(&value, sizeof value, 0) != (ssize_t)sizeof value) {
  }
  return value;
}

size_t __strftime_l(char* out, size_t size, const char* format, const struct tm* tm, locale_t locale) {
  return strftime_l(out, size, format, tm, locale);
}

unsigned long __getauxval(unsigned long type) { return getauxval(type); }

// thread_local destructors: not run in this harness (its processes exit without joining threads).
int __cxa_thread_atexit_impl(void (*destructor)(void*), void* object, void* dso) {
  (void)destructor;
  (void)object;
  (void)dso;
  return 0;
}

// libgcc's unwinder asks glibc for the object holding a code address; -1 makes it search the
// program headers itself (dl_iterate_phdr), as it does on older glibc.
int _dl_find_object(void* address, void* result) {
  (void)address;
  (void)result;
  return -1;
}

// x86 CPU-feature data of libgcc (referenced by Debian's libgcc_s.so.1 for x86-64).
struct {
  unsigned int vendor, type, subtype, features[1];
} __cpu_model;

int __cpu_indicator_init(void) { return 0; }
