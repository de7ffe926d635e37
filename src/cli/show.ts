// --show and --hardware: numactl's output, line for line (numactl 2.0.16; docs/cli.md lists the
// differences).
import { readFileSync } from 'node:fs'
import { getCpuAffinity } from '../cpu'
import { nodeDirectoryProblem } from '../environment'
import { MempolicyError } from '../errors'
import { formatIdList } from '../ids'
import { getMempolicy, interleaveNext, isSupported, memsAllowed } from '../mempolicy'
import type { PolicyInfo } from '../policy'
import { topology } from '../topology'
import { Failure } from './failures'

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
  // What numactl prints: sched_getaffinity (Cpus_allowed_list where the addon cannot load).
  try {
    return getCpuAffinity()
  } catch {
    // below
  }
  const match = /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'latin1'))
  return match === null ? [] : cpuList(match[1]!)
}

/** numactl's printmask: each id followed by a space. */
const list = (nodes: readonly number[]): string => `${nodes.map((n) => `${n} `).join('')}\n`
const mask = (name: string, nodes: readonly number[]): string => `${name}: ${list(nodes)}`

export interface Shown {
  out: string
  /** What could not be shown and why, for stderr (one line per cause). */
  warning?: string
  status: number
}

/**
 * --show. Under a seccomp filter that refuses get_mempolicy (Docker's default profile without
 * CAP_SYS_NICE) the policy is unknown: its lines say so, the warning names the filter, and the rest
 * is shown (affinity from /proc, nodes from sysfs, the allowed nodes from /proc's Mems_allowed_list).
 */
export function show(): Shown {
  const cpus = affinity()
  if (!isSupported()) return { out: `${mask('physcpubind', cpus)}No NUMA support available on this system.\n`, status: 1 }
  let info: PolicyInfo | undefined
  let refusal: MempolicyError | undefined
  try {
    info = getMempolicy()
  } catch (err) {
    if (!(err instanceof MempolicyError)) throw err
    refusal = err
  }
  const allowed = memsAllowed()
  const running = new Set(cpus)
  // The nodes of the CPUs this thread may run on need sysfs's node list.
  const problem = nodeDirectoryProblem()
  const cpubind =
    problem !== undefined
      ? 'unknown\n'
      : list(
          topology()
            .nodes.filter((n) => allowed.includes(n.id) && n.cpus.some((c) => running.has(c)))
            .map((n) => n.id),
        )
  const binds = `${mask('physcpubind', cpus)}cpubind: ${cpubind}nodebind: ${cpubind}`
  const warnings = problem === undefined ? [] : [`cpubind and nodebind are unknown: ${problem}`]
  if (info === undefined) {
    warnings.unshift(`the policy, preferred node, membind and preferred are unknown: ${refusal!.message}`)
    return {
      out: `policy: unknown\npreferred node: unknown\n${binds}membind: unknown\npreferred: unknown\n`,
      warning: warnings.join('\n'),
      status: 0,
    }
  }
  const cur = interleaveNext() ?? 0
  const interleaving = info.mode === 'interleave' || info.mode === 'weighted-interleave'
  let out = `policy: ${info.mode}\n`
  if (info.flags.length > 0) out += `flags: ${info.flags.join(' ')}\n`
  switch (info.mode) {
    case 'default':
    case 'local':
      out += 'preferred node: current\n'
      break
    case 'preferred':
      out += `preferred node: ${info.nodes[0] ?? 0}\n`
      break
    case 'bind':
      out += `preferred node: ${info.nodes[0] ?? 0}\n`
      break
    case 'preferred-many':
      out += `preferred node: ${cur} (preferred-many)\n`
      break
    default:
      out += `preferred node: ${cur} (interleave next)\n`
  }
  if (interleaving) out += `${mask('interleavemask', info.nodes)}interleavenode: ${cur}\n`
  out += binds
  out += mask('membind', info.mode === 'bind' ? info.nodes : allowed)
  out += mask('preferred', info.nodes)
  return warnings.length > 0 ? { out, warning: warnings.join('\n'), status: 0 } : { out, status: 0 }
}

/** printf("% 3d", n): a sign column (space) and a width of three. */
const col = (n: number): string => (n < 0 ? `${n}` : ` ${n}`).padStart(3)

/**
 * --hardware, from sysfs alone: numactl's makes no memory-policy call either, so a seccomp filter
 * changes nothing here. Where sysfs gives no node list, a Failure saying what was found. `compress`
 * (--cpu-compress) prints each node's CPUs as ranges and their count.
 */
export function hardware(compress = false): string {
  const problem = nodeDirectoryProblem()
  if (problem !== undefined) throw new Failure(`cannot show the hardware: ${problem}`)
  const topo = topology()
  const nodes = topo.nodes.map((n) => n.id)
  const info = new Map(topo.nodes.map((n) => [n.id, n]))
  const mb = (bytes: number | undefined): string => (bytes === undefined ? '<not available>' : `${Math.floor(bytes / 1048576)} MB`)
  let out = `available: ${nodes.length} nodes (${formatIdList(nodes)})\n`
  for (const n of nodes) {
    const cpus = info.get(n)?.cpus ?? []
    out += `node ${n} cpus:${compress ? ` ${formatIdList(cpus).split(',').join(', ')} (${cpus.length})`.replace(/^ {2}\(/, ' (') : cpus.map((c) => ` ${c}`).join('')}\n`
    out += `node ${n} size: ${mb(info.get(n)?.memTotal)}\n`
    out += `node ${n} free: ${mb(info.get(n)?.memFree)}\n`
  }
  const distance = (a: number, b: number): number => info.get(a)?.distances[b] ?? 0
  if (distance(nodes[nodes.length - 1]!, nodes[0]!) === 0) return `${out}No distance information available.\n`
  out += `node distances:\nnode ${nodes.map((n) => `${col(n)} `).join('')}\n`
  for (const a of nodes) out += `${col(a)}: ${nodes.map((b) => `${col(distance(a, b))} `).join('')}\n`
  return out
}
