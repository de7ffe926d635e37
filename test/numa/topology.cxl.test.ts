// The 'cxl' guest is what it claims: CPU nodes 0 and 1, and node 2 with memory and no CPU.
import { expect, it } from 'vitest'

import { countByNode, mapIsolated, pageSize } from '../oracle/index'
import { cpulessMemoryNodes, describeNuma, nodeCpus, nodeDistances, nodeMeminfo, nodeStateText } from './helpers'

describeNuma('guest with a memory-only node', { topology: 'cxl' }, () => {
  it('has nodes 0-2 online with memory, CPUs on 0-1 only', () => {
    expect(nodeStateText('possible')).toBe('0-2')
    expect(nodeStateText('online')).toBe('0-2')
    expect(nodeStateText('has_memory')).toBe('0-2')
    expect(nodeStateText('has_cpu')).toBe('0-1')
    expect(cpulessMemoryNodes()).toEqual([2])
  })

  it('gives node 2 memory and no CPU', () => {
    expect(nodeCpus(0)).toEqual([0])
    expect(nodeCpus(1)).toEqual([1])
    expect(nodeCpus(2)).toEqual([])
    expect(nodeMeminfo(2).MemTotal! / 1024).toBeGreaterThan(600)
  })

  it('has the distances 0-1 20, 0-2 30, 1-2 40', () => {
    expect(nodeDistances(0)).toEqual([10, 20, 30])
    expect(nodeDistances(1)).toEqual([20, 10, 40])
    expect(nodeDistances(2)).toEqual([30, 40, 10])
  })

  it('places written pages of a CPU-bound process on CPU nodes by default', () => {
    const buf = mapIsolated(64 * pageSize())
    new Uint8Array(buf).fill(1)
    const counts = countByNode(buf)
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(64)
    // Default policy allocates on the local node, which always has a CPU; node 2 has none.
    expect(counts.has(2)).toBe(false)
  })
})
