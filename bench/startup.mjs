// Start-up cost of the command line against numactl's: both run `true` (or the command given after
// --), alternately, N times each; prints the median and the quartiles of each in milliseconds.
// Usage: node bench/startup.mjs [--runs=N] [-- command args...]
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const cli = path.join(here, '..', 'dist', 'cli.js')
const dash = process.argv.indexOf('--')
const options = process.argv.slice(2, dash < 0 ? undefined : dash)
const command = dash < 0 ? ['true'] : process.argv.slice(dash + 1)
const runs = Number(/^--runs=(\d+)$/.exec(options.find((o) => o.startsWith('--runs=')) ?? '')?.[1] ?? 100)

const sides = {
  numactl: ['numactl', ['-N', '0', '-m', '0', '--', ...command]],
  mempolicy: [process.execPath, [cli, '-N', '0', '-m', '0', '--', ...command]],
}
const times = { numactl: [], mempolicy: [] }
for (let k = 0; k < runs; k++) {
  for (const [name, [file, args]] of Object.entries(sides)) {
    const start = process.hrtime.bigint()
    const r = spawnSync(file, args, { stdio: 'ignore' })
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    if (r.status !== 0) throw new Error(`${name} ${args.join(' ')}: exit ${r.status} ${r.error ?? ''}`)
    times[name].push(ms)
  }
}
const q = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
for (const [name, list] of Object.entries(times)) {
  const sorted = [...list].sort((a, b) => a - b)
  console.log(
    `${name.padEnd(9)} median ${q(sorted, 0.5).toFixed(1)} ms  (quartiles ${q(sorted, 0.25).toFixed(1)} - ${q(sorted, 0.75).toFixed(1)} ms, ${runs} runs)`,
  )
}
