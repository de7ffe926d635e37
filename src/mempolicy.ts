// Thread policy, range policy and alloc(): validation, then one native call, then errno mapping.
import { constants as bufferConstants } from 'node:buffer'
import { readFileSync } from 'node:fs'
import { types } from 'node:util'
import { remember } from './allocated'
import { byteLengthOf, checkKeys, knownKeys, readProps, unreadable } from './args'
import { binding, loaded, type NativeBinding, type NativeMemory } from './binding'
import { constants } from './constants'
import { MempolicyError, invalidType, invalidValue, outOfRange, quote } from './errors'
import { numaKernel, seccompFiltered, statusMemsAllowed } from './environment'
import { ENOSYS, EPERM } from './errno'
import { hintFor, type HintContext } from './hints'
import { checkId, fillMask, maskIds, maskWords, parseIdList } from './ids'
import { noWholePage as describeNoWholePage } from './memory'
import { decodePolicy, encodePolicy, type Encoded, type Policy, type PolicyInfo } from './policy'
import { setProcessPolicy, type ProcessPolicyResult } from './process'
import { closest, didYouMean } from './suggest'
import { highestPossibleNode, nodeState } from './topology'
import { ENOMEM } from './errno'

export type Memory = ArrayBuffer | SharedArrayBuffer | ArrayBufferView

export interface MbindOptions {
  /** MPOL_MF_STRICT: fail with EIO if pages already in the range do not follow the policy. */
  strict?: boolean
  /** MPOL_MF_MOVE: migrate pages of the range that only this process maps. */
  move?: boolean
  /** MPOL_MF_MOVE_ALL: migrate shared pages too (needs CAP_SYS_NICE). */
  moveAll?: boolean
}

export interface AllocOptions {
  /** true: ask for transparent huge pages (madvise MADV_HUGEPAGE); false: refuse them. */
  hugePages?: boolean
}

/** The span of whole pages an mbind acted on, relative to the memory it was given. */
export interface Span {
  byteOffset: number
  byteLength: number
}

/** Kernel page size in bytes. */
export const pageSize: number = loaded()?.pageSize ?? 4096

// Nodemasks: whole 64-bit words covering every possible node, kept per module instance (so per
// thread) and reused by every call. The calls made in loops hand the addon the ArrayBuffer under the
// scratch mask, which it reads faster than the Uint32Array.
let words = 0
let scratch: Uint32Array | undefined
let scratchBuffer: ArrayBuffer | undefined

function mask(): Uint32Array {
  if (scratch === undefined) {
    words = maskWords(highestPossibleNode())
    scratchBuffer = new ArrayBuffer(words * 8)
    scratch = new Uint32Array(scratchBuffer)
  }
  return scratch
}

/** The ArrayBuffer under mask(): call mask() first. */
function maskBuffer(): ArrayBuffer {
  return scratchBuffer!
}

/**
 * The mask to hand the kernel for `encoded`: the scratch one, filled; or, for ids past the possible
 * nodes (only 'static-nodes' and 'relative-nodes' allow them, up to the kernel's nodemask width), a
 * mask of its own wide enough for them. `maxnode` goes with it.
 */
interface WideMask {
  mask: Uint32Array
  maxnode: number
}

const ID_FLAGS = constants.MPOL_F_STATIC_NODES | constants.MPOL_F_RELATIVE_NODES

/** Fills the scratch mask, or returns a wider one when the ids need it (see WideMask). */
function fillFor(encoded: Encoded): WideMask | undefined {
  const m = mask()
  if ((encoded.value & ID_FLAGS) !== 0) {
    let highest = -1
    for (const id of encoded.nodes) if (id > highest) highest = id
    if (highest >= words * 64) {
      const wideWords = maskWords(highest)
      const wide = new Uint32Array(wideWords * 2)
      fillMask(wide, encoded.nodes)
      return { mask: wide, maxnode: wideWords * 64 + 1 }
    }
  }
  fillMask(m, encoded.nodes)
  return undefined
}

/** A fresh nodemask of the same size as the scratch one, for calls that need more than one mask. */
export function newMask(): Uint32Array {
  return new Uint32Array(mask().length)
}

/** maxnode for calls that read a mask: the kernel uses maxnode - 1 bits (docs/kernel.md, "maxnode"). */
export function maxnodeIn(): number {
  mask()
  return words * 64 + 1
}

/** maxnode for get_mempolicy, which writes ALIGN(maxnode - 1, 64) / 8 bytes. */
export function maxnodeOut(): number {
  mask()
  return words * 64
}

/** The calling thread's policy exactly as the kernel holds it: raw mode|flags and nodemask. */
export interface SavedPolicy {
  readonly value: number
  readonly mask: Uint32Array
}

/**
 * Reads the calling thread's policy for restoreThreadPolicy, or returns get_mempolicy's -errno. Raw,
 * so nothing is lost to decoding (a flag's user nodemask, ids beyond the possible nodes).
 */
export function saveThreadPolicy(native: NativeBinding): SavedPolicy | number {
  const saved = newMask()
  const value = native.getMempolicy(saved, maxnodeOut(), undefined, 0, 0)
  return value < 0 ? value : { value, mask: saved }
}

/** Puts back what saveThreadPolicy read: 0 or -errno. An interleave policy's round robin restarts. */
export function restoreThreadPolicy(native: NativeBinding, saved: SavedPolicy): number {
  return native.setMempolicy(saved.value, saved.mask, maxnodeIn())
}

export function fail(errno: number, syscall: string, context?: HintContext): never {
  throw new MempolicyError(errno, syscall, hintFor(errno, syscall, { allowed: safeMemsAllowed, ...context }))
}

function safeMemsAllowed(): number[] | undefined {
  try {
    return memsAllowed()
  } catch {
    return undefined
  }
}

/** "all": every node this thread may allocate on that has memory. */
export function allNodes(): number[] {
  const memory = new Set(nodeState('has_memory'))
  return memsAllowed().filter((n) => memory.has(n))
}

function encode(policy: unknown, name: string): Encoded {
  return encodePolicy(policy, name, allNodes)
}

export function nativeMemory(memory: unknown, name = 'memory'): NativeMemory {
  // Only the real thing: a Proxy or an object inheriting from ArrayBuffer.prototype is not memory.
  if (ArrayBuffer.isView(memory) || types.isArrayBuffer(memory)) return memory as NativeMemory
  if (types.isSharedArrayBuffer(memory)) return new Uint8Array(memory)
  throw invalidType(name, 'an ArrayBuffer, SharedArrayBuffer, TypedArray, DataView or Buffer', memory)
}

/**
 * The error for a call refused because the process is near vm.max_map_count (native mapLimit), or
 * for the kernel's own ENOMEM when that is why: every mapping past the limit is one V8 may need next.
 */
function mapLimitError(syscall: string, refused: boolean): MempolicyError | undefined {
  const [count, limit, allowed] = binding().mappings()
  if (!refused && count < allowed) return undefined
  const hint =
    `this process has ${count} memory mappings and vm.max_map_count is ${limit}; mempolicy leaves the last ` +
    `${limit - allowed} for V8 and the C library, so no new mapping${refused ? ' was made' : ''}. Every alloc() buffer and every ` +
    'mbind() on part of a mapping with a policy of its own is one more: let some be collected, bind larger ranges, or raise ' +
    `the limit (sysctl -w vm.max_map_count=${Math.max(262144, limit * 4)}; as root)`
  return Object.assign(new MempolicyError(-ENOMEM, syscall, hint), { mappings: count, maxMapCount: limit })
}

function failRange(native: NativeBinding, rc: number, syscall: string, context?: HintContext): never {
  if (rc === native.mapLimit) throw mapLimitError(syscall, true)!
  if (rc === -ENOMEM) {
    const err = mapLimitError(syscall, false)
    if (err !== undefined) throw err
  }
  fail(rc, syscall, context)
}

/** What mbind, policyOf and setHomeNode say about memory with no whole page inside. */
function noWholePage(memory: NativeMemory, call: 'mbind' | 'mbindAsync' | 'policyOf' | 'setHomeNode'): RangeError {
  const acts =
    call === 'policyOf' ? 'reads the policy of the first whole page inside the memory' : 'acts only on the whole pages inside the memory'
  return describeNoWholePage(memory, binding(), pageSize, call, acts)
}

export interface SetMempolicyOptions {
  /**
   * 'thread' (the default): the calling thread only. 'process': every thread of the process now,
   * and so every thread created later (see ProcessPolicyResult and docs/threads.md).
   */
  scope?: 'thread' | 'process'
}

const SCOPE_KEYS = knownKeys(['scope'], {
  process: 'scope',
  thread: 'scope',
  wholeprocess: 'scope',
  allthreads: 'scope',
  global: 'scope',
  processwide: 'scope',
  threads: 'scope',
})
const SCOPES = ['thread', 'process']
const SCOPE_ALIASES = new Map([
  ['all', 'process'],
  ['allthreads', 'process'],
  ['global', 'process'],
  ['wholeprocess', 'process'],
  ['processwide', 'process'],
  ['proc', 'process'],
  ['self', 'thread'],
  ['current', 'thread'],
  ['calling', 'thread'],
  ['task', 'thread'],
  ['local', 'thread'],
])

function readScope(options: unknown): 'thread' | 'process' {
  if (options === null || typeof options !== 'object') {
    const hint =
      typeof options === 'string' ? didYouMean(`{ scope: ${quote(closest(options, SCOPES, SCOPE_ALIASES) ?? options)} }`) : undefined
    throw invalidType('options', "an object such as { scope: 'process' }", options, hint)
  }
  const { scope } = readProps(options, ['scope'], 'options')
  checkKeys(options, SCOPE_KEYS, 'options')
  if (scope === undefined || scope === 'thread' || scope === 'process') return scope ?? 'thread'
  if (typeof scope !== 'string')
    throw invalidType(
      'options.scope',
      'of type string',
      scope,
      typeof scope === 'boolean' ? "Write scope: 'process' or scope: 'thread'" : undefined,
    )
  throw invalidValue('options.scope', "must be 'thread' or 'process'", scope, didYouMean(closest(scope, SCOPES, SCOPE_ALIASES)))
}

/**
 * Sets the calling thread's memory policy (set_mempolicy); with `{ scope: 'process' }`, every
 * thread's, and returns which threads that reached.
 */
export function setMempolicy(policy: Policy, options: SetMempolicyOptions & { scope: 'process' }): ProcessPolicyResult
export function setMempolicy(policy: Policy, options?: SetMempolicyOptions & { scope?: 'thread' }): void
/** The scope known only when run: what it returns says which (undefined for 'thread'). */
export function setMempolicy(policy: Policy, options?: SetMempolicyOptions): ProcessPolicyResult | undefined
export function setMempolicy(policy: Policy, options?: SetMempolicyOptions): ProcessPolicyResult | undefined {
  const native = binding()
  const encoded = encode(policy, 'policy')
  const wholeProcess = options !== undefined && readScope(options) === 'process'
  const wide = fillFor(encoded)
  if (wholeProcess) return setProcessPolicy(native, encoded, wide?.mask ?? mask(), wide?.maxnode ?? maxnodeIn(), fail)
  const rc =
    wide === undefined
      ? native.setMempolicy(encoded.value, maskBuffer(), maxnodeIn())
      : native.setMempolicy(encoded.value, wide.mask, wide.maxnode)
  if (rc !== 0) fail(rc, 'set_mempolicy', { policy: encoded })
  return undefined
}

/** The calling thread's memory policy (get_mempolicy). */
export function getMempolicy(): PolicyInfo {
  const native = binding()
  const m = mask()
  const rc = native.threadPolicy(maskBuffer())
  if (rc < 0) fail(rc, 'get_mempolicy')
  return decodePolicy(rc, maskIds(m))
}

/**
 * The nodes this thread may allocate on: its cpuset's mems (get_mempolicy MPOL_F_MEMS_ALLOWED).
 * Where a seccomp filter refuses get_mempolicy (Docker's default profile without CAP_SYS_NICE),
 * the same set as /proc prints it for this thread (Mems_allowed_list); where that cannot be read
 * either, the refusal is thrown.
 */
export function memsAllowed(): number[] {
  const native = binding()
  const m = mask()
  const rc = native.getMempolicy(maskBuffer(), maxnodeOut(), undefined, 0, constants.MPOL_F_MEMS_ALLOWED)
  if (rc >= 0) return maskIds(m)
  if ((rc === -EPERM || rc === -ENOSYS) && seccompFiltered()) {
    const listed = statusMemsAllowed()
    if (listed !== undefined) return listed
  }
  fail(rc, 'get_mempolicy')
}

/**
 * get_mempolicy(MPOL_F_NODE) with no address: the node the calling thread's interleave (or
 * weighted-interleave) policy allocates on next; undefined under any other policy (EINVAL).
 */
export function interleaveNext(): number | undefined {
  const rc = binding().getMempolicy(null, 0, undefined, 0, constants.MPOL_F_NODE)
  return rc < 0 ? undefined : rc
}

const MBIND_KEYS = knownKeys(['strict', 'move', 'moveAll'], {
  mpolmfstrict: 'strict',
  mpolmfmove: 'move',
  mpolmfmoveall: 'moveAll',
  moveshared: 'moveAll',
  all: 'moveAll',
  migrate: 'move',
  movepages: 'move',
  force: 'moveAll',
  mode: 'move',
})

function readOptions(options: unknown): number {
  if (options === undefined) return 0
  if (options === null || typeof options !== 'object') {
    throw invalidType(
      'options',
      'an object such as { move: true }',
      options,
      typeof options === 'number' ? 'MPOL_MF_* numbers are not taken here: write { strict, move, moveAll } as booleans' : undefined,
    )
  }
  // Each property read once, in this order, as args.readProps reads them (without its record object).
  let strict: unknown
  let move: unknown
  let moveAll: unknown
  let reading = 'strict'
  try {
    strict = (options as Record<string, unknown>).strict
    reading = 'move'
    move = (options as Record<string, unknown>).move
    reading = 'moveAll'
    moveAll = (options as Record<string, unknown>).moveAll
  } catch (err) {
    throw unreadable(`options.${reading}`, options, err)
  }
  checkKeys(options, MBIND_KEYS, 'options')
  let flags = 0
  if (strict !== undefined) {
    if (typeof strict !== 'boolean') throw invalidType('options.strict', 'of type boolean', strict)
    if (strict) flags |= constants.MPOL_MF_STRICT
  }
  if (move !== undefined) {
    if (typeof move !== 'boolean') throw invalidType('options.move', 'of type boolean', move)
    if (move) flags |= constants.MPOL_MF_MOVE
  }
  if (moveAll !== undefined) {
    if (typeof moveAll !== 'boolean') throw invalidType('options.moveAll', 'of type boolean', moveAll)
    if (moveAll) flags |= constants.MPOL_MF_MOVE_ALL
  }
  return flags
}

/** mbind and mbindAsync, before the native call: one validation and encoding, the nodemask filled. */
interface MbindCall {
  target: NativeMemory
  encoded: Encoded
  flags: number
  wide: WideMask | undefined
}

function prepareMbind(memory: Memory, policy: Policy, options: MbindOptions | undefined): MbindCall {
  const target = nativeMemory(memory)
  const encoded = encode(policy, 'policy')
  const flags = readOptions(options)
  const wide = fillFor(encoded)
  return { target, encoded, flags, wide }
}

/** mbind and mbindAsync, after the native call: one result mapping. */
function mbindResult(native: NativeBinding, call: MbindCall, rc: number, name: 'mbind' | 'mbindAsync'): Span {
  if (rc < 0) {
    if (rc === native.noWholePage) throw noWholePage(call.target, name)
    failRange(native, rc, 'mbind', { policy: call.encoded, moveFlags: call.flags })
  }
  // The addon gives the span as offset + length (binding.ts): no second read of the memory's length.
  const byteOffset = rc % pageSize
  return { byteOffset, byteLength: rc - byteOffset }
}

/**
 * Sets the policy of the whole pages inside `memory` (mbind), for every thread. Bytes of a page
 * that `memory` only partly covers are never touched; the span acted on is returned.
 */
export function mbind(memory: Memory, policy: Policy, options?: MbindOptions): Span {
  const native = binding()
  const call = prepareMbind(memory, policy, options)
  const rc =
    call.wide === undefined
      ? native.mbind(call.target, call.encoded.value, maskBuffer(), maxnodeIn(), call.flags)
      : native.mbind(call.target, call.encoded.value, call.wide.mask, call.wide.maxnode, call.flags)
  return mbindResult(native, call, rc, 'mbind')
}

/**
 * mbind() on the libuv pool, for `move` over large ranges: same arguments, validation and result.
 * Every error, invalid arguments included, rejects the promise. The memory is held until the call
 * ends. Only alloc() memory and SharedArrayBuffers can be held so (docs/memory-lifetime.md): for any
 * other ArrayBuffer, which can be detached and freed while the call waits, mbind is made before the
 * promise is returned.
 */
export async function mbindAsync(memory: Memory, policy: Policy, options?: MbindOptions): Promise<Span> {
  const native = binding()
  const call = prepareMbind(memory, policy, options)
  // The native call copies the scratch nodemask before it returns, so the next call may reuse it.
  const rc = await native.mbindAsync(
    call.target,
    call.encoded.value,
    call.wide?.mask ?? mask(),
    call.wide?.maxnode ?? maxnodeIn(),
    call.flags,
  )
  return mbindResult(native, call, rc, 'mbindAsync')
}

/** The range policy of the first whole page of `memory` (get_mempolicy MPOL_F_ADDR); 'default' if it has none. */
export function policyOf(memory: Memory): PolicyInfo {
  const native = binding()
  const target = nativeMemory(memory)
  const m = mask()
  const rc = native.getMempolicy(maskBuffer(), maxnodeOut(), target, -1, constants.MPOL_F_ADDR)
  if (rc < 0) {
    if (rc === native.noWholePage) throw noWholePage(target, 'policyOf')
    fail(rc, 'get_mempolicy')
  }
  return decodePolicy(rc, maskIds(m))
}

/**
 * The node holding the page at `byteOffset` in `memory` (get_mempolicy MPOL_F_NODE | MPOL_F_ADDR).
 * An untouched page is faulted in as a read first, which maps the shared zero page: write first.
 */
export function nodeOf(memory: Memory, byteOffset = 0): number {
  const native = binding()
  const target = nativeMemory(memory)
  if (typeof byteOffset !== 'number') throw invalidType('byteOffset', 'of type number', byteOffset)
  const byteLength = byteLengthOf(target)
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset >= byteLength) {
    throw outOfRange(
      'byteOffset',
      byteLength === 0 ? 'inside the memory, which is empty' : `an integer from 0 to ${byteLength - 1}`,
      byteOffset,
    )
  }
  const rc = native.nodeOf(target, byteOffset)
  if (rc < 0) fail(rc, 'get_mempolicy')
  return rc
}

/** Sets the home node of the whole pages inside `memory` (set_mempolicy_home_node); they must be bound with 'bind' or 'preferred-many'. */
export function setHomeNode(memory: Memory, node: number): void {
  const native = binding()
  const target = nativeMemory(memory)
  checkId(node, 'node', highestPossibleNode())
  const rc = native.setHomeNode(target, node)
  if (rc < 0) {
    if (rc === native.noWholePage) throw noWholePage(target, 'setHomeNode')
    failRange(native, rc, 'set_mempolicy_home_node')
  }
}

const ALLOC_KEYS = knownKeys(['hugePages'], {
  huge: 'hugePages',
  hugepage: 'hugePages',
  thp: 'hugePages',
  transparenthugepages: 'hugePages',
  transparenthugepage: 'hugePages',
  madvise: 'hugePages',
  hugetlb: 'hugePages',
  largepages: 'hugePages',
  largepage: 'hugePages',
})

/** alloc's options: -1 (leave transparent huge pages to the system), 0 (refuse them) or 1 (ask for them). */
function readAllocOptions(options: unknown): number {
  if (options === undefined) return -1
  if (options === null || typeof options !== 'object') {
    throw invalidType(
      'options',
      'an object such as { hugePages: true }',
      options,
      typeof options === 'boolean' ? `Write { hugePages: ${options} }` : undefined,
    )
  }
  const { hugePages } = readProps(options, ['hugePages'], 'options')
  checkKeys(options, ALLOC_KEYS, 'options')
  if (hugePages !== undefined && typeof hugePages !== 'boolean') {
    throw invalidType(
      'options.hugePages',
      'of type boolean',
      hugePages,
      typeof hugePages === 'string'
        ? "true asks for transparent huge pages (madvise), false refuses them; leave it out for the system's setting"
        : undefined,
    )
  }
  return hugePages === undefined ? -1 : hugePages ? 1 : 0
}

let hugePageSize: number | undefined

function pmdSize(): number {
  if (hugePageSize === undefined) {
    try {
      hugePageSize = Number(readFileSync('/sys/kernel/mm/transparent_hugepage/hpage_pmd_size', 'latin1')) || 2 << 20
    } catch {
      hugePageSize = 2 << 20
    }
  }
  return hugePageSize
}

/**
 * Page-aligned, zero-filled memory of its own mapping, placed by `policy` when first touched and
 * unmapped when collected.
 */
export function alloc(byteLength: number, policy?: Policy, options?: AllocOptions): Uint8Array {
  const native = binding()
  if (typeof byteLength !== 'number') throw invalidType('byteLength', 'of type number', byteLength)
  // The returned Uint8Array can be no longer than this Node.js allows (buffer.constants.MAX_LENGTH:
  // 4 GiB on Node 20, 2 ** 53 - 1 on Node 22 and later, where mmap sets the real limit).
  if (!Number.isSafeInteger(byteLength) || byteLength < 1 || byteLength > bufferConstants.MAX_LENGTH) {
    throw outOfRange(
      'byteLength',
      `an integer from 1 to ${bufferConstants.MAX_LENGTH} (the longest Uint8Array this Node.js ${process.version} allows)`,
      byteLength,
      Number.isSafeInteger(byteLength) && byteLength > bufferConstants.MAX_LENGTH
        ? 'Node.js 22 and later allow longer ones; here, split the memory over several alloc() calls'
        : byteLength === 0
          ? 'There is no empty mapping: ask for at least one byte (a whole page is mapped)'
          : undefined,
    )
  }
  const encoded = policy === undefined ? undefined : encode(policy, 'policy')
  const huge = readAllocOptions(options)
  mask()
  const wide = encoded === undefined ? undefined : fillFor(encoded)
  const result =
    wide === undefined
      ? native.alloc(byteLength, huge === 1 ? pmdSize() : 0, huge, encoded?.value ?? -1, maskBuffer(), maxnodeIn())
      : native.alloc(byteLength, huge === 1 ? pmdSize() : 0, huge, encoded!.value, wide.mask, wide.maxnode)
  if (!(result instanceof ArrayBuffer)) failRange(native, result.errno, result.syscall, { policy: encoded })
  remember(result, () => {
    const probe = native.alloc(1, 0, -1, -1, null, 0)
    return probe instanceof ArrayBuffer ? probe : undefined
  })
  return new Uint8Array(result)
}

/** "all" for parseNodes: the nodes with memory this thread may use. */
export function parseNodes(text: string): number[] {
  return parseIdList(text, 'text', allNodes)
}

let supported: boolean | undefined

/**
 * True where the kernel's memory-policy calls exist: Linux, the addon loaded, a kernel built with
 * NUMA support. Not whether this process may make them: under a container's seccomp profile it is
 * true while the calls are refused, and capabilities() says which are (docs/containers.md).
 */
export function isSupported(): boolean {
  if (supported === undefined) {
    const native = loaded()
    // libnuma's numa_available(): get_mempolicy(NULL, NULL, 0, 0, 0) fails only with ENOSYS or EPERM.
    // Under a filter that refuses it, the kernel's NUMA support shows in /proc/self/numa_maps.
    const rc = native === undefined ? -ENOSYS : native.getMempolicy(null, 0, undefined, 0, 0)
    supported = native !== undefined && (rc >= 0 || (seccompFiltered() && numaKernel() === true))
  }
  return supported
}
