// Property-based tests over every export with random and hostile arguments: wrong types, huge,
// negative, NaN, BigInt, Symbols, Proxies (throwing traps, different answers on each read, revoked),
// throwing getters, detached and resized ArrayBuffers, SharedArrayBuffers, views at odd offsets.
// Whatever the arguments: the process survives, every failure is an Error with a string `code`, and
// a rejected call changed nothing: neither the thread policy (ours and the kernel's own view in
// numa_maps) nor the range policy of the memory it was given and of its neighbours.
import { isDeepStrictEqual, types } from 'node:util'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as mp from '../src/index'
import { MODES } from '../src/constants'
import { kernelThreadPolicy, numaMaps, rangePolicies } from './kernel-view'

const P = mp.pageSize
const node = mp.memsAllowed()[0]!
const highest = mp.topology().possible.at(-1)!
const RUNS = Number(process.env.MEMPOLICY_FUZZ_RUNS ?? 200)

// ---------------------------------------------------------------------------------------------
// Values. Arbitraries yield thunks, so every run gets fresh objects (a revoked Proxy, a detached
// buffer) and fast-check prints a label instead of touching a hostile value.

type Thunk = (() => unknown) & { label: string }

function thunk(label: string, make: () => unknown): Thunk {
  return Object.assign(make, { label, [fc.toStringMethod]: () => label })
}

/** A value used as it is; its label is worked out only when printed. */
function plain(value: unknown, label?: string): Thunk {
  const make = (): unknown => value
  const text = (): string => label ?? fc.stringify(value)
  Object.defineProperty(make, 'label', { get: text })
  return Object.assign(make, { [fc.toStringMethod]: text }) as unknown as Thunk
}

/** A handler whose every trap throws `thrown`. */
function throwing(thrown: () => unknown): ProxyHandler<object> {
  const trap = (): never => {
    throw thrown()
  }
  return {
    get: trap,
    set: trap,
    has: trap,
    ownKeys: trap,
    getOwnPropertyDescriptor: trap,
    getPrototypeOf: trap,
    defineProperty: trap,
    deleteProperty: trap,
    isExtensible: trap,
    preventExtensions: trap,
    setPrototypeOf: trap,
    apply: trap,
    construct: trap,
  }
}

/** A Proxy whose `get` answers with the next of `answers` on each read, whatever the key. */
function flipping<T extends object>(target: T, answers: readonly unknown[]): T {
  let k = 0
  return new Proxy(target, {
    get: (t, key) => (key === Symbol.iterator || key === 'then' ? Reflect.get(t, key) : answers[k++ % answers.length]),
  })
}

const KEYS = [
  'mode',
  'nodes',
  'flags',
  'strict',
  'move',
  'moveAll',
  'hugePages',
  'scope',
  'all',
  'mempolicy',
  'length',
  'byteLength',
  '0',
  '1',
]

function throwingGetters(target: object): object {
  for (const key of [...KEYS, Symbol.iterator]) {
    if (key === 'length' && (Array.isArray(target) || typeof target === 'function')) continue
    Object.defineProperty(target, key, {
      get() {
        throw new Error(`getter ${String(key)}`)
      },
      configurable: true,
    })
  }
  return target
}

function detached(): ArrayBuffer {
  const buffer = new ArrayBuffer(4 * P)
  structuredClone(buffer, { transfer: [buffer] })
  return buffer
}

function shrunk(make: (buffer: ArrayBuffer) => unknown, to: number): () => unknown {
  return () => {
    const buffer = new ArrayBuffer(8 * P, { maxByteLength: 16 * P })
    const view = make(buffer)
    buffer.resize(to)
    return view
  }
}

const HOSTILE: Thunk[] = [
  thunk('revoked Proxy', () => {
    const r = Proxy.revocable({}, {})
    r.revoke()
    return r.proxy
  }),
  thunk('revoked array Proxy', () => {
    const r = Proxy.revocable([0], {})
    r.revoke()
    return r.proxy
  }),
  thunk('revoked function Proxy', () => {
    const r = Proxy.revocable(() => 0, {})
    r.revoke()
    return r.proxy
  }),
  thunk(
    'Proxy whose traps throw an Error',
    () =>
      new Proxy(
        {},
        throwing(() => new Error('trap')),
      ),
  ),
  thunk(
    'array Proxy whose traps throw',
    () =>
      new Proxy(
        [0],
        throwing(() => new RangeError('trap')),
      ),
  ),
  thunk(
    'Proxy whose traps throw a Symbol',
    () =>
      new Proxy(
        {},
        throwing(() => Symbol('thrown')),
      ),
  ),
  thunk(
    'Proxy whose traps throw undefined',
    () =>
      new Proxy(
        {},
        throwing(() => undefined),
      ),
  ),
  thunk(
    'Proxy whose traps throw a revoked Proxy',
    () =>
      new Proxy(
        {},
        throwing(() => {
          const r = Proxy.revocable({}, {})
          r.revoke()
          return r.proxy
        }),
      ),
  ),
  thunk('Proxy answering differently on each read', () =>
    flipping({}, [
      'bind',
      [node],
      undefined,
      'default',
      [highest + 1],
      ['static-nodes', 'relative-nodes'],
      -1,
      true,
      0,
      'x',
      Symbol('s'),
      2n,
    ]),
  ),
  thunk('array Proxy answering differently on each read', () =>
    flipping([node], [1, node, 2 ** 32 - 1, -1, 'x', highest + 1, 1e9, node, 2 ** 32, NaN]),
  ),
  thunk('object whose getters throw', () => throwingGetters({})),
  thunk('array whose getters throw', () => throwingGetters([node, node])),
  thunk('function whose getters throw', () => throwingGetters(() => 0)),
  thunk('array with holes', () => [node, , node]),
  thunk('array of length 2^32 - 1', () => {
    const a: number[] = []
    a.length = 2 ** 32 - 1
    return a
  }),
  thunk('array with a throwing getter at 0', () => {
    const a = [node]
    Object.defineProperty(a, 0, {
      get() {
        throw new Error('element')
      },
    })
    return a
  }),
  thunk('array whose constructor has a hostile species', () => {
    const a = ['MPOL_F_STATIC_NODES']
    ;(a as unknown as { constructor: unknown }).constructor = {
      [Symbol.species]: function () {
        return flipping([], ['x', 1, 'y'])
      },
    }
    return a
  }),
  thunk('object with hostile toPrimitive', () => ({
    [Symbol.toPrimitive]() {
      throw new Error('toPrimitive')
    },
    toString() {
      throw new Error('toString')
    },
    valueOf() {
      throw new Error('valueOf')
    },
  })),
  thunk('iterable whose iterator throws', () => ({
    [Symbol.iterator]() {
      throw new Error('iterator')
    },
  })),
  thunk('iterable whose next throws', () => ({
    [Symbol.iterator]: () => ({
      next() {
        throw new Error('next')
      },
    }),
  })),
  thunk('iterable whose next returns a number', () => ({ [Symbol.iterator]: () => ({ next: () => 1 }) })),
  thunk('iterable yielding a Symbol', () => ({
    *[Symbol.iterator]() {
      yield Symbol('node')
    },
  })),
  thunk('Object.create(ArrayBuffer.prototype)', () => Object.create(ArrayBuffer.prototype)),
  thunk('Object.create(Uint8Array.prototype)', () => Object.create(Uint8Array.prototype)),
  thunk('Proxy of an ArrayBuffer', () => new Proxy(new ArrayBuffer(4 * P), {})),
  thunk('Proxy of a Uint8Array', () => new Proxy(new Uint8Array(4 * P), {})),
  thunk('Uint8Array with a throwing own byteLength', () =>
    Object.defineProperty(new Uint8Array(4 * P), 'byteLength', {
      get() {
        throw new Error('byteLength')
      },
    }),
  ),
  thunk('DataView with a lying own byteLength', () =>
    Object.defineProperty(new DataView(new ArrayBuffer(4 * P)), 'byteLength', { value: 2 ** 40 }),
  ),
  thunk('detached ArrayBuffer', detached),
  thunk('Uint8Array over a detached buffer', () => {
    const b = new ArrayBuffer(4 * P)
    const v = new Uint8Array(b, 3)
    structuredClone(b, { transfer: [b] })
    return v
  }),
  thunk('DataView over a detached buffer', () => {
    const b = new ArrayBuffer(4 * P)
    const v = new DataView(b, 5)
    structuredClone(b, { transfer: [b] })
    return v
  }),
  thunk(
    'resizable ArrayBuffer shrunk to 0',
    shrunk((b) => b, 0),
  ),
  thunk(
    'Uint8Array left outside a shrunk buffer',
    shrunk((b) => new Uint8Array(b, 4 * P, 4 * P), 2 * P),
  ),
  thunk(
    'DataView left outside a shrunk buffer',
    shrunk((b) => new DataView(b, 4 * P, 4 * P), 2 * P),
  ),
  thunk(
    'length-tracking DataView of a shrunk buffer',
    shrunk((b) => new DataView(b, P + 1), 3 * P),
  ),
  thunk(
    'length-tracking Float64Array of a shrunk buffer',
    shrunk((b) => new Float64Array(b, 8), 3 * P + 5),
  ),
  thunk('SharedArrayBuffer', () => new SharedArrayBuffer(5 * P)),
  thunk('growable SharedArrayBuffer', () => {
    const s = new SharedArrayBuffer(2 * P, { maxByteLength: 8 * P })
    s.grow(5 * P)
    return s
  }),
  thunk('view of a SharedArrayBuffer at an odd offset', () => new Int16Array(new SharedArrayBuffer(6 * P), 2 * P - 2)),
  thunk('empty ArrayBuffer', () => new ArrayBuffer(0)),
  thunk('empty Uint8Array', () => new Uint8Array(0)),
  thunk('a Buffer from the pool', () => Buffer.from('mempolicy')),
  thunk('Buffer.allocUnsafeSlow', () => Buffer.allocUnsafeSlow(5 * P + 3).subarray(1)),
  thunk('BigInt64Array at an odd place', () => new BigInt64Array(new ArrayBuffer(9 * P), 8, (3 * P) / 8)),
  thunk('Symbol', () => Symbol('hostile')),
  thunk('Symbol.iterator', () => Symbol.iterator),
  thunk('BigInt', () => 2n ** 70n),
  thunk('negative BigInt', () => -1n),
  thunk('boxed number', () => new Number(0)),
  thunk('boxed string', () => new String('bind')),
  thunk('WeakRef', () => new WeakRef({})),
  thunk('Promise', () => Promise.reject(new Error('unhandled?')).catch(() => 0)),
  thunk('class', () => class {}),
  thunk('frozen policy', () => Object.freeze({ mode: 'interleave', nodes: Object.freeze([node]) })),
  thunk('null-prototype policy', () => Object.assign(Object.create(null), { mode: 'preferred', nodes: node })),
  thunk('policy inheriting its mode', () => Object.create({ mode: 'local' })),
]

const NUMBERS = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  0.5,
  -1,
  2 ** 31,
  2 ** 32,
  2 ** 32 + 1,
  2 ** 53,
  2 ** 53 + 2,
  1e308,
  Number.MIN_VALUE,
  Number.MAX_SAFE_INTEGER,
  -Number.MAX_SAFE_INTEGER,
  highest,
  highest + 1,
  1023,
  1024,
  32767,
  32768,
  0x7fffffff,
]

const anyPlain = fc
  .anything({
    withBigInt: true,
    withBoxedValues: true,
    withNullPrototype: true,
    withTypedArray: true,
    withSparseArray: true,
    withMap: true,
    withSet: true,
    withDate: true,
  })
  .map((v) => plain(v))

const hostile: fc.Arbitrary<Thunk> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE), weight: 4 },
  { arbitrary: fc.constantFrom(...NUMBERS).map((v) => plain(v)), weight: 2 },
  { arbitrary: anyPlain, weight: 2 },
)

const nodeIds = fc.oneof(fc.integer({ min: -2, max: highest + 2 }), fc.constantFrom(...NUMBERS))
const nodesArb: fc.Arbitrary<Thunk> = fc.oneof(
  nodeIds.map((v) => plain(v)),
  fc.array(nodeIds, { maxLength: 6 }).map((v) => plain(v)),
  fc
    .constantFrom(
      'all',
      '',
      '0',
      `${node}`,
      `0-${highest}`,
      `0-${highest + 1}`,
      '0-',
      '1-0',
      ' 0 , 0 ',
      '0x1',
      '+0',
      '!0',
      '0-99999999999',
      'ALL',
      '0,,1',
    )
    .map((v) => plain(v)),
  fc.string({ maxLength: 12 }).map((v) => plain(v)),
  hostile,
)
const flagsArb: fc.Arbitrary<Thunk> = fc.oneof(
  fc.subarray(['static-nodes', 'relative-nodes', 'numa-balancing']).map((v) => plain(v)),
  fc
    .array(
      fc.oneof(fc.constantFrom('static-nodes', 'relative-nodes', 'numa-balancing', 'MPOL_F_STATIC_NODES', '', 'toString'), fc.string()),
      { maxLength: 3 },
    )
    .map((v) => plain(v)),
  hostile,
)
const modeArb: fc.Arbitrary<Thunk> = fc.oneof(
  { arbitrary: fc.constantFrom(...MODES, 'MPOL_BIND', 'toString', '__proto__', 'BIND', '').map((v) => plain(v)), weight: 4 },
  { arbitrary: hostile, weight: 1 },
)

/** A policy: mostly plausible records with random parts, sometimes a hostile value. */
const policyArb: fc.Arbitrary<Thunk> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ mode: modeArb, nodes: nodesArb, flags: flagsArb }, { requiredKeys: ['mode'] }).map((r) =>
      thunk(
        `{ ${Object.entries(r)
          .map(([k, v]) => `${k}: ${v.label}`)
          .join(', ')} }`,
        () => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v()])),
      ),
    ),
  },
  { weight: 1, arbitrary: hostile },
)

/** Options objects with the given keys set to random or hostile values. */
function optionsArb(keys: string[], good: unknown[]): fc.Arbitrary<Thunk> {
  const value = fc.oneof(
    fc.constantFrom(...good, undefined).map((v) => plain(v)),
    hostile,
  )
  const record = fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: keys.length }).map((r) =>
    thunk(
      `{ ${Object.entries(r)
        .map(([k, v]) => `${k}: ${v.label}`)
        .join(', ')} }`,
      () => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v()])),
    ),
  )
  return fc.oneof(
    { arbitrary: record, weight: 3 },
    { arbitrary: fc.constant(plain(undefined)), weight: 1 },
    { arbitrary: hostile, weight: 1 },
  )
}

// ---------------------------------------------------------------------------------------------
// The arena: 32 pages of our own mapping, two halves with distinct range policies, so a change to
// any page (the memory a call was given, or its neighbours) shows in policyOf and numa_maps.

const ARENA_PAGES = 32
let arena: Uint8Array
const LOW = { mode: 'preferred', nodes: [node] } as const
const HIGH = { mode: 'bind', nodes: [node], flags: ['static-nodes'] } as const
// A thread policy no call in this file sets by accident.
const THREAD = { mode: 'interleave', nodes: [node], flags: ['static-nodes'] } as const

function resetArena(): void {
  mp.mbind(arena.subarray(0, (ARENA_PAGES / 2) * P), LOW)
  mp.mbind(arena.subarray((ARENA_PAGES / 2) * P), HIGH)
}

function arenaPolicies(): string[] {
  const out: string[] = []
  for (let i = 0; i < ARENA_PAGES; i++) out.push(JSON.stringify(mp.policyOf(arena.subarray(i * P, (i + 1) * P))))
  return out
}

const VIEWS = ['Uint8Array', 'Int16Array', 'Uint32Array', 'Float64Array', 'BigUint64Array', 'DataView', 'Buffer', 'ArrayBuffer'] as const

/** Views into the arena at any offset and length (odd ones included), or other memory, or hostile values. */
const memoryArb: fc.Arbitrary<Thunk> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .record({
        kind: fc.constantFrom(...VIEWS),
        start: fc.oneof(
          fc.integer({ min: 0, max: ARENA_PAGES * P }),
          fc.integer({ min: 0, max: ARENA_PAGES }).map((p) => p * P),
        ),
        length: fc.oneof(
          fc.integer({ min: 0, max: ARENA_PAGES * P }),
          fc.integer({ min: 0, max: ARENA_PAGES }).map((p) => p * P),
        ),
      })
      .map(({ kind, start, length }) =>
        thunk(`${kind} over the arena at ${start}+${length}`, () => {
          const buffer = arena.buffer
          const size = kind === 'Int16Array' ? 2 : kind === 'Uint32Array' ? 4 : kind === 'Float64Array' || kind === 'BigUint64Array' ? 8 : 1
          const offset = start - (start % size)
          const count = Math.floor(Math.min(length, ARENA_PAGES * P - offset) / size)
          switch (kind) {
            case 'Uint8Array':
              return new Uint8Array(buffer, offset, count)
            case 'Int16Array':
              return new Int16Array(buffer, offset, count)
            case 'Uint32Array':
              return new Uint32Array(buffer, offset, count)
            case 'Float64Array':
              return new Float64Array(buffer, offset, count)
            case 'BigUint64Array':
              return new BigUint64Array(buffer, offset, count)
            case 'DataView':
              return new DataView(buffer, offset, count)
            case 'Buffer':
              return Buffer.from(buffer, offset, count)
            case 'ArrayBuffer':
              return buffer
          }
        }),
      ),
  },
  { weight: 2, arbitrary: hostile },
)

// ---------------------------------------------------------------------------------------------
// The invariant.

interface Snapshot {
  policy: unknown
  kernel: string
  arena: string[]
  ranges: string[]
}

/**
 * The thread policy (ours, and the kernel's: numa_maps prints it on the stack, which has none of its
 * own), every range policy in the process, and each arena page's. One read of numa_maps.
 */
function snapshot(): Snapshot {
  const lines = numaMaps()
  const kernel = lines.find((l) => l.rest.includes('stack'))?.policy ?? 'no stack line'
  const ranges = lines
    .map((l) => l.policy)
    .filter((p) => p !== 'default' && p !== kernel)
    .sort()
  return { policy: mp.getMempolicy(), kernel, arena: arenaPolicies(), ranges }
}

/** The state before each call: what restore() leaves, taken again after any call that succeeded. */
let baseline: Snapshot | undefined

function expectCodedError(err: unknown, label: string): void {
  // Not `instanceof`: a thrown Proxy would run (or, revoked, throw from) its getPrototypeOf trap.
  const proto = types.isProxy(err) ? undefined : Object.getPrototypeOf(err)
  if (
    !types.isNativeError(err) ||
    !Object.prototype.isPrototypeOf.call(Error.prototype, proto) ||
    typeof Object.getOwnPropertyDescriptor(err, 'code')?.value !== 'string'
  ) {
    throw new Error(`${label}: expected an Error with a string code, got ${safeString(err)}`, { cause: err })
  }
}

function safeString(value: unknown): string {
  try {
    return types.isNativeError(value)
      ? `${value.constructor.name}: ${value.message} (code ${String((value as { code?: unknown }).code)})`
      : typeof value
  } catch {
    return 'something unprintable'
  }
}

/** What each run keeps alive, so that no buffer of a successful call is collected mid-check. */
let keep: unknown[] = []
let processScopeTouched = false

/** Each property starts from a known state, with nothing kept from the last one. */
function fresh(): void {
  keep = []
  restore()
  baseline = undefined
}

function restore(): void {
  mp.setMempolicy(THREAD)
  resetArena()
}

function settled(label: () => string, before: Snapshot, threw: boolean, thrown: unknown): void {
  if (threw) {
    expectCodedError(thrown, label())
    const after = snapshot()
    if (!isDeepStrictEqual(after, before)) {
      expect(after, `${label()} threw ${safeString(thrown)} but changed something`).toEqual(before)
    }
  } else {
    restore()
    baseline = undefined
  }
}

/** Runs a synchronous call; if it throws, checks the error and that nothing changed. */
function check(label: () => string, call: () => unknown): void {
  const before = (baseline ??= snapshot())
  let thrown: unknown
  let threw = false
  try {
    keep.push(call())
  } catch (err) {
    threw = true
    thrown = err
  }
  settled(label, before, threw, thrown)
}

/** The same for a call that returns a promise: it must never throw synchronously. */
async function checkAsync(label: () => string, call: () => unknown): Promise<void> {
  const before = (baseline ??= snapshot())
  let thrown: unknown
  let threw = false
  const promise = call()
  expect(promise, `${label()} returns a promise`).toBeInstanceOf(Promise)
  try {
    keep.push(await promise)
  } catch (err) {
    threw = true
    thrown = err
  }
  settled(label, before, threw, thrown)
}

/** Builds the arguments now (outside the check), and returns the call to make with them. */
function call(label: string, fn: (...args: unknown[]) => unknown, args: Thunk[]): () => unknown {
  const values = args.map((a) => a())
  keep.push(values)
  return () => fn(...values)
}

const params = { numRuns: RUNS, endOnFailure: true }

// The exports given hostile arguments here; the last test checks every function export is one of
// them or is named in UNFUZZED with the reason, so a new export cannot be missed.
const fuzzed = new Set<string>()

/** Exports that take no arguments (or are a class) have nothing hostile to be given. */
const UNFUZZED: Readonly<Record<string, string>> = {
  isSupported: 'no arguments',
  getMempolicy: 'no arguments',
  memsAllowed: 'no arguments',
  topology: 'no arguments',
  capabilities: 'no arguments',
  interleaveWeights: 'no arguments',
  interleaveWeightsAuto: 'no arguments',
  nodeStats: 'no arguments',
  getCpuAffinity: 'no arguments',
  currentCpu: 'no arguments',
  MempolicyError: 'a class the package constructs itself',
}

function property(name: string, arbs: fc.Arbitrary<Thunk>[], fn: (...args: unknown[]) => unknown): void {
  fuzzed.add(name.split(' ')[0]!)
  it(name, () => {
    fresh()
    fc.assert(
      fc.property(fc.tuple(...arbs), (args) => {
        check(() => `${name}(${args.map((a) => a.label).join(', ')})`, call(name, fn, args))
      }),
      params,
    )
  })
}

function asyncProperty(name: string, arbs: fc.Arbitrary<Thunk>[], fn: (...args: unknown[]) => unknown, runs = RUNS): void {
  fuzzed.add(name.split(' ')[0]!)
  it(name, async () => {
    fresh()
    await fc.assert(
      fc.asyncProperty(fc.tuple(...arbs), async (args) => {
        await checkAsync(() => `${name}(${args.map((a) => a.label).join(', ')})`, call(name, fn, args))
      }),
      { ...params, numRuns: runs },
    )
  })
}

beforeAll(() => {
  arena = mp.alloc(ARENA_PAGES * P)
  arena.fill(1)
  resetArena()
  mp.setMempolicy(THREAD)
})

afterAll(() => {
  if (processScopeTouched) mp.setMempolicy({ mode: 'default' }, { scope: 'process' })
  mp.setMempolicy({ mode: 'default' })
  keep = []
})

describe('hostile arguments: no crash, coded errors, nothing changed on rejection', () => {
  const extra = fc.array(hostile, { maxLength: 2 })
  const any = hostile

  property('setMempolicy', [policyArb], (p) => mp.setMempolicy(p as mp.Policy))
  property('setMempolicy with options', [policyArb, optionsArb(['scope'], ['thread', 'process', 'Process', ''])], (p, o) => {
    const result = mp.setMempolicy(p as mp.Policy, o as never)
    if (result !== undefined) {
      processScopeTouched = true
      mp.setMempolicy(THREAD, { scope: 'process' })
    }
    return result
  })
  it('getMempolicy, memsAllowed, topology, isSupported, capabilities, interleaveWeights, interleaveWeightsAuto and nodeStats ignore any arguments', () => {
    fresh()
    fc.assert(
      fc.property(extra, (args) => {
        for (const [name, fn] of Object.entries({
          getMempolicy: mp.getMempolicy,
          memsAllowed: mp.memsAllowed,
          topology: mp.topology,
          isSupported: mp.isSupported,
          capabilities: mp.capabilities,
          interleaveWeights: mp.interleaveWeights,
          interleaveWeightsAuto: mp.interleaveWeightsAuto,
          nodeStats: mp.nodeStats,
        }))
          check(() => `${name}(${args.map((a) => a.label).join(', ')})`, call(name, fn as (...a: unknown[]) => unknown, args))
      }),
      { ...params, numRuns: Math.ceil(RUNS / 5) },
    )
  })
  property('mbind', [memoryArb, policyArb, optionsArb(['strict', 'move', 'moveAll'], [true, false])], (m, p, o) =>
    mp.mbind(m as never, p as never, o as never),
  )
  asyncProperty('mbindAsync', [memoryArb, policyArb, optionsArb(['strict', 'move', 'moveAll'], [true, false])], (m, p, o) =>
    mp.mbindAsync(m as never, p as never, o as never),
  )
  property('policyOf', [memoryArb, extra.map((a) => thunk(a.map((x) => x.label).join(), () => a.map((x) => x())))], (m) =>
    mp.policyOf(m as never),
  )
  property(
    'nodeOf',
    [
      memoryArb,
      fc.oneof(
        fc.integer({ min: -2, max: ARENA_PAGES * P + 2 }).map((v) => plain(v)),
        any,
      ),
    ],
    (m, o) => mp.nodeOf(m as never, o as never),
  )
  property(
    'setHomeNode',
    [
      memoryArb,
      fc.oneof(
        nodeIds.map((v) => plain(v)),
        any,
      ),
    ],
    (m, n) => mp.setHomeNode(m as never, n as never),
  )
  // CPU lists take the node-list syntax; whatever is accepted, the thread is put back on every CPU after.
  const cpusBefore = mp.getCpuAffinity()
  property('setCpuAffinity', [nodesArb, optionsArb(['scope'], ['thread'])], (c, o) => {
    try {
      return mp.setCpuAffinity(c as never, o as never)
    } finally {
      mp.setCpuAffinity(cpusBefore)
    }
  })
  property('runOnNodes', [nodesArb, optionsArb(['scope'], ['thread'])], (n, o) => {
    try {
      return mp.runOnNodes(n as never, o as never)
    } finally {
      mp.setCpuAffinity(cpusBefore)
    }
  })
  property(
    'alloc',
    [
      fc.oneof(
        fc.integer({ min: -2, max: 64 * P }).map((v) => plain(v)),
        fc.constantFrom(2 ** 32, 2 ** 32 + 1, 2 ** 40, 2 ** 52).map((v) => plain(v)),
        any,
      ),
      fc.oneof(fc.constant(plain(undefined)), policyArb),
      optionsArb(['hugePages'], [true, false]),
    ],
    (n, p, o) => mp.alloc(n as never, p as never, o as never),
  )
  property('parseNodes', [nodesArb], (t) => mp.parseNodes(t as never))
  property('formatNodes', [nodesArb], (t) => mp.formatNodes(t as never))
  property(
    'fromOci',
    [
      fc.oneof(
        fc
          .record(
            {
              mode: fc.oneof(
                fc.constantFrom('MPOL_BIND', 'MPOL_INTERLEAVE', 'MPOL_DEFAULT', 'MPOL_LOCAL', 'bind').map((v) => plain(v)),
                any,
              ),
              nodes: nodesArb,
              flags: fc.oneof(
                fc.subarray(['MPOL_F_STATIC_NODES', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_NUMA_BALANCING', 'static-nodes']).map((v) => plain(v)),
                any,
              ),
            },
            { requiredKeys: [] },
          )
          .map((r) =>
            thunk(
              `{ ${Object.entries(r)
                .map(([k, v]) => `${k}: ${v.label}`)
                .join(', ')} }`,
              () => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v()])),
            ),
          ),
        any,
      ),
    ],
    (v) => mp.fromOci(v),
  )
  property('toOci', [policyArb], (p) => mp.toOci(p as never))
  property('pageNodes', [memoryArb], (m) => mp.pageNodes(m as never))
  property('bandwidthWeights', [fc.oneof(fc.constant(plain(undefined)), nodesArb), optionsArb(['kernel'], [true, false])], (n, o) =>
    mp.bandwidthWeights(n as never, o as never),
  )
  property(
    'memoryOf',
    [
      fc.oneof(
        fc.constantFrom(undefined, process.pid, 1, 0, -1, 0.5, NaN, 2 ** 31 - 2, 2 ** 31, 2 ** 53).map((v) => plain(v)),
        any,
      ),
    ],
    (pid) => mp.memoryOf(pid as never),
  )
  asyncProperty(
    'movePages',
    [
      memoryArb,
      fc.oneof(
        nodeIds.map((v) => plain(v)),
        any,
      ),
      optionsArb(['all'], [true, false]),
    ],
    (m, n, o) => mp.movePages(m as never, n as never, o as never),
    Math.ceil(RUNS / 2),
  )
  asyncProperty(
    'migratePages',
    [
      // Only this process: 0, its own pid, or values that are not a pid at all.
      fc.oneof(
        fc.constantFrom(0, process.pid, -1, 0.5, NaN, 2 ** 31, 2 ** 53).map((v) => plain(v)),
        any,
      ),
      nodesArb,
      nodesArb,
    ],
    (pid, from, to) => mp.migratePages(pid as never, from as never, to as never),
    Math.ceil(RUNS / 2),
  )

  fuzzed.add('spawn')
  it('spawn (of this node binary only, never a random program)', () => {
    fresh()
    // The command is always this node binary running nothing (or not a string at all): never a random program.
    const command = fc.oneof(
      fc.constant(plain(process.execPath, 'node')),
      any.filter((t) => typeof t() !== 'string'),
    )
    const args = fc.oneof(fc.constant(plain(['-e', '0'])), any)
    const options = fc.oneof(
      policyArb.map((p) => thunk(`{ mempolicy: ${p.label}, stdio: 'ignore' }`, () => ({ mempolicy: p(), stdio: 'ignore' }))),
      any,
    )
    fc.assert(
      fc.property(command, args, options, (c, a, o) => {
        const [command, args, options] = [c(), a(), o()]
        check(
          () => `spawn(${c.label}, ${a.label}, ${o.label})`,
          () => {
            const child = mp.spawn(command as string, args as string[], options as mp.SpawnOptions)
            child.on('error', () => {})
            child.kill('SIGKILL')
            return child
          },
        )
      }),
      { ...params, numRuns: Math.ceil(RUNS / 3) },
    )
  })

  fuzzed.add('setInterleaveWeights').add('setInterleaveWeightsAuto')
  it('setInterleaveWeights and setInterleaveWeightsAuto reject what is not weights, and write nothing', () => {
    fresh()
    // Only values that can never be valid weights: these calls write to sysfs for the whole machine.
    const before = { weights: mp.interleaveWeights(), auto: mp.interleaveWeightsAuto() }
    const invalid = fc.oneof(
      fc.constantFrom(...HOSTILE).filter((t) => !/policy/.test(t.label)),
      fc.constantFrom(...NUMBERS).map((v) => plain(v)),
      fc
        .dictionary(
          fc.oneof(
            fc.constantFrom('-1', '1e0', '01', 'x', '0 '),
            fc.string().filter((k) => !/^\d+$/.test(k)),
          ),
          fc.anything(),
        )
        .map((v) => plain(v)),
      fc
        .dictionary(
          fc.constantFrom('0', `${node}`, `${highest + 1}`),
          fc.oneof(fc.constantFrom(0, 256, -1, 0.5, NaN, '1', 1n), fc.string()),
        )
        .map((v) => plain(v)),
    )
    fc.assert(
      fc.property(invalid, (w) => {
        check(() => `setInterleaveWeights(${w.label})`, call('setInterleaveWeights', mp.setInterleaveWeights as never, [w]))
        if (typeof w() !== 'boolean')
          check(() => `setInterleaveWeightsAuto(${w.label})`, call('setInterleaveWeightsAuto', mp.setInterleaveWeightsAuto as never, [w]))
      }),
      { ...params, numRuns: Math.ceil(RUNS / 2) },
    )
    expect({ weights: mp.interleaveWeights(), auto: mp.interleaveWeightsAuto() }).toEqual(before)
  })
})

describe('what was validated is what reaches the kernel', () => {
  it('an array Proxy cannot answer one thing to validation and another to the call', () => {
    // Valid the first time each index is read, out of range every later time.
    const reads = new Map<PropertyKey, number>()
    const nodes = new Proxy([node], {
      get(target, key) {
        const n = (reads.get(key) ?? 0) + 1
        reads.set(key, n)
        if (key === 'length') return n === 1 ? 1 : 2 ** 32 - 1
        if (key === '0') return n === 1 ? node : highest + 1000
        return Reflect.get(target, key)
      },
    })
    try {
      mp.setMempolicy({ mode: 'bind', nodes })
      expect(mp.getMempolicy()).toEqual({ mode: 'bind', nodes: [node], flags: [] })
      expect(kernelThreadPolicy()).toBe(`bind:${node}`)
      expect(reads.get('length')).toBe(1)
      expect(reads.get('0')).toBe(1)
    } finally {
      mp.setMempolicy(THREAD)
    }
  })

  it('a policy Proxy is read once per property', () => {
    const reads: PropertyKey[] = []
    const policy = new Proxy(
      { mode: 'preferred', nodes: [node] },
      {
        get(t, key) {
          reads.push(key)
          return Reflect.get(t, key)
        },
      },
    )
    try {
      mp.setMempolicy(policy as never)
      expect(reads.filter((k) => k === 'mode')).toHaveLength(1)
      expect(reads.filter((k) => k === 'nodes')).toHaveLength(1)
      expect(reads.filter((k) => k === 'flags')).toHaveLength(1)
    } finally {
      mp.setMempolicy(THREAD)
    }
  })

  it("wraps an exception from the caller's own getter in ERR_INVALID_ARG_VALUE, with the original as cause", () => {
    const own = new Error('mine')
    const policy = {
      mode: 'bind',
      get nodes(): never {
        throw own
      },
    }
    let thrown: unknown
    try {
      mp.setMempolicy(policy as never)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(TypeError)
    expect(thrown).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', cause: own })
    expect((thrown as Error).message).toMatch(/policy\.nodes/)
  })

  it('mbind of a view a resize left out of bounds is a RangeError, with nothing bound', () => {
    const buffer = new ArrayBuffer(8 * P, { maxByteLength: 8 * P })
    const view = new DataView(buffer, 4 * P, 4 * P)
    buffer.resize(2 * P)
    const before = rangePolicies().sort()
    expect(() => mp.mbind(view, { mode: 'bind', nodes: [node] })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }) as never)
    expect(() => mp.nodeOf(view)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }) as never)
    expect(rangePolicies().sort()).toEqual(before)
  })
})

describe('coverage', () => {
  it('gives hostile arguments to every function the package exports (or says why not)', () => {
    const functions = Object.keys(mp).filter((k) => typeof (mp as Record<string, unknown>)[k] === 'function')
    const missed = functions.filter((k) => !fuzzed.has(k) && UNFUZZED[k] === undefined)
    expect(missed, 'exports with no property test here: add one, or a reason in UNFUZZED').toEqual([])
    expect(
      Object.keys(UNFUZZED).filter((k) => !functions.includes(k)),
      'UNFUZZED names what is not exported',
    ).toEqual([])
  })
})
