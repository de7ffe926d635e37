import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { getMempolicy, memsAllowed, setMempolicy } from '../src/index'
import { kernelThreadPolicy, keepingPolicyAsync } from './kernel-view'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!

/** Runs `body` (a function source taking the package) in a new Worker and resolves with what it returns. */
function inWorker<T>(body: string, data: unknown = null): Promise<T> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads')
    const fs = require('node:fs')
    const mp = require(${JSON.stringify(dist)})
    // This thread's id: the last field of /proc/thread-self, a link to /proc/<pid>/task/<tid>.
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop())
    Promise.resolve((${body})(mp, workerData, tid)).then((r) => parentPort.postMessage({ ok: r }), (e) => parentPort.postMessage({ error: String(e && e.stack || e) }))
  `
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, { eval: true, workerData: data })
    worker.once('message', (m: { ok?: T; error?: string }) => (m.error === undefined ? resolve(m.ok as T) : reject(new Error(m.error))))
    worker.once('error', reject)
  })
}

describe('Workers', () => {
  it('load the addon and have a thread policy of their own', async () => {
    await keepingPolicyAsync(async () => {
      setMempolicy({ mode: 'bind', nodes: [node] })
      // A thread starts with its creator's policy; what the Worker sets stays its own.
      const seen = await inWorker<{ start: unknown; after: unknown }>(
        `(mp, data) => {
        const start = mp.getMempolicy()
        mp.setMempolicy({ mode: 'interleave', nodes: [data] })
        return { start, after: mp.getMempolicy() }
      }`,
        node,
      )
      expect(seen.start).toEqual({ mode: 'bind', nodes: [node], flags: [] })
      expect(seen.after).toEqual({ mode: 'interleave', nodes: [node], flags: [] })
      expect(getMempolicy()).toEqual({ mode: 'bind', nodes: [node], flags: [] })
      expect(kernelThreadPolicy()).toBe(`bind:${node}`)
    })
  })

  it("keep their policy while the main thread changes its own (the kernel's per-thread view agrees)", async () => {
    const results = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        inWorker<{ policy: unknown; kernel: string }>(
          `async (mp, data, tid) => {
      const modes = ['interleave', 'preferred', 'bind', 'weighted-interleave']
      mp.setMempolicy({ mode: modes[data.i], nodes: [data.node] })
      await new Promise((r) => setTimeout(r, 50))
      // numa_maps of this task prints its own policy on VMAs without one (docs/kernel.md, "numa_maps").
      const maps = fs.readFileSync('/proc/self/task/' + tid + '/numa_maps', 'latin1')
      const stack = maps.split('\\n').find((l) => / stack /.test(l)) || ''
      // A VMA without a policy of its own: the heap, or (where malloc uses no heap, as under ASan) node's own text.
      const marks = ['heap', 'file=' + process.execPath]
      const text = maps.split('\\n').map((l) => l.split(' ').slice(1)).find((t) => t[0] !== 'default' && t.some((x) => marks.includes(x)))
      return { policy: mp.getMempolicy(), kernel: text ? text.slice(0, text.findIndex((x) => marks.includes(x))).join(' ') : '' }
    }`,
          { i, node },
        ),
      ),
    )
    const expected = ['interleave', 'preferred', 'bind', 'weighted-interleave']
    const kernel = [`interleave:${node}`, `prefer:${node}`, `bind:${node}`, `weighted interleave:${node}`]
    results.forEach((r, i) => {
      expect(r.policy).toEqual({ mode: expected[i], nodes: [node], flags: [] })
      expect(r.kernel).toBe(kernel[i])
    })
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
    expect(kernelThreadPolicy()).toBe('default')
  })

  it('share range policies with the main thread (mbind is per mapping, not per thread)', async () => {
    const shared = new SharedArrayBuffer(16 * 4096)
    const policy = await inWorker<unknown>(
      `(mp, data) => {
      mp.mbind(data, { mode: 'interleave', nodes: [0], flags: ['static-nodes'] })
      return mp.policyOf(data)
    }`,
      shared,
    )
    const { policyOf, mbind } = await import('../src/index')
    expect(policyOf(shared)).toEqual(policy)
    expect(policyOf(shared)).toEqual({ mode: 'interleave', nodes: [0], flags: ['static-nodes'] })
    mbind(shared, { mode: 'default' })
  })
})
