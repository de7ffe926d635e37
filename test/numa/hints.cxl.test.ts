// A node without memory (the 'cxl' guest's node 2 has a CPU and no memory): binding to it is refused
// by the kernel, and the error says so and names the nodes that could be used instead.
import { expect, it } from 'vitest'

import { alloc, getMempolicy, MempolicyError, mbind, pageSize, setMempolicy, topology } from '../../src/index'
import { describeNuma } from './helpers'

describeNuma('a node without memory', { topology: 'cxl' }, () => {
  const expectNoMemory = (call: () => unknown, syscall: string): void => {
    let thrown: unknown
    try {
      call()
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(MempolicyError)
    expect(thrown).toMatchObject({ code: 'EINVAL', errno: -22, syscall })
    const hint = (thrown as MempolicyError).hint
    expect(hint).toBe('node 2 has no memory; nodes with memory you may use: 0-1,3')
    expect((thrown as Error).message).toBe(`EINVAL: invalid argument, ${syscall} (${hint})`)
  }

  it('topology() shows a CPU and no memory on it', () => {
    const t = topology()
    expect(t.withCpu).toContain(2)
    expect(t.withMemory).not.toContain(2)
    expect(t.nodes.find((n) => n.id === 2)).toMatchObject({ cpus: [2], memTotal: 0 })
  })

  it('set_mempolicy and mbind to it fail with EINVAL and a hint that says so; nothing changes', () => {
    expectNoMemory(() => setMempolicy({ mode: 'bind', nodes: [2] }), 'set_mempolicy')
    expectNoMemory(() => setMempolicy({ mode: 'interleave', nodes: '2' }), 'set_mempolicy')
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
    const memory = alloc(4 * pageSize)
    expectNoMemory(() => mbind(memory, { mode: 'bind', nodes: [2] }), 'mbind')
    expectNoMemory(() => alloc(4 * pageSize, { mode: 'preferred-many', nodes: [2] }), 'mbind')
  })
})
