// capabilities(): what this kernel and process allow, found by probing. Checked against the kernel
// version, /proc/self/status and the cgroup files read here directly; the probes must leave the
// thread policy exactly as it was; seccomp is checked for real under the runtimes' default profiles
// (test/seccomp/profiles.ts).
import { existsSync, readFileSync } from 'node:fs'
import { release } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { binding } from '../src/binding'
import { capabilities, getMempolicy, memsAllowed, setMempolicy, type Policy } from '../src/index'
import { kernelThreadPolicy, rangePolicies } from './kernel-view'
import { seccompHarness, type Profile, type RunOptions } from './seccomp/profiles'

// Child processes and Workers start slowly under emulation (the multi-node guests run these files too).
const SLOW = 120_000
const node = memsAllowed()[0]!
const dist = path.join(__dirname, '..', 'dist', 'index.js')
const WEIGHTS = '/sys/kernel/mm/mempolicy/weighted_interleave'

const [major = 0, minor = 0] = release().split(/[.-]/).map(Number)
const atLeast = (a: number, b: number): boolean => major > a || (major === a && minor >= b)

function status(field: string): string {
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(readFileSync('/proc/self/status', 'latin1'))
  return m === null ? '' : m[1]!.trim()
}

function list(text: string): number[] {
  const out: number[] = []
  for (const part of text.split(',').filter(Boolean)) {
    const [a, b = a] = part.split('-').map(Number)
    for (let i = a!; i <= b!; i++) out.push(i)
  }
  return out
}

/** capabilities() of a fresh module instance, so its once-per-thread kernel probe runs again. */
async function freshCapabilities(): Promise<ReturnType<typeof capabilities>> {
  vi.resetModules()
  const fresh = await import('../src/capabilities')
  return fresh.capabilities()
}

describe('capabilities', { timeout: SLOW }, () => {
  it('reports the modes, flags and features this kernel has (by version, as a cross-check)', () => {
    const caps = capabilities()
    const modes = ['default', 'preferred', 'bind', 'interleave', 'local']
    if (atLeast(5, 15)) modes.push('preferred-many')
    if (atLeast(6, 9)) modes.push('weighted-interleave')
    expect(caps.modes).toEqual(modes)
    expect(caps.flags).toEqual(['static-nodes', 'relative-nodes', ...(atLeast(5, 12) ? ['numa-balancing'] : [])])
    expect(caps.balancingWithPreferredMany).toBe(atLeast(6, 10))
    expect(caps.homeNode).toBe(atLeast(5, 17))
    expect(caps.weightedInterleave).toEqual({
      mode: atLeast(6, 9),
      weights: existsSync(WEIGHTS),
      auto: existsSync(`${WEIGHTS}/auto`) || existsSync(`${WEIGHTS}/__auto_type`),
    })
  })

  it('reads CAP_SYS_NICE, seccomp and the allowed nodes as /proc/self/status says', () => {
    const caps = capabilities()
    expect(caps.moveAll).toBe((BigInt(`0x${status('CapEff')}`) & (1n << 23n)) !== 0n)
    expect(caps.seccomp.filtered).toBe(status('Seccomp') === '2')
    if (!caps.seccomp.filtered) expect(caps.seccomp.blocked).toEqual([])
    expect(caps.memsAllowed).toEqual(list(status('Mems_allowed_list')))
  })

  it("reads the cgroup's cpuset mems where it can", () => {
    const caps = capabilities()
    // Independently: cgroup v1's cpuset hierarchy or v2, at the mount points /proc/self/mountinfo gives.
    const cgroups = readFileSync('/proc/self/cgroup', 'latin1')
    const v1 = /^\d+:[^:]*\bcpuset\b[^:]*:(.*)$/m.exec(cgroups)?.[1]
    const v2 = /^0::(.*)$/m.exec(cgroups)?.[1]
    const mounts = readFileSync('/proc/self/mountinfo', 'latin1')
      .split('\n')
      .map((l) => l.split(' '))
    const candidates: string[] = []
    for (const f of mounts) {
      const dash = f.indexOf('-')
      if (dash < 0 || f[3] !== '/') continue
      if (f[dash + 1] === 'cgroup2' && v2 !== undefined) candidates.push(`${f[4]}${v2 === '/' ? '' : v2}/cpuset.mems.effective`)
      if (f[dash + 1] === 'cgroup' && f[dash + 3]?.split(',').includes('cpuset') && v1 !== undefined) {
        candidates.push(`${f[4]}${v1 === '/' ? '' : v1}/cpuset.effective_mems`)
      }
    }
    const readable = candidates.find((file) => existsSync(file))
    if (readable === undefined) {
      console.log(
        `[capabilities] no cpuset file to compare with (tried ${candidates.join(', ') || 'none'}); cpusetMems: ${JSON.stringify(caps.cpusetMems)}`,
      )
      return
    }
    expect(caps.cpusetMems).toEqual(list(readFileSync(readable, 'latin1').trim()))
    // The thread's allowed nodes are the cpuset's.
    expect(caps.memsAllowed).toEqual(caps.cpusetMems)
  })

  const starts: Policy[] = [
    { mode: 'default' },
    { mode: 'local' },
    { mode: 'preferred', nodes: [node] },
    { mode: 'bind', nodes: [node] },
    { mode: 'bind', nodes: [node], flags: ['static-nodes'] },
    { mode: 'bind', nodes: [node], flags: ['numa-balancing'] },
    { mode: 'interleave', nodes: [node], flags: ['relative-nodes'] },
    { mode: 'preferred-many', nodes: [node], flags: ['static-nodes'] },
    { mode: 'weighted-interleave', nodes: [node] },
  ]
  it.each(starts.map((p) => [JSON.stringify(p), p] as const))('probing puts the thread policy back exactly: %s', async (_, policy) => {
    const ranges = rangePolicies().sort()
    const before = getMempolicy()
    const after = await (async () => {
      const restore = getMempolicy()
      setMempolicy(policy)
      try {
        const set = getMempolicy()
        const kernel = kernelThreadPolicy()
        const caps = await freshCapabilities()
        expect(caps.modes.length).toBeGreaterThan(0)
        // Ours and the kernel's own view (numa_maps prints the thread policy on the stack's VMA).
        expect(getMempolicy()).toEqual(set)
        expect(kernelThreadPolicy()).toBe(kernel)
        return getMempolicy()
      } finally {
        setMempolicy(restore)
      }
    })()
    expect(after.mode).toBe(policy.mode === 'preferred' && policy.nodes === undefined ? 'local' : policy.mode)
    expect(getMempolicy()).toEqual(before)
    // No range policy left behind (the home-node probe's scratch page goes back to default).
    expect(rangePolicies().sort()).toEqual(ranges)
  })

  it('probes the kernel once per thread; capabilities, seccomp and cpusets are read every time', async () => {
    vi.resetModules()
    const fresh = await import('../src/capabilities')
    const native = binding()
    const set = vi.spyOn(native, 'setMempolicy')
    try {
      fresh.capabilities()
      const first = set.mock.calls.length
      expect(first).toBeGreaterThanOrEqual(11)
      const again = fresh.capabilities()
      expect(set.mock.calls.length).toBe(first)
      expect(again.modes.length).toBeGreaterThan(0)
    } finally {
      set.mockRestore()
    }
  })
})

// ---------------------------------------------------------------------------------------------
// Under the container runtimes' default seccomp profiles (test/seccomp/profiles.ts); every export
// under every profile is in test/containers.test.ts.

const harness = seccompHarness()
const missing = 'missing' in harness ? harness.missing : undefined
if (missing !== undefined) console.log(`[capabilities] seccomp cases skipped: the harness needs ${missing}`)
afterAll(() => {
  if (!('missing' in harness)) harness.dispose()
})

function underProfile(profile: Profile, body: string, options: RunOptions = {}): Record<string, unknown> {
  if ('missing' in harness) throw new Error(harness.missing)
  const script = `
    const mp = require(${JSON.stringify(dist)})
    const pick = (e) => e && { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, hint: e.hint }
    const attempt = (fn) => { try { fn(); return undefined } catch (e) { return pick(e) } }
    Promise.resolve((${body})(mp, attempt, pick)).then((r) => console.log(JSON.stringify(r)), (e) => console.log(JSON.stringify({ failed: String(e && e.stack || e) })))
  `
  const run = harness.run(profile, [process.execPath, '-e', script], options)
  expect(run.stderr).toBe('')
  return JSON.parse(run.stdout) as Record<string, unknown>
}

describe.skipIf(missing !== undefined)('under a seccomp filter', { timeout: SLOW }, () => {
  it("Docker's default profile without CAP_SYS_NICE blocks all six calls, get_mempolicy too", () => {
    const r = underProfile(
      'docker',
      `(mp, attempt) => ({
      caps: mp.capabilities(),
      policy: attempt(() => mp.getMempolicy()),
      set: attempt(() => mp.setMempolicy({ mode: 'bind', nodes: [${node}] })),
      query: attempt(() => mp.pageNodes(new Uint8Array(1))),
    })`,
    )
    const caps = r.caps as ReturnType<typeof capabilities>
    const blocked = ['get_mempolicy', 'set_mempolicy', 'mbind', 'move_pages', 'migrate_pages', 'set_mempolicy_home_node']
    expect(caps.seccomp).toEqual({ filtered: true, blocked, errors: Object.fromEntries(blocked.map((s) => [s, 'EPERM'])) })
    expect(caps.supported).toBe(true)
    expect(caps.modes).toEqual([])
    expect(caps.flags).toEqual([])
    expect(caps.homeNode).toBe(false)
    expect(caps.moveAll).toBe(false)
    // From /proc/self/status, get_mempolicy being refused.
    expect(caps.memsAllowed).toEqual(memsAllowed())
    expect(r.policy).toMatchObject({ name: 'MempolicyError', code: 'EPERM', syscall: 'get_mempolicy' })
    expect(r.set).toMatchObject({ name: 'MempolicyError', code: 'EPERM', syscall: 'set_mempolicy' })
    expect((r.set as { hint: string }).hint).toMatch(/^a seccomp filter blocks set_mempolicy and this process lacks CAP_SYS_NICE/)
    expect(r.query).toMatchObject({ code: 'EPERM', syscall: 'move_pages' })
    expect((r.query as { hint: string }).hint).toMatch(
      /^a seccomp filter blocks move_pages: .* never allow it, with or without CAP_SYS_NICE/,
    )
  })

  it("Podman's default profile answers ENOSYS for set_mempolicy_home_node, which it does not list", () => {
    const caps = underProfile('podman', '(mp) => mp.capabilities()') as unknown as ReturnType<typeof capabilities>
    expect(caps.seccomp).toEqual({
      filtered: true,
      blocked: ['move_pages', 'migrate_pages', 'set_mempolicy_home_node'],
      errors: { move_pages: 'EPERM', migrate_pages: 'EPERM', set_mempolicy_home_node: 'ENOSYS' },
    })
    expect(caps.homeNode).toBe(false)
    // set_mempolicy is allowed, so the modes are the kernel's, as here.
    expect(caps.modes).toEqual(capabilities().modes)
  })

  it('a profile that refuses get_mempolicy only: capabilities() lists it, and memsAllowed() still answers', () => {
    const r = underProfile('podman', '(mp) => ({ seccomp: mp.capabilities().seccomp, mems: mp.memsAllowed() })', {
      rules: { get_mempolicy: 'EPERM', move_pages: 'allow', migrate_pages: 'allow', set_mempolicy_home_node: 'allow' },
    })
    expect(r).toEqual({ seccomp: { filtered: true, blocked: ['get_mempolicy'], errors: { get_mempolicy: 'EPERM' } }, mems: memsAllowed() })
  })
})
