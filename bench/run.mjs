#!/usr/bin/env node
// npm run bench: what the binding costs on top of the syscalls it makes, measured against C in one run.
//
// A C program (bench/baseline.c, compiled here with `cc -O2` into a temporary directory) makes the
// same raw syscalls with no binding around them. It runs as one child process that reads commands on
// stdin and answers with nanoseconds per call, so process start-up is never timed. Rounds alternate
// (binding batch, C batch, then C first in the next round, ...); each batch times many calls with one
// pair of clock reads before and after: wall-clock time (process.hrtime.bigint / CLOCK_MONOTONIC) and
// CPU time (process.cpuUsage / CLOCK_THREAD_CPUTIME_ID), which on a shared machine leaves out the time
// spent waiting for a CPU. The table shows, for CPU time, the median over the rounds of each side,
// the spread (25th to 75th percentile) and binding / C, with the wall-clock ratio beside it. Two more
// columns say what bounds each ratio: the addon's own export called with arguments already encoded
// ('addon alone', in the same rounds), and the C time plus one addon call that makes no syscall
// ('floor', the least any Node-API binding can show).
// bench/results.json keeps every sample of both clocks and the machine's description.
//
// Both sides run on one CPU (see below) unless --no-pin.
//
// Usage: node bench/run.mjs [--rounds=N] [--batch-ms=MS] [--out=FILE] [--no-pin]
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import readline from 'node:readline'
import { fileURLToPath } from 'node:url'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, '..')

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([\w-]+)(?:=(.*))?$/.exec(a)
    if (m === null) throw new Error(`unknown argument ${a}; usage: node bench/run.mjs [--rounds=N] [--batch-ms=MS] [--out=FILE] [--no-pin]`)
    return [m[1], m[2] ?? 'true']
  }),
)

const ROUNDS = Number(args.rounds ?? 15)
const BATCH_NS = Number(args['batch-ms'] ?? 10) * 1e6
const OUT = path.resolve(args.out ?? path.join(here, 'results.json'))
const ALLOC_MIB = 256
const ALLOC_PER_ROUND = 3
const RANGE_BYTES = 1 << 20

// ---- the package: build dist/ if it is missing or older than src/, and the addon if it is missing or stale

function newest(dir, pattern) {
  let latest = 0
  if (!fs.existsSync(dir)) return latest
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && pattern.test(entry.name)) {
      latest = Math.max(latest, fs.statSync(path.join(entry.parentPath ?? entry.path, entry.name)).mtimeMs)
    }
  }
  return latest
}

function mtime(file) {
  return fs.existsSync(file) ? fs.statSync(file).mtimeMs : -1
}

function npm(script) {
  console.log(`bench: npm run ${script}`)
  const r = spawnSync('npm', ['run', script], { cwd: root, stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`npm run ${script} failed`)
}

const addon = path.join(root, 'build', 'Release', 'mempolicy.node')
if (!fs.existsSync(addon)) {
  npm('build:native')
} else if (newest(path.join(root, 'native'), /\.(cc|h)$/) > mtime(addon)) {
  console.log('bench: the addon is older than native/: node-gyp build')
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'), 'build'], {
    cwd: root,
    stdio: 'inherit',
  })
  if (r.status !== 0) throw new Error('node-gyp build failed')
}
if (
  newest(path.join(root, 'src'), /\.ts$/) > mtime(path.join(root, 'dist', 'index.js')) ||
  !fs.existsSync(path.join(root, 'dist', 'index.mjs'))
) {
  npm('build')
}

const mp = await import(path.join(root, 'dist', 'index.mjs'))
if (!mp.isSupported()) throw new Error('bench: the memory-policy calls are not available here')

// Both sides on one CPU: every thread of this process is placed on the last CPU it may use (the
// package's own process-scope setCpuAffinity), and the C child inherits that from the thread that
// starts it. Left to the scheduler, each side lands on whichever CPU is free, and on a shared machine
// two CPUs are not equally fast from one second to the next: unpinned, the binding's batches of
// setMempolicy took either about 720 or about 1330 ns a call, switching mid-run, while pinned they
// stay within 10%.
let pinnedToCpu = null
if (args['no-pin'] === undefined) {
  pinnedToCpu = mp.getCpuAffinity().at(-1)
  mp.setCpuAffinity(pinnedToCpu, { scope: 'process' })
}
// The addon itself, as the package loaded it: its exports called directly show what the facade adds.
const requireDist = createRequire(import.meta.url)
const native = requireDist(path.join(root, 'dist', 'binding.js')).binding()
const { fillMask, maskWords: wordsFor } = requireDist(path.join(root, 'dist', 'ids.js'))

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc')

// ---- the machine

function readText(file) {
  try {
    return fs.readFileSync(file, 'latin1').trim()
  } catch {
    return undefined
  }
}

const topo = mp.topology()
const possible = topo.possible
const maskWords = wordsFor(possible[possible.length - 1])
const allowed = new Set(mp.memsAllowed())
const nodes = topo.withMemory.filter((n) => allowed.has(n))
const nodesText = mp.formatNodes(nodes)
const thp = /\[(\w+)\]/.exec(readText('/sys/kernel/mm/transparent_hugepage/enabled') ?? '')?.[1]
const cpuModel = /^model name\s*:\s*(.*)$/m.exec(readText('/proc/cpuinfo') ?? '')?.[1] ?? os.cpus()[0]?.model ?? 'unknown'
const machine = {
  cpu: cpuModel,
  // os.cpus(), not availableParallelism(): the latter counts only the CPU this process is pinned to.
  cores: os.cpus().length,
  kernel: `${os.type()} ${os.release()} ${os.machine?.() ?? process.arch}`,
  node: process.version,
  v8: process.versions.v8,
  numaNodes: { online: mp.formatNodes(topo.online), possible: mp.formatNodes(possible), withMemory: mp.formatNodes(topo.withMemory) },
  policyNodes: nodesText,
  maskWords,
  pageSize: mp.pageSize,
  transparentHugePages: thp ?? 'unknown',
  memory: `${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  loadAverageAtStart: os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' '),
  pinnedToCpu,
}

// ---- the C side

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mempolicy-bench-'))
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }))
const cc = process.env.CC || 'cc'
const cBinary = path.join(tmp, 'baseline')
execFileSync(cc, ['-O2', '-Wall', '-o', cBinary, path.join(here, 'baseline.c')], { stdio: 'inherit' })

// Node lists of 1024 nodes: one range (every node of a MAX_NUMNODES = 1024 kernel) and 256 runs of four.
const LISTS = [
  { label: '"0-1023"', text: '0-1023' },
  { label: '256 runs of 4', text: Array.from({ length: 256 }, (_, k) => `${8 * k}-${8 * k + 3}`).join(',') },
]
const listsFile = path.join(tmp, 'lists.txt')
fs.writeFileSync(listsFile, LISTS.map((l) => l.text).join('\n') + '\n')

const child = spawn(cBinary, [String(maskWords), nodes.join(','), listsFile], { stdio: ['pipe', 'pipe', 'inherit'] })
const answers = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]()
/** Runs `iterations` calls in the C baseline: [wall-clock ns, CPU ns] per call. */
async function c(op, iterations, arg = 0) {
  child.stdin.write(`${op} ${iterations} ${arg}\n`)
  const { value, done } = await answers.next()
  if (done) throw new Error(`bench: the C baseline exited during ${op}`)
  const [wall, cpu] = value.split(' ').map(Number)
  return [wall, cpu]
}

// ---- the binding side: one loop per call, so every call site stays monomorphic

const now = process.hrtime.bigint
let sink = 0 // eslint-disable-line @typescript-eslint/no-unused-vars -- written by every loop so V8 cannot drop the calls

// CPU time of this process, every thread (getrusage: exact, in microseconds). Node 20 has no clock for
// one thread (clock_gettime(CLOCK_THREAD_CPUTIME_ID)); /proc/thread-self/schedstat only moves at
// scheduler ticks. V8's helper threads are quiet in these loops once they are warm, and alloc() runs
// in rounds of its own after the others (see below), so this is the calling thread's time plus the
// garbage collection its allocations cause.
const cpuClock = 'CPU time of the process'
function cpuNow() {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) * 1000
}

/** Runs `loop(n)`: [wall-clock ns, CPU ns of this process] per call. */
function timed(n, loop) {
  const cpu0 = cpuNow()
  const t0 = now()
  loop(n)
  const wall = Number(now() - t0)
  return [wall / n, (cpuNow() - cpu0) / n]
}

const per = (times, k) => [times[0] / k, times[1] / k]

const range = mp.alloc(RANGE_BYTES)
range.fill(1)
const rangePages = Math.ceil(RANGE_BYTES / mp.pageSize)
const listIds = LISTS.map((l) => mp.parseNodes(l.text))
const bind = { mode: 'bind', nodes }

// The calls as an application holds them (import { getMempolicy } from 'mempolicy'), not read from the
// module namespace on every call.
const { getMempolicy, setMempolicy, mbind, policyOf, nodeOf, pageNodes, parseNodes, formatNodes, alloc } = mp

// The same syscalls through the addon's exports with no facade around them: arguments already encoded.
const rawMask = new ArrayBuffer(maskWords * 8)
fillMask(new Uint32Array(rawMask), nodes)
const rawMaxnode = maskWords * 64 + 1
const rawMaxnodeOut = maskWords * 64
const { MPOL_BIND, MPOL_F_ADDR } = mp.constants
const raw = {
  get: (n) => {
    setMempolicy(bind)
    const ns = timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= native.threadPolicy(rawMask)
    })
    setMempolicy({ mode: 'default' })
    return ns
  },
  set: (n) => {
    const ns = timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= native.setMempolicy(MPOL_BIND, rawMask, rawMaxnode)
    })
    setMempolicy({ mode: 'default' })
    return ns
  },
  mbind: (n) =>
    timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= native.mbind(range, MPOL_BIND, rawMask, rawMaxnode, 0)
    }),
  policyOf: (n) =>
    timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= native.getMempolicy(rawMask, rawMaxnodeOut, range, -1, MPOL_F_ADDR)
    }),
  nodeOf: (n) =>
    timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= native.nodeOf(range, 0)
    }),
  pageNodes: (n) =>
    per(
      timed(n, (n) => {
        for (let i = 0; i < n; i++) sink ^= native.pageNodes(range)[0]
      }),
      rangePages,
    ),
}
raw.setText = raw.set

const js = {
  // An addon call that makes no syscall (an offset outside the memory is refused in C++ before any):
  // the least any call through Node-API costs, arguments and result included.
  empty: (n) =>
    timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= native.nodeOf(range, -1)
    }),
  get: (n) => {
    setMempolicy(bind)
    const ns = timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= getMempolicy().nodes.length
    })
    setMempolicy({ mode: 'default' })
    return ns
  },
  set: (n) => {
    const ns = timed(n, (n) => {
      for (let i = 0; i < n; i++) setMempolicy({ mode: 'bind', nodes })
    })
    setMempolicy({ mode: 'default' })
    return ns
  },
  setText: (n) => {
    const ns = timed(n, (n) => {
      for (let i = 0; i < n; i++) setMempolicy({ mode: 'bind', nodes: nodesText })
    })
    setMempolicy({ mode: 'default' })
    return ns
  },
  mbind: (n) =>
    timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= mbind(range, { mode: 'bind', nodes }).byteLength
    }),
  policyOf: (n) =>
    timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= policyOf(range).nodes.length
    }),
  nodeOf: (n) =>
    timed(n, (n) => {
      for (let i = 0; i < n; i++) sink ^= nodeOf(range)
    }),
  pageNodes: (n) =>
    per(
      timed(n, (n) => {
        for (let i = 0; i < n; i++) sink ^= pageNodes(range)[0]
      }),
      rangePages,
    ),
  parse0: (n) =>
    timed(n, (n) => {
      const t = LISTS[0].text
      for (let i = 0; i < n; i++) sink ^= parseNodes(t).length
    }),
  parse1: (n) =>
    timed(n, (n) => {
      const t = LISTS[1].text
      for (let i = 0; i < n; i++) sink ^= parseNodes(t).length
    }),
  format0: (n) =>
    timed(n, (n) => {
      const ids = listIds[0]
      for (let i = 0; i < n; i++) sink ^= formatNodes(ids).length
    }),
  format1: (n) =>
    timed(n, (n) => {
      const ids = listIds[1]
      for (let i = 0; i < n; i++) sink ^= formatNodes(ids).length
    }),
}

// alloc + first touch: each call timed alone; collection (and so munmap) happens between calls, untimed.
async function jsAlloc(n) {
  let wall = 0
  let cpu = 0
  for (let i = 0; i < n; i++) {
    const cpu0 = cpuNow()
    const t0 = now()
    const memory = alloc(ALLOC_MIB << 20, bind)
    memory.fill(1)
    wall += Number(now() - t0)
    cpu += cpuNow() - cpu0
    sink ^= memory[memory.length - 1]
    // Collect it; Node-API runs the finalizer (munmap) from the event loop after the collection. Then
    // let V8's helper threads finish that collection's work before the next call is timed.
    for (let k = 0; k < 2; k++) {
      gc()
      await new Promise((resolve) => setImmediate(resolve))
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return [wall / n, cpu / n]
}

const SYSCALL = 1.1
const rows = [
  { key: 'empty', name: 'addon call, no syscall', c: null, target: {} },
  { key: 'get', name: 'getMempolicy()', c: 'get', target: { ratio: SYSCALL } },
  { key: 'set', name: 'setMempolicy({ nodes: number[] })', c: 'set', target: { ratio: SYSCALL } },
  { key: 'setText', name: 'setMempolicy({ nodes: string })', c: 'set', target: { ratio: SYSCALL } },
  { key: 'mbind', name: 'mbind(1 MiB)', c: 'mbind', target: { ratio: SYSCALL } },
  { key: 'policyOf', name: 'policyOf(1 MiB)', c: 'policyof', target: { ratio: SYSCALL } },
  { key: 'nodeOf', name: 'nodeOf(1 MiB)', c: 'nodeof', target: { ratio: SYSCALL } },
  { key: 'pageNodes', name: 'pageNodes(1 MiB), per page', c: 'pagenodes', target: { ratio: SYSCALL } },
  { key: 'parse0', name: `parseNodes(${LISTS[0].label})`, c: 'parse', arg: 0, target: { ns: 1000 } },
  { key: 'parse1', name: `parseNodes(${LISTS[1].label})`, c: 'parse', arg: 1, target: {} },
  { key: 'format0', name: `formatNodes(${LISTS[0].label})`, c: 'format', arg: 0, target: {} },
  { key: 'format1', name: `formatNodes(${LISTS[1].label})`, c: 'format', arg: 1, target: {} },
  { key: 'alloc', name: `alloc(${ALLOC_MIB} MiB) + fill`, c: 'alloc', arg: ALLOC_MIB, target: { ratio: 1 / 0.95 }, async: true },
]

// ---- calibration: warm both sides up, then size each batch to about BATCH_NS of wall-clock time

const interactive = process.stdout.isTTY
console.log(
  `bench: ${ROUNDS} rounds, batches of ~${BATCH_NS / 1e6} ms; ${machine.cpu}, ${machine.cores} cores, ${machine.kernel}, node ${machine.node}; ` +
    (machine.pinnedToCpu === null ? 'not pinned' : `both sides on CPU ${machine.pinnedToCpu}`),
)
const batch = {}
for (const row of rows) {
  if (row.async) continue
  const scale = row.key === 'pageNodes' ? rangePages : 1
  let n = 16
  const cSide = async (n) => (row.c === null ? [0, 0] : await c(row.c, n, row.arg))
  let jsNs = js[row.key](n)[0] * scale
  const rawSide = (n) => (raw[row.key] === undefined ? 0 : raw[row.key](n)[0] * scale)
  let rawNs = rawSide(n)
  let cNs = (await cSide(n))[0] * scale
  // Grow until a warm-up batch takes 50 ms, after at least 100 ms in all: enough for the optimizing compiler.
  for (let spent = 0; spent < 100e6; spent += n * (jsNs + rawNs + cNs)) {
    n = Math.min(n * 4, Math.ceil(50e6 / Math.max(jsNs, 1)))
    jsNs = js[row.key](n)[0] * scale
    rawNs = rawSide(n)
    cNs = (await cSide(n))[0] * scale
  }
  batch[row.key] = {
    js: Math.max(8, Math.round(BATCH_NS / jsNs)),
    raw: rawNs === 0 ? 0 : Math.max(8, Math.round(BATCH_NS / rawNs)),
    c: row.c === null ? 0 : Math.max(8, Math.round(BATCH_NS / cNs)),
  }
}
await jsAlloc(1)
await c('alloc', 1, ALLOC_MIB)

// ---- the rounds: binding then C, then C then binding, ...

// alloc() runs last, in rounds of its own: the collections it needs between calls (and the work they
// leave for V8's helper threads) are kept away from the other rows.
const samples = Object.fromEntries(rows.map((r) => [r.key, { js: [], raw: [], c: [] }]))
for (let round = 0; round < 2 * ROUNDS; round++) {
  const jsFirst = round % 2 === 0
  for (const row of rows) {
    if (round < ROUNDS === Boolean(row.async)) continue
    const runJs = async () => samples[row.key].js.push(row.async ? await jsAlloc(ALLOC_PER_ROUND) : js[row.key](batch[row.key].js))
    const runRaw = () => {
      if (raw[row.key] !== undefined && !row.async) samples[row.key].raw.push(raw[row.key](batch[row.key].raw))
    }
    const runC = async () => {
      if (row.c !== null) samples[row.key].c.push(await c(row.c, row.async ? ALLOC_PER_ROUND : batch[row.key].c, row.arg))
    }
    if (jsFirst) {
      await runJs()
      runRaw()
      await runC()
    } else {
      await runC()
      runRaw()
      await runJs()
    }
  }
  if (interactive) process.stdout.write(`\rbench: round ${round + 1}/${2 * ROUNDS}`)
}
if (interactive) process.stdout.write('\n')
child.stdin.end()

// ---- the table

function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q
  const lo = Math.floor(pos)
  const hi = Math.ceil(pos)
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo)
}

function stats(values) {
  const sorted = [...values].sort((a, b) => a - b)
  return {
    median: quantile(sorted, 0.5),
    p25: quantile(sorted, 0.25),
    p75: quantile(sorted, 0.75),
    min: sorted[0],
    max: sorted[sorted.length - 1],
  }
}

function ns(value) {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)} ms`
  if (value >= 1e4) return `${(value / 1e3).toFixed(1)} us`
  if (value >= 100) return value.toFixed(0)
  return value.toFixed(1)
}

const CLOCKS = ['cpu', 'wall']
const results = []
for (const row of rows) {
  const s = samples[row.key]
  const result = { call: row.name, unit: row.key === 'pageNodes' ? 'ns per page' : 'ns per call' }
  for (const clock of CLOCKS) {
    const k = clock === 'wall' ? 0 : 1
    const jsValues = s.js.map((v) => v[k])
    const binding = stats(jsValues)
    result[clock] = { binding: { ...binding, samples: jsValues } }
    if (row.c === null) continue
    const cValues = s.c.map((v) => v[k])
    const base = stats(cValues)
    Object.assign(result[clock], {
      c: { ...base, samples: cValues },
      ratio: binding.median / base.median,
      ratioPerRound: stats(jsValues.map((v, r) => v / cValues[r])),
    })
    if (s.raw.length > 0) {
      const rawValues = s.raw.map((v) => v[k])
      const addon = stats(rawValues)
      // The least a Node-API binding could reach here: the C time plus one empty addon call.
      const empty = stats(samples.empty.js.map((v) => v[k])).median / (row.key === 'pageNodes' ? rangePages : 1)
      Object.assign(result[clock], {
        addon: { ...addon, samples: rawValues },
        addonRatio: addon.median / base.median,
        floorRatio: (base.median + empty) / base.median,
      })
    }
  }
  if (row.c === null) {
    results.push(result)
    continue
  }
  const ratio = result.cpu.ratio
  if (row.target.ratio !== undefined) {
    result.target = row.target.ratio === SYSCALL ? `<= ${SYSCALL.toFixed(2)}x` : '<= 1.05x (C time / 0.95)'
    result.meets = ratio <= row.target.ratio
  } else if (row.target.ns !== undefined) {
    result.target = `< ${row.target.ns / 1000} us`
    result.meets = result.cpu.binding.median < row.target.ns
  }
  results.push(result)
}

// CPU time first: on a shared machine, wall-clock time also counts the time a process waited for a CPU.
const range_ = (x) => `${ns(x.p25)}-${ns(x.p75)}`
const header = [
  'call',
  'binding ns',
  '(p25-p75)',
  'C ns',
  '(p25-p75)',
  'binding / C',
  'addon alone / C',
  'floor / C',
  'wall-clock: binding / C',
  'target',
]
const x = (ratio) => (ratio === undefined ? '' : `${ratio.toFixed(2)}x`)
const table = results.map((r) =>
  r.cpu.c === undefined
    ? [r.call, ns(r.cpu.binding.median), range_(r.cpu.binding), '', '', '', '', '', '', '']
    : [
        r.call,
        ns(r.cpu.binding.median),
        range_(r.cpu.binding),
        ns(r.cpu.c.median),
        range_(r.cpu.c),
        x(r.cpu.ratio),
        x(r.cpu.addonRatio),
        x(r.cpu.floorRatio),
        `${r.wall.ratio.toFixed(2)}x (${ns(r.wall.binding.median)} / ${ns(r.wall.c.median)})`,
        r.target === undefined ? '' : `${r.target} ${r.meets ? 'ok' : 'MISSED'}`,
      ],
)
const widths = header.map((h, k) => Math.max(h.length, ...table.map((line) => line[k].length)))
const edge = (k) => k === 0 || k === header.length - 1
const line = (cells) => `| ${cells.map((cell, k) => (edge(k) ? cell.padEnd(widths[k]) : cell.padStart(widths[k]))).join(' | ')} |`
console.log(line(header))
console.log(`|${widths.map((w, k) => (edge(k) ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`)
for (const cells of table) console.log(line(cells))
console.log(`Medians over ${ROUNDS} rounds of the ${cpuClock} per call (C: its one thread), 25th-75th percentile in`)
console.log('brackets; the wall-clock ratio alongside, which on a busy machine also counts waiting for a CPU.')
console.log("'addon alone': the addon's export called with arguments already encoded, no facade. 'floor': C plus one")
console.log("'addon call, no syscall', over C: the least ratio any Node-API binding of that syscall can show here.")

machine.loadAverageAtEnd = os
  .loadavg()
  .map((l) => l.toFixed(2))
  .join(' ')
console.log(`load average: ${machine.loadAverageAtStart} at start, ${machine.loadAverageAtEnd} at the end`)
fs.writeFileSync(
  OUT,
  JSON.stringify({ date: new Date().toISOString(), rounds: ROUNDS, batchMs: BATCH_NS / 1e6, clock: cpuClock, machine, results }, null, 2) +
    '\n',
)
console.log(`bench: wrote ${path.relative(process.cwd(), OUT) || OUT}`)
