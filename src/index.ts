// mempolicy: Linux NUMA memory policy for Node.js.
import { supportedPlatform, unsupported } from './binding'
import { formatIdList } from './ids'
import * as oci from './oci'
import type { Nodes, Policy } from './policy'
import { allNodes, pageSize } from './mempolicy'
import { memoryOf as readMemoryOf, type NodeMemory } from './stats'
import { topology as readTopology, type Topology } from './topology'
import { bandwidthWeights as weightsFromBandwidth, type BandwidthWeightsOptions } from './weights'

export { constants, type Mode, type ModeFlag } from './constants'
export { MempolicyError } from './errors'
export type { Nodes, Policy, PolicyInfo } from './policy'
export type { NodeInfo, Topology } from './topology'
export type { OciMemoryPolicy } from './oci'
export {
  alloc, getMempolicy, isSupported, mbind, memsAllowed, nodeOf, pageSize, parseNodes, policyOf, setHomeNode, setMempolicy,
  type AllocOptions, type MbindOptions, type Memory, type Span,
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
export type { BandwidthWeightsOptions } from './weights'
export { nodeStats, type NodeMemory, type NodeStats } from './stats'

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

/**
 * Interleave weights for `nodes` (default: every node with memory) from the memory bandwidth the
 * kernel publishes (ACPI HMAT / CXL CDAT), for setInterleaveWeights: 100 GB/s and 20 GB/s give 5 and
 * 1. A MempolicyError ENODEV where the kernel publishes no bandwidth for a node.
 */
export function bandwidthWeights(nodes?: Nodes, options?: BandwidthWeightsOptions): Record<number, number> {
  return weightsFromBandwidth(nodes, options, allNodes)
}

/**
 * A process's resident memory per online node, in bytes (default: this process), in numastat -p's
 * rows: huge, heap, stack, private and total; from /proc/PID/numa_maps, ascending by node.
 */
export function memoryOf(pid?: number): NodeMemory[] {
  return readMemoryOf(pid, pageSize)
}
