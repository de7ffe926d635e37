// Process scope against the races real programs make, each in a process of its own: a thread inside
// spawn() borrowing its policy for a child, a Worker whose spawnSync blocks signals around fork, and
// two copies of the package (two versions in one dependency tree) calling at once. The verdict is the
// kernel's view of each thread (/proc/self/task/<tid>/numa_maps) or what the package reported, counted
// over many rounds; nothing depends on how fast the machine is.
import { spawnSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { memsAllowed } from '../src/index'

const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist', 'index.js')
const node = memsAllowed()[0]!

// Shared by every child: the policies the rounds go through (distinct as the kernel prints them, on
// the one node every host has) and a reader of a thread's policy as the kernel holds it.
const prelude = `
  const fs = require('node:fs')
  const { Worker } = require('node:worker_threads')
  const node = ${node}
  const POLICIES = [
    { mode: 'bind', nodes: [node] },
    { mode: 'interleave', nodes: [node] },
    { mode: 'preferred', nodes: [node] },
    { mode: 'preferred-many', nodes: [node] },
    { mode: 'weighted-interleave', nodes: [node] },
    { mode: 'bind', nodes: [node], flags: ['static-nodes'] },
    { mode: 'interleave', nodes: [node], flags: ['relative-nodes'] },
    { mode: 'default' },
  ]
  const kernelPolicy = (tid) => fs.readFileSync('/proc/self/task/' + tid + '/numa_maps', 'latin1')
    .split('\\n').find((l) => l.includes(' stack')).split(' ')[1]
  const tids = () => fs.readdirSync('/proc/self/task').map(Number)
  const ownTid = () => Number(fs.readlinkSync('/proc/thread-self').split('/').pop())
  const worker = (source, workerData) => new Worker(prelude + source, { eval: true, workerData })
`

function runChild<T>(script: string, args: string[] = []): T {
  const out = spawnSync(process.execPath, ['-e', `const prelude = ${JSON.stringify(prelude)}\n${prelude}\n${script}`, ...args], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  })
  expect({ status: out.status, signal: out.signal, stderr: out.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
  return JSON.parse(out.stdout) as T
}

describe('a process-scope call while another thread is inside spawn()', () => {
  it('is true when it returns: the spawning thread never restores a policy from before the call', () => {
    // The Worker spawns children under 'local' in a loop; after each spawn() returns it reads the
    // round counter, its own policy, and the counter again. Round k's call set POLICIES[k % 8] on
    // every thread before the counter said k; so the policy read must be one of rounds s2 to s3 + 1
    // (s3 + 1 may be under way). A restore of a policy saved before the call would be round s2 - 1's.
    const r = runChild<{ rounds: number; checked: number; wrong: string[]; spawns: number }>(`
      const mp = require(${JSON.stringify(dist)})
      const done = new Int32Array(new SharedArrayBuffer(12))
      const spawner = worker(\`
        const { workerData, parentPort } = require('node:worker_threads')
        const mp = require(\${JSON.stringify(${JSON.stringify(dist)})})
        const done = workerData
        const wrong = []
        let checked = 0
        let spawns = 0
        ;(async () => {
          Atomics.store(done, 1, 1)
          while (Atomics.load(done, 0) >= 0) {
            const child = mp.spawn('/bin/true', [], { stdio: 'ignore', mempolicy: { mode: 'local' } })
            spawns++
            Atomics.store(done, 2, spawns)
            const s2 = Atomics.load(done, 0)
            const seen = JSON.stringify(mp.getMempolicy())
            const s3 = Atomics.load(done, 0)
            if (s2 >= 1 && s3 >= 0 && s3 + 1 - s2 < POLICIES.length) {
              checked++
              const allowed = []
              for (let k = s2; k <= s3 + 1; k++) allowed.push(JSON.stringify(normal(POLICIES[k % POLICIES.length])))
              if (!allowed.includes(seen)) wrong.push('after round ' + s2 + ': ' + seen)
            }
            await new Promise((resolve) => child.once('exit', resolve))
          }
          parentPort.postMessage({ wrong, checked, spawns })
        })()
        function normal(p) { return { mode: p.mode, nodes: p.nodes ?? [], flags: p.flags ?? [] } }
      \`, done)
      const result = new Promise((resolve) => spawner.once('message', resolve))
      ;(async () => {
        while (Atomics.load(done, 1) === 0) await new Promise((r) => setImmediate(r))
        const rounds = 300
        let seen = 0
        for (let k = 1; k <= rounds; k++) {
          mp.setMempolicy(POLICIES[k % POLICIES.length], { scope: 'process' })
          Atomics.store(done, 0, k)
          // Every 10 rounds, wait for a spawn that started after the last wait (the loop turns meanwhile:
          // the children's exits are reaped on this thread), so calls and spawns overlap however the
          // machine schedules the two threads.
          if (k % 10 === 0) {
            const mark = seen + 1
            while ((seen = Atomics.load(done, 2)) < mark + 1) await new Promise((r) => setImmediate(r))
          }
        }
        Atomics.store(done, 0, -1)
        const r = await result
        await spawner.terminate()
        console.log(JSON.stringify({ rounds, ...r }))
      })()
    `)
    console.log(
      `[races] spawn() in a Worker during ${r.rounds} process-scope calls: ${r.spawns} spawns, ${r.checked} checked, ${r.wrong.length} wrong`,
    )
    expect(r.wrong).toEqual([])
    // Enough overlap to mean something: the Worker spawned throughout the calls (by construction).
    expect(r.checked).toBeGreaterThanOrEqual(30)
  }, 120_000)

  it('reaches a Worker whose spawnSync blocks signals around fork, rather than reporting it skipped', () => {
    const r = runChild<{ rounds: number; skipped: number; missed: string[]; spawns: number }>(`
      const mp = require(${JSON.stringify(dist)})
      const state = new Int32Array(new SharedArrayBuffer(12))
      const forker = worker(\`
        const { workerData, parentPort } = require('node:worker_threads')
        const { spawnSync } = require('node:child_process')
        const state = workerData
        Atomics.store(state, 1, ownTid())
        let spawns = 0
        while (Atomics.load(state, 0) === 0) { spawnSync('/bin/true'); Atomics.store(state, 2, ++spawns) }
        parentPort.postMessage(spawns)
      \`, state)
      const spawns = new Promise((resolve) => forker.once('message', resolve))
      ;(async () => {
        while (Atomics.load(state, 1) === 0) await new Promise((r) => setImmediate(r))
        const tid = Atomics.load(state, 1)
        const rounds = 200
        let skipped = 0
        const missed = []
        for (let k = 1; k <= rounds; k++) {
          const policy = POLICIES[k % POLICIES.length]
          const result = mp.setMempolicy(policy, { scope: 'process' })
          if (result.skipped.some((s) => s.tid === tid)) skipped++
          // Nothing else changes the Worker's policy: what the call set is what the kernel holds.
          const kernel = kernelPolicy(tid)
          const expected = kernelPolicy(process.pid)
          if ((!result.threads.includes(tid) || kernel !== expected)) missed.push(k + ': ' + kernel + ' not ' + expected)
          // Every 10 rounds, wait for a spawn to start and end, so the Worker forks throughout.
          if (k % 10 === 0) {
            const mark = Atomics.load(state, 2) + 1
            while (Atomics.load(state, 2) < mark) await new Promise((r) => setImmediate(r))
          }
        }
        Atomics.store(state, 0, 1)
        console.log(JSON.stringify({ rounds, skipped, missed, spawns: await spawns }))
        await forker.terminate()
      })()
    `)
    console.log(`[races] spawnSync in a Worker during ${r.rounds} process-scope calls: ${r.spawns} spawns, ${r.skipped} reported skipped`)
    expect(r.skipped).toBe(0)
    expect(r.missed).toEqual([])
    expect(r.spawns).toBeGreaterThanOrEqual(r.rounds / 10) // by construction
  }, 120_000)
})

describe('two copies of the package in one process', () => {
  let copy: string
  beforeAll(() => {
    // A second package directory with its own copy of the built addon, as a second version of the
    // package in the same dependency tree would have: loaded separately, with statics of its own.
    copy = mkdtempSync(path.join(os.tmpdir(), 'mempolicy-copy-'))
    cpSync(path.join(root, 'dist'), path.join(copy, 'dist'), { recursive: true })
    // The addon this process loaded (the sanitized build under npm run test:asan), copied.
    const loaded = readFileSync('/proc/self/maps', 'latin1')
      .split('\n')
      .map((l) => l.split(/\s+/)[5])
      .find((f) => f !== undefined && f.endsWith('.node') && f.includes('mempolicy'))
    cpSync(loaded ?? path.join(root, 'build', 'Release', 'mempolicy.node'), path.join(copy, 'build', 'Release', 'mempolicy.node'))
    // Its own name, so that node-gyp-build's MEMPOLICY_PREBUILD (set by the sanitizer runs) does not
    // point this copy at the first copy's file.
    const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string }
    writeFileSync(path.join(copy, 'package.json'), JSON.stringify({ ...manifest, name: 'mempolicy-second-copy' }))
    symlinkSync(path.join(root, 'node_modules'), path.join(copy, 'node_modules'))
  })
  afterAll(() => rmSync(copy, { recursive: true, force: true }))

  it('exclude each other: concurrent process-scope calls leave every thread under one policy, round after round', () => {
    const r = runChild<{ rounds: number; split: string[]; addons: number }>(
      `
      const [a, b] = [process.argv[1], process.argv[2]]
      const sync = new Int32Array(new SharedArrayBuffer(16))
      // Each Worker loads its own copy; both call at once (a barrier), then one reads every thread.
      const body = \`
        const { workerData, parentPort } = require('node:worker_threads')
        const [dist, sync, me, rounds] = workerData
        const mp = require(dist)
        const split = []
        const barrier = (slot, target) => { Atomics.add(sync, slot, 1); while (Atomics.load(sync, slot) < target) Atomics.wait(sync, slot, Atomics.load(sync, slot), 5) }
        for (let r = 0; r < rounds; r++) {
          barrier(0, 2 * (r + 1))
          mp.setMempolicy(POLICIES[me + 2 * (r % 3)], { scope: 'process' })
          barrier(1, 2 * (r + 1))
          if (me === 0) {
            const seen = new Map()
            for (const tid of tids()) { try { seen.set(tid, kernelPolicy(tid)) } catch {} }
            const kinds = new Set(seen.values())
            // Node's watchdog thread blocks every signal and keeps the default policy.
            kinds.delete('default')
            if (kinds.size !== 1) split.push('round ' + r + ': ' + [...kinds].join(' / '))
          }
          barrier(2, 2 * (r + 1))
        }
        const addons = new Set(fs.readFileSync('/proc/self/maps', 'latin1').split('\\\\n')
          .map((l) => l.split(/\\\\s+/)[5]).filter((f) => f && f.endsWith('mempolicy.node'))).size
        parentPort.postMessage({ split, addons })
      \`
      const rounds = 60
      const workers = [a, b].map((dist, me) => worker(body, [dist, sync, me, rounds]))
      Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve)))).then(async ([first]) => {
        await Promise.all(workers.map((w) => w.terminate()))
        console.log(JSON.stringify({ rounds, ...first }))
      })
    `,
      [dist, path.join(copy, 'dist', 'index.js')],
    )
    console.log(`[races] two copies of the addon (${r.addons} mapped), ${r.rounds} rounds of concurrent calls: ${r.split.length} split`)
    expect(r.addons).toBe(2)
    expect(r.split).toEqual([])
  }, 120_000)
})
