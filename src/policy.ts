// Policy validation (CONTRACT.md "Validation rules"), encoding to the kernel's mode|flags and
// nodemask, and decoding of what get_mempolicy returns.
import { FLAGS, MODE_FLAGS_MASK, MODES, constants, type Mode, type ModeFlag } from './constants'
import { invalidType, invalidValue } from './errors'
import { checkNodeId, parseNodeList } from './nodes'
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

const MODE_VALUES: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(MODES.map((m, i) => [m, i]))),
)

const FLAG_BITS: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(FLAGS)),
)

const MODE_LIST = MODES.map((m) => `'${m}'`).join(', ')
const FLAG_LIST = FLAGS.map(([f]) => `'${f}'`).join(', ')

/** The nodes of "all": every node this thread may allocate on that has memory. */
export type AllNodes = () => number[]

function readNodes(value: unknown, name: string, all: AllNodes): readonly number[] {
  if (value === undefined) return []
  const highest = highestPossibleNode()
  if (typeof value === 'number') {
    checkNodeId(value, name, highest)
    return [value]
  }
  if (typeof value === 'string') {
    const nodes = parseNodeList(value, name, all)
    if (nodes.length > 0) checkNodeId(nodes[nodes.length - 1], name, highest)
    return nodes
  }
  if (Array.isArray(value)) {
    for (let k = 0; k < value.length; k++) checkNodeId(value[k], `${name}[${k}]`, highest)
    return value as readonly number[]
  }
  throw invalidType(name, 'a node id, an array of node ids or a node-list string', value)
}

function readFlags(value: unknown, name: string): number {
  if (value === undefined) return 0
  if (!Array.isArray(value)) throw invalidType(name, 'an array of mode flags', value)
  let bits = 0
  for (let k = 0; k < value.length; k++) {
    const flag: unknown = value[k]
    if (typeof flag !== 'string') throw invalidType(`${name}[${k}]`, 'of type string', flag)
    const bit = FLAG_BITS[flag]
    if (bit === undefined) throw invalidValue(`${name}[${k}]`, `must be one of ${FLAG_LIST}`, flag)
    bits |= bit
  }
  return bits
}

/**
 * Validates a policy and encodes it. Every rule is checked here, before any syscall; each property
 * is read exactly once.
 */
export function encodePolicy(policy: unknown, name: string, all: AllNodes): Encoded {
  if (policy === null || typeof policy !== 'object') throw invalidType(name, 'an object such as { mode: \'bind\', nodes: [0] }', policy)
  const { mode, nodes: rawNodes, flags: rawFlags } = policy as Record<string, unknown>
  if (typeof mode !== 'string') throw invalidType(`${name}.mode`, 'of type string', mode)
  const modeValue = MODE_VALUES[mode]
  if (modeValue === undefined) throw invalidValue(`${name}.mode`, `must be one of ${MODE_LIST}`, mode)
  const flags = readFlags(rawFlags, `${name}.flags`)
  const nodes = readNodes(rawNodes, `${name}.nodes`, all)

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
  for (const [flag, bit] of FLAGS) if ((value & bit) !== 0) flags.push(flag)
  return { mode, nodes, flags }
}
