// What the machine has, from /sys/devices/system/node (KERNEL.md C2).
import { readFileSync } from 'node:fs'
import { NODE_DIR, nodeDirectoryProblem, statusMemsAllowed } from './environment'
import { ENOENT } from './errno'
import { MempolicyError } from './errors'
import { MAX_NODE_ID, parseIdList } from './ids'

export interface NodeInfo {
  id: number
  cpus: number[]
  /** Bytes. */
  memTotal: number
  /** Bytes. */
  memFree: number
  /** SLIT distance to each online node, keyed by node id. */
  distances: Record<number, number>
}

export interface Topology {
  online: number[]
  possible: number[]
  withMemory: number[]
  withCpu: number[]
  nodes: NodeInfo[]
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1')
  } catch {
    return undefined
  }
}

function list(file: string): number[] | undefined {
  const text = read(file)
  return text === undefined ? undefined : parseIdList(text, file, () => [])
}

/**
 * A sysfs node-state list. Where sysfs gives none (a kernel without NUMA support, or a container
 * that hides it), the nodes with memory are taken to be this thread's allowed ones from /proc
 * (Mems_allowed_list: a cpuset only holds nodes with memory), and every other state is node 0.
 */
export function nodeState(state: 'possible' | 'online' | 'has_memory' | 'has_cpu'): number[] {
  return list(`${NODE_DIR}/${state}`) ?? (state === 'has_memory' ? statusMemsAllowed() : undefined) ?? [0]
}

function meminfo(text: string | undefined, key: string): number {
  if (text === undefined) return 0
  const match = new RegExp(`\\b${key}:\\s+(\\d+)\\s*kB`).exec(text)
  return match === null ? 0 : Number(match[1]) * 1024
}

/**
 * The machine's nodes from sysfs. Where /sys/devices/system/node gives no node list, a
 * MempolicyError ENOENT (syscall 'open', `path` the online list) whose hint says what was found
 * instead: nothing is made up.
 */
export function topology(): Topology {
  const problem = nodeDirectoryProblem()
  if (problem !== undefined) {
    const path = `${NODE_DIR}/online`
    throw Object.defineProperty(new MempolicyError(-ENOENT, 'open', problem), 'path', { value: path, enumerable: true })
  }
  const online = nodeState('online')
  const nodes = online.map((id): NodeInfo => {
    const dir = `${NODE_DIR}/node${id}`
    const info = read(`${dir}/meminfo`)
    const row = (read(`${dir}/distance`) ?? '').trim().split(/\s+/).filter(Boolean).map(Number)
    const distances: Record<number, number> = {}
    // The kernel prints one distance per online node, in ascending id order.
    online.forEach((to, k) => { if (row[k] !== undefined) distances[to] = row[k]! })
    return { id, cpus: list(`${dir}/cpulist`) ?? [], memTotal: meminfo(info, 'MemTotal'), memFree: meminfo(info, 'MemFree'), distances }
  })
  return {
    online,
    possible: nodeState('possible'),
    withMemory: nodeState('has_memory'),
    withCpu: nodeState('has_cpu'),
    nodes,
  }
}

let highest: number | undefined

/**
 * The highest possible node id (nr_node_ids - 1), read once: it is fixed at boot. Without sysfs it
 * falls back to the width of Mems_allowed in /proc/self/status (MAX_NUMNODES).
 */
export function highestPossibleNode(): number {
  if (highest !== undefined) return highest
  const possible = list(`${NODE_DIR}/possible`)
  if (possible !== undefined && possible.length > 0) {
    highest = possible[possible.length - 1]!
  } else {
    const match = /^Mems_allowed:\s*([0-9a-f,]+)$/m.exec(read('/proc/self/status') ?? '')
    highest = match === null ? MAX_NODE_ID : match[1]!.replace(/,/g, '').length * 4 - 1
  }
  return highest
}
