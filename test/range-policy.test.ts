import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { alloc, MempolicyError, mbind, memsAllowed, nodeOf, pageSize, policyOf, setHomeNode, setMempolicy } from '../src/index'
import { keepingPolicy, numaMaps, rangePolicies } from './kernel-view'

const node = memsAllowed()[0]!

/** VMAs whose policy is exactly `policy`, with their size from /proc/self/maps and their pages per node. */
function vmasWith(policy: string): { bytes: number; pages: Record<string, number> }[] {
  const ends = new Map(
    readFileSync('/proc/self/maps', 'latin1')
      .trim()
      .split('\n')
      .map((l) => {
        const [start, end] = l.split(' ')[0]!.split('-')
        return [start!, BigInt(`0x${end}`) - BigInt(`0x${start}`)] as const
      }),
  )
  return numaMaps()
    .filter((l) => l.policy === policy)
    .map((l) => ({
      bytes: Number(ends.get(l.start.padStart(8, '0')) ?? ends.get(l.start) ?? -1n),
      pages: Object.fromEntries(
        l.rest
          .filter((t) => /^N\d+=/.test(t))
          .map((t) => t.split('=') as [string, string])
          .map(([k, v]) => [k, Number(v)]),
      ),
    }))
}

// A policy no other test in this file uses, so its numa_maps line is ours alone.
let serial = 0
function unique(): {
  policy: { mode: 'interleave' | 'bind' | 'preferred'; nodes: number[]; flags?: ('static-nodes' | 'relative-nodes')[] }
  kernel: string
} {
  const variants = [
    { policy: { mode: 'interleave' as const, nodes: [node], flags: ['relative-nodes' as const] }, kernel: `interleave=relative:${node}` },
    { policy: { mode: 'bind' as const, nodes: [node], flags: ['relative-nodes' as const] }, kernel: `bind=relative:${node}` },
    { policy: { mode: 'preferred' as const, nodes: [node], flags: ['static-nodes' as const] }, kernel: `prefer=static:${node}` },
  ]
  const v = variants[serial++ % variants.length]!
  expect(vmasWith(v.kernel), `no VMA may have ${v.kernel} yet`).toEqual([])
  return v
}

function gc(): () => void {
  setFlagsFromString('--expose-gc')
  return runInNewContext('gc') as () => void
}

describe('alloc', () => {
  it('returns zero-filled memory of the size asked, page-aligned', () => {
    for (const size of [1, 4095, 4096, 4097, 3 * 4096 + 5, 1 << 20]) {
      const memory = alloc(size)
      expect(memory).toBeInstanceOf(Uint8Array)
      expect(memory.byteLength).toBe(size)
      expect(memory.every((b) => b === 0)).toBe(true)
      // The first byte begins a page: mbind acts from byte 0.
      if (size >= pageSize) expect(mbind(memory, { mode: 'default' }).byteOffset).toBe(0)
    }
  })

  it('places pages by its policy on first touch (numa_maps shows the policy and the pages)', () => {
    const { policy, kernel } = unique()
    const memory = alloc(64 * pageSize, policy)
    expect(vmasWith(kernel)).toEqual([{ bytes: 64 * pageSize, pages: {} }])
    memory.fill(1)
    expect(vmasWith(kernel)).toEqual([{ bytes: 64 * pageSize, pages: { [`N${node}`]: 64 } }])
    expect(policyOf(memory)).toEqual({ mode: policy.mode, nodes: [node], flags: policy.flags })
  })

  it('without a policy leaves the range on the default policy', () => {
    const memory = alloc(4 * pageSize)
    expect(policyOf(memory)).toEqual({ mode: 'default', nodes: [], flags: [] })
  })

  it('hugePages: true madvises the mapping for transparent huge pages', () => {
    const thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'latin1')
    const memory = alloc(8 << 20, undefined, { hugePages: true })
    memory.fill(1)
    const smaps = readFileSync('/proc/self/smaps', 'latin1')
    if (thp.includes('[never]')) {
      expect(smaps).not.toMatch(/AnonHugePages:\s+[1-9]/)
    } else {
      // Aligned to 2 MiB and advised: at least one huge page backs it (the kernel may also fall back).
      const flagged = smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/).filter((vma) => /VmFlags:.*\bhg\b/.test(vma))
      expect(flagged.length).toBeGreaterThan(0)
    }
  })

  it('hugePages: false refuses transparent huge pages', () => {
    const memory = alloc(8 << 20, undefined, { hugePages: false })
    memory.fill(1)
    const vmas = readFileSync('/proc/self/smaps', 'latin1').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)
    const refused = vmas.filter((vma) => /VmFlags:.*\bnh\b/.test(vma))
    expect(refused.length).toBeGreaterThan(0)
    for (const vma of refused) expect(vma).toMatch(/AnonHugePages:\s+0 kB/)
  })

  it('is unmapped when collected, and tells V8 about the memory', async () => {
    const collect = gc()
    // Node-API runs finalizers of external buffers from the event loop after the collection, so the
    // buffers of earlier tests give their external memory back only then: settle them before counting.
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        collect()
        await new Promise((resolve) => setImmediate(resolve))
      }
    }
    // Adjacent mappings with the same policy merge into one VMA, so count mapped bytes, not lines.
    const mappings = (): number => Number(/^VmSize:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'latin1'))![1]) * 1024
    await settle()
    const before = mappings()
    const external = process.memoryUsage().external
    let held: Uint8Array[] = []
    for (let i = 0; i < 64; i++) held.push(alloc(1 << 20, { mode: 'bind', nodes: [node] }))
    // Other external memory may be released meanwhile; 64 MiB of ours must show.
    expect(process.memoryUsage().external - external).toBeGreaterThan(56 << 20)
    expect(mappings()).toBeGreaterThan(before + (56 << 20))
    held = []
    await settle()
    expect(mappings()).toBeLessThan(before + (8 << 20))
    expect(held).toEqual([])
  })

  it('reports a kernel refusal as MempolicyError and leaves no mapping behind', () => {
    // No ArrayBuffer can be longer than buffer.constants.MAX_LENGTH: refused before any syscall.
    expect(() => alloc(2 ** 52)).toThrow(RangeError)
    // Under an address-space limit (RLIMIT_AS) mmap has no room for 4 GiB.
    const script = `const mp = require(${JSON.stringify(join(__dirname, '..', 'dist', 'index.js'))})
      try { mp.alloc(2 ** 32); console.log('{}') } catch (e) { console.log(JSON.stringify({ ...e, cls: e.constructor.name })) }`
    // Without a preloaded sanitizer runtime (npm run test:asan), which cannot start under that limit.
    const { LD_PRELOAD: _preload, MEMPOLICY_PREBUILD: _build, ...env } = process.env
    const out = execFileSync('prlimit', [`--as=${3 * 2 ** 30}`, process.execPath, '-e', script], { encoding: 'utf8', env })
    expect(JSON.parse(out)).toMatchObject({ cls: 'MempolicyError', code: 'ENOMEM', errno: -12, syscall: 'mmap' })
  })
})

describe('mbind', () => {
  it('acts on the whole pages inside a view at an odd offset, and only on them', () => {
    const { policy, kernel } = unique()
    const memory = alloc(8 * pageSize)
    const view = new Uint8Array(memory.buffer, pageSize + 123, 4 * pageSize)
    const span = mbind(view, policy)
    // Pages 2..4 of the mapping lie wholly inside the view; page 1 and 5 only partly.
    expect(span).toEqual({ byteOffset: pageSize - 123, byteLength: 3 * pageSize })
    expect(vmasWith(kernel)).toEqual([{ bytes: 3 * pageSize, pages: {} }])
    expect(policyOf(memory.subarray(pageSize, 2 * pageSize)).mode).toBe('default')
    expect(policyOf(memory.subarray(2 * pageSize, 3 * pageSize)).mode).toBe(policy.mode)
    expect(policyOf(memory.subarray(4 * pageSize, 5 * pageSize)).mode).toBe(policy.mode)
    expect(policyOf(memory.subarray(5 * pageSize, 6 * pageSize)).mode).toBe('default')
    expect(policyOf(view)).toEqual({ mode: policy.mode, nodes: [node], flags: policy.flags })
    mbind(memory, { mode: 'default' })
    expect(vmasWith(kernel)).toEqual([])
  })

  it('takes every kind of memory: ArrayBuffer, SharedArrayBuffer, TypedArrays, DataView, Buffer', () => {
    const backing = alloc(4 * pageSize)
    const shared = new SharedArrayBuffer(64 * pageSize)
    const kinds: [string, ArrayBuffer | SharedArrayBuffer | ArrayBufferView, number][] = [
      ['ArrayBuffer', backing.buffer, 4 * pageSize],
      ['Float64Array', new Float64Array(backing.buffer, 8, (2 * pageSize) / 8), pageSize],
      ['DataView', new DataView(backing.buffer, pageSize), 3 * pageSize],
      ['Buffer', Buffer.from(backing.buffer, 0, pageSize), pageSize],
      ['SharedArrayBuffer', shared, -1],
      ['Int32Array over a SharedArrayBuffer', new Int32Array(shared), -1],
    ]
    for (const [what, memory, length] of kinds) {
      const span = mbind(memory as never, { mode: 'bind', nodes: [node] })
      expect(span.byteOffset % 1, what).toBe(0)
      if (length >= 0) expect(span.byteLength, what).toBe(length)
      else expect(span.byteLength, what).toBeGreaterThanOrEqual((memory as SharedArrayBuffer).byteLength - pageSize)
      expect(policyOf(memory as never).mode, what).toBe('bind')
      mbind(memory as never, { mode: 'default' })
    }
  })

  it('does not change memory outside a heap buffer (neighbour pages keep their policy)', () => {
    const { policy, kernel } = unique()
    const heap = new ArrayBuffer(16 * pageSize)
    const before = rangePolicies().length
    const span = mbind(heap, policy)
    expect(span.byteOffset).toBeLessThan(pageSize)
    expect(span.byteLength % pageSize).toBe(0)
    expect(heap.byteLength - span.byteLength - span.byteOffset).toBeLessThan(pageSize)
    const vmas = vmasWith(kernel)
    expect(vmas.map((v) => v.bytes).reduce((a, b) => a + b, 0)).toBe(span.byteLength)
    expect(rangePolicies().length).toBeGreaterThan(before)
    mbind(heap, { mode: 'default' })
    expect(vmasWith(kernel)).toEqual([])
  })

  it("'default' removes a range policy; 'preferred' without nodes reads back as 'local'", () => {
    const memory = alloc(4 * pageSize)
    mbind(memory, { mode: 'interleave', nodes: [node] })
    expect(policyOf(memory).mode).toBe('interleave')
    mbind(memory, { mode: 'preferred' })
    expect(policyOf(memory)).toEqual({ mode: 'local', nodes: [], flags: [] })
    mbind(memory, { mode: 'default' })
    expect(policyOf(memory)).toEqual({ mode: 'default', nodes: [], flags: [] })
  })

  it('round-trips every mode and flag on a range', () => {
    const memory = alloc(4 * pageSize)
    const cases = [
      { mode: 'preferred', nodes: [node] },
      { mode: 'bind', nodes: [node] },
      { mode: 'interleave', nodes: [node] },
      { mode: 'local' },
      { mode: 'preferred-many', nodes: [node] },
      { mode: 'weighted-interleave', nodes: [node] },
      { mode: 'bind', nodes: [node], flags: ['static-nodes', 'numa-balancing'] },
      { mode: 'interleave', nodes: [node], flags: ['relative-nodes'] },
    ] as const
    for (const policy of cases) {
      mbind(memory, policy)
      expect(policyOf(memory)).toEqual({
        mode: policy.mode,
        nodes: 'nodes' in policy ? [node] : [],
        flags: 'flags' in policy ? policy.flags : [],
      })
    }
  })

  it('strict passes when pages already conform, and move with strict migrates them', () => {
    const memory = alloc(16 * pageSize)
    memory.fill(7)
    expect(mbind(memory, { mode: 'bind', nodes: [node] }, { strict: true }).byteLength).toBe(16 * pageSize)
    expect(mbind(memory, { mode: 'bind', nodes: [node] }, { strict: true, move: true }).byteLength).toBe(16 * pageSize)
    expect(memory.every((b) => b === 7)).toBe(true)
  })

  it('moveAll without CAP_SYS_NICE is EPERM naming the capability', () => {
    const status = readFileSync('/proc/self/status', 'latin1')
    const capable = (BigInt(`0x${/^CapEff:\s*([0-9a-f]+)/m.exec(status)![1]}`) & (1n << 23n)) !== 0n
    const memory = alloc(4 * pageSize)
    if (capable) {
      expect(mbind(memory, { mode: 'bind', nodes: [node] }, { moveAll: true }).byteLength).toBe(4 * pageSize)
    } else {
      expect(() => mbind(memory, { mode: 'bind', nodes: [node] }, { moveAll: true })).toThrow(/EPERM.*CAP_SYS_NICE/)
    }
  })

  it('the thread policy does not apply to a range with its own policy', () => {
    keepingPolicy(() => {
      const memory = alloc(4 * pageSize, { mode: 'preferred', nodes: [node] })
      setMempolicy({ mode: 'bind', nodes: [node] })
      expect(policyOf(memory).mode).toBe('preferred')
      expect(policyOf(alloc(pageSize)).mode).toBe('default')
    })
  })
})

describe('nodeOf', () => {
  it('is the node of a written page, anywhere in the memory', () => {
    const memory = alloc(4 * pageSize, { mode: 'bind', nodes: [node] })
    memory.fill(1)
    expect(nodeOf(memory)).toBe(node)
    expect(nodeOf(memory, 3 * pageSize + 17)).toBe(node)
    expect(nodeOf(memory.subarray(5))).toBe(node)
    expect(nodeOf(new Float64Array(memory.buffer), memory.byteLength - 1)).toBe(node)
  })
})

describe('setHomeNode', () => {
  it("sets the home node of a 'bind' or 'preferred-many' range", () => {
    const memory = alloc(4 * pageSize)
    mbind(memory, { mode: 'bind', nodes: [node] })
    expect(setHomeNode(memory, node)).toBeUndefined()
    mbind(memory, { mode: 'preferred-many', nodes: [node] })
    expect(setHomeNode(memory, node)).toBeUndefined()
    // The home node is invisible to get_mempolicy and numa_maps: the policy itself is unchanged.
    expect(policyOf(memory)).toEqual({ mode: 'preferred-many', nodes: [node], flags: [] })
  })

  it('is ENOENT on a range without a policy and EOPNOTSUPP on an interleaved one', () => {
    const memory = alloc(4 * pageSize)
    expect(() => setHomeNode(memory, node)).toThrow(MempolicyError)
    try {
      setHomeNode(memory, node)
    } catch (err) {
      expect(err).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'set_mempolicy_home_node' })
      expect((err as Error).message).toMatch(/^ENOENT: no such file or directory, set_mempolicy_home_node \(.*mbind/)
    }
    mbind(memory, { mode: 'interleave', nodes: [node] })
    try {
      setHomeNode(memory, node)
      expect.unreachable()
    } catch (err) {
      expect(err).toMatchObject({ code: 'EOPNOTSUPP', errno: -95, syscall: 'set_mempolicy_home_node' })
      expect((err as MempolicyError).hint).toMatch(/'bind' or 'preferred-many'/)
    }
  })
})
