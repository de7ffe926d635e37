// Policy validation (CONTRACT.md "Validation rules"), encoding to the kernel's mode|flags and
// nodemask, and decoding of what get_mempolicy returns.
import { arrayLength, forEachElement, isArray, unreadable } from './args'
import { FLAGS, MODE_FLAGS_MASK, MODES, constants, type Mode, type ModeFlag } from './constants'
import { invalidType, invalidValue } from './errors'
import { checkId, parseIdList } from './ids'
import { highestPossibleNode } from './topology'

/** A node id, a list of them, or node-list text such as "0-3,7" or "all". */
export type Nodes = number | readonly number[] | string

export interface Policy {
  mode: Mode
  nodes?: Nodes
  flags?: readonly ModeFlag[]
}

export interface PolicyInfo {
  mode: Mode
  /** Ascending, unique. */
  nodes: number[]
  flags: ModeFlag[]
}

/** A validated policy, ready for the kernel. */
export interface Encoded {
  mode: Mode
  /** mode | flag bits, as set_mempolicy and mbind take it. */
  value: number
  nodes: readonly number[]
}

/** The kernel's value of a mode name (its index in MODES), or undefined. A switch: cheaper than a lookup in a Map or a dictionary-mode object. */
function modeValueOf(mode: string): number | undefined {
  switch (mode) {
    case 'default': return constants.MPOL_DEFAULT
    case 'preferred': return constants.MPOL_PREFERRED
    case 'bind': return constants.MPOL_BIND
    case 'interleave': return constants.MPOL_INTERLEAVE
    case 'local': return constants.MPOL_LOCAL
    case 'preferred-many': return constants.MPOL_PREFERRED_MANY
    case 'weighted-interleave': return constants.MPOL_WEIGHTED_INTERLEAVE
    default: return undefined
  }
}

const FLAG_BITS: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(FLAGS)),
)

const MODE_LIST = MODES.map((m) => `'${m}'`).join(', ')
const FLAG_LIST = FLAGS.map(([f]) => `'${f}'`).join(', ')

/** The nodes of "all": every node this thread may allocate on that has memory. */
export type AllNodes = () => number[]

// The last node-list string read and its nodes, frozen, for a caller that passes the same text again and
// again. "all" is never kept: it depends on the thread's allowed nodes at the time.
let lastText: string | undefined
let lastNodes: readonly number[] = []

/** Validates a node id, list of ids or node-list string (`undefined` is no nodes). */
export function readNodes(value: unknown, name: string, all: AllNodes): readonly number[] {
  if (value === undefined) return []
  const highest = highestPossibleNode()
  if (typeof value === 'number') {
    checkId(value, name, highest)
    return [value]
  }
  if (typeof value === 'string') {
    if (value === lastText) return lastNodes
    let dynamic = false
    const nodes = parseIdList(value, name, () => {
      dynamic = true
      return all()
    })
    if (nodes.length > 0) checkId(nodes[nodes.length - 1], name, highest)
    if (!dynamic) {
      lastText = value
      lastNodes = Object.freeze(nodes)
    }
    return nodes
  }
  if (isArray(value)) {
    // A copy, each element read once: what was validated is what reaches the kernel, whatever a
    // Proxy answers on a later read. Unique ids only, so its size is bounded by the possible nodes:
    // while the ids ascend (as they usually do) they are unique already, and a bitmap of the nodes
    // seen is made only when one does not.
    // The loop of args.forEachElement, written out: that shared helper's reads see every kind of array
    // its callers pass (megamorphic, a lookup each) and it needs a closure per call.
    const length = arrayLength(value, name)
    // Sized up front (growing an empty array costs more than the rest of the loop for one node); no
    // larger than the possible nodes, whatever length is claimed, and trimmed to the unique ids.
    const nodes = new Array<number>(Math.min(length, highest + 1))
    let count = 0
    let seen: Uint8Array | undefined
    for (let k = 0; k < length; k++) {
      let id: unknown
      try {
        id = value[k]
      } catch (err) {
        throw unreadable(`${name}[${k}]`, value, err)
      }
      // The element's name is only built for the error.
      if (typeof id !== 'number' || !(id >= 0 && id <= highest) || !Number.isInteger(id)) checkId(id, `${name}[${k}]`, highest)
      const node = id as number
      if (seen === undefined) {
        if (count === 0 || node > nodes[count - 1]!) {
          nodes[count++] = node
          continue
        }
        seen = new Uint8Array(highest + 1)
        for (let j = 0; j < count; j++) seen[nodes[j]!] = 1
      }
      if (seen[node] === 0) {
        seen[node] = 1
        nodes[count++] = node
      }
    }
    if (count < nodes.length) nodes.length = count
    return nodes
  }
  throw invalidType(name, 'a node id, an array of node ids or a node-list string', value)
}

function readFlags(value: unknown, name: string): number {
  if (value === undefined) return 0
  if (!isArray(value)) throw invalidType(name, 'an array of mode flags', value)
  let bits = 0
  forEachElement(value, name, (flag, k) => {
    if (typeof flag !== 'string') throw invalidType(`${name}[${k}]`, 'of type string', flag)
    const bit = FLAG_BITS[flag]
    if (bit === undefined) throw invalidValue(`${name}[${k}]`, `must be one of ${FLAG_LIST}`, flag)
    bits |= bit
  })
  return bits
}

// The names of a policy's properties in errors ('policy.nodes'), made once per argument name rather
// than on every call.
let namesFor: string | undefined
let nodesName = ''
let flagsName = ''

/**
 * Validates a policy and encodes it. Every rule is checked here, before any syscall; each property
 * is read exactly once.
 */
export function encodePolicy(policy: unknown, name: string, all: AllNodes): Encoded {
  if (policy === null || typeof policy !== 'object') throw invalidType(name, 'an object such as { mode: \'bind\', nodes: [0] }', policy)
  // Each property read once, in this order; a getter or Proxy trap that throws is reported under the
  // property's name (as args.readProps does, without its record object).
  let mode: unknown
  let rawNodes: unknown
  let rawFlags: unknown
  let reading = 'mode'
  try {
    mode = (policy as Record<string, unknown>).mode
    reading = 'nodes'
    rawNodes = (policy as Record<string, unknown>).nodes
    reading = 'flags'
    rawFlags = (policy as Record<string, unknown>).flags
  } catch (err) {
    throw unreadable(`${name}.${reading}`, policy, err)
  }
  if (typeof mode !== 'string') throw invalidType(`${name}.mode`, 'of type string', mode)
  const modeValue = modeValueOf(mode)
  if (modeValue === undefined) throw invalidValue(`${name}.mode`, `must be one of ${MODE_LIST}`, mode)
  if (name !== namesFor) {
    namesFor = name
    nodesName = `${name}.nodes`
    flagsName = `${name}.flags`
  }
  const flags = rawFlags === undefined ? 0 : readFlags(rawFlags, flagsName)
  const nodes = readNodes(rawNodes, nodesName, all)

  switch (modeValue) {
    case constants.MPOL_DEFAULT:
    case constants.MPOL_LOCAL:
      if (nodes.length > 0) throw invalidValue(`${name}.nodes`, `must be empty for mode '${mode}'`, rawNodes)
      if (flags !== 0) throw invalidValue(`${name}.flags`, `must be empty for mode '${mode}'`, rawFlags)
      break
    case constants.MPOL_PREFERRED:
      if (nodes.length === 0 && (flags & (constants.MPOL_F_STATIC_NODES | constants.MPOL_F_RELATIVE_NODES)) !== 0) {
        throw invalidValue(`${name}.flags`, "must not hold 'static-nodes' or 'relative-nodes' for mode 'preferred' without nodes", rawFlags)
      }
      break
    default:
      if (nodes.length === 0) throw invalidValue(`${name}.nodes`, `must name at least one node for mode '${mode}'`, rawNodes)
  }
  if ((flags & constants.MPOL_F_STATIC_NODES) !== 0 && (flags & constants.MPOL_F_RELATIVE_NODES) !== 0) {
    throw invalidValue(`${name}.flags`, "must not hold both 'static-nodes' and 'relative-nodes'", rawFlags)
  }
  if ((flags & constants.MPOL_F_NUMA_BALANCING) !== 0 &&
      modeValue !== constants.MPOL_BIND && modeValue !== constants.MPOL_PREFERRED_MANY) {
    throw invalidValue(`${name}.flags`, "may hold 'numa-balancing' only with mode 'bind' or 'preferred-many'", rawFlags)
  }
  return { mode: mode as Mode, value: modeValue | flags, nodes }
}

/** Decodes get_mempolicy's mode|flags and nodemask nodes. */
export function decodePolicy(value: number, nodes: number[]): PolicyInfo {
  const mode = MODES[value & ~MODE_FLAGS_MASK] ?? 'default'
  const flags: ModeFlag[] = []
  if ((value & MODE_FLAGS_MASK) !== 0) {
    for (let k = 0; k < FLAGS.length; k++) {
      const [flag, bit] = FLAGS[k]!
      if ((value & bit) !== 0) flags.push(flag)
    }
  }
  return { mode, nodes, flags }
}
