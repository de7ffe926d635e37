// Interleave weights written with setInterleaveWeights decide where 'weighted-interleave' puts pages
// (the 'four' guest). The previous weights are put back afterwards. Needs root and Linux 6.9+.
import { existsSync } from 'node:fs'

import { expect, it } from 'vitest'

import { alloc, interleaveWeights, interleaveWeightsAuto, pageSize, setInterleaveWeights, setInterleaveWeightsAuto } from '../../src/index'
import { countByNode } from '../oracle/index'
import { describeNuma } from './helpers'

const DIR = '/sys/kernel/mm/mempolicy/weighted_interleave'

describeNuma('interleave weights place pages', { memoryNodes: 3 }, () => {
  it('weights {1: 5, 2: 1, 3: 2} over nodes 1-3 put pages 5:1:2, exactly', (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('writing the weights needs root')
    if (!existsSync(DIR)) ctx.skip('this kernel has no weighted interleave (Linux 6.9+)')
    const previous = interleaveWeights()
    const auto = interleaveWeightsAuto()
    if (auto === true) ctx.skip('automatic weights are on; a write would switch them off for good where the kernel lacks bandwidth data')
    const weights = { 1: 5, 2: 1, 3: 2 }
    try {
      setInterleaveWeights(weights)
      expect(interleaveWeights()).toEqual({ ...previous, ...weights })
      // A multiple of the weights' sum (8): any such run of interleave indexes holds each node's share exactly.
      const pages = 8 * 512
      const memory = alloc(pages * pageSize, { mode: 'weighted-interleave', nodes: [1, 2, 3] }, { hugePages: false })
      for (let i = 0; i < memory.length; i += pageSize) memory[i] = 1
      expect(Object.fromEntries(countByNode(memory))).toEqual({ 1: 5 * 512, 2: 512, 3: 2 * 512 })
    } finally {
      setInterleaveWeights(previous)
      if (auto === true) setInterleaveWeightsAuto(true)
    }
    expect(interleaveWeights()).toEqual(previous)
  })
})
