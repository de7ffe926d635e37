// The packed package, tested as a user gets it. Steps, each printed with its time:
//   1. npm run build, npm run build:prebuilds (x64 and arm64, glibc and musl): nothing stale is packed
//   2. npm pack refuses a tree that lacks a prebuild or holds a wrong one (the prepack check)
//   3. npm pack, and a check of what the tarball holds
//   4. npm install of the tarball into a fresh project, with a PATH holding only node, npm and sh:
//      no compiler, make or Python can be reached, so the install must use the prebuild
//   5. test/pack/smoke.cjs and smoke.mjs there (require and import), the CLI, and TypeScript
//      consumers under every module system: tsc type-checks them and node runs what it emitted
//      (CommonJS with esModuleInterop on and off, node16 and nodenext ESM and CommonJS, bundler)
//   6. the off-Linux check (test/off-linux) against the installed package, as simulated macOS
//   7. an install where no prebuild fits (another CPU, another libc) and nothing can compile:
//      it succeeds, and the package says at first use why it cannot work and what to do
//   8. the smoke test under Node.js 20, 22 and 24 and Bun (glibc), from the npm registry
//   9. musl: Bun's musl build in a root with musl's loader and no glibc, which node-gyp-build takes
//      for Alpine, loads the musl prebuild and passes the smoke test
//  10. arm64 under qemu-user: Node's arm64 build (glibc) and Bun's arm64 musl build
// Downloads (Node, Bun, zig) are pinned and cached (scripts/registry-cache.mjs); an unreachable
// registry fails the step that needs it, saying so. See docs/packaging.md.
// Usage: node scripts/pack-smoke.mjs [--no-build] [--arm64=auto|require|skip] [--musl=require|skip]
//          [--matrix=require|skip] [--keep]
// Prints "pack-smoke: N passed, N failed" last; exits 1 when anything failed.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { TARGETS } from './check-prebuilds.mjs'
import { readElf } from './elf.mjs'
import { fetchPackage, npmCli, PINNED, zigPath } from './registry-cache.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const build = !args.includes('--no-build')
const keep = args.includes('--keep')
const mode = (name, allowed, fallback) => {
  const value = args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback
  if (!allowed.includes(value)) {
    console.error(`pack-smoke: --${name} must be ${allowed.join(', ')} (got ${value})`)
    process.exit(2)
  }
  return value
}
const arm64Mode = mode('arm64', ['auto', 'require', 'skip'], 'auto')
const muslMode = mode('musl', ['require', 'skip'], 'require')
const matrixMode = mode('matrix', ['require', 'skip'], 'require')

const npmJs = npmCli()
const results = []
const timings = []
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mempolicy-pack-'))
const log = (line) => console.log(`  ${line}`)

/** Runs a step; a failing step is recorded, and later steps that need it are skipped by the caller. */
function step(name, fn) {
  const started = Date.now()
  console.log(`\n== ${name}`)
  try {
    const detail = fn()
    const seconds = (Date.now() - started) / 1000
    console.log(`PASS ${name} (${seconds.toFixed(1)} s)${detail ? `: ${detail}` : ''}`)
    results.push(true)
    timings.push([name, seconds, 'pass'])
    return true
  } catch (err) {
    const seconds = (Date.now() - started) / 1000
    console.log(`FAIL ${name} (${seconds.toFixed(1)} s): ${err.message}`)
    results.push(false)
    timings.push([name, seconds, 'FAIL'])
    return false
  }
}

function skip(name, why) {
  console.log(`\n== ${name}\nSKIP ${name}: ${why}`)
  timings.push([name, 0, 'skip'])
}

function run(command, argv, options = {}) {
  const child = spawnSync(command, argv, { encoding: 'utf8', maxBuffer: 64 << 20, ...options })
  const output = `${child.stdout ?? ''}${child.stderr ?? ''}`
  if ((options.echo !== false || child.status !== 0) && output.trim())
    console.log(
      output
        .trimEnd()
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    )
  if (child.error) throw new Error(`${command}: ${child.error.message}`)
  if (child.status !== 0 && !options.allowFailure)
    throw new Error(`${path.basename(command)} ${argv.join(' ')} exited ${child.status ?? child.signal}`)
  if (options.allowFailure) return { status: child.status, output, stdout: child.stdout }
  return options.stdoutOnly ? child.stdout : output
}

const npm = (argv, options) => run(process.execPath, [npmJs, ...argv], options)

// 1. Build what is packed.
let ok = true
if (build) {
  ok = step('npm run build', () => {
    npm(['run', 'build'], { cwd: root })
  })
  ok =
    step('npm run build:prebuilds (linux-x64 and linux-arm64, glibc and musl)', () => {
      npm(['run', 'build:prebuilds'], { cwd: root })
    }) && ok
}

// 2. npm pack must refuse a package without every prebuild. A copy of what is packed, whose
// package.json keeps only the prepack script (prepare would need the dev dependencies there).
if (ok) {
  step('npm pack refuses a tree that lacks a prebuild or holds one for the wrong C library', () => {
    const tree = path.join(work, 'refuse')
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
    for (const entry of [...pkg.files, 'scripts/check-prebuilds.mjs', 'scripts/elf.mjs']) {
      fs.cpSync(path.join(root, entry), path.join(tree, entry), { recursive: true })
    }
    fs.writeFileSync(path.join(tree, 'package.json'), JSON.stringify({ ...pkg, scripts: { prepack: pkg.scripts.prepack } }, null, 2))
    const pack = () => npm(['pack', '--dry-run', '--json'], { cwd: tree, echo: false, allowFailure: true })
    const seen = []
    const expectRefusal = (what, pattern) => {
      const { status, output } = pack()
      if (status === 0) throw new Error(`npm pack packed a tree where ${what}`)
      if (!pattern.test(output)) throw new Error(`npm pack failed where ${what}, without saying so:\n${output}`)
      seen.push(`${what}: refused`)
    }
    const [x64musl, arm64musl, x64glibc] = ['x64-musl', 'arm64-musl', 'x64-glibc'].map(
      (k) => TARGETS.find((t) => `${t.arch}-${t.libc}` === k).file,
    )
    const moved = `${path.join(tree, arm64musl)}.away`
    fs.renameSync(path.join(tree, arm64musl), moved)
    expectRefusal(`${arm64musl} is missing`, new RegExp(`${arm64musl.replace(/[./]/g, '\\$&')} is missing`))
    fs.renameSync(moved, path.join(tree, arm64musl))
    const saved = fs.readFileSync(path.join(tree, x64musl))
    fs.copyFileSync(path.join(tree, x64glibc), path.join(tree, x64musl))
    expectRefusal(`${x64musl} is the glibc build`, /a musl build may need only musl's libc/)
    fs.writeFileSync(path.join(tree, x64musl), saved)
    fs.writeFileSync(path.join(tree, 'prebuilds', 'linux-x64', 'mempolicy.old.node'), saved)
    expectRefusal('a stale prebuild is left in prebuilds/', /mempolicy\.old\.node is not a prebuild the package ships/)
    fs.rmSync(path.join(tree, 'prebuilds', 'linux-x64', 'mempolicy.old.node'))
    const control = pack()
    if (control.status !== 0) throw new Error(`npm pack refused the complete tree:\n${control.output}`)
    return `${seen.join('; ')}; the complete tree packs`
  })
}

// 3. Pack (with npm's prepack and prepare steps, as npm publish runs them), and look inside.
let tarball
if (ok) {
  ok = step('npm pack', () => {
    const out = npm(['pack', '--json', '--pack-destination', work], { cwd: root, echo: false, stdoutOnly: true })
    const [info] = JSON.parse(out.slice(out.indexOf('[')))
    tarball = path.join(work, info.filename)
    const files = info.files.map((f) => f.path).sort()
    for (const f of info.files.sort((a, b) => a.path.localeCompare(b.path))) log(`${String(f.size).padStart(8)}  ${f.path}`)
    const required = [
      'package.json',
      'binding.gyp',
      'scripts/install.cjs',
      'native/binding.cc',
      'native/mempolicy.cc',
      'native/mempolicy.h',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/index.mjs',
      'dist/index.d.mts',
      'dist/cli.js',
      ...TARGETS.map((t) => t.file),
    ]
    const missing = required.filter((f) => !files.includes(f))
    if (missing.length) throw new Error(`the tarball lacks ${missing.join(', ')}`)
    const unwanted = files.filter(
      (f) => /^(src|test|examples|build|bench|scripts\/(?!install\.cjs$)|\.notes|\.ci|node_modules)\b/.test(f) || f.endsWith('.tgz'),
    )
    if (unwanted.length) throw new Error(`the tarball holds ${unwanted.join(', ')}`)
    const orphans = files.filter(
      (f) => /^dist\/.*\.js$/.test(f) && !fs.existsSync(path.join(root, 'src', f.slice(5).replace(/\.js$/, '.ts'))),
    )
    if (orphans.length) throw new Error(`stale build output with no source: ${orphans.join(', ')}`)
    return `${info.filename}, ${files.length} files, ${(info.size / 1024).toFixed(0)} KiB packed, ${(info.unpackedSize / 1024).toFixed(0)} KiB unpacked`
  })
}

// 4. Install it where no compiler can be found.
const project = path.join(work, 'project')
const bin = path.join(work, 'bin')
const cleanEnv = (extra = {}) => {
  const env = { ...process.env, PATH: bin, npm_config_fund: 'false', npm_config_audit: 'false', npm_config_update_notifier: 'false' }
  for (const key of Object.keys(env)) {
    if (
      /^npm_(lifecycle|package|config_(nodedir|build_from_source|arch|platform))/.test(key) ||
      ['npm_execpath', 'INIT_CWD', 'LIBC'].includes(key)
    )
      delete env[key]
  }
  return { ...env, ...extra }
}
/** A fresh project with the tarball installed under env; the install's output. */
function installInto(dir, env) {
  fs.mkdirSync(dir)
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'smoke', version: '1.0.0', private: true }, null, 2))
  return npm(['install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', tarball], { cwd: dir, env, echo: false })
}
if (ok) {
  ok = step('npm install of the tarball, no compiler on PATH', () => {
    fs.mkdirSync(bin)
    fs.symlinkSync(process.execPath, path.join(bin, 'node'))
    fs.symlinkSync(npmJs, path.join(bin, 'npm'))
    fs.symlinkSync('/bin/sh', path.join(bin, 'sh'))
    const reachable = run('/bin/sh', ['-c', 'for t in cc gcc g++ c++ clang make python3 python; do command -v $t; done; true'], {
      env: { PATH: bin },
      echo: false,
    }).trim()
    if (reachable) throw new Error(`the no-compiler PATH still reaches ${reachable}`)
    const out = installInto(project, cleanEnv())
    if (/gyp (info|ERR)|node-gyp rebuild|mempolicy: /.test(out)) throw new Error(`the install did more than load the prebuild:\n${out}`)
    const pkg = path.join(project, 'node_modules', 'mempolicy')
    if (fs.existsSync(path.join(pkg, 'build'))) throw new Error('the install built the addon (node_modules/mempolicy/build exists)')
    return 'used the prebuild, compiled nothing'
  })
}

// 5. Use it.
const smokeFiles = ['checks.cjs', 'smoke.cjs', 'smoke.mjs']
if (ok) {
  for (const file of smokeFiles) fs.copyFileSync(path.join(root, 'test', 'pack', file), path.join(project, file))
  step('smoke through require()', () => {
    run(process.execPath, ['smoke.cjs'], { cwd: project, env: cleanEnv() })
  })
  step('smoke through import', () => {
    run(process.execPath, ['smoke.mjs'], { cwd: project, env: cleanEnv() })
  })

  step('the mempolicy CLI (bin): --show, and a command run under --interleave', () => {
    const cli = path.join(project, 'node_modules', '.bin', 'mempolicy')
    const show = run(cli, ['--show'], { cwd: project, env: cleanEnv() })
    if (!/policy/i.test(show)) throw new Error('--show printed no policy')
    const child = run(cli, ['--interleave', '0', '--', process.execPath, '-e', "console.log(require('mempolicy').getMempolicy().mode)"], {
      cwd: project,
      env: cleanEnv(),
    })
    if (child.trim().split('\n').pop() !== 'interleave') throw new Error(`the command ran under ${child.trim()}, not interleave`)
  })

  step('types: tsc over ESM and CJS consumers resolves each its own declarations (node16, nodenext, bundler)', () => typeResolution())
  step('module interop: tsc type-checks a default, namespace and named import and node runs what it emitted', () => interop())

  // 6. Off Linux.
  step('off Linux (simulated macOS): install step and import/require', () => {
    const pkg = path.join(project, 'node_modules', 'mempolicy')
    const dir = path.join(project, 'off-linux')
    fs.cpSync(path.join(root, 'test', 'off-linux'), dir, { recursive: true })
    const preload = path.join(dir, 'preload-darwin.cjs')
    const install = run(process.execPath, ['-r', preload, path.join(pkg, 'scripts', 'install.cjs')], { cwd: pkg, env: cleanEnv() })
    if (install.trim()) throw new Error(`the install step did something off Linux: ${install.trim()}`)
    run(process.execPath, ['-r', preload, path.join(dir, 'check.mjs')], { cwd: dir, env: cleanEnv() })
  })

  // 7. Where no prebuild fits and nothing can compile.
  for (const [label, env, tag] of [
    ['another CPU (npm_config_arch=riscv64)', { npm_config_arch: 'riscv64' }, 'linux-riscv64 glibc'],
    ['another C library (LIBC=uclibc)', { LIBC: 'uclibc' }, `linux-${process.arch} uclibc`],
  ]) {
    step(`no prebuild fits, no compiler: ${label}: the install succeeds, first use says why and what to do`, () => {
      const dir = path.join(work, `unfit-${env.LIBC ? 'libc' : 'cpu'}`)
      const out = installInto(dir, cleanEnv(env))
      if (!/mempolicy: cannot build from source: a C\+\+ compiler, make, Python 3 not found on PATH/.test(out)) {
        throw new Error(`the install did not say why it has no addon:\n${out}`)
      }
      const probe = [
        "const seen = []; process.on('warning', (w) => seen.push(w.code))",
        "const mp = require('mempolicy')",
        'let err; try { mp.getMempolicy() } catch (e) { err = e }',
        'setImmediate(() => console.log(JSON.stringify({ supported: mp.isSupported(), code: err && err.code, message: err && err.message, seen })))',
      ].join('\n')
      const result = JSON.parse(
        run(process.execPath, ['-e', probe], { cwd: dir, env: cleanEnv(env), echo: false, stdoutOnly: true }).trim(),
      )
      if (result.supported !== false || result.code !== 'ERR_MEMPOLICY_UNSUPPORTED') throw new Error(`got ${JSON.stringify(result)}`)
      if (result.seen.join() !== 'MEMPOLICY_ADDON_NOT_LOADED')
        throw new Error(`warnings ${JSON.stringify(result.seen)}, not one MEMPOLICY_ADDON_NOT_LOADED`)
      for (const want of [
        `no native addon for ${tag} was found`,
        'Prebuilt addons ship for linux-x64 and linux-arm64',
        'npm_config_build_from_source=true npm install mempolicy',
      ]) {
        if (!result.message.includes(want)) throw new Error(`the error does not say "${want}":\n${result.message}`)
      }
      return result.message.split('\n')[0]
    })
  }

  // 8. Other runtimes on this machine.
  const matrix = [
    ['Node.js 20', PINNED.node20, 'bin/node'],
    ['Node.js 22', PINNED.node22, 'bin/node'],
    ['Node.js 24', PINNED.node24, 'bin/node'],
    ['Bun (glibc)', PINNED.bun, 'bin/bun'],
  ]
  for (const [name, pkg, exe] of matrix) {
    const title = `${name} (${pkg.name}@${pkg.version}): the glibc prebuild loads, smoke.cjs and smoke.mjs pass`
    if (matrixMode === 'skip') {
      skip(title, '--matrix=skip')
      continue
    }
    step(title, () => {
      const runtime = path.join(fetchPackage(pkg, log), exe)
      const version = run(runtime, ['-p', 'process.versions.bun ? "bun " + process.versions.bun : process.version'], {
        cwd: project,
        env: cleanEnv(),
        echo: false,
      }).trim()
      run(runtime, ['smoke.cjs'], { cwd: project, env: cleanEnv() })
      run(runtime, ['smoke.mjs'], { cwd: project, env: cleanEnv() })
      return version
    })
  }

  // 9. musl.
  const muslTitle = `musl: Bun's musl build (${PINNED.bunMusl.name}@${PINNED.bunMusl.version}) in an Alpine-like root loads the musl prebuild, smoke passes`
  if (muslMode === 'skip') skip(muslTitle, '--musl=skip')
  else step(muslTitle, () => muslX64())

  // 10. arm64 under user-mode emulation.
  const qemu = ['/usr/bin/qemu-aarch64', '/usr/bin/qemu-aarch64-static'].find((q) => fs.existsSync(q))
  const sysroot = '/usr/aarch64-linux-gnu'
  const needs = [
    [qemu, 'qemu-aarch64 (apt-get install qemu-user)'],
    [
      fs.existsSync(path.join(sysroot, 'lib', 'ld-linux-aarch64.so.1')) && fs.existsSync(path.join(sysroot, 'lib', 'libstdc++.so.6')),
      'the arm64 libc/libstdc++ (apt-get install g++-aarch64-linux-gnu)',
    ],
  ]
  const lacking = needs.filter(([have]) => !have).map(([, what]) => what)
  const armTitles = [
    `arm64 under qemu-user: Node ${PINNED.node20arm64.version} for arm64 runs smoke.cjs and smoke.mjs`,
    `arm64 musl under qemu-user: Bun's arm64 musl build (${PINNED.bunMuslArm64.version}) loads the arm64 musl prebuild`,
  ]
  if (arm64Mode === 'skip') {
    for (const title of armTitles) skip(title, '--arm64=skip')
  } else if (lacking.length) {
    const why = `${lacking.join(' and ')} not installed`
    for (const title of armTitles) {
      if (arm64Mode === 'require')
        step(title, () => {
          throw new Error(why)
        })
      else skip(title, why)
    }
  } else {
    step(armTitles[0], () => arm64Glibc(qemu, sysroot))
    if (muslMode === 'skip') skip(armTitles[1], '--musl=skip')
    else step(armTitles[1], () => arm64Musl(qemu))
  }
}

/** Which declaration files tsc resolves for each consumer, and that the types are real. */
function typeResolution() {
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
    '// @ts-expect-error not a mode: the types are real, not any',
    "mbind(buf, { mode: 'membind' })",
    'export { span, info, same, isError }',
  ].join('\n')
  fs.writeFileSync(path.join(types, 'esm.mts'), esm)
  fs.writeFileSync(path.join(types, 'bundler.ts'), esm)
  fs.writeFileSync(
    path.join(types, 'cjs.cts'),
    [
      "import mp = require('mempolicy')",
      "import { setMempolicy, type Mode } from 'mempolicy'",
      "const mode: Mode = 'interleave'",
      'setMempolicy({ mode, nodes: [0] })',
      'const nodes: number[] = mp.getMempolicy().nodes',
      '// @ts-expect-error not a mode: the types are real, not any',
      "mp.setMempolicy({ mode: 'membind' })",
      'export = nodes',
    ].join('\n'),
  )
  // Each consumer must get the declarations of its own module system: import gets index.d.mts
  // (which re-exports index.d.ts), require gets index.d.ts alone. Our own declarations are
  // type-checked once (skipLibCheck off in the first run).
  const base = {
    strict: true,
    noEmit: true,
    target: 'ES2022',
    lib: ['ES2023'],
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
  }
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
    if (used.join() !== want.join())
      throw new Error(`${name}: resolved ${used.join(', ') || 'no declarations'}, expected ${want.join(', ')}`)
    seen.push(`${name}: ${used.join(' + ')}`)
  }
  return seen.join('; ')
}

/**
 * Every module system TypeScript compiles `import mempolicy from 'mempolicy'` for: tsc checks the
 * consumer and emits it, node runs the output, which makes a real call through each import form.
 */
function interop() {
  const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc')
  const dir = path.join(project, 'interop')
  const source = (label) =>
    [
      "import mempolicy from 'mempolicy'",
      "import * as namespace from 'mempolicy'",
      "import { getMempolicy, formatNodes } from 'mempolicy'",
      "if (typeof mempolicy.getMempolicy !== 'function') throw new Error('the default import has no getMempolicy')",
      "if (mempolicy.getMempolicy !== getMempolicy || namespace.getMempolicy !== getMempolicy) throw new Error('the imports are different modules')",
      'const mode: string = mempolicy.getMempolicy().mode',
      "if (formatNodes([1, 0]) !== '0-1') throw new Error('formatNodes')",
      `console.log('ok ${label}: ' + mode)`,
    ].join('\n')
  const base = {
    strict: true,
    target: 'ES2022',
    lib: ['ES2023'],
    types: ['node'],
    typeRoots: [path.join(root, 'node_modules', '@types')],
    skipLibCheck: true,
  }
  const cases = [
    [
      'CommonJS, esModuleInterop',
      'cjs-interop',
      'main.ts',
      { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: true },
      'commonjs',
    ],
    [
      'CommonJS, no esModuleInterop',
      'cjs-plain',
      'main.ts',
      { module: 'commonjs', moduleResolution: 'node10', esModuleInterop: false, allowSyntheticDefaultImports: false },
      'commonjs',
    ],
    ['node16, CommonJS', 'node16-cjs', 'main.cts', { module: 'node16', moduleResolution: 'node16' }, 'commonjs'],
    ['node16, ESM', 'node16-esm', 'main.mts', { module: 'node16', moduleResolution: 'node16' }, 'commonjs'],
    ['nodenext, CommonJS', 'nodenext-cjs', 'main.ts', { module: 'nodenext', moduleResolution: 'nodenext' }, 'commonjs'],
    ['nodenext, ESM', 'nodenext-esm', 'main.ts', { module: 'nodenext', moduleResolution: 'nodenext' }, 'module'],
    ['bundler', 'bundler', 'main.ts', { module: 'esnext', moduleResolution: 'bundler' }, 'module'],
  ]
  for (const [label, name, file, options, type] of cases) {
    const caseDir = path.join(dir, name)
    fs.mkdirSync(caseDir, { recursive: true })
    fs.writeFileSync(path.join(caseDir, 'package.json'), JSON.stringify({ type }))
    fs.writeFileSync(path.join(caseDir, file), source(label))
    fs.writeFileSync(
      path.join(caseDir, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { ...base, ...options, outDir: 'out' }, files: [file] }),
    )
  }
  // One tsc process builds every case (a type error in any fails it).
  run(process.execPath, [tsc, '-b', ...cases.map(([, name]) => path.join(dir, name))], { cwd: dir, env: cleanEnv(), echo: false })
  const seen = []
  for (const [label, name, file, , type] of cases) {
    const caseDir = path.join(dir, name)
    const emitted = file
      .replace(/\.ts$/, '.js')
      .replace(/\.cts$/, '.cjs')
      .replace(/\.mts$/, '.mjs')
    fs.writeFileSync(path.join(caseDir, 'out', 'package.json'), JSON.stringify({ type }))
    const out = run(process.execPath, [path.join(caseDir, 'out', emitted)], { cwd: caseDir, env: cleanEnv(), echo: false }).trim()
    if (!out.startsWith(`ok ${label}`)) throw new Error(`${label}: ${out}`)
    seen.push(label)
  }
  return seen.join('; ')
}

/**
 * A root that looks like Alpine to node-gyp-build (/etc/alpine-release) and holds no glibc: musl's
 * loader (Debian's musl package), Bun's musl build, the glibc-built libstdc++ and libgcc_s that it
 * needs with the few glibc-only symbols they use (test/pack/musl-compat.c, built with zig, also
 * under the glibc loader's name where they list that as needed), and a copy of the project.
 * Returns the root and the command that starts Bun in it (musl's loader, which preloads the compat
 * library for Bun alone: no host tool sees it).
 */
function muslRoot(arch, bunPkg, libs) {
  const cpu = { x64: 'x86_64', arm64: 'aarch64' }[arch]
  const loader = `/lib/ld-musl-${cpu}.so.1`
  if (!fs.existsSync(loader))
    throw new Error(`${loader} not found (apt-get install musl${arch === 'arm64' ? ':arm64, after dpkg --add-architecture arm64' : ''})`)
  const dir = path.join(work, `musl-root-${arch}`)
  for (const sub of ['lib', 'usr/lib', 'usr/bin', 'etc', 'tmp', 'proc', 'sys', 'dev'])
    fs.mkdirSync(path.join(dir, sub), { recursive: true })
  fs.copyFileSync(fs.realpathSync(loader), path.join(dir, loader))
  const compat = path.join(dir, 'usr', 'lib', 'glibc-compat.so')
  run(
    zigPath(log),
    ['cc', '-target', `${cpu}-linux-musl`, '-shared', '-fPIC', '-O2', '-o', compat, path.join(root, 'test', 'pack', 'musl-compat.c')],
    { echo: false },
  )
  for (const lib of libs) {
    fs.copyFileSync(fs.realpathSync(lib), path.join(dir, 'usr', 'lib', path.basename(lib)))
    for (const needed of readElf(lib).needed.filter((name) => name.startsWith('ld-linux'))) {
      if (!fs.existsSync(path.join(dir, 'usr', 'lib', needed))) fs.symlinkSync('glibc-compat.so', path.join(dir, 'usr', 'lib', needed))
    }
  }
  fs.writeFileSync(path.join(dir, 'etc', 'alpine-release'), 'not Alpine: a musl root made by scripts/pack-smoke.mjs\n')
  const bun = path.join(fetchPackage(bunPkg, log), 'bin', 'bun')
  fs.copyFileSync(bun, path.join(dir, 'usr', 'bin', 'bun'))
  fs.chmodSync(path.join(dir, 'usr', 'bin', 'bun'), 0o755)
  fs.cpSync(project, path.join(dir, 'app'), { recursive: true, filter: (src) => !/[/\\](types|interop|off-linux)$/.test(src) })
  fs.writeFileSync(
    path.join(dir, 'app', 'no-glibc.cjs'),
    [
      "const fs = require('fs')",
      // glibc's loader and libc for this CPU, where a loader would look for them.
      `const glibc = ['${arch === 'x64' ? '/lib64/ld-linux-x86-64.so.2' : '/lib/ld-linux-aarch64.so.1'}', '/lib/${cpu}-linux-gnu/libc.so.6', '/usr/lib/${cpu}-linux-gnu/libc.so.6', '/lib/libc.so.6', '/usr/lib/libc.so.6'].filter((f) => fs.existsSync(f))`,
      `if (glibc.length) throw new Error('${arch} glibc is reachable: ' + glibc.join(', '))`,
      `console.log('bun ' + process.versions.bun + ' ' + process.arch + ', no ${arch} glibc reachable')`,
    ].join('\n'),
  )
  return { dir, bun: [loader, '--library-path', '/lib:/usr/lib', '--preload', '/usr/lib/glibc-compat.so', '/usr/bin/bun'] }
}

function muslX64() {
  const { dir, bun } = muslRoot('x64', PINNED.bunMusl, ['/usr/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libgcc_s.so.1'])
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/tmp', MEMPOLICY_SMOKE_LIBC: 'musl' }
  if (process.getuid?.() === 0) {
    // A mount namespace of its own: this machine's /proc, /sys and /dev inside the root, then chroot.
    const inside = (file) =>
      run(
        'unshare',
        [
          '--mount',
          '--propagation',
          'private',
          '--',
          '/bin/sh',
          '-c',
          `mount --rbind /proc '${dir}/proc' && mount --rbind /sys '${dir}/sys' && mount --rbind /dev '${dir}/dev' && exec chroot '${dir}' "$@"`,
          'sh',
          ...bun,
          '--cwd',
          '/app',
          file,
        ],
        { env, cwd: '/' },
      )
    const said = inside('no-glibc.cjs').trim()
    inside('smoke.cjs')
    inside('smoke.mjs')
    return `${said}; chroot, node-gyp-build saw /etc/alpine-release`
  }
  // Without root there is no chroot: the same command from outside, LIBC=musl for node-gyp-build.
  const outside = [
    path.join(dir, bun[0]),
    ...bun.slice(1, -1).map((a) =>
      a.startsWith('/')
        ? a
            .split(':')
            .map((p) => path.join(dir, p))
            .join(':')
        : a,
    ),
    path.join(dir, bun.at(-1)),
  ]
  run(outside[0], [...outside.slice(1), 'smoke.cjs'], { cwd: path.join(dir, 'app'), env: { ...env, LIBC: 'musl' } })
  run(outside[0], [...outside.slice(1), 'smoke.mjs'], { cwd: path.join(dir, 'app'), env: { ...env, LIBC: 'musl' } })
  return "not root, so no chroot: musl's loader run from outside the root, LIBC=musl"
}

function arm64Glibc(qemu, sysroot) {
  const armNode = path.join(fetchPackage(PINNED.node20arm64, log), 'bin', 'node')
  const qlog = path.join(work, 'qemu-unimp.log')
  const env = { ...cleanEnv(), MEMPOLICY_SMOKE_EMULATED: '1', QEMU_LD_PREFIX: sysroot }
  const arch = run(qemu, ['-L', sysroot, armNode, '-p', 'process.arch'], { cwd: project, env, echo: false }).trim()
  if (arch !== 'arm64') throw new Error(`the emulated node says it is ${arch}`)
  run(qemu, ['-L', sysroot, '-d', 'unimp', '-D', qlog, armNode, 'smoke.cjs'], { cwd: project, env })
  run(qemu, ['-L', sysroot, armNode, 'smoke.mjs'], { cwd: project, env })
  // qemu logs each syscall it does not implement: these must be arm64's numbers for the
  // memory-policy calls, showing the addon made them (and that the kernel was never asked).
  const unimplemented = new Set([...fs.readFileSync(qlog, 'utf8').matchAll(/Unsupported syscall: (\d+)/g)].map((m) => Number(m[1])))
  for (const [name, nr] of [
    ['mbind', 235],
    ['get_mempolicy', 236],
    ['set_mempolicy', 237],
  ]) {
    if (!unimplemented.has(nr)) throw new Error(`qemu saw no ${name} (syscall ${nr}) from the arm64 addon`)
  }
  return `qemu-user refused syscalls ${[...unimplemented].sort((a, b) => a - b).join(', ')} (mbind 235, get_mempolicy 236, set_mempolicy 237)`
}

function arm64Musl(qemu) {
  const { dir, bun } = muslRoot('arm64', PINNED.bunMuslArm64, [
    '/usr/aarch64-linux-gnu/lib/libstdc++.so.6',
    '/usr/aarch64-linux-gnu/lib/libgcc_s.so.1',
  ])
  // qemu -L looks up the guest's paths in the root first (the loader, the libraries). It does not
  // do so for every call Bun checks a file with, so LIBC=musl tells node-gyp-build what the root is.
  const env = { ...cleanEnv(), MEMPOLICY_SMOKE_EMULATED: '1', MEMPOLICY_SMOKE_LIBC: 'musl', LIBC: 'musl' }
  const guest = ['-L', dir, path.join(dir, bun[0]), ...bun.slice(1)]
  const app = path.join(dir, 'app')
  const said = run(qemu, [...guest, 'no-glibc.cjs'], { cwd: app, env, echo: false }).trim()
  if (!said.includes('arm64')) throw new Error(`the emulated Bun says ${said}`)
  run(qemu, [...guest, 'smoke.cjs'], { cwd: app, env })
  run(qemu, [...guest, 'smoke.mjs'], { cwd: app, env })
  return `${said}; musl's arm64 loader from the root`
}

if (!keep) fs.rmSync(work, { recursive: true, force: true })
else console.log(`\nkept ${work}`)
console.log('\ntimings:')
for (const [name, seconds, verdict] of timings) console.log(`  ${verdict.padEnd(4)} ${seconds.toFixed(1).padStart(6)} s  ${name}`)
const failed = results.filter((r) => !r).length
console.log(`\npack-smoke: ${results.length - failed} passed, ${failed} failed`)
process.exitCode = failed ? 1 : 0
