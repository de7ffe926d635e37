// The memory-only node of the 'cxl' guest (a CXL-like expander: memory, no CPU): topology() reports it
// so, and binding to it works for a thread, a range and alloc. Checked by the oracle.
import { expect, it } from 'vitest'

import { alloc, mbind, pageSize, setMempolicy, topology } from '../../src/index'
import { mapIsolated } from '../oracle/index'
import { cpulessMemoryNodes, describeNuma, placement, touch } from './helpers'

describeNuma('a memory-only node', { cpulessMemoryNodes: 1 }, () => {
  const expander = cpulessMemoryNodes()[0]!

  it('topology() shows memory and no CPUs on it', () => {
    const t = topology()
    expect(t.withMemory).toContain(expander)
    expect(t.withCpu).not.toContain(expander)
    const info = t.nodes.find((n) => n.id === expander)!
    expect(info.cpus).toEqual([])
    expect(info.memTotal).toBeGreaterThan(256 << 20)
    expect(info.memFree).toBeGreaterThan(0)
    expect(info.distances[expander]).toBe(10)
  })

  it('thread bind, mbind and alloc put pages on it', () => {
    const a = new Uint8Array(mapIsolated(256 * pageSize))
    setMempolicy({ mode: 'bind', nodes: [expander] })
    try {
      touch(a)
    } finally {
      setMempolicy({ mode: 'default' })
    }
    expect(placement(a)).toEqual({ [expander]: 256 })

    const b = new Uint8Array(mapIsolated(256 * pageSize))
    mbind(b, { mode: 'bind', nodes: expander })
    expect(placement(touch(b))).toEqual({ [expander]: 256 })

    const c = touch(alloc(256 * pageSize, { mode: 'preferred', nodes: [expander] }, { hugePages: false }))
    expect(placement(c)).toEqual({ [expander]: 256 })
  })

  it('interleave over a CPU node and the expander uses both', () => {
    const cpuNode = topology().withCpu[0]!
    const memory = touch(alloc(256 * pageSize, { mode: 'interleave', nodes: [cpuNode, expander] }, { hugePages: false }))
    expect(placement(memory)).toEqual({ [cpuNode]: 128, [expander]: 128 })
  })
})
