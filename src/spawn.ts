// spawn(): child_process.spawn whose child starts under a memory policy.
//
// A child copies the policy of the thread that forks it, and keeps it across exec (docs/kernel.md, "Thread scope").
// child_process.spawn forks synchronously on the calling thread (libuv's uv_spawn), so the calling
// thread takes the child's policy for the duration of that one synchronous call and gets its own back,
// exactly (mode, flags and nodemask as the kernel holds them), in a finally. The other way, an exec
// wrapper (`node cli.js --membind ... -- cmd`), costs a Node start-up (~40 ms) per child and puts a
// wrapper process between the caller and the command, so child.pid and child.kill() would reach the
// wrapper. The cost of this way: what the calling thread itself allocates during that one call
// (libuv's and V8's own bookkeeping for the new child) follows the child's policy. No other thread is
// affected, since the policy is per thread, so there is no race with other threads' allocations.
import type { ChildProcess, SpawnOptions as NodeSpawnOptions } from 'node:child_process'
import { forEachElement, isArray, isCodedError, knownKeys, unknownKey, unreadable } from './args'
import { binding, type NativeBinding } from './binding'
import { checkPlaceable, cpuMask, cpusOfNodes, cpusetCpus, exclusive, nodesWithCpus, readAffinity, readCpus, type Cpus } from './cpu'
import { MempolicyError, invalidType, invalidValue, outOfRange } from './errors'
import { allNodes, fail, restoreThreadPolicy, saveThreadPolicy, setMempolicy } from './mempolicy'
import { decodePolicy, encodePolicy, readNodes, type Nodes, type Policy } from './policy'

let childProcess: typeof import('node:child_process') | undefined

/** node:child_process, loaded on the first spawn(): a bare require of the package does not load it (nor net, stream, ...). */
function nodeChildProcess(): typeof import('node:child_process') {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded at first use, not with the package
  return (childProcess ??= require('node:child_process') as typeof import('node:child_process'))
}

/**
 * child_process.spawn's options (Node.js 20 to 24) and the ones exec and spawnSync take, which spawn
 * ignores but a shared options object may carry; then this package's own. Any other key is a
 * mistake (a misspelt mempolicy would start the child under no policy at all).
 */
const SPAWN_KEYS = knownKeys(
  [
    'mempolicy',
    'cpus',
    'cpuNodes',
    'cwd',
    'env',
    'argv0',
    'stdio',
    'detached',
    'uid',
    'gid',
    'serialization',
    'shell',
    'windowsVerbatimArguments',
    'windowsHide',
    'signal',
    'timeout',
    'killSignal',
    'encoding',
    'maxBuffer',
    'input',
  ],
  {
    policy: 'mempolicy',
    memorypolicy: 'mempolicy',
    mpol: 'mempolicy',
    numa: 'mempolicy',
    numapolicy: 'mempolicy',
    mempolicies: 'mempolicy',
    membind: 'mempolicy',
    memory: 'mempolicy',
    cpu: 'cpus',
    cpuset: 'cpus',
    affinity: 'cpus',
    physcpubind: 'cpus',
    cpunodes: 'cpuNodes',
    cpunodebind: 'cpuNodes',
    nodes: 'cpuNodes',
  },
  "child_process.spawn's options and 'mempolicy', 'cpus', 'cpuNodes'",
)

/** More arguments than any exec accepts (its limit is a quarter of the stack limit, in bytes). */
const MAX_ARGS = 2 ** 24

export interface SpawnOptions extends NodeSpawnOptions {
  /** The policy the child starts under, and keeps across exec; validated before anything is spawned. */
  mempolicy?: Policy
  /** The CPUs the child starts on (its CPU affinity, kept across exec). */
  cpus?: Cpus
  /** The child starts on the CPUs of these nodes (within the cpuset), as runOnNodes. */
  cpuNodes?: Nodes
}

/**
 * child_process.spawn, with the child started under `options.mempolicy`. The calling thread's own
 * policy is the same afterwards. An invalid policy throws before anything is spawned.
 */
export function spawn(command: string, options?: SpawnOptions): ChildProcess
export function spawn(command: string, args?: readonly string[], options?: SpawnOptions): ChildProcess
export function spawn(command: string, argsOrOptions?: readonly string[] | SpawnOptions, maybeOptions?: SpawnOptions): ChildProcess {
  let args: readonly string[]
  let options: unknown
  if (isArray(argsOrOptions)) {
    // A plain copy, each element read once (a Proxy or getter cannot answer differently later), of
    // strings only, as exec takes them: a Proxy claiming billions of elements fails at the first
    // that is not a string, or at the bound, and never grows the copy past what V8 can hold.
    const copy: string[] = []
    forEachElement(argsOrOptions, 'args', (arg, k) => {
      if (typeof arg !== 'string') throw invalidType(`args[${k}]`, 'of type string', arg)
      if (k >= MAX_ARGS) throw outOfRange('args.length', `at most ${MAX_ARGS} (exec takes far fewer)`, k + 1)
      copy.push(arg)
    })
    args = copy
    options = maybeOptions
  } else if (argsOrOptions === undefined || argsOrOptions === null) {
    args = []
    options = maybeOptions
  } else {
    args = []
    options = argsOrOptions
    if (maybeOptions !== undefined) throw invalidType('args', 'an array of strings', argsOrOptions)
  }
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidType('options', 'an object', options)
  // Each option of ours is read once, here: what is validated below is what the child gets.
  let mempolicy: unknown
  let cpus: unknown
  let cpuNodes: unknown
  let rest: NodeSpawnOptions
  try {
    ;({ mempolicy, cpus, cpuNodes, ...rest } = (options ?? {}) as SpawnOptions)
  } catch (err) {
    throw unreadable('options', options, err)
  }
  // The keys of the copy: a plain object of ours, so this runs none of the caller's code.
  for (const key in rest) {
    if (!SPAWN_KEYS.set.has(key)) throw unknownKey('options', key, SPAWN_KEYS)
  }
  // Validated here, so that errors name the option, and turned into plain values of our own: the
  // policy is set from its decoded copy, never by reading the caller's object again.
  let policy: Policy | undefined
  if (mempolicy !== undefined) {
    const encoded = encodePolicy(mempolicy, 'options.mempolicy', allNodes)
    policy = decodePolicy(encoded.value, [...encoded.nodes])
  }
  let mask: Uint32Array | undefined
  if (cpus !== undefined && cpuNodes !== undefined) {
    throw invalidValue('options.cpuNodes', 'cannot be given with options.cpus: give one or the other', cpuNodes)
  }
  if (cpus !== undefined) {
    const ids = readCpus(cpus, 'options.cpus', cpusetCpus)
    checkPlaceable(ids, 'options.cpus', cpus)
    mask = cpuMask(ids)
  } else if (cpuNodes !== undefined) {
    mask = cpuMask(cpusOfNodes([...readNodes(cpuNodes, 'options.cpuNodes', nodesWithCpus)], 'options.cpuNodes', cpuNodes))
  }
  // Node's own errors have codes; what a getter or Proxy inside the options throws is wrapped.
  const start = (): ChildProcess => {
    try {
      return nodeChildProcess().spawn(command, args, rest)
    } catch (err) {
      throw isCodedError(err) ? err : unreadable('options', options, err)
    }
  }
  if (mask === undefined) return policy === undefined ? start() : underPolicy(policy, start)
  const native = binding()
  // The calling thread's affinity is borrowed under the process-wide lock, so that a process-scope
  // setCpuAffinity cannot see the borrowed mask and then have it restored over its own. Innermost, so
  // that it joins the lock where the policy's borrowing already holds it.
  const placed = (): ChildProcess => exclusive(native, () => underAffinity(native, mask, start))
  return policy === undefined ? placed() : underPolicy(policy, placed)
}

/**
 * Runs `fn` with the calling thread on the CPUs of `mask`, then puts back its affinity exactly as
 * sched_getaffinity reported it (the kernel's full width).
 */
function underAffinity<T>(native: NativeBinding, mask: Uint32Array, fn: () => T): T {
  const saved = readAffinity(native, 0)
  if (typeof saved === 'number') throw new MempolicyError(saved, 'sched_getaffinity')
  const rc = native.setAffinity(0, mask)
  if (rc !== 0) throw new MempolicyError(rc, 'sched_setaffinity', "none of these CPUs is in this process's cpuset now, or none is active")
  return thenRestore(
    fn,
    () => native.setAffinity(0, saved),
    (back, started) =>
      new MempolicyError(
        back,
        'sched_setaffinity',
        `restoring the calling thread's CPU affinity after spawn failed; ${started ? 'the child was started' : 'spawn itself failed too (see cause)'}`,
      ),
  )
}

/**
 * Runs fn, then restore() (0 or -errno). A failed restore is never hidden and never hides fn's own
 * error: after a started child it is thrown with the child as `.child`; after fn threw, with fn's error
 * as its cause.
 */
export function thenRestore<T>(fn: () => T, restore: () => number, failed: (errno: number, started: boolean) => MempolicyError): T {
  let result: T
  try {
    result = fn()
  } catch (err) {
    const rc = restore()
    if (rc !== 0) throw Object.assign(failed(rc, false), { cause: err })
    throw err
  }
  const rc = restore()
  if (rc !== 0) throw Object.assign(failed(rc, true), { child: result })
  return result
}

/**
 * Runs `fn` with the calling thread under `policy`, then restores the thread's policy exactly as
 * get_mempolicy reported it (raw mode|flags and nodemask, so nothing is lost to decoding). The
 * interleave cursor of an interleave policy restarts. The whole borrowing holds the process-wide lock
 * of process-scope calls (native processExclusive, without a signal), so a process-scope call made on
 * another thread meanwhile waits, and then sets the policy this thread has restored, not one that the
 * restore would undo (docs/threads.md).
 */
export function underPolicy<T>(policy: Policy, fn: () => T): T {
  const native = binding()
  const outcome = native.processExclusive(() => {
    const saved = saveThreadPolicy(native)
    if (typeof saved === 'number') fail(saved, 'get_mempolicy')
    setMempolicy(policy)
    // A restore fails only if the thread's cpuset changed meanwhile so that its old nodes are no longer allowed.
    const result = thenRestore(
      fn,
      () => restoreThreadPolicy(native, saved),
      (rc, started) =>
        new MempolicyError(
          rc,
          'set_mempolicy',
          `restoring the calling thread's policy after spawn failed; ${started ? 'the child was started' : 'spawn itself failed too (see cause)'}`,
        ),
    )
    return { result }
  }, false)
  // -EDEADLK: spawn() called from inside a process-scope call on this thread, which nothing does.
  if (typeof outcome === 'number')
    throw new MempolicyError(
      outcome,
      'set_mempolicy',
      'spawn() cannot borrow the thread policy inside a process-scope call on the same thread',
    )
  return outcome.result
}
