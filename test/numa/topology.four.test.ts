// The 'four' guest is what it claims: four nodes, one CPU and ~768 MiB each, a symmetric distance ladder.
import { expect, it } from 'vitest'

import { countByNode, mapIsolated, pageSize } from '../oracle/index'
import { describeNuma, nodeCpus, nodeDistances, nodeMeminfo, nodeStateText, sysfsNodes } from './helpers'

describeNuma('four-node guest', { topology: 'four' }, () => {
  it('has nodes 0-3, each online with memory and a CPU', () => {
    expect(nodeStateText('possible')).toBe('0-3')
    expect(nodeStateText('online')).toBe('0-3')
    expect(nodeStateText('has_memory')).toBe('0-3')
    expect(nodeStateText('has_cpu')).toBe('0-3')
    expect(sysfsNodes()).toEqual([0, 1, 2, 3])
  })

  it('gives each node its own CPU', () => {
    for (const node of [0, 1, 2, 3]) expect(nodeCpus(node)).toEqual([node])
  })

  it('has about 768 MiB on each node', () => {
    for (const node of [0, 1, 2, 3]) {
      const totalMiB = nodeMeminfo(node).MemTotal! / 1024
      expect(totalMiB).toBeGreaterThan(600)
      expect(totalMiB).toBeLessThanOrEqual(768)
    }
  })

  it('has the distance ladder 10 * (1 + |i - j|)', () => {
    for (const i of [0, 1, 2, 3]) {
      expect(nodeDistances(i)).toEqual([0, 1, 2, 3].map((j) => 10 * (1 + Math.abs(i - j))))
    }
  })

  it('places written pages on nodes the oracle can see', () => {
    const buf = mapIsolated(64 * pageSize())
    new Uint8Array(buf).fill(1)
    const counts = countByNode(buf)
    expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(64)
    for (const node of counts.keys()) expect([0, 1, 2, 3]).toContain(node)
  })
})
