// Errors that say why, on four nodes: a node outside the cgroup's cpuset.mems is refused by the kernel
// with a bare EINVAL; the package's hint names the node and the nodes the cgroup allows. A child
// process is moved into a child cgroup (v2) whose cpuset.mems is 0-1 and binds to node 3.
import { execFileSync } from 'node:child_process'
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { expect, it } from 'vitest'

import { describeNuma } from './helpers'

const dist = path.join(__dirname, '..', '..', 'dist', 'index.js')
const CGROUP_ROOT = '/sys/fs/cgroup'
const cgroup = path.join(CGROUP_ROOT, `mempolicy-hints-${process.pid}`)

interface Outcome {
  code?: string
  syscall?: string
  hint?: string
  message?: string
  ok?: unknown
}

describeNuma('hints on four nodes', { topology: 'four' }, () => {
  it("names the cgroup's allowed nodes when a policy names a node outside cpuset.mems", () => {
    if (!readFileSync(path.join(CGROUP_ROOT, 'cgroup.subtree_control'), 'latin1').includes('cpuset')) {
      appendFileSync(path.join(CGROUP_ROOT, 'cgroup.subtree_control'), '+cpuset')
    }
    mkdirSync(cgroup)
    try {
      writeFileSync(path.join(cgroup, 'cpuset.mems'), '0-1')
      const source = `
        const mp = require(${JSON.stringify(dist)})
        const out = {}
        const record = async (name, fn) => {
          try { out[name] = { ok: await fn() } } catch (e) { out[name] = { code: e.code, syscall: e.syscall, hint: e.hint, message: e.message } }
        }
        ;(async () => {
          await record('memsAllowed', () => mp.memsAllowed())
          await record('setMempolicy', () => mp.setMempolicy({ mode: 'bind', nodes: [3] }))
          await record('mbind', () => mp.mbind(mp.alloc(4 * mp.pageSize), { mode: 'interleave', nodes: '2-3' }))
          await record('preferred', () => mp.setMempolicy({ mode: 'preferred', nodes: 3 }))
          await record('inside', () => { mp.setMempolicy({ mode: 'bind', nodes: [1, 3] }); return mp.getMempolicy() })
        })().then(() => process.stdout.write(JSON.stringify(out)))
      `
      // The shell moves itself into the cgroup, then becomes node: the child starts inside it.
      const out = JSON.parse(
        execFileSync('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs && exec "$0" -e "$1"`, process.execPath, source], { encoding: 'utf8' }),
      ) as Record<string, Outcome>
      expect(out.memsAllowed).toEqual({ ok: [0, 1] })
      for (const [call, syscall, nodes] of [
        ['setMempolicy', 'set_mempolicy', '3'],
        ['mbind', 'mbind', '2-3'],
        ['preferred', 'set_mempolicy', '3'],
      ] as const) {
        expect(out[call], call).toMatchObject({ code: 'EINVAL', syscall })
        expect(out[call]!.hint, call).toBe(
          `node ${nodes} ${nodes.includes('-') ? 'are' : 'is'} outside this thread's allowed nodes (cpuset.mems): 0-1; nodes with memory you may use: 0-1`,
        )
        expect(out[call]!.message, call).toContain('cpuset.mems): 0-1')
      }
      // Where some node is allowed the kernel takes the policy (and keeps the node outside for later).
      expect(out.inside!.ok).toMatchObject({ mode: 'bind' })
    } finally {
      if (existsSync(cgroup)) rmdirSync(cgroup)
    }
  })
})
