// npm run test:valgrind: runs test/sanitize/exercise.cjs (every native export, many times, on the
// normal build in build/Release) under valgrind's memcheck. Any invalid read or write, use of
// uninitialised memory in the addon, or definite leak fails the run; node.supp suppresses only what
// node itself does (V8's conservative stack scan) and the one known leak it names.
// Valgrind 3.19 does not know migrate_pages (256) or set_mempolicy_home_node (450) on x86_64: under
// it those two calls fail with ENOSYS, so their paths are checked by test:asan instead.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const started = Date.now()
const rounds = process.env.MEMPOLICY_EXERCISE_ROUNDS || '20'
const args = [
  '--error-exitcode=1',
  '--leak-check=full',
  '--errors-for-leak-kinds=definite',
  '--show-leak-kinds=definite',
  `--suppressions=${path.join(root, 'test', 'sanitize', 'node.supp')}`,
  '--num-callers=30',
  process.execPath,
  '--expose-gc',
  path.join(root, 'test', 'sanitize', 'exercise.cjs'),
]
console.log(`[test:valgrind] valgrind ${args.join(' ')} (${rounds} rounds)`)
const result = spawnSync('valgrind', args, { cwd: root, stdio: 'inherit', env: { ...process.env, MEMPOLICY_EXERCISE_ROUNDS: rounds } })
if (result.error) throw result.error
console.log(`[test:valgrind] exit ${result.status ?? result.signal} after ${((Date.now() - started) / 1000).toFixed(0)}s`)
process.exit(result.status === 0 ? 0 : 1)
