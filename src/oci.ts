// The OCI runtime spec's linux.memoryPolicy: { mode: 'MPOL_BIND', nodes: '0-3,7', flags: ['MPOL_F_STATIC_NODES'] }.
import { forEachElement, isArray, readProps } from './args'
import { FLAGS, MODES, type Mode, type ModeFlag } from './constants'
import { invalidType, invalidValue } from './errors'
import { formatIdList } from './ids'
import { encodePolicy, type AllNodes, type Policy } from './policy'

export interface OciMemoryPolicy {
  mode: string
  nodes?: string
  flags?: string[]
}

const ociName = (name: string): string => `MPOL_${name.toUpperCase().replace(/-/g, '_')}`
const ociFlagName = (flag: ModeFlag): string => `MPOL_F_${flag.toUpperCase().replace(/-/g, '_')}`

const OCI_MODES = new Map<string, Mode>(MODES.map((m) => [ociName(m), m]))
const OCI_FLAGS = new Map<string, ModeFlag>(FLAGS.map(([f]) => [ociFlagName(f), f]))

/** Converts and validates an OCI linux.memoryPolicy object. */
export function fromOci(value: unknown, all: AllNodes): Policy {
  if (value === null || typeof value !== 'object' || isArray(value)) {
    throw invalidType('value', "an object such as { mode: 'MPOL_BIND', nodes: '0-3' }", value)
  }
  const { mode: rawMode, nodes: rawNodes, flags: rawFlags } = readProps(value, ['mode', 'nodes', 'flags'], 'value')
  if (typeof rawMode !== 'string') throw invalidType('value.mode', 'of type string', rawMode)
  const mode = OCI_MODES.get(rawMode)
  if (mode === undefined) throw invalidValue('value.mode', `must be one of ${[...OCI_MODES.keys()].join(', ')}`, rawMode)
  if (rawNodes !== undefined && typeof rawNodes !== 'string') throw invalidType('value.nodes', 'of type string', rawNodes)
  let flags: ModeFlag[] | undefined
  if (rawFlags !== undefined) {
    if (!isArray(rawFlags)) throw invalidType('value.flags', 'an array of strings', rawFlags)
    // Element by element into a plain array: no species constructor or Proxy trap is asked again.
    const names: ModeFlag[] = []
    forEachElement(rawFlags, 'value.flags', (flag, k) => {
      if (typeof flag !== 'string') throw invalidType(`value.flags[${k}]`, 'of type string', flag)
      const name = OCI_FLAGS.get(flag)
      if (name === undefined) throw invalidValue(`value.flags[${k}]`, `must be one of ${[...OCI_FLAGS.keys()].join(', ')}`, flag)
      if (!names.includes(name)) names.push(name)
    })
    flags = names
  }
  const candidate: { mode: Mode; nodes?: string; flags?: ModeFlag[] } = { mode }
  if (rawNodes !== undefined) candidate.nodes = rawNodes
  if (flags !== undefined) candidate.flags = flags
  const encoded = encodePolicy(candidate, 'value', all)
  const policy: { mode: Mode; nodes?: number[]; flags?: ModeFlag[] } = { mode }
  if (encoded.nodes.length > 0) policy.nodes = [...encoded.nodes]
  if (flags !== undefined && flags.length > 0) policy.flags = FLAGS.filter(([f]) => flags.includes(f)).map(([f]) => f)
  return policy
}

/** The OCI linux.memoryPolicy form of a policy; throws on a policy the validation rules reject. */
export function toOci(policy: Policy, all: AllNodes): OciMemoryPolicy {
  const encoded = encodePolicy(policy, 'policy', all)
  const out: OciMemoryPolicy = { mode: ociName(encoded.mode) }
  if (encoded.nodes.length > 0) out.nodes = formatIdList(encoded.nodes)
  const flags = FLAGS.filter(([, bit]) => (encoded.value & bit) !== 0).map(([f]) => ociFlagName(f))
  if (flags.length > 0) out.flags = flags
  return out
}
