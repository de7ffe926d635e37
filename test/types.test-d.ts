// Type-level test of the public API (CONTRACT.md): checked by `vitest --typecheck` (vitest.config.mts)
// and by `npm run typecheck`. Nothing here runs.
import { describe, expectTypeOf, it } from 'vitest'
import * as mp from '../src/index'
import {
  MempolicyError, alloc, constants, formatNodes, fromOci, getMempolicy, isSupported, mbind, memsAllowed, nodeOf, pageSize,
  parseNodes, policyOf, setHomeNode, setMempolicy, toOci, topology,
  type Mode, type ModeFlag, type NodeInfo, type Nodes, type Policy, type PolicyInfo, type Topology,
} from '../src/index'

type Memory = ArrayBuffer | SharedArrayBuffer | ArrayBufferView

describe('types', () => {
  it('name the modes, flags, nodes and policies of the contract', () => {
    expectTypeOf<Mode>().toEqualTypeOf<
      'default' | 'preferred' | 'bind' | 'interleave' | 'local' | 'preferred-many' | 'weighted-interleave'
    >()
    expectTypeOf<ModeFlag>().toEqualTypeOf<'static-nodes' | 'relative-nodes' | 'numa-balancing'>()
    expectTypeOf<Nodes>().toEqualTypeOf<number | readonly number[] | string>()
    expectTypeOf<Policy>().toEqualTypeOf<{ mode: Mode; nodes?: Nodes; flags?: readonly ModeFlag[] }>()
    expectTypeOf<PolicyInfo>().toEqualTypeOf<{ mode: Mode; nodes: number[]; flags: ModeFlag[] }>()
    expectTypeOf<NodeInfo>().toEqualTypeOf<{
      id: number; cpus: number[]; memTotal: number; memFree: number; distances: Record<number, number>
    }>()
    expectTypeOf<Topology>().toEqualTypeOf<{
      online: number[]; possible: number[]; withMemory: number[]; withCpu: number[]; nodes: NodeInfo[]
    }>()
  })

  it('give the thread-policy calls their shapes', () => {
    expectTypeOf(setMempolicy).parameter(0).toEqualTypeOf<Policy>()
    // Overloaded: the thread form returns nothing, the process form says which threads it reached.
    expectTypeOf(setMempolicy({ mode: 'default' })).toBeVoid()
    expectTypeOf(setMempolicy({ mode: 'default' }, { scope: 'thread' })).toBeVoid()
    expectTypeOf(setMempolicy({ mode: 'default' }, { scope: 'process' })).toEqualTypeOf<mp.ProcessPolicyResult>()
    expectTypeOf(getMempolicy).toEqualTypeOf<() => PolicyInfo>()
    expectTypeOf(memsAllowed).toEqualTypeOf<() => number[]>()
    expectTypeOf(isSupported).toEqualTypeOf<() => boolean>()
    setMempolicy({ mode: 'interleave', nodes: '0-1', flags: ['static-nodes'] })
    setMempolicy({ mode: 'bind', nodes: [0, 1] as const })
    // @ts-expect-error not a mode
    setMempolicy({ mode: 'membind', nodes: 0 })
    // @ts-expect-error not a flag
    setMempolicy({ mode: 'bind', nodes: 0, flags: ['strict'] })
  })

  it('take any memory for the range calls', () => {
    expectTypeOf(mbind).parameter(0).toEqualTypeOf<Memory>()
    expectTypeOf(mbind).parameter(2).toEqualTypeOf<{ strict?: boolean; move?: boolean; moveAll?: boolean } | undefined>()
    expectTypeOf(mbind).returns.toEqualTypeOf<{ byteOffset: number; byteLength: number }>()
    expectTypeOf(policyOf).toEqualTypeOf<(memory: Memory) => PolicyInfo>()
    expectTypeOf(nodeOf).parameters.toEqualTypeOf<[memory: Memory, byteOffset?: number]>()
    expectTypeOf(nodeOf).returns.toBeNumber()
    expectTypeOf(setHomeNode).toEqualTypeOf<(memory: Memory, node: number) => void>()
    expectTypeOf(alloc).parameters.toEqualTypeOf<[byteLength: number, policy?: Policy, options?: { hugePages?: boolean }]>()
    expectTypeOf(alloc).returns.toEqualTypeOf<Uint8Array>()
    mbind(Buffer.alloc(8192), { mode: 'bind', nodes: 0 }, { move: true })
    mbind(new SharedArrayBuffer(8192), { mode: 'local' })
    mbind(new DataView(new ArrayBuffer(8192)), { mode: 'default' })
    // @ts-expect-error an address is never memory
    mbind(0x7f0000000000, { mode: 'default' })
  })

  it('type node lists, OCI and topology', () => {
    expectTypeOf(parseNodes).toEqualTypeOf<(text: string) => number[]>()
    expectTypeOf(formatNodes).toEqualTypeOf<(nodes: Iterable<number>) => string>()
    formatNodes(new Set([0, 1]))
    expectTypeOf(fromOci).toEqualTypeOf<(value: unknown) => Policy>()
    expectTypeOf(toOci).parameter(0).toEqualTypeOf<Policy>()
    expectTypeOf(toOci).returns.toMatchTypeOf<{ mode: string; nodes?: string; flags?: string[] }>()
    expectTypeOf(topology).toEqualTypeOf<() => Topology>()
  })

  it('type the constants and errors', () => {
    expectTypeOf(constants.MPOL_BIND).toBeNumber()
    expectTypeOf(constants.MPOL_WEIGHTED_INTERLEAVE).toBeNumber()
    expectTypeOf(constants.MPOL_F_STATIC_NODES).toBeNumber()
    expectTypeOf(constants.MPOL_MF_MOVE_ALL).toBeNumber()
    expectTypeOf(pageSize).toBeNumber()
    expectTypeOf<MempolicyError>().toMatchTypeOf<Error>()
    expectTypeOf<MempolicyError>().toHaveProperty('code').toBeString()
    expectTypeOf<MempolicyError>().toHaveProperty('errno').toBeNumber()
    expectTypeOf<MempolicyError>().toHaveProperty('syscall').toBeString()
    expectTypeOf(mp).toHaveProperty('MempolicyError')
  })
})
