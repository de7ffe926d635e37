import { describe, expect, it } from 'vitest'
import { fromOci, memsAllowed, toOci, type Policy } from '../src/index'

const node = memsAllowed()[0]!

describe('fromOci / toOci', () => {
  const pairs: [Record<string, unknown>, Policy][] = [
    [{ mode: 'MPOL_DEFAULT' }, { mode: 'default' }],
    [{ mode: 'MPOL_LOCAL' }, { mode: 'local' }],
    [{ mode: 'MPOL_PREFERRED' }, { mode: 'preferred' }],
    [
      { mode: 'MPOL_PREFERRED', nodes: `${node}` },
      { mode: 'preferred', nodes: [node] },
    ],
    [
      { mode: 'MPOL_BIND', nodes: `${node}` },
      { mode: 'bind', nodes: [node] },
    ],
    [
      { mode: 'MPOL_INTERLEAVE', nodes: `${node}`, flags: ['MPOL_F_STATIC_NODES'] },
      { mode: 'interleave', nodes: [node], flags: ['static-nodes'] },
    ],
    [
      { mode: 'MPOL_PREFERRED_MANY', nodes: `${node}`, flags: ['MPOL_F_RELATIVE_NODES'] },
      { mode: 'preferred-many', nodes: [node], flags: ['relative-nodes'] },
    ],
    [
      { mode: 'MPOL_WEIGHTED_INTERLEAVE', nodes: `${node}` },
      { mode: 'weighted-interleave', nodes: [node] },
    ],
    [
      { mode: 'MPOL_BIND', nodes: `${node}`, flags: ['MPOL_F_STATIC_NODES', 'MPOL_F_NUMA_BALANCING'] },
      { mode: 'bind', nodes: [node], flags: ['static-nodes', 'numa-balancing'] },
    ],
  ]
  for (const [oci, policy] of pairs) {
    it(`${JSON.stringify(oci)} <-> ${JSON.stringify(policy)}`, () => {
      expect(fromOci(oci)).toEqual(policy)
      expect(toOci(policy)).toEqual(oci)
      expect(toOci(fromOci(oci))).toEqual(oci)
    })
  }

  it('normalises node text and flag order', () => {
    expect(fromOci({ mode: 'MPOL_BIND', nodes: ` ${node} , ${node}` })).toEqual({ mode: 'bind', nodes: [node] })
    expect(fromOci({ mode: 'MPOL_BIND', nodes: `${node}`, flags: ['MPOL_F_NUMA_BALANCING', 'MPOL_F_STATIC_NODES'] }).flags).toEqual([
      'static-nodes',
      'numa-balancing',
    ])
    expect(fromOci({ mode: 'MPOL_BIND', nodes: `${node}`, flags: [] })).toEqual({ mode: 'bind', nodes: [node] })
    expect(fromOci({ mode: 'MPOL_DEFAULT', nodes: '' })).toEqual({ mode: 'default' })
    expect(toOci({ mode: 'bind', nodes: [node, node] })).toEqual({ mode: 'MPOL_BIND', nodes: `${node}` })
    // "all" names this machine's nodes, which a config for another machine cannot mean.
    expect(() => toOci({ mode: 'interleave', nodes: 'all' })).toThrow(/parseNodes\('all'\)/)
  })

  it('ignores keys it does not know, as the spec allows extensions', () => {
    expect(fromOci({ mode: 'MPOL_BIND', nodes: `${node}`, extra: true })).toEqual({ mode: 'bind', nodes: [node] })
  })

  it('produces policies the kernel accepts', async () => {
    const { getMempolicy, setMempolicy } = await import('../src/index')
    const before = getMempolicy()
    try {
      for (const [oci] of pairs) setMempolicy(fromOci(oci))
    } finally {
      setMempolicy(before)
    }
  })
})
