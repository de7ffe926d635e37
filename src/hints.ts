// Hints: what a kernel errno most likely means for this call, worked out only after a failure.
import { readFileSync } from 'node:fs'
import { constants } from './constants'
import { formatIdList } from './ids'
import type { Encoded } from './policy'
import { nodeState } from './topology'
import { EACCES, EFAULT, EINVAL, EIO, ENODEV, ENOENT, ENOMEM, ENOSYS, EOPNOTSUPP, EPERM, EROFS, ESRCH } from './errno'

export interface HintContext {
  policy?: Encoded
  /** mbind's MPOL_MF_* flags. */
  moveFlags?: number
  /** The nodes this thread may use (get_mempolicy MPOL_F_MEMS_ALLOWED), when they could be read. */
  allowed?: () => number[] | undefined
  /** move_pages's target node, or migrate_pages's destination nodes. */
  nodes?: readonly number[]
  /** migrate_pages's process. */
  pid?: number
  /** The sysfs file a failed write went to. */
  path?: string
}

/** True when a seccomp filter is installed on this thread (Docker's default profile is one). */
export function seccompFiltered(): boolean {
  try {
    return /^Seccomp:\s*2$/m.test(readFileSync('/proc/self/status', 'latin1'))
  } catch {
    return false
  }
}

/** True when CAP_SYS_NICE (bit 23) is in this thread's effective capabilities. */
export function hasCapSysNice(): boolean {
  try {
    const match = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))
    return match !== null && (BigInt(`0x${match[1]}`) & (1n << 23n)) !== 0n
  } catch {
    return false
  }
}

/** Which of `nodes` are offline, without memory or outside the allowed set, and what could be used instead. */
function nodesHint(nodes: readonly number[], allowed: number[] | undefined): string | undefined {
  if (nodes.length === 0) return undefined
  const online = new Set(nodeState('online'))
  const memory = new Set(nodeState('has_memory'))
  const offline = nodes.filter((n) => !online.has(n))
  const memoryless = nodes.filter((n) => online.has(n) && !memory.has(n))
  // Offline and memoryless nodes are never in cpuset.mems: say what is wrong with them instead.
  const outside = allowed === undefined ? [] : nodes.filter((n) => memory.has(n) && !allowed.includes(n))
  const parts: string[] = []
  if (offline.length > 0) parts.push(`node ${formatIdList(offline)} ${offline.length > 1 ? 'are' : 'is'} offline`)
  if (memoryless.length > 0) parts.push(`node ${formatIdList(memoryless)} ${memoryless.length > 1 ? 'have' : 'has'} no memory`)
  if (outside.length > 0) {
    parts.push(`node ${formatIdList(outside)} ${outside.length > 1 ? 'are' : 'is'} outside this thread's allowed nodes (cpuset.mems): ${formatIdList(allowed ?? [])}`)
  }
  if (parts.length > 0) {
    const usable = [...memory].filter((n) => allowed === undefined || allowed.includes(n))
    return `${parts.join('; ')}; nodes with memory you may use: ${formatIdList(usable) || 'none'}`
  }
  return undefined
}

function policyHint(policy: Encoded, allowed: number[] | undefined): string | undefined {
  const nodes = nodesHint(policy.nodes, allowed)
  if (nodes !== undefined) return nodes
  if (policy.mode === 'weighted-interleave') return "this kernel may not support 'weighted-interleave' (Linux 6.9+)"
  if (policy.mode === 'preferred-many') {
    return policy.value & constants.MPOL_F_NUMA_BALANCING
      ? "'numa-balancing' with 'preferred-many' needs Linux 6.10+"
      : "this kernel may not support 'preferred-many' (Linux 5.15+)"
  }
  if (policy.value & constants.MPOL_F_NUMA_BALANCING) return "'numa-balancing' needs Linux 5.12+ (mbind: 5.15+)"
  return undefined
}

export function hintFor(errno: number, syscall: string, context: HintContext = {}): string | undefined {
  switch (Math.abs(errno)) {
    case EPERM:
      if (context.moveFlags !== undefined && (context.moveFlags & constants.MPOL_MF_MOVE_ALL) !== 0 && !hasCapSysNice()) {
        return syscall === 'move_pages'
          ? 'all (MPOL_MF_MOVE_ALL) needs the CAP_SYS_NICE capability, which this process lacks'
          : 'moveAll (MPOL_MF_MOVE_ALL) needs the CAP_SYS_NICE capability, which this process lacks'
      }
      if (syscall === 'write') return `writing ${context.path ?? 'this sysfs file'} needs root`
      if (seccompFiltered()) {
        return `a seccomp filter blocks ${syscall} (Docker's default profile does): allow it in the profile, or run with --security-opt seccomp=<profile that allows it> or --cap-add SYS_NICE`
      }
      if (syscall === 'migrate_pages') {
        const outside = 'a destination node is outside its cpuset (allowed only with CAP_SYS_NICE)'
        return context.pid === undefined || context.pid === 0 || context.pid === process.pid
          ? outside
          : `process ${context.pid} belongs to another user (migrating it needs ptrace access: the same user or CAP_SYS_PTRACE), or ${outside}`
      }
      return 'the operation is not permitted for this process'
    case EACCES:
      if (syscall === 'write') return `writing ${context.path ?? 'this sysfs file'} needs root`
      if (syscall === 'move_pages' && context.nodes !== undefined) {
        const allowed = context.allowed?.()
        return `node ${formatIdList(context.nodes)} is outside this process's allowed nodes (cpuset.mems)${allowed === undefined ? '' : `: ${formatIdList(allowed) || 'none'}`}`
      }
      return undefined
    case ENODEV:
      if (syscall === 'move_pages' && context.nodes !== undefined) {
        return nodesHint(context.nodes, context.allowed?.()) ?? `node ${formatIdList(context.nodes)} has no memory to move pages to`
      }
      if (syscall === 'write' && context.path !== undefined && /auto/.test(context.path)) {
        return 'the kernel has no memory bandwidth data (ACPI HMAT or CXL CDAT) to derive weights from: set them with setInterleaveWeights()'
      }
      return undefined
    case ESRCH:
      if (context.pid !== undefined) return `there is no process ${context.pid}`
      return undefined
    case EROFS:
      if (syscall === 'write') return '/sys is mounted read-only here (a container?)'
      return undefined
    case ENOSYS:
      if (syscall === 'set_mempolicy_home_node') return 'this kernel has no set_mempolicy_home_node (Linux 5.17+)'
      return `this kernel does not provide ${syscall} (built without CONFIG_NUMA?)`
    case EINVAL:
      if (syscall === 'migrate_pages' && context.nodes !== undefined) {
        const allowed = context.allowed?.()
        return `none of the destination nodes ${formatIdList(context.nodes)} is one this process may use${allowed === undefined ? '' : ` (${formatIdList(allowed) || 'none'})`}`
      }
      if (syscall === 'write') return `the kernel rejected the value written to ${context.path ?? 'this sysfs file'}`
      return context.policy === undefined ? undefined : policyHint(context.policy, context.allowed?.())
    case EFAULT:
      if (syscall === 'mbind') return 'part of the range is not mapped'
      return undefined
    case EIO:
      if (syscall === 'mbind') return "some pages lie outside the policy's nodes (strict); add move: true to migrate them"
      return undefined
    case ENOENT:
      if (context.path !== undefined && /weighted_interleave/.test(context.path)) {
        return /auto/.test(context.path)
          ? 'automatic interleave weights need Linux 6.16+'
          : 'weighted interleave weights need Linux 6.9+ (or the node has no memory)'
      }
      if (syscall === 'set_mempolicy_home_node') return "the range has no policy of its own: mbind it with 'bind' or 'preferred-many' first"
      return undefined
    case EOPNOTSUPP:
      if (syscall === 'set_mempolicy_home_node') return "a home node applies only to ranges bound with 'bind' or 'preferred-many'"
      return undefined
    case ENOMEM:
      return 'the kernel could not allocate memory for this request'
    default:
      return undefined
  }
}
