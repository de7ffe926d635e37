// mempolicy: Linux NUMA memory policy for Node.js.
import { supportedPlatform, unsupported } from './binding'
import { formatIdList } from './ids'
import * as oci from './oci'
import type { Policy } from './policy'
import { allNodes } from './mempolicy'
import { topology as readTopology, type Topology } from './topology'

export { constants, type Mode, type ModeFlag } from './constants'
export { MempolicyError } from './errors'
export type { Nodes, Policy, PolicyInfo } from './policy'
export type { NodeInfo, Topology } from './topology'
export type { OciMemoryPolicy } from './oci'
export {
  alloc,
  getMempolicy,
  isSupported,
  mbind,
  memsAllowed,
  nodeOf,
  pageSize,
  parseNodes,
  policyOf,
  setHomeNode,
  setMempolicy,
  type AllocOptions,
  type MbindOptions,
  type Memory,
  type Span,
} from './mempolicy'
export { mbindAsync } from './mempolicy'
export type { SetMempolicyOptions } from './mempolicy'
export type { FailedThread, ProcessPolicyError, ProcessPolicyResult, SkippedThread } from './process'
export { spawn, type SpawnOptions } from './spawn'
export { migratePages, movePages, pageNodes, type MovePagesOptions, type MovePagesResult } from './pages'
export { interleaveWeights, interleaveWeightsAuto, setInterleaveWeights, setInterleaveWeightsAuto } from './weights'
export { capabilities, type Capabilities, type Syscall } from './capabilities'
export type { Tiering } from './capabilities'
export type { Access, MemorySideCache, MemoryTier } from './hmat'
export { bandwidthWeights, type BandwidthWeightsOptions } from './weights'
export { memoryOf, nodeStats, type NodeMemory, type NodeStats } from './stats'

/** Canonical node-list text: `[7, 0, 1, 2, 3]` gives `"0-3,7"`. */
export function formatNodes(nodes: Iterable<number>): string {
  return formatIdList(nodes)
}

/** A Policy from an OCI runtime-spec `linux.memoryPolicy` object, validated. */
export function fromOci(value: unknown): Policy {
  return oci.fromOci(value)
}

/** The OCI runtime-spec `linux.memoryPolicy` form of a policy. */
export function toOci(policy: Policy): oci.OciMemoryPolicy {
  return oci.toOci(policy, allNodes)
}

/** The machine's NUMA nodes, from /sys/devices/system/node. */
export function topology(): Topology {
  if (!supportedPlatform) throw unsupported()
  return readTopology()
}
export {
  currentCpu,
  getCpuAffinity,
  runOnNodes,
  setCpuAffinity,
  type CpuAffinityOptions,
  type Cpus,
  type FailedAffinityThread,
  type ProcessAffinityError,
  type ProcessAffinityResult,
} from './cpu'
