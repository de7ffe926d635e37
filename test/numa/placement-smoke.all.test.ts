// Placement smoke test for every guest, with no library code: numactl sets the policy of a child
// Node process, which touches a buffer and reports where its pages are, by move_pages (the oracle) and
// by /proc/self/numa_maps. Proves the guest's nodes really hold memory, node 63 and 64 included.
import { execFileSync, spawnSync } from 'node:child_process'

import { expect, it } from 'vitest'

import { countStatuses, oracleAddonPath, parseNumaMapsLine } from '../oracle/index'
import { describeNuma, inGuest, memoryNodes, nodeMeminfo } from './helpers'

const MiB = 1 << 20

const CHILD = `
const fs = require('node:fs')
const m = { exports: {} }
process.dlopen(m, process.env.ORACLE_ADDON)
const o = m.exports
const buf = o.mapIsolated(Number(process.argv[1]))
const bytes = new Uint8Array(buf)
for (let i = 0; i < bytes.length; i += o.pageSize()) bytes[i] = 1
const statuses = [...o.pageNodes(buf)]
const key = o.address(buf).toString(16) + ' '
const line = fs.readFileSync('/proc/self/numa_maps', 'utf8').split('\\n').find((l) => l.startsWith(key))
console.log(JSON.stringify({ statuses, line }))
`

interface ChildReport {
  statuses: number[]
  line: string
}

function underNumactl(policy: string, bytes: number): ChildReport {
  const out = execFileSync('numactl', [policy, process.execPath, '-e', CHILD, String(bytes)], {
    encoding: 'utf8',
    env: { ...process.env, ORACLE_ADDON: oracleAddonPath() },
  })
  return JSON.parse(out) as ChildReport
}

function numactlMissing(): string | undefined {
  return spawnSync('numactl', ['--show'], { stdio: 'ignore' }).status === 0
    ? undefined
    : 'numactl is not installed (apt-get install numactl on the host; the guest shares its /)'
}

describeNuma('numactl places pages where it is told (no library code)', { memoryNodes: 2 }, () => {
  const nodes = memoryNodes()
  const highest = Math.max(...nodes)
  const targets = [...new Set([highest, 63, 64].filter((n) => nodes.includes(n)))]

  for (const node of targets) {
    it(`--membind=${node} puts every page of the buffer on node ${node}`, (ctx) => {
      const missing = numactlMissing()
      if (missing) {
        console.log(`[numa] skipped${inGuest() ? ' in the guest' : ''}: ${missing}`)
        ctx.skip(missing)
      }
      const freeMiB = Math.floor(nodeMeminfo(node).MemFree! / 1024)
      const bytes = Math.max(1, Math.min(64, Math.floor(freeMiB / 4))) * MiB
      const { statuses, line } = underNumactl(`--membind=${node}`, bytes)
      expect(statuses).toHaveLength(bytes / 4096)
      expect([...countStatuses(statuses)]).toEqual([[node, statuses.length]])
      const entry = parseNumaMapsLine(line)
      expect(entry.mode).toBe('bind') // the task policy, shown on a VMA without its own
      expect(entry.policyNodes).toEqual([node])
      expect([...entry.nodes]).toEqual([[node, statuses.length]])
    })
  }

  it('--interleave=all spreads a 64 MiB buffer evenly over every node with memory', (ctx) => {
    const missing = numactlMissing()
    if (missing) {
      console.log(`[numa] skipped${inGuest() ? ' in the guest' : ''}: ${missing}`)
      ctx.skip(missing)
    }
    const { statuses, line } = underNumactl('--interleave=all', 64 * MiB)
    const counts = countStatuses(statuses)
    expect([...counts.keys()]).toEqual(nodes)
    const fair = statuses.length / nodes.length
    for (const [node, count] of counts) {
      expect(count, `pages on node ${node}`).toBeGreaterThanOrEqual(Math.floor(fair * 0.9))
      expect(count, `pages on node ${node}`).toBeLessThanOrEqual(Math.ceil(fair * 1.1))
    }
    const entry = parseNumaMapsLine(line)
    expect(entry.mode).toBe('interleave')
    expect(entry.policyNodes).toEqual(nodes)
    expect([...entry.nodes]).toEqual([...counts])
  })
})
