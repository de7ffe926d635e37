// Thread policy, range policy and alloc(): validation, then one native call, then errno mapping.
import { readFileSync } from 'node:fs'
import { types } from 'node:util'
import { binding, loaded, type NativeMemory } from './binding'
import { constants } from './constants'
import { MempolicyError, invalidType, outOfRange } from './errors'
import { hintFor, type HintContext } from './hints'
import { checkNodeId, fillMask, maskNodes, parseNodeList } from './nodes'
import { decodePolicy, encodePolicy, type Encoded, type Policy, type PolicyInfo } from './policy'
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
// thread) and reused by every call.
let maskWords = 0
let scratch: Uint32Array | undefined

function mask(): Uint32Array {
  if (scratch === undefined) {
    maskWords = Math.max(1, Math.ceil((highestPossibleNode() + 1) / 64))
    scratch = new Uint32Array(maskWords * 2)
  }
  return scratch
}

/** maxnode for calls that read a mask: the kernel uses maxnode - 1 bits (KERNEL.md A3). */
function maxnodeIn(): number {
  return maskWords * 64 + 1
}

/** maxnode for get_mempolicy, which writes ALIGN(maxnode - 1, 64) / 8 bytes. */
function maxnodeOut(): number {
  return maskWords * 64
}

function fail(errno: number, syscall: string, context?: HintContext): never {
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

function nativeMemory(memory: unknown, name = 'memory'): NativeMemory {
  if (ArrayBuffer.isView(memory) || memory instanceof ArrayBuffer || types.isArrayBuffer(memory)) return memory as NativeMemory
  if (types.isSharedArrayBuffer(memory)) return new Uint8Array(memory)
  throw invalidType(name, 'an ArrayBuffer, SharedArrayBuffer, TypedArray, DataView or Buffer', memory)
}

function noWholePage(memory: NativeMemory): RangeError {
  return outOfRange('memory.byteLength', `at least one whole page (${pageSize} bytes, page-aligned) inside the memory`, memory.byteLength)
}

/** Sets the calling thread's memory policy (set_mempolicy). */
export function setMempolicy(policy: Policy): void {
  const native = binding()
  const encoded = encode(policy, 'policy')
  const m = mask()
  fillMask(m, encoded.nodes)
  const rc = native.setMempolicy(encoded.value, m, maxnodeIn())
  if (rc !== 0) fail(rc, 'set_mempolicy', { policy: encoded })
}

/** The calling thread's memory policy (get_mempolicy). */
export function getMempolicy(): PolicyInfo {
  const native = binding()
  const m = mask()
  const rc = native.getMempolicy(m, maxnodeOut(), undefined, 0, 0)
  if (rc < 0) fail(rc, 'get_mempolicy')
  return decodePolicy(rc, maskNodes(m))
}

/** The nodes this thread may allocate on: its cpuset's mems (get_mempolicy MPOL_F_MEMS_ALLOWED). */
export function memsAllowed(): number[] {
  const native = binding()
  const m = mask()
  const rc = native.getMempolicy(m, maxnodeOut(), undefined, 0, constants.MPOL_F_MEMS_ALLOWED)
  if (rc < 0) fail(rc, 'get_mempolicy')
  return maskNodes(m)
}

function readOptions(options: unknown): number {
  if (options === undefined) return 0
  if (options === null || typeof options !== 'object') throw invalidType('options', 'an object', options)
  const { strict, move, moveAll } = options as Record<string, unknown>
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

function wholePages(memory: NativeMemory, head: number): Span {
  const rest = memory.byteLength - head
  return { byteOffset: head, byteLength: rest - (rest % pageSize) }
}

/**
 * Sets the policy of the whole pages inside `memory` (mbind), for every thread. Bytes of a page
 * that `memory` only partly covers are never touched; the span acted on is returned.
 */
export function mbind(memory: Memory, policy: Policy, options?: MbindOptions): Span {
  const native = binding()
  const target = nativeMemory(memory)
  const encoded = encode(policy, 'policy')
  const flags = readOptions(options)
  const m = mask()
  fillMask(m, encoded.nodes)
  const rc = native.mbind(target, encoded.value, m, maxnodeIn(), flags)
  if (rc < 0) {
    if (rc === native.noWholePage) throw noWholePage(target)
    fail(rc, 'mbind', { policy: encoded, moveFlags: flags })
  }
  return wholePages(target, rc)
}

/** The range policy of the first whole page of `memory` (get_mempolicy MPOL_F_ADDR); 'default' if it has none. */
export function policyOf(memory: Memory): PolicyInfo {
  const native = binding()
  const target = nativeMemory(memory)
  const m = mask()
  const rc = native.getMempolicy(m, maxnodeOut(), target, -1, constants.MPOL_F_ADDR)
  if (rc < 0) {
    if (rc === native.noWholePage) throw noWholePage(target)
    fail(rc, 'get_mempolicy')
  }
  return decodePolicy(rc, maskNodes(m))
}

/**
 * The node holding the page at `byteOffset` in `memory` (get_mempolicy MPOL_F_NODE | MPOL_F_ADDR).
 * An untouched page is faulted in as a read first, which maps the shared zero page: write first.
 */
export function nodeOf(memory: Memory, byteOffset = 0): number {
  const native = binding()
  const target = nativeMemory(memory)
  if (typeof byteOffset !== 'number') throw invalidType('byteOffset', 'of type number', byteOffset)
  if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset >= target.byteLength) {
    throw outOfRange('byteOffset', target.byteLength === 0
      ? 'inside the memory, which is empty'
      : `an integer from 0 to ${target.byteLength - 1}`, byteOffset)
  }
  const rc = native.getMempolicy(null, 0, target, byteOffset, constants.MPOL_F_NODE | constants.MPOL_F_ADDR)
  if (rc < 0) fail(rc, 'get_mempolicy')
  return rc
}

/** Sets the home node of the whole pages inside `memory` (set_mempolicy_home_node); they must be bound with 'bind' or 'preferred-many'. */
export function setHomeNode(memory: Memory, node: number): void {
  const native = binding()
  const target = nativeMemory(memory)
  checkNodeId(node, 'node', highestPossibleNode())
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
  if (!Number.isSafeInteger(byteLength) || byteLength < 1) {
    throw outOfRange('byteLength', `an integer from 1 to ${Number.MAX_SAFE_INTEGER}`, byteLength)
  }
  const encoded = policy === undefined ? undefined : encode(policy, 'policy')
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidType('options', 'an object', options)
  const hugePages: unknown = options?.hugePages
  if (hugePages !== undefined && typeof hugePages !== 'boolean') throw invalidType('options.hugePages', 'of type boolean', hugePages)
  const m = mask()
  if (encoded !== undefined) fillMask(m, encoded.nodes)
  const huge = hugePages === undefined ? -1 : hugePages ? 1 : 0
  const result = native.alloc(byteLength, huge === 1 ? pmdSize() : 0, huge, encoded?.value ?? -1, m, maxnodeIn())
  if (!(result instanceof ArrayBuffer)) fail(result.errno, result.syscall, { policy: encoded })
  return new Uint8Array(result)
}

/** "all" for parseNodes: the nodes with memory this thread may use. */
export function parseNodes(text: string): number[] {
  return parseNodeList(text, 'text', allNodes)
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
