// Errors that say why: each hint the package gives for an ambiguous errno, shown by a child process
// put in the situation for real (a seccomp filter, a capability dropped). The multi-node cases (a
// node outside the cgroup's cpuset.mems) are in test/numa/hints.four.test.ts.
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { memsAllowed } from '../src/index'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!
const work = mkdtempSync(path.join(tmpdir(), 'mempolicy-hints-'))

afterAll(() => rmSync(work, { recursive: true, force: true }))

interface Outcome { code?: string; syscall?: string; hint?: string; message?: string; name?: string; ok?: unknown }

/**
 * Runs `calls` (the source of an async function taking the package) in a node child started by
 * `prefix` (a wrapper command and its arguments); returns, per call, the error it threw or its result.
 */
function inChild(prefix: string[], calls: string): Record<string, Outcome> {
  const source = `
    const mp = require(${JSON.stringify(dist)})
    const out = {}
    const record = async (name, fn) => {
      try { out[name] = { ok: await fn() } } catch (e) { out[name] = { name: e.name, code: e.code, syscall: e.syscall, hint: e.hint, message: e.message } }
    }
    ;(${calls})(mp, record).then(() => process.stdout.write(JSON.stringify(out)))
  `
  const [command, ...args] = [...prefix, process.execPath, '-e', source]
  // Without a preloaded sanitizer runtime (npm run test:asan): seccomp and setpriv children stay plain.
  const { LD_PRELOAD: _preload, MEMPOLICY_PREBUILD: _build, ...env } = process.env
  return JSON.parse(execFileSync(command!, args, { encoding: 'utf8', env })) as Record<string, Outcome>
}

// A tiny program that installs a seccomp filter answering EPERM to the memory-policy syscalls (as
// Docker's default profile does without CAP_SYS_NICE), then execs its arguments.
const SECCOMP_C = String.raw`
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#else
#error "add this architecture"
#endif
#ifndef __NR_set_mempolicy_home_node
#define __NR_set_mempolicy_home_node 450
#endif
#define DENY(nr) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (nr), 0, 1), BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM)

int main(int argc, char** argv) {
  struct sock_filter filter[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    DENY(__NR_set_mempolicy), DENY(__NR_get_mempolicy), DENY(__NR_mbind), DENY(__NR_move_pages),
    DENY(__NR_migrate_pages), DENY(__NR_set_mempolicy_home_node),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof(filter) / sizeof(filter[0]), filter };
  if (argc < 2) return 2;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) { perror("PR_SET_NO_NEW_PRIVS"); return 2; }
  if (syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) { perror("seccomp"); return 2; }
  execvp(argv[1], argv + 1);
  perror("execvp");
  return 2;
}
`

function compileSeccomp(): string | undefined {
  const source = path.join(work, 'seccomp-eperm.c')
  const binary = path.join(work, 'seccomp-eperm')
  writeFileSync(source, SECCOMP_C)
  const cc = spawnSync(process.env.CC ?? 'cc', ['-O2', '-o', binary, source], { encoding: 'utf8' })
  if (cc.status !== 0) {
    console.log(`[hints] no C compiler for the seccomp helper: ${cc.error?.message ?? cc.stderr}`)
    return undefined
  }
  return binary
}

const seccomp = compileSeccomp()
const setpriv = spawnSync('setpriv', ['--version']).status === 0 ? 'setpriv' : undefined

describe('a seccomp filter that answers EPERM', () => {
  it.skipIf(seccomp === undefined)('is named in the hint of every call it blocks', () => {
    const out = inChild([seccomp!], `async (mp, record) => {
      const memory = new Uint8Array(new SharedArrayBuffer(8 * mp.pageSize))
      await record('status', () => require('node:fs').readFileSync('/proc/self/status', 'latin1').match(/^Seccomp:.*$/m)[0])
      await record('setMempolicy', () => mp.setMempolicy({ mode: 'bind', nodes: [${node}] }))
      await record('getMempolicy', () => mp.getMempolicy())
      await record('mbind', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }))
      await record('alloc', () => mp.alloc(4 * mp.pageSize, { mode: 'interleave', nodes: [${node}] }).length)
      await record('movePages', () => mp.movePages(memory, ${node}))
      await record('migratePages', () => mp.migratePages(0, [${node}], [${node}]))
      await record('isSupported', () => mp.isSupported())
      await record('capabilities', () => mp.capabilities().seccomp)
    }`)
    expect(out.status!.ok).toMatch(/^Seccomp:\s+2$/)
    const syscalls: Record<string, string> = {
      setMempolicy: 'set_mempolicy', getMempolicy: 'get_mempolicy', mbind: 'mbind', alloc: 'mbind',
      movePages: 'move_pages', migratePages: 'migrate_pages',
    }
    for (const [call, syscall] of Object.entries(syscalls)) {
      expect(out[call], call).toMatchObject({ name: 'MempolicyError', code: 'EPERM', syscall })
      expect(out[call]!.hint, call).toMatch(/seccomp filter blocks/)
      expect(out[call]!.hint, call).toContain(syscall)
      expect(out[call]!.message, call).toContain(out[call]!.hint!)
    }
    expect(out.isSupported).toEqual({ ok: false })
    expect(out.capabilities!.ok).toMatchObject({ filtered: true })
  })
})

describe('moveAll without CAP_SYS_NICE', () => {
  it.skipIf(setpriv === undefined)('names the missing capability', () => {
    // Dropped from the bounding and inheritable sets: even root's next exec does not get it back.
    const out = inChild(['setpriv', '--inh-caps=-sys_nice', '--bounding-set=-sys_nice', '--'], `async (mp, record) => {
      const memory = mp.alloc(8 * mp.pageSize)
      memory.fill(1)
      await record('capEff', () => /^CapEff:\\s*([0-9a-f]+)$/m.exec(require('node:fs').readFileSync('/proc/self/status', 'latin1'))[1])
      await record('mbind', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }, { move: true, moveAll: true }))
      await record('mbindAsync', () => mp.mbindAsync(memory, { mode: 'bind', nodes: [${node}] }, { moveAll: true }))
      await record('movePages', () => mp.movePages(memory, ${node}, { all: true }))
      await record('move', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }, { move: true }))
      await record('capabilities', () => mp.capabilities().moveAll)
    }`)
    expect(BigInt(`0x${out.capEff!.ok as string}`) & (1n << 23n)).toBe(0n)
    for (const call of ['mbind', 'mbindAsync', 'movePages']) {
      expect(out[call], call).toMatchObject({ name: 'MempolicyError', code: 'EPERM' })
      expect(out[call]!.hint, call).toMatch(/CAP_SYS_NICE/)
      expect(out[call]!.hint, call).toMatch(/lacks/)
    }
    // Moving only this process's own pages needs no capability.
    expect(out.move!.ok).toMatchObject({ byteOffset: 0 })
    expect(out.capabilities).toEqual({ ok: false })
  })
})
