// Id sets: node and CPU lists ("0-3,7", the syntax of numactl, cpusets, sysfs and the OCI runtime
// spec), their canonical text, and the kernel's bitmasks of them (nodemasks, CPU masks) of any width.
// One module serves both kinds; only the bound and the words in messages differ.
import { types } from 'node:util'
import { unreadable } from './args'
import { invalidType, invalidValue, outOfRange } from './errors'

/**
 * The largest node id a list may name. The kernel reads at most PAGE_SIZE * 8 mask bits and
 * MAX_NUMNODES is 1024 on common configurations; this bound keeps a hostile "0-4000000000" from
 * allocating gigabytes while leaving room for any real machine.
 */
export const MAX_NODE_ID = 32767

/**
 * The largest CPU id a list may name: kernels are built for up to 8192 CPUs (x86 MAXSMP), and
 * sched_setaffinity takes masks of any length; the bound only keeps hostile lists small.
 */
export const MAX_CPU_ID = 65535

/** What a list holds: the word used in messages and the largest id it may name. */
export interface IdKind {
  readonly noun: 'node' | 'CPU'
  readonly max: number
}

export const NODE_IDS: IdKind = Object.freeze({ noun: 'node', max: MAX_NODE_ID })
export const CPU_IDS: IdKind = Object.freeze({ noun: 'CPU', max: MAX_CPU_ID })

/** JavaScript's `\s` (WhiteSpace and LineTerminator, what trimEnd removes), by char code, without a RegExp call. */
function isSpace(c: number): boolean {
  if (c <= 32) return c === 32 || (c >= 9 && c <= 13)
  if (c < 160) return false
  return (
    c === 160 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  )
}

/** Whether text[i..] is "all" followed only by spaces. */
function isAll(text: string, i: number, n: number): boolean {
  if (n - i < 3 || text.charCodeAt(i) !== 97 || text.charCodeAt(i + 1) !== 108 || text.charCodeAt(i + 2) !== 108) return false
  for (let k = i + 3; k < n; k++) if (!isSpace(text.charCodeAt(k))) return false
  return true
}

function unexpected(text: string, name: string, i: number, kind: IdKind): TypeError {
  return invalidValue(
    name,
    `must be a ${kind.noun} list such as "0-3,7" (unexpected ${i < text.length ? JSON.stringify(text[i]) : 'end'} at ${i})`,
    text,
  )
}

function beyond(text: string, name: string, kind: IdKind): RangeError {
  return outOfRange(name, `a list of ${kind.noun} ids from 0 to ${kind.max}`, text)
}

// 0, 1, 2, ...: an ascending run of ids is a copy of a slice of it (a block copy of a packed array,
// far cheaper than pushing the ids one by one). Grown on demand up to IDENTITY_LIMIT entries.
const IDENTITY_LIMIT = 4096
let identity: number[] = []

function identityUpTo(count: number): number[] {
  if (identity.length < count) {
    const grown = identity.slice()
    for (let id = grown.length, end = Math.min(IDENTITY_LIMIT, Math.max(count, 64, identity.length * 2)); id < end; id++) grown.push(id)
    identity = grown
  }
  return identity
}

// The (first, last) pairs of the list being parsed, reused from call to call: grown by doubling, and let
// go after a list of more than RANGES_KEPT / 2 ranges, so that one huge list is not kept alive. Ids
// are checked (at most the kind's largest id) before they are stored. Parsing runs no user code while it fills
// this, so it is never re-entered.
const RANGES_KEPT = 4096
let rangeScratch: Int32Array = new Int32Array(64)

function growRanges(): Int32Array {
  const grown = new Int32Array(rangeScratch.length * 2)
  grown.set(rangeScratch)
  rangeScratch = grown
  return grown
}

/**
 * Parses an id list: decimal numbers and ranges separated by commas, with spaces allowed around
 * `,` and `-`. Returns ascending unique ids. `resolveAll` supplies the ids for "all".
 */
export function parseIdList(text: string, name: string, resolveAll: () => number[], kind: IdKind = NODE_IDS): number[] {
  if (typeof text !== 'string') throw invalidType(name, 'of type string', text)
  const n = text.length
  let i = 0
  while (i < n && isSpace(text.charCodeAt(i))) i++
  if (i === n) return []
  if (isAll(text, i, n)) return resolveAll()
  // First pass: read and check every range (first, last pairs), each character read once (`c` is the
  // one at i, -1 at the end). Second pass: build the result, directly when the ranges are ascending
  // and disjoint (the common case), through a bitmap otherwise.
  let ranges = rangeScratch
  let r = 0
  let overflow: Uint8Array | undefined
  let ordered = true
  let count = 0
  let highest = -1
  let c = text.charCodeAt(i)
  for (;;) {
    if (c < 48 || c > 57) throw unexpected(text, name, i, kind)
    let first = c - 48
    c = ++i < n ? text.charCodeAt(i) : -1
    while (c >= 48 && c <= 57) {
      first = first * 10 + (c - 48)
      c = ++i < n ? text.charCodeAt(i) : -1
    }
    if (first > kind.max) throw beyond(text, name, kind)
    while (isSpace(c)) c = ++i < n ? text.charCodeAt(i) : -1
    let last = first
    if (c === 45) {
      c = ++i < n ? text.charCodeAt(i) : -1
      while (isSpace(c)) c = ++i < n ? text.charCodeAt(i) : -1
      if (c < 48 || c > 57) throw unexpected(text, name, i, kind)
      last = c - 48
      c = ++i < n ? text.charCodeAt(i) : -1
      while (c >= 48 && c <= 57) {
        last = last * 10 + (c - 48)
        c = ++i < n ? text.charCodeAt(i) : -1
      }
      if (last > kind.max) throw beyond(text, name, kind)
      while (isSpace(c)) c = ++i < n ? text.charCodeAt(i) : -1
      if (last < first) throw invalidValue(name, `must not hold a descending range (${first}-${last})`, text)
    }
    if (first <= highest) ordered = false
    if (last > highest) highest = last
    count += last - first + 1
    if (r === ranges.length) ranges = growRanges()
    ranges[r++] = first
    ranges[r++] = last
    // More ranges than ids means repeats: fold them into the bitmap, so that a huge text ("0,0,0,...")
    // never grows `ranges` past what V8 can hold (that is a fatal error, not an exception).
    if (r > 2 * (kind.max + 1)) {
      overflow ??= new Uint8Array(kind.max + 1)
      for (let q = 0; q < r; q += 2) overflow.fill(1, ranges[q]!, ranges[q + 1]! + 1)
      r = 0
    }
    if (c === -1) break
    if (c !== 44) throw unexpected(text, name, i, kind)
    c = ++i < n ? text.charCodeAt(i) : -1
    while (isSpace(c)) c = ++i < n ? text.charCodeAt(i) : -1
  }
  if (ranges.length > RANGES_KEPT) rangeScratch = new Int32Array(64)
  if (ordered) {
    if (highest < IDENTITY_LIMIT) {
      const ids = identityUpTo(highest + 1)
      if (r === 2) return ids.slice(ranges[0]!, highest + 1)
      // A packed array of the right length, then overwritten in place: it stays packed.
      const nodes = ids.slice(0, count)
      let k = 0
      for (let q = 0; q < r; q += 2) {
        for (let id = ranges[q]!, last = ranges[q + 1]!; id <= last; id++) nodes[k++] = id
      }
      return nodes
    }
    const nodes: number[] = []
    for (let q = 0; q < r; q += 2) {
      for (let id = ranges[q]!, last = ranges[q + 1]!; id <= last; id++) nodes.push(id)
    }
    return nodes
  }
  const seen = overflow ?? new Uint8Array(highest + 1)
  for (let q = 0; q < r; q += 2) seen.fill(1, ranges[q]!, ranges[q + 1]! + 1)
  const merged: number[] = []
  for (let id = 0; id <= highest; id++) if (seen[id] === 1) merged.push(id)
  return merged
}

// Array.prototype[Symbol.iterator] and the array iterator's next, as the realm started with them.
const ARRAY_VALUES: unknown = Array.prototype[Symbol.iterator]
const ARRAY_ITERATOR = Object.getPrototypeOf([][Symbol.iterator]()) as { next: unknown; return?: unknown }
const ARRAY_ITERATOR_NEXT = ARRAY_ITERATOR.next

/**
 * Ids as ascending runs (first, last pairs) while they arrive ascending, as they do from any sorted
 * list; in a bitmap from the first one out of order or repeated. Either way its size is bounded by
 * the kind's largest id, whatever an iterator yields.
 */
class Runs {
  runs: number[] = []
  seen: Uint8Array | undefined = undefined

  constructor(readonly max: number) {}

  add(id: number): void {
    const seen = this.seen
    if (seen !== undefined) {
      seen[id] = 1
      return
    }
    const runs = this.runs
    const n = runs.length
    if (n === 0 || id > runs[n - 1]! + 1) {
      runs.push(id, id)
    } else if (id === runs[n - 1]! + 1) {
      runs[n - 1] = id
    } else {
      const bitmap = new Uint8Array(this.max + 1)
      for (let r = 0; r < n; r += 2) bitmap.fill(1, runs[r]!, runs[r + 1]! + 1)
      bitmap[id] = 1
      this.seen = bitmap
    }
  }

  text(): string {
    let runs = this.runs
    const seen = this.seen
    if (seen !== undefined) {
      runs = []
      for (let id = 0; id <= this.max; id++) {
        if (seen[id] !== 1) continue
        const first = id
        while (id < this.max && seen[id + 1] === 1) id++
        runs.push(first, id)
      }
    }
    let out = ''
    for (let r = 0; r < runs.length; r += 2) {
      const first = runs[r]!
      const last = runs[r + 1]!
      out += (r === 0 ? '' : ',') + (last === first ? `${first}` : `${first}-${last}`)
    }
    return out
  }
}

function isValidId(id: unknown, max: number): id is number {
  return typeof id === 'number' && id >= 0 && id <= max && Number.isInteger(id)
}

/** Canonical list text: ascending, unique, consecutive runs of two or more collapsed ("0-3,7"). */
export function formatIdList(nodes: Iterable<number>, name = 'nodes', kind: IdKind = NODE_IDS): string {
  const expected = `an iterable of ${kind.noun} ids`
  if (nodes === null || nodes === undefined || typeof nodes === 'string') throw invalidType(name, expected, nodes)
  // The iterator method is read once; a throwing getter, iterator or Proxy trap is the caller's error,
  // wrapped. Ids go into Runs, so even an endless iterator cannot grow memory.
  let method: unknown
  try {
    method = (nodes as Partial<Iterable<number>>)[Symbol.iterator]
  } catch (err) {
    throw unreadable(name, nodes, err)
  }
  if (typeof method !== 'function') throw invalidType(name, expected, nodes)
  const runs = new Runs(kind.max)
  let index = 0
  if (
    method === ARRAY_VALUES &&
    ARRAY_ITERATOR.next === ARRAY_ITERATOR_NEXT &&
    ARRAY_ITERATOR.return === undefined &&
    !types.isProxy(nodes) &&
    Array.isArray(nodes)
  ) {
    // An array with the built-in iterator: the same reads it would make (length before each element),
    // without an iterator object and a result object per element.
    // While the ids ascend, the current run is kept in `first`..`last` and stored when a gap ends it;
    // from the first id out of order, Runs takes over.
    const array = nodes as readonly unknown[]
    let id: unknown
    let valid = true
    let sorted = true
    let first = -1
    let last = -2
    try {
      for (; index < array.length; index++) {
        id = array[index]
        if (!isValidId(id, kind.max)) {
          valid = false
          break
        }
        if (sorted) {
          if (id === last + 1) {
            last = id
            continue
          }
          if (first >= 0) runs.runs.push(first, last)
          if (id > last) {
            first = last = id
            continue
          }
          sorted = false
        }
        runs.add(id)
      }
    } catch (err) {
      throw unreadable(name, nodes, err)
    }
    if (!valid) checkId(id, `${name}[${index}]`, kind.max, kind)
    if (sorted && first >= 0) runs.runs.push(first, last)
    return runs.text()
  }
  let invalid = false
  try {
    for (const id of { [Symbol.iterator]: () => Reflect.apply(method as () => Iterator<unknown>, nodes, []) }) {
      try {
        checkId(id, `${name}[${index}]`, kind.max, kind)
      } catch (err) {
        invalid = true
        throw err
      }
      runs.add(id)
      index++
    }
  } catch (err) {
    throw invalid ? err : unreadable(name, nodes, err)
  }
  return runs.text()
}

/**
 * Checks one id: an integer from 0 to `highest`. Where `highest` is the machine's own bound (below
 * the kind's), the message says so.
 */
export function checkId(id: unknown, name: string, highest: number, kind: IdKind = NODE_IDS): asserts id is number {
  if (typeof id !== 'number') throw invalidType(name, 'of type number', id)
  if (!Number.isInteger(id) || id < 0 || id > highest) {
    throw outOfRange(name, `an integer from 0 to ${highest}${highest === kind.max ? '' : ` (the highest possible ${kind.noun})`}`, id)
  }
}

// Masks: the kernel's bitmaps (unsigned long arrays) as whole 64-bit words held in 32-bit halves,
// low half first, which is what the addon passes on (docs/kernel.md, "Masks").

/** 64-bit words of a mask that holds ids 0 to `highest` (at least one). */
export function maskWords(highest: number): number {
  return Math.max(1, Math.ceil((highest + 1) / 64))
}

/** A cleared mask for ids 0 to `highest`, in whole 64-bit words. */
export function newMask(highest: number): Uint32Array {
  return new Uint32Array(maskWords(highest) * 2)
}

/** Sets the bits of `nodes` in a mask of 32-bit halves (cleared first). */
export function fillMask(mask: Uint32Array, nodes: readonly number[]): void {
  // A loop for the usual one- to sixteen-word masks: cheaper than calling the fill builtin.
  if (mask.length <= 32) {
    for (let k = 0; k < mask.length; k++) mask[k] = 0
  } else {
    mask.fill(0)
  }
  for (let k = 0; k < nodes.length; k++) {
    const id = nodes[k]!
    mask[id >>> 5]! |= 1 << (id & 31)
  }
}

/** The ids whose bits are set, ascending. */
export function maskIds(mask: Uint32Array): number[] {
  // Counted first, so the array is made at its size (growing one from empty costs more than the rest).
  let count = 0
  for (let half = 0; half < mask.length; half++) {
    let bits = mask[half]!
    while (bits !== 0) {
      bits &= bits - 1
      count++
    }
  }
  const nodes = new Array<number>(count)
  let k = 0
  for (let half = 0; k < count; half++) {
    let bits = mask[half]!
    while (bits !== 0) {
      const low = bits & -bits
      nodes[k++] = half * 32 + 31 - Math.clz32(low)
      bits ^= low
    }
  }
  return nodes
}
