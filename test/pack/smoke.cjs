// node smoke.cjs: the installed package through require(). Exits 1 when a check fails.
'use strict'
const results = require('./checks.cjs').run(require('mempolicy'), 'require')
const failed = results.filter((ok) => !ok).length
console.log(`require: ${results.length - failed} passed, ${failed} failed`)
process.exitCode = failed ? 1 : 0
