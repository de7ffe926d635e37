// What to say when memory holds no whole page for a range call (mbind, mbindAsync, policyOf,
// setHomeNode): detached, empty, smaller than a page, or page-sized but not page-aligned, with where
// it starts and what to pass instead. Only on the error path; every read uses the built-in getters,
// never the caller's own properties (docs/validation.md, "Memory").
import { types } from 'node:util'
import { isAllocated } from './allocated'
import { byteLengthOf } from './args'
import type { NativeBinding, NativeMemory } from './binding'
import { outOfRange, outOfRangeAs } from './errors'

const apply = Reflect.apply
type Getter = (this: unknown) => unknown
const getter = (proto: object, key: string): Getter | undefined => Object.getOwnPropertyDescriptor(proto, key)?.get as Getter | undefined
const typedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object
const typedArrayBuffer = getter(typedArrayPrototype, 'buffer')!
const typedArrayByteOffset = getter(typedArrayPrototype, 'byteOffset')!
const dataViewBuffer = getter(DataView.prototype, 'buffer')!
const dataViewByteOffset = getter(DataView.prototype, 'byteOffset')!
// ES2024 (Node 22+); on Node 20 a detached buffer is told apart by refusing a view.
const arrayBufferDetached = getter(ArrayBuffer.prototype, 'detached')
const arrayBufferResizable = getter(ArrayBuffer.prototype, 'resizable')

/** The buffer under memory, and where memory starts in it (0 for a buffer itself). */
function under(memory: NativeMemory): { buffer: ArrayBufferLike; offset: number } {
  try {
    if (types.isTypedArray(memory))
      return { buffer: apply(typedArrayBuffer, memory, []) as ArrayBufferLike, offset: apply(typedArrayByteOffset, memory, []) as number }
    if (types.isDataView(memory))
      return { buffer: apply(dataViewBuffer, memory, []) as ArrayBufferLike, offset: apply(dataViewByteOffset, memory, []) as number }
  } catch {
    // A DataView outside its (resized or detached) buffer has no offset.
    return { buffer: apply(dataViewBuffer, memory, []) as ArrayBufferLike, offset: 0 }
  }
  return { buffer: memory as ArrayBuffer, offset: 0 }
}

export function isDetached(buffer: ArrayBufferLike): boolean {
  if (!types.isArrayBuffer(buffer)) return false
  if (arrayBufferDetached !== undefined) return apply(arrayBufferDetached, buffer, []) === true
  if (byteLengthOf(buffer) !== 0) return false
  try {
    new Uint8Array(buffer)
    return false
  } catch {
    return true
  }
}

function isResizable(buffer: ArrayBufferLike): boolean {
  return types.isArrayBuffer(buffer) && arrayBufferResizable !== undefined && apply(arrayBufferResizable, buffer, []) === true
}

/**
 * How far past a page boundary memory starts (0 to page - 1), or undefined where that cannot be
 * found. alloc() memory starts on one; for other memory, move_pages in query mode (which changes
 * nothing) counts the pages that the first k bytes overlap, and the least k that reaches a second
 * page is one past the first boundary. Refused calls (a seccomp filter) leave it unknown.
 */
export function pageOffset(memory: NativeMemory, native: NativeBinding, page: number): number | undefined {
  const { buffer, offset } = under(memory)
  if (isAllocated(buffer)) return offset % page
  const length = byteLengthOf(memory)
  if (length < 2) return undefined
  let bytes: Uint8Array
  try {
    bytes = new Uint8Array(buffer, offset, length)
  } catch {
    return undefined
  }
  const pages = (k: number): number | undefined => {
    const result = native.pageNodes(bytes.subarray(0, k))
    return typeof result === 'number' ? undefined : result.length
  }
  // pages(k) is 1 up to the first boundary and 2 past it; the first boundary is within one page.
  let low = 1
  let high = Math.min(length, page)
  const atHigh = pages(high)
  if (atHigh === undefined) return undefined
  if (atHigh === 1) return high === page ? 0 : undefined
  while (low < high) {
    const mid = (low + high) >>> 1
    const count = pages(mid)
    if (count === undefined) return undefined
    if (count >= 2) high = mid
    else low = mid + 1
  }
  // The first `low - 1` bytes end at the boundary.
  return page - (low - 1)
}

/**
 * The RangeError for memory with no whole page inside. `call` names the call, `acts` what it does
 * with whole pages ('acts only on the whole pages inside memory').
 */
export function noWholePage(memory: NativeMemory, native: NativeBinding, page: number, call: string, acts: string): RangeError {
  const length = byteLengthOf(memory)
  const { buffer } = under(memory)
  const fresh = `For memory of its own, page-aligned, use alloc(byteLength)`
  if (length === 0 && isDetached(buffer)) {
    return outOfRangeAs(
      'memory',
      `memory that is not detached: ${call} ${acts}`,
      'a detached ArrayBuffer',
      `Its ArrayBuffer was transferred (postMessage, structuredClone or transfer()) and has no bytes here any more: use it where it was transferred to. ${fresh}`,
    )
  }
  if (length === 0) {
    const resized = isResizable(buffer)
      ? ` (or a view its resizable ArrayBuffer, now ${byteLengthOf(buffer)} bytes, no longer reaches)`
      : ''
    return outOfRange(
      'memory.byteLength',
      `at least one page (${page} bytes): ${call} ${acts}`,
      0,
      `The memory is empty${resized}. ${fresh}`,
    )
  }
  if (length < page) {
    return outOfRange(
      'memory.byteLength',
      `at least one page (${page} bytes): ${call} ${acts}`,
      length,
      `Memory smaller than a page never holds a whole one. ${fresh}`,
    )
  }
  const start = pageOffset(memory, native, page)
  const need = start === undefined ? 2 * page - 1 : page - start + page
  const where =
    start === undefined
      ? 'does not start on a page boundary (memory from new ArrayBuffer(), Buffer or a typed array is placed by the allocator, not page-aligned)'
      : `starts ${start} bytes past a page boundary, so its first whole page would end ${need} bytes in`
  return outOfRangeAs(
    'memory',
    `page-aligned memory holding at least one whole page (${page} bytes): ${call} ${acts}`,
    `${length} bytes that hold no whole page`,
    `The memory ${where}. ${fresh}, or pass at least ${need} bytes from the same start`,
  )
}
