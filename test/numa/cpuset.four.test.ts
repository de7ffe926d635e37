// Node flags under a cgroup v2 cpuset restriction (the 'four' guest): a child process joins a cgroup
// whose cpuset.mems it then changes; memsAllowed() follows the cpuset, a bind outside it is refused
// with a hint naming the allowed nodes, plain node lists are remapped when the cpuset changes,
// 'static-nodes' keeps the ids as given and 'relative-nodes' counts within the allowed set. Pages are
// checked by the oracle.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { afterAll, expect, it } from 'vitest'

import { oracleAddonPath } from '../oracle/index'
import { describeNuma, nodeCpus } from './helpers'

const dist = path.join(__dirname, '..', '..', 'dist', 'index.js')
const cli = path.join(__dirname, '..', '..', 'dist', 'cli.js')
const root = '/sys/fs/cgroup'
const group = `${root}/mempolicy-test-${process.pid}`

const CHILD = `
const fs = require('node:fs')
const mp = require(process.env.MP_DIST)
const m = { exports: {} }; process.dlopen(m, process.env.ORACLE_ADDON); const oracle = m.exports
const group = process.env.MP_GROUP
const mems = (list) => fs.writeFileSync(group + '/cpuset.mems', list)
const touched = () => { const b = new Uint8Array(oracle.mapIsolated(64 * mp.pageSize)); for (let i = 0; i < b.length; i += mp.pageSize) b[i] = 1; const c = {}; for (const n of oracle.pageNodes(b)) c[n] = (c[n] || 0) + 1; return c }
const out = {}
// The sets A = 1-2 and B = 1,3 both hold node 1, where this process (pinned to node 1's CPU) keeps its
// own memory: the kernel has nothing of ours to migrate when cpuset.mems changes.
const A = '1-2', B = '1,3'
mems(A)
fs.writeFileSync(group + '/cgroup.procs', String(process.pid))
out.allowed = mp.memsAllowed()
try { mp.setMempolicy({ mode: 'bind', nodes: [0] }); out.outside = 'accepted' } catch (e) { out.outside = { code: e.code, syscall: e.syscall, message: e.message } }
out.outsidePolicy = mp.getMempolicy()

// A plain list follows the cpuset: bind {2}, the second node of {1,2}, becomes {3}, the second of {1,3}.
mp.setMempolicy({ mode: 'bind', nodes: [2] })
out.plainBefore = touched()
mems(B)
out.allowedAfter = mp.memsAllowed()
out.plainAfter = { policy: mp.getMempolicy(), pages: touched() }

// static-nodes keeps the ids: {2,3} in {1,2} uses 2 only; in {1,3}, 3 only.
mems(A)
mp.setMempolicy({ mode: 'interleave', nodes: [2, 3], flags: ['static-nodes'] })
out.staticBefore = { policy: mp.getMempolicy(), pages: touched() }
mems(B)
out.staticAfter = { policy: mp.getMempolicy(), pages: touched() }

// relative-nodes counts within the allowed set: 1 is the second allowed node, 2 in {1,2}, 3 in {1,3}.
mems(A)
mp.setMempolicy({ mode: 'bind', nodes: [1], flags: ['relative-nodes'] })
out.relativeBefore = { policy: mp.getMempolicy(), pages: touched() }
mems(B)
out.relativeAfter = { policy: mp.getMempolicy(), pages: touched() }
console.log(JSON.stringify(out))
`

describeNuma('cpuset restriction and node flags', { topology: 'four', memoryNodes: 4 }, () => {
  afterAll(() => {
    if (existsSync(group)) rmdirSync(group)
  })

  it('memsAllowed follows the cpuset; static and relative flags behave as the kernel documents', () => {
    expect(readFileSync(`${root}/cgroup.controllers`, 'latin1')).toMatch(/\bcpuset\b/)
    if (!readFileSync(`${root}/cgroup.subtree_control`, 'latin1').includes('cpuset'))
      writeFileSync(`${root}/cgroup.subtree_control`, '+cpuset')
    mkdirSync(group)
    // Started on node 1's CPU by the package's own command line (-C, exec in place), as taskset would.
    const run = spawnSync(process.execPath, [cli, '-C', nodeCpus(1).join(','), '--', process.execPath, '-e', CHILD], {
      encoding: 'utf8',
      timeout: 120_000,
      env: { ...process.env, MP_DIST: dist, ORACLE_ADDON: oracleAddonPath(), MP_GROUP: group },
    })
    expect(run.status, run.stderr).toBe(0)
    const out = JSON.parse(run.stdout.trim().split('\n').at(-1)!)

    expect(out.allowed).toEqual([1, 2])
    expect(out.outside).toMatchObject({ code: 'EINVAL', syscall: 'set_mempolicy' })
    expect(out.outside.message).toMatch(/node 0 is outside this thread's allowed nodes \(cpuset\.mems\): 1-2/)
    expect(out.outsidePolicy).toEqual({ mode: 'default', nodes: [], flags: [] })

    expect(out.plainBefore).toEqual({ 2: 64 })
    expect(out.allowedAfter).toEqual([1, 3])
    expect(out.plainAfter).toEqual({ policy: { mode: 'bind', nodes: [3], flags: [] }, pages: { 3: 64 } })

    expect(out.staticBefore).toEqual({ policy: { mode: 'interleave', nodes: [2, 3], flags: ['static-nodes'] }, pages: { 2: 64 } })
    expect(out.staticAfter).toEqual({ policy: { mode: 'interleave', nodes: [2, 3], flags: ['static-nodes'] }, pages: { 3: 64 } })

    expect(out.relativeBefore).toEqual({ policy: { mode: 'bind', nodes: [1], flags: ['relative-nodes'] }, pages: { 2: 64 } })
    expect(out.relativeAfter).toEqual({ policy: { mode: 'bind', nodes: [1], flags: ['relative-nodes'] }, pages: { 3: 64 } })
  })
})
