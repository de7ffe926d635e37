// pageNodes, movePages and migratePages on the real kernel. Placement is checked with the test
// oracle (its own move_pages addon) and /proc/self/numa_maps, never with the package alone.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { binding } from '../src/binding'
import { MempolicyError, alloc, mbind, memsAllowed, migratePages, movePages, nodeOf, pageNodes, pageSize, topology } from '../src/index'
import { EFAULT_STATUS, ENOENT_STATUS, address, mapIsolated, pageNodes as oraclePageNodes } from './oracle/index'
import { rejection } from './rejection'

// Child processes and Workers start slowly under emulation (the multi-node guests run these files too).
const SLOW = 120_000
const node = memsAllowed()[0]!

/**
 * Memory bound to `node`, so that pages land there on any machine (on a multi-node one, unbound
 * memory lands on the node of whichever CPU touches it).
 */
function bound(byteLength: number, options?: { hugePages?: boolean }): Uint8Array {
  return alloc(byteLength, { mode: 'bind', nodes: [node] }, options)
}

/** A node id the kernel has no memory on (ENODEV for move_pages): the first id not in has_memory. */
function nodeWithoutMemory(): number {
  const withMemory = new Set(topology().withMemory)
  let id = 0
  while (withMemory.has(id)) id++
  return id
}
const dist = path.join(__dirname, '..', 'dist', 'index.js')

/** Runs `body` (a function source taking the package, evaluated in a CommonJS script) as user nobody. */
function asNobody(body: string): { status: number | null; out: string } {
  const script = `
    const mp = require(${JSON.stringify(dist)})
    Promise.resolve((${body})(mp)).then(
      (r) => { console.log(JSON.stringify({ ok: r })) },
      (e) => { console.log(JSON.stringify({ error: { name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, hint: e.hint, message: e.message } })) })
  `
  const child = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' })
  return { status: child.status, out: `${child.stdout}${child.stderr}` }
}

const root = process.getuid?.() === 0

/** The numa_maps line of the VMA that starts at `start` (an isolated mapping). */
function numaMapsOf(start: bigint): string {
  const key = `${start.toString(16)} `
  const line = readFileSync('/proc/self/numa_maps', 'latin1')
    .split('\n')
    .find((l) => l.startsWith(key))
  if (line === undefined) throw new Error(`no numa_maps line for ${key}`)
  return line
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('pageNodes', { timeout: SLOW }, () => {
  it('reports every page of untouched memory as -2 (ENOENT) and, once written, its node', () => {
    const memory = bound(8 * pageSize)
    expect([...pageNodes(memory)]).toEqual(Array(8).fill(ENOENT_STATUS))
    memory.fill(1)
    expect([...pageNodes(memory)]).toEqual(Array(8).fill(node))
    expect([...oraclePageNodes(memory)]).toEqual(Array(8).fill(node))
  })

  it('gives one entry per page overlapping the memory, partial pages at both ends included', () => {
    const memory = bound(6 * pageSize)
    memory[0] = 1
    memory[3 * pageSize] = 1
    void memory[4 * pageSize] // a read maps the shared zero page
    const view = memory.subarray(100, 4 * pageSize + 1) // pages 0..4, the first and last only partly
    const statuses = [...pageNodes(view)]
    expect(statuses).toEqual([node, ENOENT_STATUS, ENOENT_STATUS, node, EFAULT_STATUS])
    expect(statuses).toEqual([...oraclePageNodes(view)])
    expect([...pageNodes(memory.subarray(pageSize - 1, pageSize + 1))]).toEqual([node, ENOENT_STATUS])
  })

  it('faults nothing in: the pages stay absent in numa_maps and in the oracle', () => {
    const buffer = mapIsolated(16 * pageSize)
    const before = numaMapsOf(address(buffer))
    expect(before).not.toMatch(/ N\d+=/)
    for (let i = 0; i < 3; i++) expect([...pageNodes(buffer)]).toEqual(Array(16).fill(ENOENT_STATUS))
    expect(numaMapsOf(address(buffer))).toBe(before)
    expect([...oraclePageNodes(buffer)]).toEqual(Array(16).fill(ENOENT_STATUS))
    // nodeOf does fault the page in (as a read: the zero page), which pageNodes then reports.
    nodeOf(buffer, 0)
    expect(pageNodes(buffer)[0]).toBe(EFAULT_STATUS)
  })

  it('works across its 1024-page batches (16 MiB, every third page written)', () => {
    const pages = 4096 + 7
    const memory = bound(pages * pageSize, { hugePages: false })
    for (let i = 0; i < pages; i += 3) memory[i * pageSize] = 1
    const statuses = pageNodes(memory)
    expect(statuses.length).toBe(pages)
    const expected = Int32Array.from({ length: pages }, (_, i) => (i % 3 === 0 ? node : ENOENT_STATUS))
    expect(statuses).toEqual(expected)
    expect(statuses).toEqual(oraclePageNodes(memory))
  })

  it('takes every kind of memory: ArrayBuffer, SharedArrayBuffer, typed arrays, DataView, Buffer', () => {
    const buffer = new ArrayBuffer(3 * pageSize)
    new Uint8Array(buffer).fill(1)
    const expected = [...oraclePageNodes(buffer)]
    expect(expected.every((s) => s >= 0)).toBe(true)
    expect([...pageNodes(buffer)]).toEqual(expected)
    expect([...pageNodes(new Float64Array(buffer))]).toEqual(expected)
    expect([...pageNodes(new DataView(buffer))]).toEqual(expected)
    expect([...pageNodes(Buffer.from(buffer))]).toEqual(expected)
    const shared = new SharedArrayBuffer(3 * pageSize)
    new Uint8Array(shared).fill(1)
    expect([...pageNodes(shared)]).toEqual([...oraclePageNodes(new Uint8Array(shared))])
  })

  it('returns an empty array for empty or detached memory', () => {
    expect(pageNodes(new ArrayBuffer(0))).toEqual(new Int32Array(0))
    expect(pageNodes(new Uint8Array(0))).toEqual(new Int32Array(0))
    expect(pageNodes(alloc(pageSize).subarray(5, 5))).toEqual(new Int32Array(0))
    const detached = new ArrayBuffer(pageSize)
    structuredClone(detached, { transfer: [detached] })
    expect(detached.byteLength).toBe(0)
    expect(pageNodes(detached)).toEqual(new Int32Array(0))
  })

  it('rejects what is not memory, before any syscall', () => {
    const native = binding()
    const spy = vi.spyOn(native, 'pageNodes')
    for (const value of [undefined, null, 123, 'abc', {}, [1, 2]]) {
      expect(() => pageNodes(value as never)).toThrow(expect.objectContaining({ name: 'TypeError', code: 'ERR_INVALID_ARG_TYPE' }))
    }
    expect(spy).not.toHaveBeenCalled()
  })
})

describe('movePages', { timeout: SLOW }, () => {
  it(`moves written pages to node ${node}: pages already there count as moved, never-touched ones in neither count`, async () => {
    const memory = alloc(16 * pageSize)
    for (let i = 0; i < 10; i++) memory[i * pageSize] = 1
    void memory[10 * pageSize] // read only: the shared zero page, which cannot move
    const result = await movePages(memory, node)
    expect(result).toEqual({ moved: 10, failed: 1 })
    const oracle = [...oraclePageNodes(memory)]
    expect(oracle.slice(0, 10)).toEqual(Array(10).fill(node))
    expect(oracle[10]).toBe(EFAULT_STATUS)
    expect(oracle.slice(11)).toEqual(Array(5).fill(ENOENT_STATUS))
  })

  it('faults nothing in', async () => {
    const buffer = mapIsolated(8 * pageSize)
    expect(await movePages(buffer, node)).toEqual({ moved: 0, failed: 0 })
    expect(numaMapsOf(address(buffer))).not.toMatch(/ N\d+=/)
    expect([...oraclePageNodes(buffer)]).toEqual(Array(8).fill(ENOENT_STATUS))
  })

  it('counts every page overlapping the memory, partial ones included', async () => {
    const memory = alloc(4 * pageSize)
    memory.fill(1)
    expect(await movePages(memory.subarray(1, 2 * pageSize + 1), node)).toEqual({ moved: 3, failed: 0 })
    expect(await movePages(new Uint8Array(0), node)).toEqual({ moved: 0, failed: 0 })
  })

  it('moves 16 MiB in batches', async () => {
    const pages = 4096 + 3
    const memory = alloc(pages * pageSize, undefined, { hugePages: false })
    for (let i = 0; i < pages; i += 2) memory[i * pageSize] = 1
    expect(await movePages(memory, node)).toEqual({ moved: Math.ceil(pages / 2), failed: 0 })
    const oracle = oraclePageNodes(memory)
    for (let i = 0; i < pages; i++) expect(oracle[i]).toBe(i % 2 === 0 ? node : ENOENT_STATUS)
  })

  it.runIf(root)('all: true (MPOL_MF_MOVE_ALL) works with CAP_SYS_NICE', async () => {
    const memory = alloc(4 * pageSize)
    memory.fill(1)
    expect(await movePages(memory, node, { all: true })).toEqual({ moved: 4, failed: 0 })
  })

  it.runIf(root)('all: true without CAP_SYS_NICE rejects with EPERM and says why', () => {
    const { out } = asNobody(
      `async (mp) => { const m = mp.alloc(4 * mp.pageSize); m.fill(1); return mp.movePages(m, ${node}, { all: true }) }`,
    )
    const { error } = JSON.parse(out) as { error: Record<string, unknown> }
    expect(error).toMatchObject({ name: 'MempolicyError', code: 'EPERM', errno: -1, syscall: 'move_pages' })
    expect(error.message).toMatch(/^EPERM: operation not permitted, move_pages/)
    expect(error.hint).toMatch(/CAP_SYS_NICE/)
  })

  it('maps whole-call errors to MempolicyError with a hint (ENODEV, EACCES)', async () => {
    // A node without memory is refused by validation where it is past the possible nodes (as on a
    // one-node machine); the kernel's own answer is checked at the shim, then the mapping with it.
    const native = binding()
    const raw = await native.movePages(new Uint8Array(pageSize), nodeWithoutMemory(), 2)
    expect(raw).toBe(-19)
    const memory = alloc(pageSize)
    vi.spyOn(native, 'movePages').mockResolvedValueOnce(-19)
    const enodev = await rejection(movePages(memory, node))
    expect(enodev).toBeInstanceOf(MempolicyError)
    expect(enodev).toMatchObject({ code: 'ENODEV', errno: -19, syscall: 'move_pages' })
    expect(enodev.message).toMatch(/^ENODEV: no such device, move_pages/)
    expect(enodev.hint).toMatch(new RegExp(`node ${node}`))
    vi.spyOn(native, 'movePages').mockResolvedValueOnce(-13)
    const eacces = await rejection(movePages(memory, node))
    expect(eacces).toMatchObject({ code: 'EACCES', errno: -13, syscall: 'move_pages' })
    // The node is in this process's cpuset, so the cpuset is not named as the cause (hints state only
    // what was checked; a node outside it is named: test/hints.test.ts).
    expect(eacces.hint).toBeUndefined()
  })

  it('validates node and options before any syscall, and rejects rather than throws', async () => {
    const native = binding()
    const spy = vi.spyOn(native, 'movePages')
    const memory = alloc(pageSize)
    const cases: [unknown[], string][] = [
      [[memory, -1], 'ERR_OUT_OF_RANGE'],
      [[memory, 1.5], 'ERR_OUT_OF_RANGE'],
      [[memory, 100000], 'ERR_OUT_OF_RANGE'],
      [[memory, '0'], 'ERR_INVALID_ARG_TYPE'],
      [[memory, undefined], 'ERR_INVALID_ARG_TYPE'],
      [[memory, node, null], 'ERR_INVALID_ARG_TYPE'],
      [[memory, node, { all: 1 }], 'ERR_INVALID_ARG_TYPE'],
      [[42, node], 'ERR_INVALID_ARG_TYPE'],
    ]
    for (const [args, code] of cases) {
      let promise: Promise<unknown> | undefined
      expect(() => {
        promise = (movePages as (...a: unknown[]) => Promise<unknown>)(...args)
      }).not.toThrow()
      const err = await rejection(promise!)
      expect(err.code, JSON.stringify(args.slice(1))).toBe(code)
    }
    expect(spy).not.toHaveBeenCalled()
  })
})

describe('migratePages', { timeout: SLOW }, () => {
  it(`moves this process's pages from node ${node} to node ${node}: nothing left behind`, async () => {
    const memory = bound(8 * pageSize)
    memory.fill(1)
    expect(await migratePages(0, String(node), String(node))).toBe(0)
    expect(await migratePages(process.pid, [node], node)).toBe(0)
    expect(await migratePages(0, 'all', 'all')).toBe(0)
    expect([...oraclePageNodes(memory)]).toEqual(Array(8).fill(node))
  })

  it('rejects with ESRCH for a process that does not exist', async () => {
    const err = await rejection(migratePages(0x7fffffff, node, node))
    expect(err).toBeInstanceOf(MempolicyError)
    expect(err).toMatchObject({ code: 'ESRCH', errno: -3, syscall: 'migrate_pages' })
    expect(err.message).toMatch(/^ESRCH: no such process, migrate_pages/)
    expect(err.hint).toBe('there is no process 2147483647')
  })

  it.runIf(root)("rejects with EPERM for another user's process", () => {
    const { out } = asNobody(`(mp) => mp.migratePages(1, ${node}, ${node})`)
    const { error } = JSON.parse(out) as { error: Record<string, unknown> }
    expect(error).toMatchObject({ name: 'MempolicyError', code: 'EPERM', errno: -1, syscall: 'migrate_pages' })
    expect(error.hint).toMatch(
      /^process 1 runs as uid \d+\/\d+\/\d+ and this process as uid 65534 without CAP_SYS_PTRACE, so it may not inspect it/,
    )
  })

  it('validates pid and node lists before any syscall', async () => {
    const native = binding()
    const spy = vi.spyOn(native, 'migratePages')
    const cases: [unknown[], string][] = [
      [[-1, node, node], 'ERR_OUT_OF_RANGE'],
      [[1.5, node, node], 'ERR_OUT_OF_RANGE'],
      [[2 ** 31, node, node], 'ERR_OUT_OF_RANGE'],
      [[Number.NaN, node, node], 'ERR_OUT_OF_RANGE'],
      [['0', node, node], 'ERR_INVALID_ARG_TYPE'],
      [[0, undefined, node], 'ERR_INVALID_ARG_TYPE'],
      [[0, node, undefined], 'ERR_INVALID_ARG_TYPE'],
      [[0, {}, node], 'ERR_INVALID_ARG_TYPE'],
      [[0, '', node], 'ERR_INVALID_ARG_VALUE'],
      [[0, node, []], 'ERR_INVALID_ARG_VALUE'],
      [[0, '0-', node], 'ERR_INVALID_ARG_VALUE'],
      [[0, node, 100000], 'ERR_OUT_OF_RANGE'],
      [[0, [node, -1], node], 'ERR_OUT_OF_RANGE'],
      [[0, node, '5000'], 'ERR_OUT_OF_RANGE'],
    ]
    for (const [args, code] of cases) {
      let promise: Promise<unknown> | undefined
      expect(() => {
        promise = (migratePages as (...a: unknown[]) => Promise<unknown>)(...args)
      }).not.toThrow()
      const err = await rejection(promise!)
      expect(err.code, String(args)).toBe(code)
    }
    expect(spy).not.toHaveBeenCalled()
  })
})

describe('pageNodes and mbind agree with the kernel on a bound range', () => {
  it('pages of a range bound and written are where the oracle says', () => {
    const memory = alloc(32 * pageSize)
    mbind(memory, { mode: 'bind', nodes: [node] })
    memory.fill(7)
    expect(pageNodes(memory)).toEqual(oraclePageNodes(memory))
  })
})
