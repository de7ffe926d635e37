// What this kernel and this process allow, found by probing (KERNEL.md A11 "Runtime feature
// detection"), never by kernel version.
import { existsSync, readFileSync } from 'node:fs'
import { binding, supportedPlatform, unsupported, type NativeBinding } from './binding'
import { MODES, constants, type Mode, type ModeFlag } from './constants'
import { hasCapSysNice, seccompFiltered } from './hints'
import { allNodes, fail, maxnodeIn, memsAllowed, newMask, pageSize, restoreThreadPolicy, saveThreadPolicy } from './mempolicy'
import { fillMask, parseIdList } from './ids'
import { WEIGHTS_DIR } from './weights'
import { EINVAL, ENOSYS, EPERM } from './errno'

export type Syscall =
  | 'get_mempolicy' | 'set_mempolicy' | 'mbind' | 'move_pages' | 'migrate_pages' | 'set_mempolicy_home_node'

export interface Capabilities {
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
  /** MPOL_MF_MOVE_ALL (mbind moveAll, movePages all): CAP_SYS_NICE is in this thread's effective set. */
  moveAll: boolean
  seccomp: {
    /** A seccomp filter is installed (`Seccomp: 2` in /proc/self/status). */
    filtered: boolean
    /** The calls that filter refused (EPERM or ENOSYS) when tried. */
    blocked: Syscall[]
  }
  /** The nodes this thread may allocate on (get_mempolicy MPOL_F_MEMS_ALLOWED); empty if that call is blocked. */
  memsAllowed: number[]
  /** The cgroup's effective cpuset.mems (v2 cpuset.mems.effective, v1 cpuset.effective_mems), or undefined where unreadable. */
  cpusetMems: number[] | undefined
}

/** What the kernel itself accepts: fixed until reboot, so probed once per thread. */
interface KernelFeatures {
  modes: Mode[]
  flags: ModeFlag[]
  balancingWithPreferredMany: boolean
  homeNode: boolean
}

let kernel: KernelFeatures | undefined

/** True when a probe's errno says the call never reached the code that would answer it. */
function refused(rc: number): boolean {
  return rc === -EPERM || rc === -ENOSYS
}

/**
 * Tries each mode and flag with set_mempolicy on this thread, then puts back the thread's policy as
 * get_mempolicy read it: mode, flags and nodes (the user's nodemask where a flag makes the kernel
 * keep it). Like any set_mempolicy, the restore restarts an interleave policy's round robin.
 * `complete` is false when some probe was refused or failed for another reason than EINVAL: then
 * the answer is not the kernel's and is not cached.
 */
function probeKernel(native: NativeBinding, blocked: Set<Syscall>): { features: KernelFeatures; complete: boolean } {
  const features: KernelFeatures = { modes: [], flags: [], balancingWithPreferredMany: false, homeNode: false }
  let node: number | undefined
  try {
    node = allNodes()[0] ?? memsAllowed()[0]
  } catch {
    node = undefined
  }
  const saved = saveThreadPolicy(native)
  if (typeof saved === 'number' || node === undefined) {
    if (typeof saved === 'number' && refused(saved)) blocked.add('get_mempolicy')
    return { features, complete: false }
  }
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
    if (rc !== -EINVAL) {
      complete = false
      if (refused(rc)) blocked.add('set_mempolicy')
    }
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
  if (!(scratch instanceof ArrayBuffer)) {
    if (refused(scratch.errno)) blocked.add('mbind')
    return { features, complete: false }
  }
  const rc = native.setHomeNode(scratch, node)
  native.mbind(scratch, constants.MPOL_DEFAULT, null, 0, 0)
  features.homeNode = rc >= 0
  if (rc < 0 && (rc !== -ENOSYS || seccompFiltered())) {
    if (refused(rc)) blocked.add('set_mempolicy_home_node')
    complete = false
  }
  return { features, complete }
}

/**
 * Which of the calls a seccomp filter refuses. Each is made with arguments the kernel rejects with
 * EINVAL before it looks at anything else (move_pages: a query of one page), so nothing changes.
 */
function probeSeccomp(native: NativeBinding, blocked: Set<Syscall>): void {
  const page = new Uint8Array(2 * pageSize)
  if (refused(native.getMempolicy(null, 0, undefined, 0, 0))) blocked.add('get_mempolicy')
  if (refused(native.setMempolicy(-1, null, 0))) blocked.add('set_mempolicy')
  if (refused(native.mbind(page, -1, null, 0, 0))) blocked.add('mbind')
  const query = native.pageNodes(page)
  if (typeof query === 'number' && refused(query)) blocked.add('move_pages')
  if (refused(native.migratePagesSync(0, null, null, 0))) blocked.add('migrate_pages')
  // A home node past MAX_NUMNODES (1 << 30 is past any) is EINVAL before the range is looked at.
  if (refused(native.setHomeNode(page, 1 << 30))) blocked.add('set_mempolicy_home_node')
}

function unescapeMount(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
}

function readList(file: string): number[] | undefined {
  try {
    return parseIdList(readFileSync(file, 'latin1').trim(), file, () => [])
  } catch {
    return undefined
  }
}

/**
 * The effective mems of this process's cpuset cgroup: cgroup v2 first (walking up to the nearest
 * cgroup with the cpuset controller), then v1. Undefined where neither can be read.
 */
export function cpusetMems(): number[] | undefined {
  let cgroups: string
  let mounts: string
  try {
    cgroups = readFileSync('/proc/self/cgroup', 'latin1')
    mounts = readFileSync('/proc/self/mountinfo', 'latin1')
  } catch {
    return undefined
  }
  // /proc/self/cgroup: "hierarchy-id:controllers:path"; cgroup v2 is "0::path".
  const hierarchies = cgroups.split('\n').filter(Boolean).map((line) => {
    const first = line.indexOf(':')
    const second = line.indexOf(':', first + 1)
    const controllers = line.slice(first + 1, second)
    return { v2: line.slice(0, first) === '0' && controllers === '', controllers: controllers.split(','), path: line.slice(second + 1) }
  })
  // /proc/self/mountinfo: "id parent dev root mountpoint options [optional...] - fstype source superoptions".
  const mountList = mounts.split('\n').filter(Boolean).map((line) => {
    const [left = '', right = ''] = line.split(' - ')
    const fields = left.split(' ')
    const [fstype = '', , superOptions = ''] = right.split(' ')
    return { root: unescapeMount(fields[3] ?? ''), point: unescapeMount(fields[4] ?? ''), fstype, options: superOptions.split(',') }
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
    for (const mount of mountList.filter((m) => m.fstype === 'cgroup' && m.options.includes('cpuset'))) {
      const dir = locate(v1.path, mount)
      if (dir === undefined) continue
      const mems = readList(`${dir}/cpuset.effective_mems`) ?? readList(`${dir}/cpuset.mems`)
      if (mems !== undefined) return mems
    }
  }
  return undefined
}

/**
 * What this kernel and this process allow. Kernel features (modes, flags, home node) are probed
 * once per thread, with calls that leave nothing changed: set_mempolicy on this thread with its
 * policy put back exactly afterwards, and a scratch mapping for the home node. Capabilities,
 * seccomp and cpusets can change while the process runs and are read on every call.
 */
export function capabilities(): Capabilities {
  if (!supportedPlatform) throw unsupported()
  const native = binding()
  const blocked = new Set<Syscall>()
  const filtered = seccompFiltered()
  if (filtered) probeSeccomp(native, blocked)
  let features = kernel
  if (features === undefined) {
    const probed = probeKernel(native, blocked)
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
    seccomp: { filtered, blocked: filtered ? [...blocked] : [] },
    memsAllowed: mems,
    cpusetMems: cpusetMems(),
  }
}
