// The C side of `npm run bench`: the same raw syscalls the binding makes, with no binding around them.
// Compiled at run time by bench/run.mjs (cc -O2) into a temporary directory.
//
// Usage: baseline MASK_WORDS NODES LISTS_FILE
//   MASK_WORDS  64-bit words in the nodemask (the binding's size: ceil((highest possible node + 1) / 64))
//   NODES       comma-separated node ids for the policies ('bind' over these nodes)
//   LISTS_FILE  node-list texts, one a line, for parse (line K) and format (the nodes of line K)
// Then reads commands on stdin, one a line, "OP ITERATIONS [ARG]", runs ITERATIONS calls and prints the
// nanoseconds per call, wall-clock then CPU time. Setup and teardown (policy reset, munmap) are not timed.
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MPOL_DEFAULT 0
#define MPOL_BIND 2
#define MPOL_F_NODE 1
#define MPOL_F_ADDR 2

static unsigned long mask[1024];
static unsigned long out_mask[1024];
static unsigned long words;
static size_t page;

static double clock_ns(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

// Each batch is timed twice: wall-clock time, and the CPU time of this (only) thread, which on a
// loaded machine leaves out the time spent waiting for a CPU.
static double wall_start, cpu_start;
static void begin(void) {
  cpu_start = clock_ns(CLOCK_THREAD_CPUTIME_ID);
  wall_start = clock_ns(CLOCK_MONOTONIC);
}
static void end(double* wall, double* cpu) {
  *wall += clock_ns(CLOCK_MONOTONIC) - wall_start;
  *cpu += clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
}

static void die(const char* what) {
  fprintf(stderr, "baseline: %s: %s\n", what, strerror(errno));
  exit(1);
}

// ---- node lists: a straightforward parser and formatter of the same text the binding handles ----

static int list_nodes[40000];
static char list_text[200000];

// "0-3,7" with spaces around ',' and '-': ids into out, count returned, -1 if malformed.
static int parse_list(const char* s, int* out) {
  int n = 0;
  while (*s == ' ') s++;
  if (*s == '\0') return 0;
  for (;;) {
    if (*s < '0' || *s > '9') return -1;
    int first = 0;
    while (*s >= '0' && *s <= '9') first = first * 10 + (*s++ - '0');
    while (*s == ' ') s++;
    int last = first;
    if (*s == '-') {
      s++;
      while (*s == ' ') s++;
      if (*s < '0' || *s > '9') return -1;
      last = 0;
      while (*s >= '0' && *s <= '9') last = last * 10 + (*s++ - '0');
      while (*s == ' ') s++;
      if (last < first) return -1;
    }
    for (int id = first; id <= last; id++) out[n++] = id;
    if (*s == '\0') return n;
    if (*s++ != ',') return -1;
    while (*s == ' ') s++;
  }
}

static char* put_uint(char* p, int v) {
  char tmp[12];
  int k = 0;
  do {
    tmp[k++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (k > 0) *p++ = tmp[--k];
  return p;
}

// Ascending ids to canonical text, runs of two or more collapsed.
static size_t format_list(const int* ids, int n, char* out) {
  char* p = out;
  for (int k = 0; k < n;) {
    int start = ids[k], end = start;
    k++;
    while (k < n && ids[k] <= end + 1) end = ids[k++];
    if (p != out) *p++ = ',';
    p = put_uint(p, start);
    if (end != start) {
      *p++ = '-';
      p = put_uint(p, end);
    }
  }
  *p = '\0';
  return (size_t)(p - out);
}

static char* lists[16];
static int list_count;

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: baseline MASK_WORDS NODES LISTS_FILE\n");
    return 2;
  }
  page = (size_t)sysconf(_SC_PAGESIZE);
  words = strtoul(argv[1], NULL, 10);
  if (words == 0 || words > 1024) return 2;
  for (char* s = argv[2]; *s != '\0';) {
    unsigned long id = strtoul(s, &s, 10);
    mask[id / 64] |= 1UL << (id % 64);
    if (*s == ',') s++;
  }
  FILE* f = fopen(argv[3], "r");
  if (f == NULL) die(argv[3]);
  static char line[200000];
  while (list_count < 16 && fgets(line, sizeof line, f) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    lists[list_count++] = strdup(line);
  }
  fclose(f);

  const unsigned long maxnode_in = words * 64 + 1;  // the kernel reads maxnode - 1 bits
  const unsigned long maxnode_out = words * 64;     // and writes ALIGN(maxnode - 1, 64) / 8 bytes

  // 1 MiB, written, for mbind, policyOf, nodeOf and move_pages.
  const size_t mib = 1 << 20;
  uint8_t* buf = mmap(NULL, mib, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (buf == MAP_FAILED) die("mmap");
  memset(buf, 1, mib);
  const size_t npages = mib / page;
  void** pages = malloc(npages * sizeof(void*));
  int* status = malloc(npages * sizeof(int));

  char op[32];
  long iterations;
  int arg;
  char cmd[128];
  setvbuf(stdout, NULL, _IOLBF, 0);
  while (fgets(cmd, sizeof cmd, stdin) != NULL) {
    arg = 0;
    if (sscanf(cmd, "%31s %ld %d", op, &iterations, &arg) < 2 || iterations <= 0) {
      fprintf(stderr, "baseline: bad command %s", cmd);
      return 2;
    }
    volatile long sink = 0;
    double ns = 0, cpu = 0;
    int mode = 0;
    if (strcmp(op, "get") == 0) {
      if (syscall(SYS_set_mempolicy, MPOL_BIND, mask, maxnode_in) != 0) die("set_mempolicy");
      begin();
      for (long i = 0; i < iterations; i++) {
        if (syscall(SYS_get_mempolicy, &mode, out_mask, maxnode_out, 0UL, 0UL) != 0) die("get_mempolicy");
        sink += mode;
      }
      end(&ns, &cpu);
      syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0UL);
    } else if (strcmp(op, "set") == 0) {
      begin();
      for (long i = 0; i < iterations; i++) {
        if (syscall(SYS_set_mempolicy, MPOL_BIND, mask, maxnode_in) != 0) die("set_mempolicy");
      }
      end(&ns, &cpu);
      syscall(SYS_set_mempolicy, MPOL_DEFAULT, NULL, 0UL);
    } else if (strcmp(op, "mbind") == 0) {
      begin();
      for (long i = 0; i < iterations; i++) {
        if (syscall(SYS_mbind, (unsigned long)buf, mib, MPOL_BIND, mask, maxnode_in, 0U) != 0) die("mbind");
      }
      end(&ns, &cpu);
    } else if (strcmp(op, "policyof") == 0) {
      begin();
      for (long i = 0; i < iterations; i++) {
        if (syscall(SYS_get_mempolicy, &mode, out_mask, maxnode_out, (unsigned long)buf, MPOL_F_ADDR) != 0)
          die("get_mempolicy");
        sink += mode;
      }
      end(&ns, &cpu);
    } else if (strcmp(op, "nodeof") == 0) {
      begin();
      for (long i = 0; i < iterations; i++) {
        if (syscall(SYS_get_mempolicy, &mode, NULL, 0UL, (unsigned long)buf, MPOL_F_NODE | MPOL_F_ADDR) != 0)
          die("get_mempolicy");
        sink += mode;
      }
      end(&ns, &cpu);
    } else if (strcmp(op, "pagenodes") == 0) {
      // Per call: the page addresses and one move_pages in query mode; printed per page.
      begin();
      for (long i = 0; i < iterations; i++) {
        for (size_t k = 0; k < npages; k++) pages[k] = buf + k * page;
        if (syscall(SYS_move_pages, 0, npages, pages, NULL, status, 0) != 0) die("move_pages");
        sink += status[0];
      }
      end(&ns, &cpu);
      ns /= (double)npages;
      cpu /= (double)npages;
    } else if (strcmp(op, "parse") == 0) {
      if (arg < 0 || arg >= list_count) return 2;
      const char* text = lists[arg];
      begin();
      for (long i = 0; i < iterations; i++) {
        int n = parse_list(text, list_nodes);
        if (n < 0) {
          fprintf(stderr, "baseline: bad list\n");
          return 1;
        }
        sink += n;
        __asm__ __volatile__("" : : "r"(list_nodes) : "memory");
      }
      end(&ns, &cpu);
    } else if (strcmp(op, "format") == 0) {
      if (arg < 0 || arg >= list_count) return 2;
      int n = parse_list(lists[arg], list_nodes);
      begin();
      for (long i = 0; i < iterations; i++) {
        __asm__ __volatile__("" : : "r"(list_nodes) : "memory");
        sink += (long)format_list(list_nodes, n, list_text);
      }
      end(&ns, &cpu);
      if (strcmp(list_text, lists[arg]) != 0) {
        fprintf(stderr, "baseline: format mismatch\n");
        return 1;
      }
    } else if (strcmp(op, "alloc") == 0) {
      // mmap + mbind + memset of ARG MiB, as alloc() + fill() does; munmap is not timed.
      const size_t length = (size_t)arg << 20;
      for (long i = 0; i < iterations; i++) {
        begin();
        uint8_t* p = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED) die("mmap");
        if (syscall(SYS_mbind, (unsigned long)p, length, MPOL_BIND, mask, maxnode_in, 0U) != 0) die("mbind");
        memset(p, 1, length);
        __asm__ __volatile__("" : : "r"(p) : "memory");
        end(&ns, &cpu);
        munmap(p, length);
      }
    } else {
      fprintf(stderr, "baseline: unknown op %s\n", op);
      return 2;
    }
    (void)sink;
    printf("%.3f %.3f\n", ns / (double)iterations, cpu / (double)iterations);
  }
  return 0;
}
