// The calls that run on the libuv pool (mbindAsync, movePages, migratePages): same results as their
// synchronous forms, and the memory and nodemasks they were given stay valid until the work ends,
// whatever JavaScript does meanwhile (drops every reference and collects, transfers the buffer to a
// Worker, reuses the scratch nodemask).
//
// To make "meanwhile" certain, the pool's threads are first parked on blocking reads of a FIFO: work
// queued after them cannot start until the test releases them, after it has done its mischief.
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, read, readFileSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { MessageChannel, Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { binding } from '../src/binding'
import { alloc, constants, mbind, mbindAsync, memsAllowed, migratePages, movePages, pageSize, policyOf, setMempolicy } from '../src/index'
import { keepingPolicyAsync, rangePolicies } from './kernel-view'
import { ENOENT_STATUS, address, numaMapsLine, oracleAddonPath, pageNodes as oraclePageNodes } from './oracle/index'
import { rejection } from './rejection'

// Child processes and Workers start slowly under emulation (the multi-node guests run these files too).
const SLOW = 120_000
const node = memsAllowed()[0]!
const dist = path.join(__dirname, '..', 'dist', 'index.js')

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

const gc = exposeGc()

/**
 * Parks every libuv pool thread on a blocking FIFO read; release() lets them (and work queued behind
 * them) go. Tests release in `finally`, so a failure never leaves the pool parked for the next test.
 */
function parkPool(): { release: () => Promise<void> } {
  const threads = Math.max(1, Math.min(1024, Number(process.env.UV_THREADPOOL_SIZE) || 4))
  const dir = mkdtempSync(path.join(tmpdir(), 'mempolicy-pool-'))
  const fifo = path.join(dir, 'park')
  execFileSync('mkfifo', [fifo])
  const fd = openSync(fifo, 'r+') // O_RDWR: opening a FIFO this way never blocks
  const done = Array.from(
    { length: threads },
    () =>
      new Promise<void>((resolve, reject) => {
        read(fd, Buffer.alloc(1), 0, 1, null, (err) => (err ? reject(err) : resolve()))
      }),
  )
  let released: Promise<void> | undefined
  return {
    release: () =>
      (released ??= (async () => {
        writeSync(fd, Buffer.alloc(threads))
        await Promise.all(done)
        closeSync(fd)
        rmSync(dir, { recursive: true, force: true })
      })()),
  }
}

/** Runs `fn` with the pool parked; `fn` gets the release function, called again (harmlessly) at the end. */
async function withParkedPool<T>(fn: (release: () => Promise<void>) => Promise<T>): Promise<T> {
  const pool = parkPool()
  try {
    return await fn(pool.release)
  } finally {
    await pool.release()
  }
}

/** True while some mapping of this process covers `at`. */
function isMapped(at: bigint): boolean {
  return readFileSync('/proc/self/maps', 'latin1')
    .split('\n')
    .some((l) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(l)
      return m !== null && BigInt(`0x${m[1]}`) <= at && at < BigInt(`0x${m[2]}`)
    })
}

/** Collects until `done()` says so (finalizers run as tasks after a collection), at most `rounds` times. */
async function collectUntil(done: () => boolean, rounds = 50): Promise<boolean> {
  for (let i = 0; i < rounds && !done(); i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return done()
}

describe('mbindAsync', { timeout: SLOW }, () => {
  it('sets the same policy and returns the same span as mbind', async () => {
    const memory = alloc(8 * pageSize)
    const view = memory.subarray(100, 6 * pageSize + 5)
    const span = await mbindAsync(view, { mode: 'bind', nodes: [node] })
    expect(span).toEqual({ byteOffset: pageSize - 100, byteLength: 5 * pageSize })
    const twin = alloc(8 * pageSize)
    expect(mbind(twin.subarray(100, 6 * pageSize + 5), { mode: 'bind', nodes: [node] })).toEqual(span)
    // The kernel's view: pages 1..5 have the policy, page 0 (only partly inside) does not.
    expect(numaMapsLine(memory.subarray(pageSize, 6 * pageSize)).policies).toEqual([`bind:${node}`])
    expect(numaMapsLine(memory.subarray(0, pageSize)).policy).not.toBe(`bind:${node}`)
    expect(policyOf(view)).toEqual({ mode: 'bind', nodes: [node], flags: [] })
  })

  it('moves pages already there when asked (move: true), with the pages where the oracle says', async () => {
    const memory = alloc(64 * pageSize)
    memory.fill(1)
    await mbindAsync(memory, { mode: 'interleave', nodes: [node], flags: ['static-nodes'] }, { move: true, strict: true })
    expect(numaMapsLine(memory).policy).toBe(`interleave=static:${node}`)
    expect([...oraclePageNodes(memory)]).toEqual(Array(64).fill(node))
  })

  it('rejects (never throws) on invalid arguments, and nothing reaches the kernel', async () => {
    const memory = alloc(2 * pageSize)
    const ranges = rangePolicies().sort()
    const cases: [unknown[], string][] = [
      [[memory, { mode: 'bind' }], 'ERR_INVALID_ARG_VALUE'],
      [[memory, { mode: 'nope', nodes: [node] }], 'ERR_INVALID_ARG_VALUE'],
      [[memory, { mode: 'bind', nodes: [100000] }], 'ERR_OUT_OF_RANGE'],
      [[memory, null], 'ERR_INVALID_ARG_TYPE'],
      [[memory, { mode: 'bind', nodes: [node] }, { move: 'yes' }], 'ERR_INVALID_ARG_TYPE'],
      [['memory', { mode: 'bind', nodes: [node] }], 'ERR_INVALID_ARG_TYPE'],
      [[memory.subarray(1, pageSize), { mode: 'bind', nodes: [node] }], 'ERR_OUT_OF_RANGE'],
    ]
    for (const [args, code] of cases) {
      let promise: Promise<unknown> | undefined
      expect(() => {
        promise = (mbindAsync as (...a: unknown[]) => Promise<unknown>)(...args)
      }).not.toThrow()
      const err = await rejection(promise!)
      expect(err.code, JSON.stringify(args.slice(1))).toBe(code)
    }
    expect(policyOf(memory)).toEqual({ mode: 'default', nodes: [], flags: [] })
    expect(rangePolicies().sort()).toEqual(ranges)
  })

  it.runIf(process.getuid?.() === 0)("maps kernel errors as mbind does (moveAll without CAP_SYS_NICE: EPERM with mbind's hint)", () => {
    const script = `
      const mp = require(${JSON.stringify(dist)})
      const m = mp.alloc(4 * mp.pageSize); m.fill(1)
      let sync
      try { mp.mbind(m, { mode: 'bind', nodes: [${node}] }, { moveAll: true }) } catch (e) { sync = e }
      mp.mbindAsync(m, { mode: 'bind', nodes: [${node}] }, { moveAll: true }).then(() => console.log('resolved'), (e) => {
        const pick = (x) => ({ name: x.name, code: x.code, errno: x.errno, syscall: x.syscall, hint: x.hint, message: x.message })
        console.log(JSON.stringify({ sync: pick(sync), async: pick(e) }))
      })
    `
    const out = execFileSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' })
    const { sync, async } = JSON.parse(out) as Record<string, Record<string, unknown>>
    expect(async).toEqual(sync)
    expect(async).toMatchObject({ name: 'MempolicyError', code: 'EPERM', syscall: 'mbind' })
    expect(async!.hint).toMatch(/CAP_SYS_NICE/)
  })

  it('copies the nodemask: a call made while it waits for a pool thread cannot change it', async () => {
    await keepingPolicyAsync(() =>
      withParkedPool(async (release) => {
        const memory = alloc(4 * pageSize)
        const pending = mbindAsync(memory, { mode: 'bind', nodes: [node] })
        // Both of these refill the per-thread scratch mask with nothing: had the queued mbind kept a
        // pointer to it, the kernel would see BIND with an empty mask and answer EINVAL.
        setMempolicy({ mode: 'default' })
        mbind(alloc(pageSize), { mode: 'default' })
        await release()
        expect(await pending).toEqual({ byteOffset: 0, byteLength: 4 * pageSize })
        expect(numaMapsLine(memory).policy).toBe(`bind:${node}`)
      }),
    )
  })
})

describe('migratePages', { timeout: SLOW }, () => {
  it('copies both nodemasks before it returns', async () => {
    await keepingPolicyAsync(() =>
      withParkedPool(async (release) => {
        const pending = migratePages(0, node, node)
        // An empty destination would be EINVAL: refill the thread's scratch mask while the call waits.
        setMempolicy({ mode: 'default' })
        await release()
        expect(await pending).toBe(0)
      }),
    )
  })
})

type Events = string[]

/**
 * Allocates memory, registers it (and a control allocation that nothing holds) for finalization,
 * starts `call` on it and returns only the promise: once this function returns no JavaScript frame
 * holds the memory, so only the call itself can keep it alive.
 */
function startDropped<R>(
  events: Events,
  registry: FinalizationRegistry<string>,
  pages: number,
  call: (memory: Uint8Array) => Promise<R>,
): Promise<R> {
  const memory = alloc(pages * pageSize, undefined, { hugePages: false })
  memory.fill(1)
  registry.register(memory.buffer, 'collected')
  registry.register(alloc(pageSize).buffer, 'control collected')
  return call(memory).then((r) => {
    events.push('settled')
    return r
  })
}

describe('the memory of a call on the pool stays valid until the call ends', { timeout: SLOW }, () => {
  it('alloc() memory whose every reference is dropped and collected before the work runs (shim level)', async () => {
    const native = binding()
    const pages = 4096
    const events: Events = []
    const registry = new FinalizationRegistry<string>((what) => events.push(what))
    const pending = await withParkedPool(async (release) => {
      // The native call directly: no frame of the package's own async function holds the memory.
      const promise = startDropped(events, registry, pages, (memory) => native.movePages(memory, node, constants.MPOL_MF_MOVE))
      // The control allocation is collected (the collections here do reclaim what nobody holds), the
      // memory is not: the call on the pool holds it.
      expect(await collectUntil(() => events.includes('control collected'))).toBe(true)
      for (let i = 0; i < 5; i++) {
        gc()
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(events).toEqual(['control collected'])
      await release()
      return { promise }
    })
    const status = await pending.promise
    // Had the mapping been unmapped (alloc's finalizer) before the work ran, every page would be -EFAULT.
    expect(status).toEqual(new Int32Array(pages).fill(node))
    // ...and once the call has ended, the memory is released (nothing leaks).
    expect(await collectUntil(() => events.includes('collected'))).toBe(true)
    expect(events).toEqual(['control collected', 'settled', 'collected'])
  })

  it('the same through movePages() and mbindAsync()', async () => {
    const pages = 1024
    const events: Events = []
    const registry = new FinalizationRegistry<string>((what) => events.push(what))
    const { moved, bound } = await withParkedPool(async (release) => {
      const pending = {
        moved: startDropped(events, registry, pages, (memory) => movePages(memory, node)),
        bound: startDropped(events, registry, pages, (memory) =>
          mbindAsync(memory, { mode: 'bind', nodes: [node] }, { move: true, strict: true }),
        ),
      }
      expect(await collectUntil(() => events.filter((e) => e === 'control collected').length === 2)).toBe(true)
      expect(events).not.toContain('collected')
      await release()
      return pending
    })
    expect(await moved).toEqual({ moved: pages, failed: 0 })
    expect(await bound).toEqual({ byteOffset: 0, byteLength: pages * pageSize })
    expect(await collectUntil(() => events.filter((e) => e === 'collected').length === 2)).toBe(true)
  })

  it("an ArrayBuffer transferred to a Worker right after the calls: they acted on its pages, now the Worker's", async () => {
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads')
      const m = { exports: {} }
      process.dlopen(m, ${JSON.stringify(oracleAddonPath())})
      let kept
      const sum = (b) => { let s = 0; for (let i = 0; i < b.length; i += 4093) s = (s + b[i] * i) % 1000003; return s }
      parentPort.on('message', (msg) => {
        if (msg.buffer) { kept = new Uint8Array(msg.buffer); parentPort.postMessage({ sum: sum(kept) }) }
        else parentPort.postMessage({ sum: sum(kept), statuses: [...m.exports.pageNodes(kept)] })
      })
    `,
      { eval: true },
    )
    try {
      const next = (): Promise<{ sum: number; statuses?: number[] }> => new Promise((resolve) => worker.once('message', resolve))
      const pages = 8192
      const buffer = new ArrayBuffer(pages * pageSize)
      const bytes = new Uint8Array(buffer)
      for (let i = 0; i < bytes.length; i += 4093) bytes[i] = (i >> 12) & 255
      let expected = 0
      for (let i = 0; i < bytes.length; i += 4093) expected = (expected + bytes[i]! * i) % 1000003
      // Written pages are wherever the writing CPU's node is; after the move they are all on `node`.
      const statuses = oraclePageNodes(buffer)
      const touched = statuses.filter((s) => s >= 0).length
      expect(touched).toBeGreaterThan(0)
      const base = Number(address(bytes))
      const [result, span] = await withParkedPool(async (release) => {
        const pending = movePages(bytes, node)
        // At an odd offset, and with no policy to leave behind: the span it reports is the one it acted
        // on, not one read from the view after it was detached.
        const bound = mbindAsync(new Uint8Array(buffer, 100), { mode: 'default' })
        const received = next()
        worker.postMessage({ buffer }, [buffer])
        expect(buffer.byteLength).toBe(0) // detached here; the pages now belong to the Worker's ArrayBuffer
        expect((await received).sum).toBe(expected)
        await release()
        return Promise.all([pending, bound])
      })
      expect(result).toEqual({ moved: touched, failed: 0 })
      const head = (pageSize - ((base + 100) % pageSize)) % pageSize
      expect(span).toEqual({ byteOffset: head, byteLength: Math.floor((pages * pageSize - 100 - head) / pageSize) * pageSize })
      const after = next()
      worker.postMessage({})
      const report = await after
      expect(report.sum).toBe(expected)
      expect(report.statuses).toEqual([...statuses].map((s) => (s >= 0 ? node : s)))
    } finally {
      await worker.terminate()
    }
  })

  it('an ArrayBuffer detached and freed right after the call, with alloc() memory mapped in its place: only the buffer is acted on', async (ctx) => {
    // The hostile sequence: calls wait for the pool, the buffer is transferred away (detached here) and
    // its new owner frees it, then alloc() maps new memory of the same size at the same address. A
    // queued call on the old addresses would re-policy (and move) the new, unrelated memory. So a call
    // on an ArrayBuffer that is not alloc()'s is made before its promise is returned.
    const pages = 8192 // 32 MiB: the C library maps it on its own and unmaps it when freed
    let attempts = 0
    for (;;) {
      attempts++
      const buffer = new ArrayBuffer(pages * pageSize)
      new Uint8Array(buffer).fill(1)
      const at = address(new Uint8Array(buffer))
      const { fresh, span, moved } =
        (await withParkedPool(async (release) => {
          const bound = mbindAsync(buffer, { mode: 'bind', nodes: [node] }, { move: true })
          const moving = movePages(buffer, node)
          let clone: ArrayBuffer | undefined = structuredClone(buffer, { transfer: [buffer] })
          expect(buffer.byteLength).toBe(0)
          expect(clone.byteLength).toBe(pages * pageSize)
          clone = undefined
          if (!(await collectUntil(() => !isMapped(at)))) return undefined

          const fresh = alloc(pages * pageSize, { mode: 'interleave', nodes: [node] })
          fresh.fill(2)
          await release()
          return { fresh, span: await bound, moved: await moving }
        })) ?? {}
      // An allocator that keeps freed memory mapped (a sanitizer's quarantine) never frees the addresses.
      if (fresh === undefined)
        return ctx.skip('the allocator kept the freed buffer mapped (a sanitizer runtime?): its addresses cannot be reused')
      // The C library's header puts the buffer a few bytes into its first page.
      const head = Number((BigInt(pageSize) - (at % BigInt(pageSize))) % BigInt(pageSize))
      expect(span).toEqual({ byteOffset: head, byteLength: Math.floor((pages * pageSize - head) / pageSize) * pageSize })
      expect(moved).toEqual({ moved: pages + (head === 0 ? 0 : 1), failed: 0 })
      // The new memory keeps its own policy, in the kernel's view too.
      expect(policyOf(fresh)).toEqual({ mode: 'interleave', nodes: [node], flags: [] })
      expect(numaMapsLine(fresh).policy).toBe(`interleave:${node}`)
      // Only new memory over the old addresses tests the case; the kernel usually maps it right there.
      const bytes = BigInt(pages * pageSize)
      const overlaps = address(fresh) < at + bytes && at < address(fresh) + bytes
      if (overlaps || attempts === 5) {
        console.log(`[async] detached ArrayBuffer, alloc() over its old addresses: ${overlaps} (attempt ${attempts})`)
        expect(overlaps).toBe(true)
        break
      }
    }
  })

  it('alloc() memory detached while its calls wait (a BYOB stream read) stays mapped until they end', async () => {
    // A BYOB read detaches whatever buffer it is given, alloc()'s untransferable ones included, and the
    // memory's finalizer runs; the calls waiting for the pool hold the mapping itself.
    const pages = 256
    const memory = alloc(pages * pageSize, { mode: 'interleave', nodes: [node] })
    memory.fill(1)
    const at = address(memory)
    const { span, moved, during } = await withParkedPool(async (release) => {
      const bound = mbindAsync(memory, { mode: 'bind', nodes: [node] })
      const moving = movePages(memory, node)
      const stream = new ReadableStream({
        type: 'bytes',
        pull: (c) => {
          ;(c.byobRequest!.view as Uint8Array)[0] = 7
          c.byobRequest!.respond(1)
        },
      })
      // The view it resolves to holds the same memory: dropped at once, so the memory is collected.
      const first = (await stream.getReader({ mode: 'byob' }).read(memory)).value![0]
      expect(memory.byteLength).toBe(0)
      expect(first).toBe(7)
      // Collected, and the finalizer run (Node runs it on the event loop): it could unmap it now.
      for (let i = 0; i < 10; i++) {
        gc()
        await new Promise((resolve) => setImmediate(resolve))
      }
      const during = isMapped(at)
      const fresh = alloc(pages * pageSize)
      fresh.fill(2)
      expect(address(fresh)).not.toBe(at)
      await release()
      return { span: await bound, moved: await moving, during }
    })
    expect(during).toBe(true)
    expect(span).toEqual({ byteOffset: 0, byteLength: pages * pageSize })
    expect(moved).toEqual({ moved: pages, failed: 0 })
    // Once the calls have ended, the mapping goes.
    expect(await collectUntil(() => !isMapped(at))).toBe(true)
  })

  it('alloc() memory cannot be transferred at all (Node 20 copies it; 21+ throws DataCloneError)', () => {
    const memory = alloc(4 * pageSize)
    memory.fill(3)
    const { port1, port2 } = new MessageChannel()
    const buffer = memory.buffer as ArrayBuffer
    try {
      port1.postMessage(buffer, [buffer])
    } catch (err) {
      expect((err as Error).name).toBe('DataCloneError')
    } finally {
      port1.close()
      port2.close()
    }
    expect(memory.byteLength).toBe(4 * pageSize)
    expect(memory[4 * pageSize - 1]).toBe(3)
  })

  it('a SharedArrayBuffer dropped here while the work waits', async () => {
    const events: Events = []
    const registry = new FinalizationRegistry<string>((what) => events.push(what))
    const pending = await withParkedPool(async (release) => {
      const promise = ((): Promise<{ moved: number; failed: number }> => {
        const shared = new SharedArrayBuffer(256 * pageSize)
        new Uint8Array(shared).fill(1)
        registry.register(shared, 'collected')
        return movePages(shared, node)
      })()
      for (let i = 0; i < 5; i++) {
        gc()
        await new Promise((resolve) => setImmediate(resolve))
      }
      expect(events).toEqual([])
      await release()
      return { promise }
    })
    const result = await pending.promise
    expect(result.failed).toBe(0)
    expect(result.moved).toBeGreaterThanOrEqual(256)
  })

  it('a Worker that ends while its calls wait for the pool does not take the process down', async () => {
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads')
      const mp = require(${JSON.stringify(dist)})
      const m = mp.alloc(64 * 1024 * 1024, undefined, { hugePages: false })
      m.fill(1)
      parentPort.once('message', () => {
        mp.movePages(m, ${node}).then((r) => parentPort.postMessage(r))
        mp.mbindAsync(m, { mode: 'bind', nodes: [${node}] }, { move: true })
        mp.migratePages(0, ${node}, ${node})
        parentPort.postMessage('queued')
      })
      parentPort.postMessage('ready')
    `,
      { eval: true },
    )
    const message = (): Promise<unknown> => new Promise((resolve) => worker.once('message', resolve))
    expect(await message()).toBe('ready')
    await withParkedPool(async (release) => {
      const queued = message()
      worker.postMessage('go')
      expect(await queued).toBe('queued')
      const exit = worker.terminate()
      await release()
      await exit
    })
    // Still here, and the pool still works.
    const memory = alloc(4 * pageSize)
    memory.fill(1)
    expect(await movePages(memory, node)).toEqual({ moved: 4, failed: 0 })
  })
})

describe('in a Worker', { timeout: SLOW }, () => {
  it('movePages, mbindAsync, migratePages and pageNodes work, placement checked by the oracle', async () => {
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads')
      const mp = require(${JSON.stringify(dist)})
      const o = { exports: {} }
      process.dlopen(o, ${JSON.stringify(oracleAddonPath())})
      ;(async () => {
        const m = mp.alloc(32 * mp.pageSize)
        const untouched = [...mp.pageNodes(m)]
        m.fill(1)
        const span = await mp.mbindAsync(m, { mode: 'bind', nodes: [${node}] }, { move: true })
        const moved = await mp.movePages(m, ${node})
        const left = await mp.migratePages(0, ${node}, ${node})
        parentPort.postMessage({ untouched, span, moved, left, ours: [...mp.pageNodes(m)], oracle: [...o.exports.pageNodes(m)] })
      })().catch((e) => parentPort.postMessage({ error: String(e.stack) }))
    `,
      { eval: true },
    )
    try {
      const r = await new Promise<Record<string, unknown>>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      expect(r.error).toBeUndefined()
      expect(r.untouched).toEqual(Array(32).fill(ENOENT_STATUS))
      expect(r.span).toEqual({ byteOffset: 0, byteLength: 32 * pageSize })
      expect(r.moved).toEqual({ moved: 32, failed: 0 })
      expect(r.left).toBe(0)
      expect(r.ours).toEqual(r.oracle)
      expect(r.oracle).toEqual(Array(32).fill(node))
    } finally {
      await worker.terminate()
    }
  })
})
