// A container on a multi-node machine (the 'four' guest, cgroup v2): a child joins a cgroup whose
// cpuset.mems is 1-2 and runs under a runtime's default seccomp profile (test/seccomp/profiles.ts).
// Under Docker's, which refuses get_mempolicy, the allowed nodes still come from /proc and are the
// cpuset's, capabilities() reads the v2 cgroup's cpuset.mems.effective, and --show and --hardware
// agree with numactl's under the same filter; under Podman's the policy lines match numactl's too.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { afterAll, beforeAll, expect, it } from 'vitest'

import { seccompHarness, type Harness, type Profile } from '../seccomp/profiles'
import { describeNuma } from './helpers'

const root = path.join(__dirname, '..', '..')
const dist = path.join(root, 'dist', 'index.js')
const cli = path.join(root, 'dist', 'cli.js')
const cgroups = '/sys/fs/cgroup'
const group = `${cgroups}/mempolicy-containers-${process.pid}`
const enter = `echo $$ > ${group}/cgroup.procs && exec "$@"`

const SCRIPT = `
const fs = require('node:fs')
const mp = require(process.env.MP_DIST)
const attempt = (fn) => { try { return { ok: fn() } } catch (e) { return { error: { code: e.code, syscall: e.syscall, hint: e.hint } } } }
process.stdout.write(JSON.stringify({
  cgroup: fs.readFileSync('/proc/self/cgroup', 'latin1').trim(),
  status: /^Mems_allowed_list:\\s*(\\S+)/m.exec(fs.readFileSync('/proc/self/status', 'latin1'))[1],
  memsAllowed: attempt(() => mp.memsAllowed()),
  all: attempt(() => mp.parseNodes('all')),
  caps: attempt(() => { const c = mp.capabilities(); return { cpusetMems: c.cpusetMems, memsAllowed: c.memsAllowed, blocked: c.seccomp.blocked } }),
  bindOutside: attempt(() => mp.setMempolicy({ mode: 'bind', nodes: [0] })),
  online: attempt(() => mp.topology().online),
}))
`

let harness: Harness | undefined
let missing: string | undefined

describeNuma('a container in a cgroup v2 cpuset', { topology: 'four', memoryNodes: 4 }, () => {
  beforeAll(() => {
    const built = seccompHarness()
    if ('missing' in built) missing = built.missing
    else harness = built
    if (!readFileSync(`${cgroups}/cgroup.subtree_control`, 'latin1').includes('cpuset'))
      writeFileSync(`${cgroups}/cgroup.subtree_control`, '+cpuset')
    mkdirSync(group)
    writeFileSync(`${group}/cpuset.mems`, '1-2')
  })
  afterAll(() => {
    harness?.dispose()
    if (existsSync(group)) rmdirSync(group)
  })

  const inGroup = (profile: Profile, argv: string[]): ReturnType<Harness['run']> => {
    if (harness === undefined) throw new Error(`the seccomp harness needs ${missing}`)
    return harness.run(profile, ['sh', '-c', enter, 'sh', ...argv], { env: { MP_DIST: dist } })
  }

  it("under Docker's profile: the cpuset's nodes from /proc, capabilities() from cpuset.mems.effective, a bind outside refused by the filter", () => {
    const run = inGroup('docker', [process.execPath, '-e', SCRIPT])
    expect(run.stderr).toBe('')
    const out = JSON.parse(run.stdout)
    expect(out.cgroup).toBe(`0::/${path.basename(group)}`)
    expect(out.status).toBe('1-2')
    expect(out.memsAllowed).toEqual({ ok: [1, 2] })
    expect(out.all).toEqual({ ok: [1, 2] })
    expect(out.caps.ok).toEqual({
      cpusetMems: [1, 2],
      memsAllowed: [1, 2],
      blocked: ['get_mempolicy', 'set_mempolicy', 'mbind', 'move_pages', 'migrate_pages', 'set_mempolicy_home_node'],
    })
    // The filter answers before the kernel could say node 0 is outside the cpuset.
    expect(out.bindOutside.error).toMatchObject({ code: 'EPERM', syscall: 'set_mempolicy' })
    expect(out.bindOutside.error.hint).toMatch(/^a seccomp filter blocks set_mempolicy and this process lacks CAP_SYS_NICE/)
    expect(out.online).toEqual({ ok: [0, 1, 2, 3] })
  })

  it("under Podman's profile the kernel answers: the bind outside the cpuset is refused with the cpuset's nodes", () => {
    const run = inGroup('podman', [process.execPath, '-e', SCRIPT])
    expect(run.stderr).toBe('')
    const out = JSON.parse(run.stdout)
    expect(out.memsAllowed).toEqual({ ok: [1, 2] })
    expect(out.caps.ok.cpusetMems).toEqual([1, 2])
    expect(out.bindOutside.error).toMatchObject({ code: 'EINVAL', syscall: 'set_mempolicy' })
    expect(out.bindOutside.error.hint).toBe(
      "node 0 is outside this thread's allowed nodes (cpuset.mems): 1-2; nodes with memory you may use: 1-2",
    )
  })

  for (const profile of ['docker', 'podman'] as Profile[]) {
    it(`--hardware and --show in the cpuset under ${profile}'s profile, beside numactl's`, () => {
      const free = /^node \d+ free: .*$/gm
      const [a, b] = [inGroup(profile, [process.execPath, cli, '--hardware']), inGroup(profile, ['numactl', '--hardware'])]
      expect([a.stdout.replace(free, ''), a.stderr, a.status]).toEqual([b.stdout.replace(free, ''), b.stderr, b.status])
      expect(a.stdout).toMatch(/^available: 4 nodes \(0-3\)$/m)
      const [s, t] = [inGroup(profile, [process.execPath, cli, '--show']), inGroup(profile, ['numactl', '--show'])]
      const binds = (text: string): string[] => text.split('\n').filter((l) => /^(physcpubind|cpubind|nodebind):/.test(l))
      expect(binds(s.stdout)).toEqual(binds(t.stdout))
      expect(s.stdout).toMatch(/^cpubind: 1 2 $/m)
      expect(s.status).toBe(t.status)
      if (profile === 'podman') {
        expect(s.stdout).toBe(t.stdout)
        expect(s.stdout).toMatch(/^membind: 1 2 $/m)
      } else {
        expect(s.stdout).toMatch(/^policy: unknown$/m)
        expect(s.stderr).toMatch(/get_mempolicy \(a seccomp filter blocks get_mempolicy/)
      }
    })
  }
})
