// The 'fake66' guest is what it claims: numa=fake=66, nodes 63 and 64 on both sides of a mask word.
import { readFileSync } from 'node:fs'

import { expect, it } from 'vitest'

import { describeNuma, nodeMeminfo, nodeStateText, sysfsNodes } from './helpers'

const ALL = Array.from({ length: 66 }, (_, i) => i)

describeNuma('66 emulated nodes', { topology: 'fake66', nodesWithMemory: [63, 64, 65] }, () => {
  it('has possible nodes 0-65, all online with memory', () => {
    expect(nodeStateText('possible')).toBe('0-65')
    expect(nodeStateText('online')).toBe('0-65')
    expect(nodeStateText('has_memory')).toBe('0-65')
    expect(sysfsNodes()).toEqual(ALL)
  })

  it('allows this process nodes 63 and 64', () => {
    const status = readFileSync('/proc/self/status', 'utf8')
    expect(/^Mems_allowed_list:\s*(\S+)$/m.exec(status)?.[1]).toBe('0-65')
  })

  it('has room for a few MiB on every node', () => {
    for (const node of ALL) {
      const m = nodeMeminfo(node)
      // Free, or page cache the kernel can drop: node 0 also holds the page cache of all the CPUs.
      const availableMiB = (m.MemFree! + m['Active(file)']! + m['Inactive(file)']!) / 1024
      expect(availableMiB, `MiB available on node ${node}`).toBeGreaterThan(32)
    }
  })
})
