// Mistakes a new user makes, each with the message that says what to do: misspelt options and
// policy properties, mode and flag names from numactl, the kernel and numa_maps, options in the wrong
// argument, memory that is detached, too small or not page-aligned, OCI names in place of ours and
// the other way round. Every one is rejected before any syscall: the thread policy and every range
// policy are unchanged (expectRejected), and for the calls that run on the libuv pool, the promise
// rejects with the same errors.
import { describe, expect, it } from 'vitest'
import {
  alloc,
  fromOci,
  getMempolicy,
  mbind,
  mbindAsync,
  memsAllowed,
  migratePages,
  movePages,
  pageSize,
  policyOf,
  setHomeNode,
  setMempolicy,
  spawn,
  toOci,
  topology,
} from '../src/index'
import { expectRejected, rangePolicies } from './kernel-view'
import { rejection } from './rejection'

const P = pageSize
const node = memsAllowed()[0]!
const highest = topology().possible.at(-1)!
const bind = { mode: 'bind', nodes: [node] } as const
const memory = alloc(8 * P)
memory.fill(1)

type Kind = typeof TypeError | typeof RangeError
/** [what the user did, the call, error class, code, what the message must say] */
type Mistake = [string, () => unknown, Kind, string, RegExp]

const V = 'ERR_INVALID_ARG_VALUE'
const T = 'ERR_INVALID_ARG_TYPE'
const R = 'ERR_OUT_OF_RANGE'

const mistakes: Mistake[] = [
  // Unknown keys: named, with the one most likely meant.
  [
    'alloc option hugepages',
    () => alloc(P, undefined, { hugepages: true } as never),
    TypeError,
    V,
    /'options' may only have the property 'hugePages'\. Received the property 'hugepages'\. Did you mean 'hugePages'\?/,
  ],
  ['alloc option huge', () => alloc(P, bind, { huge: true } as never), TypeError, V, /'huge'\. Did you mean 'hugePages'\?/],
  ['alloc option thp', () => alloc(P, bind, { thp: false } as never), TypeError, V, /'thp'\. Did you mean 'hugePages'\?/],
  [
    'mbind option moveall',
    () => mbind(memory, bind, { moveall: true } as never),
    TypeError,
    V,
    /'strict', 'move' and 'moveAll'\. Received the property 'moveall'\. Did you mean 'moveAll'\?/,
  ],
  ['mbind option move_all', () => mbind(memory, bind, { move_all: true } as never), TypeError, V, /Did you mean 'moveAll'\?/],
  ['mbind option Strict', () => mbind(memory, bind, { Strict: true } as never), TypeError, V, /Did you mean 'strict'\?/],
  ['mbind option MPOL_MF_MOVE', () => mbind(memory, bind, { MPOL_MF_MOVE: true } as never), TypeError, V, /Did you mean 'move'\?/],
  ['mbind options as MPOL_MF_* bits', () => mbind(memory, bind, 2 as never), TypeError, T, /MPOL_MF_\* numbers are not taken here/],
  [
    'a policy with node',
    () => setMempolicy({ mode: 'bind', node: 0 } as never),
    TypeError,
    V,
    /'policy' may only have the properties 'mode', 'nodes' and 'flags'\. Received the property 'node'\. Did you mean 'nodes'\?/,
  ],
  ['a policy with flag', () => setMempolicy({ ...bind, flag: ['static-nodes'] } as never), TypeError, V, /'flag'\. Did you mean 'flags'\?/],
  ['a policy with Mode', () => setMempolicy({ Mode: 'bind', nodes: [node] } as never), TypeError, V, /'Mode'\. Did you mean 'mode'\?/],
  [
    'a policy with nodemask',
    () => setMempolicy({ mode: 'bind', nodemask: [node] } as never),
    TypeError,
    V,
    /'nodemask'\. Did you mean 'nodes'\?/,
  ],
  [
    'a policy with policy',
    () => setMempolicy({ policy: 'bind', nodes: [node] } as never),
    TypeError,
    V,
    /'policy'\. Did you mean 'mode'\?/,
  ],
  [
    'a policy with a property of no likeness',
    () => setMempolicy({ ...bind, colour: 'red' } as never),
    TypeError,
    V,
    /Received the property 'colour'$/,
  ],
  [
    'mbind options inside the policy',
    () => mbind(memory, { ...bind, strict: true } as never),
    TypeError,
    V,
    /'strict' is an option, not part of the policy: pass it in the options argument/,
  ],
  [
    'alloc options in the policy argument',
    () => alloc(P, { hugePages: true } as never),
    TypeError,
    V,
    /'hugePages' is an option, not part of the policy/,
  ],
  [
    'setMempolicy option scop',
    () => setMempolicy(bind, { scop: 'process' } as never),
    TypeError,
    V,
    /'options' may only have the property 'scope'\. Received the property 'scop'\. Did you mean 'scope'\?/,
  ],
  [
    'setMempolicy option process: true',
    () => setMempolicy(bind, { process: true } as never),
    TypeError,
    V,
    /Received the property 'process'\. Did you mean 'scope'\?/,
  ],
  [
    'spawn option mempolcy',
    () => spawn(process.execPath, ['-e', '0'], { mempolcy: bind } as never),
    TypeError,
    V,
    /'options' may only have child_process\.spawn's options and 'mempolicy', 'cpus', 'cpuNodes'\. Received the property 'mempolcy'\. Did you mean 'mempolicy'\?/,
  ],
  [
    'spawn option cpu',
    () => spawn(process.execPath, ['-e', '0'], { cpu: 0 } as never),
    TypeError,
    V,
    /Received the property 'cpu'\. Did you mean 'cpus'\?/,
  ],
  [
    'spawn option memPolicy',
    () => spawn(process.execPath, ['-e', '0'], { memPolicy: bind } as never),
    TypeError,
    V,
    /Did you mean 'mempolicy'\?/,
  ],
  ['spawn option policy', () => spawn(process.execPath, { policy: bind } as never), TypeError, V, /Did you mean 'mempolicy'\?/],
  ['spawn option stdoi', () => spawn(process.execPath, ['-e', '0'], { stdoi: 'ignore' } as never), TypeError, V, /Did you mean 'stdio'\?/],
  [
    'spawn with a misspelt policy property',
    () => spawn(process.execPath, ['-e', '0'], { mempolicy: { mode: 'bind', node: 0 } } as never),
    TypeError,
    V,
    /'options\.mempolicy'.*'node'\. Did you mean 'nodes'\?/,
  ],

  // Mode names from elsewhere.
  [
    "numactl's membind",
    () => setMempolicy({ mode: 'membind', nodes: [node] } as never),
    TypeError,
    V,
    /Received type string \("membind"\)\. Did you mean 'bind'\?/,
  ],
  ["the kernel's MPOL_BIND", () => setMempolicy({ mode: 'MPOL_BIND', nodes: [node] } as never), TypeError, V, /Did you mean 'bind'\?/],
  ['BIND', () => setMempolicy({ mode: 'BIND', nodes: [node] } as never), TypeError, V, /Did you mean 'bind'\?/],
  ['bnid', () => setMempolicy({ mode: 'bnid', nodes: [node] } as never), TypeError, V, /Did you mean 'bind'\?/],
  ['Interleave', () => setMempolicy({ mode: 'Interleave', nodes: [node] } as never), TypeError, V, /Did you mean 'interleave'\?/],
  ['interleaved', () => mbind(memory, { mode: 'interleaved', nodes: [node] } as never), TypeError, V, /Did you mean 'interleave'\?/],
  [
    'preferred_many',
    () => setMempolicy({ mode: 'preferred_many', nodes: [node] } as never),
    TypeError,
    V,
    /Did you mean 'preferred-many'\?/,
  ],
  [
    'MPOL_PREFERRED_MANY',
    () => setMempolicy({ mode: 'MPOL_PREFERRED_MANY', nodes: [node] } as never),
    TypeError,
    V,
    /Did you mean 'preferred-many'\?/,
  ],
  [
    "numa_maps' prefer (many)",
    () => setMempolicy({ mode: 'prefer (many)', nodes: [node] } as never),
    TypeError,
    V,
    /Did you mean 'preferred-many'\?/,
  ],
  ["numa_maps' prefer", () => setMempolicy({ mode: 'prefer', nodes: [node] } as never), TypeError, V, /Did you mean 'preferred'\?/],
  [
    'weighted_interleave',
    () => setMempolicy({ mode: 'weighted_interleave', nodes: [node] } as never),
    TypeError,
    V,
    /Did you mean 'weighted-interleave'\?/,
  ],
  [
    "numa_maps' weighted interleave",
    () => setMempolicy({ mode: 'weighted interleave', nodes: [node] } as never),
    TypeError,
    V,
    /Did you mean 'weighted-interleave'\?/,
  ],
  ["numactl's localalloc", () => setMempolicy({ mode: 'localalloc' } as never), TypeError, V, /Did you mean 'local'\?/],
  ['MPOL_LOCAL', () => alloc(P, { mode: 'MPOL_LOCAL' } as never), TypeError, V, /Did you mean 'local'\?/],
  [
    'a flag as the mode',
    () => setMempolicy({ mode: 'static-nodes', nodes: [node] } as never),
    TypeError,
    V,
    /'static-nodes' is a mode flag: \{ mode: 'bind', nodes, flags: \['static-nodes'\] \}/,
  ],
  ['a mode number', () => setMempolicy({ mode: 2, nodes: [node] } as never), TypeError, T, /policy\.mode.*of type string/],
  ['no mode at all', () => setMempolicy({ nodes: [node] } as never), TypeError, T, /A policy names its mode/],
  ['a mode name for the whole policy', () => setMempolicy('bind' as never), TypeError, T, /Write \{ mode: 'bind', nodes: \[0\] \}/],
  ["numactl's name for the whole policy", () => setMempolicy('membind' as never), TypeError, T, /Write \{ mode: 'bind', nodes: \[0\] \}/],
  ['local for the whole policy', () => mbind(memory, 'local' as never), TypeError, T, /Write \{ mode: 'local' \}/],
  ['an array of nodes for the policy', () => setMempolicy([node] as never), TypeError, T, /Nodes go in a policy/],
  ['a mode number for the policy', () => setMempolicy(2 as never), TypeError, T, /A mode is named, not numbered/],

  // Flags.
  ['flag static', () => setMempolicy({ ...bind, flags: ['static'] } as never), TypeError, V, /Did you mean 'static-nodes'\?/],
  [
    'flag MPOL_F_STATIC_NODES',
    () => setMempolicy({ ...bind, flags: ['MPOL_F_STATIC_NODES'] } as never),
    TypeError,
    V,
    /Did you mean 'static-nodes'\?/,
  ],
  [
    'flag relativeNodes',
    () => setMempolicy({ ...bind, flags: ['relativeNodes'] } as never),
    TypeError,
    V,
    /Did you mean 'relative-nodes'\?/,
  ],
  ['flag balancing', () => setMempolicy({ ...bind, flags: ['balancing'] } as never), TypeError, V, /Did you mean 'numa-balancing'\?/],
  [
    'an mbind option as a flag',
    () => mbind(memory, { ...bind, flags: ['strict'] } as never),
    TypeError,
    V,
    /'strict' is an option of mbind\(\), not a mode flag: mbind\(memory, policy, \{ strict: true \}\)/,
  ],
  [
    'MPOL_MF_MOVE_ALL as a flag',
    () => mbind(memory, { ...bind, flags: ['MPOL_MF_MOVE_ALL'] } as never),
    TypeError,
    V,
    /'moveAll' is an option of mbind\(\)/,
  ],
  ['a mode as a flag', () => setMempolicy({ ...bind, flags: ['interleave'] } as never), TypeError, V, /'interleave' is a mode/],
  [
    'one flag not in an array',
    () => setMempolicy({ ...bind, flags: 'static-nodes' } as never),
    TypeError,
    T,
    /Write flags: \['static-nodes'\]/,
  ],
  ['a flag bit', () => setMempolicy({ ...bind, flags: [0x8000] } as never), TypeError, T, /Flags are named here/],
  ['static and relative', () => setMempolicy({ ...bind, flags: ['static-nodes', 'relative-nodes'] }), TypeError, V, /choose one/],

  // The rules, each saying what to do.
  [
    "'bind' without nodes",
    () => setMempolicy({ mode: 'bind' } as never),
    TypeError,
    V,
    /Add nodes, e\.g\. \{ mode: 'bind', nodes: \[0\] \}/,
  ],
  [
    "'default' with nodes",
    () => setMempolicy({ mode: 'default', nodes: [node] } as never),
    TypeError,
    V,
    /use mode 'bind', 'preferred' or 'interleave'/,
  ],
  ["'local' with nodes", () => setMempolicy({ mode: 'local', nodes: [node] } as never), TypeError, V, /use mode 'bind'/],
  [
    "'preferred' without nodes, static",
    () => setMempolicy({ mode: 'preferred', flags: ['static-nodes'] }),
    TypeError,
    V,
    /Name the preferred node, or drop the flag/,
  ],
  [
    'a node past the possible nodes',
    () => setMempolicy({ mode: 'bind', nodes: [highest + 1] }),
    RangeError,
    R,
    /the highest possible node on this machine\)\. Received \d+\. Ids up to \d+ \(the kernel's node mask\) are accepted with flags: \['static-nodes'\] or \['relative-nodes'\]/,
  ],

  // setMempolicy's scope.
  ["scope 'Process'", () => setMempolicy(bind, { scope: 'Process' } as never), TypeError, V, /Did you mean 'process'\?/],
  ["scope 'all'", () => setMempolicy(bind, { scope: 'all' } as never), TypeError, V, /Did you mean 'process'\?/],
  ['scope true', () => setMempolicy(bind, { scope: true } as never), TypeError, T, /Write scope: 'process' or scope: 'thread'/],
  ["scope given as 'process'", () => setMempolicy(bind, 'process' as never), TypeError, T, /Did you mean '\{ scope: 'process' \}'\?/],

  // alloc.
  ['alloc(0)', () => alloc(0), RangeError, R, /ask for at least one byte/],
  ['alloc options true', () => alloc(P, bind, true as never), TypeError, T, /Write \{ hugePages: true \}/],
  ["hugePages 'always'", () => alloc(P, bind, { hugePages: 'always' } as never), TypeError, T, /true asks for transparent huge pages/],

  // Memory with no whole page.
  [
    'mbind on page-sized memory not on a page boundary',
    () => mbind(memory.subarray(100, 100 + P), bind),
    RangeError,
    R,
    new RegExp(
      `Received ${P} bytes that hold no whole page\\. The memory starts 100 bytes past a page boundary, so its first whole page would end ${2 * P - 100} bytes in\\. For memory of its own, page-aligned, use alloc\\(byteLength\\), or pass at least ${2 * P - 100} bytes`,
    ),
  ],
  [
    'policyOf on memory not on a page boundary',
    () => policyOf(memory.subarray(P - 1, 2 * P - 1)),
    RangeError,
    R,
    /policyOf reads the policy of the first whole page.*starts \d+ bytes past a page boundary/,
  ],
  [
    'setHomeNode on memory not on a page boundary',
    () => setHomeNode(new DataView(memory.buffer, 3, P), node),
    RangeError,
    R,
    /setHomeNode acts only on the whole pages.*starts 3 bytes past a page boundary/,
  ],
  [
    'mbind on memory smaller than a page',
    () => mbind(new Uint8Array(100), bind),
    RangeError,
    R,
    /at least one page \(\d+ bytes\): mbind acts only on the whole pages inside the memory\. Received 100\. Memory smaller than a page never holds a whole one/,
  ],
  ['mbind on empty memory', () => mbind(new Uint8Array(0), bind), RangeError, R, /Received 0\. The memory is empty/],
  [
    'mbind on a detached buffer',
    () => {
      const b = new ArrayBuffer(4 * P)
      structuredClone(b, { transfer: [b] })
      return mbind(b, bind)
    },
    RangeError,
    R,
    /Received a detached ArrayBuffer\. Its ArrayBuffer was transferred/,
  ],
  [
    'mbind on a view of a detached buffer',
    () => {
      const b = new ArrayBuffer(4 * P)
      const v = new Uint16Array(b, 2)
      structuredClone(b, { transfer: [b] })
      return mbind(v, bind)
    },
    RangeError,
    R,
    /detached/,
  ],
  ['mbind on an address', () => mbind(0x7f0000000000 as never, bind), TypeError, T, /"memory" argument must be an ArrayBuffer/],

  // OCI: the spec's names, and ours where it expects them.
  [
    'fromOci with our mode name',
    () => fromOci({ mode: 'bind', nodes: '0' }),
    TypeError,
    V,
    /must be one of MPOL_DEFAULT.*Did you mean 'MPOL_BIND'\?/,
  ],
  ['fromOci with MPOL_MEMBIND', () => fromOci({ mode: 'MPOL_MEMBIND', nodes: '0' }), TypeError, V, /Did you mean 'MPOL_BIND'\?/],
  ['fromOci with a flag as the mode', () => fromOci({ mode: 'MPOL_F_STATIC_NODES' }), TypeError, V, /MPOL_F_STATIC_NODES is a flag/],
  [
    'fromOci with our flag name',
    () => fromOci({ mode: 'MPOL_BIND', nodes: '0', flags: ['static-nodes'] }),
    TypeError,
    V,
    /Did you mean 'MPOL_F_STATIC_NODES'\?/,
  ],
  [
    'fromOci with MPOL_STATIC_NODES',
    () => fromOci({ mode: 'MPOL_BIND', nodes: '0', flags: ['MPOL_STATIC_NODES'] }),
    TypeError,
    V,
    /Did you mean 'MPOL_F_STATIC_NODES'\?/,
  ],
  ['fromOci with nodes as a number', () => fromOci({ mode: 'MPOL_BIND', nodes: 3 }), TypeError, T, /Write nodes as text: nodes: '3'/],
  [
    'fromOci with nodes as an array',
    () => fromOci({ mode: 'MPOL_BIND', nodes: [0, 1, 2] }),
    TypeError,
    T,
    /Write nodes as text: nodes: '0-2'/,
  ],
  [
    'fromOci with node for nodes',
    () => fromOci({ mode: 'MPOL_BIND', node: '0' }),
    TypeError,
    V,
    /Add nodes, e\.g\. \{ mode: 'MPOL_BIND', nodes: '0-3' \}\. The property 'node' is not in the spec: did you mean 'nodes'\?/,
  ],
  [
    'fromOci without a mode',
    () => fromOci({ Mode: 'MPOL_BIND', nodes: '0' }),
    TypeError,
    T,
    /The spec requires a mode.*did you mean 'mode'\?/,
  ],
  ['fromOci with nodes all', () => fromOci({ mode: 'MPOL_BIND', nodes: 'all' }), TypeError, V, /'all' is not in the runtime spec/],
  [
    'fromOci with one flag not in an array',
    () => fromOci({ mode: 'MPOL_BIND', nodes: '0', flags: 'MPOL_F_STATIC_NODES' }),
    TypeError,
    T,
    /Write flags: \['MPOL_F_STATIC_NODES'\]/,
  ],
  [
    'toOci of all',
    () => toOci({ mode: 'interleave', nodes: 'all' }),
    TypeError,
    V,
    /'all' means this machine's nodes.*use parseNodes\('all'\)/,
  ],
]

describe('mistakes: each rejected before any syscall, with a message that says what to do', () => {
  for (const [what, call, kind, code, message] of mistakes) {
    it(what, () => {
      const before = rangePolicies().sort()
      const err = expectRejected(call, kind, code)
      expect(err.message).toMatch(message)
      expect(rangePolicies().sort()).toEqual(before)
    })
  }

  it('the calls on the libuv pool reject with the same messages', async () => {
    const policy = getMempolicy()
    expect((await rejection(movePages(memory, node, { moveAll: true } as never))).message).toMatch(
      /'options' may only have the property 'all'\. Received the property 'moveAll'\. Did you mean 'all'\?/,
    )
    expect((await rejection(movePages(memory, node, true as never))).message).toMatch(/Write \{ all: true \}/)
    expect((await rejection(mbindAsync(memory, bind, { moveall: true } as never))).message).toMatch(/Did you mean 'moveAll'\?/)
    expect((await rejection(mbindAsync(memory.subarray(7, 7 + P), bind))).message).toMatch(
      /mbindAsync acts only on the whole pages.*starts 7 bytes past a page boundary/,
    )
    expect((await rejection(migratePages(0, { mode: 'bind' } as never, node))).code).toBe('ERR_INVALID_ARG_TYPE')
    expect(getMempolicy()).toEqual(policy)
  })

  it('covers more mistakes than the issue listed', () => {
    expect(mistakes.length).toBeGreaterThanOrEqual(80)
  })
})

describe('where memory starts, as the message says, against the kernel span of mbind', () => {
  it('reports the distance from a page boundary of an ArrayBuffer of its own', () => {
    // The oracle: mbind over a larger buffer returns where its first whole page starts (computed in
    // the addon from the real address), so the start of the buffer is P - byteOffset past a boundary.
    const buffer = new ArrayBuffer(3 * P)
    const span = mbind(buffer, { mode: 'default' })
    const start = (P - span.byteOffset) % P
    const offset = (start + 1) % P === 0 ? 2 : 1
    const expected = (start + offset) % P
    const err = expectRejected(() => mbind(new Uint8Array(buffer, offset, P), bind), RangeError, R)
    expect(err.message).toMatch(
      new RegExp(`starts ${expected} bytes past a page boundary, so its first whole page would end ${2 * P - expected} bytes in`),
    )
  })
})

describe('the key check on hostile objects', () => {
  /** A Proxy over `target` that counts every trap by kind and key. */
  function counting<T extends object>(target: T): { proxy: T; calls: Map<string, number> } {
    const calls = new Map<string, number>()
    const count = (trap: string, key?: PropertyKey): void => {
      const name = key === undefined ? trap : `${trap} ${String(key)}`
      calls.set(name, (calls.get(name) ?? 0) + 1)
    }
    const proxy = new Proxy(target, {
      get: (t, key) => {
        count('get', key)
        return Reflect.get(t, key)
      },
      ownKeys: (t) => {
        count('ownKeys')
        return Reflect.ownKeys(t)
      },
      getOwnPropertyDescriptor: (t, key) => {
        count('getOwnPropertyDescriptor', key)
        return Reflect.getOwnPropertyDescriptor(t, key)
      },
      getPrototypeOf: (t) => {
        count('getPrototypeOf')
        return Reflect.getPrototypeOf(t)
      },
      has: (t, key) => {
        count('has', key)
        return Reflect.has(t, key)
      },
    })
    return { proxy, calls }
  }

  it('runs each trap of a policy Proxy at most once per key, valid or not', () => {
    for (const target of [
      { mode: 'bind', nodes: [node] },
      { mode: 'bind', nodes: [node], node: 0 },
    ]) {
      const { proxy, calls } = counting(target)
      try {
        setMempolicy(proxy as never)
      } catch (err) {
        expect((err as Error).message).toMatch(/Did you mean 'nodes'\?/)
      } finally {
        setMempolicy({ mode: 'default' })
      }
      for (const [name, n] of calls) expect(n, name).toBe(1)
      expect(calls.get('get mode')).toBe(1)
      expect(calls.get('ownKeys')).toBe(1)
    }
  })

  it('runs each trap of an options Proxy at most once per key', () => {
    for (const target of [{ move: false }, { moveall: true }]) {
      const { proxy, calls } = counting(target)
      try {
        mbind(memory, bind, proxy as never)
      } catch (err) {
        expect((err as Error).message).toMatch(/Did you mean 'moveAll'\?/)
      }
      for (const [name, n] of calls) expect(n, name).toBe(1)
    }
  })

  it('wraps what a throwing ownKeys trap or a revoked Proxy throws, with nothing changed', () => {
    const own = new Error('ownKeys')
    const throwing = new Proxy(
      { mode: 'bind', nodes: [node] },
      {
        ownKeys: () => {
          throw own
        },
      },
    )
    const err = expectRejected(() => setMempolicy(throwing as never), TypeError, V)
    expect(err.cause).toBe(own)
    const { proxy, revoke } = Proxy.revocable({ move: true }, {})
    revoke()
    expectRejected(() => mbind(memory, bind, proxy as never), TypeError, V)
  })

  it("passes over inherited properties and non-enumerable ones: only own enumerable keys are the caller's", () => {
    const inherited = Object.create({ mode: 'bind', extra: 1 }) as Record<string, unknown>
    inherited.nodes = [node]
    const hidden = Object.defineProperty({ mode: 'bind', nodes: [node] }, 'note', { value: 'kept', enumerable: false })
    try {
      setMempolicy(inherited as never)
      setMempolicy(hidden as never)
      expect(getMempolicy()).toEqual({ mode: 'bind', nodes: [node], flags: [] })
    } finally {
      setMempolicy({ mode: 'default' })
    }
  })
})
