// The OCI runtime spec's linux.memoryPolicy: { mode: 'MPOL_BIND', nodes: '0-3,7', flags: ['MPOL_F_STATIC_NODES'] }.
// A config is usually written on one machine and run on another, so both directions check the spec's
// rules and syntax only, never this machine's nodes (docs/validation.md, "Policies from elsewhere").
import { forEachElement, isArray, readProps } from './args'
import { FLAGS, MODES, constants, type Mode, type ModeFlag } from './constants'
import { invalidType, invalidValue, quote } from './errors'
import { formatIdList, parseIdList } from './ids'
import { encodePolicy, type AllNodes, type Policy } from './policy'
import { closest, didYouMean, isFlagName, isModeName, suggestFlag, suggestMode } from './suggest'

export interface OciMemoryPolicy {
  mode: string
  nodes?: string
  flags?: string[]
}

const ociName = (name: string): string => `MPOL_${name.toUpperCase().replace(/-/g, '_')}`
const ociFlagName = (flag: ModeFlag): string => `MPOL_F_${flag.toUpperCase().replace(/-/g, '_')}`

const OCI_MODES = new Map<string, Mode>(MODES.map((m) => [ociName(m), m]))
const OCI_FLAGS = new Map<string, ModeFlag>(FLAGS.map(([f]) => [ociFlagName(f), f]))
const FLAG_BITS = new Map<ModeFlag, number>(FLAGS)
const MODE_NAMES = [...OCI_MODES.keys()]
const FLAG_NAMES = [...OCI_FLAGS.keys()]
const KEYS = ['mode', 'nodes', 'flags']

/**
 * A key of `value` that is most likely a misspelling of `wanted` ('node' for 'nodes'), for the
 * message of a rule it broke. The spec has every unknown property ignored, so this is only ever a
 * hint. Runs for...in once, on the error path only.
 */
function misspelled(value: object, wanted: string): string {
  try {
    for (const key in value) {
      if (!KEYS.includes(key) && closest(key, KEYS) === wanted)
        return `. The property ${quote(key)} is not in the spec: did you mean '${wanted}'?`
    }
  } catch {
    // A hint only: a Proxy that throws here has no hint.
  }
  return ''
}

function modeHint(mode: string): string {
  const flag = isFlagName(mode)
  if (flag !== undefined) return `${ociFlagName(flag)} is a flag: { mode: 'MPOL_BIND', nodes: '0', flags: ['${ociFlagName(flag)}'] }`
  const meant = suggestMode(mode)
  return didYouMean(meant === undefined ? undefined : ociName(meant))
}

function flagHint(flag: string): string {
  const mode = isModeName(flag)
  if (mode !== undefined && isFlagName(flag) === undefined) return `${ociName(mode)} is a mode: { mode: '${ociName(mode)}' }`
  const meant = suggestFlag(flag)
  return didYouMean(meant === undefined ? undefined : ociFlagName(meant))
}

/** What the spec's nodes should have been, for a value of the wrong type. */
function nodesHint(nodes: unknown): string | undefined {
  if (typeof nodes === 'number' && Number.isInteger(nodes) && nodes >= 0) return `Write nodes as text: nodes: '${nodes}'`
  if (isArray(nodes)) {
    try {
      return `Write nodes as text: nodes: '${formatIdList(nodes as number[])}'`
    } catch {
      return "Write nodes as text, such as nodes: '0-3,7'"
    }
  }
  return undefined
}

/**
 * Converts and validates an OCI linux.memoryPolicy object by the spec's rules: a mode and flags of
 * its lists, nodes as list text, and set_mempolicy's rules for which modes take nodes and flags.
 * Node ids are not checked against this machine. Unknown properties are ignored, as the spec says.
 */
export function fromOci(value: unknown): Policy {
  if (value === null || typeof value !== 'object' || isArray(value)) {
    throw invalidType('value', "an object such as { mode: 'MPOL_BIND', nodes: '0-3' }", value)
  }
  const { mode: rawMode, nodes: rawNodes, flags: rawFlags } = readProps(value, ['mode', 'nodes', 'flags'], 'value')
  if (typeof rawMode !== 'string') {
    throw invalidType(
      'value.mode',
      'of type string',
      rawMode,
      rawMode === undefined ? `The spec requires a mode, such as 'MPOL_BIND'${misspelled(value, 'mode')}` : undefined,
    )
  }
  const mode = OCI_MODES.get(rawMode)
  if (mode === undefined) throw invalidValue('value.mode', `must be one of ${MODE_NAMES.join(', ')}`, rawMode, modeHint(rawMode))
  if (rawNodes !== undefined && typeof rawNodes !== 'string')
    throw invalidType('value.nodes', 'of type string', rawNodes, nodesHint(rawNodes))
  let flags: ModeFlag[] = []
  let bits = 0
  if (rawFlags !== undefined) {
    if (!isArray(rawFlags)) {
      throw invalidType(
        'value.flags',
        'an array of strings',
        rawFlags,
        typeof rawFlags === 'string' ? `Write flags: [${quote(rawFlags)}]` : undefined,
      )
    }
    // Element by element into a plain array: no species constructor or Proxy trap is asked again.
    forEachElement(rawFlags, 'value.flags', (flag, k) => {
      if (typeof flag !== 'string') throw invalidType(`value.flags[${k}]`, 'of type string', flag)
      const name = OCI_FLAGS.get(flag)
      if (name === undefined) throw invalidValue(`value.flags[${k}]`, `must be one of ${FLAG_NAMES.join(', ')}`, flag, flagHint(flag))
      bits |= FLAG_BITS.get(name)!
    })
    flags = FLAGS.filter(([, bit]) => (bits & bit) !== 0).map(([f]) => f)
  }
  // The spec's syntax: numbers and ranges. "all" would name this machine's nodes.
  const nodes =
    rawNodes === undefined
      ? []
      : parseIdList(rawNodes, 'value.nodes', () => {
          throw invalidValue('value.nodes', "must list node ids, such as '0-3,7': 'all' is not in the runtime spec", rawNodes)
        })
  const ociMode = rawMode
  const usesIds = (bits & (constants.MPOL_F_STATIC_NODES | constants.MPOL_F_RELATIVE_NODES)) !== 0
  switch (mode) {
    case 'default':
    case 'local':
      if (nodes.length > 0)
        throw invalidValue(
          'value.nodes',
          `must be empty for ${ociMode}`,
          rawNodes,
          `Drop nodes, or use MPOL_BIND or MPOL_PREFERRED to name them`,
        )
      if (flags.length > 0) throw invalidValue('value.flags', `must be empty for ${ociMode}`, rawFlags)
      break
    case 'preferred':
      if (nodes.length === 0 && usesIds) {
        throw invalidValue(
          'value.flags',
          `must not hold MPOL_F_STATIC_NODES or MPOL_F_RELATIVE_NODES for ${ociMode} without nodes`,
          rawFlags,
          `Name the preferred node in nodes, or drop the flag${misspelled(value, 'nodes')}`,
        )
      }
      break
    default:
      if (nodes.length === 0) {
        throw invalidValue(
          'value.nodes',
          `must name at least one node for ${ociMode}`,
          rawNodes,
          `Add nodes, e.g. { mode: '${ociMode}', nodes: '0-3' }${misspelled(value, 'nodes')}`,
        )
      }
  }
  if ((bits & constants.MPOL_F_STATIC_NODES) !== 0 && (bits & constants.MPOL_F_RELATIVE_NODES) !== 0) {
    throw invalidValue('value.flags', 'must not hold both MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES', rawFlags, 'Choose one')
  }
  if ((bits & constants.MPOL_F_NUMA_BALANCING) !== 0 && mode !== 'bind' && mode !== 'preferred-many') {
    throw invalidValue('value.flags', 'may hold MPOL_F_NUMA_BALANCING only with MPOL_BIND or MPOL_PREFERRED_MANY', rawFlags)
  }
  const policy: { mode: Mode; nodes?: number[]; flags?: ModeFlag[] } = { mode }
  if (nodes.length > 0) policy.nodes = nodes
  if (flags.length > 0) policy.flags = flags
  return policy as Policy
}

/**
 * The OCI linux.memoryPolicy form of a policy; throws on a policy the validation rules reject.
 * Like fromOci it checks rules and syntax only: ids need not exist on this machine, and "all",
 * which names this machine's nodes, is refused.
 */
export function toOci(policy: Policy, all: AllNodes): OciMemoryPolicy {
  const encoded = encodePolicy(policy, 'policy', all, true)
  const out: OciMemoryPolicy = { mode: ociName(encoded.mode) }
  if (encoded.nodes.length > 0) out.nodes = formatIdList(encoded.nodes)
  const flags = FLAGS.filter(([, bit]) => (encoded.value & bit) !== 0).map(([f]) => ociFlagName(f))
  if (flags.length > 0) out.flags = flags
  return out
}
