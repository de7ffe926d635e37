// Preload (node -r) that makes this Linux process look like macOS to the package, before anything
// of it loads: process.platform is 'darwin', native addons cannot be loaded, and /sys and /proc are
// absent, as they are there. Used by test/off-linux.test.ts and scripts/pack-smoke.mjs.
'use strict'
const fs = require('node:fs')

Object.defineProperty(process, 'platform', { value: 'darwin', enumerable: true, configurable: true })

process.dlopen = function dlopen(_module, filename) {
  throw Object.assign(new Error(`simulated darwin: no native addon may load (${filename})`), { code: 'ERR_DLOPEN_FAILED' })
}

const LINUX_ONLY = /^\/(sys|proc)(\/|$)/

function absent(file, syscall) {
  return Object.assign(new Error(`ENOENT: no such file or directory, ${syscall} '${file}'`), {
    errno: -2,
    code: 'ENOENT',
    syscall,
    path: file,
  })
}

function isLinuxOnly(file) {
  return (
    (typeof file === 'string' || file instanceof URL || Buffer.isBuffer(file)) &&
    LINUX_ONLY.test(String(file instanceof URL ? file.pathname : file))
  )
}

for (const name of ['readFileSync', 'readdirSync', 'statSync', 'lstatSync', 'openSync', 'accessSync', 'realpathSync', 'opendirSync']) {
  const original = fs[name]
  fs[name] = function (file, ...rest) {
    if (isLinuxOnly(file)) throw absent(String(file), name.replace(/Sync$/, '').toLowerCase())
    return original.call(this, file, ...rest)
  }
}
const existsSync = fs.existsSync
fs.existsSync = function (file) {
  return isLinuxOnly(file) ? false : existsSync.call(this, file)
}
for (const name of ['readFile', 'readdir', 'stat', 'lstat', 'open', 'access']) {
  const original = fs.promises[name]
  fs.promises[name] = async function (file, ...rest) {
    if (isLinuxOnly(file)) throw absent(String(file), name)
    return original.call(this, file, ...rest)
  }
}
