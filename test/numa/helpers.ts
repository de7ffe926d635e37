// Helpers for the guest tests in test/numa/: what the running kernel's NUMA topology is (from sysfs,
// independent of the package), and requirements that skip on a host that cannot show the behaviour
// but fail inside a harness guest (MEMPOLICY_NUMA_GUEST set), where the topology is known.
import { readFileSync, readdirSync } from 'node:fs'

import { describe, it } from 'vitest'

import { setMempolicy, type Policy } from '../../src/index'
import { countByNode, pageSize, parseNodeList } from '../oracle/index'

export type TopologyName = 'four' | 'cxl' | 'hmat' | 'fake64' | 'fake66'

const NODE_DIR = '/sys/devices/system/node'

/** The harness topology this process runs in (MEMPOLICY_NUMA_GUEST), or undefined on a host. */
export function guestTopology(): string | undefined {
  return process.env.MEMPOLICY_NUMA_GUEST || undefined
}

export function inGuest(): boolean {
  return guestTopology() !== undefined
}

/** A node state list from sysfs (`possible`, `online`, `has_memory`, `has_cpu`, ...); [] if absent. */
export function nodeState(state: 'possible' | 'online' | 'has_memory' | 'has_normal_memory' | 'has_cpu'): number[] {
  try {
    return parseNodeList(readFileSync(`${NODE_DIR}/${state}`, 'utf8'))
  } catch {
    return []
  }
}

/** The raw text of a sysfs node state file, trimmed ('' if absent). */
export function nodeStateText(state: string): string {
  try {
    return readFileSync(`${NODE_DIR}/${state}`, 'utf8').trim()
  } catch {
    return ''
  }
}

export const onlineNodes = (): number[] => nodeState('online')
export const memoryNodes = (): number[] => nodeState('has_memory')
export const cpuNodes = (): number[] => nodeState('has_cpu')
/** Online nodes with memory and no CPU (memory-only, CXL-like). */
export const cpulessMemoryNodes = (): number[] => {
  const cpus = cpuNodes()
  return memoryNodes().filter((n) => !cpus.includes(n))
}

/** The node directories present in sysfs (node0, node1, ...) as numbers. */
export function sysfsNodes(): number[] {
  try {
    return readdirSync(NODE_DIR)
      .map((d) => /^node(\d+)$/.exec(d))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b)
  } catch {
    return []
  }
}

export function nodeCpus(node: number): number[] {
  return parseNodeList(readFileSync(`${NODE_DIR}/node${node}/cpulist`, 'utf8'))
}

export function nodeDistances(node: number): number[] {
  return readFileSync(`${NODE_DIR}/node${node}/distance`, 'utf8').trim().split(/\s+/).map(Number)
}

/** `Node N <key>: <value> kB` lines of nodeN/meminfo, in kB (MemTotal, MemFree, ...). */
export function nodeMeminfo(node: number): Record<string, number> {
  const out: Record<string, number> = {}
  for (const line of readFileSync(`${NODE_DIR}/node${node}/meminfo`, 'utf8').split('\n')) {
    const m = /^Node \d+ (\S+):\s+(\d+)/.exec(line)
    if (m) out[m[1]!] = Number(m[2])
  }
  return out
}

export interface NumaRequirement {
  /** At least this many online nodes. */
  onlineNodes?: number
  /** At least this many nodes with memory. */
  memoryNodes?: number
  /** At least this many memory-only nodes (memory, no CPU). */
  cpulessMemoryNodes?: number
  /** These node ids must have memory (e.g. [63, 64] to straddle a 64-bit mask word). */
  nodesWithMemory?: number[]
  /** Only in this harness guest (or one of these): for checks of the guest's exact shape. */
  topology?: TopologyName | TopologyName[]
}

/** Why the running kernel does not meet `requirement`, or undefined when it does. */
export function unmetRequirement(requirement: number | NumaRequirement): string | undefined {
  const req: NumaRequirement = typeof requirement === 'number' ? { onlineNodes: requirement } : requirement
  const problems: string[] = []
  if (req.topology !== undefined) {
    const wanted = Array.isArray(req.topology) ? req.topology : [req.topology]
    const here = guestTopology()
    if (here === undefined || !(wanted as string[]).includes(here)) {
      problems.push(`needs the '${wanted.join("' or '")}' NUMA guest, this is ${here === undefined ? 'not a harness guest' : `'${here}'`}`)
    }
  }
  const count = (label: string, need: number | undefined, have: number[]): void => {
    if (need !== undefined && have.length < need) {
      problems.push(`needs ${need} ${label}, this kernel has ${have.length} (${have.join(',') || 'none'})`)
    }
  }
  count('online NUMA nodes', req.onlineNodes, onlineNodes())
  count('NUMA nodes with memory', req.memoryNodes, memoryNodes())
  count('memory-only NUMA nodes', req.cpulessMemoryNodes, cpulessMemoryNodes())
  if (req.nodesWithMemory !== undefined) {
    const have = memoryNodes()
    const missing = req.nodesWithMemory.filter((n) => !have.includes(n))
    if (missing.length) problems.push(`needs memory on node(s) ${missing.join(',')}, nodes with memory: ${have.join(',') || 'none'}`)
  }
  return problems.length ? problems.join('; ') : undefined
}

function unmetInGuest(reason: string): Error {
  return new Error(`NUMA guest '${guestTopology()}' does not meet a test's requirement: ${reason}`)
}

/**
 * Inside a test: skips it (with the reason) when the kernel does not meet `requirement`, or fails it
 * inside a harness guest, where it must run.
 */
export function requireNodes(requirement: number | NumaRequirement, context: { skip: (note?: string) => never }): void {
  const reason = unmetRequirement(requirement)
  if (reason === undefined) return
  if (inGuest()) throw unmetInGuest(reason)
  console.log(`[numa] skipped: ${reason}`)
  context.skip(reason)
}

/**
 * A describe block that needs a NUMA topology: on a kernel that does not meet `requirement` it is
 * skipped, the reason in its title and on the console; inside a harness guest it fails instead.
 */
export function describeNuma(name: string, requirement: number | NumaRequirement, fn: () => void): void {
  const reason = unmetRequirement(requirement)
  if (reason === undefined) {
    describe(name, fn)
  } else if (inGuest()) {
    describe(name, () => {
      it('runs on a kernel with the NUMA topology it needs', () => {
        throw unmetInGuest(reason)
      })
    })
  } else {
    console.log(`[numa] skipping "${name}": ${reason}`)
    describe.skip(`${name} (skipped: ${reason})`, fn)
  }
}

/** Writes one byte in every `every`-th page of `memory` (every page by default); returns it. */
export function touch(memory: Uint8Array, every = 1): Uint8Array {
  const step = every * pageSize()
  for (let i = 0; i < memory.length; i += step) memory[i] = 1
  return memory
}

/** Pages per node, from the oracle (move_pages in query mode), as a plain object. */
export function placement(memory: Uint8Array): Record<number, number> {
  return Object.fromEntries(countByNode(memory))
}

/** Runs fn under a thread policy of the calling thread, restoring the default afterwards. */
export function underThreadPolicy<T>(policy: Policy, fn: () => T): T {
  setMempolicy(policy)
  try {
    return fn()
  } finally {
    setMempolicy({ mode: 'default' })
  }
}
