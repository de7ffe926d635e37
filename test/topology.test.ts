import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { parseNodes, topology, type Topology } from '../src/index'
import { topology as readTopology } from '../src/topology'
import { hmatGuestSpec, makeTree, type Tree, type TreeSpec } from './sysfs-tree'

// Every readFileSync of the package counted by path, for the once-per-call test.
const reads = vi.hoisted(() => new Map<string, number>())
vi.mock('node:fs', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs')>()
  const readFileSync = ((file: Parameters<typeof actual.readFileSync>[0], ...rest: unknown[]) => {
    reads.set(String(file), (reads.get(String(file)) ?? 0) + 1)
    return (actual.readFileSync as (...args: unknown[]) => unknown)(file, ...rest)
  }) as typeof actual.readFileSync
  return { ...actual, readFileSync, default: { ...actual, readFileSync } }
})

const sys = (file: string): string => readFileSync(`/sys/devices/system/node/${file}`, 'latin1').trim()

describe('topology', () => {
  const t = topology()

  it('lists the node states sysfs lists', () => {
    expect(t.online).toEqual(parseNodes(sys('online')))
    expect(t.possible).toEqual(parseNodes(sys('possible')))
    expect(t.withMemory).toEqual(parseNodes(sys('has_memory')))
    expect(t.withCpu).toEqual(parseNodes(sys('has_cpu')))
  })

  it('has one entry per online node, in order, with its CPUs, memory and distances', () => {
    const dirs = readdirSync('/sys/devices/system/node')
      .filter((d) => /^node\d+$/.test(d))
      .map((d) => Number(d.slice(4)))
      .sort((a, b) => a - b)
    expect(t.nodes.map((n) => n.id)).toEqual(t.online)
    expect(t.nodes.map((n) => n.id)).toEqual(dirs)
    for (const n of t.nodes) {
      expect(n.cpus).toEqual(parseNodes(sys(`node${n.id}/cpulist`)))
      const meminfo = sys(`node${n.id}/meminfo`)
      expect(n.memTotal).toBe(Number(/MemTotal:\s+(\d+) kB/.exec(meminfo)![1]) * 1024)
      expect(n.memFree).toBeGreaterThan(0)
      expect(n.memFree).toBeLessThanOrEqual(n.memTotal)
      const row = sys(`node${n.id}/distance`).split(/\s+/).map(Number)
      expect(Object.keys(n.distances).map(Number)).toEqual(t.online)
      expect(Object.values(n.distances)).toEqual(row)
      expect(n.distances[n.id]).toBe(10)
    }
  })

  it('agrees with the CPUs the machine has', async () => {
    const { availableParallelism, cpus } = await import('node:os')
    const all = t.nodes.flatMap((n) => n.cpus)
    expect(all.length).toBeGreaterThanOrEqual(Math.min(availableParallelism(), cpus().length))
  })
})

// The heterogeneous-memory fields, against sysfs read here independently: present exactly where the
// kernel publishes them. The host has no HMAT; the 'hmat' guest (test/numa/topology.hmat.test.ts)
// has every field.
const NODE = '/sys/devices/system/node'
const TIERING = '/sys/devices/virtual/memory_tiering'
const text = (file: string): string | undefined => (existsSync(file) ? readFileSync(file, 'latin1').trim() : undefined)

describe('topology: heterogeneous memory on this machine', () => {
  const t = topology()

  it('has has_normal_memory and has_generic_initiator where sysfs has them', () => {
    const normal = text(`${NODE}/has_normal_memory`)
    const generic = text(`${NODE}/has_generic_initiator`)
    expect(t.withNormalMemory).toEqual(normal === undefined ? undefined : parseNodes(normal))
    expect(t.withGenericInitiator).toEqual(generic === undefined ? undefined : parseNodes(generic))
  })

  it('lists the memory tiers and puts each node in its tier', () => {
    const tiers = existsSync(TIERING)
      ? readdirSync(TIERING)
          .filter((d) => /^memory_tier\d+$/.test(d))
          .map((d) => ({ id: Number(d.slice(11)), nodes: parseNodes(text(`${TIERING}/${d}/nodelist`)!) }))
      : []
    tiers.sort((a, b) => a.id - b.id)
    expect(t.tiers).toEqual(tiers)
    for (const n of t.nodes) expect(n.tier).toBe(tiers.find((tier) => tier.nodes.includes(n.id))?.id)
  })

  it('says whether the kernel demotes, where it can', () => {
    const demotion = text('/sys/kernel/mm/numa/demotion_enabled')
    expect(t.demotion).toBe(demotion === undefined ? undefined : demotion === 'true')
  })

  it('has HMAT access classes and memory-side caches only where sysfs has them', () => {
    for (const n of t.nodes) {
      for (const [k, key] of [
        [0, 'all'],
        [1, 'cpu'],
      ] as const) {
        const dir = `${NODE}/node${n.id}/access${k}/initiators`
        if (!existsSync(`${dir}/read_bandwidth`)) {
          expect(n.access?.[key]).toBeUndefined()
          continue
        }
        expect(n.access?.[key]).toEqual({
          initiators: readdirSync(dir)
            .filter((d) => /^node\d+$/.test(d))
            .map((d) => Number(d.slice(4)))
            .sort((a, b) => a - b),
          readBandwidth: Number(text(`${dir}/read_bandwidth`)),
          writeBandwidth: Number(text(`${dir}/write_bandwidth`)),
          readLatency: Number(text(`${dir}/read_latency`)),
          writeLatency: Number(text(`${dir}/write_latency`)),
        })
      }
      if (!existsSync(`${NODE}/node${n.id}/access0`) && !existsSync(`${NODE}/node${n.id}/access1`)) expect(n).not.toHaveProperty('access')
      const caches = `${NODE}/node${n.id}/memory_side_cache`
      if (!existsSync(caches)) expect(n).not.toHaveProperty('caches')
      else
        expect(n.caches?.map((c) => c.level)).toEqual(
          readdirSync(caches)
            .filter((d) => /^index\d+$/.test(d))
            .map((d) => Number(d.slice(5)))
            .sort((a, b) => a - b),
        )
    }
  })
})

describe("topology: read from a given sysfs (the hmat guest's, and partial copies of it)", () => {
  const trees: Tree[] = []
  afterAll(() => {
    for (const tree of trees) tree.remove()
  })
  const read = (spec: TreeSpec): Topology => {
    const tree = makeTree(spec)
    trees.push(tree)
    return readTopology({ node: tree.at('node'), tiering: tree.at('tiering'), numa: tree.at('numa') })
  }

  it('gives every field the kernel published, in the units sysfs uses', () => {
    const t = read(hmatGuestSpec())
    expect(t.online).toEqual([0, 1, 2])
    expect(t.withMemory).toEqual([0, 1, 2])
    expect(t.withCpu).toEqual([0, 1])
    expect(t.withNormalMemory).toEqual([0, 1, 2])
    expect(t.withGenericInitiator).toEqual([])
    expect(t.tiers).toEqual([
      { id: 4, nodes: [0, 1] },
      { id: 56, nodes: [2] },
    ])
    expect(t.demotion).toBe(false)
    const local = { readBandwidth: 102400, writeBandwidth: 102400, readLatency: 100, writeLatency: 100 }
    const expander = { initiators: [0], readBandwidth: 20480, writeBandwidth: 20480, readLatency: 250, writeLatency: 250 }
    expect(t.nodes.map((n) => [n.id, n.tier, n.access])).toEqual([
      [0, 4, { all: { initiators: [0], ...local }, cpu: { initiators: [0], ...local } }],
      [1, 4, { all: { initiators: [1], ...local }, cpu: { initiators: [1], ...local } }],
      [2, 56, { all: expander, cpu: expander }],
    ])
    expect(t.nodes[2]!.caches).toEqual([{ level: 1, size: 16 << 20, lineSize: 64, indexing: 'direct-mapped', writePolicy: 'write-back' }])
    expect(t.nodes[0]).not.toHaveProperty('caches')
    expect(t.nodes[2]!.distances).toEqual({ 0: 28, 1: 28, 2: 10 })
    expect(t.nodes[2]!.cpus).toEqual([])
    expect(t.nodes[1]!.memTotal).toBe((476400 + 4096) * 1024)
  })

  it('leaves out an access class or cache whose files are incomplete, and maps the cache enums as the kernel defines them', () => {
    const cache = 'node/node2/memory_side_cache'
    const t = read(
      hmatGuestSpec({
        'node/node0/access1/initiators/write_latency': undefined,
        'node/node1/access0/initiators/read_bandwidth': { dir: true },
        [`${cache}/index2/size`]: '1048576\n',
        [`${cache}/index2/line_size`]: '128\n',
        [`${cache}/index2/indexing`]: '1\n',
        [`${cache}/index2/write_policy`]: '1\n',
        [`${cache}/index2/address_mode`]: '1\n',
        [`${cache}/index3/size`]: '4096\n',
        [`${cache}/index3/line_size`]: '64\n',
        [`${cache}/index3/indexing`]: '2\n',
        [`${cache}/index3/write_policy`]: '7\n',
        [`${cache}/index4/size`]: '4096\n',
        [`${cache}/index4/indexing`]: '0\n',
        [`${cache}/index4/write_policy`]: '0\n',
      }),
    )
    expect(Object.keys(t.nodes[0]!.access!)).toEqual(['all'])
    expect(Object.keys(t.nodes[1]!.access!)).toEqual(['cpu'])
    expect(t.nodes[2]!.caches).toEqual([
      { level: 1, size: 16 << 20, lineSize: 64, indexing: 'direct-mapped', writePolicy: 'write-back' },
      { level: 2, size: 1 << 20, lineSize: 128, indexing: 'indexed', writePolicy: 'write-through', addressMode: 'extended-linear' },
      { level: 3, size: 4096, lineSize: 64, indexing: 'other', writePolicy: 'other' },
    ])
  })

  it('tolerates a partial, unreadable or malformed sysfs: defaults where the contract has them, absent elsewhere', () => {
    const t = read({
      'node/online': '0\n',
      'node/has_cpu': { dir: true },
      'node/has_memory': 'garbage\n',
      'node/node0/distance': '10 x\n',
      'tiering/memory_tier4/nodelist': '0\n',
      'tiering/memory_tier5/nodelist': '1-0\n',
      'tiering/memory_tierX/nodelist': '0\n',
      'numa/demotion_enabled': 'maybe\n',
    })
    expect(t).toEqual({
      online: [0],
      possible: [0],
      withMemory: [0],
      withCpu: [0],
      nodes: [{ id: 0, cpus: [], memTotal: 0, memFree: 0, distances: { 0: 10 }, tier: 4 }],
      tiers: [{ id: 4, nodes: [0] }],
    })
    // No node list at all: nothing to tell, and nothing is made up.
    for (const spec of [{}, { 'node/online': 'x\n' }] as TreeSpec[]) {
      expect(() => read(spec)).toThrow(
        expect.objectContaining({ code: 'ENOENT', syscall: 'open', path: expect.stringMatching(/\/node\/online$/) }),
      )
    }
  })

  it('reads each sysfs file at most once per call', () => {
    const tree = makeTree(hmatGuestSpec())
    trees.push(tree)
    reads.clear()
    readTopology({ node: tree.at('node'), tiering: tree.at('tiering'), numa: tree.at('numa') })
    const inTree = [...reads].filter(([file]) => file.startsWith(tree.root))
    // States, tiers, demotion, per node cpulist, meminfo, distance and 2 x 4 access files, the cache's 4.
    expect(inTree.length).toBeGreaterThanOrEqual(6 + 2 + 1 + 3 * 11 + 4)
    expect(inTree.filter(([, count]) => count > 1)).toEqual([])
  })
})
