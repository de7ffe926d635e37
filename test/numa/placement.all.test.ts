// Placement on every guest topology, through the package: thread policy, mbind and alloc, each checked
// by the oracle (its own move_pages addon), never by the package's read-back. The node choice covers
// the ends of the machine and, in the fake64/fake66 guests, the nodes around the 64-bit mask word
// (63 alone in fake64; 62-65 across two words in fake66).
import { expect, it } from 'vitest'

import { alloc, getMempolicy, mbind, pageSize } from '../../src/index'
import { mapIsolated } from '../oracle/index'
import { describeNuma, memoryNodes, nodeState, placement, touch, underThreadPolicy } from './helpers'

const MiB = 1 << 20

/** Interleaved pages are spread evenly: each node within 1 page of an equal share. */
function expectEvenSpread(counts: Record<number, number>, nodes: number[], pages: number): void {
  expect(
    Object.keys(counts)
      .map(Number)
      .sort((a, b) => a - b),
  ).toEqual(nodes)
  for (const n of nodes) expect(Math.abs(counts[n]! - pages / nodes.length)).toBeLessThanOrEqual(1)
}

describeNuma('placement through the package, on every node that matters', { memoryNodes: 2 }, () => {
  const nodes = memoryNodes()
  const targets = [...new Set([nodes[0]!, ...[62, 63, 64, 65].filter((n) => nodes.includes(n)), nodes.at(-1)!])]
  const spread = nodes.slice(-4)
  const pages = 256 // 1 MiB: room on every emulated node

  it('getMempolicy round-trips every node of the machine, and each target alone', () => {
    for (const set of [nodes, ...targets.map((n) => [n]), spread]) {
      underThreadPolicy({ mode: 'interleave', nodes: set }, () => {
        expect(getMempolicy()).toEqual({ mode: 'interleave', nodes: set, flags: [] })
      })
      underThreadPolicy({ mode: 'bind', nodes: set, flags: ['static-nodes'] }, () => {
        expect(getMempolicy()).toEqual({ mode: 'bind', nodes: set, flags: ['static-nodes'] })
      })
    }
    expect(nodeState('possible').at(-1)).toBe(nodes.at(-1))
  })

  for (const node of targets) {
    it(`thread policy 'bind' to node ${node} puts every page there`, () => {
      const memory = new Uint8Array(mapIsolated(pages * pageSize))
      underThreadPolicy({ mode: 'bind', nodes: [node] }, () => touch(memory))
      expect(placement(memory)).toEqual({ [node]: pages })
    })

    it(`thread policy 'preferred' ${node} puts every page there`, () => {
      const memory = new Uint8Array(mapIsolated(pages * pageSize))
      underThreadPolicy({ mode: 'preferred', nodes: node }, () => touch(memory))
      expect(placement(memory)).toEqual({ [node]: pages })
    })

    it(`alloc bound to node ${node} puts every page there, whichever thread policy`, () => {
      const memory = alloc(pages * pageSize, { mode: 'bind', nodes: [node] }, { hugePages: false })
      underThreadPolicy({ mode: 'bind', nodes: [nodes[0] === node ? nodes[1]! : nodes[0]!] }, () => touch(memory))
      expect(placement(memory)).toEqual({ [node]: pages })
    })

    it(`mbind with move of a heap buffer to node ${node} places its whole pages there`, () => {
      // Heap memory may be reused and already resident elsewhere: move brings those pages along.
      const heap = new Uint8Array(pages * pageSize + 3 * 1024)
      const span = mbind(heap, { mode: 'bind', nodes: `${node}` }, { move: true })
      const inside = heap.subarray(span.byteOffset, span.byteOffset + span.byteLength)
      touch(inside)
      expect(placement(inside)).toEqual({ [node]: span.byteLength / pageSize })
    })
  }

  it(`thread policy 'interleave' over ${spread.join(',')} spreads pages evenly over exactly those nodes`, () => {
    const memory = new Uint8Array(mapIsolated(4 * MiB))
    underThreadPolicy({ mode: 'interleave', nodes: spread }, () => touch(memory))
    expectEvenSpread(placement(memory), spread, (4 * MiB) / pageSize)
  })

  it(`alloc interleaved over ${spread.join(',')} spreads pages evenly over exactly those nodes`, () => {
    const memory = touch(alloc(4 * MiB, { mode: 'interleave', nodes: spread }, { hugePages: false }))
    expectEvenSpread(placement(memory), spread, (4 * MiB) / pageSize)
  })

  it("'weighted-interleave' with equal weights spreads like 'interleave'", () => {
    const memory = touch(alloc(4 * MiB, { mode: 'weighted-interleave', nodes: spread }, { hugePages: false }))
    const counts = placement(memory)
    expect(
      Object.keys(counts)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(spread)
  })
})
