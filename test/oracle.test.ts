// Proves the placement oracle (test/oracle/) itself works, on whatever kernel runs the tests:
// move_pages query statuses, numa_maps parsing, and that the two agree.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Worker } from 'node:worker_threads'

import { describe, expect, it } from 'vitest'

import {
  EFAULT_STATUS,
  ENOENT_STATUS,
  address,
  countByNode,
  countStatuses,
  gettid,
  mapIsolated,
  numaMapsLine,
  oracleAddonPath,
  pageNodes,
  pageSize,
  parseNodeList,
  parseNumaMapsLine,
  threadNumaMapsPolicy,
} from './oracle/index.js'

const PAGE = pageSize()

function memoryNodes(): number[] {
  try {
    return parseNodeList(readFileSync('/sys/devices/system/node/has_memory', 'utf8'))
  } catch {
    return [0] // no sysfs node directory: a kernel without NUMA has one node, 0
  }
}

function touch(buffer: ArrayBuffer, pages: number[]): void {
  const bytes = new Uint8Array(buffer)
  for (const p of pages) bytes[p * PAGE] = 1
}

function hasNumactl(): boolean {
  return spawnSync('numactl', ['--show'], { stdio: 'ignore' }).status === 0
}

describe('parseNodeList', () => {
  it('expands ranges and single nodes', () => {
    expect(parseNodeList('0')).toEqual([0])
    expect(parseNodeList('0-3,5\n')).toEqual([0, 1, 2, 3, 5])
    expect(parseNodeList('62-65')).toEqual([62, 63, 64, 65])
    expect(parseNodeList('')).toEqual([])
    expect(() => parseNodeList('0-')).toThrow(/bad node list/)
  })
})

describe('parseNumaMapsLine', () => {
  it('parses a default policy with counts', () => {
    const e = parseNumaMapsLine('7fc77459a000 default anon=1 dirty=1 active=0 N0=1 kernelpagesize_kB=4')
    expect(e.start).toBe(0x7fc77459a000n)
    expect(e.policy).toBe('default')
    expect(e.mode).toBe('default')
    expect(e.flags).toEqual([])
    expect(e.policyNodes).toEqual([])
    expect([...e.nodes]).toEqual([[0, 1]])
    expect(e.fields).toMatchObject({ anon: '1', dirty: '1', active: '0' })
    expect(e.pageSizeKiB).toBe(4)
  })

  it('keeps mode names that contain a space together', () => {
    const many = parseNumaMapsLine('7fc77438f000 prefer (many)=relative|balancing:0,3 anon=2 N0=1 N3=1 kernelpagesize_kB=4')
    expect(many.policy).toBe('prefer (many)=relative|balancing:0,3')
    expect(many.mode).toBe('prefer (many)')
    expect(many.flags).toEqual(['relative', 'balancing'])
    expect(many.policyNodes).toEqual([0, 3])
    expect([...many.nodes]).toEqual([
      [0, 1],
      [3, 1],
    ])

    const weighted = parseNumaMapsLine('7fc774399000 weighted interleave:0-2 anon=3 dirty=3 N0=1 N1=1 N2=1 kernelpagesize_kB=4')
    expect(weighted.mode).toBe('weighted interleave')
    expect(weighted.policyNodes).toEqual([0, 1, 2])
    expect(weighted.fields.anon).toBe('3')
  })

  it('tells prefer from prefer (many), and reads flags, tags and files', () => {
    expect(parseNumaMapsLine('7fc774598000 prefer:1 anon=1 N1=1 kernelpagesize_kB=4').mode).toBe('prefer')
    const bind = parseNumaMapsLine('7fc774391000 bind=static|balancing:63-64 anon=1 N64=1 kernelpagesize_kB=4')
    expect(bind.mode).toBe('bind')
    expect(bind.flags).toEqual(['static', 'balancing'])
    expect(bind.policyNodes).toEqual([63, 64])
    expect(bind.nodes.get(64)).toBe(1)
    expect(parseNumaMapsLine('7fc77439d000 local anon=1 N0=1 kernelpagesize_kB=4').policy).toBe('local')
    const heap = parseNumaMapsLine('556d4a84a000 default heap anon=4 dirty=4 active=0 N0=4 kernelpagesize_kB=4')
    expect(heap.tags).toEqual(['heap'])
    const file = parseNumaMapsLine('556d3d592000 default file=/usr/bin/head mapped=2 mapmax=2 N0=2 kernelpagesize_kB=4')
    expect(file.fields.file).toBe('/usr/bin/head')
    expect(file.fields.mapmax).toBe('2')
    const empty = parseNumaMapsLine('7f52df2e2000 default')
    expect(empty.nodes.size).toBe(0)
    expect(empty.pageSizeKiB).toBeUndefined()
  })
})

describe('pageNodes (move_pages query mode)', () => {
  it('reports a fresh, untouched mapping as not present (-2)', () => {
    const buf = mapIsolated(16 * PAGE)
    expect(buf.byteLength).toBe(16 * PAGE)
    const st = pageNodes(buf)
    expect(st).toBeInstanceOf(Int32Array)
    expect([...st]).toEqual(new Array(16).fill(ENOENT_STATUS))
    expect(countByNode(buf).size).toBe(0)
  })

  it('reports a written page on a node with memory, and a read-only page as the zero page (-14)', () => {
    const buf = mapIsolated(8 * PAGE)
    touch(buf, [1, 6])
    void new Uint8Array(buf)[3 * PAGE] // read only: maps the shared zero page
    const st = [...pageNodes(buf)]
    const nodes = memoryNodes()
    expect(nodes).toContain(st[1])
    expect(st[6]).toBe(st[1])
    expect(st[3]).toBe(EFAULT_STATUS)
    for (const p of [0, 2, 4, 5, 7]) expect(st[p]).toBe(ENOENT_STATUS)
    if (nodes.length === 1) expect(st[1]).toBe(0)
    expect([...countByNode(buf)]).toEqual([[st[1]!, 2]])
  })

  it('covers exactly the pages a view overlaps', () => {
    const buf = mapIsolated(4 * PAGE)
    touch(buf, [2])
    expect(pageNodes(new Uint8Array(buf, 2 * PAGE, PAGE)).length).toBe(1)
    expect(pageNodes(new Uint8Array(buf, 2 * PAGE - 1, 2))).toHaveLength(2)
    expect(pageNodes(new Float64Array(buf, PAGE, (2 * PAGE) / 8))).toHaveLength(2)
    expect(pageNodes(new DataView(buf, PAGE + 8, PAGE))).toHaveLength(2)
    expect(pageNodes(new Uint8Array(buf, 0, 0))).toHaveLength(0)
    const [p1, p2] = pageNodes(new Uint8Array(buf, 2 * PAGE - 1, 2))
    expect(p1).toBe(ENOENT_STATUS)
    expect(p2).toBeGreaterThanOrEqual(0)
  })

  it('works on ordinary ArrayBuffers and Buffers', () => {
    const big = new ArrayBuffer(8 << 20)
    new Uint8Array(big).fill(7)
    const st = pageNodes(big)
    const pages = Math.ceil((Number(address(big) % BigInt(PAGE)) + big.byteLength) / PAGE)
    expect(st.length).toBe(pages)
    expect(st.every((s) => memoryNodes().includes(s))).toBe(true)
    const counted = [...countByNode(big).values()].reduce((a, b) => a + b, 0)
    expect(counted).toBe(pages)
    expect(pageNodes(Buffer.from('hello')).length).toBeGreaterThanOrEqual(1)
  })

  it('rejects what is not memory', () => {
    expect(() => pageNodes(42 as unknown as ArrayBuffer)).toThrow(TypeError)
    expect(() => mapIsolated(0)).toThrow(RangeError)
  })

  it('countStatuses ignores negative statuses', () => {
    expect([...countStatuses([3, -2, 1, 3, -14, 0])]).toEqual([
      [0, 1],
      [1, 1],
      [3, 2],
    ])
  })
})

describe('address and gettid', () => {
  it('gives view addresses relative to their buffer', () => {
    const buf = mapIsolated(2 * PAGE)
    expect(address(buf) % BigInt(PAGE)).toBe(0n)
    expect(address(new Uint8Array(buf, 100, 10))).toBe(address(buf) + 100n)
    expect(address(new DataView(buf, PAGE))).toBe(address(buf) + BigInt(PAGE))
  })

  it('returns the thread id (the pid on the main thread)', () => {
    expect(gettid()).toBe(process.pid)
  })
})

describe('numaMapsLine (second oracle)', () => {
  it('finds the VMA of an isolated mapping and agrees with move_pages', () => {
    const buf = mapIsolated(32 * PAGE)
    const before = numaMapsLine(buf)
    expect(before.entries).toHaveLength(1)
    expect(before.entries[0]!.start).toBe(address(buf))
    expect(before.entries[0]!.end).toBe(address(buf) + BigInt(buf.byteLength))
    expect(before.policy).toBe('default')
    expect(before.nodes.size).toBe(0)

    touch(buf, [0, 1, 2, 10, 31])
    const after = numaMapsLine(buf)
    expect(after.entries[0]!.fields.anon).toBe('5')
    expect(after.entries[0]!.pageSizeKiB).toBe(PAGE / 1024)
    expect([...after.nodes]).toEqual([...countByNode(buf)])
    expect([...after.nodes.values()].reduce((a, b) => a + b, 0)).toBe(5)
  })

  it('reports all VMAs a buffer spans', () => {
    const big = new ArrayBuffer(4 << 20)
    new Uint8Array(big).fill(1)
    const r = numaMapsLine(big)
    expect(r.entries.length).toBeGreaterThanOrEqual(1)
    expect(r.entries[0]!.start).toBeLessThanOrEqual(address(big))
    expect(r.entries.at(-1)!.end).toBeGreaterThanOrEqual(address(big) + BigInt(big.byteLength))
    // The VMA(s) may hold more than the buffer, never less.
    const inBuffer = [...countByNode(big).values()].reduce((a, b) => a + b, 0)
    const inVmas = [...r.nodes.values()].reduce((a, b) => a + b, 0)
    expect(inVmas).toBeGreaterThanOrEqual(inBuffer)
  })

  it("reads a thread's view through /proc/self/task/<tid>/numa_maps", async () => {
    const buf = mapIsolated(4 * PAGE)
    touch(buf, [0])
    expect(threadNumaMapsPolicy(buf, gettid())).toBe('default')

    // A worker thread reports its tid, then waits until the main thread has read its numa_maps.
    const flag = new Int32Array(new SharedArrayBuffer(4))
    const worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads')
       const m = { exports: {} }
       process.dlopen(m, workerData.addon)
       parentPort.postMessage(m.exports.gettid())
       Atomics.wait(workerData.flag, 0, 0, 30000);`,
      { eval: true, workerData: { addon: oracleAddonPath(), flag } },
    )
    try {
      const tid = await new Promise<number>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      })
      expect(tid).not.toBe(process.pid)
      expect(readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').length).toBeGreaterThan(0)
      expect(threadNumaMapsPolicy(buf, tid)).toBe('default')
    } finally {
      Atomics.store(flag, 0, 1)
      Atomics.notify(flag, 0)
      await worker.terminate()
    }
  })

  it.skipIf(!hasNumactl())('shows a task policy set by numactl on a default-policy VMA', () => {
    const nodes = memoryNodes()
    const script = `
      const m = { exports: {} }
      process.dlopen(m, ${JSON.stringify(oracleAddonPath())})
      const o = m.exports
      const buf = o.mapIsolated(8 * o.pageSize())
      new Uint8Array(buf).fill(1)
      const key = o.address(buf).toString(16) + ' '
      const line = require('fs').readFileSync('/proc/self/numa_maps', 'utf8').split('\\n').find((l) => l.startsWith(key))
      console.log(JSON.stringify({ line, statuses: [...o.pageNodes(buf)] }));`
    const out = execFileSync('numactl', ['--interleave=all', process.execPath, '-e', script], { encoding: 'utf8' })
    const { line, statuses } = JSON.parse(out) as { line: string; statuses: number[] }
    const entry = parseNumaMapsLine(line)
    expect(entry.mode).toBe('interleave')
    expect(entry.policyNodes).toEqual(nodes)
    expect([...entry.nodes]).toEqual([...countStatuses(statuses)])
  })
})
