// Weighted-interleave node weights in sysfs (docs/kernel.md, "Weighted interleave"): one file per node with memory, and on
// Linux 6.16+ an automatic mode whose file is named `auto` or, on kernels that carry the
// "auto is __auto_type" macro, `__auto_type`. bandwidthWeights derives weights from the bandwidth the
// firmware publishes (docs/heterogeneous-memory.md), on any kernel that publishes it.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { types } from 'node:util'
import { checkKeys, isArray, knownKeys, readProps, unreadable } from './args'
import { supportedPlatform, unsupported } from './binding'
import { MempolicyError, invalidType, invalidValue, outOfRange } from './errors'
import { SYSFS, kernelWeights, noBandwidth, proportionalWeights, readAccess, readList, usableBandwidth, type SysfsRoots } from './hmat'
import { hintFor } from './hints'
import { allNodes } from './mempolicy'
import { formatIdList } from './ids'
import { ENOENT } from './errno'
import { readNodes, type AllNodes, type Nodes } from './policy'

/** The sysfs directory of the weights; exported for tests. */
export const WEIGHTS_DIR = '/sys/kernel/mm/mempolicy/weighted_interleave'
const AUTO_FILES = ['auto', '__auto_type']
const NODE_FILE = /^node(0|[1-9][0-9]*)$/
const NODE_KEY = /^(0|[1-9][0-9]*)$/

function sysfsError(err: unknown, syscall: string, path: string): unknown {
  const errno = (err as { errno?: unknown } | null)?.errno
  if (typeof errno !== 'number') return err
  const error = new MempolicyError(errno, syscall, hintFor(errno, syscall, { path }))
  Object.defineProperty(error, 'path', { value: path, enumerable: true })
  return error
}

function read(path: string): string {
  try {
    return readFileSync(path, 'latin1')
  } catch (err) {
    throw sysfsError(err, 'read', path)
  }
}

function write(path: string, text: string): void {
  try {
    writeFileSync(path, text, 'latin1')
  } catch (err) {
    throw sysfsError(err, 'write', path)
  }
}

/** Node id -> weight file. Throws MempolicyError ENOENT where the kernel has no weights (before 6.9). */
function weightFiles(): Map<number, string> {
  if (!supportedPlatform) throw unsupported()
  let names: string[]
  try {
    names = readdirSync(WEIGHTS_DIR)
  } catch (err) {
    throw sysfsError(err, 'open', WEIGHTS_DIR)
  }
  const files = new Map<number, string>()
  for (const name of names) {
    const match = NODE_FILE.exec(name)
    if (match !== null) files.set(Number(match[1]), `${WEIGHTS_DIR}/${name}`)
  }
  return new Map([...files].sort(([a], [b]) => a - b))
}

/** The automatic-mode file, or undefined where the kernel has none (before 6.16). */
function autoFile(): string | undefined {
  if (!supportedPlatform) throw unsupported()
  for (const name of AUTO_FILES) {
    const path = `${WEIGHTS_DIR}/${name}`
    try {
      readFileSync(path, 'latin1')
      return path
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw sysfsError(err, 'read', path)
    }
  }
  return undefined
}

/**
 * The weight of each node with memory, 1 to 255: how many pages in a row 'weighted-interleave' puts
 * on it. Keyed by node id.
 */
export function interleaveWeights(): Record<number, number> {
  const weights: Record<number, number> = {}
  for (const [node, path] of weightFiles()) weights[node] = Number.parseInt(read(path).trim(), 10)
  return weights
}

/**
 * Sets the weights of the nodes named (others keep theirs). Every entry is validated before the
 * first write: keys are node ids that have a weight file, values integers from 1 to 255. 0 is
 * refused on every kernel: Linux 6.9 to 6.15 read it as "back to the default" (1) and 6.16+ rejects
 * it; write 1, or setInterleaveWeightsAuto(true). Nodes are written in ascending order, one file
 * each; a failure stops there (earlier nodes keep their new weight). On Linux 6.16+ writing any
 * weight turns automatic mode off. Needs root.
 */
export function setInterleaveWeights(weights: Record<number, number>): void {
  if (weights === null || typeof weights !== 'object' || isArray(weights)) {
    throw invalidType('weights', 'an object of node id -> weight, such as { 0: 3, 1: 1 }', weights)
  }
  // Its entries are not properties: read as an object it would name no node, and write nothing.
  if (types.isMap(weights) || types.isSet(weights) || types.isWeakMap(weights) || types.isWeakSet(weights)) {
    throw invalidType(
      'weights',
      'a plain object of node id -> weight, such as { 0: 3, 1: 1 } (for a Map, pass Object.fromEntries(map))',
      weights,
    )
  }
  const files = weightFiles()
  const writes: [node: number, path: string, weight: number][] = []
  let keys: string[]
  try {
    keys = Object.keys(weights)
  } catch (err) {
    throw unreadable('weights', weights, err)
  }
  for (const key of keys) {
    const name = `weights[${key}]`
    if (!NODE_KEY.test(key)) throw invalidValue('weights', `must have node ids as keys (found ${JSON.stringify(key)})`, weights)
    const node = Number(key)
    const path = files.get(node)
    if (path === undefined) {
      throw invalidValue(
        'weights',
        `may only name nodes that have an interleave weight (${formatIdList(files.keys()) || 'none'}); node ${node} has none`,
        weights,
      )
    }
    const weight: unknown = readProps(weights, [key], 'weights')[key]
    if (typeof weight !== 'number') throw invalidType(name, 'of type number', weight)
    if (!Number.isInteger(weight) || weight < 1 || weight > 255) {
      throw outOfRange(
        name,
        weight === 0
          ? 'an integer from 1 to 255 (for the default weight write 1, or use setInterleaveWeightsAuto(true))'
          : 'an integer from 1 to 255',
        weight,
      )
    }
    writes.push([node, path, weight])
  }
  writes.sort(([a], [b]) => a - b)
  for (const [, path, weight] of writes) write(path, `${weight}\n`)
}

/**
 * Whether the kernel derives the weights from memory bandwidth (Linux 6.16+): true or false, or
 * undefined where the kernel has no automatic mode.
 */
export function interleaveWeightsAuto(): boolean | undefined {
  const path = autoFile()
  if (path === undefined) return undefined
  return read(path).trim() === 'true'
}

/**
 * Turns automatic weights on (the kernel recomputes every weight from bandwidth data; ENODEV where
 * it has none) or off (the current weights stay, now manual). Needs root and Linux 6.16+
 * (MempolicyError ENOENT before).
 */
export function setInterleaveWeightsAuto(auto: boolean): void {
  if (typeof auto !== 'boolean') throw invalidType('auto', 'of type boolean', auto)
  const path = autoFile()
  if (path === undefined) throw sysfsError({ errno: -ENOENT }, 'open', `${WEIGHTS_DIR}/auto`)
  write(path, auto ? 'true\n' : 'false\n')
}

export interface BandwidthWeightsOptions {
  /**
   * Reproduce the weights the kernel's automatic mode (Linux 6.16+) sets, exactly: computed over
   * every node with memory from access class 1 (CPU initiators) alone, a node without published
   * bandwidth weighted 1, rounded as the kernel rounds; the weights of `nodes` are returned. Default
   * false: weights exactly proportional to the bandwidth of the nodes asked for where they fit in
   * 1..32, else the kernel's rounding over those nodes.
   */
  kernel?: boolean
}

const BANDWIDTH_KEYS = knownKeys(['kernel'], { auto: 'kernel', exact: 'kernel', linux: 'kernel', kernelauto: 'kernel' })

function readKernelOption(options: unknown): boolean {
  if (options === undefined) return false
  if (options === null || typeof options !== 'object') {
    throw invalidType(
      'options',
      'an object such as { kernel: true }',
      options,
      typeof options === 'boolean' ? `Write { kernel: ${options} }` : undefined,
    )
  }
  const { kernel } = readProps(options, ['kernel'], 'options')
  checkKeys(options, BANDWIDTH_KEYS, 'options')
  if (kernel !== undefined && typeof kernel !== 'boolean') throw invalidType('options.kernel', 'of type boolean', kernel)
  return kernel === true
}

/** bandwidthWeights() over the sysfs directories `roots` (a test passes a copy of them). */
export function bandwidthWeightsIn(roots: SysfsRoots, nodes: unknown, options: unknown, all: AllNodes): Record<number, number> {
  const asked = nodes === undefined ? undefined : readNodes(nodes, 'nodes', all)
  const kernel = readKernelOption(options)
  const withMemory = readList(`${roots.node}/has_memory`) ?? []
  if (asked !== undefined) {
    if (asked.length === 0) throw invalidValue('nodes', 'must name at least one node', nodes)
    const memory = new Set(withMemory)
    const without = asked.filter((n) => !memory.has(n))
    if (without.length > 0) {
      const verb = without.length > 1 ? 'have' : 'has'
      throw invalidValue(
        'nodes',
        `must name nodes with memory (${formatIdList(withMemory) || 'none'}); node ${formatIdList(without)} ${verb} none`,
        nodes,
      )
    }
  }
  const chosen = asked ?? withMemory
  if (chosen.length === 0) throw noBandwidth([], roots.node)
  if (kernel) {
    // The kernel's own table: access class 1 of every node with memory (drivers/base/node.c hands
    // only the CPU-initiator class to mempolicy).
    const bandwidth = new Map(withMemory.map((n) => [n, usableBandwidth(readAccess(`${roots.node}/node${n}`, 1))]))
    if ([...bandwidth.values()].every((bw) => bw === 0)) throw noBandwidth(withMemory, roots.node)
    const weights = kernelWeights(bandwidth)
    return Object.fromEntries(chosen.map((n) => [n, weights.get(n)!]))
  }
  const bandwidth = new Map<number, number>()
  const missing: number[] = []
  for (const n of chosen) {
    const dir = `${roots.node}/node${n}`
    const bw = usableBandwidth(readAccess(dir, 1)) || usableBandwidth(readAccess(dir, 0))
    if (bw === 0) missing.push(n)
    bandwidth.set(n, bw)
  }
  if (missing.length > 0) throw noBandwidth(missing, roots.node)
  return Object.fromEntries(proportionalWeights(bandwidth))
}

/**
 * Interleave weights for `nodes` (default: every node with memory) from the memory bandwidth the
 * kernel publishes (ACPI HMAT or CXL CDAT, nodeN/access1 where present, else access0; the lesser of
 * read and write bandwidth), for setInterleaveWeights: 102400 and 20480 MB/s give 5 and 1
 * (docs/heterogeneous-memory.md). Throws a MempolicyError ENODEV (as the kernel's own automatic mode
 * answers) where a node has no bandwidth data. Reads sysfs only; works on every kernel that
 * publishes the data, not only Linux 6.16+.
 */
export function bandwidthWeights(nodes?: Nodes, options?: BandwidthWeightsOptions): Record<number, number> {
  if (!supportedPlatform) throw unsupported()
  return bandwidthWeightsIn(SYSFS, nodes, options, allNodes)
}
