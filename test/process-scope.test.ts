// setMempolicy(policy, { scope: 'process' }): every thread of the process, proved per thread with the
// kernel's own view, /proc/self/task/<tid>/numa_maps, which prints each thread's policy on VMAs that
// have none of their own (docs/kernel.md, "numa_maps").
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { afterEach, describe, expect, it } from 'vitest'
import { MempolicyError, getMempolicy, memsAllowed, parseNodes, setMempolicy, type Policy, type ProcessPolicyResult } from '../src/index'
import { expectRejected, kernelThreadPolicy } from './kernel-view'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!

/** Every live thread's policy as the kernel prints it; threads that exit while being read are left out. */
function threadPolicies(): Map<number, string> {
  const seen = new Map<number, string>()
  for (const name of readdirSync('/proc/self/task')) {
    try {
      seen.set(Number(name), kernelThreadPolicy(Number(name)))
    } catch {
      // exited meanwhile
    }
  }
  return seen
}

function status(tid: number | 'self'): string {
  return readFileSync(tid === 'self' ? '/proc/self/status' : `/proc/self/task/${tid}/status`, 'latin1')
}

function field(text: string, key: string): string {
  return new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? ''
}

/** True when the thread blocks every real-time signal (SIGRTMIN..SIGRTMAX, 34..64 with glibc). */
function blocksAllRealtime(tid: number): boolean {
  const blocked = BigInt(`0x${field(status(tid), 'SigBlk')}`)
  for (let sig = 34; sig <= 64; sig++) if ((blocked & (1n << BigInt(sig - 1))) === 0n) return false
  return true
}

function expectEveryThread(result: ProcessPolicyResult, kernel: string): void {
  const skipped = new Set(result.skipped.map((s) => s.tid))
  for (const s of result.skipped) expect(blocksAllRealtime(s.tid), `skipped thread ${s.tid} blocks the signals`).toBe(true)
  const policies = threadPolicies()
  for (const [tid, policy] of policies) {
    if (skipped.has(tid)) continue
    expect(policy, `thread ${tid}`).toBe(kernel)
  }
  // Every live thread that was not skipped is reported as reached.
  for (const tid of policies.keys()) if (!skipped.has(tid)) expect(result.threads).toContain(tid)
}

function restoreAll(): void {
  setMempolicy({ mode: 'default' }, { scope: 'process' })
}

afterEach(() => {
  restoreAll()
  for (const [tid, policy] of threadPolicies()) expect(policy, `thread ${tid} after the test`).toBe('default')
})

/** Runs `body` (a function source taking the package, workerData and the thread id) in a new Worker. */
function startWorker(body: string, data: unknown = null): { worker: Worker; result: Promise<unknown> } {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads')
    const fs = require('node:fs')
    const mp = require(${JSON.stringify(dist)})
    const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop())
    Promise.resolve((${body})(mp, workerData, tid)).then((r) => parentPort.postMessage({ ok: r }), (e) => parentPort.postMessage({ error: String(e && e.stack || e) }))
  `
  const worker = new Worker(source, { eval: true, workerData: data })
  const result = new Promise((resolve, reject) => {
    worker.once('message', (m: { ok?: unknown; error?: string }) => (m.error === undefined ? resolve(m.ok) : reject(new Error(m.error))))
    worker.once('error', reject)
  })
  return { worker, result }
}

async function inWorker<T>(body: string, data?: unknown): Promise<T> {
  const { worker, result } = startWorker(body, data)
  try {
    return (await result) as T
  } finally {
    await worker.terminate()
  }
}

describe('setMempolicy options', () => {
  const snapshotUnchanged = (call: () => unknown, kind: typeof TypeError | typeof RangeError, code?: string): Error => {
    const before = threadPolicies()
    const err = expectRejected(call, kind, code)
    const after = threadPolicies()
    for (const [tid, policy] of after) if (before.has(tid) && tid !== process.pid) expect(policy, `thread ${tid}`).toBe(before.get(tid))
    return err
  }

  it('must be an object, whose scope is thread or process; nothing reaches any thread otherwise', () => {
    const policy: Policy = { mode: 'bind', nodes: [node] }
    for (const options of [null, 1, 'process', true]) {
      const err = snapshotUnchanged(() => setMempolicy(policy, options as never), TypeError, 'ERR_INVALID_ARG_TYPE')
      expect(err.message).toMatch(/"options" argument must be an object/)
    }
    expect(snapshotUnchanged(() => setMempolicy(policy, { scope: 1 } as never), TypeError, 'ERR_INVALID_ARG_TYPE').message).toMatch(
      /options\.scope/,
    )
    for (const scope of ['global', 'Process', '']) {
      expect(snapshotUnchanged(() => setMempolicy(policy, { scope } as never), TypeError, 'ERR_INVALID_ARG_VALUE').message).toMatch(
        /'options\.scope' must be 'thread' or 'process'/,
      )
    }
  })

  it('validate the policy first, with process scope too: an invalid one reaches no thread', () => {
    snapshotUnchanged(() => setMempolicy({ mode: 'bind' } as never, { scope: 'process' }), TypeError, 'ERR_INVALID_ARG_VALUE')
    snapshotUnchanged(
      () => setMempolicy({ mode: 'interleave', nodes: [node], flags: ['numa-balancing'] } as never, { scope: 'process' }),
      TypeError,
      'ERR_INVALID_ARG_VALUE',
    )
  })

  it("scope 'thread', or no scope, is the calling thread only", () => {
    for (const options of [{ scope: 'thread' as const }, {}, undefined]) {
      const others = [...threadPolicies().keys()].filter((t) => t !== process.pid)
      expect(setMempolicy({ mode: 'interleave', nodes: [node] }, options)).toBeUndefined()
      const after = threadPolicies()
      expect(after.get(process.pid)).toBe(`interleave:${node}`)
      for (const tid of others) if (after.has(tid)) expect(after.get(tid), `thread ${tid}`).toBe('default')
      setMempolicy({ mode: 'default' })
    }
  })
})

describe("setMempolicy(policy, { scope: 'process' })", () => {
  it('sets the policy on every thread: the kernel shows it in each thread’s numa_maps', () => {
    const caught = field(status('self'), 'SigCgt')
    const ignored = field(status('self'), 'SigIgn')
    const result = setMempolicy({ mode: 'interleave', nodes: [node] }, { scope: 'process' })
    expect(result.threads).toContain(process.pid)
    expect(result.threads).toEqual([...result.threads].sort((a, b) => a - b))
    expect(result.threads.length).toBeGreaterThan(1)
    expectEveryThread(result, `interleave:${node}`)
    expect(getMempolicy()).toEqual({ mode: 'interleave', nodes: [node], flags: [] })
    // The signal's previous disposition is back: no handler left installed, nothing left ignored.
    expect(field(status('self'), 'SigCgt')).toBe(caught)
    expect(field(status('self'), 'SigIgn')).toBe(ignored)

    const back = setMempolicy({ mode: 'default' }, { scope: 'process' })
    expectEveryThread(back, 'default')
  })

  it('carries mode flags and every mode to every thread', () => {
    const cases: [Policy, string][] = [
      [{ mode: 'bind', nodes: [node], flags: ['static-nodes'] }, `bind=static:${node}`],
      [{ mode: 'preferred', nodes: [node] }, `prefer:${node}`],
      [{ mode: 'local' }, 'local'],
      [{ mode: 'preferred-many', nodes: [node] }, `prefer (many):${node}`],
      [{ mode: 'weighted-interleave', nodes: [node] }, `weighted interleave:${node}`],
    ]
    for (const [policy, kernel] of cases) expectEveryThread(setMempolicy(policy, { scope: 'process' }), kernel)
  })

  it('reports the threads that block every real-time signal as skipped, and leaves them as they were', () => {
    // Node's SIGUSR1 watchdog thread (the inspector's) blocks all signals; no handler can run there.
    const blocking = [...threadPolicies().keys()].filter((tid) => blocksAllRealtime(tid))
    const result = setMempolicy({ mode: 'bind', nodes: [node] }, { scope: 'process' })
    expect(result.skipped.map((s) => s.tid).sort()).toEqual(blocking.sort())
    for (const s of result.skipped) {
      expect(s).toEqual({ tid: s.tid, name: expect.any(String), reason: 'signals-blocked' })
      expect(kernelThreadPolicy(s.tid)).toBe('default')
    }
  })

  it('reaches threads created afterwards: a new Worker and the libuv pool inherit the policy', async () => {
    setMempolicy({ mode: 'interleave', nodes: [node] }, { scope: 'process' })
    const seen = await inWorker<{ policy: unknown; kernel: string }>(`(mp, data, tid) => {
      const stack = fs.readFileSync('/proc/self/task/' + tid + '/numa_maps', 'latin1').split('\\n').find((l) => / stack /.test(l))
      return { policy: mp.getMempolicy(), kernel: stack.split(' ')[1] }
    }`)
    expect(seen).toEqual({ policy: { mode: 'interleave', nodes: [node], flags: [] }, kernel: `interleave:${node}` })
    // Work on the libuv pool (fs and crypto) runs on threads that carry the policy.
    await Promise.all([
      import('node:fs/promises').then((fs) => fs.readFile(__filename)),
      import('node:crypto').then((c) => new Promise((resolve) => c.pbkdf2('a', 'b', 1000, 32, 'sha256', resolve))),
    ])
    for (const [tid, policy] of threadPolicies()) if (!blocksAllRealtime(tid)) expect(policy, `thread ${tid}`).toBe(`interleave:${node}`)
  })

  it('in a fresh process, the libuv pool threads started after the call are born with the policy', () => {
    // The pool starts on first use; in this test process it already runs, so a child shows the birth.
    const script = `
      const fs = require('node:fs')
      const mp = require(${JSON.stringify(dist)})
      const tasks = () => fs.readdirSync('/proc/self/task').map(Number)
      const policyOf = (tid) => fs.readFileSync('/proc/self/task/' + tid + '/numa_maps', 'latin1').split('\\n').find((l) => / stack /.test(l)).split(' ')[1]
      const result = mp.setMempolicy({ mode: 'interleave', nodes: [${node}] }, { scope: 'process' })
      const before = new Set(tasks())
      require('node:crypto').pbkdf2('a', 'b', 1000, 32, 'sha256', () => {
        fs.readFile(__filename, () => {
          const born = tasks().filter((t) => !before.has(t))
          console.log(JSON.stringify({ result, born: born.map((t) => [t, policyOf(t)]) }))
        })
      })
    `
    const out = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' })
    expect(out.stderr).toBe('')
    const { born } = JSON.parse(out.stdout) as { born: [number, string][] }
    expect(born.length).toBeGreaterThan(0)
    for (const [tid, policy] of born) expect(policy, `pool thread ${tid}`).toBe(`interleave:${node}`)
  })

  it('works from a Worker: the main thread and every other thread get the policy', async () => {
    const result = await inWorker<ProcessPolicyResult & { tid: number }>(
      `(mp, data, tid) => ({
      ...mp.setMempolicy({ mode: 'preferred', nodes: [data] }, { scope: 'process' }), tid })`,
      node,
    )
    expect(result.threads).toContain(process.pid)
    expect(result.threads).toContain(result.tid)
    expect(getMempolicy()).toEqual({ mode: 'preferred', nodes: [node], flags: [] })
    const skipped = new Set(result.skipped.map((s) => s.tid))
    for (const [tid, policy] of threadPolicies()) if (!skipped.has(tid)) expect(policy, `thread ${tid}`).toBe(`prefer:${node}`)
  })

  it('serialises concurrent calls from several Workers: every thread ends under one and the same policy', async () => {
    const policies: Policy[] = [
      { mode: 'interleave', nodes: [node] },
      { mode: 'bind', nodes: [node] },
      { mode: 'preferred', nodes: [node] },
    ]
    const workers = policies.map((policy) =>
      startWorker(
        `async (mp, policy) => {
      let calls = 0
      for (let i = 0; i < 15; i++) {
        mp.setMempolicy(policy, { scope: 'process' })
        calls++
        await new Promise((r) => setImmediate(r))
      }
      return calls
    }`,
        policy,
      ),
    )
    // The main thread joins in while the Workers start (threads appear during the calls).
    for (let i = 0; i < 10; i++) setMempolicy({ mode: 'local' }, { scope: 'process' })
    try {
      expect(await Promise.all(workers.map((w) => w.result))).toEqual([15, 15, 15])
      const final = setMempolicy(policies[0]!, { scope: 'process' })
      expectEveryThread(final, `interleave:${node}`)
    } finally {
      await Promise.all(workers.map((w) => w.worker.terminate()))
    }
  })

  it('reaches a thread blocked in a system call, which carries on undisturbed (SA_RESTART)', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mempolicy-'))
    const fifo = path.join(dir, 'fifo')
    execFileSync('mkfifo', [fifo])
    try {
      const { worker, result } = startWorker(
        `(mp, fifo, tid) => {
        fs.writeFileSync(fifo + '.tid', String(tid))
        const fd = fs.openSync(fifo, 'r')           // blocks in open() until the writer comes
        const buffer = Buffer.alloc(16)
        const n = fs.readSync(fd, buffer)            // then in read() until it writes
        fs.closeSync(fd)
        return { text: buffer.toString('utf8', 0, n), policy: mp.getMempolicy() }
      }`,
        fifo,
      )
      // Wait until the Worker is in open() (its state is S, sleeping in the kernel).
      let tid = 0
      for (let i = 0; i < 6000 && tid === 0; i++) {
        await new Promise((r) => setTimeout(r, 10))
        try {
          tid = Number(readFileSync(`${fifo}.tid`, 'utf8'))
        } catch {
          /* not yet */
        }
      }
      // Then until it is inside open() itself: /proc/<tid>/syscall names the call a thread sleeps in
      // (openat is 257 on x86-64, 56 on arm64; open is 2), whatever the machine's load.
      const inOpen = (): boolean => {
        const [nr] = readFileSync(`/proc/self/task/${tid}/syscall`, 'latin1').split(' ')
        return field(status(tid), 'State').startsWith('S') && ['2', '56', '257'].includes(nr!)
      }
      for (let i = 0; i < 6000 && !inOpen(); i++) await new Promise((r) => setTimeout(r, 10))
      expect(inOpen()).toBe(true)
      const applied = setMempolicy({ mode: 'bind', nodes: [node] }, { scope: 'process' })
      expect(applied.threads).toContain(tid)
      expect(kernelThreadPolicy(tid)).toBe(`bind:${node}`)
      const fd = openSync(fifo, 'w')
      writeSync(fd, 'hello')
      closeSync(fd)
      expect(await result).toEqual({ text: 'hello', policy: { mode: 'bind', nodes: [node], flags: [] } })
      await worker.terminate()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('a kernel error on the calling thread is thrown as for thread scope, and no other thread changes', (ctx) => {
    const highest = Number(readFileSync('/sys/devices/system/node/possible', 'latin1').trim().split(/[-,]/).pop())
    const usable = new Set(parseNodes('all'))
    const refused = [...Array(highest + 1).keys()].find((n) => !usable.has(n))
    if (refused === undefined) return ctx.skip('every possible node has memory and is allowed here: the kernel has nothing to refuse')
    const before = threadPolicies()
    let thrown: unknown
    try {
      setMempolicy({ mode: 'bind', nodes: [refused] }, { scope: 'process' })
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(MempolicyError)
    expect(thrown).toMatchObject({ code: 'EINVAL', syscall: 'set_mempolicy' })
    for (const [tid, policy] of threadPolicies()) if (before.has(tid)) expect(policy).toBe(before.get(tid))
  })
})
