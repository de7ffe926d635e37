// Where memory is: each node's allocation counters (nodeN/numastat) and a process's memory per node
// (/proc/PID/numa_maps, counted as numastat -p counts it). docs/heterogeneous-memory.md describes both.
import { readFileSync } from 'node:fs'
import { supportedPlatform, unsupported } from './binding'
import { EACCES, ENOENT, ESRCH } from './errno'
import { MempolicyError, invalidType, outOfRange } from './errors'
import { SYSFS, readList } from './hmat'
import { hintFor } from './hints'
import { pageSize } from './mempolicy'

/** A node's allocation counters (nodeN/numastat), in pages. */
export interface NodeStats {
  node: number
  /** Pages allocated on this node as intended (numa_hit). */
  numaHit: number
  /** Pages allocated here although another node was preferred (numa_miss). */
  numaMiss: number
  /** Pages meant for this node but allocated elsewhere (numa_foreign). */
  numaForeign: number
  /** Interleaved pages that landed on this node as intended (interleave_hit). */
  interleaveHit: number
  /** Pages allocated here by a process running on this node (local_node). */
  localNode: number
  /** Pages allocated here by a process running on another node (other_node). */
  otherNode: number
}

/** A process's resident memory on one node, in bytes, in numastat -p's categories. */
export interface NodeMemory {
  node: number
  /** Huge pages (hugetlbfs mappings: numa_maps `huge`). */
  huge: number
  /** The heap (brk area). */
  heap: number
  /** The main thread's stack. */
  stack: number
  /** Everything else: anonymous mappings, thread stacks, mapped files. */
  private: number
  /** huge + heap + stack + private. */
  total: number
}

const COUNTERS = [
  ['numa_hit', 'numaHit'],
  ['numa_miss', 'numaMiss'],
  ['numa_foreign', 'numaForeign'],
  ['interleave_hit', 'interleaveHit'],
  ['local_node', 'localNode'],
  ['other_node', 'otherNode'],
] as const

/** A failed read of a kernel file, as MempolicyError (code, errno, syscall 'open' or 'read', path). */
export function fileError(err: unknown, path: string, hint?: string): unknown {
  const errno = (err as { errno?: unknown } | null)?.errno
  if (typeof errno !== 'number') return err
  const syscall = (err as { syscall?: unknown }).syscall === 'read' ? 'read' : 'open'
  const error = new MempolicyError(errno, syscall, hint ?? hintFor(errno, syscall, { path }))
  Object.defineProperty(error, 'path', { value: path, enumerable: true })
  return error
}

function readKernelFile(path: string, hint?: (errno: number) => string | undefined): string {
  try {
    return readFileSync(path, 'latin1')
  } catch (err) {
    const errno = (err as { errno?: unknown } | null)?.errno
    throw fileError(err, path, typeof errno === 'number' ? hint?.(Math.abs(errno)) : undefined)
  }
}

/** The online nodes, as numastat lists them (ascending); node 0 alone where sysfs says nothing. */
function onlineNodes(root: string): number[] {
  return readList(`${root}/online`) ?? [0]
}

/**
 * Each online node's allocation counters, from nodeN/numastat, ascending by node: numastat's
 * counters, in pages. A node file that cannot be read is a MempolicyError naming its path.
 */
export function nodeStatsIn(root: string): NodeStats[] {
  return onlineNodes(root).map((node) => {
    const path = `${root}/node${node}/numastat`
    const values = new Map<string, number>()
    for (const line of readKernelFile(path).split('\n')) {
      const match = /^(\w+)\s+(\d+)\s*$/.exec(line)
      if (match !== null) values.set(match[1]!, Number(match[2]))
    }
    const stats = { node } as NodeStats
    for (const [file, key] of COUNTERS) stats[key] = values.get(file) ?? 0
    return stats
  })
}

export function nodeStats(): NodeStats[] {
  if (!supportedPlatform) throw unsupported()
  return nodeStatsIn(SYSFS.node)
}

/** numastat -p's categories of a numa_maps line, in the order it tests them. */
export const CATEGORIES = ['huge', 'heap', 'stack'] as const
export type Category = (typeof CATEGORIES)[number] | 'private'

/**
 * The category of a numa_maps line's tokens (split on whitespace), as numastat decides it: the first
 * token that begins with `huge`, `heap` or `stack` (a hugetlb mapping, the heap, the main stack);
 * 'private' when none does. Only tokens before `upTo` count.
 */
export function categoryOf(tokens: readonly string[], upTo = tokens.length): Category {
  for (let k = 0; k < upTo; k++) {
    const token = tokens[k]!
    for (const category of CATEGORIES) if (token.startsWith(category)) return category
  }
  return 'private'
}

/** The default huge page size (Hugepagesize in /proc/meminfo), in bytes; 0 where unknown. */
export function defaultHugePageSize(): number {
  try {
    const match = /^Hugepagesize:\s*(\d+)/m.exec(readFileSync('/proc/meminfo', 'latin1'))
    return match === null ? 0 : Number(match[1]) * 1024
  } catch {
    return 0
  }
}

/**
 * Bytes per node and category of a numa_maps text. Each `N<node>=<pages>` is counted in the
 * category of the tokens before it, in pages of the line's kernelpagesize_kB (numastat 2.0.19's
 * rule: right for huge pages of any size), else of `pageSize` or, for huge pages, `hugePageSize`.
 */
export function memoryFromNumaMaps(text: string, nodes: readonly number[], pageSize: number, hugePageSize: number): NodeMemory[] {
  const rows = new Map(nodes.map((node) => [node, { node, huge: 0, heap: 0, stack: 0, private: 0, total: 0 }]))
  for (const line of text.split('\n')) {
    const tokens = line.split(/[ \t\r]+/).filter(Boolean)
    const sizeToken = tokens.find((t) => t.startsWith('kernelpagesize_kB='))
    const lineKb = sizeToken === undefined ? NaN : Number(sizeToken.slice(18))
    for (let k = 0; k < tokens.length; k++) {
      const match = /^N(\d+)=(\d+)$/.exec(tokens[k]!)
      if (match === null) continue
      const row = rows.get(Number(match[1]))
      if (row === undefined) continue
      const category = categoryOf(tokens, k)
      const unit = Number.isInteger(lineKb) && lineKb > 0 ? lineKb * 1024 : category === 'huge' ? hugePageSize : pageSize
      const bytes = Number(match[2]) * unit
      row[category] += bytes
      row.total += bytes
    }
  }
  return [...rows.values()]
}

function checkPid(pid: unknown): number | 'self' {
  if (pid === undefined) return 'self'
  if (typeof pid !== 'number') throw invalidType('pid', 'of type number', pid)
  if (!Number.isInteger(pid) || pid < 1 || pid > 2 ** 31 - 1) throw outOfRange('pid', 'an integer from 1 to 2147483647', pid)
  return pid
}

/**
 * Bytes per online node of a process's resident memory (default: this process), in numastat -p's
 * rows (huge, heap, stack, private, total), from /proc/PID/numa_maps; ascending by node. Reading
 * another user's process needs ptrace access to it (same user, or root).
 */
export function memoryOfIn(root: string, pid: unknown, pageSize: number): NodeMemory[] {
  const which = checkPid(pid)
  const path = `/proc/${which}/numa_maps`
  const text = readKernelFile(path, (errno) => {
    if (errno === ENOENT || errno === ESRCH) return `no process ${which} (or a kernel without NUMA support)`
    if (errno === EACCES) return `reading ${path} needs ptrace access to the process: the same user, or root`
    return undefined
  })
  return memoryFromNumaMaps(text, onlineNodes(root), pageSize, defaultHugePageSize())
}

/**
 * A process's resident memory per online node, in bytes (default: this process), in numastat -p's
 * rows: huge, heap, stack, private and total; from /proc/PID/numa_maps, ascending by node.
 */
export function memoryOf(pid?: number): NodeMemory[] {
  if (!supportedPlatform) throw unsupported()
  return memoryOfIn(SYSFS.node, pid, pageSize)
}
