import { describe, expect, it } from 'vitest'
import { getMempolicy, memsAllowed, setMempolicy, topology, type Policy } from '../src/index'
import { kernelThreadPolicy, keepingPolicy } from './kernel-view'

const node = memsAllowed()[0]!
const list = `${node}`

// Each mode and flag: what getMempolicy returns, and what the kernel itself prints (numa_maps).
const cases: [Policy, ReturnType<typeof getMempolicy>, string][] = [
  [{ mode: 'default' }, { mode: 'default', nodes: [], flags: [] }, 'default'],
  [{ mode: 'local' }, { mode: 'local', nodes: [], flags: [] }, 'local'],
  [{ mode: 'preferred', nodes: [node] }, { mode: 'preferred', nodes: [node], flags: [] }, `prefer:${list}`],
  // 'preferred' without nodes is local allocation; the kernel reports it as MPOL_LOCAL (5.14+).
  [{ mode: 'preferred' }, { mode: 'local', nodes: [], flags: [] }, 'local'],
  [{ mode: 'preferred', nodes: [] }, { mode: 'local', nodes: [], flags: [] }, 'local'],
  [{ mode: 'bind', nodes: [node] }, { mode: 'bind', nodes: [node], flags: [] }, `bind:${list}`],
  [{ mode: 'interleave', nodes: [node] }, { mode: 'interleave', nodes: [node], flags: [] }, `interleave:${list}`],
  [{ mode: 'preferred-many', nodes: [node] }, { mode: 'preferred-many', nodes: [node], flags: [] }, `prefer (many):${list}`],
  [
    { mode: 'weighted-interleave', nodes: [node] },
    { mode: 'weighted-interleave', nodes: [node], flags: [] },
    `weighted interleave:${list}`,
  ],
  [{ mode: 'bind', nodes: list, flags: ['static-nodes'] }, { mode: 'bind', nodes: [node], flags: ['static-nodes'] }, `bind=static:${list}`],
  [
    { mode: 'bind', nodes: node, flags: ['relative-nodes'] },
    { mode: 'bind', nodes: [node], flags: ['relative-nodes'] },
    `bind=relative:${list}`,
  ],
  [
    { mode: 'bind', nodes: [node], flags: ['numa-balancing'] },
    { mode: 'bind', nodes: [node], flags: ['numa-balancing'] },
    `bind=balancing:${list}`,
  ],
  [
    { mode: 'bind', nodes: [node], flags: ['static-nodes', 'numa-balancing'] },
    { mode: 'bind', nodes: [node], flags: ['static-nodes', 'numa-balancing'] },
    `bind=static|balancing:${list}`,
  ],
  [
    { mode: 'interleave', nodes: [node], flags: ['static-nodes'] },
    { mode: 'interleave', nodes: [node], flags: ['static-nodes'] },
    `interleave=static:${list}`,
  ],
  [
    { mode: 'preferred', nodes: [node], flags: ['relative-nodes'] },
    { mode: 'preferred', nodes: [node], flags: ['relative-nodes'] },
    `prefer=relative:${list}`,
  ],
  [
    { mode: 'weighted-interleave', nodes: [node], flags: ['static-nodes'] },
    { mode: 'weighted-interleave', nodes: [node], flags: ['static-nodes'] },
    `weighted interleave=static:${list}`,
  ],
  [
    { mode: 'preferred-many', nodes: [node], flags: ['relative-nodes'] },
    { mode: 'preferred-many', nodes: [node], flags: ['relative-nodes'] },
    `prefer (many)=relative:${list}`,
  ],
]

describe('setMempolicy / getMempolicy', () => {
  it('start from the default policy', () => {
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
    expect(kernelThreadPolicy()).toBe('default')
  })

  for (const [policy, info, kernel] of cases) {
    it(`round-trips ${JSON.stringify(policy)} and the kernel shows '${kernel}'`, () => {
      keepingPolicy(() => {
        setMempolicy(policy)
        expect(getMempolicy()).toEqual(info)
        expect(kernelThreadPolicy()).toBe(kernel)
      })
      expect(kernelThreadPolicy()).toBe('default')
    })
  }

  it("accepts 'numa-balancing' with 'preferred-many' where the kernel does (6.10+), else EINVAL with a hint", () => {
    keepingPolicy(() => {
      try {
        setMempolicy({ mode: 'preferred-many', nodes: [node], flags: ['numa-balancing'] })
      } catch (err) {
        expect(err).toMatchObject({ code: 'EINVAL', syscall: 'set_mempolicy' })
        expect((err as Error).message).toMatch(/6\.10/)
        return
      }
      expect(getMempolicy()).toEqual({ mode: 'preferred-many', nodes: [node], flags: ['numa-balancing'] })
      expect(kernelThreadPolicy()).toBe(`prefer (many)=balancing:${list}`)
    })
  })

  it("takes node lists as a number, an array, or text including 'all'", () => {
    keepingPolicy(() => {
      for (const nodes of [node, [node], [node, node], list, ` ${list} `, 'all']) {
        setMempolicy({ mode: 'interleave', nodes })
        expect(getMempolicy().nodes).toEqual(memsAllowed().filter((n) => nodes === 'all' || n === node))
      }
    })
  })

  it('refuses a key the policy object does not have, so a misspelling is never ignored', () => {
    keepingPolicy(() => {
      expect(() => setMempolicy({ mode: 'bind', nodes: [node], extra: 1 } as Policy)).toThrow(/Received the property 'extra'/)
      expect(getMempolicy().mode).not.toBe('bind')
    })
  })

  it('returns fresh arrays on every call', () => {
    keepingPolicy(() => {
      setMempolicy({ mode: 'bind', nodes: [node] })
      const a = getMempolicy()
      ;(a.nodes as number[]).push(99)
      expect(getMempolicy().nodes).toEqual([node])
    })
  })
})

describe('memsAllowed', () => {
  it('is the Mems_allowed_list of /proc/self/status', async () => {
    const { readFileSync } = await import('node:fs')
    const text = /^Mems_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'latin1'))![1]!
    const { parseNodes } = await import('../src/index')
    expect(memsAllowed()).toEqual(parseNodes(text))
  })

  it('is not changed by the thread policy, and lists online nodes only', () => {
    keepingPolicy(() => {
      const before = memsAllowed()
      setMempolicy({ mode: 'bind', nodes: [node] })
      expect(memsAllowed()).toEqual(before)
      const online = topology().online
      expect(before.every((n) => online.includes(n))).toBe(true)
    })
  })
})
