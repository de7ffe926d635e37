// CPU placement beside memory placement: setCpuAffinity / getCpuAffinity (sched_setaffinity and
// sched_getaffinity), runOnNodes (the CPUs of some nodes, as libnuma's numa_run_on_node_mask), and
// currentCpu (getcpu). CPU lists use the node-list syntax through src/ids.ts (CPU_IDS). docs/cpu.md is
// the reference; the kernel rules it relies on are written there.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { MAX_LIST_LENGTH, checkKeys, forEachElement, isArray, knownKeys, readProps } from './args'
import { binding, type NativeBinding } from './binding'
import { EDEADLK, EINVAL, ESRCH } from './errno'
import { MempolicyError, errnoName, invalidType, invalidValue } from './errors'
import { CPU_IDS, checkId, fillMask, formatIdList, maskIds, maskWords, parseIdList } from './ids'
import type { Nodes } from './policy'
import { readNodes } from './policy'
import { nodeState } from './topology'
import { readList } from './hmat'

/** A CPU id, an array of CPU ids, or a CPU-list string ("0-3,8", "all"): the node-list syntax. */
export type Cpus = number | readonly number[] | string

export interface CpuAffinityOptions {
  /** 'thread' (the default): the calling thread only. 'process': every thread of the process. */
  scope?: 'thread' | 'process'
}

/** What setCpuAffinity(cpus, { scope: 'process' }) did. */
export interface ProcessAffinityResult {
  /** Every thread of the process, ascending, each checked to run on the CPUs asked for. */
  threads: number[]
  /** The CPUs every one of them now runs on, ascending. */
  cpus: number[]
}

/** A thread where setting the affinity failed. */
export interface FailedAffinityThread {
  tid: number
  name: string
  /** Negative, as MempolicyError.errno. */
  errno: number
  code: string
}

/** Thrown when some threads were set and others failed. */
export interface ProcessAffinityError extends MempolicyError {
  applied: number[]
  failed: FailedAffinityThread[]
}

const CPU_DIR = '/sys/devices/system/cpu'

const readCpuList = (file: string): number[] | undefined => readList(file, CPU_IDS)

let highest: number | undefined

/** The highest possible CPU id (nr_cpu_ids - 1), fixed at boot: /sys/devices/system/cpu/possible. */
export function highestPossibleCpu(): number {
  if (highest === undefined) {
    const possible = readCpuList(`${CPU_DIR}/possible`)
    highest = possible !== undefined && possible.length > 0 ? possible[possible.length - 1]! : CPU_IDS.max
  }
  return highest
}

/** The CPUs online now (they can go on- and offline at any time). */
export function onlineCpus(): number[] {
  return readCpuList(`${CPU_DIR}/online`) ?? [...Array(highestPossibleCpu() + 1).keys()]
}

/**
 * The CPUs this process's cpuset allows: cpuset.cpus.effective of its cgroup (v2: the nearest
 * ancestor that has the file; v1: the cpuset hierarchy), else every online CPU.
 */
export function cpusetCpus(): number[] {
  let cgroup: string
  try {
    cgroup = readFileSync('/proc/self/cgroup', 'latin1')
  } catch {
    return onlineCpus()
  }
  const v2 = /^0::(\/.*)$/m.exec(cgroup)
  if (v2 !== null) {
    for (let dir = v2[1]!; ; dir = dir.slice(0, Math.max(dir.lastIndexOf('/'), 0))) {
      const cpus = readCpuList(`/sys/fs/cgroup${dir === '/' ? '' : dir}/cpuset.cpus.effective`)
      if (cpus !== undefined && cpus.length > 0) return cpus
      if (dir === '' || dir === '/') break
    }
  }
  const v1 = /^\d+:(?:[^:]*,)?cpuset(?:,[^:]*)?:(\/.*)$/m.exec(cgroup)
  if (v1 !== null) {
    const cpus = readCpuList(`/sys/fs/cgroup/cpuset${v1[1] === '/' ? '' : v1[1]}/cpuset.effective_cpus`)
    if (cpus !== undefined && cpus.length > 0) return cpus
  }
  return onlineCpus()
}

/** The CPUs of a node, as sysfs lists them (nodeN/cpulist); [] for a node without CPUs or sysfs. */
export function nodeCpus(node: number): number[] {
  return readCpuList(`/sys/devices/system/node/node${node}/cpulist`) ?? []
}

/**
 * Validates a CPU id, array of ids or CPU-list string; returns ascending unique ids from 0 to the
 * highest possible CPU. "all" is `all()`.
 */
export function readCpus(value: unknown, name: string, all: () => number[]): number[] {
  const top = highestPossibleCpu()
  if (typeof value === 'number') {
    checkId(value, name, top, CPU_IDS)
    return [value]
  }
  if (typeof value === 'string') {
    const cpus = parseIdList(value, name, all, CPU_IDS)
    if (cpus.length > 0) checkId(cpus[cpus.length - 1], name, top, CPU_IDS)
    return cpus
  }
  if (isArray(value)) {
    const seen = new Uint8Array(top + 1)
    forEachElement(
      value,
      name,
      (id, k) => {
        checkId(id, `${name}[${k}]`, top, CPU_IDS)
        seen[id] = 1
      },
      MAX_LIST_LENGTH,
    )
    const cpus: number[] = []
    for (let id = 0; id <= top; id++) if (seen[id] === 1) cpus.push(id)
    return cpus
  }
  throw invalidType(name, 'a CPU id, an array of CPU ids or a CPU-list string', value)
}

/**
 * CPUs that may be placed on: at least one, each online and inside the cpuset. Checked here so a
 * refusal says which rule, before any syscall (the kernel itself drops CPUs outside the cpuset and
 * refuses a mask with none left, all as one EINVAL).
 */
export function checkPlaceable(cpus: readonly number[], name: string, value: unknown): void {
  if (cpus.length === 0) throw invalidValue(name, 'must name at least one CPU', value)
  const online = new Set(onlineCpus())
  const offline = cpus.filter((c) => !online.has(c))
  if (offline.length > 0) {
    throw invalidValue(
      name,
      `must name online CPUs only: ${formatIdList(offline, name, CPU_IDS)} ${offline.length === 1 ? 'is' : 'are'} offline (online: ${formatIdList(online, name, CPU_IDS)})`,
      value,
    )
  }
  const allowed = cpusetCpus()
  const inside = new Set(allowed)
  const outside = cpus.filter((c) => !inside.has(c))
  if (outside.length > 0) {
    throw invalidValue(
      name,
      `must name CPUs of this process's cpuset only: ${formatIdList(outside, name, CPU_IDS)} ${outside.length === 1 ? 'is' : 'are'} outside it (cpuset.cpus: ${formatIdList(allowed, name, CPU_IDS)})`,
      value,
    )
  }
}

/** A CPU mask of whole 64-bit words holding ids 0 to `top`. */
export function cpuMask(cpus: readonly number[], top = highestPossibleCpu()): Uint32Array {
  const mask = new Uint32Array(maskWords(top) * 2)
  fillMask(mask, cpus)
  return mask
}

// The kernel's cpumask can be wider than the possible CPUs suggest (NR_CPUS): sched_getaffinity
// refuses a narrower buffer with EINVAL, so the buffer is doubled until it fits, as glibc and libnuma
// do. The width that worked is kept for the next call.
const MAX_WORDS = 1024
let affinityWords = 0

/** sched_getaffinity(tid) as a raw mask (the kernel's width), or -errno. */
export function readAffinity(native: NativeBinding, tid: number): Uint32Array | number {
  if (affinityWords === 0) affinityWords = maskWords(highestPossibleCpu())
  for (;;) {
    const mask = new Uint32Array(affinityWords * 2)
    const rc = native.getAffinity(tid, mask)
    if (rc >= 0) return mask
    if (rc !== -EINVAL || affinityWords >= MAX_WORDS) return rc
    affinityWords *= 2
  }
}

function fail(errno: number, syscall: string, hint?: string): never {
  throw new MempolicyError(errno, syscall, hint)
}

/** The calling thread's CPUs (sched_getaffinity), ascending. */
export function getCpuAffinity(): number[] {
  const mask = readAffinity(binding(), 0)
  if (typeof mask === 'number') fail(mask, 'sched_getaffinity')
  return maskIds(mask)
}

/** The one option of the placement calls: a misspelt key is an error, never silently thread scope. */
const SCOPE_KEYS = knownKeys(['scope'], { process: 'scope', processwide: 'scope', wholeprocess: 'scope', all: 'scope', threads: 'scope' })

function readScope(options: unknown): 'thread' | 'process' {
  if (options === undefined) return 'thread'
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options)
  const { scope } = readProps(options, ['scope'], 'options')
  checkKeys(options, SCOPE_KEYS, 'options')
  if (scope === undefined || scope === 'thread' || scope === 'process') return scope ?? 'thread'
  if (typeof scope !== 'string') throw invalidType('options.scope', 'of type string', scope)
  throw invalidValue('options.scope', "must be 'thread' or 'process'", scope)
}

/**
 * Runs the calling thread (or, with { scope: 'process' }, every thread of the process) on `cpus`
 * (sched_setaffinity). 'all' is every CPU the cpuset allows.
 */
export function setCpuAffinity(cpus: Cpus, options: CpuAffinityOptions & { scope: 'process' }): ProcessAffinityResult
export function setCpuAffinity(cpus: Cpus, options?: CpuAffinityOptions & { scope?: 'thread' }): void
export function setCpuAffinity(cpus: Cpus, options?: CpuAffinityOptions): ProcessAffinityResult | undefined {
  const native = binding()
  const ids = readCpus(cpus, 'cpus', cpusetCpus)
  const scope = readScope(options)
  checkPlaceable(ids, 'cpus', cpus)
  return place(native, cpuMask(ids), scope)
}

/** The CPUs of `nodes` inside the cpuset; every node must have some. */
export function cpusOfNodes(nodes: readonly number[], name: string, value: unknown): number[] {
  const allowed = new Set(cpusetCpus())
  const online = new Set(onlineCpus())
  const usable = (node: number): number[] => nodeCpus(node).filter((c) => allowed.has(c) && online.has(c))
  const cpus = new Set<number>()
  const without: number[] = []
  for (const node of nodes) {
    const own = usable(node)
    if (own.length === 0) without.push(node)
    for (const c of own) cpus.add(c)
  }
  if (nodes.length === 0) throw invalidValue(name, 'must name at least one node', value)
  if (without.length > 0) {
    const withCpus = nodeState('online').filter((n) => usable(n).length > 0)
    throw invalidValue(
      name,
      `must name nodes with CPUs in this process's cpuset: node ${formatIdList(without)} ${without.length === 1 ? 'has' : 'have'} none (nodes with CPUs: ${formatIdList(withCpus)})`,
      value,
    )
  }
  return [...cpus].sort((a, b) => a - b)
}

/** Online nodes that have CPUs inside the cpuset: what "all" means for runOnNodes. */
export function nodesWithCpus(): number[] {
  const allowed = new Set(cpusetCpus())
  return nodeState('online').filter((n) => nodeCpus(n).some((c) => allowed.has(c)))
}

/**
 * Runs the calling thread (or every thread) on the CPUs of `nodes` that the cpuset allows, as
 * libnuma's numa_run_on_node_mask. A node without such CPUs is refused, naming the nodes that have some.
 */
export function runOnNodes(nodes: Nodes, options: CpuAffinityOptions & { scope: 'process' }): ProcessAffinityResult
export function runOnNodes(nodes: Nodes, options?: CpuAffinityOptions & { scope?: 'thread' }): void
export function runOnNodes(nodes: Nodes, options?: CpuAffinityOptions): ProcessAffinityResult | undefined {
  const native = binding()
  const ids = [...readNodes(nodes, 'nodes', nodesWithCpus)]
  const scope = readScope(options)
  const cpus = cpusOfNodes(ids, 'nodes', nodes)
  return place(native, cpuMask(cpus), scope)
}

const cpuNode = new Int32Array(2)

/** Where the calling thread runs now (getcpu): it may be moved the moment after. */
export function currentCpu(): { cpu: number; node: number } {
  const rc = binding().getcpu(cpuNode)
  if (rc !== 0) fail(rc, 'getcpu')
  return { cpu: cpuNode[0]!, node: cpuNode[1]! }
}

function place(native: NativeBinding, mask: Uint32Array, scope: 'thread' | 'process'): ProcessAffinityResult | undefined {
  if (scope === 'thread') {
    const rc = native.setAffinity(0, mask)
    if (rc !== 0) fail(rc, 'sched_setaffinity', hintFor(rc))
    return undefined
  }
  return placeProcess(native, mask)
}

function hintFor(errno: number): string | undefined {
  if (-errno === EINVAL) return "none of these CPUs is in this process's cpuset now, or none is active"
  return undefined
}

// Process scope. sched_setaffinity takes a thread id, so unlike the memory policy (which only the
// thread itself can set) every thread can be reached from here, whatever signals it blocks. Passes
// over /proc/self/task set every thread not yet seen, and read back what the kernel holds; a thread
// started meanwhile by one not yet set is listed by the next pass, one started by a thread already set
// inherits the mask. The passes end when one finds every listed thread on the mask. They run under
// the process-wide lock of process scope, so no other process-scope call, and no spawn() borrowing
// the calling thread's placement, interleaves with them.
const MAX_PASSES = 64

function tasks(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number).filter(Number.isInteger)
  } catch {
    return []
  }
}

function threadName(tid: number): string {
  try {
    return readFileSync(`/proc/self/task/${tid}/comm`, 'latin1').trim()
  } catch {
    return ''
  }
}

function ownTid(): number {
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop())
  } catch {
    return process.pid
  }
}

function sameMask(a: Uint32Array, b: Uint32Array): boolean {
  const n = Math.max(a.length, b.length)
  for (let k = 0; k < n; k++) if ((a[k] ?? 0) !== (b[k] ?? 0)) return false
  return true
}

/**
 * Runs fn holding the process-wide lock of process scope (native/process.cc); where this thread holds
 * it already (-EDEADLK: fn runs inside another holder on this thread), fn simply runs.
 */
export function exclusive<T>(native: NativeBinding, fn: () => T): T {
  const result = native.processExclusive(() => ({ value: fn() }), false)
  if (result === -EDEADLK) return fn()
  if (typeof result === 'number') {
    const hint =
      'every real-time signal (SIGRTMIN to SIGRTMAX) already has a handler in this process, so the process-wide lock cannot be taken'
    throw new MempolicyError(result, 'sched_setaffinity', hint)
  }
  return result.value
}

function placeProcess(native: NativeBinding, mask: Uint32Array): ProcessAffinityResult {
  return exclusive(native, () => {
    const rc = native.setAffinity(0, mask)
    if (rc !== 0) fail(rc, 'sched_setaffinity', hintFor(rc))
    // What the kernel made of the mask (the cpuset may have changed since it was checked): every
    // thread must end up on exactly this.
    const effective = readAffinity(native, 0)
    if (typeof effective === 'number') fail(effective, 'sched_getaffinity')
    const self = ownTid()
    const failed = new Map<number, FailedAffinityThread>()
    let threads: number[]
    for (let pass = 0; ; pass++) {
      let changed = false
      threads = []
      for (const tid of tasks()) {
        if (failed.has(tid)) continue
        const current = tid === self ? effective : readAffinity(native, tid)
        if (typeof current === 'number') {
          if (current === -ESRCH) continue
          failed.set(tid, { tid, name: threadName(tid), errno: current, code: errnoName(current)[0] })
          continue
        }
        if (!sameMask(current, effective)) {
          changed = true
          const set = native.setAffinity(tid, mask)
          if (set === -ESRCH) continue
          if (set !== 0) {
            failed.set(tid, { tid, name: threadName(tid), errno: set, code: errnoName(set)[0] })
            continue
          }
        }
        threads.push(tid)
      }
      if (!changed || pass === MAX_PASSES) break
    }
    // A thread set but gone by the last pass is not listed; one that exited after it is not either.
    const live = new Set(tasks())
    threads = threads.filter((t) => live.has(t)).sort((a, b) => a - b)
    const failures = [...failed.values()].filter((f) => live.has(f.tid))
    if (failures.length > 0) {
      const first = failures[0]!
      const hint = `thread ${first.tid} (${first.name}) refused it; the affinity is set on ${threads.length} of ${threads.length + failures.length} threads: see .applied and .failed`
      throw Object.assign(new MempolicyError(first.errno, 'sched_setaffinity', hint), { applied: threads, failed: failures })
    }
    return { threads, cpus: maskIds(effective) }
  })
}
