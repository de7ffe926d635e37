// What the machine has, from /sys/devices/system/node (docs/kernel.md, "Node files in sysfs"), and its heterogeneous memory
// (docs/heterogeneous-memory.md): HMAT performance, memory-side caches, memory tiers, demotion.
import { NODE_DIR, nodeDirectoryProblem, statusMemsAllowed } from './environment'
import { ENOENT } from './errno'
import { MempolicyError } from './errors'
import {
  SYSFS,
  readAccess,
  readCaches,
  readDemotion,
  readList as readListFile,
  readText,
  readTiers,
  type Access,
  type MemorySideCache,
  type MemoryTier,
  type SysfsRoots,
} from './hmat'
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
  /** The memory tier (memory_tierN) that holds this node; absent where none does (no tiering, or no memory). */
  tier?: number
  /**
   * The performance of this node's memory as the firmware describes it (ACPI HMAT, or CXL CDAT):
   * `all` is access class 0 (its best initiators of any kind), `cpu` access class 1 (its best CPU
   * initiators). Absent where the kernel publishes neither.
   */
  access?: { all?: Access; cpu?: Access }
  /** Memory-side caches in front of this node's memory, by level; absent where there are none. */
  caches?: MemorySideCache[]
}

export interface Topology {
  online: number[]
  possible: number[]
  withMemory: number[]
  withCpu: number[]
  /** Nodes with memory the kernel can use for all allocations (has_normal_memory); absent where unreadable. */
  withNormalMemory?: number[]
  /** Nodes with a generic initiator, such as an accelerator or a CXL device (has_generic_initiator, Linux 5.10+). */
  withGenericInitiator?: number[]
  nodes: NodeInfo[]
  /** The memory tiers, ascending by id (lower is faster); [] where the kernel has no memory tiering. */
  tiers: MemoryTier[]
  /** Whether the kernel demotes cold pages to a slower tier instead of reclaiming them (demotion_enabled); absent where it cannot. */
  demotion?: boolean
}

function list(file: string): number[] | undefined {
  const text = readText(file)
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
 * The machine's nodes from sysfs, each file read once. Where /sys/devices/system/node gives no node
 * list, a MempolicyError ENOENT (syscall 'open', `path` the online list) whose hint says what was
 * found instead: nothing is made up. Where other files are missing, unreadable or malformed
 * (containers often mount a partial /sys), their fields keep their defaults or are left out.
 * `roots` is for tests.
 */
export function topology(roots: SysfsRoots = SYSFS): Topology {
  const real = roots === SYSFS
  const state = (name: string): number[] | undefined => readListFile(`${roots.node}/${name}`)
  const online = state('online')
  if (online === undefined) {
    const path = `${roots.node}/online`
    const problem = (real ? nodeDirectoryProblem() : undefined) ?? `${path} is missing or not a node list`
    throw Object.defineProperty(new MempolicyError(-ENOENT, 'open', problem), 'path', { value: path, enumerable: true })
  }
  const tiers = readTiers(roots.tiering)
  const tierOf = new Map<number, number>()
  for (const tier of tiers) for (const n of tier.nodes) if (!tierOf.has(n)) tierOf.set(n, tier.id)
  const nodes = online.map((id): NodeInfo => {
    const dir = `${roots.node}/node${id}`
    const info = readText(`${dir}/meminfo`)
    const row = (readText(`${dir}/distance`) ?? '').trim().split(/\s+/).filter(Boolean).map(Number)
    const distances: Record<number, number> = {}
    // The kernel prints one distance per online node, in ascending id order.
    online.forEach((to, k) => {
      if (row[k] !== undefined && Number.isInteger(row[k])) distances[to] = row[k]!
    })
    const node: NodeInfo = {
      id,
      cpus: readListFile(`${dir}/cpulist`) ?? [],
      memTotal: meminfo(info, 'MemTotal'),
      memFree: meminfo(info, 'MemFree'),
      distances,
    }
    const tier = tierOf.get(id)
    if (tier !== undefined) node.tier = tier
    const all = readAccess(dir, 0)
    const cpu = readAccess(dir, 1)
    if (all !== undefined || cpu !== undefined) {
      node.access = {}
      if (all !== undefined) node.access.all = all
      if (cpu !== undefined) node.access.cpu = cpu
    }
    const caches = readCaches(dir)
    if (caches.length > 0) node.caches = caches
    return node
  })
  const topology: Topology = {
    online,
    possible: state('possible') ?? [0],
    // As nodeState: where sysfs has no list, a cpuset holds only nodes with memory.
    withMemory: state('has_memory') ?? (real ? statusMemsAllowed() : undefined) ?? [0],
    withCpu: state('has_cpu') ?? [0],
    nodes,
    tiers,
  }
  const normal = state('has_normal_memory')
  if (normal !== undefined) topology.withNormalMemory = normal
  const generic = state('has_generic_initiator')
  if (generic !== undefined) topology.withGenericInitiator = generic
  const demotion = readDemotion(roots.numa)
  if (demotion !== undefined) topology.demotion = demotion
  return topology
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
    const match = /^Mems_allowed:\s*([0-9a-f,]+)$/m.exec(readText('/proc/self/status') ?? '')
    highest = match === null ? MAX_NODE_ID : match[1]!.replace(/,/g, '').length * 4 - 1
  }
  return highest
}
