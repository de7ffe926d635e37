#!/usr/bin/env node
// Runs test files under other Node.js versions: the behaviours where versions differ (alloc() sizes and
// transfers, what loading the package loads). Node's own binaries come from the npm registry as
// packages, pinned and cached by scripts/registry-cache.mjs (the same copies the pack test's matrix
// uses); the addon is Node-API, so the one build serves every version. vitest runs under that binary,
// and so does every child process and Worker the tests start (process.execPath).
//
// Usage: npm run test:versions [-- --versions=22,24] [test files...]
// Default files: test/alloc-runtime.test.ts test/lazy-load.test.ts test/mistakes.test.ts.
// Exit status: non-zero if any run failed.
import { execFileSync, spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { fetchPackage, PINNED } from './registry-cache.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const versions = (args.find((a) => a.startsWith('--versions='))?.slice('--versions='.length) ?? '22,24').split(',').filter(Boolean)
const files = args.filter((a) => !a.startsWith('--'))
const tests = files.length > 0 ? files : ['test/alloc-runtime.test.ts', 'test/lazy-load.test.ts', 'test/mistakes.test.ts']
if (process.arch !== 'x64') throw new Error(`node-versions: the pinned Node.js builds are for x64, not ${process.arch}`)

/** The node binary of the pinned release of `major` (scripts/registry-cache.mjs), fetched on first use. */
function nodeBinary(major) {
  const pkg = PINNED[`node${major}`]
  if (pkg === undefined)
    throw new Error(
      `node-versions: no pinned Node.js ${major} (known: ${Object.keys(PINNED)
        .filter((k) => /^node\d+$/.test(k))
        .join(', ')})`,
    )
  return path.join(
    fetchPackage(pkg, (line) => console.log(`node-versions: ${line}`)),
    'bin',
    'node',
  )
}

let failed = 0
const summary = []
for (const major of versions) {
  const node = nodeBinary(major)
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()
  console.log(`\n=== Node.js ${version}: ${tests.join(' ')}`)
  const run = spawnSync(node, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...tests], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH ?? ''}` },
  })
  const ok = run.status === 0
  if (!ok) failed++
  summary.push(`${version}: ${ok ? 'passed' : `failed (exit ${run.status ?? run.signal})`}`)
}
console.log(`\nnode-versions: ${summary.join('; ')}`)
console.log(`${versions.length - failed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
