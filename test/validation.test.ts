import { describe, expect, it } from 'vitest'
import { alloc, fromOci, mbind, nodeOf, policyOf, setHomeNode, setMempolicy, toOci, topology, type Policy } from '../src/index'
import { expectRejected } from './kernel-view'

const highest = topology().possible.at(-1)!
const beyond = highest + 1

// [description, policy, error class, code]
const bad: [string, unknown, typeof TypeError | typeof RangeError, string][] = [
  ['a missing policy', undefined, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['null', null, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a string', 'bind', TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a number', 2, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['no mode', { nodes: [0] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a numeric mode', { mode: 2, nodes: [0] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an unknown mode', { mode: 'membind', nodes: [0] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['a mode in the wrong case', { mode: 'BIND', nodes: [0] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['an inherited mode name', { mode: 'toString' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['the kernel name of a mode', { mode: 'MPOL_BIND', nodes: [0] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['flags that are not an array', { mode: 'bind', nodes: [0], flags: 'static-nodes' }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['an unknown flag', { mode: 'bind', nodes: [0], flags: ['static'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['a numeric flag', { mode: 'bind', nodes: [0], flags: [0x8000] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a negative node', { mode: 'bind', nodes: [-1] }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['a fractional node', { mode: 'bind', nodes: [0.5] }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['NaN', { mode: 'bind', nodes: NaN }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['Infinity', { mode: 'bind', nodes: [Infinity] }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['a node past the highest possible', { mode: 'bind', nodes: [beyond] }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['a node list past the highest possible', { mode: 'bind', nodes: `0-${beyond}` }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['node 1024', { mode: 'bind', nodes: 1024 }, RangeError, 'ERR_OUT_OF_RANGE'],
  ['a string node in an array', { mode: 'bind', nodes: ['0'] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a bigint node', { mode: 'bind', nodes: 0n }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['a hole in the node array', { mode: 'bind', nodes: [0, , 0] }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['nodes as an object', { mode: 'bind', nodes: { 0: 0 } }, TypeError, 'ERR_INVALID_ARG_TYPE'],
  ['malformed node text', { mode: 'bind', nodes: '0-' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  // Rule 2: 'default' and 'local' take no nodes and no flags.
  ["'default' with nodes", { mode: 'default', nodes: [0] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'default' with a flag", { mode: 'default', flags: ['static-nodes'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'local' with nodes", { mode: 'local', nodes: '0' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'local' with a flag", { mode: 'local', flags: ['relative-nodes'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  // Rule 3: 'preferred' without nodes takes neither static nor relative.
  ["'preferred' without nodes, static", { mode: 'preferred', flags: ['static-nodes'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'preferred' without nodes, relative", { mode: 'preferred', nodes: [], flags: ['relative-nodes'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  // Rule 4: at least one node.
  ["'bind' without nodes", { mode: 'bind' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'bind' with []", { mode: 'bind', nodes: [] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'interleave' with ''", { mode: 'interleave', nodes: '' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'preferred-many' without nodes", { mode: 'preferred-many' }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ["'weighted-interleave' without nodes", { mode: 'weighted-interleave', nodes: [] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  // Rule 5: static and relative never together.
  ['static and relative', { mode: 'bind', nodes: [0], flags: ['static-nodes', 'relative-nodes'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  // Rule 6: numa-balancing only with bind (and preferred-many).
  ['balancing with interleave', { mode: 'interleave', nodes: [0], flags: ['numa-balancing'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['balancing with preferred', { mode: 'preferred', nodes: [0], flags: ['numa-balancing'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  [
    'balancing with weighted-interleave',
    { mode: 'weighted-interleave', nodes: [0], flags: ['numa-balancing'] },
    TypeError,
    'ERR_INVALID_ARG_VALUE',
  ],
  ['balancing with local', { mode: 'local', flags: ['numa-balancing'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
  ['balancing with default', { mode: 'default', flags: ['numa-balancing'] }, TypeError, 'ERR_INVALID_ARG_VALUE'],
]

/** Rejected for this machine's nodes only, which toOci and fromOci never consult. */
const HOST_BOUND = new Set(['a node past the highest possible', 'a node list past the highest possible', 'node 1024'])

describe('validation: every rule, before any syscall', () => {
  for (const [what, policy, kind, code] of bad) {
    it(`setMempolicy rejects ${what}`, () => {
      const err = expectRejected(() => setMempolicy(policy as Policy), kind, code)
      expect(err.message).toMatch(/policy/)
    })
    it(`mbind rejects ${what}`, () => {
      const memory = alloc(4 * 4096)
      expectRejected(() => mbind(memory, policy as Policy), kind, code)
      expect(policyOf(memory).mode).toBe('default')
    })
    it(`alloc rejects ${what}`, () => {
      expectRejected(() => alloc(4096, (policy ?? null) as Policy), kind, code)
    })
    // toOci checks the rules and syntax only: ids need not exist on this machine (test/portable-policy.test.ts).
    if (!HOST_BOUND.has(what)) {
      it(`toOci rejects ${what}`, () => {
        expectRejected(() => toOci(policy as Policy), kind, code)
      })
    }
  }

  it('names the argument, the rule and what was received', () => {
    expect(() => setMempolicy({ mode: 'bind' } as never)).toThrow(/policy\.nodes.*at least one node.*'bind'/)
    expect(() => setMempolicy({ mode: 'bind', nodes: [beyond] })).toThrow(
      new RegExp(`policy\\.nodes\\[0\\].*0 to ${highest}.*Received ${beyond}`),
    )
    expect(() => setMempolicy({ mode: 'fast' as never })).toThrow(/policy\.mode.*one of 'default'.*Received type string \("fast"\)/)
  })

  it('mbind rejects bad memory and options without a syscall', () => {
    const memory = alloc(4 * 4096)
    const policy: Policy = { mode: 'bind', nodes: [0] }
    for (const value of [undefined, null, 1, 'buffer', {}, [1, 2], { byteLength: 8192 }]) {
      expectRejected(() => mbind(value as never, policy), TypeError, 'ERR_INVALID_ARG_TYPE')
    }
    for (const options of [null, 1, 'strict', { strict: 1 }, { move: 'yes' }, { moveAll: null }]) {
      expectRejected(() => mbind(memory, policy, options as never), TypeError, 'ERR_INVALID_ARG_TYPE')
    }
    // No whole page inside: a RangeError, and the pages around it keep their policy.
    expectRejected(() => mbind(memory.subarray(100, 4096 + 100), policy), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => mbind(new Uint8Array(0), policy), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => mbind(memory.subarray(1, 1), policy), RangeError, 'ERR_OUT_OF_RANGE')
    expect(policyOf(memory).mode).toBe('default')
  })

  it('policyOf, nodeOf and setHomeNode reject bad arguments', () => {
    const memory = alloc(2 * 4096)
    expectRejected(() => policyOf({} as never), TypeError, 'ERR_INVALID_ARG_TYPE')
    expectRejected(() => policyOf(memory.subarray(1, 4096)), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => nodeOf(memory, -1), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => nodeOf(memory, memory.byteLength), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => nodeOf(memory, 1.5), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => nodeOf(memory, '0' as never), TypeError, 'ERR_INVALID_ARG_TYPE')
    expectRejected(() => nodeOf(new Uint8Array(0)), RangeError, 'ERR_OUT_OF_RANGE')
    mbind(memory, { mode: 'bind', nodes: [0] })
    expectRejected(() => setHomeNode(memory, beyond), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => setHomeNode(memory, -1), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => setHomeNode(memory, '0' as never), TypeError, 'ERR_INVALID_ARG_TYPE')
    expectRejected(() => setHomeNode(memory.subarray(1, 8191), 0), RangeError, 'ERR_OUT_OF_RANGE')
  })

  it('alloc rejects bad sizes and options without a syscall', () => {
    for (const size of [0, -1, 1.5, NaN, Infinity, 2 ** 53]) expectRejected(() => alloc(size), RangeError, 'ERR_OUT_OF_RANGE')
    for (const size of ['4096', 4096n, null, undefined]) expectRejected(() => alloc(size as never), TypeError, 'ERR_INVALID_ARG_TYPE')
    for (const options of [null, 1, { hugePages: 1 }, { hugePages: 'yes' }]) {
      expectRejected(() => alloc(4096, undefined, options as never), TypeError, 'ERR_INVALID_ARG_TYPE')
    }
  })

  it('fromOci rejects what the rules reject', () => {
    const rejects: [unknown, typeof TypeError | typeof RangeError][] = [
      [null, TypeError],
      ['MPOL_BIND', TypeError],
      [[], TypeError],
      [{}, TypeError],
      [{ mode: 'bind', nodes: '0' }, TypeError],
      [{ mode: 'MPOL_FOO', nodes: '0' }, TypeError],
      [{ mode: 'MPOL_BIND' }, TypeError],
      [{ mode: 'MPOL_BIND', nodes: [0] }, TypeError],
      [{ mode: 'MPOL_BIND', nodes: 0 }, TypeError],
      [{ mode: 'MPOL_BIND', nodes: '0', flags: 'MPOL_F_STATIC_NODES' }, TypeError],
      [{ mode: 'MPOL_BIND', nodes: '0', flags: ['static-nodes'] }, TypeError],
      [{ mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_F_STATIC_NODES', 'MPOL_F_RELATIVE_NODES'] }, TypeError],
      [{ mode: 'MPOL_INTERLEAVE', nodes: '0', flags: ['MPOL_F_NUMA_BALANCING'] }, TypeError],
      [{ mode: 'MPOL_DEFAULT', nodes: '0' }, TypeError],
      [{ mode: 'MPOL_LOCAL', flags: ['MPOL_F_STATIC_NODES'] }, TypeError],
      [{ mode: 'MPOL_PREFERRED', flags: ['MPOL_F_STATIC_NODES'] }, TypeError],
      [{ mode: 'MPOL_BIND', nodes: '0-x' }, TypeError],
      [{ mode: 'MPOL_BIND', nodes: '32768' }, RangeError],
      [{ mode: 'MPOL_BIND', nodes: 'all' }, TypeError],
    ]
    for (const [value, kind] of rejects) expectRejected(() => fromOci(value), kind)
  })
})
