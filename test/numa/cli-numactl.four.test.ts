// The command line as numactl, on the 'four' guest (nodes 0-3, one CPU each), with numactl as the
// oracle: for each command line the command started by mempolicy sees the same Cpus_allowed_list,
// Mems_allowed_list and stack policy (numa_maps) as under numactl; --show under -N / -C prints
// numactl's bytes; a program under -N 2 -l has its pages on node 2. Then, through the API, Workers each
// on their node with runOnNodes + 'local', process scope, and a tmpfs file given a policy by --file and
// touched by another process. Each mempolicy run is a Node start (seconds under TCG), so there are few,
// each covering several options; bad lists and many more lines are compared with numactl on the host
// (test/cli.test.ts).
import { spawn as spawnChild } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import path from 'node:path'

import { afterAll, expect, it } from 'vitest'

import { oracleAddonPath } from '../oracle/index'
import { describeNuma } from './helpers'

const root = path.join(__dirname, '..', '..')
const cli = path.join(root, 'dist', 'cli.js')
const dist = path.join(root, 'dist', 'index.js')
const tmp = mkdtempSync('/dev/shm/mempolicy-cli-')
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

interface Run {
  status: number | null
  stdout: string
  stderr: string
}

function run(command: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawnChild(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

const mempolicy = (args: readonly string[]): Promise<Run> => run(process.execPath, [cli, ...args])
const numactl = (args: readonly string[]): Promise<Run> => run('numactl', args)

/** Runs the jobs two at a time: the guest's vCPUs share two host cores, and Node starts thrash beyond that. */
async function twoAtATime<T>(jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array(jobs.length)
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const k = next++
      results[k] = await jobs[k]!()
    }
  }
  await Promise.all([lane(), lane()])
  return results
}

// What the command sees: its CPUs, its nodes and its own policy (the stack has none of its own); for
// -N 2 -l also the nodes holding its anonymous pages (allocated after the exec, under the placement).
const SEE = ['sh', '-c', 'grep -E "^(Cpus|Mems)_allowed_list" /proc/self/status; grep -m1 " stack" /proc/self/numa_maps | cut -d" " -f2']
const SEE_PAGES = ['sh', '-c', `${SEE[2]}; echo anon: $(grep -v "file=" /proc/self/numa_maps | grep -o " N[0-9]*=" | sort -u | tr -d " =")`]

// Few lines, each covering several features (each mempolicy run is a Node start, seconds under
// TCG); the one-node host tests compare many more with numactl.
const LINES: string[][] = [
  ['-N', '2', '-m', '2'],
  ['--cpunodebind=1,3', '--interleave=same'],
  ['-C', '0', '-l'],
  ['--physcpubind=1-2', '--membind=1'],
  ['-a', '--cpubind=!0,3', '-P', '+3'],
  ['-N', '2', '-l'],
]

describeNuma('mempolicy against numactl on four nodes', { topology: 'four', memoryNodes: 4 }, () => {
  it("each command line: the command sees what it sees under numactl; --show under -N and -C prints numactl's bytes", async () => {
    const show = ['-N', '1,3', '-C', '2', '-m', '3', '-s']
    const jobs = [...LINES.map((line, k) => [...line, '--', ...(k === LINES.length - 1 ? SEE_PAGES : SEE)]), show]
    const theirs = await Promise.all(jobs.map((args) => numactl(args)))
    const ours = await twoAtATime(jobs.map((args) => () => mempolicy(args)))
    jobs.forEach((args, k) => {
      expect(theirs[k]!.status, `numactl ${args.join(' ')}: ${theirs[k]!.stderr}`).toBe(0)
      expect(ours[k]!.stderr, args.join(' ')).toBe('')
      expect(ours[k]!.status, args.join(' ')).toBe(0)
      expect(ours[k]!.stdout, args.join(' ')).toBe(theirs[k]!.stdout)
    })
    // Not all the same: the table places on different CPUs and nodes.
    expect(new Set(ours.map((r) => r.stdout)).size).toBe(jobs.length)
    // -N 2 -l: the program's own pages are on node 2, and only there.
    expect(ours[LINES.length - 1]!.stdout).toMatch(/^Cpus_allowed_list:\s+2\n.*\nlocal\nanon: N2\n$/s)
    expect(ours[jobs.length - 1]!.stdout).toMatch(/^physcpubind: 2 \ncpubind: 2 \nnodebind: 2 \nmembind: 3 \n/m)
  })

  it("runOnNodes + 'local' places each Worker's pages on its node; process scope reaches every thread; a file given a policy by --file is placed so for another process", async () => {
    const file = path.join(tmp, 'bound')
    const theirs = path.join(tmp, 'bound-numactl')
    const [made, madeTheirs] = await Promise.all([
      mempolicy(['--length', '4m', '--file', file, '-m', '3']),
      numactl(['--length', '4m', '--file', theirs, '-m', '3']),
    ])
    expect(made.status, made.stderr).toBe(0)
    expect(madeTheirs.status, madeTheirs.stderr).toBe(0)
    const program = `
      const fs = require('node:fs')
      const { Worker } = require('node:worker_threads')
      const mp = require(${JSON.stringify(dist)})
      const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(oracleAddonPath())}); const oracle = m.exports
      const count = (b) => { const c = {}; for (const n of oracle.pageNodes(b)) c[n] = (c[n] || 0) + 1; return c }
      {
        const files = {}
        for (const f of process.argv.slice(2)) {
          const fd = fs.openSync(f, 'r+')
          const b = new Uint8Array(require(${JSON.stringify(path.join(root, 'dist', 'binding.js'))}).binding().mapShared(fd, 4 << 20, 0))
          for (let i = 0; i < b.length; i += mp.pageSize) b[i] = 1
          files[f] = { pages: count(b), line: fs.readFileSync('/proc/self/numa_maps', 'latin1').split('\\n').find((l) => l.includes('file=' + f)).split(' ').slice(1, 2).join(' ') }
        }
        const workers = [0, 1, 2, 3].map((node) => new Worker(\`
          const { parentPort } = require('node:worker_threads')
          const mp = require(${JSON.stringify(dist)})
          const m = { exports: {} }; process.dlopen(m, ${JSON.stringify(oracleAddonPath())}); const oracle = m.exports
          mp.runOnNodes(\${node})
          mp.setMempolicy({ mode: 'local' })
          const b = new Uint8Array(oracle.mapIsolated(128 * mp.pageSize)); for (let i = 0; i < b.length; i += mp.pageSize) b[i] = 1
          const c = {}; for (const n of oracle.pageNodes(b)) c[n] = (c[n] || 0) + 1
          parentPort.postMessage({ node: \${node}, cpus: mp.getCpuAffinity(), where: mp.currentCpu(), pages: c })
          setInterval(() => {}, 1000)
        \`, { eval: true }))
        Promise.all(workers.map((w) => new Promise((r) => w.once('message', r)))).then((perWorker) => {
          const result = mp.setCpuAffinity(2, { scope: 'process' })
          const tasks = fs.readdirSync('/proc/self/task').map(Number).sort((a, b) => a - b)
          const lists = tasks.map((t) => /^Cpus_allowed_list:\\s*(.*)$/m.exec(fs.readFileSync('/proc/self/task/' + t + '/status', 'latin1'))[1])
          console.log(JSON.stringify({ perWorker, files, result, tasks, lists }))
          process.exit(0)
        })
      }
    `
    const api = await run(process.execPath, ['-e', program, 'api', file, theirs])
    expect(api.status, api.stderr).toBe(0)
    const out = JSON.parse(api.stdout) as {
      perWorker: { node: number; cpus: number[]; pages: Record<number, number> }[]
      files: Record<string, { pages: Record<number, number>; line: string }>
      result: { threads: number[]; cpus: number[] }
      tasks: number[]
      lists: string[]
    }
    for (const w of out.perWorker)
      expect(w).toEqual({ node: w.node, cpus: [w.node], where: { cpu: w.node, node: w.node }, pages: { [w.node]: 128 } })
    expect(out.files[file]).toEqual({ pages: { 3: 1024 }, line: 'bind:3' })
    expect(out.files[file]).toEqual(out.files[theirs])
    expect(out.result).toEqual({ threads: out.tasks, cpus: [2] })
    expect(out.lists).toEqual(out.tasks.map(() => '2'))
    expect(out.tasks.length).toBeGreaterThanOrEqual(5)
  })
})
