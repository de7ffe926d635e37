// Hints: what a kernel errno means for this call, worked out only after a failure, and stating only
// what was checked here (a probe of the seccomp filter, /proc, /sys, the mounts, the kernel's
// release). Where nothing could be checked, no cause is claimed. docs/containers.md lists the checks.
import { readFileSync, readlinkSync } from 'node:fs'
import { constants } from './constants'
import {
  NODE_DIR,
  capSysNiceHeld,
  containerRuntime,
  filterAnswer,
  hasCapSysNice,
  hasCapSysPtrace,
  kernelAtLeast,
  kernelRelease,
  nodeDirectoryProblem,
  numaKernel,
  readOnlyMount,
  seccompFiltered,
  statusMemsAllowed,
  userNamespaceMap,
  type Runtime,
  type Syscall,
} from './environment'
import { EACCES, EFAULT, EINVAL, EIO, ENODEV, ENOENT, ENOMEM, ENOSYS, EOPNOTSUPP, EPERM, EROFS, ESRCH } from './errno'
import { formatIdList, parseIdList } from './ids'
import type { Encoded } from './policy'

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

const SYSCALLS: ReadonlySet<string> = new Set<Syscall>([
  'get_mempolicy',
  'set_mempolicy',
  'mbind',
  'move_pages',
  'migrate_pages',
  'set_mempolicy_home_node',
])

/** The calls Docker's and containerd's default profiles allow only to a container with CAP_SYS_NICE. */
const NICE_GATED: ReadonlySet<string> = new Set<Syscall>(['get_mempolicy', 'set_mempolicy', 'mbind', 'set_mempolicy_home_node'])

/** A sysfs node-state list exactly as the kernel publishes it, or undefined where it cannot be read. */
function nodeList(state: 'online' | 'has_memory'): number[] | undefined {
  try {
    return parseIdList(readFileSync(`${NODE_DIR}/${state}`, 'latin1').trim(), state, () => [])
  } catch {
    return undefined
  }
}

const nodes = (list: readonly number[]): string => formatIdList(list) || 'none'
const is = (list: readonly number[]): string => (list.length > 1 ? 'are' : 'is')

/** How to give the container CAP_SYS_NICE, in the form of the runtime it runs under. */
function addCapability(runtime: Runtime | undefined): string {
  switch (runtime) {
    case 'kubernetes':
      return 'add it to the container: securityContext.capabilities.add: ["SYS_NICE"]'
    case 'docker':
      return 'start the container with docker run --cap-add SYS_NICE'
    case 'podman':
      return 'start the container with podman run --cap-add SYS_NICE'
    default:
      return 'start the container with --cap-add SYS_NICE (docker run, podman run) or, in Kubernetes, securityContext.capabilities.add: ["SYS_NICE"]'
  }
}

/** How to run the container under a seccomp profile of one's own, for the runtime it runs under. */
function customProfile(syscall: string, runtime: Runtime | undefined): string {
  const allowing = `a seccomp profile that allows ${syscall}`
  switch (runtime) {
    case 'kubernetes':
      return `give the container ${allowing}: securityContext.seccompProfile: { type: Localhost, localhostProfile: <file on the node> }`
    case 'docker':
      return `start the container with ${allowing}: docker run --security-opt seccomp=<file>`
    case 'podman':
      return `start the container with ${allowing}: podman run --security-opt seccomp=<file>`
    default:
      return `start the container with ${allowing}: --security-opt seccomp=<file> (docker run, podman run) or, in Kubernetes, securityContext.seccompProfile type Localhost`
  }
}

/** EPERM that a probe showed comes from the seccomp filter itself. */
function seccompEperm(syscall: string): string {
  const runtime = containerRuntime()
  if (NICE_GATED.has(syscall)) {
    if (!capSysNiceHeld()) {
      return `a seccomp filter blocks ${syscall} and this process lacks CAP_SYS_NICE: the default profiles of Docker and containerd (Kubernetes' RuntimeDefault) allow ${syscall} only to a container that has it; ${addCapability(runtime)}`
    }
    return `a seccomp filter blocks ${syscall} although this process has CAP_SYS_NICE, so the profile itself must allow it; ${customProfile(syscall, runtime)}`
  }
  return `a seccomp filter blocks ${syscall}: the default profiles of Docker, Podman and containerd (Kubernetes' RuntimeDefault) never allow it, with or without CAP_SYS_NICE; ${customProfile(syscall, runtime)}`
}

/**
 * ENOSYS: a filter's answer or the kernel's. /proc/self/numa_maps exists exactly on kernels built
 * with NUMA support, which have every memory-policy call but the home node's; that one came in
 * Linux 5.17, so for it the release decides.
 */
function enosys(syscall: string): string {
  const filtered = seccompFiltered()
  const numa = numaKernel()
  const release = kernelRelease()
  if (numa === false) {
    return `this kernel (${release}) is built without NUMA support (CONFIG_NUMA): /proc/self/numa_maps is missing${filtered ? '; a seccomp filter is installed as well' : ''}`
  }
  const runtime = containerRuntime()
  if (syscall === 'set_mempolicy_home_node') {
    if (!kernelAtLeast(5, 17)) return `this kernel (${release}) predates set_mempolicy_home_node, which Linux 5.17 added`
    if (filtered) {
      return `a seccomp filter answered ENOSYS: this kernel (${release}) has set_mempolicy_home_node (Linux 5.17+), but the filter does not allow it (Podman's default profile does not list it); ${customProfile(syscall, runtime)}`
    }
    return `the kernel (${release}, which is 5.17 or later) answered ENOSYS for set_mempolicy_home_node, and no seccomp filter is installed`
  }
  if (filtered && numa === true) {
    return `a seccomp filter answered ENOSYS: this kernel (${release}) has ${syscall} (it has NUMA support: /proc/self/numa_maps exists), but the filter does not allow it; ${customProfile(syscall, runtime)}`
  }
  return `the kernel (${release}) answered ENOSYS for ${syscall}${filtered ? '; a seccomp filter is installed and may be the one answering' : ''}`
}

/** MOVE_ALL refused for want of CAP_SYS_NICE (the kernel checks it in the initial user namespace). */
function moveAllHint(syscall: string): string {
  const what = syscall === 'move_pages' ? 'all (MPOL_MF_MOVE_ALL)' : 'moveAll (MPOL_MF_MOVE_ALL)'
  const map = userNamespaceMap()
  if (capSysNiceHeld() && map !== undefined) {
    return `${what} needs CAP_SYS_NICE in the initial user namespace; this process has it only in a user namespace of its own (/proc/self/uid_map: ${map}), as root in a rootless container does, and the kernel does not count it there`
  }
  const runtime = containerRuntime()
  return `${what} needs the CAP_SYS_NICE capability, which this process lacks${runtime !== undefined ? `; ${addCapability(runtime)}` : ''}`
}

/** A sysfs write refused (EPERM, EACCES): who this process is. */
function writeHint(path: string | undefined): string {
  const file = path ?? 'this sysfs file'
  const uid = process.getuid?.()
  const map = userNamespaceMap()
  if (uid !== undefined && uid !== 0) return `writing ${file} needs root; this process runs as uid ${uid}`
  if (map !== undefined) {
    return `writing ${file} needs root in the initial user namespace; this process is root only in a user namespace of its own (/proc/self/uid_map: ${map}), as in a rootless container`
  }
  return `the kernel refused writing ${file} although this process runs as root`
}

/** The uids (real, effective, saved) and allowed nodes of another process, from its /proc status. */
function processStatus(pid: number): { uids: number[]; mems: number[] | undefined } | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1')
  } catch {
    return undefined
  }
  const uids = (/^Uid:\s*(.*)$/m.exec(text)?.[1] ?? '').trim().split(/\s+/).slice(0, 3).map(Number)
  const memsText = /^Mems_allowed_list:\s*(.*)$/m.exec(text)?.[1]
  let mems: number[] | undefined
  try {
    mems = memsText === undefined ? undefined : parseIdList(memsText.trim(), 'Mems_allowed_list', () => [])
  } catch {
    mems = undefined
  }
  return { uids, mems }
}

/**
 * Whether this process may inspect process `pid` as ptrace's read mode allows: reading the link
 * /proc/PID/exe makes the same check migrate_pages makes (with the file-system ids, which are the
 * real ones unless set apart). undefined where the answer says nothing.
 */
function ptraceReadable(pid: number): boolean | undefined {
  try {
    readlinkSync(`/proc/${pid}/exe`)
    return true
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    // ENOENT: the check passed, and the process has no executable (a kernel thread).
    if (code === 'ENOENT') return true
    return code === 'EACCES' || code === 'EPERM' ? false : undefined
  }
}

/**
 * migrate_pages's EPERM: the kernel refuses another process's pages without ptrace read access to
 * it, and destination nodes outside the target's cpuset without CAP_SYS_NICE. Each is checked.
 */
function migrateHint(pid: number | undefined, destination: readonly number[] | undefined): string {
  const self = pid === undefined || pid === 0 || pid === process.pid
  const found: string[] = []
  const checked: string[] = []
  let mems: number[] | undefined
  if (self) {
    mems = statusMemsAllowed()
  } else {
    const target = processStatus(pid)
    mems = target?.mems
    const readable = ptraceReadable(pid)
    const uid = process.getuid?.()
    const otherUser = target !== undefined && uid !== undefined && target.uids.some((u) => u !== uid)
    if (readable === false) {
      found.push(
        otherUser
          ? `process ${pid} runs as uid ${target.uids.join('/')} and this process as uid ${uid}${hasCapSysPtrace() ? '' : ' without CAP_SYS_PTRACE'}, so it may not inspect it (reading /proc/${pid}/exe is refused too)`
          : `this process may not inspect process ${pid} as ptrace's read mode requires: reading /proc/${pid}/exe is refused too${target !== undefined && uid !== undefined ? `, although both run as uid ${uid}` : ''} (a process with capabilities this one lacks, or one that is not dumpable, needs CAP_SYS_PTRACE)`,
      )
    } else if (readable === true) {
      checked.push(`process ${pid} may be inspected (its /proc/${pid}/exe can be read)`)
    }
  }
  const whose = self ? "this process's" : `process ${pid}'s`
  if (destination !== undefined && mems !== undefined) {
    const outside = destination.filter((n) => !mems!.includes(n))
    if (outside.length > 0 && !hasCapSysNice()) {
      found.push(
        `destination node ${nodes(outside)} ${is(outside)} outside ${whose} cpuset (Mems_allowed_list: ${nodes(mems)}), which only CAP_SYS_NICE allows`,
      )
    } else if (outside.length === 0) {
      checked.push(`the destination nodes lie within ${whose} cpuset (${nodes(mems)})`)
    }
  }
  if (found.length > 0) return found.join('; ')
  if (seccompFiltered()) checked.push('a seccomp filter is installed but lets migrate_pages through')
  return checked.length > 0
    ? `the kernel refused, though the checks made here pass: ${checked.join('; ')}`
    : 'the kernel refused; neither its ptrace-access nor its cpuset rule could be checked here'
}

/** Which of `list` are offline, without memory or outside the allowed set, and what could be used instead. */
function nodesHint(list: readonly number[], allowed: number[] | undefined): string | undefined {
  if (list.length === 0) return undefined
  const online = nodeList('online')
  const withMemory = nodeList('has_memory')
  if (online === undefined || withMemory === undefined) {
    // Without sysfs only the allowed set can be checked.
    const outside = allowed === undefined ? [] : list.filter((n) => !allowed.includes(n))
    if (outside.length === 0) return undefined
    return `node ${nodes(outside)} ${is(outside)} not among this thread's allowed nodes (${nodes(allowed!)}); whether ${outside.length > 1 ? 'they are' : 'it is'} online or ${outside.length > 1 ? 'have' : 'has'} memory is unknown: ${nodeDirectoryProblem() ?? `${NODE_DIR} cannot be read`}`
  }
  const up = new Set(online)
  const memory = new Set(withMemory)
  const offline = list.filter((n) => !up.has(n))
  const memoryless = list.filter((n) => up.has(n) && !memory.has(n))
  // Offline and memoryless nodes are never in cpuset.mems: say what is wrong with them instead.
  const outside = allowed === undefined ? [] : list.filter((n) => memory.has(n) && !allowed.includes(n))
  const parts: string[] = []
  if (offline.length > 0) parts.push(`node ${formatIdList(offline)} ${is(offline)} offline`)
  if (memoryless.length > 0) parts.push(`node ${formatIdList(memoryless)} ${memoryless.length > 1 ? 'have' : 'has'} no memory`)
  if (outside.length > 0) {
    parts.push(
      `node ${formatIdList(outside)} ${is(outside)} outside this thread's allowed nodes (cpuset.mems): ${formatIdList(allowed ?? [])}`,
    )
  }
  if (parts.length > 0) {
    const usable = withMemory.filter((n) => allowed === undefined || allowed.includes(n))
    return `${parts.join('; ')}; nodes with memory you may use: ${nodes(usable)}`
  }
  return undefined
}

/** What the kernel's release says about a mode or flag it refused, where the release is older than the feature. */
function newerThan(feature: string, major: number, minor: number): string | undefined {
  return kernelAtLeast(major, minor) ? undefined : `${feature} came in Linux ${major}.${minor} and this kernel is ${kernelRelease()}`
}

function policyHint(policy: Encoded, syscall: string, allowed: number[] | undefined): string | undefined {
  const fromNodes = nodesHint(policy.nodes, allowed)
  if (fromNodes !== undefined) return fromNodes
  const balancing = (policy.value & constants.MPOL_F_NUMA_BALANCING) !== 0
  if (policy.mode === 'weighted-interleave') return newerThan("'weighted-interleave'", 6, 9)
  if (policy.mode === 'preferred-many') {
    return newerThan("'preferred-many'", 5, 15) ?? (balancing ? newerThan("'numa-balancing' with 'preferred-many'", 6, 10) : undefined)
  }
  if (balancing) return syscall === 'mbind' ? newerThan("'numa-balancing' in mbind", 5, 15) : newerThan("'numa-balancing'", 5, 12)
  return undefined
}

export function hintFor(errno: number, syscall: string, context: HintContext = {}): string | undefined {
  switch (Math.abs(errno)) {
    case EPERM: {
      if (SYSCALLS.has(syscall) && filterAnswer(syscall as Syscall) === -EPERM) return seccompEperm(syscall)
      if (context.moveFlags !== undefined && (context.moveFlags & constants.MPOL_MF_MOVE_ALL) !== 0 && !hasCapSysNice()) {
        return moveAllHint(syscall)
      }
      if (syscall === 'write') return writeHint(context.path)
      if (syscall === 'migrate_pages') return migrateHint(context.pid, context.nodes)
      return 'the operation is not permitted for this process'
    }
    case EACCES:
      if (syscall === 'write') return writeHint(context.path)
      if (syscall === 'move_pages' && context.nodes !== undefined) {
        const allowed = context.allowed?.()
        const outside = allowed === undefined ? [] : context.nodes.filter((n) => !allowed.includes(n))
        if (outside.length > 0)
          return `node ${formatIdList(outside)} ${is(outside)} outside this process's allowed nodes (cpuset.mems): ${nodes(allowed!)}`
      }
      return undefined
    case ENODEV:
      if (syscall === 'move_pages' && context.nodes !== undefined) {
        return (
          nodesHint(context.nodes, context.allowed?.()) ??
          `the kernel has no memory on node ${formatIdList(context.nodes)} to move pages to`
        )
      }
      if (syscall === 'write' && context.path !== undefined && /auto/.test(context.path)) {
        return 'the kernel has no memory bandwidth data (ACPI HMAT or CXL CDAT) to derive weights from: set them with setInterleaveWeights()'
      }
      return undefined
    case ESRCH:
      if (context.pid !== undefined) return `there is no process ${context.pid}`
      return undefined
    case EROFS: {
      if (syscall !== 'write') return undefined
      const mount = context.path === undefined ? undefined : readOnlyMount(context.path)
      if (mount === undefined) return `the file system holding ${context.path ?? 'this file'} is read-only`
      return `${mount.point} is mounted read-only here (${mount.fstype}), as container runtimes mount /sys: the weights are system-wide, so set them on the host`
    }
    case ENOSYS:
      return SYSCALLS.has(syscall) ? enosys(syscall) : undefined
    case EINVAL:
      if (syscall === 'migrate_pages' && context.nodes !== undefined) {
        const allowed = context.allowed?.()
        if (allowed !== undefined && !context.nodes.some((n) => allowed.includes(n))) {
          return `none of the destination nodes ${formatIdList(context.nodes)} is one this process may use (${nodes(allowed)})`
        }
        return undefined
      }
      if (syscall === 'write') return `the kernel rejected the value written to ${context.path ?? 'this sysfs file'}`
      return context.policy === undefined ? undefined : policyHint(context.policy, syscall, context.allowed?.())
    case EFAULT:
      if (syscall === 'mbind') return 'part of the range is not mapped'
      return undefined
    case EIO:
      if (syscall === 'mbind' && context.moveFlags !== undefined && (context.moveFlags & constants.MPOL_MF_STRICT) !== 0) {
        return "some pages lie outside the policy's nodes (strict); add move: true to migrate them"
      }
      return undefined
    case ENOENT:
      if (context.path !== undefined && /weighted_interleave/.test(context.path)) {
        const auto = /auto/.test(context.path)
        const older = auto ? newerThan('automatic interleave weights', 6, 16) : newerThan('weighted interleave weights', 6, 9)
        if (older !== undefined) return older
        const noNuma = numaKernel() === false ? ', which is built without NUMA support' : ''
        return `${context.path} is missing although this kernel (${kernelRelease()}${noNuma}) is ${auto ? '6.16' : '6.9'} or later`
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
