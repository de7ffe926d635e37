// `mempolicy stat` against numastat itself, byte for byte: on idle processes of this machine (their
// numa_maps do not change), and on frozen data, where numastat and `mempolicy stat` read the very same
// files: a private mount namespace puts a made-up /sys/devices/system/node, /proc/meminfo and a
// process's numa_maps in place of the real ones (edge cases: rounding ties, long lines, unknown rows,
// sparse node ids, folding at the screen width). Live counters, which move between two runs, are
// checked to lie between two numastat runs. nodeStats() and memoryOf() are checked against the same
// sources. Skips, with the reason, where numastat is not installed or namespaces are not allowed.
import { spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MempolicyError, memoryOf, nodeStats, pageSize, topology } from '../src/index'
import { cFixed } from '../src/cli/stat'
import {
  NO_NUMASTAT,
  NO_UNSHARE,
  SLEEPER,
  canUnshare,
  cli,
  frozen,
  hasNumastat,
  idle,
  layout,
  numastat,
  numbers,
  stat,
  type Case,
} from './numastat-oracle'
import { makeTree, type Tree, type TreeSpec } from './sysfs-tree'

const root = path.join(__dirname, '..')

describe('mempolicy stat matches numastat on idle processes', () => {
  const children: ChildProcess[] = []
  // A token in the command lines of the sleepers alone, to search for.
  const token = `86400.${process.pid}${Date.now() % 100000}`
  let a = 0
  let b = 0
  beforeAll(async () => {
    if (!hasNumastat) return
    children.push(await idle('sleep', [token]), await idle('sleep', [`${token}1`]))
    a = children[0]!.pid!
    b = children[1]!.pid!
  })
  afterAll(() => {
    for (const child of children) child.kill()
  })

  const cases: [string, (a: number, b: number, token: string) => string[]][] = [
    ['-p PID', (a) => ['-p', `${a}`]],
    ['PID as an operand', (a) => [`${a}`]],
    ['-pPID', (a) => [`-p${a}`]],
    ['-c (compressed)', (a) => ['-p', `${a}`, '-c']],
    ['-z (no zero rows or columns)', (a) => ['-z', '-p', `${a}`]],
    ['-c -z clustered with -p', (a) => ['-czp', `${a}`]],
    ['-s (sorted by total)', (a) => ['-s', '-p', `${a}`]],
    ['-s0 (sorted by node 0)', (a) => ['-s0', '-p', `${a}`]],
    ['-v with one PID', (a) => ['-v', '-p', `${a}`]],
    ['two PIDs: one row each', (a, b) => ['-p', `${b}`, '-p', `${a}`]],
    ['two PIDs, -v: a table each', (a, b) => ['-v', '-p', `${a}`, `${b}`]],
    ['two PIDs, -c -s', (a, b) => ['-c', '-s', `${a}`, `${b}`]],
    ['the same PID twice', (a) => [`${a}`, `${a}`]],
    ['a pattern matching both', (_a, _b, t) => ['-p', t]],
    ['a pattern as an operand, -z -c', (_a, _b, t) => [t, '-zc']],
    ['a PID that does not exist', () => ['-p', '2147483646']],
    ['an empty PID (numastat reads it as 0)', () => ['-p', '']],
    ['after --', (a) => ['--', `${a}`]],
  ]
  for (const [name, args] of cases) {
    it(`${name}: same stdout, stderr and status`, (ctx) => {
      if (!hasNumastat) ctx.skip(NO_NUMASTAT)
      const argv = args(a, b, token)
      const expected = numastat(argv)
      expect(expected.stdout).not.toBe('')
      expect(stat(argv)).toEqual(expected)
    })
  }

  it('folds lines at NUMASTAT_WIDTH as numastat does (32, 50, 80 columns, and nonsense)', (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    for (const width of ['32', '50', '80', '1', 'x', '20000000']) {
      for (const argv of [
        ['-p', `${a}`],
        ['-c', '-p', `${a}`, `${b}`],
      ]) {
        expect(stat(argv, { NUMASTAT_WIDTH: width })).toEqual(numastat(argv, { NUMASTAT_WIDTH: width }))
      }
    }
  })

  it("memoryOf(pid) has numastat -p's numbers, in bytes", (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    const rows = memoryOf(a)
    expect(rows.map((r) => r.node)).toEqual(topology().online)
    // numastat -p PID: a row per category, a column per node, then Total (NUMASTAT_WIDTH keeps it on one line).
    const report = numastat(['-p', `${a}`]).stdout.split('\n')
    const mb = (bytes: number): string => cFixed(bytes / 2 ** 20, 2)
    for (const [label, key] of [
      ['Huge', 'huge'],
      ['Heap', 'heap'],
      ['Stack', 'stack'],
      ['Private', 'private'],
      ['Total', 'total'],
    ] as const) {
      const line = report.find((l) => l.startsWith(`${label} `))!
      const cells = line.slice(line.indexOf(' ')).trim().split(/\s+/)
      expect(cells).toEqual([...rows.map((r) => mb(r[key])), mb(rows.reduce((sum, r) => sum + r[key], 0))])
    }
    for (const r of rows) expect(r.total).toBe(r.huge + r.heap + r.stack + r.private)
    expect(rows.reduce((sum, r) => sum + r.private, 0)).toBeGreaterThan(0)
  })
})

describe('memoryOf()', () => {
  it('counts this process from its numa_maps: pages times their size, per node', () => {
    const text = readFileSync('/proc/self/numa_maps', 'latin1')
    const rows = memoryOf()
    const sum = rows.reduce((total, r) => total + r.total, 0)
    // Each N<node>=<pages> times kernelpagesize_kB, added up independently (the process keeps allocating: bounds).
    // The heap and the stack are counted the same way from the lines that name them: a process whose
    // malloc does not use brk (a sanitizer's allocator, musl's mmap for large blocks) may have no heap pages.
    let pages = 0
    let heapPages = 0
    let stackPages = 0
    for (const line of text.split('\n')) {
      const kb = Number(/kernelpagesize_kB=(\d+)/.exec(line)?.[1] ?? 4)
      let bytes = 0
      for (const m of line.matchAll(/ N\d+=(\d+)/g)) bytes += Number(m[1]) * kb * 1024
      pages += bytes
      if (/ heap( |$)/.test(line)) heapPages += bytes
      if (/ stack( |$)/.test(line)) stackPages += bytes
    }
    expect(sum).toBeGreaterThan(pages * 0.5)
    expect(sum).toBeLessThan(pages * 2)
    const heap = rows.reduce((total, r) => total + r.heap, 0)
    const stack = rows.reduce((total, r) => total + r.stack, 0)
    expect(stackPages).toBeGreaterThan(0)
    expect(stack).toBeGreaterThanOrEqual(stackPages * 0.5)
    expect(stack).toBeLessThan(stackPages * 2 + 2 ** 20)
    if (heapPages > 0) expect(heap).toBeGreaterThan(0)
    else expect(heap).toBeLessThan(2 ** 20)
    for (const r of rows) expect(r.total % pageSize).toBe(0)
  })

  it('is a MempolicyError with a hint for a process that does not exist', () => {
    let caught: unknown
    try {
      memoryOf(2147483646)
    } catch (err) {
      caught = err
    }
    expect(caught).toBeInstanceOf(MempolicyError)
    expect(caught).toMatchObject({ code: 'ENOENT', syscall: 'open', path: '/proc/2147483646/numa_maps' })
    expect((caught as Error).message).toContain('no process 2147483646')
  })

  it('validates the pid', () => {
    expect(() => memoryOf('1' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    for (const pid of [0, -1, 1.5, 2 ** 31, Number.NaN]) {
      expect(() => memoryOf(pid)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE', name: 'RangeError' }))
    }
  })
})

describe('nodeStats()', () => {
  const counters = (node: number): Record<string, number> =>
    Object.fromEntries(
      readFileSync(`/sys/devices/system/node/node${node}/numastat`, 'latin1')
        .trim()
        .split('\n')
        .map((l) => l.split(' '))
        .map(([k, v]) => [k, Number(v)]),
    )

  it("has each online node's numastat counters, ascending, between two reads of the files", () => {
    const online = topology().online
    const before = online.map(counters)
    const stats = nodeStats()
    const after = online.map(counters)
    expect(stats.map((s) => s.node)).toEqual(online)
    const names = {
      numaHit: 'numa_hit',
      numaMiss: 'numa_miss',
      numaForeign: 'numa_foreign',
      interleaveHit: 'interleave_hit',
      localNode: 'local_node',
      otherNode: 'other_node',
    }
    stats.forEach((s, k) => {
      expect(Object.keys(s)).toEqual(['node', ...Object.keys(names)])
      for (const [key, file] of Object.entries(names)) {
        const value = s[key as keyof typeof names]
        expect(value).toBeGreaterThanOrEqual(before[k]![file]!)
        expect(value).toBeLessThanOrEqual(after[k]![file]!)
      }
    })
  })

  it('agrees with numastat (no options: the raw counters) within two numastat runs', (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    const first = numastat([])
    const stats = nodeStats()
    const ours = stat([])
    const second = numastat([])
    expect(layout(ours.stdout)).toEqual(layout(first.stdout))
    const low = numbers(first.stdout)
    const high = numbers(second.stdout)
    const mine = numbers(ours.stdout)
    // node ids in the header, then a row per counter with a column per node.
    expect(mine.length).toBe(low.length)
    mine.forEach((n, k) => {
      expect(n).toBeGreaterThanOrEqual(low[k]!)
      expect(n).toBeLessThanOrEqual(high[k]!)
    })
    const rows = first.stdout.split('\n').slice(1)
    expect(rows.map((r) => r.split(/\s+/)[0]).filter(Boolean)).toEqual([
      'numa_hit',
      'numa_miss',
      'numa_foreign',
      'interleave_hit',
      'local_node',
      'other_node',
    ])
    expect(stats.map((s) => s.numaHit).every((v, k) => v >= low[stats.length + k]! && v <= high[stats.length + k]!)).toBe(true)
  })

  it("-n and -c -n have numastat's layout, and numbers between two numastat runs", (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    for (const argv of [['-n'], ['-c', '-n'], ['-z', '-n']]) {
      const first = numastat(argv)
      const ours = stat(argv)
      const second = numastat(argv)
      expect(ours.status).toBe(0)
      const low = numbers(first.stdout)
      const high = numbers(second.stdout)
      const mine = numbers(ours.stdout)
      expect(mine.length).toBe(low.length)
      mine.forEach((n, k) => {
        expect(n).toBeGreaterThanOrEqual(Math.min(low[k]!, high[k]!))
        expect(n).toBeLessThanOrEqual(Math.max(low[k]!, high[k]!))
      })
      if (!argv.includes('-c')) expect(layout(ours.stdout)).toEqual(layout(first.stdout))
    }
  })
})

describe('mempolicy stat: options and errors as numastat has them', () => {
  const cases: string[][] = [['-x'], ['-p'], ['--help'], ['--he'], ['--help=1'], ['--foo'], ['--foo=bar'], ['-?'], ['-c', '-q'], ['-zx']]
  for (const argv of cases) {
    it(`${JSON.stringify(argv)}: usage on stderr, exit 1`, (ctx) => {
      if (!hasNumastat) ctx.skip(NO_NUMASTAT)
      const expected = numastat(argv)
      expect(expected.status).toBe(1)
      expect(stat(argv)).toEqual(expected)
    })
  }

  it('-V prints its version as numastat does, exit 0', () => {
    const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version
    expect(stat(['-V'])).toEqual({ stdout: `mempolicy stat version: ${version}\n`, stderr: '', status: 0 })
  })

  it('a pattern that matches nothing says so, then shows the counters', (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    const argv = ['-p', `no-such-process-${process.pid}`]
    const ours = stat(argv)
    const expected = numastat(argv)
    expect(ours.stdout.split('\n').slice(0, 3)).toEqual(expected.stdout.split('\n').slice(0, 3))
    expect(layout(ours.stdout)).toEqual(layout(expected.stdout))
  })
})

describe('%.2f and %.0f as C prints them (round half to even on the exact value)', () => {
  it('matches printf for every multiple of 1/256 and 1/1024 up to 40 (pages and kB in MB)', () => {
    const values: [number, string][] = []
    for (let k = 0; k <= 40 * 1024; k += 1)
      values.push([
        k / 1024,
        (BigInt(k) * 9765625n)
          .toString()
          .padStart(11, '0')
          .replace(/(\d{10})$/, '.$1'),
      ])
    for (const places of [0, 2]) {
      const r = spawnSync('/usr/bin/printf', [`%.${places}f\\n`, ...values.map(([, exact]) => exact)], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      })
      expect(r.status).toBe(0)
      expect(values.map(([v]) => cFixed(v, places)).join('\n') + '\n').toBe(r.stdout)
    }
    expect([cFixed(0.125, 2), cFixed(0.375, 2), cFixed(2.5, 0), cFixed(3.5, 0), cFixed(-0, 2), cFixed(1e22, 2)]).toEqual([
      '0.12',
      '0.38',
      '2',
      '4',
      '-0.00',
      '10000000000000000000000.00',
    ])
  })
})

/** A 6.12 kernel's node meminfo with chosen values (kB; HugePages_* in pages). */
function meminfo(node: number, values: Record<string, number>): string {
  const rows = [
    'MemTotal',
    'MemFree',
    'MemUsed',
    'SwapCached',
    'Active',
    'Inactive',
    'Active(anon)',
    'Inactive(anon)',
    'Active(file)',
    'Inactive(file)',
    'Unevictable',
    'Mlocked',
    'Dirty',
    'Writeback',
    'FilePages',
    'Mapped',
    'AnonPages',
    'Shmem',
    'KernelStack',
    'PageTables',
    'SecPageTables',
    'NFS_Unstable',
    'Bounce',
    'WritebackTmp',
    'KReclaimable',
    'Slab',
    'SReclaimable',
    'SUnreclaim',
    'AnonHugePages',
    'ShmemHugePages',
    'ShmemPmdMapped',
    'FileHugePages',
    'FilePmdMapped',
    'Unaccepted',
    'HugePages_Total',
    'HugePages_Free',
    'HugePages_Surp',
  ]
  return rows
    .map((row) => {
      const value = values[row] ?? 0
      return row.startsWith('HugePages')
        ? `Node ${node} ${`${row}:`.padEnd(15)} ${String(value).padStart(5)}\n`
        : `Node ${node} ${`${row}:`.padEnd(15)} ${String(value).padStart(8)} kB\n`
    })
    .join('')
}

function counters(values: number[], extra = ''): string {
  const names = ['numa_hit', 'numa_miss', 'numa_foreign', 'interleave_hit', 'local_node', 'other_node']
  return names.map((name, k) => `${name} ${values[k] ?? 0}\n`).join('') + extra
}

const MEMINFO = 'MemTotal:        8000000 kB\nMemFree:         4000000 kB\nHugepagesize:       2048 kB\n'

const hugeHead = '7f480000 default file=/dev/hugepages/'
const hugeTail = ' huge dirty=3 '

/** Four nodes (0-2 like the hmat guest, 3 without memory), values on rounding ties and past 16 digits. */
function fourNodes(): TreeSpec {
  const spec: TreeSpec = { meminfo: MEMINFO }
  const mem: Record<string, number>[] = [
    {
      MemTotal: 476400,
      MemFree: 457376,
      MemUsed: 19024,
      Active: 3520,
      Dirty: 128,
      Writeback: 384,
      Shmem: 640,
      Mapped: 512,
      AnonPages: 1536,
      KernelStack: 2560,
      HugePages_Total: 3,
      HugePages_Free: 1,
      SwapCached: 4,
    },
    { MemTotal: 515648, MemFree: 497460, MemUsed: 18188, Active: 5212, Dirty: 640, Slab: 3340, FilePages: 5200 },
    { MemTotal: 513716, MemFree: 506364, MemUsed: 7352, Slab: 2704, SUnreclaim: 2560, Unaccepted: 12 },
    {},
  ]
  const stats = [
    [12345678901234568, 32, 0, 96, 3, 0],
    [7944, 0, 0, 261, 6975, 969],
    [1156, 0, 0, 265, 0, 1156],
    [0, 0, 0, 0, 0, 0],
  ]
  for (const node of [0, 1, 2, 3]) {
    spec[`node/node${node}/meminfo`] = meminfo(node, mem[node]!)
    spec[`node/node${node}/numastat`] = counters(stats[node]!)
  }
  spec['node/online'] = '0-3\n'
  spec['node/possible'] = '0-3\n'
  spec['node/has_memory'] = '0-2\n'
  spec.numa_maps = [
    '00400000 default file=/usr/bin/sleep mapped=8 mapmax=3 N0=5 N2=3 kernelpagesize_kB=4',
    '00600000 default heap anon=32 dirty=32 N1=32 kernelpagesize_kB=4',
    '7ffd0000 default stack anon=96 dirty=96 N0=96 kernelpagesize_kB=4',
    '7f000000 bind:2 file=/dev/hugepages/x huge dirty=3 N2=3 kernelpagesize_kB=2048',
    '7f100000 prefer (many):0-1 anon=10 dirty=10 N0=4 N1=6 kernelpagesize_kB=4',
    '7f200000 weighted interleave:0-2 anon=12 dirty=12 N0=5 N1=5 N2=2 kernelpagesize_kB=4',
    '7f300000 default',
    // Longer than numastat's 2048-byte line buffer: read in two pieces, the second one Private
    // whatever the first said (here: huge pages counted as 4 KiB ones, as numastat counts them).
    `7f400000 default file=/${'x'.repeat(2100)} mapped=7 N1=7 kernelpagesize_kB=4`,
    `${hugeHead}${'x'.repeat(2047 - hugeHead.length - hugeTail.length)}${hugeTail}N1=3 kernelpagesize_kB=2048`,
    '7f500000 interleave:0-2 anon=1 N2=1 kernelpagesize_kB=4',
    '',
  ].join('\n')
  return spec
}

/** Eight nodes with sparse ids (0-6 and 8): columns fold into sections at 80 columns. */
function eightNodes(): TreeSpec {
  const ids = [0, 1, 2, 3, 4, 5, 6, 8]
  const spec: TreeSpec = { meminfo: MEMINFO, 'node/online': '0-6,8\n', 'node/possible': '0-8\n', 'node/has_memory': '0-6,8\n' }
  ids.forEach((node, k) => {
    spec[`node/node${node}/meminfo`] = meminfo(node, {
      MemTotal: 262144 + k * 1000,
      MemFree: 131072 + k * 977,
      MemUsed: 131072 - k * 23,
      Active: k * 128,
    })
    spec[`node/node${node}/numastat`] = counters([1000 + k * 37, k, k * 2, 100, 900 + k, 100 + k * 36])
  })
  spec.numa_maps =
    ids.map((node, k) => `7f${k}00000 interleave:0-6,8 anon=${k + 1} N${node}=${(k + 1) * 32} kernelpagesize_kB=4`).join('\n') + '\n'
  return spec
}

describe('mempolicy stat and numastat on the same frozen data', () => {
  const trees: Tree[] = []
  afterAll(() => {
    for (const tree of trees) tree.remove()
  })
  const tree = (spec: TreeSpec): Tree => {
    const t = makeTree(spec, 'mempolicy-stat-tree-')
    trees.push(t)
    return t
  }
  const compare = (spec: TreeSpec, cases: Case[]): number => {
    const results = frozen(tree(spec), cases)
    results.forEach(([expected, ours], k) => {
      expect({ case: cases[k], ...ours }).toEqual({ case: cases[k], ...expected })
    })
    return results.length
  }
  const options = [
    [],
    ['-n'],
    ['-m'],
    ['-c', '-m'],
    ['-z', '-m'],
    ['-mz', '-c'],
    ['-s', '-m'],
    ['-s1', '-m'],
    ['-s2', '-n'],
    ['-m', '-n'],
    ['-c', '-n', '-z'],
    ['-p', 'PID'],
    ['-p', 'PID', '-c'],
    ['-zs', '-p', 'PID'],
    ['-s1', '-p', 'PID'],
    ['-v', '-p', 'PID', '-m'],
    ['-p', 'PID', 'PID', '-n'],
    ['-p', `sleep ${SLEEPER}`, '-c'],
  ]

  it('four nodes: rounding ties, 17-digit counters, unknown meminfo rows, huge pages, a long numa_maps line', (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    if (!canUnshare) ctx.skip(NO_UNSHARE)
    const cases: Case[] = options.map((args) => ({ args }))
    for (const width of ['32', '80', '100']) cases.push({ args: ['-m', '-n'], width }, { args: ['-c', '-p', 'PID'], width })
    expect(compare(fourNodes(), cases)).toBe(options.length + 6)
  })

  it('eight nodes with sparse ids: folded sections, -c, -z, -s', (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    if (!canUnshare) ctx.skip(NO_UNSHARE)
    const cases: Case[] = [
      [],
      ['-n'],
      ['-m'],
      ['-c', '-m', '-n'],
      ['-z', '-m'],
      ['-s', '-m'],
      ['-p', 'PID'],
      ['-cz', '-p', 'PID'],
      ['-s', '-v', '-p', 'PID'],
    ].flatMap((args) => [{ args }, { args, width: '80' }, { args, width: '200' }])
    compare(eightNodes(), cases)
  })

  it('kernel rows numastat does not know, and a node whose file is missing', (ctx) => {
    if (!hasNumastat) ctx.skip(NO_NUMASTAT)
    if (!canUnshare) ctx.skip(NO_UNSHARE)
    const spec = fourNodes()
    spec['node/node1/numastat'] = counters([5, 6, 7, 8, 9, 10], 'numa_new_counter 11\n')
    compare(spec, [{ args: [] }, { args: ['-n'] }, { args: ['-c', '-n'] }])
    delete spec['node/node2/numastat']
    delete spec['node/node3/meminfo']
    compare(spec, [{ args: [] }, { args: ['-n'] }, { args: ['-m'] }, { args: ['-p', 'PID', '-m'] }])
  })
})

describe('mempolicy stat without numastat', () => {
  it('runs where numastat is not installed, and reads only what numastat reads', () => {
    const r = stat(['-p', `${process.pid}`, '-m', '-n'])
    expect(r.status).toBe(0)
    expect(r.stdout).toContain(`Per-node process memory usage (in MBs) for PID ${process.pid} (`)
    expect(r.stdout).toContain('\nPer-node system memory usage (in MBs):\n')
    expect(r.stdout).toContain('\nPer-node numastat info (in MBs):\n')
    const nodes = readdirSync('/sys/devices/system/node').filter((d) => /^node\d+$/.test(d)).length
    expect(
      r.stdout
        .split('\n')
        .find((l) => l.includes('Node 0'))!
        .trim()
        .split(/\s{2,}/),
    ).toHaveLength(nodes + 1)
    expect(existsSync(cli)).toBe(true)
  })
})
