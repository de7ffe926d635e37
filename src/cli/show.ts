// --show and --hardware: numactl's output, line for line (numactl 2.0.16; docs/cli.md lists the
// differences).
import { readFileSync } from 'node:fs'
import { formatIdList } from '../ids'
import { getMempolicy, interleaveNext, isSupported, memsAllowed } from '../mempolicy'
import { topology } from '../topology'

function cpuList(text: string): number[] {
  const cpus: number[] = []
  for (const part of text.trim().split(',')) {
    if (part === '') continue
    const [a, b] = part.split('-').map(Number)
    for (let c = a!; c <= (b ?? a!); c++) cpus.push(c)
  }
  return cpus
}

function affinity(): number[] {
  const match = /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'latin1'))
  return match === null ? [] : cpuList(match[1]!)
}

const mask = (name: string, nodes: readonly number[]): string => `${name}: ${nodes.map((n) => `${n} `).join('')}\n`

export function show(): string {
  const cpus = affinity()
  let out = mask('physcpubind', cpus)
  if (!isSupported()) return `${out}No NUMA support available on this system.\n`
  out = ''
  const info = getMempolicy()
  const allowed = memsAllowed()
  const cur = interleaveNext() ?? 0
  const interleaving = info.mode === 'interleave' || info.mode === 'weighted-interleave'
  out += `policy: ${info.mode}\n`
  if (info.flags.length > 0) out += `flags: ${info.flags.join(' ')}\n`
  switch (info.mode) {
    case 'default':
    case 'local': out += 'preferred node: current\n'; break
    case 'preferred': out += `preferred node: ${info.nodes[0] ?? 0}\n`; break
    case 'bind': out += `preferred node: ${info.nodes[0] ?? 0}\n`; break
    case 'preferred-many': out += `preferred node: ${cur} (preferred-many)\n`; break
    default: out += `preferred node: ${cur} (interleave next)\n`
  }
  if (interleaving) out += `${mask('interleavemask', info.nodes)}interleavenode: ${cur}\n`
  const running = new Set(cpus)
  const cpubind = topology().nodes.filter((n) => allowed.includes(n.id) && n.cpus.some((c) => running.has(c))).map((n) => n.id)
  out += mask('physcpubind', cpus) + mask('cpubind', cpubind) + mask('nodebind', cpubind)
  out += mask('membind', info.mode === 'bind' ? info.nodes : allowed)
  out += mask('preferred', info.nodes)
  return out
}

/** printf("% 3d", n): a sign column (space) and a width of three. */
const col = (n: number): string => (n < 0 ? `${n}` : ` ${n}`).padStart(3)

export function hardware(): string | undefined {
  const topo = topology()
  const nodes = topo.nodes.map((n) => n.id)
  if (!isSupported() || nodes.length === 0) return undefined
  const info = new Map(topo.nodes.map((n) => [n.id, n]))
  const mb = (bytes: number | undefined): string => (bytes === undefined ? '<not available>' : `${Math.floor(bytes / 1048576)} MB`)
  let out = `available: ${nodes.length} nodes (${formatIdList(nodes)})\n`
  for (const n of nodes) {
    out += `node ${n} cpus:${(info.get(n)?.cpus ?? []).map((c) => ` ${c}`).join('')}\n`
    out += `node ${n} size: ${mb(info.get(n)?.memTotal)}\n`
    out += `node ${n} free: ${mb(info.get(n)?.memFree)}\n`
  }
  const distance = (a: number, b: number): number => info.get(a)?.distances[b] ?? 0
  if (distance(nodes[nodes.length - 1]!, nodes[0]!) === 0) return `${out}No distance information available.\n`
  out += `node distances:\nnode ${nodes.map((n) => `${col(n)} `).join('')}\n`
  for (const a of nodes) out += `${col(a)}: ${nodes.map((b) => `${col(distance(a, b))} `).join('')}\n`
  return out
}
