// The only module that loads the native addon. Off Linux nothing is loaded and every call that
// needs the kernel throws ERR_MEMPOLICY_UNSUPPORTED; installing and importing never fail. On Linux
// an addon that does not load (no prebuild for this platform, a bundler that left the .node file
// behind, a damaged file) gives the same error, saying what was looked for, why it failed and what
// to do, and one process warning when the package is loaded (docs/packaging.md).
import fs from 'node:fs'
import path from 'node:path'
import nodeGypBuild from 'node-gyp-build'

/**
 * A nodemask as 32-bit halves of 64-bit words, low half first; or the ArrayBuffer under such an
 * array, which the addon reads faster (the hot calls pass that).
 */
export type NativeMask = Uint32Array | ArrayBuffer

/** What native/mempolicy.cc exports. Every call returns its result or -errno; none throws for a kernel error. */
export interface NativeBinding {
  setMempolicy(mode: number, mask: NativeMask | null, maxnode: number): number
  /** byteOffset -1 asks for the first whole page of memory. */
  getMempolicy(mask: NativeMask | null, maxnode: number, memory: NativeMemory | undefined, byteOffset: number, flags: number): number
  /** get_mempolicy(0) into mask (maxnode: the mask's bits): the thread's mode|flags, or -errno. */
  threadPolicy(mask: NativeMask): number
  /** get_mempolicy(MPOL_F_NODE | MPOL_F_ADDR), no mask: the node of the page at byteOffset, -errno, or -ERANGE outside memory. */
  nodeOf(memory: NativeMemory, byteOffset: number): number
  /**
   * The whole pages acted on as their offset in memory plus their length (the offset is less than a
   * page, the length a multiple of one), -errno, or noWholePage.
   */
  mbind(memory: NativeMemory, mode: number, mask: NativeMask | null, maxnode: number, flags: number): number
  setHomeNode(memory: NativeMemory, node: number): number
  alloc(
    byteLength: number,
    align: number,
    hugePages: number,
    mode: number,
    mask: NativeMask | null,
    maxnode: number,
  ): ArrayBuffer | { errno: number; syscall: string }
  /** move_pages in query mode over every page overlapping memory: per-page node or -errno; or -errno for the call. */
  pageNodes(memory: NativeMemory): Int32Array | number
  /** move_pages to `node` on the libuv pool: each page's final node or -errno; or -errno for the call. */
  movePages(memory: NativeMemory, node: number, flags: number): Promise<Int32Array | number>
  /** mbind on the libuv pool; the mask is copied before it returns. Resolves as mbind returns. */
  mbindAsync(memory: NativeMemory, mode: number, mask: NativeMask | null, maxnode: number, flags: number): Promise<number>
  /** migrate_pages on the libuv pool; the masks are copied before it returns. Pages not moved, or -errno. */
  migratePages(pid: number, from: NativeMask, to: NativeMask, maxnode: number): Promise<number>
  /** migrate_pages on the calling thread (for probes). */
  migratePagesSync(pid: number, from: NativeMask | null, to: NativeMask | null, maxnode: number): number
  /**
   * process.cc: runs callback(signal) holding the process-wide lock (shared with every other copy of
   * the addon in the process), with the handler installed on that real-time signal when `signal` is
   * true (callback(0) otherwise); its result, or -EDEADLK (this thread holds it) / -EAGAIN (no free signal).
   */
  processExclusive<T>(callback: (signal: number) => T, signal: boolean): T | number
  /**
   * Inside processExclusive(callback, true) only (-EPERM otherwise): has each thread in tids set the
   * policy from its signal handler. results[i]: 0, -errno, 1 (blocks the signal and sleeps: not
   * reached), -ESRCH (gone), -EAGAIN (not queued), -ETIMEDOUT (no answer). Returns how many set it.
   */
  signalThreads(mode: number, mask: NativeMask | null, maxnode: number, tids: Int32Array, results: Int32Array, timeoutMs: number): number
  /** cpu.cc: sched_setaffinity(tid, mask): 0 or -errno. tid 0 is the calling thread. */
  setAffinity(tid: number, mask: NativeMask): number
  /** sched_getaffinity(tid) into mask: the bytes the kernel wrote, or -errno (-EINVAL: mask narrower than the kernel's). */
  getAffinity(tid: number, mask: NativeMask): number
  /** getcpu into out ([cpu, node]): 0 or -errno. */
  getcpu(out: Int32Array): number
  /** execve with every signal disposition at SIG_DFL and an empty signal mask; returns -errno only if it failed (and then restores both). */
  execve(path: string, argv: readonly string[], envp: readonly string[]): number
  /** sigaction(signal, SIG_DFL): 0 or -errno. */
  signalDefault(signal: number): number
  /** shmget: the segment id, or -errno. */
  shmGet(key: number, size: number, flags: number): number
  /** shmctl(IPC_STAT): the segment's size in bytes, or -errno. */
  shmSize(id: number): number
  /** shmat: the first `length` bytes of the segment, detached when collected. */
  shmAttach(id: number, length: number): ArrayBuffer | { errno: number; syscall: string }
  /** mmap(MAP_SHARED) of `length` bytes of the file at `offset`, unmapped when collected. */
  mapShared(fd: number, length: number, offset: number): ArrayBuffer | { errno: number; syscall: string }
  /** mappings.cc, counted now: [this process's mappings, vm.max_map_count, the most calls may leave in use]. */
  mappings(): [count: number, limit: number, allowed: number]
  readonly constants: Readonly<Record<string, number>>
  readonly pageSize: number
  readonly noWholePage: number
  /**
   * Returned (or resolved) by mbind, mbindAsync and setHomeNode, and alloc's errno, instead of making
   * a call that could take mappings the process needs under vm.max_map_count.
   */
  readonly mapLimit: number
}

/**
 * The name of every function the addon exports (native/binding.cc's table), derived from
 * NativeBinding so that neither can gain an export the other lacks: test/exports.test.ts compares
 * this list with what the addon really exports.
 */
const NATIVE_FUNCTIONS = {
  setMempolicy: true,
  getMempolicy: true,
  threadPolicy: true,
  nodeOf: true,
  mbind: true,
  setHomeNode: true,
  alloc: true,
  pageNodes: true,
  movePages: true,
  mbindAsync: true,
  migratePages: true,
  migratePagesSync: true,
  processExclusive: true,
  signalThreads: true,
  mappings: true,
  setAffinity: true,
  getAffinity: true,
  getcpu: true,
  execve: true,
  signalDefault: true,
  shmGet: true,
  shmSize: true,
  shmAttach: true,
  mapShared: true,
} satisfies Record<NativeFunction, true>

type NativeFunction = {
  [K in keyof NativeBinding]: NativeBinding[K] extends (...args: never[]) => unknown ? K : never
}[keyof NativeBinding]

export const nativeFunctions: readonly string[] = Object.freeze(Object.keys(NATIVE_FUNCTIONS))

/** Memory the shim can read a pointer from (a SharedArrayBuffer travels as a view over it). */
export type NativeMemory = ArrayBuffer | ArrayBufferView

export const supportedPlatform = process.platform === 'linux'

/** The prebuilt addons the package ships, as node-gyp-build names their folders and libc tags. */
const PREBUILT = 'linux-x64 and linux-arm64, each for glibc and musl'

/** Where node-gyp-build looks: the package root, holding prebuilds/ and (built from source) build/. */
const packageRoot = path.join(__dirname, '..')

let native: NativeBinding | undefined
/** Why the addon did not load on Linux, and which file did not load when one was found. */
let loadError: unknown
let foundFile: string | undefined

if (supportedPlatform) {
  try {
    foundFile = nodeGypBuild.path(packageRoot)
    native = nodeGypBuild(packageRoot) as NativeBinding
  } catch (err) {
    loadError = err
  }
  if (native === undefined) {
    process.emitWarning(`${notLoaded()}; isSupported() is false and each call that needs the kernel throws ERR_MEMPOLICY_UNSUPPORTED`, {
      type: 'MempolicyWarning',
      code: 'MEMPOLICY_ADDON_NOT_LOADED',
      detail: advice().join('\n'),
    })
  }
}

/** The addon, or an ERR_MEMPOLICY_UNSUPPORTED error saying why there is none. */
export function binding(): NativeBinding {
  if (native !== undefined) return native
  throw unsupported()
}

export function loaded(): NativeBinding | undefined {
  return native
}

export function unsupported(): Error {
  const message = supportedPlatform
    ? [`mempolicy is not supported here: ${notLoaded()}`, ...advice()].join('\n  ')
    : `mempolicy is not supported here: memory policy is a Linux kernel feature and this is ${process.platform}`
  const err = new Error(message, loadError === undefined ? undefined : { cause: loadError })
  return Object.assign(err, { code: 'ERR_MEMPOLICY_UNSUPPORTED' })
}

/** The platform node-gyp-build matches prebuilds against (it honours the same variables). */
function platformTag(): string {
  const platform = process.env.npm_config_platform || process.platform
  const arch = process.env.npm_config_arch || process.arch
  const libc = process.env.LIBC || (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc')
  return `${platform}-${arch} ${libc}`
}

/** True when this file is not inside the mempolicy package (a bundler copied it elsewhere). */
function outsidePackage(): boolean {
  try {
    return (JSON.parse(fs.readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { name?: unknown }).name !== 'mempolicy'
  } catch {
    return true
  }
}

/** The loader's reason on one line, without node-gyp-build's trailing "loaded from" (said above). */
function reason(): string {
  const text = loadError instanceof Error ? loadError.message : String(loadError)
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('loaded from:'))
    .join(' ')
}

function notLoaded(): string {
  return foundFile === undefined
    ? `no native addon for ${platformTag()} was found in ${packageRoot} (prebuilds/ and build/Release/): ${reason()}`
    : `the native addon ${foundFile} did not load: ${reason()}`
}

function advice(): string[] {
  const fromSource =
    'build it from source: npm_config_build_from_source=true npm install mempolicy (needs a C++17 compiler, make and Python 3)'
  if (outsidePackage()) {
    return [
      `This code is not inside the mempolicy package (no package.json of mempolicy in ${packageRoot}): a bundler copied the JavaScript and left the .node file behind.`,
      'Mark mempolicy as external so it loads from node_modules (esbuild --external:mempolicy, webpack externals, Vite ssr.external, Rollup external).',
    ]
  }
  if (foundFile === undefined) return [`Prebuilt addons ship for ${PREBUILT}; on any other Linux, ${fromSource}.`]
  return [`Reinstall the package (npm rebuild mempolicy), or ${fromSource}.`]
}
