// The 'hmat' guest (test/numa-vm/topologies.mjs): an ACPI HMAT as on a machine with a CXL memory
// expander. CPU nodes 0 and 1 (100 ns / 100 GiB/s locally, 180 ns / 50 GiB/s across), a memory-only
// node 2 behind node 0 (250 ns / 20 GiB/s) with a 16 MiB memory-side cache, and the tiers the kernel
// built from them. One file, so that the guest starts Node and vitest's workers once for all of it.
//
// - topology(): every field checked twice, against sysfs read here (independently of the package)
//   and against what the topology asked qemu for; capabilities().tiering and topology().demotion
//   follow the sysctl and sysfs switches when they are flipped (the guest is thrown away afterwards).
// - bandwidthWeights(): 5 : 5 : 1 from 100G, 100G and 20G; setInterleaveWeights() takes them and a
//   weighted interleave puts pages 5 : 1, as move_pages and numa_maps report them.
// - numastat parity, numastat itself as the oracle: `mempolicy stat` on idle processes, and on the
//   guest's own node files frozen (copied, then put in place of the live ones in a private mount
//   namespace, so that both programs read the same numbers); nodeStats() and memoryOf() have the
//   numbers numastat shows.
// - demotion: with demotion on, reclaim moves pages from node 0 to the expander; move_pages,
//   memoryOf() and the pgdemote counters of capabilities().tiering all show it.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs'

import { afterAll, beforeAll, expect, it } from 'vitest'

import {
  alloc,
  bandwidthWeights,
  capabilities,
  interleaveWeights,
  memoryOf,
  nodeStats,
  pageSize,
  setInterleaveWeights,
  topology,
  type Access,
} from '../../src/index'
import { cFixed, stat as statReport } from '../../src/cli/stat'
import { NO_NUMASTAT, NO_UNSHARE, canUnshare, frozen, hasNumastat, idle, numastat, numbers, type Case, type Run } from '../numastat-oracle'
import { numaMapsLine } from '../oracle/index'
import { makeTree, type Tree, type TreeSpec } from '../sysfs-tree'
import { describeNuma, nodeStateText, placement, touch } from './helpers'

const NODE = '/sys/devices/system/node'
const TIERING = '/sys/devices/virtual/memory_tiering'
const THP = '/sys/kernel/mm/transparent_hugepage/enabled'
const DEMOTION = '/sys/kernel/mm/numa/demotion_enabled'
const read = (file: string): string => readFileSync(file, 'latin1').trim()
const list = (text: string): number[] =>
  text
    .split(',')
    .filter(Boolean)
    .flatMap((part) => {
      const [a, b = a] = part.split('-').map(Number)
      return Array.from({ length: b! - a! + 1 }, (_, k) => a! + k)
    })
const MiB = 2 ** 20

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b)
}

/**
 * `mempolicy stat` run in this process (a Node start costs seconds under emulation; the command
 * line around it is tested on the host, test/stat.test.ts), with stdout a pipe as numastat's is here.
 */
const stat = (args: string[], env: NodeJS.ProcessEnv = {}): Run => statReport(args, { ...process.env, ...env }, false)

/** Access class k of a node, read from sysfs here. */
function sysfsAccess(node: number, k: number): Access {
  const dir = `${NODE}/node${node}/access${k}/initiators`
  return {
    initiators: readdirSync(dir)
      .filter((d) => /^node\d+$/.test(d))
      .map((d) => Number(d.slice(4)))
      .sort((a, b) => a - b),
    readBandwidth: Number(read(`${dir}/read_bandwidth`)),
    writeBandwidth: Number(read(`${dir}/write_bandwidth`)),
    readLatency: Number(read(`${dir}/read_latency`)),
    writeLatency: Number(read(`${dir}/write_latency`)),
  }
}

describeNuma('the hmat guest: HMAT performance, memory-side cache, tiers', { topology: 'hmat' }, () => {
  const t = topology()

  it('has the node states of the topology, has_normal_memory and has_generic_initiator included', () => {
    expect([t.online, t.withMemory, t.withCpu]).toEqual([
      [0, 1, 2],
      [0, 1, 2],
      [0, 1],
    ])
    expect(t.withNormalMemory).toEqual(list(nodeStateText('has_normal_memory')))
    expect(t.withNormalMemory).toEqual([0, 1, 2])
    expect(t.withGenericInitiator).toEqual(list(nodeStateText('has_generic_initiator')))
    expect(t.withGenericInitiator).toEqual([])
  })

  it('gives every node both access classes as sysfs has them', () => {
    for (const n of t.nodes) {
      expect(n.access).toEqual({ all: sysfsAccess(n.id, 0), cpu: sysfsAccess(n.id, 1) })
    }
  })

  it('has the latency and bandwidth qemu was given (MiB/s and ns), from the initiator the memory is attached to', () => {
    const local = { readBandwidth: 102400, writeBandwidth: 102400, readLatency: 100, writeLatency: 100 }
    const expander = { initiators: [0], readBandwidth: 20480, writeBandwidth: 20480, readLatency: 250, writeLatency: 250 }
    expect(t.nodes.map((n) => n.access)).toEqual([
      { all: { initiators: [0], ...local }, cpu: { initiators: [0], ...local } },
      { all: { initiators: [1], ...local }, cpu: { initiators: [1], ...local } },
      { all: expander, cpu: expander },
    ])
  })

  it('has the memory-side cache of the expander, and none elsewhere', () => {
    const dir = `${NODE}/node2/memory_side_cache/index1`
    // 0 and 0: the kernel's NODE_CACHE_DIRECT_MAP and NODE_CACHE_WRITE_BACK.
    expect([read(`${dir}/indexing`), read(`${dir}/write_policy`)]).toEqual(['0', '0'])
    expect(t.nodes[2]!.caches).toEqual([
      {
        level: 1,
        size: Number(read(`${dir}/size`)),
        lineSize: Number(read(`${dir}/line_size`)),
        indexing: 'direct-mapped',
        writePolicy: 'write-back',
      },
    ])
    expect(t.nodes[2]!.caches![0]).toMatchObject({ size: 16 << 20, lineSize: 64 })
    expect(t.nodes[0]).not.toHaveProperty('caches')
    expect(t.nodes[1]).not.toHaveProperty('caches')
  })

  it('has the tiers the kernel made: the DRAM nodes in one, the slower expander alone in a lower one', () => {
    const tiers = readdirSync(TIERING)
      .filter((d) => /^memory_tier\d+$/.test(d))
      .map((d) => ({ id: Number(d.slice(11)), nodes: list(read(`${TIERING}/${d}/nodelist`)) }))
      .sort((a, b) => a.id - b.id)
    expect(t.tiers).toEqual(tiers)
    expect(t.tiers.map((tier) => tier.nodes)).toEqual([[0, 1], [2]])
    expect(t.nodes.map((n) => n.tier)).toEqual([t.tiers[0]!.id, t.tiers[0]!.id, t.tiers[1]!.id])
    // Higher ids are slower tiers (adistance / 128); Linux 6.12 puts these in 4 and 56.
    expect(t.tiers[0]!.id).toBeLessThan(t.tiers[1]!.id)
  })

  it('follows demotion_enabled and the numa_balancing mode when they change', () => {
    const balancing = '/proc/sys/kernel/numa_balancing'
    const saved = [read(DEMOTION), read(balancing)]
    try {
      expect(topology().demotion).toBe(saved[0] === 'true')
      writeFileSync(DEMOTION, 'true')
      writeFileSync(balancing, '2')
      expect(topology().demotion).toBe(true)
      expect(capabilities().tiering).toMatchObject({ numaBalancing: 2, promotion: true, demotion: true })
      writeFileSync(DEMOTION, 'false')
      writeFileSync(balancing, '1')
      expect(topology().demotion).toBe(false)
      expect(capabilities().tiering).toMatchObject({ numaBalancing: 1, promotion: false, demotion: false })
    } finally {
      writeFileSync(DEMOTION, saved[0]!)
      writeFileSync(balancing, saved[1]!)
    }
    expect(Object.keys(capabilities().tiering.counters)).toEqual(
      expect.arrayContaining(['pgpromote_success', 'pgdemote_kswapd', 'pgdemote_direct']),
    )
  })
})

describeNuma('bandwidth weights in the hmat guest', { topology: 'hmat' }, () => {
  it('are 5 : 5 : 1 for nodes 0-2, from sysfs: min(read, write) of access1 over their GCD', () => {
    const bandwidth = [0, 1, 2].map((n) => {
      const dir = `${NODE}/node${n}/access1/initiators`
      return Math.min(Number(readFileSync(`${dir}/read_bandwidth`, 'latin1')), Number(readFileSync(`${dir}/write_bandwidth`, 'latin1')))
    })
    expect(bandwidth).toEqual([102400, 102400, 20480])
    const divisor = bandwidth.reduce(gcd)
    expect(bandwidthWeights()).toEqual(Object.fromEntries(bandwidth.map((bw, n) => [n, bw / divisor])))
    expect(bandwidthWeights()).toEqual({ 0: 5, 1: 5, 2: 1 })
  })

  it('weight any set of nodes: 100G : 20G is 5 : 1, 100G : 100G is 1 : 1', () => {
    expect(bandwidthWeights([0, 2])).toEqual({ 0: 5, 2: 1 })
    expect(bandwidthWeights('1-2')).toEqual({ 1: 5, 2: 1 })
    expect(bandwidthWeights('0-1')).toEqual({ 0: 1, 1: 1 })
    expect(bandwidthWeights(2)).toEqual({ 2: 1 })
    expect(bandwidthWeights('all')).toEqual({ 0: 5, 1: 5, 2: 1 })
  })

  it("are the kernel's own automatic weights with { kernel: true }: 32 x share, rounded down, over the GCD", () => {
    // 32 * 102400 / 225280 = 14.5 -> 14, 32 * 20480 / 225280 = 2.9 -> 2; GCD 2.
    expect(bandwidthWeights(undefined, { kernel: true })).toEqual({ 0: 7, 1: 7, 2: 1 })
    expect(bandwidthWeights([0, 2], { kernel: true })).toEqual({ 0: 7, 2: 1 })
  })

  it('put a weighted interleave 5 : 1 on nodes 0 and 2, page for page', (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('writing the weights needs root')
    // 4 KiB pages: with transparent huge pages a 2 MiB page would land on one node whole.
    writeFileSync(THP, 'never')
    expect(readFileSync(THP, 'latin1')).toContain('[never]')
    const previous = interleaveWeights()
    const weights = bandwidthWeights([0, 2])
    try {
      setInterleaveWeights(weights)
      expect(interleaveWeights()).toEqual({ ...previous, 0: 5, 2: 1 })
      const before = memoryOf()
      // A multiple of the weights' sum (6): the interleave index runs through whole rounds.
      const rounds = 256
      const memory = touch(alloc(6 * rounds * pageSize, { mode: 'weighted-interleave', nodes: [0, 2] }, { hugePages: false }))
      expect(placement(memory)).toEqual({ 0: 5 * rounds, 2: rounds })
      const maps = numaMapsLine(memory)
      expect(maps.policy).toBe('weighted interleave:0,2')
      expect(Object.fromEntries(maps.nodes)).toEqual({ 0: 5 * rounds, 2: rounds })
      // Nothing else of this process goes to the expander (no CPU there, default policy elsewhere).
      const after = memoryOf()
      expect(after[2]!.private - before[2]!.private).toBe(rounds * pageSize)
      expect(after[2]!.total - before[2]!.total).toBe(rounds * pageSize)
      // numastat sees the same: node 2's Private grew by exactly `rounds` pages (1.00 MB).
      const report = spawnSync('numastat', ['-p', `${process.pid}`], { encoding: 'utf8' }).stdout
      const cells = report
        .split('\n')
        .find((l) => l.startsWith('Private '))!
        .trim()
        .split(/\s+/)
      expect(Number(cells[3])).toBeCloseTo(after[2]!.private / 2 ** 20, 2)
    } finally {
      setInterleaveWeights(previous)
    }
    expect(interleaveWeights()).toEqual(previous)
  })
})

describeNuma('mempolicy stat against numastat on three nodes', { topology: 'hmat' }, () => {
  const sleepers: Awaited<ReturnType<typeof idle>>[] = []
  let pid = 0
  let other = 0
  const trees: Tree[] = []
  beforeAll(async () => {
    sleepers.push(await idle('sleep', ['86402']), await idle('sleep', ['86403']))
    pid = sleepers[0]!.pid!
    other = sleepers[1]!.pid!
  })
  afterAll(() => {
    for (const sleeper of sleepers) sleeper.kill()
    for (const tree of trees) tree.remove()
  })

  it("gives numastat -p's bytes for an idle process, with every option", (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    let compared = 0
    for (const argv of [
      ['-p', `${pid}`],
      ['-c', '-p', `${pid}`],
      ['-zs2', '-p', `${pid}`],
      ['-v', '-p', `${pid}`, `${other}`],
      ['-p', `${other}`, `${pid}`, '-s'],
      ['-p', '8640', '-cz'],
    ]) {
      const expected = numastat(argv)
      expect(expected.stdout).toContain('Per-node process memory usage (in MBs)')
      expect(stat(argv)).toEqual(expected)
      compared++
    }
    for (const width of ['80']) {
      expect(stat(['-p', `${pid}`], { NUMASTAT_WIDTH: width })).toEqual(numastat(['-p', `${pid}`], { NUMASTAT_WIDTH: width }))
      compared++
    }
    console.log(`[hmat] numastat parity on an idle process: ${compared} reports compared byte for byte`)
  })

  it("gives numastat's bytes on the guest's own node files, frozen, for every report", (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    if (!canUnshare) ctx.skip(NO_UNSHARE)
    // A copy of this guest's node files as they are now, and of the sleeper's numa_maps.
    const spec: TreeSpec = {
      meminfo: readFileSync('/proc/meminfo', 'latin1'),
      numa_maps: readFileSync(`/proc/${pid}/numa_maps`, 'latin1'),
    }
    for (const name of readdirSync(NODE)) {
      if (!/^node\d+$/.test(name)) {
        if (['online', 'possible', 'has_memory', 'has_cpu'].includes(name)) spec[`node/${name}`] = readFileSync(`${NODE}/${name}`, 'latin1')
        continue
      }
      for (const file of ['numastat', 'meminfo']) spec[`node/${name}/${file}`] = readFileSync(`${NODE}/${name}/${file}`, 'latin1')
    }
    const tree = makeTree(spec)
    trees.push(tree)
    const cases: Case[] = [
      [],
      ['-m', '-n'],
      ['-c', '-m', '-n'],
      ['-z', '-m', '-n'],
      ['-s', '-m'],
      ['-s2', '-n'],
      ['-p', 'PID'],
      ['-zsc', '-p', 'PID'],
    ].map((args) => ({ args }))
    cases.push({ args: ['-m'], width: '80' }, { args: ['-c', '-m', '-n'], width: '50' }, { args: ['-p', 'PID', '-n'], width: '60' })
    const results = frozen(tree, cases)
    results.forEach(([expected, ours], k) => expect({ case: cases[k], ...ours }).toEqual({ case: cases[k], ...expected }))
    // numastat -m on this kernel knows some rows and reports the others, once per node.
    expect(results[1]![0].stdout).toContain('Token Unaccepted not in hash table.\nToken SwapCached not in hash table.')
    expect(results[1]![0].stdout).toContain('Node 2')
    console.log(`[hmat] numastat parity on frozen guest data: ${results.length} reports compared byte for byte`)
  })

  it('has nodeStats() and memoryOf() numbers numastat shows', (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    const first = numbers(numastat([]).stdout)
    const stats = nodeStats()
    const second = numbers(numastat([]).stdout)
    expect(stats.map((s) => s.node)).toEqual([0, 1, 2])
    // Header: the node ids; then numa_hit, numa_miss, ... each with a column per node.
    const keys = ['numaHit', 'numaMiss', 'numaForeign', 'interleaveHit', 'localNode', 'otherNode'] as const
    keys.forEach((key, row) =>
      stats.forEach((s, col) => {
        expect(s[key]).toBeGreaterThanOrEqual(first[3 + row * 3 + col]!)
        expect(s[key]).toBeLessThanOrEqual(second[3 + row * 3 + col]!)
      }),
    )
    const report = numastat(['-p', `${pid}`]).stdout.split('\n')
    const rows = memoryOf(pid)
    for (const [label, key] of [
      ['Huge', 'huge'],
      ['Heap', 'heap'],
      ['Stack', 'stack'],
      ['Private', 'private'],
      ['Total', 'total'],
    ] as const) {
      const cells = report
        .find((l) => l.startsWith(`${label} `))!
        .trim()
        .split(/\s+/)
        .slice(1)
      expect(cells).toEqual([
        ...rows.map((r) => cFixed(r[key] / 2 ** 20, 2)),
        cFixed(rows.reduce((sum, r) => sum + r[key], 0) / 2 ** 20, 2),
      ])
    }
  })
})

describeNuma('demotion to the expander', { topology: 'hmat' }, () => {
  it('moves pages from node 0 to node 2 on reclaim: move_pages, memoryOf() and the pgdemote counters show it', () => {
    // This process in a cgroup of its own (cgroup v2, memory controller) while it fills a buffer on
    // node 0: the buffer is charged there, so reclaiming from that cgroup reclaims the buffer, and with
    // demotion on, reclaim moves it to the slower tier (node 2) instead of dropping it.
    expect(read('/sys/fs/cgroup/cgroup.controllers').split(' ')).toContain('memory')
    const cgroup = `/sys/fs/cgroup/mempolicy-demotion-${process.pid}`
    const saved = read(DEMOTION)
    const pages = 4096
    writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', '+memory')
    mkdirSync(cgroup)
    try {
      writeFileSync(`${cgroup}/cgroup.procs`, `${process.pid}`)
      const memory = alloc(pages * pageSize, { mode: 'preferred', nodes: [0] }, { hugePages: false })
      for (let i = 0; i < memory.length; i += pageSize) memory[i] = (i / pageSize) & 0xff
      expect(placement(memory)).toEqual({ 0: pages })
      // Back in the root cgroup: what this process allocates from now on is not reclaimed below.
      writeFileSync('/sys/fs/cgroup/cgroup.procs', `${process.pid}`)
      writeFileSync(DEMOTION, 'true')
      const counted = (): number =>
        Object.entries(capabilities().tiering.counters)
          .filter(([name]) => name.startsWith('pgdemote_'))
          .reduce((sum, [, n]) => sum + n, 0)
      const before = { memory: memoryOf(), demoted: counted() }
      try {
        writeFileSync(`${cgroup}/memory.reclaim`, `${2 * pages * pageSize}`)
      } catch {
        // The kernel answers an error when it could not reclaim all it was asked: demoted pages stay in use.
      }
      const after = { memory: memoryOf(), demoted: counted() }
      expect(placement(memory)).toEqual({ 2: pages })
      expect(after.demoted - before.demoted).toBeGreaterThanOrEqual(pages)
      expect(after.memory[2]!.private - before.memory[2]!.private).toBeGreaterThanOrEqual(pages * pageSize)
      expect(before.memory[0]!.private - after.memory[0]!.private).toBeGreaterThanOrEqual(pages * pageSize * 0.9)
      // Moved, not lost.
      for (let i = 0; i < memory.length; i += pageSize)
        if (memory[i] !== ((i / pageSize) & 0xff)) throw new Error(`page ${i / pageSize} changed`)
      console.log(
        `[hmat] demotion: ${after.demoted - before.demoted} pages demoted; node 2 holds ${cFixed(after.memory[2]!.private / MiB, 2)} MiB of this process`,
      )
    } finally {
      writeFileSync('/sys/fs/cgroup/cgroup.procs', `${process.pid}`)
      writeFileSync(DEMOTION, saved)
      rmdirSync(cgroup)
    }
  })
})
