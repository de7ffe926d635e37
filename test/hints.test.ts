// Errors that say why: each hint the package gives for an ambiguous errno, shown by a child process
// put in the situation for real (a container's seccomp profile, a capability dropped, a user
// namespace, a process it may not inspect), and stating only what was checked. The multi-node
// cases (a node outside the cgroup's cpuset.mems) are in test/numa/hints.four.test.ts; every
// export under every runtime's profile is in test/containers.test.ts.
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { release } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { memsAllowed } from '../src/index'
import { seccompHarness } from './seccomp/profiles'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!

interface Outcome {
  code?: string
  syscall?: string
  hint?: string
  message?: string
  name?: string
  ok?: unknown
}

/**
 * Runs `calls` (the source of an async function taking the package) in a node child started by
 * `prefix` (a wrapper command and its arguments); returns, per call, the error it threw or its result.
 */
function inChild(prefix: string[], calls: string, runner?: (argv: string[]) => SpawnSyncReturns<string>): Record<string, Outcome> {
  const source = `
    const mp = require(${JSON.stringify(dist)})
    const out = {}
    const record = async (name, fn) => {
      try { out[name] = { ok: await fn() } } catch (e) { out[name] = { name: e.name, code: e.code, syscall: e.syscall, hint: e.hint, message: e.message } }
    }
    ;(${calls})(mp, record).then(() => process.stdout.write(JSON.stringify(out)))
  `
  const argv = [...prefix, process.execPath, '-e', source]
  if (runner !== undefined) {
    const run = runner(argv)
    expect(run.stderr).toBe('')
    return JSON.parse(run.stdout) as Record<string, Outcome>
  }
  const [command, ...args] = argv
  // Without a preloaded sanitizer runtime (npm run test:asan): seccomp and setpriv children stay plain.
  const { LD_PRELOAD: _preload, MEMPOLICY_PREBUILD: _build, ...env } = process.env
  return JSON.parse(execFileSync(command!, args, { encoding: 'utf8', env })) as Record<string, Outcome>
}

const harness = seccompHarness()
const missing = 'missing' in harness ? harness.missing : undefined
if (missing !== undefined) console.log(`[hints] seccomp cases skipped: the harness needs ${missing}`)
afterAll(() => {
  if (!('missing' in harness)) harness.dispose()
})
const setpriv = spawnSync('setpriv', ['--version']).status === 0 ? 'setpriv' : undefined
const unshare = spawnSync('unshare', ['--user', '--map-root-user', 'true']).status === 0

describe("Docker's default seccomp profile, without CAP_SYS_NICE", () => {
  it.skipIf(missing !== undefined)('is named in the hint of every call it blocks, with the fix', () => {
    if ('missing' in harness) return
    const out = inChild(
      [],
      `async (mp, record) => {
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
    }`,
      (argv) => harness.run('docker', argv),
    )
    expect(out.status!.ok).toMatch(/^Seccomp:\s+2$/)
    const syscalls: Record<string, string> = {
      setMempolicy: 'set_mempolicy',
      getMempolicy: 'get_mempolicy',
      mbind: 'mbind',
      alloc: 'mbind',
      movePages: 'move_pages',
      migratePages: 'migrate_pages',
    }
    for (const [call, syscall] of Object.entries(syscalls)) {
      expect(out[call], call).toMatchObject({ name: 'MempolicyError', code: 'EPERM', syscall })
      expect(out[call]!.hint, call).toMatch(new RegExp(`^a seccomp filter blocks ${syscall}\\b`))
      expect(out[call]!.message, call).toContain(out[call]!.hint!)
    }
    // The memory-policy calls: SYS_NICE, Docker's flag (the harness leaves /.dockerenv, as Docker does).
    for (const call of ['setMempolicy', 'getMempolicy', 'mbind', 'alloc'])
      expect(out[call]!.hint, call).toMatch(/docker run --cap-add SYS_NICE$/)
    // move_pages and migrate_pages: SYS_NICE does not help, a profile of one's own does.
    for (const call of ['movePages', 'migratePages']) {
      expect(out[call]!.hint, call).toMatch(/never allow it, with or without CAP_SYS_NICE; .*docker run --security-opt seccomp=<file>$/)
    }
    // The kernel has the calls; this process may not make them: capabilities() says so.
    expect(out.isSupported).toEqual({ ok: true })
    expect(out.capabilities!.ok).toMatchObject({ filtered: true })
  })
})

describe('moveAll without CAP_SYS_NICE', () => {
  it.skipIf(setpriv === undefined)('names the missing capability', () => {
    // Dropped from the bounding and inheritable sets: even root's next exec does not get it back.
    const out = inChild(
      ['setpriv', '--inh-caps=-sys_nice', '--bounding-set=-sys_nice', '--'],
      `async (mp, record) => {
      const memory = mp.alloc(8 * mp.pageSize)
      memory.fill(1)
      await record('capEff', () => /^CapEff:\\s*([0-9a-f]+)$/m.exec(require('node:fs').readFileSync('/proc/self/status', 'latin1'))[1])
      await record('mbind', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }, { move: true, moveAll: true }))
      await record('mbindAsync', () => mp.mbindAsync(memory, { mode: 'bind', nodes: [${node}] }, { moveAll: true }))
      await record('movePages', () => mp.movePages(memory, ${node}, { all: true }))
      await record('move', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }, { move: true }))
      await record('capabilities', () => mp.capabilities().moveAll)
    }`,
    )
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

describe('migratePages: the hint states what was checked, never "another user" for the same user', () => {
  const root = process.getuid?.() === 0
  const sleeper = (prefix: string[]): ReturnType<typeof spawn> => {
    const [command, ...args] = [...prefix, 'sleep', '60']
    return spawn(command!, args, { stdio: 'ignore' })
  }

  it.skipIf(!root || setpriv === undefined)('root without CAP_SYS_PTRACE, and a root process with more capabilities: the same user', () => {
    // The caller's permitted set lacks CAP_SYS_PTRACE, the target's has it: the kernel refuses ptrace
    // access (a superset of capabilities needs CAP_SYS_PTRACE) although both run as uid 0.
    const target = sleeper([])
    try {
      const out = inChild(
        ['setpriv', '--inh-caps=-all', '--bounding-set=-sys_ptrace', '--'],
        `async (mp, record) => {
        await record('uid', () => process.getuid())
        await record('migrate', () => mp.migratePages(${target.pid}, [${node}], [${node}]))
      }`,
      )
      expect(out.uid!.ok).toBe(0)
      expect(out.migrate).toMatchObject({ name: 'MempolicyError', code: 'EPERM', syscall: 'migrate_pages' })
      expect(out.migrate!.hint).toBe(
        `this process may not inspect process ${target.pid} as ptrace's read mode requires: reading /proc/${target.pid}/exe is refused too, although both run as uid 0 (a process with capabilities this one lacks, or one that is not dumpable, needs CAP_SYS_PTRACE)`,
      )
    } finally {
      target.kill()
    }
  })

  it.skipIf(!root || setpriv === undefined)('a process of another user, without CAP_SYS_PTRACE: says whose it is', async () => {
    // The target says it is ready once setpriv has changed its user (and exec'd the shell).
    const target = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', 'sh', '-c', 'echo ready; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    try {
      await new Promise<void>((resolve) => target.stdout!.once('data', () => resolve()))
      const out = inChild(
        ['setpriv', '--inh-caps=-all', '--bounding-set=-sys_ptrace', '--'],
        `async (mp, record) => {
        await record('migrate', () => mp.migratePages(${target.pid}, [${node}], [${node}]))
      }`,
      )
      expect(out.migrate).toMatchObject({ code: 'EPERM', syscall: 'migrate_pages' })
      expect(out.migrate!.hint).toBe(
        `process ${target.pid} runs as uid 65534/65534/65534 and this process as uid 0 without CAP_SYS_PTRACE, so it may not inspect it (reading /proc/${target.pid}/exe is refused too)`,
      )
    } finally {
      target.kill()
    }
  })

  it('migratePages(1, ...) as this user: succeeds, or says what was checked', async () => {
    const { migratePages } = await import('../src/index')
    const outcome = await migratePages(1, [node], [node]).then(
      (n) => ({ ok: n }),
      (e: { code: string; hint?: string }) => e,
    )
    if ('ok' in outcome) {
      expect(outcome.ok).toBeGreaterThanOrEqual(0)
      return
    }
    expect(outcome.code).toBe('EPERM')
    const uid = process.getuid?.()
    const theirs = /^Uid:\s+(\d+)/m.exec(readFileSync('/proc/1/status', 'latin1'))![1]
    if (String(uid) === theirs) expect(outcome.hint).not.toMatch(/another user|runs as uid/)
    expect(outcome.hint).toMatch(/\/proc\/1\/exe|cpuset|checks made here/)
  })
})

describe('root in a user namespace (a rootless container)', () => {
  it.skipIf(!unshare)('is told that its CAP_SYS_NICE does not count for moveAll, and capabilities() agrees', () => {
    const out = inChild(
      ['unshare', '--user', '--map-root-user', '--'],
      `async (mp, record) => {
      const memory = mp.alloc(8 * mp.pageSize)
      memory.fill(1)
      await record('capEff', () => /^CapEff:\\s*([0-9a-f]+)$/m.exec(require('node:fs').readFileSync('/proc/self/status', 'latin1'))[1])
      await record('uidMap', () => require('node:fs').readFileSync('/proc/self/uid_map', 'latin1').trim().split(/\\s+/).join(' '))
      await record('mbind', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }, { move: true, moveAll: true }))
      await record('movePages', () => mp.movePages(memory, ${node}, { all: true }))
      await record('move', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }, { move: true }))
      await record('moveAll', () => mp.capabilities().moveAll)
    }`,
    )
    // The namespace's root holds CAP_SYS_NICE there...
    expect(BigInt(`0x${out.capEff!.ok as string}`) & (1n << 23n)).not.toBe(0n)
    // ...and the kernel, which checks it in the initial namespace, refuses MOVE_ALL.
    for (const call of ['mbind', 'movePages']) {
      expect(out[call], call).toMatchObject({ name: 'MempolicyError', code: 'EPERM' })
      expect(out[call]!.hint, call).toBe(
        `${call === 'mbind' ? 'moveAll' : 'all'} (MPOL_MF_MOVE_ALL) needs CAP_SYS_NICE in the initial user namespace; this process has it only in a user namespace of its own (/proc/self/uid_map: ${out.uidMap!.ok as string}), as root in a rootless container does, and the kernel does not count it there`,
      )
    }
    expect(out.move!.ok).toMatchObject({ byteOffset: 0 })
    expect(out.moveAll).toEqual({ ok: false })
  })
})

describe('hints claim nothing they did not check', () => {
  const policy = (mode: string, value: number, nodes: number[]) => ({ mode, value, nodes }) as unknown as import('../src/policy').Encoded

  it("a mode this kernel's release has is not blamed on the kernel; an older release is named", async () => {
    const { hintFor } = await import('../src/hints')
    // 6 is MPOL_WEIGHTED_INTERLEAVE; the node is one this thread may use.
    const allowed = () => memsAllowed()
    const [major = 0, minor = 0] = release().split(/[.-]/).map(Number)
    const has = major > 6 || (major === 6 && minor >= 9)
    const here = hintFor(-22, 'set_mempolicy', { policy: policy('weighted-interleave', 6, [node]), allowed })
    expect(here).toBe(has ? undefined : `'weighted-interleave' came in Linux 6.9 and this kernel is ${release()}`)
    vi.resetModules()
    vi.doMock('node:os', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:os')>()), release: () => '6.1.0-test' }))
    try {
      const older = await import('../src/hints')
      expect(older.hintFor(-22, 'set_mempolicy', { policy: policy('weighted-interleave', 6, [node]), allowed })).toBe(
        "'weighted-interleave' came in Linux 6.9 and this kernel is 6.1.0-test",
      )
      expect(older.hintFor(-22, 'mbind', { policy: policy('bind', 2 | 0x2000, [node]), allowed })).toBeUndefined()
    } finally {
      vi.doUnmock('node:os')
      vi.resetModules()
    }
  })

  it('EACCES, EINVAL and EIO name a cause only where it holds', async () => {
    const { hintFor } = await import('../src/hints')
    const allowed = () => [node]
    // move_pages EACCES to an allowed node: the cpuset is not the cause, so it is not named.
    expect(hintFor(-13, 'move_pages', { nodes: [node], allowed })).toBeUndefined()
    expect(hintFor(-13, 'move_pages', { nodes: [node + 1], allowed })).toBe(
      `node ${node + 1} is outside this process's allowed nodes (cpuset.mems): ${node}`,
    )
    // migrate_pages EINVAL with a destination this process may use: not "none of the nodes".
    expect(hintFor(-22, 'migrate_pages', { nodes: [node], allowed })).toBeUndefined()
    expect(hintFor(-22, 'migrate_pages', { nodes: [node + 1], allowed })).toBe(
      `none of the destination nodes ${node + 1} is one this process may use (${node})`,
    )
    // EIO from mbind means pages off the policy only with strict.
    expect(hintFor(-5, 'mbind', { moveFlags: 0 })).toBeUndefined()
    expect(hintFor(-5, 'mbind', { moveFlags: 1 })).toMatch(/strict/)
  })
})
