// Run as: node -r ./preload-darwin.cjs check.mjs
// Loads the package by name through both `import` and `require` in a process made to look like
// macOS and checks the off-Linux contract: loading works, isSupported() is false, every call that
// needs the kernel throws ERR_MEMPOLICY_UNSUPPORTED (promise-returning ones may reject instead),
// and the pure helpers still work. Prints one JSON line with what it saw; exits 1 on a failure.
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const failures = []
const report = { platform: process.platform, unsupported: [], pure: [] }

function check(name, fn) {
  try {
    fn()
  } catch (err) {
    failures.push(`${name}: ${err.message}`)
  }
}

const esm = await import('mempolicy')
const cjs = require('mempolicy')
check('platform', () => assert.equal(process.platform, 'darwin'))
check('same exports', () =>
  assert.deepEqual(
    Object.keys(esm)
      .filter((k) => k !== 'default')
      .sort(),
    Object.keys(cjs)
      .filter((k) => k !== '__esModule')
      .sort(),
  ),
)
check('one module instance', () => assert.equal(esm.getMempolicy, cjs.getMempolicy))
check('default export', () => assert.equal(esm.default, cjs))

const page = new ArrayBuffer(16384)
/** Every call that needs the kernel, with arguments that are valid on any machine. */
const CALLS = {
  setMempolicy: [{ mode: 'default' }],
  getMempolicy: [],
  memsAllowed: [],
  mbind: [page, { mode: 'default' }],
  mbindAsync: [page, { mode: 'default' }],
  policyOf: [page],
  nodeOf: [page],
  setHomeNode: [page, 0],
  alloc: [4096],
  topology: [],
  pageNodes: [page],
  movePages: [page, 0],
  migratePages: [process.pid, '0', '0'],
  interleaveWeights: [],
  setInterleaveWeights: [{ 0: 1 }],
  interleaveWeightsAuto: [],
  setInterleaveWeightsAuto: [true],
  capabilities: [],
  spawn: [process.execPath, ['-e', '0'], { mempolicy: { mode: 'default' }, stdio: 'ignore' }],
  bandwidthWeights: [],
  nodeStats: [],
  memoryOf: [],
  setCpuAffinity: [0],
  getCpuAffinity: [],
  runOnNodes: [0],
  currentCpu: [],
}
/** Exports that work everywhere, checked below. */
const PURE = ['formatNodes', 'parseNodes', 'fromOci', 'toOci', 'isSupported', 'MempolicyError']

// Fail closed: a function export that is in neither list has no off-Linux check at all.
check('every export checked', () =>
  assert.deepEqual(
    Object.keys(cjs).filter((k) => typeof cjs[k] === 'function' && !(k in CALLS) && !PURE.includes(k)),
    [],
  ),
)

for (const [label, mp] of [
  ['import', esm],
  ['require', cjs],
]) {
  check(`${label} isSupported()`, () => assert.equal(mp.isSupported(), false))
  for (const [name, args] of Object.entries(CALLS)) {
    if (typeof mp[name] !== 'function') {
      check(`${label} ${name}`, () => assert.fail('is not exported'))
      continue
    }
    let thrown
    try {
      const result = mp[name](...args)
      if (result instanceof Promise)
        thrown = await result.then(
          () => undefined,
          (err) => err,
        )
    } catch (err) {
      thrown = err
    }
    check(`${label} ${name}()`, () => {
      assert.ok(thrown instanceof Error, `returned instead of throwing`)
      assert.equal(thrown.code, 'ERR_MEMPOLICY_UNSUPPORTED', `threw ${thrown.code}: ${thrown.message}`)
      assert.match(thrown.message, /not supported here.*darwin/)
    })
    if (label === 'import') report.unsupported.push(name)
  }
  check(`${label} parseNodes('all')`, () => assert.throws(() => mp.parseNodes('all'), { code: 'ERR_MEMPOLICY_UNSUPPORTED' }))

  check(`${label} formatNodes()`, () => assert.equal(mp.formatNodes([7, 0, 1, 2, 3]), '0-3,7'))
  check(`${label} parseNodes()`, () => {
    assert.deepEqual(mp.parseNodes('0-3, 7'), [0, 1, 2, 3, 7])
    assert.deepEqual(mp.parseNodes(''), [])
    assert.throws(() => mp.parseNodes('0-'), { code: 'ERR_INVALID_ARG_VALUE' })
  })
  check(`${label} constants`, () => {
    assert.equal(mp.constants.MPOL_BIND, 2)
    assert.equal(typeof mp.pageSize, 'number')
  })
  check(`${label} fromOci() and toOci()`, () => {
    assert.deepEqual(mp.fromOci({ mode: 'MPOL_BIND', nodes: '0' }), { mode: 'bind', nodes: [0] })
    assert.deepEqual(mp.toOci({ mode: 'bind', nodes: [0] }), { mode: 'MPOL_BIND', nodes: '0' })
  })
  check(`${label} MempolicyError`, () => assert.equal(typeof mp.MempolicyError, 'function'))
  if (label === 'import') report.pure.push('formatNodes', 'parseNodes', 'fromOci', 'toOci', 'constants', 'pageSize')
}

if (failures.length) {
  for (const failure of failures) console.error(`FAIL ${failure}`)
  process.exitCode = 1
}
console.log(JSON.stringify({ ...report, failures }))
