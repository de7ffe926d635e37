// Node lists ("0-3,7", the syntax of numactl, cpusets and the OCI runtime spec) and nodemasks.
import { invalidType, invalidValue, outOfRange } from './errors'

/**
 * The largest node id a list may name. The kernel reads at most PAGE_SIZE * 8 mask bits and
 * MAX_NUMNODES is 1024 on common configurations; this bound keeps a hostile "0-4000000000" from
 * allocating gigabytes while leaving room for any real machine.
 */
export const MAX_NODE_ID = 32767

const SPACE = /\s/

/**
 * Parses a node list: decimal numbers and ranges separated by commas, with spaces allowed around
 * `,` and `-`. Returns ascending unique ids. `resolveAll` supplies the nodes for "all".
 */
export function parseNodeList(text: string, name: string, resolveAll: () => number[]): number[] {
  if (typeof text !== 'string') throw invalidType(name, 'of type string', text)
  const n = text.length
  let i = 0
  const skip = (): void => { while (i < n && SPACE.test(text[i]!)) i++ }
  skip()
  if (i === n) return []
  if (text.slice(i).trimEnd() === 'all') return resolveAll()
  const number = (): number => {
    const start = i
    let value = 0
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c < 48 || c > 57) break
      value = value * 10 + (c - 48)
      i++
    }
    if (i === start) {
      throw invalidValue(name, `must be a node list such as "0-3,7" (unexpected ${i < n ? JSON.stringify(text[i]) : 'end'} at ${i})`, text)
    }
    if (value > MAX_NODE_ID) throw outOfRange(name, `a list of node ids from 0 to ${MAX_NODE_ID}`, text)
    return value
  }
  // Common case: ranges ascending and disjoint, expanded straight into the result. Otherwise
  // (overlaps, any order) the ranges are merged through a bitmap.
  const nodes: number[] = []
  let ordered = true
  let ranges: number[] | undefined
  for (;;) {
    const first = number()
    skip()
    let last = first
    if (i < n && text[i] === '-') {
      i++
      skip()
      last = number()
      skip()
      if (last < first) throw invalidValue(name, `must not hold a descending range (${first}-${last})`, text)
    }
    if (ordered && (nodes.length === 0 || first > nodes[nodes.length - 1]!)) {
      for (let id = first; id <= last; id++) nodes.push(id)
    } else {
      ordered = false
      ;(ranges ??= []).push(first, last)
    }
    if (i === n) break
    if (text[i] !== ',') {
      throw invalidValue(name, `must be a node list such as "0-3,7" (unexpected ${JSON.stringify(text[i])} at ${i})`, text)
    }
    i++
    skip()
  }
  if (ranges === undefined) return nodes
  let highest = nodes.length === 0 ? 0 : nodes[nodes.length - 1]!
  for (let k = 1; k < ranges.length; k += 2) if (ranges[k]! > highest) highest = ranges[k]!
  const seen = new Uint8Array(highest + 1)
  for (const id of nodes) seen[id] = 1
  for (let k = 0; k < ranges.length; k += 2) seen.fill(1, ranges[k]!, ranges[k + 1]! + 1)
  const merged: number[] = []
  for (let id = 0; id <= highest; id++) if (seen[id] === 1) merged.push(id)
  return merged
}

/** Canonical list text: ascending, unique, consecutive runs of two or more collapsed ("0-3,7"). */
export function formatNodeList(nodes: Iterable<number>, name = 'nodes'): string {
  if (nodes === null || nodes === undefined || typeof nodes === 'string' ||
      typeof (nodes as Partial<Iterable<number>>)[Symbol.iterator] !== 'function') {
    throw invalidType(name, 'an iterable of node ids', nodes)
  }
  const ids: number[] = []
  let index = 0
  for (const id of nodes) {
    checkNodeId(id, `${name}[${index}]`, MAX_NODE_ID)
    ids.push(id)
    index++
  }
  ids.sort((a, b) => a - b)
  let out = ''
  for (let k = 0; k < ids.length;) {
    const start = ids[k]!
    let end = start
    k++
    while (k < ids.length && ids[k]! <= end + 1) { end = ids[k]!; k++ }
    out += (out === '' ? '' : ',') + (end === start ? `${start}` : `${start}-${end}`)
  }
  return out
}

export function checkNodeId(id: unknown, name: string, highest: number): asserts id is number {
  if (typeof id !== 'number') throw invalidType(name, 'of type number', id)
  if (!Number.isInteger(id) || id < 0 || id > highest) {
    throw outOfRange(name, `an integer from 0 to ${highest}${highest === MAX_NODE_ID ? '' : ' (the highest possible node)'}`, id)
  }
}

/** Sets the bits of `nodes` in a mask of 32-bit halves (cleared first). */
export function fillMask(mask: Uint32Array, nodes: readonly number[]): void {
  mask.fill(0)
  for (let k = 0; k < nodes.length; k++) {
    const id = nodes[k]!
    mask[id >>> 5]! |= 1 << (id & 31)
  }
}

/** The node ids whose bits are set, ascending. */
export function maskNodes(mask: Uint32Array): number[] {
  const nodes: number[] = []
  for (let half = 0; half < mask.length; half++) {
    let bits = mask[half]!
    while (bits !== 0) {
      const low = bits & -bits
      nodes.push(half * 32 + 31 - Math.clz32(low))
      bits ^= low
    }
  }
  return nodes
}
