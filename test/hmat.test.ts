// bandwidthWeights(): interleave weights from the bandwidth the kernel publishes, exact where the
// ratio fits and the kernel's own rounding (mm/mempolicy.c reduce_interleave_weights, worked by hand
// below) where it does not; its validation; and its ENODEV on a machine without HMAT data (this
// host). The real thing, with the weights placing pages, runs in the hmat guest
// (test/numa/weights.hmat.test.ts).
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { MempolicyError, bandwidthWeights, capabilities, topology } from '../src/index'
import { SYSFS, kernelWeights, proportionalWeights } from '../src/hmat'
import { bandwidthWeightsIn } from '../src/weights'
import { hmatGuestSpec, makeTree, type Tree, type TreeSpec } from './sysfs-tree'

const map = (entries: Record<number, number>): Map<number, number> => new Map(Object.entries(entries).map(([k, v]) => [Number(k), v]))
const plain = (weights: Map<number, number>): Record<number, number> => Object.fromEntries(weights)

describe("the kernel's automatic weights (reduce_interleave_weights), worked by hand", () => {
  it('scales each share of the total to 1..32, rounds down, divides by the GCD', () => {
    // 32 * 102400 / 225280 = 14.5 -> 14; 32 * 20480 / 225280 = 2.9 -> 2; GCD 2.
    expect(plain(kernelWeights(map({ 0: 102400, 1: 102400, 2: 20480 })))).toEqual({ 0: 7, 1: 7, 2: 1 })
    // 32 * 102400 / 122880 = 26.7 -> 26; 32 * 20480 / 122880 = 5.3 -> 5: the kernel's 26:5 for 5:1.
    expect(plain(kernelWeights(map({ 0: 102400, 2: 20480 })))).toEqual({ 0: 26, 2: 5 })
    // Equal bandwidth: 16 and 16, GCD 16.
    expect(plain(kernelWeights(map({ 0: 5000, 1: 5000 })))).toEqual({ 0: 1, 1: 1 })
  })

  it('gives 1 to a node without bandwidth and to a share of at most 1/32', () => {
    expect(plain(kernelWeights(map({ 0: 100, 1: 0 })))).toEqual({ 0: 32, 1: 1 })
    // 32 * 10 = 320 is not above the sum 1010: 1. 32 * 1000 / 1010 = 31.7 -> 31.
    expect(plain(kernelWeights(map({ 0: 1000, 1: 10 })))).toEqual({ 0: 31, 1: 1 })
    // Exactly 1/32: 32 * 1 = 32 is not above the sum 32.
    expect(plain(kernelWeights(map({ 0: 31, 1: 1 })))).toEqual({ 0: 31, 1: 1 })
  })

  it('multiplies in 32 bits, as the kernel does (a bandwidth over 128 TB/s wraps)', () => {
    // 32 * 201326592 = 2^32 + 2^31 wraps to 2^31; 2^31 / 201326593 = 10.7 -> 10 (31 without the wrap).
    expect(plain(kernelWeights(map({ 0: 201326592, 1: 1 })))).toEqual({ 0: 10, 1: 1 })
  })
})

describe('bandwidth weights: exact where they fit in 1..32', () => {
  it('divides the bandwidths by their GCD: 100G : 20G is 5 : 1', () => {
    expect(plain(proportionalWeights(map({ 0: 102400, 2: 20480 })))).toEqual({ 0: 5, 2: 1 })
    expect(plain(proportionalWeights(map({ 0: 102400, 1: 102400, 2: 20480 })))).toEqual({ 0: 5, 1: 5, 2: 1 })
    expect(plain(proportionalWeights(map({ 0: 51200, 1: 20480 })))).toEqual({ 0: 5, 1: 2 })
    expect(plain(proportionalWeights(map({ 3: 7, 5: 7 })))).toEqual({ 3: 1, 5: 1 })
    expect(plain(proportionalWeights(map({ 0: 3200, 1: 100 })))).toEqual({ 0: 32, 1: 1 })
  })

  it("takes the kernel's rounding where the exact ratio needs weights over 32", () => {
    // 102400 : 30000 is 256 : 75; the kernel's 32 * 102400 / 132400 = 24.7 -> 24, 32 * 30000 / 132400 = 7.3 -> 7.
    expect(plain(proportionalWeights(map({ 0: 102400, 1: 30000 })))).toEqual({ 0: 24, 1: 7 })
    expect(plain(proportionalWeights(map({ 0: 3300, 1: 100 })))).toEqual(plain(kernelWeights(map({ 0: 3300, 1: 100 }))))
  })
})

describe("bandwidthWeights() from a published HMAT (a copy of the hmat guest's sysfs)", () => {
  const trees: Tree[] = []
  afterAll(() => {
    for (const tree of trees) tree.remove()
  })
  const weights = (spec: TreeSpec, nodes?: unknown, options?: unknown): Record<number, number> => {
    const tree = makeTree(spec)
    trees.push(tree)
    return bandwidthWeightsIn({ ...SYSFS, node: tree.at('node') }, nodes, options, () => [0])
  }
  const bandwidth = (node: number, k: number, read: number, write = read): TreeSpec => ({
    [`node/node${node}/access${k}/initiators/read_bandwidth`]: `${read}\n`,
    [`node/node${node}/access${k}/initiators/write_bandwidth`]: `${write}\n`,
  })

  it('weights every node with memory by its bandwidth: 5 : 5 : 1', () => {
    expect(weights(hmatGuestSpec())).toEqual({ 0: 5, 1: 5, 2: 1 })
  })

  it('takes the lesser of read and write bandwidth, and access class 1 before class 0', () => {
    expect(weights(hmatGuestSpec({ ...bandwidth(2, 1, 40960, 20480), ...bandwidth(2, 0, 51200) }))).toEqual({ 0: 5, 1: 5, 2: 1 })
    expect(weights(hmatGuestSpec({ ...bandwidth(2, 1, 20480, 51200) }))).toEqual({ 0: 5, 1: 5, 2: 1 })
    // No class 1 for node 2: class 0's 51200 (1 : 2 of the local 102400).
    expect(
      weights(
        hmatGuestSpec({
          'node/node2/access1/initiators/read_bandwidth': undefined,
          ...bandwidth(2, 0, 51200),
        }),
      ),
    ).toEqual({ 0: 2, 1: 2, 2: 1 })
  })

  it("reproduces the kernel's automatic mode with { kernel: true }: class 1 only, over every node with memory", () => {
    expect(weights(hmatGuestSpec(), undefined, { kernel: true })).toEqual({ 0: 7, 1: 7, 2: 1 })
    expect(weights(hmatGuestSpec(), 0, { kernel: true })).toEqual({ 0: 7 })
    // Without class 1 for node 2 the kernel knows no bandwidth for it: weight 1, the others 16 : 16.
    expect(weights(hmatGuestSpec({ 'node/node2/access1/initiators/read_bandwidth': undefined }), undefined, { kernel: true })).toEqual({
      0: 16,
      1: 16,
      2: 1,
    })
    expect(weights(hmatGuestSpec(), undefined, { kernel: false })).toEqual({ 0: 5, 1: 5, 2: 1 })
  })

  it('is ENODEV, naming the nodes, where a node has no bandwidth (absent or 0)', () => {
    for (const spec of [
      hmatGuestSpec({
        'node/node2/access0': undefined,
        'node/node2/access1/initiators/read_bandwidth': undefined,
        'node/node2/access0/initiators/read_bandwidth': undefined,
      }),
      hmatGuestSpec({ ...bandwidth(2, 1, 0), ...bandwidth(2, 0, 0) }),
    ]) {
      let caught: unknown
      try {
        weights(spec)
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(MempolicyError)
      expect(caught).toMatchObject({ code: 'ENODEV', errno: -19, syscall: 'open' })
      expect((caught as Error).message).toMatch(/^ENODEV: no such device, open \(the kernel publishes no memory bandwidth for node 2 /)
    }
    // The kernel's mode answers ENODEV only where no node has bandwidth (its node_bw_table is empty).
    const none: TreeSpec = { 'node/has_memory': '0-1\n', 'node/node0/meminfo': '', 'node/node1/meminfo': '' }
    expect(() => weights(none, undefined, { kernel: true })).toThrow(expect.objectContaining({ code: 'ENODEV' }))
    expect(() => weights({})).toThrow(
      expect.objectContaining({ code: 'ENODEV', message: expect.stringContaining('has_memory cannot be read') }),
    )
  })
})

describe('bandwidthWeights() on this machine', () => {
  const published = topology().nodes.some((n) => existsSync(`/sys/devices/system/node/node${n.id}/access0/initiators/read_bandwidth`))

  it('is ENODEV where the kernel publishes no HMAT bandwidth (as here), with the path it looked for', (ctx) => {
    if (published) ctx.skip('this machine publishes HMAT bandwidth (test/numa/weights.hmat.test.ts checks it)')
    let caught: unknown
    try {
      bandwidthWeights()
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(MempolicyError)
    const node = topology().withMemory[0]
    expect(caught).toMatchObject({
      code: 'ENODEV',
      errno: -19,
      syscall: 'open',
      path: `/sys/devices/system/node/node${node}/access1/initiators/read_bandwidth`,
    })
    expect((caught as MempolicyError).hint).toMatch(/no ACPI HMAT/)
    expect(() => bandwidthWeights(undefined, { kernel: true })).toThrow(expect.objectContaining({ code: 'ENODEV' }))
  })

  it('matches the published bandwidth where there is some', (ctx) => {
    if (!published) ctx.skip('this machine publishes no HMAT bandwidth (the hmat guest does: test/numa/weights.hmat.test.ts)')
    const bw = new Map(
      topology().withMemory.map((n) => {
        const dir = `/sys/devices/system/node/node${n}/access1/initiators`
        const at = existsSync(dir) ? dir : `/sys/devices/system/node/node${n}/access0/initiators`
        const value = (f: string): number => Number(readFileSync(`${at}/${f}`, 'latin1'))
        return [n, Math.min(value('read_bandwidth'), value('write_bandwidth'))]
      }),
    )
    expect(bandwidthWeights()).toEqual(plain(proportionalWeights(bw)))
  })

  it('rejects bad nodes and options before reading anything, with Node-style codes', () => {
    const code = (fn: () => unknown): unknown => {
      try {
        fn()
      } catch (err) {
        return [(err as Error).constructor.name, (err as { code?: unknown }).code]
      }
      return 'no error'
    }
    expect(code(() => bandwidthWeights({} as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE'])
    expect(code(() => bandwidthWeights(1.5))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE'])
    expect(code(() => bandwidthWeights(-1))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE'])
    expect(code(() => bandwidthWeights([0, 40000]))).toEqual(['RangeError', 'ERR_OUT_OF_RANGE'])
    expect(code(() => bandwidthWeights('0-x'))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE'])
    expect(code(() => bandwidthWeights([]))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE'])
    expect(code(() => bandwidthWeights(''))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE'])
    expect(code(() => bandwidthWeights(undefined, 5 as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE'])
    expect(code(() => bandwidthWeights(undefined, null as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE'])
    expect(code(() => bandwidthWeights(undefined, { kernel: 'yes' } as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_TYPE'])
    expect(code(() => bandwidthWeights(undefined, { kernal: true } as never))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE'])
    expect(() => bandwidthWeights(undefined, true as never)).toThrow(/Write \{ kernel: true \}/)
    const hostile = {
      get kernel(): boolean {
        throw new Error('boom')
      },
    }
    expect(code(() => bandwidthWeights(undefined, hostile))).toEqual(['TypeError', 'ERR_INVALID_ARG_VALUE'])
    expect(() => bandwidthWeights([])).toThrow("The argument 'nodes' must name at least one node")
  })

  it('refuses a node without memory, naming the nodes that have some', (ctx) => {
    const t = topology()
    const memoryless = t.online.find((n) => !t.withMemory.includes(n))
    if (memoryless === undefined) ctx.skip('every online node here has memory (the cxl and hmat guests check this)')
    expect(() => bandwidthWeights(memoryless)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining(`node ${memoryless} has none`) }),
    )
  })

  it('reads only sysfs: no weight file is written', () => {
    const dir = '/sys/kernel/mm/mempolicy/weighted_interleave'
    const before = existsSync(dir) ? readdirSync(dir).map((f) => [f, readFileSync(`${dir}/${f}`, 'latin1')]) : []
    try {
      bandwidthWeights()
    } catch {
      /* ENODEV here */
    }
    expect(existsSync(dir) ? readdirSync(dir).map((f) => [f, readFileSync(`${dir}/${f}`, 'latin1')]) : []).toEqual(before)
  })
})

describe('capabilities().tiering', () => {
  const vmstat = (): Record<string, number> =>
    Object.fromEntries(
      readFileSync('/proc/vmstat', 'latin1')
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .filter(([k]) => /^pg(promote|demote)_/.test(k!))
        .map(([k, v]) => [k, Number(v)]),
    )

  it('reads the NUMA balancing mode, demotion and the promotion/demotion counters as procfs and sysfs have them', () => {
    const before = vmstat()
    const { tiering } = capabilities()
    const after = vmstat()
    const mode = existsSync('/proc/sys/kernel/numa_balancing')
      ? Number(readFileSync('/proc/sys/kernel/numa_balancing', 'latin1'))
      : undefined
    expect(tiering.numaBalancing).toBe(mode)
    expect(tiering.promotion).toBe(mode !== undefined && (mode & 2) === 2)
    const demotion = existsSync('/sys/kernel/mm/numa/demotion_enabled')
      ? readFileSync('/sys/kernel/mm/numa/demotion_enabled', 'latin1').trim() === 'true'
      : undefined
    expect(tiering.demotion).toBe(demotion)
    expect(Object.keys(tiering.counters).sort()).toEqual(Object.keys(before).sort())
    for (const [name, value] of Object.entries(tiering.counters)) {
      expect(value).toBeGreaterThanOrEqual(before[name]!)
      expect(value).toBeLessThanOrEqual(after[name]!)
    }
    if (existsSync('/sys/devices/virtual/memory_tiering')) expect(Object.keys(tiering.counters)).toContain('pgdemote_kswapd')
  })
})
