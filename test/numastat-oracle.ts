// numastat as the oracle of `mempolicy stat`: both run side by side, on live data or on frozen data
// that both read (a private mount namespace puts made-up files in place of /sys/devices/system/node,
// /proc/meminfo and one process's numa_maps). Used on the host (test/stat.test.ts) and in the hmat
// guest (test/numa/stat.hmat.test.ts).
import { spawn as spawnChild, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { Tree } from './sysfs-tree'

const root = path.join(__dirname, '..')
export const cli = path.join(root, 'dist', 'cli.js')
export const hasNumastat = spawnSync('numastat', ['-V'], { encoding: 'utf8' }).status === 0
export const NO_NUMASTAT = 'numastat is not installed (apt-get install numactl)'

export type Run = { stdout: string; stderr: string; status: number | null }

export function numastat(args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync('numastat', args, { encoding: 'utf8', env: { ...process.env, ...env } })
  // The same messages under the other name.
  const stderr = r.stderr
    .replace(/^numastat:/gm, 'mempolicy stat:')
    .replace('Usage: numastat', 'Usage: mempolicy stat')
    .replace('show the numastat code', 'show the mempolicy stat code')
  return { stdout: r.stdout, stderr, status: r.status }
}

export function stat(args: readonly string[], env: NodeJS.ProcessEnv = {}): Run {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [cli, 'stat', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  })
  return { stdout: r.stdout, stderr: r.stderr, status: r.status }
}

/** A child that does nothing, once it does nothing: exec'd, asleep, and its numa_maps unchanged between two reads. */
export async function idle(command: string, args: string[]): Promise<ChildProcess> {
  const child = spawnChild(command, args, { stdio: 'ignore' })
  await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject))
  const pid = child.pid!
  let previous = ''
  for (let tries = 0; tries < 100_000; tries++) {
    const state = readFileSync(`/proc/${pid}/stat`, 'latin1')
    const maps = readFileSync(`/proc/${pid}/numa_maps`, 'latin1')
    if (state.includes(`(${path.basename(command)}) S `) && maps === previous) return child
    previous = maps
    await new Promise((resolve) => setImmediate(resolve))
  }
  throw new Error(`${command} never settled`)
}

/** Every number of a report, in order. */
export const numbers = (text: string): number[] => (text.match(/\d+(\.\d+)?/g) ?? []).map(Number)
/**
 * The layout of a report whose numbers move: each line's length (numbers are right-aligned in
 * fixed columns) and its words with the numbers blanked.
 */
export const layout = (text: string): string[] =>
  text.split('\n').map((line) => `${line.length} ${line.replace(/\d+(\.\d+)?/g, '#').replace(/ +/g, ' ')}`)

// The sleeper whose numa_maps is replaced, by a command line no other process has.
export const SLEEPER = `86401.${process.pid}`
export const canUnshare = process.getuid?.() === 0 && spawnSync('unshare', ['-m', 'true']).status === 0
export const NO_UNSHARE = 'needs root and mount namespaces (unshare -m) to show both programs the same files'

export interface Case {
  args: string[]
  width?: string
}

/**
 * Runs each case with numastat and with `mempolicy stat` in a private mount namespace in which
 * `tree` (node/, meminfo, numa_maps) stands for /sys/devices/system/node, /proc/meminfo and the
 * numa_maps of a sleeping process (PID in an argument is its pid). Returns [numastat, ours] per case.
 */
export function frozen(tree: Tree, cases: Case[]): [Run, Run][] {
  const out = mkdtempSync(path.join(os.tmpdir(), 'mempolicy-frozen-'))
  const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`
  const lines = [
    'set -e',
    `mount --bind ${quote(tree.at('node'))} /sys/devices/system/node`,
    `[ -e ${quote(tree.at('meminfo'))} ] && mount --bind ${quote(tree.at('meminfo'))} /proc/meminfo`,
    `sleep ${SLEEPER} & pid=$!`,
    `mount --bind ${quote(tree.at('numa_maps'))} /proc/$pid/numa_maps`,
    'set +e',
  ]
  cases.forEach((c, k) => {
    const args = c.args.map((a) => (a === 'PID' ? '"$pid"' : quote(a))).join(' ')
    const env = c.width === undefined ? 'env -u NUMASTAT_WIDTH' : `env NUMASTAT_WIDTH=${quote(c.width)}`
    lines.push(`${env} numastat ${args} > ${out}/${k}.n.out 2> ${out}/${k}.n.err; echo $? > ${out}/${k}.n.rc`)
  })
  // `mempolicy stat` for every case in one process (the command line itself is tested on live data).
  writeFileSync(path.join(out, 'cases.json'), JSON.stringify(cases))
  lines.push(`PID="$pid" ${quote(process.execPath)} ${quote(path.join(out, 'ours.js'))}`)
  writeFileSync(
    path.join(out, 'ours.js'),
    `
    const fs = require('node:fs')
    const { stat } = require(${JSON.stringify(path.join(root, 'dist', 'cli', 'stat.js'))})
    const cases = JSON.parse(fs.readFileSync(${JSON.stringify(path.join(out, 'cases.json'))}, 'utf8'))
    cases.forEach((c, k) => {
      const args = c.args.map((a) => (a === 'PID' ? process.env.PID : a))
      const r = stat(args, c.width === undefined ? {} : { NUMASTAT_WIDTH: c.width }, false)
      fs.writeFileSync(${JSON.stringify(out)} + '/' + k + '.m.out', r.stdout)
      fs.writeFileSync(${JSON.stringify(out)} + '/' + k + '.m.err', r.stderr)
      fs.writeFileSync(${JSON.stringify(out)} + '/' + k + '.m.rc', r.status + '\\n')
    })
  `,
  )
  lines.push('kill $pid')
  writeFileSync(path.join(out, 'run.sh'), `${lines.join('\n')}\n`)
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', path.join(out, 'run.sh')], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`the namespace script failed: ${r.stderr}`)
  const read = (k: number, who: string): Run => ({
    stdout: readFileSync(`${out}/${k}.${who}.out`, 'latin1'),
    stderr: readFileSync(`${out}/${k}.${who}.err`, 'latin1'),
    status: Number(readFileSync(`${out}/${k}.${who}.rc`, 'latin1')),
  })
  try {
    return cases.map((_, k) => {
      const n = read(k, 'n')
      n.stderr = n.stderr.replace(/^numastat:/gm, 'mempolicy stat:').replace('Usage: numastat', 'Usage: mempolicy stat')
      return [n, read(k, 'm')]
    })
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}
