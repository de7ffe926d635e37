// The command line as numactl, on the 'four' guest (nodes 0-3, one CPU each), with numactl as the
// oracle: for each command line the command started by mempolicy sees the same Cpus_allowed_list,
// Mems_allowed_list and stack policy (numa_maps) as under numactl; --show under -N / -C prints
// numactl's bytes; bad lists are refused as numactl refuses them. Then where pages land: a program
// under -N 2 -l, Workers each on their node through runOnNodes + 'local', and a tmpfs file given a
// policy by --file and touched by another process. Every Node start costs about 2 s under TCG, so
// the runs go in parallel and the checks share processes.
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

interface Run { status: number | null; stdout: string; stderr: string }

function run(command: string, args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawnChild(command, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

const mempolicy = (args: readonly string[]): Promise<Run> => run(process.execPath, [cli, ...args])
const numactl = (args: readonly string[]): Promise<Run> => run('numactl', args)

// What the command sees: its CPUs, its nodes, and its own policy (the stack has none of its own).
const SEE = ['sh', '-c', 'grep -E "^(Cpus|Mems)_allowed_list" /proc/self/status; grep -m1 " stack" /proc/self/numa_maps | cut -d" " -f2']

// Lean on purpose (each mempolicy run is a Node start): the one-node host tests cover the rest.
const LINES: string[][] = [
  ['-N', '2', '-m', '2'],
  ['--cpunodebind=1,3', '--interleave=1,3'],
  ['-C', '0', '-l'],
  ['--physcpubind=1-2', '--membind=1'],
  ['-N', '+1-2', '-m', '+3'],
  ['--cpubind=3', '-p', '3'],
  ['-a', '-C', '!1', '-P', '0,2'],
  ['-N', '!0', '-i', 'same'],
]

describeNuma('mempolicy against numactl on four nodes', { topology: 'four', memoryNodes: 4 }, () => {
  it('each command line: the command sees what it sees under numactl', async () => {
    const results = await Promise.all(LINES.map(async (line) => {
      const [ours, theirs] = await Promise.all([mempolicy([...line, '--', ...SEE]), numactl([...line, '--', ...SEE])])
      return { line, ours, theirs }
    }))
    for (const { line, ours, theirs } of results) {
      expect(theirs.status, `numactl ${line.join(' ')}: ${theirs.stderr}`).toBe(0)
      expect(ours.stderr, line.join(' ')).toBe('')
      expect(ours.status, line.join(' ')).toBe(0)
      expect(ours.stdout, line.join(' ')).toBe(theirs.stdout)
    }
    // Not all the same: the table places on different CPUs and nodes.
    expect(new Set(results.map((r) => r.ours.stdout)).size).toBe(LINES.length)
  })

  it('--show under -N and -C prints numactl\'s bytes; bad lists are refused with numactl\'s words', async () => {
    const shows = [['-N', '1,3', '-C', '2', '-s'], ['-N', '1,3', '-s']]
    const bad = [['-N', '4'], ['-C', '+1-4']]
    const [showRuns, badRuns] = await Promise.all([
      Promise.all(shows.map(async (line) => ({ line, ours: await mempolicy(line), theirs: await numactl(line) }))),
      Promise.all(bad.map(async (line) => ({ line, ours: await mempolicy([...line, 'true']), theirs: await numactl([...line, 'true']) }))),
    ])
    for (const { line, ours, theirs } of showRuns) {
      expect(theirs.status).toBe(0)
      expect(ours.stdout, line.join(' ')).toBe(theirs.stdout)
      expect(ours.stdout).toMatch(/^physcpubind: /m)
    }
    for (const { line, ours, theirs } of badRuns) {
      expect(theirs.status, line.join(' ')).toBe(1)
      expect(ours.status, line.join(' ')).toBe(1)
      // numactl: "<list> is invalid" on stdout, libnuma's warning on stderr; mempolicy says both on stderr.
      const warning = /^libnuma: Warning: (.*)$/m.exec(theirs.stderr)![1]!
      expect(ours.stderr.split('\n')[0], line.join(' ')).toBe(`mempolicy: ${theirs.stdout.trim()}: ${warning}`)
      expect(ours.stdout).toBe('')
    }
  })

  it("-N 2 -l puts a program's pages on node 2; runOnNodes + 'local' does so per Worker; process scope reaches every thread; a file given a policy by --file is placed so for another process", async () => {
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
      const touched = () => { const b = new Uint8Array(oracle.mapIsolated(256 * mp.pageSize)); for (let i = 0; i < b.length; i += mp.pageSize) b[i] = 1; return count(b) }
      const mode = process.argv[1]
      if (mode === 'own') {
        console.log(JSON.stringify({ pages: touched(), cpus: mp.getCpuAffinity(), where: mp.currentCpu() }))
      } else {
        const out = {}
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
          parentPort.postMessage({ node: \${node}, cpus: mp.getCpuAffinity(), pages: c })
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
    const [own, api] = await Promise.all([
      mempolicy(['-N', '2', '-l', '--', process.execPath, '-e', program, 'own']),
      run(process.execPath, ['-e', program, 'api', file, theirs]),
    ])
    expect(own.status, own.stderr).toBe(0)
    expect(JSON.parse(own.stdout)).toEqual({ pages: { 2: 256 }, cpus: [2], where: { cpu: 2, node: 2 } })
    expect(api.status, api.stderr).toBe(0)
    const out = JSON.parse(api.stdout) as {
      perWorker: { node: number; cpus: number[]; pages: Record<number, number> }[]
      files: Record<string, { pages: Record<number, number>; line: string }>
      result: { threads: number[]; cpus: number[] }
      tasks: number[]
      lists: string[]
    }
    for (const w of out.perWorker) expect(w).toEqual({ node: w.node, cpus: [w.node], pages: { [w.node]: 128 } })
    expect(out.files[file]).toEqual({ pages: { 3: 1024 }, line: 'bind:3' })
    expect(out.files[file]).toEqual(out.files[theirs])
    expect(out.result).toEqual({ threads: out.tasks, cpus: [2] })
    expect(out.lists).toEqual(out.tasks.map(() => '2'))
    expect(out.tasks.length).toBeGreaterThanOrEqual(5)
  })
})
