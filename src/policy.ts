// Policy validation (docs/validation.md), encoding to the kernel's mode|flags and nodemask, and
// decoding of what get_mempolicy returns.
import { readFileSync } from 'node:fs'
import { MAX_LIST_LENGTH, arrayLength, forEachElement, isArray, isOwnKey, knownKeys, unknownKey, unreadable } from './args'
import { FLAGS, MODE_FLAGS_MASK, MODES, constants, type Mode, type ModeFlag } from './constants'
import { invalidType, invalidValue, outOfRange, quote } from './errors'
import { MAX_NODE_ID, parseIdList } from './ids'
import { didYouMean, isFlagName, isModeName, mbindOptionName, suggestFlag, suggestMode } from './suggest'
import { highestPossibleNode } from './topology'

/** A node id, a list of them, or node-list text such as "0-3,7" or "all". */
export type Nodes = number | readonly number[] | string

/**
 * An empty list: what 'default' and 'local' take as nodes and flags (rule 2). A list written out
 * with an element is not one; an empty one, and what the kernel reports for these modes, is.
 */
export type EmptyList<T> = readonly T[] & { readonly length: 0 }

/**
 * A memory policy. The union carries the validation rules the compiler can check: 'default' and
 * 'local' take no nodes and no flags; 'bind', 'interleave', 'preferred-many' and
 * 'weighted-interleave' need nodes. The rest (node ids, empty lists, node-list text, which flags go
 * together and with which mode) is checked when called (docs/validation.md): flags stay
 * ModeFlag[] for every mode so that a PolicyInfo's flags can be read as they are. One member per
 * mode group, so that a policy whose mode is a union ('bind' | 'interleave') is checked mode by mode.
 */
export type Policy =
  | { mode: 'default' | 'local'; nodes?: EmptyList<number> | ''; flags?: EmptyList<ModeFlag> }
  | { mode: 'preferred'; nodes?: Nodes; flags?: readonly ModeFlag[] }
  | { mode: 'bind' | 'interleave' | 'preferred-many' | 'weighted-interleave'; nodes: Nodes; flags?: readonly ModeFlag[] }

/**
 * A policy as the kernel reports it (getMempolicy, policyOf): nodes ascending and unique, flags in
 * the order of ModeFlag; ordinary arrays. Every PolicyInfo is a Policy, so it can be set again as it is.
 */
export type PolicyInfo =
  | { mode: 'default' | 'local'; nodes: number[] & { readonly length: 0 }; flags: ModeFlag[] & { readonly length: 0 } }
  | { mode: 'preferred' | 'bind' | 'interleave' | 'preferred-many' | 'weighted-interleave'; nodes: number[]; flags: ModeFlag[] }

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
    case 'default':
      return constants.MPOL_DEFAULT
    case 'preferred':
      return constants.MPOL_PREFERRED
    case 'bind':
      return constants.MPOL_BIND
    case 'interleave':
      return constants.MPOL_INTERLEAVE
    case 'local':
      return constants.MPOL_LOCAL
    case 'preferred-many':
      return constants.MPOL_PREFERRED_MANY
    case 'weighted-interleave':
      return constants.MPOL_WEIGHTED_INTERLEAVE
    default:
      return undefined
  }
}

const FLAG_BITS: Readonly<Record<string, number>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, number>, Object.fromEntries(FLAGS)),
)

const MODE_LIST = MODES.map((m) => `'${m}'`).join(', ')
const FLAG_LIST = FLAGS.map(([f]) => `'${f}'`).join(', ')

/** The nodes of "all": every node this thread may allocate on that has memory. */
export type AllNodes = () => number[]

let width: number | undefined

/**
 * The kernel's nodemask width (MAX_NUMNODES): the bits /proc/self/status prints for Mems_allowed
 * (docs/validation.md). With 'static-nodes' or 'relative-nodes' any id below it is accepted, as the
 * kernel accepts it; without /proc, the package's own bound.
 */
export function nodemaskWidth(): number {
  if (width === undefined) {
    let status = ''
    try {
      status = readFileSync('/proc/self/status', 'latin1')
    } catch {
      // No /proc: left to the kernel, which refuses ids at or past its width with EINVAL.
    }
    const match = /^Mems_allowed:\s*([0-9a-f,]+)$/m.exec(status)
    width = match === null ? MAX_NODE_ID + 1 : Math.min(MAX_NODE_ID + 1, match[1]!.replace(/,/g, '').length * 4)
  }
  return width
}

/** Which ids a policy may name, and how to say so. */
export interface NodeBound {
  highest: number
  /** Why that is the bound, for the message: ' (the highest possible node)'. */
  why: string
  /** What to do when an id is past it. */
  hint?: string
}

/** The bound without mode flags: this machine's possible nodes. */
function possibleBound(): NodeBound {
  const highest = highestPossibleNode()
  const wide = nodemaskWidth() - 1
  return {
    highest,
    why: ' (the highest possible node on this machine)',
    hint:
      wide > highest
        ? `Ids up to ${wide} (the kernel's node mask) are accepted with flags: ['static-nodes'] or ['relative-nodes'], which name nodes that need not exist here`
        : undefined,
  }
}

let possible: NodeBound | undefined
let flagged: NodeBound | undefined

/** The bound with 'static-nodes' or 'relative-nodes': the kernel's nodemask width. */
function flaggedBound(): NodeBound {
  return (flagged ??= { highest: nodemaskWidth() - 1, why: " (the kernel's node mask, MAX_NUMNODES, has that many bits and no more)" })
}

/** Syntax only, for policies written for another machine (fromOci, toOci): the package's list bound. */
export const PORTABLE: NodeBound = Object.freeze({ highest: MAX_NODE_ID, why: '' })

function beyond(name: string, id: unknown, bound: NodeBound): RangeError {
  return outOfRange(name, `an integer from 0 to ${bound.highest}${bound.why}`, id, bound.hint)
}

function checkId(id: unknown, name: string, bound: NodeBound): asserts id is number {
  if (typeof id !== 'number') throw invalidType(name, 'of type number', id)
  if (!Number.isInteger(id) || id < 0 || id > bound.highest) {
    throw Number.isInteger(id) && id > bound.highest
      ? beyond(name, id, bound)
      : outOfRange(name, `an integer from 0 to ${bound.highest}${bound.why}`, id)
  }
}

// The last node-list string read and its nodes, frozen, for a caller that passes the same text again and
// again. "all" is never kept: it depends on the thread's allowed nodes at the time.
let lastText: string | undefined
let lastNodes: readonly number[] = []
let lastHighest = -1

/** "all" where a portable policy is read: it names this machine's nodes. */
function noAll(name: string, text: string): () => number[] {
  return () => {
    throw invalidValue(
      name,
      "must list node ids: 'all' means this machine's nodes, and a portable policy names its own",
      text,
      "For this machine's nodes, use parseNodes('all')",
    )
  }
}

/**
 * Validates a node id, list of ids or node-list string (`undefined` is no nodes). `bound` is the
 * highest id allowed (default: this machine's highest possible node); `all` supplies "all", which
 * a portable read (bound PORTABLE) refuses.
 */
export function readNodes(
  value: unknown,
  name: string,
  all: AllNodes,
  bound: NodeBound = (possible ??= possibleBound()),
): readonly number[] {
  if (value === undefined) return []
  const highest = bound.highest
  if (typeof value === 'number') {
    checkId(value, name, bound)
    return [value]
  }
  if (typeof value === 'string') {
    if (value === lastText && lastHighest <= highest) return lastNodes
    let dynamic = false
    const nodes = parseIdList(
      value,
      name,
      bound === PORTABLE
        ? noAll(name, value)
        : () => {
            dynamic = true
            return all()
          },
    )
    if (nodes.length > 0) checkId(nodes[nodes.length - 1], name, bound)
    if (!dynamic) {
      lastText = value
      lastNodes = Object.freeze(nodes)
      lastHighest = nodes.length > 0 ? nodes[nodes.length - 1]! : -1
    }
    return nodes
  }
  if (isArray(value)) {
    // A copy, each element read once: what was validated is what reaches the kernel, whatever a
    // Proxy answers on a later read. Unique ids only, so its size is bounded by the ids allowed:
    // while the ids ascend (as they usually do) they are unique already, and a bitmap of the nodes
    // seen is made only when one does not.
    // The loop of args.forEachElement, written out: that shared helper's reads see every kind of array
    // its callers pass (megamorphic, a lookup each) and it needs a closure per call.
    const length = arrayLength(value, name, MAX_LIST_LENGTH)
    // Sized up front (growing an empty array costs more than the rest of the loop for one node); no
    // larger than the ids allowed, whatever length is claimed, and trimmed to the unique ids.
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
      if (typeof id !== 'number' || !(id >= 0 && id <= highest) || !Number.isInteger(id)) checkId(id, `${name}[${k}]`, bound)
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

/** What to say about a flag that is not one: the flag meant, or where the name belongs. */
function flagHint(flag: string): string {
  const option = mbindOptionName(flag)
  if (option !== undefined) return `'${option}' is an option of mbind(), not a mode flag: mbind(memory, policy, { ${option}: true })`
  const mode = isModeName(flag)
  if (mode !== undefined && isFlagName(flag) === undefined) return `'${mode}' is a mode: { mode: '${mode}', nodes }`
  return didYouMean(suggestFlag(flag))
}

function readFlags(value: unknown, name: string): number {
  if (value === undefined) return 0
  if (!isArray(value)) {
    const hint = typeof value === 'string' && FLAG_BITS[value] !== undefined ? `Write flags: [${quote(value)}]` : undefined
    throw invalidType(name, 'an array of mode flags', value, hint)
  }
  let bits = 0
  forEachElement(
    value,
    name,
    (flag, k) => {
      if (typeof flag !== 'string') {
        const hint =
          typeof flag === 'number' && (flag & MODE_FLAGS_MASK) !== 0 && (flag & ~MODE_FLAGS_MASK) === 0
            ? `Flags are named here: ${FLAG_LIST}`
            : undefined
        throw invalidType(`${name}[${k}]`, 'of type string', flag, hint)
      }
      const bit = FLAG_BITS[flag]
      if (bit === undefined) throw invalidValue(`${name}[${k}]`, `must be one of ${FLAG_LIST}`, flag, flagHint(flag))
      bits |= bit
    },
    MAX_LIST_LENGTH,
  )
  return bits
}

const POLICY_KEYS = knownKeys(['mode', 'nodes', 'flags'], {
  node: 'nodes',
  nodemask: 'nodes',
  mask: 'nodes',
  nodelist: 'nodes',
  nodeset: 'nodes',
  nodeids: 'nodes',
  ids: 'nodes',
  cpus: 'nodes',
  policy: 'mode',
  type: 'mode',
  kind: 'mode',
  mpol: 'mode',
  name: 'mode',
  flag: 'flags',
  modeflags: 'flags',
  options: 'flags',
})

/** Options of the calls that take a policy, which belong in their own argument. */
const OPTION_NAMES: ReadonlySet<string> = new Set(['strict', 'move', 'moveAll', 'hugePages', 'scope', 'all', 'mempolicy'])

/** What to say about a policy that is not an object: a mode name alone, an array of nodes. */
function notAPolicyHint(policy: unknown): string | undefined {
  if (typeof policy === 'string') {
    const mode = modeValueOf(policy) === undefined ? suggestMode(policy) : policy
    if (mode !== undefined)
      return mode === 'default' || mode === 'local' ? `Write { mode: '${mode}' }` : `Write { mode: '${mode}', nodes: [0] }`
    return undefined
  }
  if (typeof policy === 'number') return "A mode is named, not numbered: { mode: 'bind', nodes: [0] }"
  if (isArray(policy)) return "Nodes go in a policy: { mode: 'bind', nodes: [...] }"
  return undefined
}

/** What to say about a mode that is not one: the mode meant, or where a flag's name belongs. */
function modeHint(mode: string): string {
  const flag = isFlagName(mode)
  if (flag !== undefined) return `'${flag}' is a mode flag: { mode: 'bind', nodes, flags: ['${flag}'] }`
  return didYouMean(suggestMode(mode))
}

// The names of a policy's properties in errors ('policy.nodes'), made once per argument name rather
// than on every call.
let namesFor: string | undefined
let nodesName = ''
let flagsName = ''

/**
 * Validates a policy and encodes it. Every rule is checked here, before any syscall; each property
 * is read exactly once, and a property the policy does not have (a misspelling) is an error.
 * `portable`: the runtime spec's rules only (fromOci, toOci): any id up to the package's bound, no
 * "all", nothing of this machine consulted.
 */
export function encodePolicy(policy: unknown, name: string, all: AllNodes, portable = false): Encoded {
  // (An array is not a policy either: it has no mode, or has keys a policy does not, both told below.)
  if (policy === null || typeof policy !== 'object') {
    throw invalidType(name, "an object such as { mode: 'bind', nodes: [0] }", policy, notAPolicyHint(policy))
  }
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
  // Any other own property is a mistake ({ node: 0 }, { Flags: [...] }). args.checkKeys written out
  // for the calls made in loops: three comparisons of interned strings per key, no Set.
  let unknown: string | undefined
  try {
    for (const key in policy) {
      if (key !== 'mode' && key !== 'nodes' && key !== 'flags' && isOwnKey(policy, key)) {
        unknown = key
        break
      }
    }
  } catch (err) {
    throw unreadable(name, policy, err)
  }
  if (unknown !== undefined || (typeof mode !== 'string' && isArray(policy))) {
    if (isArray(policy)) throw invalidType(name, "an object such as { mode: 'bind', nodes: [0] }", policy, notAPolicyHint(policy))
    throw unknownKey(
      name,
      unknown!,
      POLICY_KEYS,
      OPTION_NAMES.has(unknown!)
        ? `'${unknown!}' is an option, not part of the policy: pass it in the options argument after the policy`
        : undefined,
    )
  }
  if (typeof mode !== 'string')
    throw invalidType(
      `${name}.mode`,
      'of type string',
      mode,
      mode === undefined ? `A policy names its mode: { mode: 'bind', nodes: [0] }` : undefined,
    )
  const modeValue = modeValueOf(mode)
  if (modeValue === undefined) throw invalidValue(`${name}.mode`, `must be one of ${MODE_LIST}`, mode, modeHint(mode))
  if (name !== namesFor) {
    namesFor = name
    nodesName = `${name}.nodes`
    flagsName = `${name}.flags`
  }
  const flags = rawFlags === undefined ? 0 : readFlags(rawFlags, flagsName)
  const nodes = portable
    ? readNodes(rawNodes, nodesName, all, PORTABLE)
    : (flags & (constants.MPOL_F_STATIC_NODES | constants.MPOL_F_RELATIVE_NODES)) === 0
      ? readNodes(rawNodes, nodesName, all)
      : readNodes(rawNodes, nodesName, all, flaggedBound())

  switch (modeValue) {
    case constants.MPOL_DEFAULT:
    case constants.MPOL_LOCAL:
      if (nodes.length > 0) {
        throw invalidValue(
          `${name}.nodes`,
          `must be empty for mode '${mode}'`,
          rawNodes,
          mode === 'local'
            ? "For memory on given nodes use mode 'bind' (only those), 'preferred' or 'preferred-many' (those first)"
            : "To place memory on those nodes, use mode 'bind', 'preferred' or 'interleave'",
        )
      }
      if (flags !== 0) throw invalidValue(`${name}.flags`, `must be empty for mode '${mode}'`, rawFlags)
      break
    case constants.MPOL_PREFERRED:
      if (nodes.length === 0 && (flags & (constants.MPOL_F_STATIC_NODES | constants.MPOL_F_RELATIVE_NODES)) !== 0) {
        throw invalidValue(
          `${name}.flags`,
          "must not hold 'static-nodes' or 'relative-nodes' for mode 'preferred' without nodes",
          rawFlags,
          "Name the preferred node, or drop the flag ('preferred' without nodes is local allocation)",
        )
      }
      break
    default:
      if (nodes.length === 0) {
        throw invalidValue(
          `${name}.nodes`,
          `must name at least one node for mode '${mode}'`,
          rawNodes,
          rawNodes === undefined ? `Add nodes, e.g. { mode: '${mode}', nodes: [0] } or nodes: '0-3'` : undefined,
        )
      }
  }
  if ((flags & constants.MPOL_F_STATIC_NODES) !== 0 && (flags & constants.MPOL_F_RELATIVE_NODES) !== 0) {
    throw invalidValue(
      `${name}.flags`,
      "must not hold both 'static-nodes' and 'relative-nodes'",
      rawFlags,
      "'static-nodes' keeps the ids as given, 'relative-nodes' counts them within the allowed nodes: choose one",
    )
  }
  if ((flags & constants.MPOL_F_NUMA_BALANCING) !== 0 && modeValue !== constants.MPOL_BIND && modeValue !== constants.MPOL_PREFERRED_MANY) {
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
  return { mode, nodes, flags } as unknown as PolicyInfo
}
