import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

// When the addon cannot load on Linux, the package still loads, isSupported() is false, one coded
// process warning says so, and every call that needs the kernel throws ERR_MEMPOLICY_UNSUPPORTED
// saying what was looked for, why it failed and what to do. Each case runs the compiled package
// (dist/) copied into a temporary folder, in a child process of its own.
const root = path.join(__dirname, '..')
const addon = path.join(root, 'build', 'Release', 'mempolicy.node')
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'mempolicy-addon-load-'))
afterAll(() => fs.rmSync(work, { recursive: true, force: true }))

interface Outcome {
  supported: boolean[]
  warnings: { name: string; code: string; message: string; detail: string }[]
  error: { code: string; message: string; cause: string } | null
  stderr: string
}

const probe = `
const warnings = []
process.on('warning', (w) => warnings.push({ name: w.name, code: w.code, message: w.message, detail: w.detail }))
const mp = require(process.argv[1])
const supported = [mp.isSupported(), mp.isSupported()]
let error = null
try { mp.getMempolicy() } catch (err) { error = { code: err.code, message: err.message, cause: String(err.cause && err.cause.message) } }
try { mp.setMempolicy({ mode: 'default' }) } catch {}
setImmediate(() => console.log(JSON.stringify({ supported, warnings, error })))
`

/** A copy of dist/ at dir/dist, with node-gyp-build beside it as a bundle would carry it. */
function copyOfDist(dir: string, extra: (dir: string) => void = () => {}): string {
  fs.cpSync(path.join(root, 'dist'), path.join(dir, 'dist'), { recursive: true })
  fs.mkdirSync(path.join(dir, 'node_modules'), { recursive: true })
  fs.symlinkSync(path.join(root, 'node_modules', 'node-gyp-build'), path.join(dir, 'node_modules', 'node-gyp-build'))
  extra(dir)
  return path.join(dir, 'dist', 'index.js')
}

/** The package's own shape: package.json named mempolicy beside dist/. */
function asPackage(dir: string): void {
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'mempolicy', main: './dist/index.js' }))
}

function run(entry: string, env: Record<string, string> = {}): Outcome {
  const clean = { ...process.env }
  for (const key of ['LIBC', 'npm_config_arch', 'npm_config_platform', 'PREBUILDS_ONLY', 'MEMPOLICY_PREBUILD']) delete clean[key]
  const child = spawnSync(process.execPath, ['-e', probe, entry], { encoding: 'utf8', env: { ...clean, ...env } })
  expect(child.status, child.stderr).toBe(0)
  return { ...(JSON.parse(child.stdout.trim().split('\n').pop() ?? 'null') as Omit<Outcome, 'stderr'>), stderr: child.stderr }
}

function expectUnsupported(outcome: Outcome): NonNullable<Outcome['error']> {
  expect(outcome.supported).toEqual([false, false])
  expect(outcome.error?.code).toBe('ERR_MEMPOLICY_UNSUPPORTED')
  // One warning for the process, however many calls found the addon missing.
  expect(outcome.warnings.map((w) => [w.name, w.code])).toEqual([['MempolicyWarning', 'MEMPOLICY_ADDON_NOT_LOADED']])
  expect(outcome.stderr.match(/MEMPOLICY_ADDON_NOT_LOADED/g)).toHaveLength(1)
  const error = outcome.error!
  expect(error.message).toMatch(/^mempolicy is not supported here: /)
  expect(error.message).not.toMatch(/\)\s*$/)
  expect(error.message).not.toMatch(/loaded from:/)
  return error
}

describe.runIf(process.platform === 'linux')('when the addon does not load', () => {
  it('a dist/ copied out of the package (bundled): names the folder, the platform, and says to mark it external', () => {
    const dir = path.join(work, 'bundled')
    const error = expectUnsupported(run(copyOfDist(dir)))
    const tag = `linux-${process.arch} ${fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc'}`
    expect(error.message).toContain(`no native addon for ${tag} was found in ${dir} (prebuilds/ and build/Release/)`)
    expect(error.message).toContain(`No native build was found for platform=linux arch=${process.arch}`)
    expect(error.message).toContain('a bundler copied the JavaScript and left the .node file behind')
    expect(error.message).toContain('Mark mempolicy as external')
    expect(error.cause).toMatch(/^No native build was found/)
  })

  it('the warning says the same, with what to do as its detail', () => {
    const outcome = run(copyOfDist(path.join(work, 'bundled-warning')))
    const [warning] = outcome.warnings
    expect(warning?.message).toMatch(/no native addon for linux-\S+ \S+ was found in .*bundled-warning/)
    expect(warning?.message).toContain('isSupported() is false and each call that needs the kernel throws ERR_MEMPOLICY_UNSUPPORTED')
    expect(warning?.detail).toContain('Mark mempolicy as external')
  })

  it("a damaged .node file: names the file, gives the loader's reason, says to reinstall or build from source", () => {
    const dir = path.join(work, 'damaged')
    const entry = copyOfDist(dir, (d) => {
      asPackage(d)
      const file = path.join(d, 'build', 'Release', 'mempolicy.node')
      fs.mkdirSync(path.dirname(file), { recursive: true })
      // Not an ELF file any more (a truncated one can crash the loader itself instead).
      fs.writeFileSync(file, Buffer.alloc(65536, 'damaged '))
    })
    const error = expectUnsupported(run(entry))
    const file = path.join(dir, 'build', 'Release', 'mempolicy.node')
    expect(error.message).toContain(`the native addon ${file} did not load: `)
    expect(error.cause.length).toBeGreaterThan(0)
    expect(error.message).toContain(error.cause.split('\n')[0]!.trim())
    expect(error.message).toContain('Reinstall the package (npm rebuild mempolicy)')
    expect(error.message).toContain('npm_config_build_from_source=true npm install mempolicy')
  })

  it('no prebuild for this platform: names the platform, lists those shipped, gives the build-from-source command', () => {
    const entry = copyOfDist(path.join(work, 'other-platform'), (d) => {
      asPackage(d)
      fs.mkdirSync(path.join(d, 'prebuilds', 'linux-x64'), { recursive: true })
      fs.copyFileSync(addon, path.join(d, 'prebuilds', 'linux-x64', 'mempolicy.glibc.node'))
    })
    for (const [env, tag] of [
      [{ npm_config_arch: 'riscv64' }, 'linux-riscv64 glibc'],
      [{ LIBC: 'uclibc' }, `linux-${process.arch} uclibc`],
    ] as const) {
      const error = expectUnsupported(run(entry, env))
      expect(error.message).toContain(`no native addon for ${tag} was found in ${path.join(work, 'other-platform')}`)
      expect(error.message).toContain('Prebuilt addons ship for linux-x64 and linux-arm64, each for glibc and musl')
      expect(error.message).toContain('npm_config_build_from_source=true npm install mempolicy (needs a C++17 compiler, make and Python 3)')
    }
  })

  it('is a real check: the same copy with a fitting prebuild loads it, with no warning', () => {
    const entry = copyOfDist(path.join(work, 'fits'), (d) => {
      asPackage(d)
      const libc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc'
      fs.mkdirSync(path.join(d, 'prebuilds', `linux-${process.arch}`), { recursive: true })
      fs.copyFileSync(addon, path.join(d, 'prebuilds', `linux-${process.arch}`, `mempolicy.${libc}.node`))
    })
    const outcome = run(entry)
    expect(outcome.warnings).toEqual([])
    expect(outcome.error).toBeNull()
    expect(outcome.supported).toEqual([true, true])
  })
})
