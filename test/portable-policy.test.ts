// Policies from elsewhere, on this one-node machine: an OCI config written for another host, ids that
// 'static-nodes' and 'relative-nodes' allow beyond this host's nodes, and a PolicyInfo that the
// kernel reported being set again as it is. One test per rule of docs/validation.md, "Policies from
// elsewhere"; the kernel's own answer (raw get_mempolicy, numa_maps) is the oracle.
import { describe, expect, it } from 'vitest'
import { binding } from '../src/binding'
import { constants } from '../src/constants'
import { MempolicyError, alloc, fromOci, getMempolicy, mbind, memsAllowed, policyOf, setMempolicy, toOci, topology } from '../src/index'
import { nodemaskWidth } from '../src/policy'
import { expectRejected, kernelThreadPolicy, keepingPolicy } from './kernel-view'

const native = binding()
const possible = topology().possible
const highest = possible.at(-1)!
const node = memsAllowed()[0]!
const width = nodemaskWidth()
const { MPOL_BIND, MPOL_F_RELATIVE_NODES, MPOL_F_STATIC_NODES } = constants

/** A mask of `words` 64-bit words with `ids` set, as the addon takes it. */
function rawMask(ids: number[], words = Math.ceil((Math.max(...ids, 0) + 1) / 64)): Uint32Array {
  const mask = new Uint32Array(words * 2)
  for (const id of ids) mask[id >>> 5]! |= 1 << (id & 31)
  return mask
}

/** The calling thread's policy as get_mempolicy returns it, read without the facade: [mode | flags, ids]. */
function rawThreadPolicy(): [number, number[]] {
  const words = Math.ceil(width / 64)
  const mask = new Uint32Array(words * 2)
  const mode = native.getMempolicy(mask, words * 64, undefined, 0, 0)
  const ids: number[] = []
  for (let id = 0; id < words * 64; id++) if ((mask[id >>> 5]! >>> (id & 31)) & 1) ids.push(id)
  return [mode, ids]
}

function rawRangePolicy(memory: Uint8Array): [number, number[]] {
  const words = Math.ceil(width / 64)
  const mask = new Uint32Array(words * 2)
  const mode = native.getMempolicy(mask, words * 64, memory, -1, constants.MPOL_F_ADDR)
  const ids: number[] = []
  for (let id = 0; id < words * 64; id++) if ((mask[id >>> 5]! >>> (id & 31)) & 1) ids.push(id)
  return [mode, ids]
}

describe('the kernel nodemask width', () => {
  it('is the bit width of Mems_allowed, which the kernel enforces: the last id is taken, the next is EINVAL', () => {
    expect(width % 32).toBe(0)
    expect(width).toBeGreaterThan(highest)
    keepingPolicy(() => {
      const words = Math.ceil((width + 1) / 64)
      expect(native.setMempolicy(MPOL_BIND | MPOL_F_RELATIVE_NODES, rawMask([width - 1], words), words * 64 + 1)).toBe(0)
      expect(native.setMempolicy(MPOL_BIND | MPOL_F_RELATIVE_NODES, rawMask([width], words), words * 64 + 1)).toBe(-22)
    })
  })
})

describe('portable policies on a one-node machine', () => {
  it("fromOci takes the runtime spec's own example, whose nodes this machine does not have", () => {
    expect(possible).not.toContain(2)
    const example = { mode: 'MPOL_INTERLEAVE', nodes: '2-3', flags: ['MPOL_F_STATIC_NODES'] }
    expect(fromOci(example)).toEqual({ mode: 'interleave', nodes: [2, 3], flags: ['static-nodes'] })
    expect(toOci(fromOci(example))).toEqual(example)
  })

  it('fromOci and toOci take any id the list syntax allows, with or without flags', () => {
    expect(fromOci({ mode: 'MPOL_BIND', nodes: '5,7-9' })).toEqual({ mode: 'bind', nodes: [5, 7, 8, 9] })
    expect(toOci({ mode: 'bind', nodes: [highest + 1, 32767] })).toEqual({ mode: 'MPOL_BIND', nodes: `${highest + 1},32767` })
    expect(toOci({ mode: 'preferred-many', nodes: '1000-1003', flags: ['relative-nodes'] })).toEqual({
      mode: 'MPOL_PREFERRED_MANY',
      nodes: '1000-1003',
      flags: ['MPOL_F_RELATIVE_NODES'],
    })
  })

  it("fromOci and toOci still check the spec's syntax and set_mempolicy's rules", () => {
    expectRejected(() => fromOci({ mode: 'MPOL_BIND', nodes: '32768' }), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => toOci({ mode: 'bind', nodes: [32768] }), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => fromOci({ mode: 'MPOL_BIND', nodes: '2-' }), TypeError, 'ERR_INVALID_ARG_VALUE')
    expectRejected(() => fromOci({ mode: 'MPOL_LOCAL', nodes: '2' }), TypeError, 'ERR_INVALID_ARG_VALUE')
    expectRejected(
      () => fromOci({ mode: 'MPOL_INTERLEAVE', nodes: '2', flags: ['MPOL_F_NUMA_BALANCING'] }),
      TypeError,
      'ERR_INVALID_ARG_VALUE',
    )
  })

  it("fromOci and toOci refuse 'all', which would be this machine's nodes", () => {
    expectRejected(() => fromOci({ mode: 'MPOL_BIND', nodes: 'all' }), TypeError, 'ERR_INVALID_ARG_VALUE')
    expectRejected(() => toOci({ mode: 'bind', nodes: 'all' }), TypeError, 'ERR_INVALID_ARG_VALUE')
  })

  it("static-nodes takes ids past this machine's nodes, as the kernel does", () => {
    keepingPolicy(() => {
      setMempolicy({ mode: 'interleave', nodes: [node, highest + 5], flags: ['static-nodes'] })
      expect(rawThreadPolicy()).toEqual([constants.MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, [node, highest + 5]])
      expect(getMempolicy()).toEqual({ mode: 'interleave', nodes: [node, highest + 5], flags: ['static-nodes'] })
    })
  })

  it("a mask with no allowed node left is the kernel's to refuse (EINVAL), not a validation error", () => {
    keepingPolicy(() => {
      let thrown: unknown
      try {
        setMempolicy(fromOci({ mode: 'MPOL_INTERLEAVE', nodes: `${highest + 2}-${highest + 3}`, flags: ['MPOL_F_STATIC_NODES'] }))
      } catch (err) {
        thrown = err
      }
      expect(thrown).toBeInstanceOf(MempolicyError)
      expect(thrown).toMatchObject({ code: 'EINVAL', syscall: 'set_mempolicy' })
    })
  })

  it('relative-nodes takes ids up to the width less one, in a mask wide enough for them', () => {
    keepingPolicy(() => {
      // Bit 64 lies past a one-word mask: had it not reached the kernel, the mask would be empty (EINVAL).
      setMempolicy({ mode: 'bind', nodes: [64], flags: ['relative-nodes'] })
      expect(rawThreadPolicy()[0]).toBe(MPOL_BIND | MPOL_F_RELATIVE_NODES)
      expect(kernelThreadPolicy()).toBe(`bind=relative:${node}`)
      setMempolicy({ mode: 'bind', nodes: `${width - 1}`, flags: ['relative-nodes'] })
      expect(rawThreadPolicy()[0]).toBe(MPOL_BIND | MPOL_F_RELATIVE_NODES)
      // static-nodes keeps the ids as given: the kernel refuses a mask with no allowed node left.
      const memory = alloc(4 * 4096, { mode: 'bind', nodes: [node, width - 1], flags: ['static-nodes'] })
      expect(rawRangePolicy(memory)[0]).toBe(MPOL_BIND | MPOL_F_STATIC_NODES)
      let refused: unknown
      try {
        alloc(4096, { mode: 'bind', nodes: [width - 1], flags: ['static-nodes'] })
      } catch (err) {
        refused = err
      }
      expect(refused).toMatchObject({ code: 'EINVAL', syscall: 'mbind' })
    })
  })

  it('the width is the bound: one more is a RangeError before any syscall, naming it', () => {
    const err = expectRejected(
      () => setMempolicy({ mode: 'bind', nodes: [width], flags: ['relative-nodes'] }),
      RangeError,
      'ERR_OUT_OF_RANGE',
    )
    expect(err.message).toMatch(new RegExp(`from 0 to ${width - 1} \\(the kernel's node mask, MAX_NUMNODES`))
    expectRejected(() => mbind(alloc(4096), { mode: 'bind', nodes: `0-${width}`, flags: ['static-nodes'] }), RangeError, 'ERR_OUT_OF_RANGE')
  })

  it('without those flags, ids stop at the highest possible node', () => {
    expectRejected(() => setMempolicy({ mode: 'bind', nodes: [highest + 1] }), RangeError, 'ERR_OUT_OF_RANGE')
    expectRejected(() => setMempolicy({ mode: 'bind', nodes: [highest + 1], flags: ['numa-balancing'] }), RangeError, 'ERR_OUT_OF_RANGE')
  })

  it('a thread policy the kernel reports is set again as it is: bind|relative over 0-3 set with the raw syscall', () => {
    keepingPolicy(() => {
      expect(native.setMempolicy(MPOL_BIND | MPOL_F_RELATIVE_NODES, rawMask([0, 1, 2, 3], 1), 65)).toBe(0)
      const reported = rawThreadPolicy()
      expect(reported).toEqual([MPOL_BIND | MPOL_F_RELATIVE_NODES, [0, 1, 2, 3]])
      const info = getMempolicy()
      expect(info).toEqual({ mode: 'bind', nodes: [0, 1, 2, 3], flags: ['relative-nodes'] })
      setMempolicy({ mode: 'local' })
      setMempolicy(info)
      expect(rawThreadPolicy()).toEqual(reported)
      expect(toOci(getMempolicy())).toEqual({ mode: 'MPOL_BIND', nodes: '0-3', flags: ['MPOL_F_RELATIVE_NODES'] })
      setMempolicy(fromOci(toOci(getMempolicy())))
      expect(rawThreadPolicy()).toEqual(reported)
    })
  })

  it('a range policy the kernel reports is set again as it is: interleave|static over 0-3 set with the raw syscall', () => {
    const memory = alloc(8 * 4096)
    expect(native.mbind(memory, constants.MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, rawMask([0, 1, 2, 3], 1), 65, 0)).toBeGreaterThan(0)
    const reported = rawRangePolicy(memory)
    expect(reported).toEqual([constants.MPOL_INTERLEAVE | MPOL_F_STATIC_NODES, [0, 1, 2, 3]])
    const info = policyOf(memory)
    mbind(memory, { mode: 'default' })
    expect(rawRangePolicy(memory)[0]).toBe(constants.MPOL_DEFAULT)
    mbind(memory, info)
    expect(rawRangePolicy(memory)).toEqual(reported)
    const copy = alloc(4096, policyOf(memory))
    expect(rawRangePolicy(copy)).toEqual(reported)
  })
})
