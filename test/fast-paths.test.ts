// The fast paths added for speed (bench/) give exactly what the general code gives: node-list parsing
// without RegExp calls and with a block-copied result, formatting of plain arrays without an iterator,
// node arrays copied without a bitmap while they ascend, the last node-list text remembered, and the
// addon's ArrayBuffer masks and three-argument get_mempolicy calls. Each is checked against a
// reference (the straightforward code it replaced) or against the general path of the same call.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { binding } from '../src/binding'
import { constants } from '../src/constants'
import { invalidValue, outOfRange } from '../src/errors'
import { alloc, formatNodes, getMempolicy, mbind, memsAllowed, nodeOf, pageSize, parseNodes, policyOf, setMempolicy } from '../src/index'
import { MAX_NODE_ID, maskWords } from '../src/ids'
import { encodePolicy } from '../src/policy'
import { highestPossibleNode } from '../src/topology'
import { keepingPolicy } from './kernel-view'

const RUNS = Number(process.env.MEMPOLICY_FUZZ_RUNS ?? 300)
const P = pageSize
const node = memsAllowed()[0]!

/** parseIdList as it was before it was made fast: a RegExp per space, closures, push per id. */
function referenceParse(text: string, name: string, resolveAll: () => number[]): number[] {
  const SPACE = /\s/
  const n = text.length
  let i = 0
  const skip = (): void => {
    while (i < n && SPACE.test(text[i]!)) i++
  }
  skip()
  if (i === n) return []
  if (text.slice(i).trimEnd() === 'all') return resolveAll()
  const number = (): number => {
    const start = i
    let value = 0
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c < 48 || c > 57) break
      value = value * 10 + (c - 48)
      i++
    }
    if (i === start) {
      throw invalidValue(name, `must be a node list such as "0-3,7" (unexpected ${i < n ? JSON.stringify(text[i]) : 'end'} at ${i})`, text)
    }
    if (value > MAX_NODE_ID) throw outOfRange(name, `a list of node ids from 0 to ${MAX_NODE_ID}`, text)
    return value
  }
  const seen = new Set<number>()
  for (;;) {
    const first = number()
    skip()
    let last = first
    if (i < n && text[i] === '-') {
      i++
      skip()
      last = number()
      skip()
      if (last < first) throw invalidValue(name, `must not hold a descending range (${first}-${last})`, text)
    }
    for (let id = first; id <= last; id++) seen.add(id)
    if (i === n) break
    if (text[i] !== ',') {
      throw invalidValue(name, `must be a node list such as "0-3,7" (unexpected ${JSON.stringify(text[i])} at ${i})`, text)
    }
    i++
    skip()
  }
  return [...seen].sort((a, b) => a - b)
}

/** The result of a call, or the class, code and message of what it threw. */
function outcome(call: () => unknown): unknown {
  try {
    return { value: call() }
  } catch (err) {
    const e = err as Error & { code?: string }
    return { error: e.constructor.name, code: e.code, message: e.message }
  }
}

const all = (): number[] => [0, 1, 2]

// Node-list texts: numbers (small, past the block-copy limit, past MAX_NODE_ID), ranges (also
// descending), separators with ASCII and Unicode spaces, junk, "all".
const spaces = fc.constantFrom('', ' ', '  ', '\t', '\n', '\u00a0', '\u2003', '\u3000', '\ufeff', '\u200b', '\u0085')
const id = fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 32760, max: 32770 }))
const item = fc.oneof(
  fc.tuple(id, spaces).map(([a, s]) => `${s}${a}${s}`),
  fc.tuple(id, id, spaces, spaces).map(([a, b, s, t]) => `${s}${a}${t}-${s}${b}${t}`),
  fc.tuple(id, fc.integer({ min: 0, max: 3000 })).map(([a, d]) => `${a}-${a + d}`),
)
const listText = fc.oneof(
  { weight: 8, arbitrary: fc.array(item, { minLength: 1, maxLength: 40 }).map((items) => items.join(',')) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      'all',
      ' all\n',
      'all,1',
      '1,all',
      'ALL',
      '-1',
      '1-',
      ',1',
      '1,',
      '1,,2',
      '1 2',
      '0x1',
      '1.0',
      '+1',
      '1-2-3',
      '9'.repeat(30),
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom('0', '1', '7', '-', ',', ' ', '\u00a0', 'a', '\u2028'), maxLength: 20 }) },
)

describe('node lists', () => {
  it('parseNodes gives what the straightforward parser gives: the same ids, or the same error', () => {
    fc.assert(
      fc.property(listText, (text) => {
        expect(outcome(() => parseNodes(text))).toEqual(outcome(() => referenceParse(text, 'text', () => parseNodes('all'))))
      }),
      { numRuns: RUNS * 5 },
    )
  })

  it('takes as a space exactly what \\s matches, for every UTF-16 code unit', () => {
    const mismatches: number[] = []
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c)
      const text = `${ch}1${ch}-${ch}2${ch},${ch}4${ch}`
      if (JSON.stringify(outcome(() => parseNodes(text))) !== JSON.stringify(outcome(() => referenceParse(text, 'text', all))))
        mismatches.push(c)
    }
    expect(mismatches).toEqual([])
  })

  it('returns a new array every time, even for the same text', () => {
    const first = parseNodes('0-1023')
    first[0] = 99
    first.push(5000)
    expect(parseNodes('0-1023')).toEqual([...Array(1024).keys()])
    expect(parseNodes('0-1023')).not.toBe(parseNodes('0-1023'))
    expect(Object.isFrozen(parseNodes('1,3'))).toBe(false)
  })

  it('parses lists of many ranges and ids past the block-copy limit like any other', () => {
    for (const text of [
      '0-5000',
      '4095-4097',
      '0,4096,32767',
      Array.from({ length: 5000 }, (_, k) => 2 * k).join(','),
      Array.from({ length: 3000 }, (_, k) => 3000 - k).join(','),
      '0-32767',
      '32767,0-3,0',
    ]) {
      expect(parseNodes(text)).toEqual(referenceParse(text, 'text', all))
    }
  })

  // The array fast path of formatNodes against the iterator path: a Set or a generator of the same ids.
  it('formats an array as it formats any other iterable of the same ids', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 80 }), fc.integer({ min: 0, max: MAX_NODE_ID })), { maxLength: 60 }),
        (ids) => {
          const text = formatNodes(ids)
          expect(formatNodes(new Set(ids))).toBe(text)
          expect(
            formatNodes(
              (function* () {
                yield* ids
              })(),
            ),
          ).toBe(text)
          expect(text).toBe(formatNodes([...new Set(ids)].sort((a, b) => a - b)))
          expect(parseNodes(text)).toEqual([...new Set(ids)].sort((a, b) => a - b))
        },
      ),
      { numRuns: RUNS },
    )
  })

  it('rejects a bad array element with the message of the iterator path', () => {
    for (const bad of [
      [0, 1, -1],
      [0, 2, 1.5],
      [3, 'x'],
      [0, MAX_NODE_ID + 1],
      [5, 4, NaN],
      [0, , 2],
      [1, 1n],
    ]) {
      expect(outcome(() => formatNodes(bad as number[]))).toEqual(
        outcome(() =>
          formatNodes(
            (function* () {
              yield* bad
            })() as Iterable<number>,
          ),
        ),
      )
      expect(outcome(() => formatNodes(bad as number[]))).toMatchObject({ code: expect.stringMatching(/^ERR_/) })
    }
  })

  it('leaves arrays with their own iterator, or in a Proxy, to the iterator path', () => {
    const own = [1, 2, 3]
    Object.defineProperty(own, Symbol.iterator, {
      value: function* () {
        yield 7
      },
    })
    expect(formatNodes(own)).toBe('7')
    const reads: PropertyKey[] = []
    const proxy = new Proxy([4, 5], {
      get: (target, key, receiver) => {
        reads.push(key)
        return Reflect.get(target, key, receiver)
      },
    })
    expect(formatNodes(proxy)).toBe('4-5')
    expect(reads).toContain(Symbol.iterator)
    const getter = [0, 1]
    Object.defineProperty(getter, 1, {
      get: () => {
        throw new Error('boom')
      },
    })
    expect(outcome(() => formatNodes(getter))).toMatchObject({ error: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' })
  })
})

describe('policies', () => {
  const highest = highestPossibleNode()

  it('copies a node array: ascending as given, otherwise unique in the order first seen', () => {
    const nodes = [node]
    const encoded = encodePolicy({ mode: 'bind', nodes }, 'policy', all)
    expect(encoded.nodes).toEqual([node])
    expect(encoded.nodes).not.toBe(nodes)
    expect(encodePolicy({ mode: 'bind', nodes: [node, node, node] }, 'policy', all).nodes).toEqual([node])
    // More elements than possible nodes: the copy is no longer than the unique ids.
    const many = encodePolicy({ mode: 'bind', nodes: Array(highest + 50).fill(node) }, 'policy', all).nodes
    expect(many).toEqual([node])
    expect(many.length).toBe(1)
    if (highest >= 3) expect(encodePolicy({ mode: 'bind', nodes: [3, 1, 3, 2, 1] }, 'policy', all).nodes).toEqual([3, 1, 2])
  })

  it('names the bad element of a node array, whether or not the ids before it ascend', () => {
    for (const nodes of [
      [node, -1],
      [node, node, 'x'],
      [node, highest + 1],
    ]) {
      expect(outcome(() => encodePolicy({ mode: 'bind', nodes }, 'policy', all))).toMatchObject({
        message: expect.stringContaining(`"policy.nodes[${nodes.length - 1}]"`),
      })
    }
  })

  it('gives the same nodes for the same text again, never a list the caller could change', () => {
    const text = `${node}`
    const first = encodePolicy({ mode: 'bind', nodes: text }, 'policy', all).nodes
    const second = encodePolicy({ mode: 'bind', nodes: `${text}` }, 'policy', all).nodes
    expect(second).toEqual([node])
    expect(Object.isFrozen(second)).toBe(true)
    expect(first).toEqual(second)
    // "all" is read afresh every time.
    let calls = 0
    const counting = (): number[] => {
      calls++
      return [node]
    }
    encodePolicy({ mode: 'bind', nodes: 'all' }, 'policy', counting)
    encodePolicy({ mode: 'bind', nodes: 'all' }, 'policy', counting)
    expect(calls).toBe(2)
  })

  it('reads the policy back as a fresh object with fresh arrays every time', () => {
    keepingPolicy(() => {
      setMempolicy({ mode: 'bind', nodes: [node], flags: ['static-nodes'] })
      const first = getMempolicy()
      ;(first.nodes as number[]).push(1000)
      first.flags.pop()
      ;(first as { mode: string }).mode = 'local'
      expect(getMempolicy()).toEqual({ mode: 'bind', nodes: [node], flags: ['static-nodes'] })
      expect(getMempolicy().nodes).not.toBe(getMempolicy().nodes)
    })
  })
})

describe("the addon's fast forms", () => {
  const native = binding()
  const maxnode = (words: number): number => words * 64

  it('takes a nodemask as an ArrayBuffer or as the Uint32Array over it, and refuses partial words', () => {
    keepingPolicy(() => {
      const words = maskWords(highestPossibleNode())
      const buffer = new ArrayBuffer(words * 8)
      new Uint32Array(buffer)[node >>> 5] = 1 << (node & 31)
      expect(native.setMempolicy(constants.MPOL_BIND, buffer, maxnode(words) + 1)).toBe(0)
      const intoBuffer = new ArrayBuffer(words * 8)
      const intoArray = new Uint32Array(words * 2)
      expect(native.getMempolicy(intoBuffer, maxnode(words), undefined, 0, 0)).toBe(constants.MPOL_BIND)
      expect(native.getMempolicy(intoArray, maxnode(words), undefined, 0, 0)).toBe(constants.MPOL_BIND)
      expect(new Uint32Array(intoBuffer)).toEqual(intoArray)
      expect(intoArray[node >>> 5]).toBe((1 << (node & 31)) >>> 0)
      expect(() => native.setMempolicy(constants.MPOL_BIND, new ArrayBuffer(12), 65)).toThrow(TypeError)
      expect(() => native.getMempolicy(new ArrayBuffer(4), 32, undefined, 0, 0)).toThrow(TypeError)
      expect(() => native.setMempolicy(constants.MPOL_BIND, new Uint8Array(8) as never, 65)).toThrow(TypeError)
    })
  })

  it('answers threadPolicy and nodeOf as getMempolicy does with the same flags', () => {
    keepingPolicy(() => {
      const words = maskWords(highestPossibleNode())
      const a = new ArrayBuffer(words * 8)
      const b = new Uint32Array(words * 2)
      setMempolicy({ mode: 'interleave', nodes: [node] })
      expect(native.threadPolicy(a)).toBe(native.getMempolicy(b, maxnode(words), undefined, 0, 0))
      expect(new Uint32Array(a)).toEqual(b)

      const memory = alloc(8 * P)
      memory.fill(1)
      mbind(memory.subarray(P), { mode: 'bind', nodes: [node] })
      for (const offset of [0, P - 1, P, 8 * P - 1]) {
        expect(native.nodeOf(memory, offset)).toBe(
          native.getMempolicy(null, 0, memory, offset, constants.MPOL_F_NODE | constants.MPOL_F_ADDR),
        )
      }
      expect(native.nodeOf(memory, 8 * P)).toBe(-34)
      expect(native.nodeOf(memory, -1)).toBe(-34)
      expect(() => native.nodeOf({} as never, 0)).toThrow(TypeError)
      // And through the facade.
      expect(nodeOf(memory, P)).toBe(node)
      expect(policyOf(memory.subarray(P))).toEqual({ mode: 'bind', nodes: [node], flags: [] })
    })
  })
})
