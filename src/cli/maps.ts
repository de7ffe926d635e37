// `mempolicy maps PID`: where a process's pages live, per node and per mapping, from its numa_maps.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { supportedPlatform } from '../binding'
import { topology, type Topology } from '../topology'
import { Failure, UsageError } from './failures'

interface Mapping {
  address: string
  policy: string
  /** 'heap', 'stack', 'anon', or the file mapped. */
  kind: string
  huge: boolean
  /** Resident bytes per node. */
  nodes: Record<number, number>
}

const FIELD = /^(heap|stack|huge|file=|anon=|dirty=|mapped=|mapmax=|swapcache=|active=|writeback=|N\d+=|kernelpagesize_kB=)/

/** Parses numa_maps (docs/kernel.md, "numa_maps"): the policy may hold spaces ('prefer (many)'), so fields are found by name. */
function parseNumaMaps(text: string): Mapping[] {
  const mappings: Mapping[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    const [address, ...tokens] = line.split(' ')
    const first = tokens.findIndex((t) => FIELD.test(t))
    const cut = first === -1 ? tokens.length : first
    const fields = tokens.slice(cut)
    const pageKb = Number(fields.find((f) => f.startsWith('kernelpagesize_kB='))?.slice(18) ?? 4)
    const nodes: Record<number, number> = {}
    let kind = 'anon'
    for (const f of fields) {
      const match = /^N(\d+)=(\d+)$/.exec(f)
      if (match !== null) nodes[Number(match[1])] = Number(match[2]) * pageKb * 1024
      else if (f === 'heap' || f === 'stack') kind = f
      else if (f.startsWith('file=')) kind = f.slice(5).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    }
    mappings.push({ address: address!, policy: tokens.slice(0, cut).join(' '), kind, huge: fields.includes('huge'), nodes })
  }
  return mappings
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

const BLOCKS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉']

function bar(fraction: number, width: number, unicode: boolean): string {
  if (!unicode) return '#'.repeat(Math.round(fraction * width)).padEnd(width)
  const eighths = Math.round(fraction * width * 8)
  return ('█'.repeat(Math.floor(eighths / 8)) + BLOCKS[eighths % 8]).padEnd(width)
}

export function maps(args: readonly string[]): string {
  let parsed
  try {
    parsed = parseArgs({
      args: [...args],
      options: { mappings: { type: 'boolean' }, json: { type: 'boolean' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    throw new UsageError(`maps: ${(err as Error).message.split('\n')[0]}`)
  }
  if (parsed.positionals.length !== 1) throw new UsageError('maps takes one process id: mempolicy maps <pid>')
  const pid = parsed.positionals[0]!
  if (pid !== 'self' && !/^[1-9]\d*$/.test(pid)) throw new UsageError(`maps: ${JSON.stringify(pid)} is not a process id`)
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/numa_maps`, 'latin1')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new Failure(`maps: no process ${pid}${supportedPlatform ? ' (or a kernel without NUMA support)' : ''}`)
    if (code === 'EACCES' || code === 'EPERM')
      throw new Failure(
        `maps: cannot read /proc/${pid}/numa_maps: permission denied (it needs ptrace access to the process: same user, or root)`,
      )
    throw err
  }
  const mappings = parseNumaMaps(text)
  let command = ''
  try {
    command = readFileSync(`/proc/${pid}/comm`, 'latin1').trim()
  } catch {
    /* exited meanwhile */
  }
  const totals: Record<number, number> = {}
  // Every node with memory gets a row, where sysfs lists them; numa_maps alone names the rest.
  let topo: Topology | undefined
  try {
    topo = topology()
  } catch {
    topo = undefined
  }
  const withMemory = new Set(topo?.withMemory)
  for (const { id } of topo?.nodes ?? []) if (withMemory.has(id)) totals[id] = 0
  for (const m of mappings) for (const [n, bytes] of Object.entries(m.nodes)) totals[Number(n)] = (totals[Number(n)] ?? 0) + bytes
  const nodes = Object.keys(totals)
    .map(Number)
    .sort((a, b) => a - b)
  const total = nodes.reduce((sum, n) => sum + totals[n]!, 0)
  const resident = mappings.filter((m) => Object.keys(m.nodes).length > 0)

  if (parsed.values.json === true) {
    const result: Record<string, unknown> = { pid: pid === 'self' ? process.pid : Number(pid), command, total, nodes: totals }
    if (parsed.values.mappings === true) result.mappings = resident
    return `${JSON.stringify(result, null, 2)}\n`
  }
  const unicode = /utf-?8/i.test(process.env.LC_ALL || process.env.LC_CTYPE || process.env.LANG || '')
  const width = Math.max(10, Math.min(50, (process.stdout.columns || 80) - 40))
  let out = `pid ${pid === 'self' ? process.pid : pid} (${command}): ${size(total)} resident in ${resident.length} of ${mappings.length} mappings\n`
  const label = Math.max(...nodes.map((n) => `node ${n}`.length))
  const sizes = nodes.map((n) => size(totals[n]!))
  const sizeWidth = Math.max(...sizes.map((s) => s.length))
  nodes.forEach((n, k) => {
    const share = total === 0 ? 0 : totals[n]! / total
    out += `${`node ${n}`.padEnd(label)}  ${bar(share, width, unicode)}  ${sizes[k]!.padStart(sizeWidth)}  ${(share * 100).toFixed(1).padStart(5)}%\n`
  })
  if (parsed.values.mappings === true && resident.length > 0) {
    const policyWidth = Math.max(6, ...resident.map((m) => m.policy.length))
    const cell = Math.max(10, ...resident.flatMap((m) => nodes.map((n) => size(m.nodes[n] ?? 0).length)))
    out += `\n${'address'.padEnd(16)}  ${'policy'.padEnd(policyWidth)}  ${nodes.map((n) => `node ${n}`.padStart(cell)).join('  ')}  mapping\n`
    for (const m of resident) {
      const cells = nodes.map((n) => (m.nodes[n] === undefined ? '-' : size(m.nodes[n]!)).padStart(cell))
      out += `${m.address.padEnd(16)}  ${m.policy.padEnd(policyWidth)}  ${cells.join('  ')}  ${m.kind}${m.huge ? ' (huge)' : ''}\n`
    }
  }
  return out
}
