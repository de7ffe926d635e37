import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

// A child process made to look like macOS (test/off-linux/preload-darwin.cjs: process.platform is
// 'darwin', no addon can load, no /sys or /proc) loads the compiled package by name through both
// `import` and `require` (test/off-linux/check.mjs, which also runs against the packed tarball).
const dir = path.join(__dirname, 'off-linux')

interface Report {
  platform: string
  unsupported: string[]
  pure: string[]
  failures: string[]
}

function runOffLinux(): { status: number | null; report: Report | undefined; stderr: string } {
  const child = spawnSync(process.execPath, ['-r', path.join(dir, 'preload-darwin.cjs'), path.join(dir, 'check.mjs')], {
    cwd: dir,
    encoding: 'utf8',
  })
  const line = child.stdout.trim().split('\n').pop() ?? ''
  let report: Report | undefined
  try {
    report = JSON.parse(line) as Report
  } catch {
    report = undefined
  }
  return { status: child.status, report, stderr: child.stderr }
}

describe('off Linux (simulated macOS)', () => {
  const { status, report, stderr } = runOffLinux()

  it('loads through import and require, one module instance, and isSupported() is false', () => {
    expect(stderr).toBe('')
    expect(report?.failures).toEqual([])
    expect(report?.platform).toBe('darwin')
    expect(status).toBe(0)
  })

  it('throws ERR_MEMPOLICY_UNSUPPORTED from every call that needs the kernel', () => {
    // check.mjs fails closed: every function export is one of these or one of the pure helpers.
    expect(report?.unsupported).toEqual(
      expect.arrayContaining([
        'setMempolicy',
        'getMempolicy',
        'memsAllowed',
        'mbind',
        'policyOf',
        'nodeOf',
        'setHomeNode',
        'alloc',
        'topology',
        'capabilities',
        'spawn',
      ]),
    )
  })

  it('keeps the pure helpers working', () => {
    expect(report?.pure).toEqual(['formatNodes', 'parseNodes', 'fromOci', 'toOci', 'constants', 'pageSize'])
  })

  it('is a real simulation: the same check fails on this Linux host', () => {
    const child = spawnSync(process.execPath, [path.join(dir, 'check.mjs')], { cwd: dir, encoding: 'utf8' })
    expect(child.status).toBe(1)
    expect(child.stderr).toMatch(/FAIL platform/)
  })
})
