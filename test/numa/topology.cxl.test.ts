// The 'cxl' guest is what it claims: CPU nodes 0 and 1, node 2 with a CPU and no memory, and node 3
// with memory and no CPU (a CXL-like expander).
import { expect, it } from 'vitest'

import { countByNode, mapIsolated, pageSize } from '../oracle/index'
import { cpulessMemoryNodes, describeNuma, nodeCpus, nodeDistances, nodeMeminfo, nodeStateText } from './helpers'

describeNuma('guest with a memory-only node and a CPU-only node', { topology: 'cxl' }, () => {
  it('has nodes 0-3 online, memory on 0, 1 and 3, CPUs on 0-2', () => {
    expect(nodeStateText('possible')).toBe('0-3')
    expect(nodeStateText('online')).toBe('0-3')
    expect(nodeStateText('has_memory')).toBe('0-1,3')
    expect(nodeStateText('has_cpu')).toBe('0-2')
    expect(cpulessMemoryNodes()).toEqual([3])
  })

  it('gives node 3 memory and no CPU, node 2 a CPU and no memory', () => {
    expect(nodeCpus(0)).toEqual([0])
    expect(nodeCpus(1)).toEqual([1])
    expect(nodeCpus(2)).toEqual([2])
    expect(nodeCpus(3)).toEqual([])
    expect(nodeMeminfo(3).MemTotal! / 1024).toBeGreaterThan(600)
    expect(nodeMeminfo(2).MemTotal ?? 0).toBe(0)
  })

  it('has the distances 0-1 20, 0-2 20, 0-3 30, 1-2 30, 1-3 40, 2-3 40', () => {
    expect(nodeDistances(0)).toEqual([10, 20, 20, 30])
    expect(nodeDistances(1)).toEqual([20, 10, 30, 40])
    expect(nodeDistances(2)).toEqual([20, 30, 10, 40])
    expect(nodeDistances(3)).toEqual([30, 40, 40, 10])
  })

  it('places written pages of a CPU-bound process on nodes with CPUs and memory by default', () => {
    const buf = mapIsolated(64 * pageSize())
    new Uint8Array(buf).fill(1)
    const counts = countByNode(buf)
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(64)
    // Default policy allocates on the local node, or the nearest with memory for node 2's CPU.
    expect(counts.has(2)).toBe(false)
    expect(counts.has(3)).toBe(false)
  })
})
