#!/usr/bin/env node
// Command line for the multi-node NUMA guest harness (see README.md in this folder).
//
//   node test/numa-vm/run.mjs --all [--topology NAME ...] [--timeout SECONDS]
//       boots each topology in turn and runs its guest tests (test/numa/, vitest.numa.config.mts);
//       exits non-zero if any guest failed, did not boot or timed out.
//   node test/numa-vm/run.mjs --topology NAME [--timeout SECONDS] -- COMMAND [ARGS...]
//       runs one command in one guest, prints its output, exits with its exit code.
//   node test/numa-vm/run.mjs --prepare      installs/downloads/builds what the guests need, boots none
//   node test/numa-vm/run.mjs --list         topologies and the test files each one runs
import fs from 'node:fs'
import path from 'node:path'
import process from 'node:process'

import { ensureOracleBuilt } from '../oracle/build.mjs'
import { numaTestFiles } from './select.mjs'
import { CACHE_DIR, HarnessError, REPO_ROOT, TOPOLOGIES, TOPOLOGY_NAMES, ensureGuestAssets, killAllGuests, runInGuest } from './vm.mjs'

const USAGE = `usage:
  node test/numa-vm/run.mjs --all [--topology NAME ...] [--timeout SECONDS] [--quiet]
  node test/numa-vm/run.mjs --topology NAME [--timeout SECONDS] -- COMMAND [ARGS...]
  node test/numa-vm/run.mjs --prepare [--refresh-kernel]
  node test/numa-vm/run.mjs --list
topologies: ${TOPOLOGY_NAMES.join(', ')}
A single COMMAND argument is run as a shell command line ('cat /proc/x | wc -l'); several are quoted
one by one. Cache: ${CACHE_DIR} (MEMPOLICY_NUMA_VM_CACHE overrides).`

const NODES_MARK = '@@MEMPOLICY-NUMA-VM NODES'
/** Boots of one topology when the earlier ones failed before running anything. */
const BOOT_ATTEMPTS = 2

function parseArgs(argv) {
  const opts = {
    all: false,
    prepare: false,
    list: false,
    topologies: [],
    timeoutS: undefined,
    command: [],
    quiet: false,
    refreshKernel: false,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const value = () => {
      const v = argv[++i]
      if (v === undefined) throw new HarnessError(`${a} needs a value\n${USAGE}`)
      return v
    }
    if (a === '--') {
      opts.command = argv.slice(i + 1)
      break
    } else if (a === '--all') opts.all = true
    else if (a === '--prepare') opts.prepare = true
    else if (a === '--list') opts.list = true
    else if (a === '--quiet') opts.quiet = true
    else if (a === '--refresh-kernel') opts.refreshKernel = true
    else if (a === '--topology' || a === '-t') opts.topologies.push(value())
    else if (a.startsWith('--topology=')) opts.topologies.push(a.slice('--topology='.length))
    else if (a === '--timeout') opts.timeoutS = Number(value())
    else if (a.startsWith('--timeout=')) opts.timeoutS = Number(a.slice('--timeout='.length))
    else if (a === '--help' || a === '-h') {
      console.log(USAGE)
      process.exit(0)
    } else throw new HarnessError(`unknown argument ${JSON.stringify(a)}\n${USAGE}`)
  }
  for (const t of opts.topologies) {
    if (!TOPOLOGIES[t]) throw new HarnessError(`unknown topology '${t}' (known: ${TOPOLOGY_NAMES.join(', ')})`)
  }
  if (opts.timeoutS !== undefined && !(opts.timeoutS > 0)) throw new HarnessError('--timeout must be a positive number of seconds')
  return opts
}

function shQuote(s) {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`
}

function seconds(ms) {
  return ms === undefined ? '-' : `${(ms / 1000).toFixed(1)}s`
}

/** A shell snippet that prints the guest's node states for the summary. */
const PRINT_NODES =
  `printf '${NODES_MARK} possible=%s online=%s has_memory=%s has_cpu=%s\\n' ` +
  `"$(cat /sys/devices/system/node/possible)" "$(cat /sys/devices/system/node/online)" ` +
  `"$(cat /sys/devices/system/node/has_memory)" "$(cat /sys/devices/system/node/has_cpu)"`

function nodeSummary(output) {
  const m = new RegExp(`${NODES_MARK} (.*)`).exec(output)
  return m ? m[1].trim() : 'nodes: not reported'
}

/** Differences between the node states the guest printed and the topology's `expect`, or undefined. */
function topologyMismatch(topology, output) {
  const m = new RegExp(`${NODES_MARK} (.*)`).exec(output)
  if (!m) return 'the guest did not report its node states'
  const seen = Object.fromEntries(
    m[1]
      .trim()
      .split(/\s+/)
      .map((kv) => kv.split('=')),
  )
  const keys = { possible: 'possible', online: 'online', hasMemory: 'has_memory', hasCpu: 'has_cpu' }
  const wrong = Object.entries(keys)
    .filter(([k, file]) => topology.expect[k] !== undefined && seen[file] !== topology.expect[k])
    .map(([k, file]) => `${file}=${seen[file]} (expected ${topology.expect[k]})`)
  return wrong.length ? `unexpected topology: ${wrong.join(', ')}` : undefined
}

function prefixer(prefix, write) {
  let atLineStart = true
  return (text) => {
    let out = ''
    for (const ch of text.split(/(\n)/)) {
      if (ch === '') continue
      if (atLineStart && ch !== '\n') out += prefix
      if (ch === '\n') {
        if (atLineStart) out += prefix.trimEnd()
        out += '\n'
        atLineStart = true
      } else {
        out += ch
        atLineStart = false
      }
    }
    write(out)
  }
}

async function runAll(opts) {
  const topologies = opts.topologies.length ? opts.topologies : TOPOLOGY_NAMES
  const timeoutMs = (opts.timeoutS ?? 240) * 1000
  const started = Date.now()
  const assets = await ensureGuestAssets({ refreshKernel: opts.refreshKernel })
  // Compile the test oracle on the host once, so no guest has to (the guest's writes are thrown away).
  ensureOracleBuilt()
  console.log(
    `[numa-vm] kernel ${assets.kernelRelease} (${assets.packageName} ${assets.packageVersion}); assets ready in ${seconds(Date.now() - started)}`,
  )

  if (!fs.existsSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'vitest'))) {
    throw new HarnessError(`node_modules/.bin/vitest not found in ${REPO_ROOT}: run npm install first`)
  }

  const results = []
  for (const name of topologies) {
    const files = numaTestFiles(name)
    const rel = files.map((f) => path.relative(REPO_ROOT, f))
    console.log(`\n[numa-vm] === ${name}: ${TOPOLOGIES[name].description}`)
    console.log(`[numa-vm] test files: ${rel.join(' ') || '(none)'}`)
    if (files.length === 0) {
      results.push({ name, ok: false, error: 'no test files select this topology', files: rel })
      continue
    }
    // node_modules/.bin/vitest is what `npx vitest` runs; npx itself costs ~30 s of TCG time to start.
    const command = `${PRINT_NODES}\nexec ./node_modules/.bin/vitest run --config vitest.numa.config.mts ${rel.map(shQuote).join(' ')}`
    const onOutput = opts.quiet ? undefined : prefixer(`[${name}] `, (s) => process.stdout.write(s))
    let r
    // A guest that fails before it reports READY has run nothing: under TCG a kernel now and then
    // oopses at boot (an int3 left by live code patching on another vCPU). That boot is tried once
    // more, said so in the output; a failure after READY is the tests' and is never retried.
    for (let attempt = 1; ; attempt++) {
      try {
        r = await runInGuest(name, command, { assets, timeoutMs, onOutput })
      } catch (err) {
        r = { code: null, error: err.message, output: '' }
      }
      if (attempt === BOOT_ATTEMPTS || r.bootMs !== undefined || r.timedOut || !r.error) break
      console.log(`[numa-vm] === ${name}: the guest failed before it started the tests (${r.error}); booting it again`)
    }
    // The whole serial output of the last run of each topology, for reading after --quiet or a failure.
    const logFile = path.join(CACHE_DIR, 'logs', `${name}.log`)
    fs.mkdirSync(path.dirname(logFile), { recursive: true })
    fs.writeFileSync(logFile, r.output ?? '')
    const nodes = nodeSummary(r.output)
    // The harness's own check that qemu and the kernel gave the shape asked for, besides the tests'.
    const mismatch = r.error ? undefined : topologyMismatch(TOPOLOGIES[name], r.output)
    const ok = r.code === 0 && !r.error && !mismatch
    const result = { name, ok, ...r, error: r.error ?? mismatch, nodes, files: rel }
    results.push(result)
    if (opts.quiet && !ok) prefixer(`[${name}] `, (s) => process.stdout.write(s))(r.output)
    const budget =
      r.budget?.idleMs === undefined ? '' : `; budget: silent at most ${seconds(r.budget.idleMs)}, ${seconds(r.budget.totalMs)} in all`
    console.log(
      `[numa-vm] === ${name}: ${ok ? 'PASS' : 'FAIL'}${result.error ? ` (${result.error})` : r.code ? ` (exit ${r.code})` : ''}` +
        ` boot ${seconds(r.bootMs)}, tests ${seconds(r.jobMs)}, total ${seconds(r.totalMs)}${budget}` +
        (ok ? '' : `; serial output: ${logFile}`),
    )
  }

  console.log(`\n[numa-vm] summary (${seconds(Date.now() - started)} in all):`)
  for (const r of results) {
    const status = r.ok ? 'PASS' : 'FAIL'
    const why = r.ok ? '' : `  ${r.error ?? `exit ${r.code}`}`
    console.log(
      `  ${status}  ${r.name.padEnd(7)} boot ${seconds(r.bootMs).padStart(6)}  tests ${seconds(r.jobMs).padStart(6)}  ` +
        `total ${seconds(r.totalMs).padStart(6)}  ${r.nodes ?? ''}${why}`,
    )
  }
  const passed = results.filter((r) => r.ok).length
  const failed = results.length - passed
  console.log(`${passed} passed, ${failed} failed`)
  return failed === 0 ? 0 : 1
}

async function runOne(opts) {
  if (opts.topologies.length !== 1) throw new HarnessError(`give exactly one --topology with a command\n${USAGE}`)
  if (opts.command.length === 0) throw new HarnessError(`no command given after --\n${USAGE}`)
  const [name] = opts.topologies
  const command = opts.command.length === 1 ? opts.command[0] : opts.command.map(shQuote).join(' ')
  const assets = await ensureGuestAssets({ refreshKernel: opts.refreshKernel })
  const r = await runInGuest(name, command, {
    assets,
    timeoutMs: (opts.timeoutS ?? 300) * 1000,
    onOutput: (s) => process.stdout.write(s),
  })
  process.stderr.write(
    `[numa-vm] ${name}: ${r.error ?? `exit ${r.code}`}; boot ${seconds(r.bootMs)}, command ${seconds(r.jobMs)}, total ${seconds(r.totalMs)}\n`,
  )
  if (r.code !== null && !r.error) return r.code
  return r.timedOut ? 124 : 125
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      killAllGuests()
      process.stderr.write(`\n[numa-vm] ${sig}: guests killed\n`)
      process.exit(130)
    })
  }
  if (opts.list) {
    for (const name of TOPOLOGY_NAMES) {
      const t = TOPOLOGIES[name]
      console.log(`${name}: ${t.description}`)
      console.log(
        `  qemu -smp ${t.smp} -m ${t.memoryMiB}M ${t.qemuArgs.join(' ')}${t.kernelArgs.length ? `  kernel: ${t.kernelArgs.join(' ')}` : ''}`,
      )
      for (const f of numaTestFiles(name)) console.log(`  ${path.relative(REPO_ROOT, f)}`)
    }
    return 0
  }
  if (opts.prepare) {
    const assets = await ensureGuestAssets({ refreshKernel: opts.refreshKernel })
    ensureOracleBuilt()
    console.log(`kernel ${assets.kernel}\ninitrd ${assets.initrd}\n${assets.packageName} ${assets.packageVersion}`)
    return 0
  }
  if (opts.all) {
    if (opts.command.length) throw new HarnessError(`--all takes no command\n${USAGE}`)
    return runAll(opts)
  }
  return runOne(opts)
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    killAllGuests()
    process.stderr.write(`[numa-vm] error: ${err instanceof HarnessError ? err.message : err.stack || err}\n`)
    process.exitCode = 2
  },
)
