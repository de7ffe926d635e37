// Thread policy, range policy and alloc(): validation, then one native call, then errno mapping.
import { constants as bufferConstants } from 'node:buffer'
import { readFileSync } from 'node:fs'
import { types } from 'node:util'
import { byteLengthOf, readProps, unreadable } from './args'
import { binding, loaded, type NativeBinding, type NativeMemory } from './binding'
import { constants } from './constants'
import { MempolicyError, invalidType, invalidValue, outOfRange } from './errors'
import { hintFor, type HintContext } from './hints'
import { checkId, fillMask, maskIds, maskWords, parseIdList } from './ids'
import { decodePolicy, encodePolicy, type Encoded, type Policy, type PolicyInfo } from './policy'
import { setProcessPolicy, type ProcessPolicyResult } from './process'
import { highestPossibleNode, nodeState } from './topology'

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

function noWholePage(memory: NativeMemory): RangeError {
  return outOfRange('memory.byteLength', `at least one whole page (${pageSize} bytes, page-aligned) inside the memory`, byteLengthOf(memory))
}

export interface SetMempolicyOptions {
  /**
   * 'thread' (the default): the calling thread only. 'process': every thread of the process now,
   * and so every thread created later (see ProcessPolicyResult and README "Threads").
   */
  scope?: 'thread' | 'process'
}

function readScope(options: unknown): 'thread' | 'process' {
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options)
  const { scope } = readProps(options, ['scope'], 'options')
  if (scope === undefined || scope === 'thread' || scope === 'process') return scope ?? 'thread'
  if (typeof scope !== 'string') throw invalidType('options.scope', 'of type string', scope)
  throw invalidValue('options.scope', "must be 'thread' or 'process'", scope)
}

/**
 * Sets the calling thread's memory policy (set_mempolicy); with `{ scope: 'process' }`, every
 * thread's, and returns which threads that reached.
 */
export function setMempolicy(policy: Policy, options: SetMempolicyOptions & { scope: 'process' }): ProcessPolicyResult
export function setMempolicy(policy: Policy, options?: SetMempolicyOptions & { scope?: 'thread' }): void
export function setMempolicy(policy: Policy, options?: SetMempolicyOptions): ProcessPolicyResult | undefined {
  const native = binding()
  const encoded = encode(policy, 'policy')
  const wholeProcess = options !== undefined && readScope(options) === 'process'
  const m = mask()
  fillMask(m, encoded.nodes)
  if (wholeProcess) return setProcessPolicy(native, encoded, m, maxnodeIn(), fail)
  const rc = native.setMempolicy(encoded.value, maskBuffer(), maxnodeIn())
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

/** The nodes this thread may allocate on: its cpuset's mems (get_mempolicy MPOL_F_MEMS_ALLOWED). */
export function memsAllowed(): number[] {
  const native = binding()
  const m = mask()
  const rc = native.getMempolicy(maskBuffer(), maxnodeOut(), undefined, 0, constants.MPOL_F_MEMS_ALLOWED)
  if (rc < 0) fail(rc, 'get_mempolicy')
  return maskIds(m)
}

/**
 * get_mempolicy(MPOL_F_NODE) with no address: the node the calling thread's interleave (or
 * weighted-interleave) policy allocates on next; undefined under any other policy (EINVAL).
 */
export function interleaveNext(): number | undefined {
  const rc = binding().getMempolicy(null, 0, undefined, 0, constants.MPOL_F_NODE)
  return rc < 0 ? undefined : rc
}

function readOptions(options: unknown): number {
  if (options === undefined) return 0
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options)
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
}

function prepareMbind(memory: Memory, policy: Policy, options: MbindOptions | undefined): MbindCall {
  const target = nativeMemory(memory)
  const encoded = encode(policy, 'policy')
  const flags = readOptions(options)
  fillMask(mask(), encoded.nodes)
  return { target, encoded, flags }
}

/** mbind and mbindAsync, after the native call: one result mapping. */
function mbindResult(native: NativeBinding, call: MbindCall, rc: number): Span {
  if (rc < 0) {
    if (rc === native.noWholePage) throw noWholePage(call.target)
    fail(rc, 'mbind', { policy: call.encoded, moveFlags: call.flags })
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
  return mbindResult(native, call, native.mbind(call.target, call.encoded.value, maskBuffer(), maxnodeIn(), call.flags))
}

/**
 * mbind() on the libuv pool, for `move` over large ranges: same arguments, validation and result.
 * Every error, invalid arguments included, rejects the promise. The memory is held until the call ends.
 */
export async function mbindAsync(memory: Memory, policy: Policy, options?: MbindOptions): Promise<Span> {
  const native = binding()
  const call = prepareMbind(memory, policy, options)
  // The native call copies the scratch nodemask before it returns, so the next call may reuse it.
  return mbindResult(native, call, await native.mbindAsync(call.target, call.encoded.value, mask(), maxnodeIn(), call.flags))
}

/** The range policy of the first whole page of `memory` (get_mempolicy MPOL_F_ADDR); 'default' if it has none. */
export function policyOf(memory: Memory): PolicyInfo {
  const native = binding()
  const target = nativeMemory(memory)
  const m = mask()
  const rc = native.rangePolicy(maskBuffer(), target)
  if (rc < 0) {
    if (rc === native.noWholePage) throw noWholePage(target)
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
    throw outOfRange('byteOffset', byteLength === 0
      ? 'inside the memory, which is empty'
      : `an integer from 0 to ${byteLength - 1}`, byteOffset)
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
    if (rc === native.noWholePage) throw noWholePage(target)
    fail(rc, 'set_mempolicy_home_node')
  }
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
  // An ArrayBuffer can be no longer than a Buffer (buffer.constants.MAX_LENGTH: 4 GiB on Node 20).
  if (!Number.isSafeInteger(byteLength) || byteLength < 1 || byteLength > bufferConstants.MAX_LENGTH) {
    throw outOfRange('byteLength', `an integer from 1 to ${bufferConstants.MAX_LENGTH}`, byteLength)
  }
  const encoded = policy === undefined ? undefined : encode(policy, 'policy')
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidType('options', 'an object', options)
  const { hugePages } = options === undefined ? { hugePages: undefined } : readProps(options, ['hugePages'], 'options')
  if (hugePages !== undefined && typeof hugePages !== 'boolean') throw invalidType('options.hugePages', 'of type boolean', hugePages)
  const m = mask()
  if (encoded !== undefined) fillMask(m, encoded.nodes)
  const huge = hugePages === undefined ? -1 : hugePages ? 1 : 0
  const result = native.alloc(byteLength, huge === 1 ? pmdSize() : 0, huge, encoded?.value ?? -1, maskBuffer(), maxnodeIn())
  if (!(result instanceof ArrayBuffer)) fail(result.errno, result.syscall, { policy: encoded })
  return new Uint8Array(result)
}

/** "all" for parseNodes: the nodes with memory this thread may use. */
export function parseNodes(text: string): number[] {
  return parseIdList(text, 'text', allNodes)
}

let supported: boolean | undefined

/** True where the kernel's memory-policy calls can be made: Linux, the addon loaded, get_mempolicy not refused. */
export function isSupported(): boolean {
  if (supported === undefined) {
    const native = loaded()
    // libnuma's numa_available(): get_mempolicy(NULL, NULL, 0, 0, 0) fails only with ENOSYS or EPERM.
    supported = native !== undefined && native.getMempolicy(null, 0, undefined, 0, 0) >= 0
  }
  return supported
}
