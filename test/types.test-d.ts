// Type-level test of the public API (docs/api.md): checked by `vitest --typecheck` (vitest.config.mts)
// and by `npm run typecheck`. Nothing here runs.
import { describe, expectTypeOf, it } from 'vitest'
import * as mp from '../src/index'
import {
  MempolicyError,
  alloc,
  constants,
  formatNodes,
  fromOci,
  getMempolicy,
  isSupported,
  mbind,
  memsAllowed,
  nodeOf,
  pageSize,
  parseNodes,
  policyOf,
  setHomeNode,
  setMempolicy,
  toOci,
  topology,
  type Mode,
  type ModeFlag,
  type NodeInfo,
  type Nodes,
  type Policy,
  type PolicyInfo,
  type Topology,
} from '../src/index'

type Memory = ArrayBuffer | SharedArrayBuffer | ArrayBufferView

describe('types', () => {
  it('name the modes, flags, nodes and policies of the contract', () => {
    expectTypeOf<Mode>().toEqualTypeOf<
      'default' | 'preferred' | 'bind' | 'interleave' | 'local' | 'preferred-many' | 'weighted-interleave'
    >()
    expectTypeOf<ModeFlag>().toEqualTypeOf<'static-nodes' | 'relative-nodes' | 'numa-balancing'>()
    expectTypeOf<Nodes>().toEqualTypeOf<number | readonly number[] | string>()
    // The contract's shapes, refined into unions that carry the rules (see 'carry the validation rules').
    expectTypeOf<Policy>().toExtend<{ mode: Mode; nodes?: Nodes; flags?: readonly ModeFlag[] }>()
    expectTypeOf<PolicyInfo>().toExtend<{ mode: Mode; nodes: number[]; flags: ModeFlag[] }>()
    expectTypeOf<Policy['mode']>().toEqualTypeOf<Mode>()
    expectTypeOf<PolicyInfo['mode']>().toEqualTypeOf<Mode>()
    expectTypeOf<mp.Access>().toEqualTypeOf<{
      initiators: number[]
      readBandwidth: number
      writeBandwidth: number
      readLatency: number
      writeLatency: number
    }>()
    expectTypeOf<NodeInfo>().toEqualTypeOf<{
      id: number
      cpus: number[]
      memTotal: number
      memFree: number
      distances: Record<number, number>
      tier?: number
      access?: { all?: mp.Access; cpu?: mp.Access }
      caches?: mp.MemorySideCache[]
    }>()
    expectTypeOf<Topology>().toEqualTypeOf<{
      online: number[]
      possible: number[]
      withMemory: number[]
      withCpu: number[]
      nodes: NodeInfo[]
      withNormalMemory?: number[]
      withGenericInitiator?: number[]
      tiers: { id: number; nodes: number[] }[]
      demotion?: boolean
    }>()
    expectTypeOf<mp.MemorySideCache>().toEqualTypeOf<{
      level: number
      size: number
      lineSize: number
      indexing: 'direct-mapped' | 'indexed' | 'other'
      writePolicy: 'write-back' | 'write-through' | 'other'
      addressMode?: 'reserved' | 'extended-linear'
    }>()
  })

  it('carry the validation rules', () => {
    // Rule 2: 'default' and 'local' take no nodes and no flags.
    // @ts-expect-error nodes with 'default'
    setMempolicy({ mode: 'default', nodes: [0] })
    // @ts-expect-error nodes with 'local'
    setMempolicy({ mode: 'local', nodes: '0' })
    // @ts-expect-error a flag with 'local'
    setMempolicy({ mode: 'local', flags: ['static-nodes'] })
    setMempolicy({ mode: 'default' })
    setMempolicy({ mode: 'default', nodes: [] })
    setMempolicy({ mode: 'local', nodes: '', flags: [] })
    // Rule 4: the modes that need nodes.
    // @ts-expect-error 'bind' without nodes
    setMempolicy({ mode: 'bind' })
    // @ts-expect-error 'interleave' without nodes
    mbind(new Uint8Array(8192), { mode: 'interleave', flags: ['static-nodes'] })
    // @ts-expect-error 'preferred-many' without nodes
    alloc(4096, { mode: 'preferred-many' })
    // @ts-expect-error 'weighted-interleave' without nodes
    toOci({ mode: 'weighted-interleave' })
    setMempolicy({ mode: 'bind', nodes: [0], flags: ['numa-balancing', 'static-nodes'] })
    setMempolicy({ mode: 'preferred-many', nodes: '0-1', flags: ['numa-balancing'] })
    // 'preferred' without nodes is local allocation.
    setMempolicy({ mode: 'preferred' })
    // @ts-expect-error a property a policy does not have
    setMempolicy({ mode: 'bind', node: 0 })
    // @ts-expect-error an option in the policy
    mbind(new Uint8Array(8192), { mode: 'bind', nodes: [0], strict: true })
  })

  it('accept every valid policy, what the kernel reports, and policies built at run time', () => {
    const nodes: number[] = parseNodes('0')
    const text: string = formatNodes(nodes)
    for (const policy of [
      { mode: 'preferred', nodes: 0 },
      { mode: 'preferred', nodes: [0], flags: ['relative-nodes'] },
      { mode: 'interleave', nodes: text, flags: ['static-nodes'] },
      { mode: 'weighted-interleave', nodes },
      { mode: 'bind', nodes: [0, 1] as const },
      { mode: 'preferred-many', nodes: 'all' },
    ] as const)
      setMempolicy(policy)
    // A PolicyInfo goes back as it is (getMempolicy, policyOf), and through toOci.
    const info: PolicyInfo = getMempolicy()
    setMempolicy(info)
    setMempolicy(getMempolicy(), { scope: 'process' })
    mbind(new Uint8Array(8192), policyOf(new Uint8Array(8192)))
    alloc(4096, getMempolicy())
    toOci(getMempolicy())
    setMempolicy({ ...getMempolicy() })
    setMempolicy(fromOci({ mode: 'MPOL_BIND', nodes: '0' }))
    // Built at run time: a mode chosen among those that take nodes, flags computed, a ternary.
    const spread = Math.random() > 0.5
    const mode = spread ? 'interleave' : 'bind'
    const flags: ('static-nodes' | 'relative-nodes')[] = spread ? ['static-nodes'] : []
    setMempolicy({ mode, nodes, flags })
    setMempolicy(nodes.length > 0 ? { mode: 'bind', nodes } : { mode: 'local' })
    const modes = (['bind', 'interleave', 'preferred'] as const).map((m) => ({ mode: m, nodes }))
    for (const p of modes) mbind(new Uint8Array(8192), p)
    const built: Policy = JSON.parse('{"mode":"local"}')
    setMempolicy(built)
    // Reading what the kernel reports, as the contract's PolicyInfo.
    const read: { mode: Mode; nodes: number[]; flags: ModeFlag[] } = getMempolicy()
    expectTypeOf(read.nodes.map((n) => n + 1)).toEqualTypeOf<number[]>()
    expectTypeOf(info.nodes.filter((n) => n > 0)).toEqualTypeOf<number[]>()
    expectTypeOf(info.flags.includes('numa-balancing')).toBeBoolean()
    expectTypeOf(info.nodes.includes(0)).toBeBoolean()
    info.nodes.push(1)
    // Written out as the kernel reports it (a test's expected value).
    const expected: PolicyInfo[] = [
      { mode: 'local', nodes: [], flags: [] },
      { mode: 'bind', nodes: [0], flags: ['static-nodes'] },
    ]
    // @ts-expect-error a PolicyInfo of 'default' has no nodes either
    const wrong: PolicyInfo = { mode: 'default', nodes: [0], flags: [] }
    expectTypeOf(expected).items.toExtend<Policy>()
    expectTypeOf(wrong).toExtend<Policy>()
    expectTypeOf([...info.nodes]).toEqualTypeOf<number[]>()
  })

  it('give the heterogeneous-memory calls their shapes', () => {
    expectTypeOf(mp.bandwidthWeights).parameters.toEqualTypeOf<[nodes?: Nodes, options?: { kernel?: boolean }]>()
    expectTypeOf(mp.bandwidthWeights).returns.toEqualTypeOf<Record<number, number>>()
    // What it returns is what setInterleaveWeights takes.
    mp.setInterleaveWeights(mp.bandwidthWeights('0-1'))
    expectTypeOf(mp.nodeStats).toEqualTypeOf<
      () => {
        node: number
        numaHit: number
        numaMiss: number
        numaForeign: number
        interleaveHit: number
        localNode: number
        otherNode: number
      }[]
    >()
    expectTypeOf(mp.memoryOf).toEqualTypeOf<
      (pid?: number) => { node: number; huge: number; heap: number; stack: number; private: number; total: number }[]
    >()
    expectTypeOf<mp.Capabilities['tiering']>().toEqualTypeOf<{
      numaBalancing: number | undefined
      promotion: boolean
      demotion: boolean | undefined
      counters: Record<string, number>
    }>()
    // @ts-expect-error a pid is a number
    mp.memoryOf('self')
  })

  it('give the thread-policy calls their shapes', () => {
    expectTypeOf(setMempolicy).parameter(0).toEqualTypeOf<Policy>()
    // The package's own option type, whatever scope it holds: an honest result.
    const options: mp.SetMempolicyOptions = { scope: Math.random() > 0.5 ? 'process' : 'thread' }
    expectTypeOf(setMempolicy({ mode: 'default' }, options)).toEqualTypeOf<mp.ProcessPolicyResult | undefined>()
    expectTypeOf(setMempolicy({ mode: 'default' }, {})).toBeVoid()
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

  it('type the CPU placement of the contract', () => {
    expectTypeOf<mp.Cpus>().toEqualTypeOf<number | readonly number[] | string>()
    expectTypeOf(mp.setCpuAffinity).toBeCallableWith('0-3')
    expectTypeOf(mp.setCpuAffinity(0)).toEqualTypeOf<void>()
    expectTypeOf(mp.setCpuAffinity([0, 1], { scope: 'process' })).toEqualTypeOf<mp.ProcessAffinityResult>()
    expectTypeOf(mp.getCpuAffinity()).toEqualTypeOf<number[]>()
    expectTypeOf(mp.runOnNodes(0)).toEqualTypeOf<void>()
    expectTypeOf(mp.runOnNodes('all', { scope: 'process' })).toEqualTypeOf<mp.ProcessAffinityResult>()
    expectTypeOf(mp.currentCpu()).toEqualTypeOf<{ cpu: number; node: number }>()
    expectTypeOf(mp.spawn).toBeCallableWith('ls', [], { cpus: '0-1', cpuNodes: undefined, mempolicy: { mode: 'local' } })
    expectTypeOf(mp.spawn).toBeCallableWith('ls', [], { cpuNodes: [0] })
  })
})
