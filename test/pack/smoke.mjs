// node smoke.mjs: the installed package through import. Exits 1 when a check fails.
import { createRequire } from 'node:module'
import assert from 'node:assert/strict'
import * as mp from 'mempolicy'
import defaultExport, { getMempolicy } from 'mempolicy'
import checks from './checks.cjs'

const require = createRequire(import.meta.url)
const results = checks.run(mp, 'import')
try {
  const cjs = require('mempolicy')
  assert.equal(getMempolicy, cjs.getMempolicy, 'import and require give different module instances')
  assert.equal(defaultExport, cjs)
  assert.deepEqual(
    Object.keys(mp)
      .filter((k) => k !== 'default')
      .sort(),
    Object.keys(cjs)
      .filter((k) => k !== '__esModule')
      .sort(),
  )
  console.log('ok - import: the same module instance and the same names as require')
  results.push(true)
} catch (err) {
  console.log(`not ok - import: ${err.message}`)
  results.push(false)
}
const failed = results.filter((ok) => !ok).length
console.log(`import: ${results.length - failed} passed, ${failed} failed`)
process.exitCode = failed ? 1 : 0
