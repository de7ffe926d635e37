import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

// The examples import the package by name ('mempolicy': the package's own exports, so the compiled
// dist/ that the global setup builds) and must keep running as the API grows.
const root = path.join(__dirname, '..')

function example(file: string, ...args: string[]): string {
  const child = spawnSync(process.execPath, [path.join(root, 'examples', file), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  expect(child.stderr).toBe('')
  expect(child.status).toBe(0)
  return child.stdout
}

describe('examples', () => {
  it('quickstart.mjs shows the topology, the policy and where a bound buffer went', () => {
    const out = example('quickstart.mjs')
    expect(out).toMatch(/^nodes online /)
    expect(out).toMatch(/this thread's policy: /)
    expect(out).toMatch(/alloc\(64 MiB, bind (\d+)\): policy bind \1; first page on node \1; \d+ pages on node \1\n/)
  })

  it('service.mjs binds the whole process and reports its memory on that node', () => {
    const out = example('service.mjs', '--once')
    const report = JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown>
    expect(report).toMatchObject({ pinned: true, policy: { mode: 'bind', nodes: [report.node] }, heapNode: report.node })
    expect(report.cachePagesOnNode).toBe(report.cachePages)
  })

  it('policies-bench.mjs prints a row per policy', () => {
    const out = example('policies-bench.mjs', '--size', '8', '--rounds', '1')
    for (const row of ['default', 'local', 'interleave', 'bind']) expect(out).toContain(`'${row}`)
  })

  it('oci.mjs validates config.json and runs its process under the policy', () => {
    const out = example('oci.mjs', '--run')
    expect(out).toContain('policy:    {"mode":"bind","nodes":[0],"flags":["static-nodes"]}')
    // The kernel's view of the child's own mappings.
    expect(out).toMatch(/ bind=static:0 /)
  })
})
