// Threads: the thread policy is per thread (Workers never see each other's), and the addon loads and
// unloads cleanly in Workers that come and go, including Workers terminated in the middle of a call.
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { getMempolicy, memsAllowed, setMempolicy } from '../src/index'
import { kernelThreadPolicy, keepingPolicyAsync } from './kernel-view'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!

/** A Worker running `body` (the source of an async function taking the package, its data and its tid). */
function start(body: string, data: unknown): Worker {
  return new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads')
    const fs = require('node:fs')
    const mp = require(${JSON.stringify(dist)})
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop())
    Promise.resolve((${body})(mp, workerData, tid)).then(
      (r) => parentPort.postMessage({ ok: r }),
      (e) => parentPort.postMessage({ error: String(e && e.stack || e) }))
  `,
    { eval: true, workerData: data },
  )
}

function result<T>(worker: Worker): Promise<T> {
  return new Promise((resolve, reject) => {
    worker.once('message', (m: { ok?: T; error?: string }) => (m.error === undefined ? resolve(m.ok as T) : reject(new Error(m.error))))
    worker.once('error', reject)
  })
}

function exited(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve))
}

/**
 * Threads of this process that can still run: a thread that has let go of its memory map (its
 * status shows no Vm lines) is in the kernel's exit path, which on a busy machine can take a while
 * after Worker's 'exit' (the thread is joined as soon as it has left the map), but will never run
 * again. Counting those would count what the scheduler has not got round to yet.
 */
const tasks = (): number =>
  readdirSync('/proc/self/task').filter((tid) => {
    try {
      return /^VmRSS:/m.test(readFileSync(`/proc/self/task/${tid}/status`, 'latin1'))
    } catch {
      return false // gone
    }
  }).length

// Eight policies that differ in mode, flags or both; all on a node this host has.
const POLICIES = [
  { mode: 'bind', nodes: [node], flags: [] },
  { mode: 'interleave', nodes: [node], flags: [] },
  { mode: 'preferred', nodes: [node], flags: [] },
  { mode: 'preferred-many', nodes: [node], flags: [] },
  { mode: 'weighted-interleave', nodes: [node], flags: [] },
  { mode: 'bind', nodes: [node], flags: ['static-nodes'] },
  { mode: 'interleave', nodes: [node], flags: ['relative-nodes'] },
  { mode: 'bind', nodes: [node], flags: ['numa-balancing'] },
]

describe('Workers', () => {
  it("8 Workers setting and reading their own policy 10,000 times each never see another's", async () => {
    await keepingPolicyAsync(async () => {
      setMempolicy({ mode: 'local' })
      const gate = new Int32Array(new SharedArrayBuffer(4))
      const workers = POLICIES.map((policy, i) =>
        start(
          `async (mp, { policy, others, gate, count }, tid) => {
        const fs = require('node:fs')
        const wait = new Int32Array(gate)
        Atomics.add(wait, 0, 1)
        // Start together, so that the loops overlap.
        while (Atomics.load(wait, 0) < count) Atomics.wait(wait, 0, Atomics.load(wait, 0), 10)
        const wrong = []
        const json = JSON.stringify(policy)
        for (let i = 0; i < 10000; i++) {
          // Every other round sets one of the other Workers' policies first, then its own back.
          if (i % 2 === 1) mp.setMempolicy(others[i % others.length])
          mp.setMempolicy(policy)
          const seen = JSON.stringify(mp.getMempolicy())
          if (seen !== json && wrong.length < 5) wrong.push(seen)
          if (i % 2500 === 0) {
            // The kernel's own view of this thread: numa_maps prints it on VMAs without a policy.
            const line = fs.readFileSync('/proc/self/task/' + tid + '/numa_maps', 'latin1').split('\\n')
              .find((l) => / file=/.test(l) && l.includes('file=' + process.execPath))
            if (line !== undefined) wrong.push('kernel: ' + line.split(' file=')[0].split(' ').slice(1).join(' '))
          }
        }
        return wrong
      }`,
          { policy, others: POLICIES.filter((_, j) => j !== i), gate: gate.buffer, count: POLICIES.length },
        ),
      )
      // Listening for 'exit' from the start: a Worker whose script is done may end before it is terminated.
      const exits = workers.map((w) => exited(w))
      const seen = await Promise.all(workers.map((w) => result<string[]>(w)))
      await Promise.all(workers.map((w) => w.terminate()))
      await Promise.all(exits)
      const kernel = [
        'bind',
        'interleave',
        'prefer',
        'prefer (many)',
        'weighted interleave',
        'bind=static',
        'interleave=relative',
        'bind=balancing',
      ]
      seen.forEach((wrong, i) => {
        // What the Worker read back was always its own policy; the kernel showed its own, four times.
        expect(
          wrong.filter((w) => !w.startsWith('kernel: ')),
          `Worker ${i}`,
        ).toEqual([])
        expect(
          wrong.filter((w) => w.startsWith('kernel: ')),
          `Worker ${i}`,
        ).toEqual(Array(4).fill(`kernel: ${kernel[i]}:${node}`))
      })
      // And the main thread kept its own.
      expect(getMempolicy()).toEqual({ mode: 'local', nodes: [], flags: [] })
      expect(kernelThreadPolicy()).toBe('local')
    })
  }, 60_000)

  it('50 Workers load and unload the addon, some terminated mid-call, and the process goes on', async () => {
    await keepingPolicyAsync(async () => {
      setMempolicy({ mode: 'preferred', nodes: [node] })
      // A first Worker that uses every kind of call, so the libuv pool and V8's threads exist before counting.
      const body = `async (mp, { node, spin }) => {
        const P = mp.pageSize
        for (let i = 0; ; i++) {
          mp.setMempolicy({ mode: i % 2 ? 'bind' : 'interleave', nodes: [node] })
          mp.getMempolicy()
          const memory = mp.alloc(16 * P, { mode: 'bind', nodes: [node] })
          memory.fill(i)
          mp.mbind(memory.subarray(P), { mode: 'preferred', nodes: [node] })
          mp.policyOf(memory)
          mp.pageNodes(memory)
          mp.movePages(memory, node).catch(() => {})
          mp.mbindAsync(memory, { mode: 'interleave', nodes: [node] }).catch(() => {})
          if (!spin && i === 20) return mp.getMempolicy()
          if (i % 8 === 0) await new Promise((r) => setImmediate(r))
        }
      }`
      const first = start(body, { node, spin: false })
      expect(await result(first)).toEqual({ mode: 'interleave', nodes: [node], flags: [] })
      await first.terminate()
      const before = tasks()

      let ended = 0
      for (let batch = 0; batch < 10; batch++) {
        const workers = [0, 1, 2, 3, 4].map((j) => ({ j, worker: start(body, { node, spin: j !== 4 }) }))
        await Promise.all(
          workers.map(async ({ j, worker }) => {
            const exit = exited(worker)
            worker.on('error', () => {})
            if (j === 0) {
              // Terminated at once: before the package, or the addon, has even loaded.
              await worker.terminate()
            } else if (j === 4) {
              await result(worker)
              await worker.terminate()
            } else {
              // Terminated mid-loop: calls on the thread and on the pool are in flight.
              await new Promise((resolve) => worker.once('online', resolve))
              await new Promise((resolve) => setTimeout(resolve, 20 * j))
              await worker.terminate()
            }
            await exit
            ended++
          }),
        )
      }
      expect(ended).toBe(50)
      // Every Worker's thread is gone, and the main thread's policy is untouched.
      expect(tasks()).toBeLessThanOrEqual(before)
      expect(getMempolicy()).toEqual({ mode: 'preferred', nodes: [node], flags: [] })
      expect(kernelThreadPolicy()).toBe(`prefer:${node}`)
      // A Worker started now loads the addon as the first one did.
      const last = start(body, { node, spin: false })
      expect(await result(last)).toEqual({ mode: 'interleave', nodes: [node], flags: [] })
      await last.terminate()
    })
  }, 60_000)
})
