import { describe, expect, it } from 'vitest'
import { formatNodes, memsAllowed, parseNodes, topology } from '../src/index'

describe('parseNodes', () => {
  const valid: [string, number[]][] = [
    ['', []],
    ['   ', []],
    ['0', [0]],
    ['7', [7]],
    ['0-3,7', [0, 1, 2, 3, 7]],
    ['0-3, 7', [0, 1, 2, 3, 7]],
    ['0 - 3 , 7', [0, 1, 2, 3, 7]],
    [' 1 ', [1]],
    ['0-3\n', [0, 1, 2, 3]],
    ['3,1,2', [1, 2, 3]],
    ['1,1,1', [1]],
    ['0-2,1-3', [0, 1, 2, 3]],
    ['5-5', [5]],
    ['63,64', [63, 64]],
    ['62-65', [62, 63, 64, 65]],
    ['1023', [1023]],
    ['010', [10]],
    ['4-6,0-1', [0, 1, 4, 5, 6]],
    ['1,0', [0, 1]],
  ]
  for (const [text, nodes] of valid) {
    it(`parses ${JSON.stringify(text)}`, () => expect(parseNodes(text)).toEqual(nodes))
  }

  it("'all' is every allowed node with memory", () => {
    const withMemory = topology().withMemory
    expect(parseNodes('all')).toEqual(memsAllowed().filter((n) => withMemory.includes(n)))
    expect(parseNodes(' all ')).toEqual(parseNodes('all'))
  })

  const malformed = [
    ',',
    '0,',
    ',0',
    '0,,1',
    '-1',
    '1-',
    '-',
    '3-1',
    'a',
    '0x10',
    '1.5',
    '1;2',
    '1-2-3',
    '0 1',
    'ALL',
    'All',
    'all,1',
    '1,all',
    '!0',
    '+1',
    '1e3',
    '１',
    '0-3,',
    'node0',
    '1--0',
  ]
  for (const text of malformed) {
    it(`rejects ${JSON.stringify(text)} with ERR_INVALID_ARG_VALUE`, () => {
      expect(() => parseNodes(text)).toThrow(TypeError)
      expect(() => parseNodes(text)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    })
  }

  it('rejects ids past any real machine with ERR_OUT_OF_RANGE', () => {
    for (const text of ['32768', '0-4000000000', '99999999999999999999999']) {
      expect(() => parseNodes(text)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    }
  })

  it('rejects what is not a string with ERR_INVALID_ARG_TYPE', () => {
    for (const value of [undefined, null, 0, [0], {}, 1n]) {
      expect(() => parseNodes(value as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    }
  })

  it('parses a 1024-node list', () => {
    const text = Array.from({ length: 1024 }, (_, i) => i).join(',')
    expect(parseNodes(text)).toEqual(Array.from({ length: 1024 }, (_, i) => i))
    expect(parseNodes('0-1023')).toHaveLength(1024)
  })
})

describe('formatNodes', () => {
  const cases: [number[] | Iterable<number>, string][] = [
    [[], ''],
    [[0], '0'],
    [[7, 0, 1, 2, 3], '0-3,7'],
    [[0, 1], '0-1'],
    [[0, 2], '0,2'],
    [[3, 3, 1], '1,3'],
    [[0, 2, 3, 4, 6, 8, 9], '0,2-4,6,8-9'],
    [new Set([5, 4]), '4-5'],
    [new Uint8Array([1, 2, 3]), '1-3'],
    [[63, 64, 65, 1023], '63-65,1023'],
  ]
  for (const [nodes, text] of cases) {
    it(`formats ${JSON.stringify([...nodes])} as '${text}'`, () => expect(formatNodes(nodes)).toBe(text))
  }

  it('is the inverse of parseNodes', () => {
    for (const text of ['', '0', '0-3,7', '1,3,5-9,63-64']) expect(formatNodes(parseNodes(text))).toBe(text)
  })

  it('rejects bad input', () => {
    expect(() => formatNodes(5 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    expect(() => formatNodes('0-3' as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    expect(() => formatNodes(null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    expect(() => formatNodes(['1'] as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    expect(() => formatNodes([-1])).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => formatNodes([1.5])).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => formatNodes([NaN])).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
  })
})
