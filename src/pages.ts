// Where pages live and moving them: move_pages (query and move) and migrate_pages (docs/kernel.md, "move_pages and migrate_pages").
import { checkKeys, knownKeys, readProps } from './args'
import { binding } from './binding'
import { constants } from './constants'
import { invalidType, invalidValue, outOfRange } from './errors'
import { allNodes, fail, maxnodeIn, nativeMemory, newMask, type Memory } from './mempolicy'
import { checkId, fillMask } from './ids'
import { readNodes, type Nodes } from './policy'
import { highestPossibleNode } from './topology'
import { ENOENT } from './errno'

const PID_MAX = 0x7fffffff

export interface MovePagesOptions {
  /** MPOL_MF_MOVE_ALL: move pages other processes map too (needs CAP_SYS_NICE). Default: only pages this process alone maps. */
  all?: boolean
}

export interface MovePagesResult {
  /** Pages on the target node when the call ends, including those that were there already. */
  moved: number
  /**
   * Pages that are not: the kernel reported an error for them (-EACCES shared without `all`, -EBUSY,
   * -ENOMEM, -EFAULT for the shared zero page of memory that was only ever read) or left them elsewhere.
   * Pages never touched (-ENOENT) are in neither count: they have no memory to move.
   */
  failed: number
}

/**
 * Where each page overlapping `memory` lives: its node id, or a negative errno: -2 (ENOENT) not yet
 * touched, -14 (EFAULT) the shared zero page (only ever read) or not mapped. One entry per page,
 * from the page holding the first byte to the page holding the last; empty memory gives an empty
 * array. move_pages in query mode: nothing is faulted in or changed.
 */
export function pageNodes(memory: Memory): Int32Array {
  const native = binding()
  const target = nativeMemory(memory)
  const result = native.pageNodes(target)
  if (typeof result === 'number') fail(result, 'move_pages')
  return result
}

const MOVE_KEYS = knownKeys(['all'], {
  moveall: 'all',
  mpolmfmoveall: 'all',
  shared: 'all',
  moveshared: 'all',
  force: 'all',
  allpages: 'all',
})

function readMoveOptions(options: unknown): number {
  if (options === undefined) return constants.MPOL_MF_MOVE
  if (options === null || typeof options !== 'object') {
    throw invalidType(
      'options',
      'an object such as { all: true }',
      options,
      typeof options === 'boolean' ? `Write { all: ${options} }` : undefined,
    )
  }
  const { all } = readProps(options, ['all'], 'options')
  checkKeys(options, MOVE_KEYS, 'options')
  if (all !== undefined && typeof all !== 'boolean') throw invalidType('options.all', 'of type boolean', all)
  return all === true ? constants.MPOL_MF_MOVE_ALL : constants.MPOL_MF_MOVE
}

/**
 * Moves every page overlapping `memory` to `node` (move_pages), on the libuv pool. Pages only partly
 * covered by `memory` move whole; contents never change. The memory is held until the call ends.
 * Rejects with MempolicyError when the kernel refuses the call as a whole (ENODEV: no memory on
 * `node`; EACCES: outside the cpuset; EPERM: `all` without CAP_SYS_NICE); pages handled before a
 * refusal that comes part way through a large range stay moved.
 */
export async function movePages(memory: Memory, node: number, options?: MovePagesOptions): Promise<MovePagesResult> {
  const native = binding()
  const target = nativeMemory(memory)
  checkId(node, 'node', highestPossibleNode())
  const flags = readMoveOptions(options)
  const status = await native.movePages(target, node, flags)
  if (typeof status === 'number') fail(status, 'move_pages', { moveFlags: flags, nodes: [node] })
  let moved = 0
  let failed = 0
  for (let i = 0; i < status.length; i++) {
    const s = status[i]!
    if (s === node) moved++
    else if (s !== -ENOENT) failed++
  }
  return { moved, failed }
}

function readNodeArgument(value: unknown, name: string): readonly number[] {
  if (value === undefined) throw invalidType(name, 'a node id, an array of node ids or a node-list string', value)
  const nodes = readNodes(value, name, allNodes)
  if (nodes.length === 0) throw invalidValue(name, 'must name at least one node', value)
  return nodes
}

/**
 * Moves the pages of process `pid` (0: this one) that are on nodes `from` to nodes `to`
 * (migrate_pages), on the libuv pool. Resolves to the number of pages that could not be moved.
 * Node i of `from` maps to node i of `to` (the kernel's node_remap rule).
 */
export async function migratePages(pid: number, from: Nodes, to: Nodes): Promise<number> {
  const native = binding()
  if (typeof pid !== 'number') throw invalidType('pid', 'of type number', pid)
  if (!Number.isInteger(pid) || pid < 0 || pid > PID_MAX) {
    throw outOfRange('pid', `an integer from 0 (this process) to ${PID_MAX}`, pid)
  }
  const fromNodes = readNodeArgument(from, 'from')
  const toNodes = readNodeArgument(to, 'to')
  const fromMask = newMask()
  const toMask = newMask()
  fillMask(fromMask, fromNodes)
  fillMask(toMask, toNodes)
  const rc = await native.migratePages(pid, fromMask, toMask, maxnodeIn())
  if (rc < 0) fail(rc, 'migrate_pages', { pid, nodes: toNodes })
  return rc
}
