// The 'fake64' guest is what it claims: numa=fake=64, possible nodes exactly 0-63 (one mask word).
import { readFileSync } from 'node:fs'

import { expect, it } from 'vitest'

import { describeNuma, nodeMeminfo, nodeStateText, sysfsNodes } from './helpers'

const ALL = Array.from({ length: 64 }, (_, i) => i)

describeNuma('64 emulated nodes', { topology: 'fake64', nodesWithMemory: [0, 63] }, () => {
  it('has possible nodes exactly 0-63, all online with memory', () => {
    expect(nodeStateText('possible')).toBe('0-63')
    expect(nodeStateText('online')).toBe('0-63')
    expect(nodeStateText('has_memory')).toBe('0-63')
    expect(sysfsNodes()).toEqual(ALL)
  })

  it('allows this process every node, 63 included', () => {
    const status = readFileSync('/proc/self/status', 'utf8')
    expect(/^Mems_allowed_list:\s*(\S+)$/m.exec(status)?.[1]).toBe('0-63')
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
