// Builds the prebuilt addons that go into the package: prebuilds/linux-x64 (this machine's
// compiler) and prebuilds/linux-arm64 (cross-built with Debian's g++-aarch64-linux-gnu), glibc,
// N-API, stripped, with prebuildify. Each build runs in its own scratch copy of binding.gyp and
// native/, so build/ (the addon that tests load) is never touched. prebuilds/ is emptied first
// (with --arch, only the folders of those architectures): nothing stale survives a run.
//
// Usage: npm run prebuild [-- --arch x64,arm64]   (or node scripts/prebuild.mjs [--arch ...])
// Needs: Node's headers (npm_config_nodedir, else those installed beside this node, else node-gyp
// downloads them), and for arm64 the cross toolchain: apt-get install g++-aarch64-linux-gnu.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const prebuildify = path.join(root, 'node_modules', 'prebuildify', 'bin.js')

/** What each target needs from the environment; `tools` must be on PATH. */
const TARGETS = {
  x64: { env: {}, tools: ['cc', 'c++', 'make', 'strip'], strip: 'strip' },
  arm64: {
    env: { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', LINK: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar' },
    tools: ['aarch64-linux-gnu-gcc', 'aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip', 'make'],
    strip: 'aarch64-linux-gnu-strip',
    install: 'apt-get install g++-aarch64-linux-gnu',
  },
}
/** ELF e_machine of each target, to check what was built. */
const MACHINE = { x64: 62, arm64: 183 }

/** The addon must load wherever Node.js 20's own binaries do: they need glibc 2.28. */
const GLIBC_FLOOR = '2.28'

function compareVersions(a, b) {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)]
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
  return 0
}

/** The newest GLIBC_x.y symbol version the file needs (objdump -T), or undefined without objdump. */
function newestGlibc(file) {
  const dump = spawnSync('objdump', ['-T', file], { encoding: 'utf8' })
  if (dump.status !== 0) return undefined
  return [...dump.stdout.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]).sort(compareVersions).pop()
}

class PrebuildError extends Error {}

function fail(message) {
  throw new PrebuildError(message)
}

process.on('uncaughtException', (err) => {
  console.error(`prebuild: ${err instanceof PrebuildError ? err.message : err.stack}`)
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

// npm runs a script named prebuild before every `npm run build` too (the TypeScript build, which
// `prepare` runs on each install from a clone). The prebuilt addons are built only when the prebuild
// script itself is what npm was asked to run, or when this file is run directly. npm gives its scripts
// the same environment both ways; what tells them apart is the command line of the npm above us.

/** [parent pid, argv] of a process, or undefined where it cannot be read. */
function processInfo(pid) {
  try {
    if (process.platform === 'linux') {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1')
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      return [parent, fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)]
    }
    const ps = spawnSync('ps', ['-o', 'ppid=,args=', '-p', String(pid)], { encoding: 'utf8' })
    const m = /^\s*(\d+)\s+(.*)$/.exec(ps.stdout ?? '')
    return m === null ? undefined : [Number(m[1]), m[2].split(/\s+/)]
  } catch {
    return undefined
  }
}

/** The script the nearest npm above this process was asked to run, or undefined if there is none. */
function scriptAskedOfNpm() {
  let pid = process.ppid
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    const info = processInfo(pid)
    if (info === undefined) return undefined
    // npm sets its process title to its command ('npm run build'), which replaces its argv in /proc.
    const [parent, argv] = [info[0], info[1].flatMap((arg) => arg.split(/\s+/)).filter(Boolean)]
    const npm = argv.findIndex((arg) => /(^|[/\\])npm(-cli\.js)?$/.test(arg))
    if (npm !== -1) {
      const run = argv.findIndex((arg, k) => k > npm && ['run', 'run-script', 'rum', 'urn'].includes(arg))
      return run === -1 ? undefined : argv.slice(run + 1).find((arg) => !arg.startsWith('-'))
    }
    pid = parent
  }
  return undefined
}

if (process.env.npm_lifecycle_event === 'prebuild') {
  const asked = scriptAskedOfNpm()
  if (asked !== undefined && asked !== 'prebuild') {
    console.log(`prebuild: not building the prebuilt addons before \`npm run ${asked}\` (npm runs prebuild first); \`npm run prebuild\` builds them`)
    process.exit(0)
  }
}

const archFlag = process.argv.indexOf('--arch')
const arches = archFlag === -1 ? Object.keys(TARGETS) : (process.argv[archFlag + 1] ?? '').split(',').filter(Boolean)
for (const arch of arches) if (!(arch in TARGETS)) fail(`unknown --arch ${arch} (known: ${Object.keys(TARGETS).join(', ')})`)
if (process.platform !== 'linux') fail(`prebuilds are built on Linux (this is ${process.platform})`)
if (process.arch !== 'x64') fail(`prebuilds are built on an x64 host (this is ${process.arch})`)
if (!fs.existsSync(prebuildify)) fail('prebuildify is not installed: run npm ci')
for (const arch of arches) {
  const missing = TARGETS[arch].tools.filter((tool) => !onPath(tool))
  if (missing.length) fail(`${arch}: ${missing.join(', ')} not found${TARGETS[arch].install ? ` (${TARGETS[arch].install})` : ''}`)
}

// N-API addons need only the headers of some Node with this N-API version: use this node's own.
const env = { ...process.env, PATH: `${path.join(root, 'node_modules', '.bin')}${path.delimiter}${process.env.PATH}` }
const localHeaders = path.resolve(process.execPath, '..', '..')
if (!env.npm_config_nodedir && fs.existsSync(path.join(localHeaders, 'include', 'node', 'node_api.h'))) {
  env.npm_config_nodedir = localHeaders
}

const out = path.join(root, 'prebuilds')
// A full run leaves only what it built; --arch replaces only the folders it names.
for (const entry of fs.existsSync(out) ? fs.readdirSync(out) : []) {
  const built = archFlag === -1 ? /^[a-z0-9]+-[a-z0-9]+$/.test(entry) : arches.some((arch) => entry === `linux-${arch}`)
  if (built && fs.statSync(path.join(out, entry)).isDirectory()) fs.rmSync(path.join(out, entry), { recursive: true, force: true })
}

for (const arch of arches) {
  const target = TARGETS[arch]
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), `mempolicy-prebuild-${arch}-`))
  try {
    fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(scratch, 'binding.gyp'))
    fs.copyFileSync(path.join(root, 'package.json'), path.join(scratch, 'package.json'))
    fs.cpSync(path.join(root, 'native'), path.join(scratch, 'native'), { recursive: true })
    fs.symlinkSync(path.join(root, 'node_modules'), path.join(scratch, 'node_modules'))
    const args = [prebuildify, '--napi', '--strip', '--tag-libc', '--target', process.versions.node, '--arch', arch, '--strip-bin', target.strip]
    console.log(`prebuild: ${arch}: prebuildify ${args.slice(1).join(' ')}`)
    const started = Date.now()
    const run = spawnSync(process.execPath, args, {
      cwd: scratch,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...env, ...target.env },
    })
    if (run.status !== 0) fail(`${arch}: prebuildify failed (${run.error?.message ?? `exit ${run.status ?? run.signal}`})`)
    const built = path.join(scratch, 'prebuilds', `linux-${arch}`)
    const files = fs.readdirSync(built).filter((name) => name.endsWith('.node'))
    if (files.length !== 1) fail(`${arch}: expected one .node file in ${built}, found ${files.join(', ') || 'none'}`)
    const binary = fs.readFileSync(path.join(built, files[0]))
    const machine = binary.readUInt16LE(18)
    if (binary.readUInt32BE(0) !== 0x7f454c46 || machine !== MACHINE[arch]) {
      fail(`${arch}: ${files[0]} is not an ELF file for ${arch} (e_machine ${machine})`)
    }
    const glibc = newestGlibc(path.join(built, files[0]))
    if (glibc !== undefined && compareVersions(glibc, GLIBC_FLOOR) > 0) {
      fail(`${arch}: ${files[0]} needs glibc ${glibc}, newer than the ${GLIBC_FLOOR} that Node.js 20 itself needs`)
    }
    fs.mkdirSync(path.join(out, `linux-${arch}`), { recursive: true })
    fs.copyFileSync(path.join(built, files[0]), path.join(out, `linux-${arch}`, files[0]))
    console.log(`prebuild: prebuilds/linux-${arch}/${files[0]} (${binary.length} bytes` +
      `${glibc === undefined ? '' : `, needs glibc ${glibc}`}, ${((Date.now() - started) / 1000).toFixed(1)} s)`)
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true })
  }
}
