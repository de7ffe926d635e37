// The command line's shared-memory options (--file, --shm, --length, --offset, --touch, --dump,
// --dump-nodes, --strict, --verify): the policy they give a tmpfs file or a SysV segment is seen by
// another process that maps it (its numa_maps), and the output is numactl's.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { memsAllowed } from '../src/index'

const root = path.join(__dirname, '..')
const cli = path.join(root, 'dist', 'cli.js')
const node = memsAllowed()[0]!
const shmDir = existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
const dir = mkdtempSync(path.join(shmDir, 'mempolicy-shm-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const mempolicy = (...args: string[]): SpawnSyncReturns<string> => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' })
const numactl = (...args: string[]): SpawnSyncReturns<string> => spawnSync('numactl', args, { encoding: 'utf8' })
const hasNumactl = numactl('--show').error === undefined

/** Another process maps the whole file shared, writes every page, and prints its numa_maps line for it. */
function mapAndTouch(file: string): string {
  const script = `
    const fs = require('node:fs')
    const { binding } = require(${JSON.stringify(path.join(root, 'dist', 'binding.js'))})
    const fd = fs.openSync(process.argv[1], 'r+')
    const memory = new Uint8Array(binding().mapShared(fd, fs.fstatSync(fd).size, 0))
    for (let i = 0; i < memory.length; i += 4096) memory[i] = 1
    const line = fs.readFileSync('/proc/self/numa_maps', 'latin1').split('\\n').find((l) => l.includes('file=' + process.argv[1]))
    console.log(line)
  `
  const run = spawnSync(process.execPath, ['-e', script, file], { encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
  return run.stdout.trim()
}

describe('--file: a tmpfs file keeps the policy for every process that maps it', () => {
  it('--file F --length 1m -i N: another process sees interleave on its mapping, and its pages there', () => {
    const file = path.join(dir, 'interleaved')
    const run = mempolicy('--length', '1m', '--file', file, '-i', `${node}`)
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    expect(statSync(file).size).toBe(1 << 20)
    const line = mapAndTouch(file)
    expect(line).toMatch(new RegExp(`^[0-9a-f]+ interleave:${node} file=${file.replace(/[/.]/g, '\\$&')} .*\\bN${node}=256\\b`))
  })

  it('without the option the same file shows the default policy (the test can fail)', () => {
    const file = path.join(dir, 'plain')
    expect(mempolicy('--length', '64k', '--file', file, '--touch').status).toBe(0)
    expect(mapAndTouch(file)).toMatch(/^[0-9a-f]+ default file=/)
  })

  it('--dump and --dump-nodes print what numactl prints for the same file', (ctx) => {
    if (!hasNumactl) return ctx.skip('numactl is not installed: nothing to compare with')
    const ours = path.join(dir, 'dump-ours')
    const theirs = path.join(dir, 'dump-theirs')
    const a = mempolicy('--length', '256k', '--offset', '64k', '--file', ours, '-m', `${node}`, '--touch', '--dump', '--dump-nodes')
    const b = numactl('--length', '256k', '--offset', '64k', '--file', theirs, '-m', `${node}`, '--touch', '--dump', '--dump-nodes')
    expect(a.status).toBe(0)
    expect(b.status).toBe(0)
    expect(a.stdout).toBe(b.stdout)
    expect(a.stdout).toMatch(new RegExp(`^0{11}10000-0{11}50000: bind : ${node} \\n0{11}10000-0{11}50000: ${node}\\n$`))
  })

  it('refuses what numactl refuses, with its words', (ctx) => {
    const file = path.join(dir, 'refused')
    expect(mempolicy('--length', '4k', '--file', file).status).toBe(0)
    const cases: [string[], RegExp][] = [
      [['--file', file, '-m', `${node}`], /^mempolicy: policy region length not specified before --file$/m],
      [['--file', path.join(dir, 'new'), '-m', `${node}`], /^mempolicy: need a --length to create a shared file$/m],
      [['--length', '1000', '--file', file], /^mempolicy: policy region not page aligned$/m],
      [['--length', '4k', '--file', file, '--length', '8k'], /^mempolicy: --length must be before shared memory specification$/m],
      [['-m', `${node}`, '--length', '4k', '--file', file], /^mempolicy: specify policy after --shm\/--file$/m],
      [['-C', '0', '--length', '4k', '--file', file], /^mempolicy: cannot do --cpubind on shared memory$/m],
      [['--length', '4k', '-C', '0'], /^mempolicy: --length shm option is not allowed before -C\/--physcpubind$/m],
      [['--length', '4k', '--file', file, '-m', `${node}`, 'true'], /run no command/],
    ]
    for (const [args, message] of cases) {
      const run = mempolicy(...args)
      expect(run.status, args.join(' ')).toBe(1)
      expect(run.stderr, args.join(' ')).toMatch(message)
      if (hasNumactl) expect(numactl(...args).status, `numactl ${args.join(' ')}`).toBe(1)
    }
    if (!hasNumactl) ctx.skip('numactl is not installed: compared with the texts only')
  })

  it('--strict with a policy the pages already follow, and --verify, succeed', () => {
    const file = path.join(dir, 'strict')
    const run = mempolicy('--length', '64k', '--file', file, '--strict', '-m', `${node}`, '--verify')
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
  })
})

describe('--shm: a SysV segment', () => {
  it('is created with --length, given the policy, and --dump shows it', () => {
    const key = path.join(dir, 'sysv-key')
    const run = mempolicy('--length', '128k', '--shm', key, '-i', `${node}`, '--dump')
    try {
      expect(run.status, run.stderr).toBe(0)
      expect(run.stderr).toMatch(
        /^mempolicy: Creating shm key file .* mode 0600\nmempolicy: Creating shared memory segment .* id 0 mode 0600 length 0MB\n$/,
      )
      expect(run.stdout).toBe(`0000000000000000-0000000000020000: interleave : ${node} \n`)
      // Attached again by a second invocation: the segment kept its policy.
      const again = mempolicy('--shm', key, '--dump')
      expect(again.stdout).toBe(run.stdout)
    } finally {
      const ipcs = spawnSync('ipcs', ['-m'], { encoding: 'utf8' })
      for (const line of ipcs.stdout?.split('\n') ?? []) {
        const [, id, owner, , bytes] = line.trim().split(/\s+/)
        if (owner === os.userInfo().username && bytes === '131072') spawnSync('ipcrm', ['-m', id!])
      }
    }
  })
})
