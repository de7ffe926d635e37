// The modes and range options on the 'four' guest (nodes 0-3, one CPU each, ~768 MiB each), through
// the package, checked by the oracle: local allocation follows the CPU, preferred-many stays in its set,
// preferred falls back when its node is full while bind does not, mbind with move migrates and with
// strict reports misplaced pages, and a home node steers a multi-node bind.
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'

import { afterAll, beforeAll, expect, it } from 'vitest'

import { alloc, MempolicyError, mbind, pageSize, setHomeNode, spawn } from '../../src/index'
import { mapIsolated, oracleAddonPath } from '../oracle/index'
import { describeNuma, memoryNodes, nodeCpus, nodeMeminfo, placement, touch, underThreadPolicy } from './helpers'

const MiB = 1 << 20
const dist = path.join(__dirname, '..', '..', 'dist', 'index.js')

/**
 * Runs a script in a child Node process (optionally started on some CPUs, by spawn's `cpus`) that gets the
 * package as `mp` and the oracle as `oracle`; returns its JSON output, exit status and signal.
 */
async function child(
  script: string,
  options: { cpus?: number[] } = {},
): Promise<{ result?: unknown; status: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const prelude = `
    const mp = require(${JSON.stringify(dist)})
    const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(oracleAddonPath())}); const oracle = m.exports
    const touch = (b) => { for (let i = 0; i < b.length; i += mp.pageSize) b[i] = 1; return b }
    const placement = (b) => { const s = oracle.pageNodes(b); const c = {}; for (const n of s) if (n >= 0) c[n] = (c[n] || 0) + 1; return c }
  `
  const proc = spawn(process.execPath, ['-e', prelude + script], {
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.cpus === undefined ? {} : { cpus: options.cpus }),
  })
  let stdout = ''
  let stderr = ''
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d
  })
  const [status, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    proc.on('close', (c, s) => resolve([c, s])),
  )
  const last = stdout.trim().split('\n').at(-1) ?? ''
  let result: unknown
  try {
    result = last === '' ? undefined : JSON.parse(last)
  } catch {
    result = undefined
  }
  return { result, status, signal, stderr }
}

describeNuma('modes, fallback and range options on four nodes', { topology: 'four', memoryNodes: 4 }, () => {
  const nodes = memoryNodes()

  it("'local' allocates on the node of the CPU that touches the page, for each node", async () => {
    // One child pinned to each node's CPU, all at once.
    const runs = await Promise.all(
      nodes.map((node) =>
        child(
          `
      mp.setMempolicy({ mode: 'local' })
      const b = touch(new Uint8Array(oracle.mapIsolated(256 * mp.pageSize)))
      console.log(JSON.stringify(placement(b)))
    `,
          { cpus: nodeCpus(node) },
        ),
      ),
    )
    runs.forEach((run, i) => {
      expect(run.status, run.stderr).toBe(0)
      expect(run.result).toEqual({ [nodes[i]!]: 256 })
    })
  })

  it("'preferred-many' keeps pages within its set, near the CPU first", async () => {
    // From node 0's CPU, with {2, 3} preferred: node 2 is nearer (distance 30 vs 40).
    const run = await child(
      `
      mp.setMempolicy({ mode: 'preferred-many', nodes: [2, 3] })
      const b = touch(new Uint8Array(oracle.mapIsolated(256 * mp.pageSize)))
      console.log(JSON.stringify(placement(b)))
    `,
      { cpus: nodeCpus(0) },
    )
    expect(run.status, run.stderr).toBe(0)
    expect(run.result).toEqual({ 2: 256 })
    const memory = touch(alloc(256 * pageSize, { mode: 'preferred-many', nodes: [1, 3] }, { hugePages: false }))
    const counts = placement(memory)
    expect(Object.keys(counts).every((n) => n === '1' || n === '3')).toBe(true)
  })

  // Filling a node touches hundreds of MiB: with transparent huge pages (madvised by alloc) that is a
  // few hundred faults instead of a few hundred thousand, which matters under emulation.
  const thp = '/sys/kernel/mm/transparent_hugepage/enabled'
  let thpBefore = ''
  beforeAll(() => {
    thpBefore = /\[(\w+)\]/.exec(readFileSync(thp, 'latin1'))![1]!
    writeFileSync(thp, 'madvise')
  })
  afterAll(() => writeFileSync(thp, thpBefore))

  /** More than the node holds at all (reclaiming its page cache cannot make room): 64 MiB past MemTotal. */
  const overflow = (node: number): number => Math.ceil((nodeMeminfo(node).MemTotal! * 1024 + 64 * MiB) / (2 * MiB)) * 2 * MiB

  it("'preferred' falls back to other nodes when its node is full", async () => {
    const full = nodes.at(-1)!
    const bytes = overflow(full)
    const run = await child(`
      const b = touch(mp.alloc(${bytes}, { mode: 'preferred', nodes: [${full}] }, { hugePages: true }))
      console.log(JSON.stringify(placement(b)))
    `)
    expect(run.status, run.stderr).toBe(0)
    const counts = run.result as Record<string, number>
    const total = Object.values(counts).reduce((a, b) => a + b, 0)
    expect(total).toBe(bytes / pageSize)
    expect(counts[full]).toBeGreaterThan(0)
    expect(total - (counts[full] ?? 0)).toBeGreaterThan(0)
  })

  it("'bind' does not fall back: a child that overflows its node is killed, and the test run goes on", async () => {
    const full = nodes.at(-1)!
    const bytes = overflow(full)
    const run = await child(`
      // This child, not the test run, is the one the OOM killer should pick.
      require('node:fs').writeFileSync('/proc/self/oom_score_adj', '1000')
      const b = mp.alloc(${bytes}, { mode: 'bind', nodes: [${full}] }, { hugePages: true })
      touch(b)
      console.log(JSON.stringify(placement(b)))
    `)
    // Killed by the OOM killer (SIGKILL), or, where the kernel refuses instead, a failure with ENOMEM.
    expect(
      run.signal === 'SIGKILL' || (run.status !== 0 && /ENOMEM|out of memory/i.test(run.stderr)),
      `${run.status} ${run.signal} ${run.stderr}`,
    ).toBe(true)
    expect(run.result).toBeUndefined()
  })

  it('mbind with move migrates pages already touched; without move they stay', () => {
    const memory = touch(alloc(512 * pageSize, { mode: 'bind', nodes: [0] }, { hugePages: false }))
    expect(placement(memory)).toEqual({ 0: 512 })
    mbind(memory, { mode: 'bind', nodes: [2] })
    expect(placement(memory)).toEqual({ 0: 512 })
    mbind(memory, { mode: 'bind', nodes: [2] }, { move: true })
    expect(placement(memory)).toEqual({ 2: 512 })
    mbind(memory, { mode: 'interleave', nodes: [1, 3] }, { move: true })
    expect(placement(memory)).toEqual({ 1: 256, 3: 256 })
  })

  it('strict reports misplaced pages with EIO, and with move moves them instead', () => {
    const memory = touch(alloc(64 * pageSize, { mode: 'bind', nodes: [1] }, { hugePages: false }))
    let thrown: unknown
    try {
      mbind(memory, { mode: 'bind', nodes: [3] }, { strict: true })
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(MempolicyError)
    expect(thrown).toMatchObject({ code: 'EIO', errno: -5, syscall: 'mbind' })
    expect((thrown as Error).message).toMatch(/move: true/)
    expect(placement(memory)).toEqual({ 1: 64 })
    expect(mbind(memory, { mode: 'bind', nodes: [3] }, { strict: true, move: true }).byteLength).toBe(64 * pageSize)
    expect(placement(memory)).toEqual({ 3: 64 })
  })

  it('a home node steers a multi-node bind', () => {
    for (const home of [3, 1]) {
      const memory = alloc(256 * pageSize, undefined, { hugePages: false })
      mbind(memory, { mode: 'bind', nodes: nodes })
      setHomeNode(memory, home)
      underThreadPolicy({ mode: 'default' }, () => touch(memory))
      expect(placement(memory)).toEqual({ [home]: 256 })
    }
    const many = alloc(256 * pageSize, { mode: 'preferred-many', nodes: [0, 2] }, { hugePages: false })
    setHomeNode(many, 2)
    expect(placement(touch(many))).toEqual({ 2: 256 })
  })

  it('thread policy bind over two nodes keeps every page on them', () => {
    const memory = new Uint8Array(mapIsolated(4 * MiB))
    underThreadPolicy({ mode: 'bind', nodes: '1-2' }, () => touch(memory))
    const counts = placement(memory)
    expect(Object.keys(counts).every((n) => n === '1' || n === '2')).toBe(true)
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe((4 * MiB) / pageSize)
  })
})
