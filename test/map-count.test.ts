// vm.max_map_count: every alloc() buffer is a mapping, and every mbind() on part of a mapping splits it.
// Near the limit the package stops with an error that names the limit and the sysctl, while mappings
// are left for V8 (a new heap page, a Worker's stack), so the process goes on. Each case runs in a
// process of its own: without the limit, V8 itself dies there (SIGSEGV in the collector, or "Committing
// semi space failed").
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { memsAllowed } from '../src/index'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!
const limit = Number(readFileSync('/proc/sys/vm/max_map_count', 'latin1'))

interface Outcome {
  made: number
  error: { name: string; code: string; errno: number; message: string; mappings: number; maxMapCount: number }
  afterwards: { worker: string; heapMiB: number; alloc: boolean }
}

/** Runs `fill` (a function source taking the package, returning how many mappings it made before the error). */
function exhaust(fill: string): Outcome {
  const script = `
    const mp = require(${JSON.stringify(dist)})
    const { Worker } = require('node:worker_threads')
    const node = ${node}
    let made = 0
    let error
    try {
      made = (${fill})(mp, node)
    } catch (err) {
      error = { name: err.name, code: err.code, errno: err.errno, message: err.message, mappings: err.mappings, maxMapCount: err.maxMapCount }
      made = err.made
    }
    // The process goes on: V8 grows its heap, collects, and a Worker starts (a stack, a heap).
    const junk = []
    for (let i = 0; i < 200; i++) junk.push(new Array(100000).fill(i))
    globalThis.gc()
    const heapMiB = Math.round(process.memoryUsage().heapUsed / 2 ** 20)
    junk.length = 0
    globalThis.gc()
    const worker = new Worker("require('node:worker_threads').parentPort.postMessage('worker ran')", { eval: true })
    worker.once('message', async (worker) => {
      // Once the buffers are let go (finalizers run on the event loop), alloc() works again.
      globalThis.kept = undefined
      for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)) }
      let alloc = false
      try { mp.alloc(mp.pageSize); alloc = true } catch {}
      console.log(JSON.stringify({ made, error, afterwards: { worker, heapMiB, alloc } }))
      process.exit(0)
    })
  `
  const out = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 24 })
  expect({ status: out.status, signal: out.signal, stderr: out.stderr.slice(0, 2000) }).toEqual({ status: 0, signal: null, stderr: '' })
  return JSON.parse(out.stdout) as Outcome
}

function expectLimitError(r: Outcome): void {
  expect(r.error).toMatchObject({ name: 'MempolicyError', code: 'ENOMEM', maxMapCount: limit })
  expect(r.error.message).toContain('vm.max_map_count')
  expect(r.error.message).toMatch(/sysctl -w vm\.max_map_count=\d+/)
  // Stopped short of the limit, with room left for V8 and the C library.
  expect(r.error.mappings).toBeLessThan(limit)
  expect(r.error.mappings).toBeGreaterThan(limit / 2)
  expect(r.afterwards).toMatchObject({ worker: 'worker ran', alloc: true })
  expect(r.afterwards.heapMiB).toBeGreaterThan(100)
}

describe(`vm.max_map_count (${limit} here)`, () => {
  it('alloc() with alternating policies stops with an error naming the limit, and the process goes on', () => {
    const r = exhaust(`(mp, node) => {
      globalThis.kept = []
      for (let i = 0; ; i++) {
        try {
          kept.push(mp.alloc(mp.pageSize, { mode: i % 2 ? 'bind' : 'interleave', nodes: [node] }))
        } catch (err) {
          err.made = i
          throw err
        }
      }
    }`)
    console.log(`[map-count] alloc(): ${r.made} buffers, then ${r.error.code} at ${r.error.mappings} of ${r.error.maxMapCount} mappings`)
    expectLimitError(r)
    expect(r.made).toBeGreaterThan(limit / 2)
  }, 120_000)

  it('mbind() on every other page stops the same way', () => {
    const r = exhaust(`(mp, node) => {
      const pages = ${limit}
      const memory = mp.alloc(pages * mp.pageSize)
      globalThis.kept = [memory]
      for (let i = 0; i < pages; i += 2) {
        try {
          mp.mbind(memory.subarray(i * mp.pageSize, (i + 1) * mp.pageSize), { mode: 'bind', nodes: [node] })
        } catch (err) {
          err.made = i / 2
          throw err
        }
      }
      return pages
    }`)
    console.log(`[map-count] mbind(): ${r.made} ranges, then ${r.error.code} at ${r.error.mappings} of ${r.error.maxMapCount} mappings`)
    expectLimitError(r)
  }, 120_000)
})
