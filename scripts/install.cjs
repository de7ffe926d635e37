// The package's install step. It never fails an install that did not ask to build from source:
//  - Off Linux there is nothing to build (memory policy is a Linux kernel feature: the package
//    loads and fails on first use with ERR_MEMPOLICY_UNSUPPORTED).
//  - On Linux the prebuilt addon that node-gyp-build picks for this platform is loaded once; when it
//    loads, that is all.
//  - Otherwise the addon is built from source with node-gyp, when a C++ compiler, make and Python
//    are on PATH. When they are not, or the build fails, the package installs without an addon,
//    says why here, and says it again (with what to do) at first use.
//  - npm_config_build_from_source=true (npm install --build-from-source) always builds, and a
//    failed build fails the install: that was asked for.
// See docs/packaging.md.
'use strict'

if (process.platform !== 'linux') return

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const fromSource = /^(true|1)$/.test(process.env.npm_config_build_from_source ?? '')

function say(lines) {
  console.error(lines.map((line) => `mempolicy: ${line}`).join('\n'))
}

if (!fromSource) {
  let reason
  try {
    const load = require('node-gyp-build')
    require(load.path(root))
    return
  } catch (err) {
    reason = String(err && err.message)
      .split('\n')[0]
      .trim()
  }
  say([`no prebuilt addon loads here (${reason}); building it from source.`])
}

function onPath(tool) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, tool), fs.constants.X_OK)
      return dir !== ''
    } catch {
      return false
    }
  })
}

const needs = [
  ['a C++ compiler', [process.env.CXX?.split(' ')[0], 'c++', 'g++', 'clang++']],
  ['make', ['make']],
  ['Python 3', [process.env.npm_config_python, process.env.PYTHON, 'python3', 'python']],
]
const missing = needs
  .filter(([, tools]) => !tools.some((tool) => tool && (path.isAbsolute(tool) ? fs.existsSync(tool) : onPath(tool))))
  .map(([what]) => what)
const later = [
  'The package is installed without its native addon: isSupported() is false and each call that needs the kernel',
  'throws ERR_MEMPOLICY_UNSUPPORTED saying this. To build the addon: install a C++17 compiler, make and Python 3,',
  'then run `npm rebuild mempolicy`.',
]

if (missing.length && !fromSource) {
  say([`cannot build from source: ${missing.join(', ')} not found on PATH.`, ...later])
  return
}

// node-gyp where it can be resolved from here (the dev dependency in a clone), else the one npm
// tells its scripts about, else one on PATH.
let nodeGyp
try {
  nodeGyp = require.resolve('node-gyp/bin/node-gyp.js')
} catch {
  nodeGyp = process.env.npm_config_node_gyp && fs.existsSync(process.env.npm_config_node_gyp) ? process.env.npm_config_node_gyp : undefined
}
const build = nodeGyp
  ? spawnSync(process.execPath, [nodeGyp, 'rebuild'], { cwd: root, stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { cwd: root, stdio: 'inherit', shell: true })
if (build.status === 0) return
if (fromSource) process.exit(build.status ?? 1)
say([`building from source failed (${build.error ? build.error.message : `node-gyp exited ${build.status ?? build.signal}`}).`, ...later])
