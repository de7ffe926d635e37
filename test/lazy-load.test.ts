// A bare require (or import) of the package loads only what it needs to answer its first call: the
// addon and Node's own modules that are loaded at start-up anyway. child_process (with net, stream,
// dgram, ...) waits for the first spawn(), worker_threads for the first alloc(). Each child process
// lists the built-in modules Node loaded for it (process.moduleLoadList) before and after.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const dist = path.join(__dirname, '..', 'dist')
const EMPTY_CJS = path.join(__dirname, 'lazy-load', 'empty.cjs')

/** The built-in modules and internal bindings `code` makes Node load, in a fresh process. */
function loadedBy(code: string, esm = false): string[] {
  // For import, the module loader's own modules (and those it uses to import CommonJS) are loaded
  // first, by a module of nothing and a CommonJS module of nothing.
  const script = `
    ${esm ? `await import('data:text/javascript,export default 0'); await import(${JSON.stringify(EMPTY_CJS)})` : ''}
    const before = new Set(process.moduleLoadList)
    ${code}
    const after = process.moduleLoadList.filter((m) => !before.has(m))
    process.stdout.write(JSON.stringify(after))
  `
  const child = spawnSync(process.execPath, esm ? ['--input-type=module', '-e', script] : ['-e', script], { encoding: 'utf8' })
  expect(child.stderr).toBe('')
  expect(child.status).toBe(0)
  return JSON.parse(child.stdout) as string[]
}

// What loading the addon needs: node-gyp-build reads os.arch() and os.platform() to pick the prebuild.
const ALLOWED = new Set(['NativeModule os', 'Internal Binding os'])
const LATER = ['child_process', 'net', 'stream', 'dgram', 'worker_threads', 'readline', 'tty', 'http', 'zlib', 'crypto']

describe('loading the package', () => {
  it('loads no built-in module beyond what the addon needs, through require', () => {
    const loaded = loadedBy(`require(${JSON.stringify(dist)})`)
    expect(loaded.filter((m) => !ALLOWED.has(m) && !m.startsWith('NativeModule internal/modules/'))).toEqual([])
  })

  it('nor through import (the module loader reads CommonJS with modules of its own, which may load)', () => {
    const loaded = loadedBy(`await import(${JSON.stringify(path.join(dist, 'index.mjs'))})`, true)
    for (const name of LATER) expect(loaded, name).not.toContain(`NativeModule ${name}`)
  })

  it('the calls that need no more load no more', () => {
    const loaded = loadedBy(`
      const mp = require(${JSON.stringify(dist)})
      mp.setMempolicy({ mode: 'bind', nodes: mp.memsAllowed() })
      mp.getMempolicy(); mp.topology(); mp.parseNodes('0'); mp.toOci({ mode: 'local' })
      try { mp.setMempolicy({ mode: 'bind', node: 0 }) } catch {}
      mp.setMempolicy({ mode: 'default' })
    `)
    for (const name of LATER) expect(loaded, name).not.toContain(`NativeModule ${name}`)
  })

  it('spawn() loads child_process when first called, and works', () => {
    const loaded = loadedBy(`
      const mp = require(${JSON.stringify(dist)})
      const child = mp.spawn(process.execPath, ['-e', '0'], { stdio: 'ignore', mempolicy: { mode: 'local' } })
      child.on('error', (e) => { throw e })
    `)
    expect(loaded).toContain('NativeModule child_process')
  })

  it('alloc() loads neither child_process nor worker_threads', () => {
    // On Node 20 the first alloc() loads MessagePort's module to refuse transfers (src/allocated.ts).
    const loaded = loadedBy(`require(${JSON.stringify(dist)}).alloc(4096)`)
    expect(loaded).not.toContain('NativeModule child_process')
    expect(loaded).not.toContain('NativeModule worker_threads')
  })
})
