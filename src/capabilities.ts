// What this kernel and this process allow, found by probing (docs/kernel.md, "Feature
// detection"), never by kernel version; what a seccomp filter refuses (docs/containers.md).
import { existsSync, readFileSync } from 'node:fs'
import { loaded, unsupported, type NativeBinding } from './binding'
import { MODES, constants, type Mode, type ModeFlag } from './constants'
import { filterAnswer, hasCapSysNice, mounts, seccompFiltered, type Syscall } from './environment'
import { allNodes, fail, isSupported, maxnodeIn, memsAllowed, newMask, pageSize, restoreThreadPolicy, saveThreadPolicy } from './mempolicy'
import { readDemotion, readList } from './hmat'
import { fillMask } from './ids'
import { WEIGHTS_DIR } from './weights'
import { EINVAL, ENOSYS, EPERM } from './errno'

export type { Syscall }

const SYSCALLS: readonly Syscall[] = ['get_mempolicy', 'set_mempolicy', 'mbind', 'move_pages', 'migrate_pages', 'set_mempolicy_home_node']

export interface Capabilities {
  /** The same as isSupported(): Linux, the addon loaded, a kernel with the calls. Permission is what the rest says. */
  supported: boolean
  /** The modes set_mempolicy accepts. */
  modes: Mode[]
  /** The mode flags set_mempolicy accepts, each tried with 'bind'. */
  flags: ModeFlag[]
  /** 'numa-balancing' with 'preferred-many' (Linux 6.10+). */
  balancingWithPreferredMany: boolean
  /** set_mempolicy_home_node (Linux 5.17+): setHomeNode(). */
  homeNode: boolean
  weightedInterleave: {
    /** The 'weighted-interleave' mode (Linux 6.9+). */
    mode: boolean
    /** Per-node weights in sysfs (Linux 6.9+): interleaveWeights(). */
    weights: boolean
    /** Weights derived from memory bandwidth (Linux 6.16+): interleaveWeightsAuto(). */
    auto: boolean
  }
  /**
   * MPOL_MF_MOVE_ALL (mbind moveAll, movePages all): CAP_SYS_NICE is in this thread's effective set,
   * in the initial user namespace (root in a rootless container has it only in its own, which the
   * kernel does not count).
   */
  moveAll: boolean
  seccomp: {
    /** A seccomp filter is installed (`Seccomp: 2` in /proc/self/status). */
    filtered: boolean
    /** The calls that filter refuses, found by trying each with arguments that change nothing. */
    blocked: Syscall[]
    /** What the filter answers each blocked call with: EPERM, or ENOSYS (a call the profile does not list). */
    errors: Partial<Record<Syscall, 'EPERM' | 'ENOSYS'>>
  }
  /**
   * The nodes this thread may allocate on (get_mempolicy MPOL_F_MEMS_ALLOWED, or /proc's
   * Mems_allowed_list where a filter blocks that call); empty where neither can be read.
   */
  memsAllowed: number[]
  /** The cgroup's effective cpuset.mems (v2 cpuset.mems.effective, v1 cpuset.effective_mems), or undefined where unreadable. */
  cpusetMems: number[] | undefined
  /** Memory tiering: whether pages move between fast and slow memory, and how many did (docs/heterogeneous-memory.md). */
  tiering: Tiering
}

export interface Tiering {
  /**
   * /proc/sys/kernel/numa_balancing, a bit mask: 0 off, 1 NUMA balancing (pages move towards the
   * CPUs that use them), 2 memory tiering (hot pages on slower tiers are promoted), 3 both; undefined
   * where the kernel has no NUMA balancing or the file cannot be read.
   */
  numaBalancing: number | undefined
  /** numaBalancing has bit 2 (memory tiering): pages of slower tiers that are used are promoted. */
  promotion: boolean
  /** /sys/kernel/mm/numa/demotion_enabled: reclaim demotes cold pages to a slower tier instead of dropping them; undefined where absent. */
  demotion: boolean | undefined
  /**
   * The promotion and demotion counters of /proc/vmstat (pages since boot), under the kernel's own
   * names: pgpromote_success, pgpromote_candidate, pgdemote_kswapd, pgdemote_direct, ... (which ones
   * depends on the kernel). Empty where the kernel has none.
   */
  counters: Record<string, number>
}

const NUMA_BALANCING_MEMORY_TIERING = 2

/** What the kernel tells about memory tiering, read from procfs and sysfs on each call. */
export function tiering(): Tiering {
  let numaBalancing: number | undefined
  try {
    const text = readFileSync('/proc/sys/kernel/numa_balancing', 'latin1').trim()
    if (/^\d+$/.test(text)) numaBalancing = Number(text)
  } catch {
    numaBalancing = undefined
  }
  const counters: Record<string, number> = {}
  try {
    for (const line of readFileSync('/proc/vmstat', 'latin1').split('\n')) {
      const match = /^(pg(?:promote|demote)_\w+) (\d+)$/.exec(line)
      if (match !== null) counters[match[1]!] = Number(match[2])
    }
  } catch {
    // No /proc/vmstat (a partial /proc): no counters.
  }
  return {
    numaBalancing,
    promotion: numaBalancing !== undefined && (numaBalancing & NUMA_BALANCING_MEMORY_TIERING) !== 0,
    demotion: readDemotion(),
    counters,
  }
}

/** What the kernel itself accepts: fixed until reboot, so probed once per thread. */
interface KernelFeatures {
  modes: Mode[]
  flags: ModeFlag[]
  balancingWithPreferredMany: boolean
  homeNode: boolean
}

let kernel: KernelFeatures | undefined

/**
 * Tries each mode and flag with set_mempolicy on this thread, then puts back the thread's policy as
 * get_mempolicy read it: mode, flags and nodes (the user's nodemask where a flag makes the kernel
 * keep it). Like any set_mempolicy, the restore restarts an interleave policy's round robin.
 * `complete` is false when some probe was refused or failed for another reason than EINVAL: then
 * the answer is not the kernel's and is not cached.
 */
function probeKernel(native: NativeBinding): { features: KernelFeatures; complete: boolean } {
  const features: KernelFeatures = { modes: [], flags: [], balancingWithPreferredMany: false, homeNode: false }
  let node: number | undefined
  try {
    node = allNodes()[0] ?? memsAllowed()[0]
  } catch {
    node = undefined
  }
  const saved = saveThreadPolicy(native)
  if (typeof saved === 'number' || node === undefined) return { features, complete: false }
  const one = [node]
  const probe = newMask()
  let changed = false
  let complete = true
  const accepts = (value: number, nodes: readonly number[]): boolean => {
    if (!complete) return false
    fillMask(probe, nodes)
    const rc = native.setMempolicy(value, probe, maxnodeIn())
    if (rc === 0) {
      changed = true
      return true
    }
    if (rc !== -EINVAL) complete = false
    return false
  }
  try {
    for (let mode = 0; mode < MODES.length; mode++) {
      const nodes = mode === constants.MPOL_DEFAULT || mode === constants.MPOL_LOCAL ? [] : one
      if (accepts(mode, nodes)) features.modes.push(MODES[mode]!)
    }
    if (accepts(constants.MPOL_BIND | constants.MPOL_F_STATIC_NODES, one)) features.flags.push('static-nodes')
    if (accepts(constants.MPOL_BIND | constants.MPOL_F_RELATIVE_NODES, one)) features.flags.push('relative-nodes')
    if (accepts(constants.MPOL_BIND | constants.MPOL_F_NUMA_BALANCING, one)) features.flags.push('numa-balancing')
    features.balancingWithPreferredMany = accepts(constants.MPOL_PREFERRED_MANY | constants.MPOL_F_NUMA_BALANCING, one)
  } finally {
    if (changed) {
      const rc = restoreThreadPolicy(native, saved)
      if (rc !== 0) fail(rc, 'set_mempolicy')
    }
  }
  // Home node: on a range bound with 'bind' (libnuma's numa_has_home_node does the same). The
  // scratch page is never touched, goes back to the default policy right after, and is unmapped
  // when collected. ENOSYS: no such syscall, unless a seccomp filter may be the one answering.
  fillMask(probe, one)
  const scratch = native.alloc(pageSize, 0, -1, constants.MPOL_BIND, probe, maxnodeIn())
  if (!(scratch instanceof ArrayBuffer)) return { features, complete: false }
  const rc = native.setHomeNode(scratch, node)
  native.mbind(scratch, constants.MPOL_DEFAULT, null, 0, 0)
  features.homeNode = rc >= 0
  if (rc < 0 && (rc !== -ENOSYS || seccompFiltered())) complete = false
  return { features, complete }
}

/**
 * The effective mems of this process's cpuset cgroup: cgroup v2 first (walking up to the nearest
 * cgroup with the cpuset controller), then v1. Undefined where neither can be read.
 */
export function cpusetMems(): number[] | undefined {
  let cgroups: string
  try {
    cgroups = readFileSync('/proc/self/cgroup', 'latin1')
  } catch {
    return undefined
  }
  const mountList = mounts()
  if (mountList === undefined) return undefined
  // /proc/self/cgroup: "hierarchy-id:controllers:path"; cgroup v2 is "0::path".
  const hierarchies = cgroups
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const first = line.indexOf(':')
      const second = line.indexOf(':', first + 1)
      const controllers = line.slice(first + 1, second)
      return { v2: line.slice(0, first) === '0' && controllers === '', controllers: controllers.split(','), path: line.slice(second + 1) }
    })
  const locate = (path: string, mount: { root: string; point: string }): string | undefined => {
    if (mount.root === '/') return `${mount.point}${path === '/' ? '' : path}`
    if (path === mount.root || path.startsWith(`${mount.root}/`)) return `${mount.point}${path.slice(mount.root.length)}`
    return undefined
  }
  const v2 = hierarchies.find((h) => h.v2)
  if (v2 !== undefined) {
    for (const mount of mountList.filter((m) => m.fstype === 'cgroup2')) {
      let dir = locate(v2.path, mount)
      while (dir !== undefined && dir.startsWith(mount.point)) {
        const mems = readList(`${dir}/cpuset.mems.effective`)
        if (mems !== undefined) return mems
        if (dir === mount.point) break
        dir = dir.slice(0, dir.lastIndexOf('/')) || '/'
        if (dir.length < mount.point.length) break
      }
    }
  }
  const v1 = hierarchies.find((h) => !h.v2 && h.controllers.includes('cpuset'))
  if (v1 !== undefined) {
    for (const mount of mountList.filter((m) => m.fstype === 'cgroup' && m.superOptions.includes('cpuset'))) {
      const dir = locate(v1.path, mount)
      if (dir === undefined) continue
      const mems = readList(`${dir}/cpuset.effective_mems`) ?? readList(`${dir}/cpuset.mems`)
      if (mems !== undefined) return mems
    }
  }
  return undefined
}

/**
 * What this kernel and this process allow. On Linux it never throws, whatever a seccomp filter
 * refuses: kernel features (modes, flags, home node) are probed once per thread, with calls that
 * leave nothing changed (set_mempolicy on this thread with its policy put back exactly afterwards,
 * and a scratch mapping for the home node); where a filter refuses a probe, what it would have
 * found is left out (and not cached). Capabilities, seccomp and cpusets can change while the
 * process runs and are read on every call. Off Linux, or without the addon, it throws
 * ERR_MEMPOLICY_UNSUPPORTED as every call that needs the kernel does.
 */
export function capabilities(): Capabilities {
  const native = loaded()
  if (native === undefined) throw unsupported()
  const filtered = seccompFiltered()
  const blocked: Syscall[] = []
  const errors: Partial<Record<Syscall, 'EPERM' | 'ENOSYS'>> = {}
  if (filtered) {
    for (const syscall of SYSCALLS) {
      const rc = filterAnswer(syscall)
      if (rc !== 0) {
        blocked.push(syscall)
        errors[syscall] = rc === -EPERM ? 'EPERM' : 'ENOSYS'
      }
    }
  }
  let features = kernel
  if (features === undefined) {
    const probed = probeKernel(native)
    if (probed.complete) kernel = probed.features
    features = probed.features
  }
  let mems: number[]
  try {
    mems = memsAllowed()
  } catch {
    mems = []
  }
  const weights = existsSync(WEIGHTS_DIR)
  return {
    supported: isSupported(),
    modes: [...features.modes],
    flags: [...features.flags],
    balancingWithPreferredMany: features.balancingWithPreferredMany,
    homeNode: features.homeNode,
    weightedInterleave: {
      mode: features.modes.includes('weighted-interleave'),
      weights,
      auto: weights && (existsSync(`${WEIGHTS_DIR}/auto`) || existsSync(`${WEIGHTS_DIR}/__auto_type`)),
    },
    moveAll: hasCapSysNice(),
    seccomp: { filtered, blocked, errors },
    memsAllowed: mems,
    cpusetMems: cpusetMems(),
    tiering: tiering(),
  }
}
