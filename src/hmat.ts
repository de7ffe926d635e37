// Heterogeneous memory as the kernel publishes it (docs/heterogeneous-memory.md): the performance of
// each node's memory from the ACPI HMAT (or CXL CDAT) in nodeN/access0 and access1, its memory-side
// caches, the memory tiers the kernel built, whether it demotes, and interleave weights derived from
// the published bandwidth. Everything here is read from sysfs and is absent where sysfs has nothing:
// containers often mount a partial or read-only /sys, and a value the kernel did not publish is never
// made up.
import { readFileSync, readdirSync } from 'node:fs'
import { ENODEV } from './errno'
import { MempolicyError } from './errors'
import { NODE_IDS, formatIdList, parseIdList, type IdKind } from './ids'

/** Performance of a node's memory as seen from its best initiators (sysfs units: MB/s and ns). */
export interface Access {
  /** The initiator nodes (CPUs, or other initiators for class 0) this performance is for, ascending. */
  initiators: number[]
  /** MB/s. */
  readBandwidth: number
  /** MB/s. */
  writeBandwidth: number
  /** Nanoseconds. */
  readLatency: number
  /** Nanoseconds. */
  writeLatency: number
}

/** A memory-side cache in front of a node's memory (nodeN/memory_side_cache/indexL). */
export interface MemorySideCache {
  /** Cache level: 1 is the one nearest the CPUs. */
  level: number
  /** Bytes. */
  size: number
  /** Bytes. */
  lineSize: number
  /** The kernel's `indexing`: 0 direct-mapped, 1 indexed (complex), 2 other. */
  indexing: 'direct-mapped' | 'indexed' | 'other'
  /** The kernel's `write_policy`: 0 write-back, 1 write-through, 2 other. */
  writePolicy: 'write-back' | 'write-through' | 'other'
  /** The kernel's `address_mode`, where it publishes one: 0 reserved, 1 extended-linear. */
  addressMode?: 'reserved' | 'extended-linear'
}

/** A memory tier (memory_tierN): nodes of similar performance; lower ids are faster. */
export interface MemoryTier {
  id: number
  /** Ascending. */
  nodes: number[]
}

/** The sysfs directories read here (a test passes a copy of them). */
export interface SysfsRoots {
  node: string
  tiering: string
  numa: string
}

export const SYSFS: SysfsRoots = Object.freeze({
  node: '/sys/devices/system/node',
  tiering: '/sys/devices/virtual/memory_tiering',
  numa: '/sys/kernel/mm/numa',
})

/** A file's text, or undefined where it is missing or unreadable. */
export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'latin1')
  } catch {
    return undefined
  }
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir)
  } catch {
    return []
  }
}

/** An unsigned decimal file ("%u\n", as sysfs prints them), or undefined. */
function readUnsigned(file: string): number | undefined {
  const text = readText(file)
  if (text === undefined) return undefined
  const match = /^\s*(\d+)\s*$/.exec(text)
  return match === null ? undefined : Number(match[1])
}

/** A node-list (or, with CPU_IDS, CPU-list) file ("0-3,7"), or undefined where missing, unreadable or malformed. */
export function readList(file: string, kind: IdKind = NODE_IDS): number[] | undefined {
  const text = readText(file)
  if (text === undefined) return undefined
  try {
    return parseIdList(text, file, () => [], kind)
  } catch {
    return undefined
  }
}

/** The ids of `prefix<N>` entries of a directory, ascending. */
function numbered(dir: string, prefix: string): number[] {
  const ids: number[] = []
  for (const name of entries(dir)) {
    if (!name.startsWith(prefix)) continue
    const id = name.slice(prefix.length)
    if (/^(0|[1-9]\d*)$/.test(id)) ids.push(Number(id))
  }
  return ids.sort((a, b) => a - b)
}

/**
 * Access class `k` of a node: nodeN/access<k>/initiators/ holds a link per initiator node and, where
 * the firmware gave performance data, the four values. Undefined unless all four can be read (the
 * kernel creates them together; 0 in one means the firmware gave no value for it).
 */
export function readAccess(nodeDir: string, k: number): Access | undefined {
  const dir = `${nodeDir}/access${k}/initiators`
  const readBandwidth = readUnsigned(`${dir}/read_bandwidth`)
  const writeBandwidth = readUnsigned(`${dir}/write_bandwidth`)
  const readLatency = readUnsigned(`${dir}/read_latency`)
  const writeLatency = readUnsigned(`${dir}/write_latency`)
  if (readBandwidth === undefined || writeBandwidth === undefined || readLatency === undefined || writeLatency === undefined) {
    return undefined
  }
  return { initiators: numbered(dir, 'node'), readBandwidth, writeBandwidth, readLatency, writeLatency }
}

const INDEXING = ['direct-mapped', 'indexed'] as const
const WRITE_POLICY = ['write-back', 'write-through'] as const
const ADDRESS_MODE = ['reserved', 'extended-linear'] as const

/** nodeN/memory_side_cache/index<L>/ for each level L, ascending; a level missing a file is left out. */
export function readCaches(nodeDir: string): MemorySideCache[] {
  const dir = `${nodeDir}/memory_side_cache`
  const caches: MemorySideCache[] = []
  for (const level of numbered(dir, 'index')) {
    const at = `${dir}/index${level}`
    const size = readUnsigned(`${at}/size`)
    const lineSize = readUnsigned(`${at}/line_size`)
    const indexing = readUnsigned(`${at}/indexing`)
    const writePolicy = readUnsigned(`${at}/write_policy`)
    if (size === undefined || lineSize === undefined || indexing === undefined || writePolicy === undefined) continue
    const cache: MemorySideCache = {
      level,
      size,
      lineSize,
      indexing: INDEXING[indexing] ?? 'other',
      writePolicy: WRITE_POLICY[writePolicy] ?? 'other',
    }
    const addressMode = ADDRESS_MODE[readUnsigned(`${at}/address_mode`) ?? -1]
    if (addressMode !== undefined) cache.addressMode = addressMode
    caches.push(cache)
  }
  return caches
}

/** /sys/devices/virtual/memory_tiering/memory_tierN/nodelist, ascending by id; [] without tiering. */
export function readTiers(root: string = SYSFS.tiering): MemoryTier[] {
  const tiers: MemoryTier[] = []
  for (const id of numbered(root, 'memory_tier')) {
    const nodes = readList(`${root}/memory_tier${id}/nodelist`)
    if (nodes !== undefined) tiers.push({ id, nodes })
  }
  return tiers
}

/** /sys/kernel/mm/numa/demotion_enabled ("true" or "false"), or undefined where absent. */
export function readDemotion(root: string = SYSFS.numa): boolean | undefined {
  const text = readText(`${root}/demotion_enabled`)?.trim()
  return text === 'true' ? true : text === 'false' ? false : undefined
}

// Interleave weights from bandwidth.

/**
 * The kernel's bound on automatic weights ("weightiness" in mm/mempolicy.c): weights stay small, so no
 * node gets a long run of consecutive pages before the others get theirs.
 */
export const WEIGHTINESS = 32

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b]
  return a
}

/**
 * The kernel's reduce_interleave_weights (Linux 6.16+, mm/mempolicy.c), in its own integer
 * arithmetic: each node's share of the total bandwidth scaled to 1..WEIGHTINESS and rounded down
 * (1 for a node without bandwidth or with a share of at most 1/WEIGHTINESS), then every weight
 * divided by their greatest common divisor. `bandwidth` is MB/s per node, the nodes in ascending
 * order. The products are 32-bit as in the kernel, the weights 8-bit.
 */
export function kernelWeights(bandwidth: ReadonlyMap<number, number>): Map<number, number> {
  let sum = 0
  for (const bw of bandwidth.values()) sum += bw
  const weights = new Map<number, number>()
  let divisor = 0
  for (const [node, bw] of bandwidth) {
    const scaled = (WEIGHTINESS * bw) % 2 ** 32
    const weight = bw !== 0 && sum < scaled ? Math.floor(scaled / sum) & 0xff : 1
    if (divisor === 0) divisor = weight
    divisor = gcd(divisor, weight)
    weights.set(node, weight)
  }
  if (divisor > 1) for (const [node, weight] of weights) weights.set(node, Math.floor(weight / divisor))
  return weights
}

/**
 * Weights proportional to `bandwidth` (MB/s per node, all non-zero): the bandwidths divided by their
 * greatest common divisor where that leaves every weight at most WEIGHTINESS (exact: 102400 and 20480
 * MB/s give 5 and 1), and otherwise the kernel's own approximation over these nodes.
 */
export function proportionalWeights(bandwidth: ReadonlyMap<number, number>): Map<number, number> {
  let divisor = 0
  for (const bw of bandwidth.values()) divisor = gcd(divisor, bw)
  const exact = new Map<number, number>()
  for (const [node, bw] of bandwidth) exact.set(node, bw / divisor)
  for (const weight of exact.values()) if (weight > WEIGHTINESS) return kernelWeights(bandwidth)
  return exact
}

/** The bandwidth the kernel's auto mode takes for a node: min(read, write) of `access`, 0 without. */
export function usableBandwidth(access: Access | undefined): number {
  return access === undefined ? 0 : Math.min(access.readBandwidth, access.writeBandwidth)
}

/** ENODEV, as the kernel answers a request for automatic weights without bandwidth data. */
export function noBandwidth(nodes: readonly number[], root: string = SYSFS.node): MempolicyError {
  const path = nodes.length === 0 ? `${root}/has_memory` : `${root}/node${nodes[0]}/access1/initiators/read_bandwidth`
  const hint =
    nodes.length === 0
      ? `${path} cannot be read, so no node with memory is known`
      : `the kernel publishes no memory bandwidth for node ${formatIdList(nodes)} (${path} and access0 are absent or 0): ` +
        `the firmware has no ACPI HMAT ${nodes.length > 1 ? 'entries for them' : 'entry for it'} and no CXL CDAT reached the kernel`
  const error = new MempolicyError(-ENODEV, 'open', hint)
  Object.defineProperty(error, 'path', { value: path, enumerable: true })
  return error
}
