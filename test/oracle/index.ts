/**
 * Placement oracle for tests, independent of the package's own code:
 * - `pageNodes` asks the kernel where each page lives (`move_pages` in query mode, through a tiny C
 *   addon of its own, oracle.c, compiled on first use into test/oracle/build/);
 * - `numaMapsLine` reads the same facts a second way, from `/proc/self/numa_maps`.
 */
import { readFileSync } from 'node:fs'

import { ensureOracleBuilt } from './build.mjs'

export type Memory = ArrayBuffer | ArrayBufferView

interface OracleNative {
  pageNodes(memory: Memory): Int32Array
  address(memory: Memory): bigint
  gettid(): number
  pageSize(): number
  mapIsolated(bytes: number): ArrayBuffer
}

/** `move_pages` status for a page that is not present (never touched, or swapped out). */
export const ENOENT_STATUS = -2
/** `move_pages` status for the zero page (read but never written) or an address without a VMA. */
export const EFAULT_STATUS = -14

let native: OracleNative | undefined

/** Loads (compiling first if needed) the oracle addon. */
export function oracle(): OracleNative {
  if (!native) {
    const module = { exports: {} }
    process.dlopen(module, ensureOracleBuilt())
    native = module.exports as OracleNative
  }
  return native
}

/** Path of the compiled addon, for child processes (`process.dlopen(module, oracleAddonPath())`). */
export function oracleAddonPath(): string {
  return ensureOracleBuilt()
}

/**
 * One `move_pages(0, n, pages, NULL, status, 0)` status per page overlapping `memory`: the node id, or a
 * negative errno (-2 not present, -14 zero page or no VMA).
 */
export function pageNodes(memory: Memory): Int32Array {
  return oracle().pageNodes(memory)
}

/** Pages per node of `memory`, from `pageNodes`; negative statuses (not present, zero page) are left out. */
export function countByNode(memory: Memory): Map<number, number> {
  return countStatuses(pageNodes(memory))
}

/** Pages per node of an array of `move_pages` statuses (negative ones left out), sorted by node. */
export function countStatuses(statuses: ArrayLike<number>): Map<number, number> {
  const counts = new Map<number, number>()
  for (let i = 0; i < statuses.length; i++) {
    const node = statuses[i]!
    if (node >= 0) counts.set(node, (counts.get(node) ?? 0) + 1)
  }
  return new Map([...counts].sort((a, b) => a[0] - b[0]))
}

/** Address of the first byte of `memory`. */
export function address(memory: Memory): bigint {
  return oracle().address(memory)
}

/** The calling thread's kernel thread id. */
export function gettid(): number {
  return oracle().gettid()
}

export function pageSize(): number {
  return oracle().pageSize()
}

/**
 * A fresh anonymous mapping of `bytes` (rounded up to pages) between two PROT_NONE guard pages: a VMA of
 * its own, so `numaMapsLine` describes exactly this buffer. Pages are not present until written.
 */
export function mapIsolated(bytes: number): ArrayBuffer {
  return oracle().mapIsolated(bytes)
}

function byteLength(memory: Memory): number {
  return memory.byteLength
}

// -------------------------------------------------------------------------------------------------
// /proc/<pid>/numa_maps

const POLICY_MODES = ['weighted interleave', 'prefer (many)', 'interleave', 'default', 'prefer', 'local', 'bind'] as const

export interface NumaMapsEntry {
  /** VMA start (the numa_maps key) and end (from /proc/self/maps). */
  start: bigint
  end: bigint
  /** The policy field as printed, e.g. `default`, `bind:1-2`, `prefer (many)=relative|balancing:0,3`. */
  policy: string
  /** The mode alone: `default`, `prefer`, `bind`, `interleave`, `local`, `prefer (many)`, `weighted interleave`. */
  mode: string
  /** Mode flags (`static`, `relative`, `balancing`), if printed. */
  flags: string[]
  /** Node list of the policy (`0-3,5` expanded), empty if none printed. */
  policyNodes: number[]
  /** Pages per node (`N<node>=<pages>`), in units of `pageSizeKiB`. */
  nodes: Map<number, number>
  /** Every other `key=value` field (anon, dirty, mapped, active, file, kernelpagesize_kB, ...). */
  fields: Record<string, string>
  /** Flag tokens without a value: heap, stack, huge. */
  tags: string[]
  pageSizeKiB: number | undefined
  raw: string
}

/** Expands a kernel node list such as `0-3,5` (empty string: no nodes). */
export function parseNodeList(text: string): number[] {
  const nodes: number[] = []
  for (const part of text.trim().split(',')) {
    if (part === '') continue
    const m = /^(\d+)(?:-(\d+))?$/.exec(part)
    if (!m) throw new Error(`oracle: bad node list ${JSON.stringify(text)}`)
    const lo = Number(m[1])
    const hi = m[2] === undefined ? lo : Number(m[2])
    for (let n = lo; n <= hi; n++) nodes.push(n)
  }
  return nodes
}

/**
 * Parses one `/proc/<pid>/numa_maps` line. The policy is recognised before splitting, since two mode
 * names contain a space (`prefer (many)`, `weighted interleave`).
 */
export function parseNumaMapsLine(line: string, end?: bigint): NumaMapsEntry {
  const m = /^([0-9a-f]+) (.*)$/.exec(line.trimEnd())
  if (!m) throw new Error(`oracle: unexpected numa_maps line ${JSON.stringify(line)}`)
  const start = BigInt(`0x${m[1]}`)
  const rest = m[2]!
  let policy: string | undefined
  let mode: string | undefined
  for (const candidate of POLICY_MODES) {
    const re = new RegExp(`^(${candidate.replace(/[()]/g, '\\$&')})(?:=([a-z|]+))?(?::([0-9,-]*))?(?= |$)`)
    const pm = re.exec(rest)
    if (pm) {
      policy = pm[0]
      mode = pm[1]!
      break
    }
  }
  if (policy === undefined || mode === undefined) {
    // A mode this parser does not know: take the first token as the policy.
    policy = rest.split(' ')[0]!
    mode = policy.split(/[=:]/)[0]!
  }
  const flagsMatch = /=([a-z|]+)/.exec(policy.slice(mode.length))
  const listMatch = /:([0-9,-]*)$/.exec(policy.slice(mode.length))
  const entry: NumaMapsEntry = {
    start,
    end: end ?? start,
    policy,
    mode,
    flags: flagsMatch ? flagsMatch[1]!.split('|') : [],
    policyNodes: listMatch ? parseNodeList(listMatch[1]!) : [],
    nodes: new Map(),
    fields: {},
    tags: [],
    pageSizeKiB: undefined,
    raw: line,
  }
  for (const token of rest.slice(policy.length).split(/[ \t]+/)) {
    if (token === '') continue
    const eq = token.indexOf('=')
    if (eq < 0) {
      entry.tags.push(token)
      continue
    }
    const key = token.slice(0, eq)
    const value = token.slice(eq + 1)
    const nm = /^N(\d+)$/.exec(key)
    if (nm) entry.nodes.set(Number(nm[1]), Number(value))
    else entry.fields[key] = value
  }
  if (entry.fields.kernelpagesize_kB !== undefined) entry.pageSizeKiB = Number(entry.fields.kernelpagesize_kB)
  return entry
}

interface Vma {
  start: bigint
  end: bigint
}

function readMaps(pid: string): Vma[] {
  const vmas: Vma[] = []
  for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line)
    if (m) vmas.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`) })
  }
  return vmas
}

export interface NumaMapsResult {
  /** Policy of the first VMA covering the buffer (see `policies` when there are several). */
  policy: string
  policies: string[]
  /** Pages per node summed over the covering VMA(s): these may be larger than the buffer. */
  nodes: Map<number, number>
  entries: NumaMapsEntry[]
}

/**
 * The `numa_maps` line(s) of the VMA(s) covering `memory`, from `/proc/self/numa_maps` (or
 * `/proc/self/task/<tid>/numa_maps` when `tid` is given: a default-policy VMA then shows that thread's
 * policy). VMAs are matched by their start-end range in the matching `maps` file. A VMA can be larger
 * than the buffer (neighbouring anonymous mappings merge): use `mapIsolated` to get a VMA of its own.
 */
export function numaMapsLine(memory: Memory, options: { tid?: number } = {}): NumaMapsResult {
  const base = address(memory)
  const length = BigInt(Math.max(byteLength(memory), 1))
  const procDir = options.tid === undefined ? 'self' : `self/task/${options.tid}`
  for (let attempt = 0; ; attempt++) {
    // maps and numa_maps are two reads: retry if another thread changed the mappings in between.
    const vmas = readMaps(procDir).filter((v) => v.start < base + length && v.end > base)
    const lines = new Map<bigint, string>()
    for (const line of readFileSync(`/proc/${procDir}/numa_maps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+) /.exec(line)
      if (m) lines.set(BigInt(`0x${m[1]}`), line)
    }
    if (vmas.length > 0 && vmas.every((v) => lines.has(v.start))) {
      const entries = vmas.map((v) => parseNumaMapsLine(lines.get(v.start)!, v.end))
      const nodes = new Map<number, number>()
      for (const e of entries) for (const [n, c] of e.nodes) nodes.set(n, (nodes.get(n) ?? 0) + c)
      return {
        policy: entries[0]!.policy,
        policies: entries.map((e) => e.policy),
        nodes: new Map([...nodes].sort((a, b) => a[0] - b[0])),
        entries,
      }
    }
    if (attempt >= 4) {
      throw new Error(`oracle: no numa_maps line for the buffer at 0x${base.toString(16)} (+${length}) in /proc/${procDir}`)
    }
  }
}

/** The policy that `/proc/self/task/<tid>/numa_maps` shows for the VMA(s) covering `memory`. */
export function threadNumaMapsPolicy(memory: Memory, tid: number): string {
  return numaMapsLine(memory, { tid }).policy
}
