// npm run test:asan: builds the addon with AddressSanitizer and UndefinedBehaviorSanitizer into a
// folder of its own (build/ stays the normal build), then
//   1. runs test/sanitize/exercise.cjs with LeakSanitizer on: every native export many times, any
//      leak of the addon's own allocations fails (lsan.supp names the one known exception);
//   2. runs the whole vitest suite against that build (leak checking off there: the suite starts
//      other programs, which would report leaks of their own at exit).
// Node itself is not built with ASan, so its runtime is preloaded (LD_PRELOAD) into every process,
// and the package is pointed at the sanitized build with MEMPOLICY_PREBUILD, which node-gyp-build
// reads (<NAME>_PREBUILD: the folder whose build/Release it loads). Any ASan or UBSan report, from
// any process, fails the run: reports go to files, which are printed and counted at the end.
// Options: --build-only, --skip-build, --exercise-only. Needs gcc's libasan and libubsan.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const dir = path.join(root, 'node_modules', '.cache', 'mempolicy-asan')
const reports = path.join(dir, 'reports')
const args = new Set(process.argv.slice(2))
const started = Date.now()

function log(text) {
  console.log(`[test:asan ${((Date.now() - started) / 1000).toFixed(0)}s] ${text}`)
}

function runtime(name) {
  const file = execFileSync(process.env.CC || 'gcc', [`-print-file-name=${name}`], { encoding: 'utf8' }).trim()
  if (!path.isAbsolute(file) || !fs.existsSync(file)) throw new Error(`${name} not found (install gcc; libasan and libubsan come with it)`)
  return file
}

function build() {
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  fs.copyFileSync(path.join(root, 'binding.gyp'), path.join(dir, 'binding.gyp'))
  fs.cpSync(path.join(root, 'native'), path.join(dir, 'native'), { recursive: true })
  const flags = '-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -g'
  log(`node-gyp rebuild in ${path.relative(root, dir)} with ${flags}`)
  // npx finds the project's node-gyp and passes npm's configuration (nodedir) on, as npm scripts do.
  execFileSync('npx', ['--no-install', 'node-gyp', 'rebuild'], {
    cwd: dir,
    stdio: 'inherit',
    env: { ...process.env, CFLAGS: flags, CXXFLAGS: flags, LDFLAGS: '-fsanitize=address,undefined' },
  })
  const addon = path.join(dir, 'build', 'Release', 'mempolicy.node')
  const symbols = execFileSync('nm', ['-D', addon], { encoding: 'utf8' })
  if (!/__asan_report/.test(symbols) || !/__ubsan_handle/.test(symbols)) throw new Error(`${addon} is not instrumented`)
}

function sanitizedEnv(leaks) {
  fs.rmSync(reports, { recursive: true, force: true })
  fs.mkdirSync(reports, { recursive: true })
  const common = `log_path=${path.join(reports, 'report')}:print_stacktrace=1:halt_on_error=1`
  return {
    ...process.env,
    MEMPOLICY_PREBUILD: dir,
    LD_PRELOAD: [runtime('libasan.so'), process.env.LD_PRELOAD].filter(Boolean).join(' '),
    // Signals keep their default meaning (tests check how a killed child ended); leaks as asked.
    ASAN_OPTIONS: `${common}:detect_leaks=${leaks ? 1 : 0}:handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0:handle_sigill=0:allow_user_segv_handler=1`,
    LSAN_OPTIONS: `suppressions=${path.join(root, 'test', 'sanitize', 'lsan.supp')}:print_suppressions=0`,
    UBSAN_OPTIONS: `${common}:report_error_type=1`,
  }
}

/** Prints every report the sanitizers wrote and returns how many there were. */
function collectReports(what) {
  const files = fs.existsSync(reports) ? fs.readdirSync(reports) : []
  for (const file of files) {
    console.error(`----- ${what}: ${file}`)
    console.error(fs.readFileSync(path.join(reports, file), 'utf8'))
  }
  return files.length
}

function run(what, command, commandArgs, env) {
  log(what)
  const result = spawnSync(command, commandArgs, { cwd: root, stdio: 'inherit', env })
  const found = collectReports(what)
  log(`${what}: exit ${result.status ?? result.signal}, ${found} sanitizer report(s)`)
  return result.status === 0 && found === 0
}

if (!args.has('--skip-build')) build()
if (args.has('--build-only')) process.exit(0)

// The package must load the sanitized build, and only that one.
const check = spawnSync(process.execPath, ['-p', `require('node-gyp-build').path(${JSON.stringify(root)})`], {
  cwd: root,
  env: sanitizedEnv(false),
  encoding: 'utf8',
})
if (check.status !== 0 || !check.stdout.startsWith(dir)) {
  console.error(check.stdout, check.stderr)
  throw new Error(`the package does not load the sanitized build from ${dir}`)
}

let ok = run(
  'exercise every native export, LeakSanitizer on',
  process.execPath,
  ['--expose-gc', path.join(root, 'test', 'sanitize', 'exercise.cjs')],
  { ...sanitizedEnv(true), MEMPOLICY_EXERCISE_ROUNDS: process.env.MEMPOLICY_EXERCISE_ROUNDS || '100' },
)
if (!args.has('--exercise-only')) {
  ok =
    run(
      'the whole vitest suite',
      'npx',
      ['--no-install', 'vitest', 'run'],
      // The fuzz tests read numa_maps around every call, which is slow under ASan: fewer runs.
      { ...sanitizedEnv(false), MEMPOLICY_FUZZ_RUNS: process.env.MEMPOLICY_FUZZ_RUNS || '30' },
    ) && ok
}
log(ok ? 'clean' : 'FAILED')
process.exit(ok ? 0 : 1)
