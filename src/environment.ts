// What surrounds this process, read from /proc and /sys when asked: a seccomp filter, capabilities
// and the user namespace they count in, the container runtime, the kernel's NUMA support and the
// mounts over /sys. Hints and capabilities() state these facts; nothing here guesses
// (docs/containers.md says what each check reads and why).
import { existsSync, readdirSync } from 'node:fs'
import { release } from 'node:os'
import { loaded } from './binding'
import { EPERM, ENOSYS } from './errno'
import { readText } from './hmat'
import { parseIdList } from './ids'

/** The calls a seccomp filter may refuse that this package makes. */
export type Syscall = 'get_mempolicy' | 'set_mempolicy' | 'mbind' | 'move_pages' | 'migrate_pages' | 'set_mempolicy_home_node'

export const NODE_DIR = '/sys/devices/system/node'

/**
 * This thread's /proc status (capabilities, seccomp mode and allowed nodes are per thread), or the
 * process's where /proc/thread-self is missing (before Linux 3.17).
 */
function status(): string | undefined {
  return readText('/proc/thread-self/status') ?? readText('/proc/self/status')
}

/** A field of this thread's /proc status, trimmed; undefined where /proc cannot be read. */
export function statusField(name: string): string | undefined {
  const match = new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(status() ?? '')
  return match === null ? undefined : match[1]!.trim()
}

/** The nodes this thread may allocate on, as /proc prints them (Mems_allowed_list), or undefined. */
export function statusMemsAllowed(): number[] | undefined {
  const text = statusField('Mems_allowed_list')
  if (text === undefined) return undefined
  try {
    return parseIdList(text, 'Mems_allowed_list', () => [])
  } catch {
    return undefined
  }
}

/** True when a seccomp filter is installed on this thread (`Seccomp: 2`; every container runtime installs one). */
export function seccompFiltered(): boolean {
  return statusField('Seccomp') === '2'
}

const CAP_SYS_NICE = 23n
const CAP_SYS_PTRACE = 19n

function effective(bit: bigint): boolean {
  const text = statusField('CapEff')
  return text !== undefined && /^[0-9a-f]+$/.test(text) && (BigInt(`0x${text}`) & (1n << bit)) !== 0n
}

/**
 * How user ids inside this process's user namespace map to the initial one (the first line of
 * /proc/self/uid_map, "inside outside count"), or undefined in the initial namespace itself, whose
 * map is the identity over every id. The kernel checks CAP_SYS_NICE for the memory-policy calls in
 * the initial namespace, so capabilities held only inside another one (root in a rootless
 * container) do not count there.
 */
export function userNamespaceMap(): string | undefined {
  const map = readText('/proc/self/uid_map')
  if (map === undefined) return undefined
  const first = map.trim().split('\n')[0]!.trim().split(/\s+/)
  return first.join(' ') === '0 0 4294967295' ? undefined : first.join(' ')
}

/** CAP_SYS_NICE is in this thread's effective set (wherever it counts). */
export function capSysNiceHeld(): boolean {
  return effective(CAP_SYS_NICE)
}

/** CAP_SYS_NICE counts for the memory-policy calls: held, and held in the initial user namespace. */
export function hasCapSysNice(): boolean {
  return effective(CAP_SYS_NICE) && userNamespaceMap() === undefined
}

/** CAP_SYS_PTRACE is in this thread's effective set and in the initial user namespace. */
export function hasCapSysPtrace(): boolean {
  return effective(CAP_SYS_PTRACE) && userNamespaceMap() === undefined
}

export type Runtime = 'docker' | 'podman' | 'kubernetes'

/**
 * The container runtime, from the marks each leaves in every container: Kubernetes puts
 * KUBERNETES_SERVICE_HOST in every container's environment, Podman sets `container=podman` and
 * writes /run/.containerenv, Docker creates /.dockerenv. Undefined where none is found.
 */
export function containerRuntime(): Runtime | undefined {
  if (process.env.KUBERNETES_SERVICE_HOST !== undefined) return 'kubernetes'
  if (process.env.container === 'podman' || existsSync('/run/.containerenv')) return 'podman'
  if (existsSync('/.dockerenv')) return 'docker'
  return undefined
}

/** The running kernel's release (`uname -r`). */
export function kernelRelease(): string {
  return release()
}

/** Whether the running kernel's version is at least major.minor, by its release string. */
export function kernelAtLeast(major: number, minor: number): boolean {
  const [a = 0, b = 0] = release().split(/[.-]/).map(Number)
  return a > major || (a === major && b >= minor)
}

/**
 * Whether the kernel was built with NUMA support (CONFIG_NUMA), which is what gives it the
 * memory-policy calls: /proc/self/numa_maps exists exactly then. Undefined where /proc is not
 * mounted, so the question cannot be answered.
 */
export function numaKernel(): boolean | undefined {
  if (!existsSync('/proc/self/status')) return undefined
  return existsSync('/proc/self/numa_maps')
}

export interface Mount {
  /** The directory of the filesystem mounted there (a bind mount's or a cgroup's subtree; '/' for all of it). */
  root: string
  /** Where it is mounted. */
  point: string
  fstype: string
  /** Per-mount options ("ro", "nosuid", ...). */
  options: string[]
  /** The filesystem's own options. */
  superOptions: string[]
}

function unescape(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
}

/** This process's mounts, from /proc/self/mountinfo, in mount order; undefined where it cannot be read. */
export function mounts(): Mount[] | undefined {
  const text = readText('/proc/self/mountinfo')
  if (text === undefined) return undefined
  // "id parent major:minor root mountpoint options [optional...] - fstype source superoptions"
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left = '', right = ''] = line.split(' - ')
      const fields = left.split(' ')
      const [fstype = '', , superOptions = ''] = right.split(' ')
      return {
        root: unescape(fields[3] ?? ''),
        point: unescape(fields[4] ?? ''),
        fstype,
        options: (fields[5] ?? '').split(','),
        superOptions: superOptions.split(','),
      }
    })
}

/** The mount that holds `path`: the last one mounted at the longest mount point containing it. */
export function mountOf(path: string): Mount | undefined {
  let best: Mount | undefined
  for (const mount of mounts() ?? []) {
    const inside = mount.point === '/' || path === mount.point || path.startsWith(`${mount.point}/`)
    if (inside && (best === undefined || mount.point.length >= best.point.length)) best = mount
  }
  return best
}

/** Whether the mount holding `path` is read-only, or undefined where mountinfo cannot be read. */
export function readOnlyMount(path: string): Mount | undefined {
  const mount = mountOf(path)
  return mount !== undefined && (mount.options.includes('ro') || mount.superOptions.includes('ro')) ? mount : undefined
}

/**
 * Why /sys/devices/system/node gives no node list, in words that say what was checked; undefined
 * where it does (its `online` file is readable).
 */
export function nodeDirectoryProblem(): string | undefined {
  if (readText(`${NODE_DIR}/online`) !== undefined) return undefined
  const mount = mountOf(NODE_DIR)
  if (!existsSync('/sys/devices')) return `${NODE_DIR} is missing: sysfs is not mounted at /sys`
  if (mount !== undefined && mount.point !== '/sys' && mount.point.startsWith('/sys/')) {
    return `${NODE_DIR} has no node list: a ${mount.fstype} is mounted over ${mount.point}, hiding what the kernel publishes there`
  }
  let entries: string[] | undefined
  try {
    entries = readdirSync(NODE_DIR)
  } catch {
    entries = undefined
  }
  const numa = numaKernel()
  const where = entries === undefined ? `${NODE_DIR} is missing` : `${NODE_DIR} has no node list (no online file)`
  if (numa === false) return `${where}: this kernel is built without NUMA support (CONFIG_NUMA; /proc/self/numa_maps is missing too)`
  return `${where} although the kernel has NUMA support (/proc/self/numa_maps exists)`
}

/**
 * Whether a seccomp filter answers `syscall` itself: the call is made with arguments the kernel
 * rejects with EINVAL before it looks at anything else (move_pages: a query of one page, which
 * changes nothing; get_mempolicy: no output at all), so EPERM or ENOSYS can only come from the
 * filter, and ENOSYS only where the kernel is known to have the call (built with NUMA support, and
 * for the home node Linux 5.17 or later). Returns that errno (negative), or 0 where the call
 * reached the kernel or the answer cannot be told from the kernel's own.
 */
export function filterAnswer(syscall: Syscall): number {
  const native = loaded()
  if (native === undefined || !seccompFiltered()) return 0
  const page = new Uint8Array(2 * native.pageSize)
  let rc: number
  switch (syscall) {
    case 'get_mempolicy':
      rc = native.getMempolicy(null, 0, undefined, 0, 0)
      break
    case 'set_mempolicy':
      rc = native.setMempolicy(-1, null, 0)
      break
    case 'mbind':
      rc = native.mbind(page, -1, null, 0, 0)
      break
    case 'move_pages': {
      const query = native.pageNodes(page)
      rc = typeof query === 'number' ? query : 0
      break
    }
    case 'migrate_pages':
      rc = native.migratePagesSync(0, null, null, 0)
      break
    // A home node past MAX_NUMNODES (1 << 30 is past any) is EINVAL before the range is looked at.
    case 'set_mempolicy_home_node':
      rc = native.setHomeNode(page, 1 << 30)
      break
  }
  if (rc === -EPERM) return rc
  // ENOSYS is the filter's only where the kernel has the call (docs/containers.md, "ENOSYS").
  if (rc === -ENOSYS && numaKernel() === true && (syscall !== 'set_mempolicy_home_node' || kernelAtLeast(5, 17))) return rc
  return 0
}
