// Under each container runtime's default seccomp profile, with and without CAP_SYS_NICE, as the
// runtime starts a container (test/seccomp/profiles.ts: its rules, its default capabilities, its
// marks): every export and the CLI, checked with the message. A refused call throws the errno the
// profile gives, naming the filter and the fix for that runtime; what can be answered without the
// refused call is answered; the CLI's --hardware and --show are compared with numactl's under the
// same filter.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import { constants as osConstants, release } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { interleaveWeights, interleaveWeightsAuto, memsAllowed, pageSize, topology } from '../src/index'
import {
  PROFILES,
  SYSCALLS,
  answer,
  hasSysNice,
  refused,
  runtimeOf,
  seccompHarness,
  type Answer,
  type Profile,
  type RunOptions,
  type Syscall,
} from './seccomp/profiles'

const SLOW = 120_000
const errno = osConstants.errno
const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist', 'index.js')
const cli = path.join(root, 'dist', 'cli.js')
const node = memsAllowed()[0]!

const harness = seccompHarness()
const missing = 'missing' in harness ? harness.missing : undefined
if (missing !== undefined) console.log(`[containers] skipped: the seccomp harness needs ${missing}`)
afterAll(() => {
  if (!('missing' in harness)) harness.dispose()
})

function run(profile: Profile, argv: string[], options?: RunOptions): SpawnSyncReturns<string> {
  if ('missing' in harness) throw new Error(harness.missing)
  return harness.run(profile, argv, options)
}

const hasNumactl = spawnSync('numactl', ['--hardware'], { stdio: 'ignore' }).error === undefined

interface Failure {
  name: string
  code: string
  errno: number
  syscall: string
  hint?: string
  message: string
}
type Outcome = { ok: unknown } | { error: Failure }

/** Every export, in the order that lets each one be tried (mbind before setHomeNode). */
const EXERCISE = String.raw`
const fs = require('node:fs')
const mp = require(process.env.MP_DIST)
const node = Number(process.env.MP_NODE)
const out = {}
const record = async (name, fn) => {
  try {
    const value = await fn()
    out[name] = { ok: value === undefined ? null : value }
  } catch (e) {
    out[name] = { error: { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, hint: e.hint, message: e.message } }
  }
}
// The thread policy as the kernel shows it: numa_maps prints it on the stack's mapping.
const stackPolicy = () => /^\S+ (\S+) stack/m.exec(fs.readFileSync('/proc/self/numa_maps', 'latin1'))[1]
const child = (options) => new Promise((resolve, reject) => {
  const c = mp.spawn('sh', ['-c', 'grep -m1 " stack" /proc/self/numa_maps | cut -d" " -f2'], { ...options, stdio: ['ignore', 'pipe', 'inherit'] })
  let text = ''
  c.stdout.setEncoding('utf8').on('data', (d) => { text += d })
  c.on('error', reject)
  c.on('exit', () => resolve(text.trim()))
})
;(async () => {
  await record('status', () => {
    const s = fs.readFileSync('/proc/self/status', 'latin1')
    return { seccomp: /^Seccomp:\s*(\d)/m.exec(s)[1], capEff: /^CapEff:\s*(\S+)/m.exec(s)[1], mems: /^Mems_allowed_list:\s*(\S+)/m.exec(s)[1] }
  })
  await record('isSupported', () => mp.isSupported())
  await record('capabilities', () => mp.capabilities())
  await record('memsAllowed', () => mp.memsAllowed())
  await record('parseNodes', () => mp.parseNodes('all'))
  await record('topology', () => mp.topology())
  await record('getMempolicy', () => mp.getMempolicy())
  await record('setMempolicy', () => {
    mp.setMempolicy({ mode: 'bind', nodes: [node] })
    const kernel = stackPolicy()
    mp.setMempolicy({ mode: 'default' })
    return kernel
  })
  await record('setMempolicyProcess', () => {
    mp.setMempolicy({ mode: 'local' }, { scope: 'process' })
    mp.setMempolicy({ mode: 'default' }, { scope: 'process' })
    return stackPolicy()
  })
  await record('allocPlain', () => { const b = mp.alloc(4 * mp.pageSize); b.fill(1); return b.length })
  await record('alloc', () => { const b = mp.alloc(4 * mp.pageSize, { mode: 'bind', nodes: [node] }); b.fill(1); return b.length })
  const memory = mp.alloc(8 * mp.pageSize)
  memory.fill(1)
  await record('mbind', () => mp.mbind(memory, { mode: 'bind', nodes: [node] }))
  await record('mbindAsync', () => mp.mbindAsync(memory, { mode: 'bind', nodes: [node] }))
  await record('policyOf', () => mp.policyOf(memory))
  await record('nodeOf', () => mp.nodeOf(memory))
  await record('setHomeNode', () => mp.setHomeNode(memory, node))
  await record('pageNodes', () => Array.from(mp.pageNodes(memory)))
  await record('movePages', () => mp.movePages(memory, node))
  await record('migratePages', () => mp.migratePages(0, [node], [node]))
  await record('spawn', () => child({ mempolicy: { mode: 'interleave', nodes: [node] } }))
  await record('spawnPlain', () => child({}))
  await record('interleaveWeights', () => mp.interleaveWeights())
  await record('interleaveWeightsAuto', () => mp.interleaveWeightsAuto())
  await record('fromOci', () => mp.fromOci({ mode: 'MPOL_BIND', nodes: String(node), flags: ['MPOL_F_STATIC_NODES'] }))
  await record('toOci', () => mp.toOci({ mode: 'interleave', nodes: [node] }))
  await record('formatNodes', () => mp.formatNodes([3, 0, 1, 2]))
  process.stdout.write(JSON.stringify(out))
})()
`

function exercise(profile: Profile, options: RunOptions = {}): Record<string, Outcome> {
  const result = run(profile, [process.execPath, '-e', EXERCISE], {
    ...options,
    env: { MP_DIST: dist, MP_NODE: String(node), ...options.env },
  })
  expect(result.stderr, profile).toBe('')
  expect(result.status, profile).toBe(0)
  return JSON.parse(result.stdout) as Record<string, Outcome>
}

/** The syscall each export makes that a profile may refuse (spawn: the save, then the set). */
const USES: Record<string, Syscall[]> = {
  getMempolicy: ['get_mempolicy'],
  setMempolicy: ['set_mempolicy'],
  setMempolicyProcess: ['set_mempolicy'],
  alloc: ['mbind'],
  mbind: ['mbind'],
  mbindAsync: ['mbind'],
  policyOf: ['get_mempolicy'],
  nodeOf: ['get_mempolicy'],
  setHomeNode: ['set_mempolicy_home_node'],
  pageNodes: ['move_pages'],
  movePages: ['move_pages'],
  migratePages: ['migrate_pages'],
  spawn: ['get_mempolicy', 'set_mempolicy'],
}

/** The first of `syscalls` the profile refuses, and its answer. */
function firstRefusal(profile: Profile, syscalls: Syscall[]): [Syscall, Answer] | undefined {
  for (const s of syscalls) if (answer(profile, s) !== 'allow') return [s, answer(profile, s)]
  return undefined
}

const NICE_GATED = new Set<Syscall>(['get_mempolicy', 'set_mempolicy', 'mbind', 'set_mempolicy_home_node'])
const [major = 0, minor = 0] = release().split(/[.-]/).map(Number)
const kernelHasHomeNode = major > 5 || (major === 5 && minor >= 17)

/** The hint a refusal of `syscall` must carry under `profile`, for the runtime the marks name. */
function expectHint(
  profile: Profile,
  syscall: Syscall,
  errno: Answer,
  hint: string | undefined,
  runtime: 'docker' | 'podman' | 'kubernetes' | undefined,
): void {
  expect(hint, syscall).toBeDefined()
  const text = hint!
  const capFix = {
    docker: 'start the container with docker run --cap-add SYS_NICE',
    podman: 'start the container with podman run --cap-add SYS_NICE',
    kubernetes: 'add it to the container: securityContext.capabilities.add: ["SYS_NICE"]',
    none: 'start the container with --cap-add SYS_NICE (docker run, podman run) or, in Kubernetes, securityContext.capabilities.add: ["SYS_NICE"]',
  }[runtime ?? 'none']
  const profileFix = {
    docker: `start the container with a seccomp profile that allows ${syscall}: docker run --security-opt seccomp=<file>`,
    podman: `start the container with a seccomp profile that allows ${syscall}: podman run --security-opt seccomp=<file>`,
    kubernetes: `give the container a seccomp profile that allows ${syscall}: securityContext.seccompProfile: { type: Localhost, localhostProfile: <file on the node> }`,
    none: `start the container with a seccomp profile that allows ${syscall}: --security-opt seccomp=<file> (docker run, podman run) or, in Kubernetes, securityContext.seccompProfile type Localhost`,
  }[runtime ?? 'none']
  if (errno === 'EPERM' && NICE_GATED.has(syscall)) {
    expect(hasSysNice(profile)).toBe(false)
    expect(text).toBe(
      `a seccomp filter blocks ${syscall} and this process lacks CAP_SYS_NICE: the default profiles of Docker and containerd (Kubernetes' RuntimeDefault) allow ${syscall} only to a container that has it; ${capFix}`,
    )
  } else if (errno === 'EPERM') {
    // move_pages, migrate_pages: SYS_NICE does not help, and the hint says so.
    expect(text).toBe(
      `a seccomp filter blocks ${syscall}: the default profiles of Docker, Podman and containerd (Kubernetes' RuntimeDefault) never allow it, with or without CAP_SYS_NICE; ${profileFix}`,
    )
  } else {
    expect(syscall).toBe('set_mempolicy_home_node')
    expect(text).toBe(
      kernelHasHomeNode
        ? `a seccomp filter answered ENOSYS: this kernel (${release()}) has set_mempolicy_home_node (Linux 5.17+), but the filter does not allow it (Podman's default profile does not list it); ${profileFix}`
        : `this kernel (${release()}) predates set_mempolicy_home_node, which Linux 5.17 added`,
    )
  }
}

const DESCRIPTIONS: Record<string, string> = { EPERM: 'operation not permitted', ENOSYS: 'function not implemented' }

describe.skipIf(missing !== undefined)("under each runtime's default seccomp profile", { timeout: SLOW }, () => {
  describe.each(PROFILES.map((p) => [p]))('%s', (profile) => {
    let out: Record<string, Outcome>
    beforeAll(() => {
      out = exercise(profile)
    }, SLOW)

    it("the child really runs under the filter, with the runtime's capabilities", () => {
      const status = (out.status as { ok: { seccomp: string; capEff: string; mems: string } }).ok
      expect(status.seccomp).toBe('2')
      expect((BigInt(`0x${status.capEff}`) >> 23n) & 1n).toBe(hasSysNice(profile) ? 1n : 0n)
      // CAP_SYS_ADMIN (21) is in no runtime's default set.
      expect((BigInt(`0x${status.capEff}`) >> 21n) & 1n).toBe(0n)
    })

    it('every call the profile refuses throws its errno, naming the filter and the fix for this runtime', () => {
      for (const [name, syscalls] of Object.entries(USES)) {
        const first = firstRefusal(profile, syscalls)
        const outcome = out[name]!
        if (first === undefined) {
          expect(outcome, name).toHaveProperty('ok')
          continue
        }
        const [syscall, errno] = first
        expect(outcome, name).toHaveProperty('error')
        const error = (outcome as { error: Failure }).error
        expect(error, name).toMatchObject({ name: 'MempolicyError', code: errno, syscall })
        expectHint(profile, syscall, errno, error.hint, runtimeOf(profile))
        expect(error.message, name).toBe(`${errno}: ${DESCRIPTIONS[errno]}, ${syscall} (${error.hint})`)
      }
    })

    it('the calls it allows do their job, as the kernel shows', () => {
      const ok = (name: string): unknown => (out[name] as { ok: unknown }).ok
      if (answer(profile, 'set_mempolicy') === 'allow') expect(ok('setMempolicy')).toBe(`bind:${node}`)
      if (answer(profile, 'set_mempolicy') === 'allow') expect(ok('setMempolicyProcess')).toBe('default')
      if (answer(profile, 'get_mempolicy') === 'allow') expect(ok('getMempolicy')).toEqual({ mode: 'default', nodes: [], flags: [] })
      if (answer(profile, 'mbind') === 'allow') {
        expect(ok('mbind')).toEqual({ byteOffset: 0, byteLength: 8 * pageSize })
        if (answer(profile, 'get_mempolicy') === 'allow') expect(ok('policyOf')).toEqual({ mode: 'bind', nodes: [node], flags: [] })
      }
      if (answer(profile, 'move_pages') === 'allow') expect(ok('pageNodes')).toEqual(Array(8).fill(node))
      if (firstRefusal(profile, USES.spawn!) === undefined) expect(ok('spawn')).toBe(`interleave:${node}`)
    })

    it('what needs no refused call is answered: memsAllowed from /proc, topology from sysfs, capabilities() lists the blocked calls', () => {
      const ok = (name: string): unknown => {
        expect(out[name], name).toHaveProperty('ok')
        return (out[name] as { ok: unknown }).ok
      }
      const status = ok('status') as { mems: string }
      expect(ok('isSupported')).toBe(true)
      expect(ok('memsAllowed')).toEqual(memsAllowed())
      expect(formatList(ok('memsAllowed') as number[])).toBe(status.mems)
      expect(ok('parseNodes')).toEqual(memsAllowed())
      const topo = ok('topology') as ReturnType<typeof topology>
      const here = topology()
      expect({ ...topo, nodes: topo.nodes.map((n) => ({ ...n, memFree: 0 })) }).toEqual({
        ...here,
        nodes: here.nodes.map((n) => ({ ...n, memFree: 0 })),
      })
      expect(ok('interleaveWeights')).toEqual(interleaveWeights())
      expect(ok('allocPlain')).toBe(4 * pageSize)
      expect(ok('spawnPlain')).toBe('default')
      expect(ok('fromOci')).toEqual({ mode: 'bind', nodes: [node], flags: ['static-nodes'] })
      expect(ok('toOci')).toEqual({ mode: 'MPOL_INTERLEAVE', nodes: String(node) })
      expect(ok('formatNodes')).toBe('0-3')
      const caps = ok('capabilities') as { supported: boolean; seccomp: unknown; memsAllowed: number[]; moveAll: boolean; modes: string[] }
      const blocked = refused(profile)
      expect(caps.supported).toBe(true)
      expect(caps.seccomp).toEqual({
        filtered: true,
        blocked,
        errors: Object.fromEntries(blocked.map((s) => [s, answer(profile, s)])),
      })
      expect(caps.memsAllowed).toEqual(memsAllowed())
      expect(caps.moveAll).toBe(hasSysNice(profile))
      // Modes are probed with set_mempolicy: none where it is refused.
      if (answer(profile, 'set_mempolicy') !== 'allow') expect(caps.modes).toEqual([])
      else expect(caps.modes).toContain('bind')
    })
  })

  it("names the fix for the runtime it finds: Kubernetes over Docker's marks, and both forms where it finds none", () => {
    const kube = exercise('docker', { env: { KUBERNETES_SERVICE_HOST: '10.96.0.1' } })
    const kubeHint = (kube.setMempolicy as { error: Failure }).error.hint!
    expect(kubeHint).toContain('securityContext.capabilities.add: ["SYS_NICE"]')
    expect(kubeHint).not.toContain('--cap-add')
    for (const profile of ['docker', 'podman'] as const) {
      const none = exercise(profile, { marks: false })
      const syscall = firstRefusal(profile, USES.movePages!)!
      expectHint(profile, syscall[0], syscall[1], (none.movePages as { error: Failure }).error.hint, undefined)
      if (profile === 'docker')
        expectHint(profile, 'set_mempolicy', 'EPERM', (none.setMempolicy as { error: Failure }).error.hint, undefined)
    }
  })

  it('the fixes the hints name work: CAP_SYS_NICE for the memory-policy calls, a profile that allows move_pages and migrate_pages', () => {
    const fixed = exercise('docker+SYS_NICE', { rules: { move_pages: 'allow', migrate_pages: 'allow' } })
    for (const name of Object.keys(USES)) expect(fixed[name], name).toHaveProperty('ok')
    expect((fixed.pageNodes as { ok: number[] }).ok).toEqual(Array(8).fill(node))
    expect((fixed.capabilities as { ok: { seccomp: unknown } }).ok.seccomp).toEqual({ filtered: true, blocked: [], errors: {} })
  })

  it("ENOSYS from a filter is told apart from the kernel's: a call the kernel has is named as filtered", () => {
    // A profile that answers ENOSYS for set_mempolicy, which every kernel with NUMA support has.
    const out = exercise('podman', { rules: { set_mempolicy: 'ENOSYS' } })
    const error = (out.setMempolicy as { error: Failure }).error
    expect(error).toMatchObject({ code: 'ENOSYS', syscall: 'set_mempolicy' })
    expect(error.hint).toBe(
      `a seccomp filter answered ENOSYS: this kernel (${release()}) has set_mempolicy (it has NUMA support: /proc/self/numa_maps exists), but the filter does not allow it; start the container with a seccomp profile that allows set_mempolicy: podman run --security-opt seccomp=<file>`,
    )
    expect((out.capabilities as { ok: { seccomp: { errors: unknown } } }).ok.seccomp.errors).toEqual({
      set_mempolicy: 'ENOSYS',
      move_pages: 'EPERM',
      migrate_pages: 'EPERM',
      set_mempolicy_home_node: 'ENOSYS',
    })
  })
})

function formatList(ids: number[]): string {
  const parts: string[] = []
  for (let i = 0; i < ids.length; i++) {
    let j = i
    while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++
    parts.push(j > i ? `${ids[i]}-${ids[j]}` : `${ids[i]}`)
    i = j
  }
  return parts.join(',')
}

// ---------------------------------------------------------------------------------------------
// The CLI under each profile, side by side with numactl under the same filter.

const FREE = /^node \d+ free: .*$/gm

describe.skipIf(missing !== undefined || !hasNumactl)('mempolicy and numactl under each profile', { timeout: SLOW }, () => {
  describe.each(PROFILES.map((p) => [p]))('%s', (profile) => {
    const ours = (...args: string[]): SpawnSyncReturns<string> => run(profile, [process.execPath, cli, ...args])
    const theirs = (...args: string[]): SpawnSyncReturns<string> => run(profile, ['numactl', ...args])

    it('--hardware prints what numactl prints, byte for byte but the free memory, exit 0', () => {
      const [a, b] = [ours('--hardware'), theirs('--hardware')]
      expect(b.status).toBe(0)
      expect(a.stderr).toBe(b.stderr)
      expect(a.status).toBe(b.status)
      expect(a.stdout.replace(FREE, 'free')).toBe(b.stdout.replace(FREE, 'free'))
      expect(a.stdout).toMatch(/^available: \d+ nodes/)
    })

    it('--show shows what it can and names seccomp for the rest', () => {
      const [a, b] = [ours('--show'), theirs('--show')]
      if (answer(profile, 'get_mempolicy') === 'allow') {
        expect(a.stdout).toBe(b.stdout)
        expect(a.stderr).toBe(b.stderr)
        expect(a.status).toBe(b.status)
        return
      }
      // numactl prints the lines it cannot know as if the policy were the default, warning once per
      // refused get_mempolicy; numactl 2.0.19 and later give up ("No NUMA support available"), exit 1.
      const lines = a.stdout.split('\n')
      expect(lines).toEqual([
        'policy: unknown',
        'preferred node: unknown',
        expect.stringMatching(/^physcpubind: /),
        expect.stringMatching(/^cpubind: /),
        expect.stringMatching(/^nodebind: /),
        'membind: unknown',
        'preferred: unknown',
        '',
      ])
      const shared = (text: string): string[] => text.split('\n').filter((l) => /^(physcpubind|cpubind|nodebind):/.test(l))
      if (b.stdout.includes('No NUMA support available')) {
        expect(b.status).toBe(1)
        expect(shared(a.stdout)[0]).toBe(shared(b.stdout)[0])
      } else {
        expect(b.status).toBe(0)
        expect(a.status).toBe(b.status)
        expect(shared(a.stdout)).toEqual(shared(b.stdout))
        expect(b.stdout).toMatch(/^policy: default$/m)
        expect(new Set(b.stderr.trim().split('\n'))).toEqual(new Set(['get_mempolicy: Operation not permitted']))
      }
      expect(a.stderr).toMatch(
        /^mempolicy: the policy, preferred node, membind and preferred are unknown: EPERM: operation not permitted, get_mempolicy \(a seccomp filter blocks get_mempolicy and this process lacks CAP_SYS_NICE: .*\)\n$/,
      )
    })

    it('a policy the profile refuses fails as numactl does, exit 1, naming the filter; one it allows works', () => {
      for (const args of [
        ['-m', `${node}`, '--show'],
        ['-i', `${node}`, '--', 'true'],
        ['-l', '--', 'true'],
      ]) {
        const [a, b] = [ours(...args), theirs(...args.filter((x) => x !== '--'))]
        expect(a.status, args.join(' ')).toBe(b.status)
        // The command runs in place of mempolicy, so set_mempolicy is its first call, as numactl's.
        const first = firstRefusal(profile, ['set_mempolicy'])
        if (first === undefined) {
          expect(a.status).toBe(0)
          expect(a.stderr).toBe('')
          if (args.includes('--show')) expect(a.stdout).toBe(b.stdout)
        } else {
          expect(a.status).toBe(1)
          expect(b.stderr).toMatch(/set_mempolicy: Operation not permitted/)
          expect(a.stderr).toMatch(
            new RegExp(
              `^mempolicy: setting the policy: EPERM: operation not permitted, ${first[0]} \\(a seccomp filter blocks ${first[0]} and this process lacks CAP_SYS_NICE`,
            ),
          )
        }
      }
      const plain = ours('--', 'true')
      expect(plain.status).toBe(0)
      expect(theirs('true').status).toBe(0)
    })
  })
})

// The harness itself: every syscall of the table, made raw, gets what the profile's source says.
describe.skipIf(missing !== undefined)('the seccomp harness', { timeout: SLOW }, () => {
  it('answers each syscall of the table as each profile does', () => {
    if ('missing' in harness) return
    const names = { [-errno.EPERM]: 'EPERM', [-errno.ENOSYS]: 'ENOSYS' } as Record<number, Answer>
    const unfiltered = Object.fromEntries(
      spawnSync(harness.probe, SYSCALLS, { encoding: 'utf8' })
        .stdout.trim()
        .split('\n')
        .map((l: string) => l.split('=')),
    )
    let checked = 0
    for (const profile of PROFILES) {
      const got = run(profile, [harness.probe, ...SYSCALLS])
      expect(got.status, got.stderr).toBe(0)
      const answers = Object.fromEntries(
        got.stdout
          .trim()
          .split('\n')
          .map((l) => l.split('=')),
      )
      for (const syscall of SYSCALLS) {
        const rc = Number(answers[syscall])
        const expected = answer(profile, syscall)
        if (expected === 'allow') {
          // What the kernel itself answers, as without a filter.
          expect(answers[syscall], `${profile} ${syscall}`).toBe(unfiltered[syscall])
          expect(names[rc], `${profile} ${syscall}`).toBeUndefined()
        } else {
          expect(names[rc], `${profile} ${syscall}`).toBe(expected)
        }
        checked++
      }
    }
    expect(checked).toBe(PROFILES.length * SYSCALLS.length)
  })
})

// ---------------------------------------------------------------------------------------------
// Other container realities, each made for real in a child: a read-only /sys, a cpuset cgroup
// (v1 here; v2 in the guests, test/numa/containers.four.test.ts), root in a user namespace, and
// /sys/devices/system/node hidden.

const isRoot = process.getuid?.() === 0
const canUnshare = isRoot && spawnSync('unshare', ['-m', 'true']).status === 0
// A rootless container: an unprivileged user (nobody here) who is root in a user namespace of its own.
const ROOTLESS = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--', 'unshare', '--user', '--map-root-user']
const canUserns = isRoot && spawnSync(ROOTLESS[0]!, [...ROOTLESS.slice(1), 'true']).status === 0
const WEIGHTS = '/sys/kernel/mm/mempolicy/weighted_interleave'

/** Runs a node script in a private mount namespace after `setup` (shell) ran there; returns its JSON. */
function inNamespace(
  setup: string,
  script: string,
  prefix: string[] = ['unshare', '-m', '--propagation', 'private'],
): Record<string, Outcome> {
  const source = `
    const mp = require(${JSON.stringify(dist)})
    const out = {}
    const record = async (name, fn) => {
      try { const v = await fn(); out[name] = { ok: v === undefined ? null : v } } catch (e) { out[name] = { error: { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, hint: e.hint, message: e.message, path: e.path } } }
    }
    ;(async () => { ${script} })().then(() => process.stdout.write(JSON.stringify(out)))
  `
  const { LD_PRELOAD: _preload, MEMPOLICY_PREBUILD: _build, ...env } = process.env
  const run = spawnSync(prefix[0]!, [...prefix.slice(1), 'sh', '-c', `set -e; ${setup}; exec "$@"`, 'sh', process.execPath, '-e', source], {
    encoding: 'utf8',
    env,
    timeout: 60_000,
  })
  expect(run.stderr).toBe('')
  expect(run.status).toBe(0)
  return JSON.parse(run.stdout) as Record<string, Outcome>
}

/** The same, for a command line: stdout, stderr and status. */
function shellInNamespace(setup: string, command: string): SpawnSyncReturns<string> {
  return spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `set -e; ${setup}; ${command}`], {
    encoding: 'utf8',
    timeout: 60_000,
  })
}

const errorOf = (outcome: Outcome | undefined): Failure => {
  expect(outcome).toHaveProperty('error')
  return (outcome as { error: Failure & { path?: string } }).error
}

describe('other container realities', { timeout: SLOW }, () => {
  it.skipIf(!canUnshare || !existsSync(WEIGHTS))(
    'a read-only /sys: writing interleave weights fails with EROFS and says so; nothing changes',
    () => {
      const before = { weights: interleaveWeights(), auto: interleaveWeightsAuto() }
      const [first] = Object.keys(before.weights)
      const out = inNamespace(
        'mount -o remount,bind,ro /sys',
        `
      await record('weights', () => mp.interleaveWeights())
      await record('set', () => mp.setInterleaveWeights({ ${first}: ${before.weights[Number(first)]} }))
      await record('auto', () => mp.setInterleaveWeightsAuto(false))
      await record('topology', () => mp.topology().online)
    `,
      )
      expect(out.weights).toEqual({ ok: before.weights })
      for (const name of ['set', 'auto']) {
        const error = errorOf(out[name])
        expect(error).toMatchObject({ name: 'MempolicyError', code: 'EROFS', syscall: 'write' })
        expect(error.hint).toBe(
          '/sys is mounted read-only here (sysfs), as container runtimes mount /sys: the weights are system-wide, so set them on the host',
        )
      }
      expect(out.topology).toEqual({ ok: topology().online })
      expect({ weights: interleaveWeights(), auto: interleaveWeightsAuto() }).toEqual(before)
    },
  )

  it.skipIf(!canUnshare)(
    '/sys/devices/system/node hidden: topology() and --hardware say what is missing, node ids are bounded by Mems_allowed',
    () => {
      const hide = 'mount -t tmpfs tmpfs /sys/devices/system/node'
      const out = inNamespace(
        hide,
        `
      await record('topology', () => mp.topology())
      await record('memsAllowed', () => mp.memsAllowed())
      await record('all', () => mp.parseNodes('all'))
      await record('beyond', () => mp.setMempolicy({ mode: 'bind', nodes: [1023] }))
      await record('pastWidth', () => mp.setMempolicy({ mode: 'bind', nodes: [1024] }))
      await record('caps', () => mp.capabilities().memsAllowed)
    `,
      )
      const hidden =
        '/sys/devices/system/node has no node list: a tmpfs is mounted over /sys/devices/system/node, hiding what the kernel publishes there'
      const error = errorOf(out.topology) as Failure & { path?: string }
      expect(error).toMatchObject({
        name: 'MempolicyError',
        code: 'ENOENT',
        syscall: 'open',
        path: '/sys/devices/system/node/online',
        hint: hidden,
      })
      expect(out.memsAllowed).toEqual({ ok: memsAllowed() })
      expect(out.all).toEqual({ ok: memsAllowed() })
      expect(out.caps).toEqual({ ok: memsAllowed() })
      // The bound: the width of Mems_allowed in /proc/self/status (the kernel's MAX_NUMNODES).
      const width =
        readFileSync('/proc/self/status', 'latin1')
          .match(/^Mems_allowed:\s*([0-9a-f,]+)$/m)![1]!
          .replace(/,/g, '').length * 4
      if (width === 1024) {
        expect(errorOf(out.pastWidth)).toMatchObject({ code: 'ERR_OUT_OF_RANGE' })
        const beyond = errorOf(out.beyond)
        expect(beyond).toMatchObject({ code: 'EINVAL', syscall: 'set_mempolicy' })
        expect(beyond.hint).toBe(
          `node 1023 is not among this thread's allowed nodes (${formatList(memsAllowed())}); whether it is online or has memory is unknown: ${hidden}`,
        )
      }
      const hardware = shellInNamespace(hide, `${process.execPath} ${cli} --hardware`)
      expect(hardware.stdout).toBe('')
      expect(hardware.stderr).toBe(`mempolicy: cannot show the hardware: ${hidden}\n`)
      expect(hardware.status).toBe(1)
      if (hasNumactl) {
        // numactl prints an empty machine and exits 0; its --show prints cpubind and nodebind empty.
        expect(shellInNamespace(hide, 'numactl --hardware').stdout).toMatch(/^available: 0 nodes \(\)/)
        const [a, b] = [shellInNamespace(hide, `${process.execPath} ${cli} --show`), shellInNamespace(hide, 'numactl --show')]
        expect(b.stdout).toMatch(/^cpubind: \nnodebind: \n/m)
        expect(a.stdout).toBe(b.stdout.replace(/^cpubind: \nnodebind: \n/m, 'cpubind: unknown\nnodebind: unknown\n'))
        expect(a.stderr).toBe(`mempolicy: cpubind and nodebind are unknown: ${hidden}\n`)
        expect(b.stderr).toBe('')
        expect(a.status).toBe(b.status)
      }
    },
  )

  it.skipIf(!canUserns || !existsSync(WEIGHTS))(
    'root in a user namespace (rootless): sysfs writes and MOVE_ALL are refused, with why; capabilities() agrees',
    () => {
      // Refused by the file's owner and mode before anything is written (the weights are root's).
      const weights = interleaveWeights()
      const [first] = Object.keys(weights)
      const out = inNamespace(
        'true',
        `
      await record('uidMap', () => require('node:fs').readFileSync('/proc/self/uid_map', 'latin1').trim().split(/\\s+/).join(' '))
      await record('set', () => mp.setInterleaveWeights({ ${first}: ${weights[Number(first)]} }))
      await record('caps', () => { const c = mp.capabilities(); return { moveAll: c.moveAll, modes: c.modes.length > 0 } })
      const memory = mp.alloc(4 * mp.pageSize)
      memory.fill(1)
      await record('moveAll', () => mp.mbind(memory, { mode: 'bind', nodes: [${node}] }, { move: true, moveAll: true }))
      await record('policy', () => { mp.setMempolicy({ mode: 'bind', nodes: [${node}] }); mp.setMempolicy({ mode: 'default' }); return true })
    `,
        ROOTLESS,
      )
      const error = errorOf(out.set)
      expect(['EACCES', 'EPERM']).toContain(error.code)
      expect(error.hint).toBe(
        `writing ${WEIGHTS}/node${first} needs root in the initial user namespace; this process is root only in a user namespace of its own (/proc/self/uid_map: ${(out.uidMap as { ok: string }).ok}), as in a rootless container`,
      )
      expect(errorOf(out.moveAll).hint).toMatch(
        /^moveAll \(MPOL_MF_MOVE_ALL\) needs CAP_SYS_NICE in the initial user namespace; this process has it only in a user namespace of its own/,
      )
      // Setting a policy needs no capability at all.
      expect(out.policy).toEqual({ ok: true })
      expect(out.caps).toEqual({ ok: { moveAll: false, modes: true } })
      expect(interleaveWeights()).toEqual(weights)
    },
  )
})

// cgroup v1's cpuset hierarchy, as this host has it (the guests mount cgroup2 only).
const V1 = '/sys/fs/cgroup/cpuset'
const v1Writable = isRoot && existsSync(`${V1}/cpuset.cpus`) && readFileSync('/proc/self/mountinfo', 'latin1').includes(' - cgroup cgroup ')

describe.skipIf(!v1Writable)('a cgroup v1 cpuset', { timeout: SLOW }, () => {
  const group = `${V1}/mempolicy-test-${process.pid}`
  afterAll(() => {
    if (existsSync(group)) rmdirSync(group)
  })

  it('a child in a nested cpuset: capabilities() reads its cpuset.effective_mems, memsAllowed and --show agree with numactl', () => {
    mkdirSync(group)
    const cpu = readFileSync(`${V1}/cpuset.effective_cpus`, 'latin1').trim().split(/[,-]/)[0]!
    writeFileSync(`${group}/cpuset.mems`, readFileSync(`${V1}/cpuset.effective_mems`, 'latin1').trim())
    writeFileSync(`${group}/cpuset.cpus`, cpu)
    const enter = `echo $$ > ${group}/cgroup.procs`
    const script = `
      const mp = require(${JSON.stringify(dist)})
      const fs = require('node:fs')
      process.stdout.write(JSON.stringify({
        cgroup: fs.readFileSync('/proc/self/cgroup', 'latin1').split('\\n').find((l) => /:cpuset(,|:)/.test(l)),
        caps: mp.capabilities().cpusetMems,
        mems: mp.memsAllowed(),
        cpus: /^Cpus_allowed_list:\\s*(\\S+)/m.exec(fs.readFileSync('/proc/self/status', 'latin1'))[1],
      }))
    `
    const child = spawnSync('sh', ['-c', `${enter}; exec "$@"`, 'sh', process.execPath, '-e', script], { encoding: 'utf8' })
    expect(child.stderr).toBe('')
    const out = JSON.parse(child.stdout) as { cgroup: string; caps: number[]; mems: number[]; cpus: string }
    expect(out.cgroup).toMatch(new RegExp(`:cpuset:/mempolicy-test-${process.pid}$`))
    expect(out.caps).toEqual(parseIds(readFileSync(`${group}/cpuset.effective_mems`, 'latin1')))
    expect(out.mems).toEqual(out.caps)
    expect(out.cpus).toBe(cpu)
    if (hasNumactl) {
      const ours = spawnSync('sh', ['-c', `${enter}; exec ${process.execPath} ${cli} --show`], { encoding: 'utf8' })
      const theirs = spawnSync('sh', ['-c', `${enter}; exec numactl --show`], { encoding: 'utf8' })
      expect([ours.stdout, ours.stderr, ours.status]).toEqual([theirs.stdout, theirs.stderr, theirs.status])
      expect(ours.stdout).toContain(`physcpubind: ${cpu} \n`)
    }
  })
})

function parseIds(text: string): number[] {
  const out: number[] = []
  for (const part of text.trim().split(',').filter(Boolean)) {
    const [a, b = a] = part.split('-').map(Number)
    for (let i = a!; i <= b!; i++) out.push(i)
  }
  return out
}
