// spawn(): the child starts under options.mempolicy (and keeps it across exec); the parent's thread
// policy is the same afterwards. The child reports its own policy: its numa_maps (the kernel's view)
// and, for a Node child, getMempolicy() through the package.
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { formatNodes, getMempolicy, memsAllowed, parseNodes, setMempolicy, spawn, type Policy } from '../src/index'
import { MempolicyError } from '../src/errors'
import { thenRestore } from '../src/spawn'
import { kernelThreadPolicy, keepingPolicy, keepingPolicyAsync } from './kernel-view'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!
// The child's own thread policy: numa_maps prints it on the stack, which has no policy of its own.
const SHOW_OWN = 'grep -m1 " stack" /proc/self/numa_maps | cut -d" " -f2-3'

function output(child: ChildProcess): Promise<{ stdout: string; code: number | null }> {
  let stdout = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
  })
  return new Promise((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code) => resolve({ stdout, code }))
  })
}

/** A possible node that the kernel refuses to bind to: outside the cpuset, offline, or without memory. */
function refusedNode(): number | undefined {
  const read = (state: string): string => readFileSync(`/sys/devices/system/node/${state}`, 'latin1').trim()
  const highest = Number(read('possible').split(/[-,]/).pop())
  const usable = new Set(parseNodes('all'))
  return [...Array(highest + 1).keys()].find((n) => !usable.has(n))
}

/** The processes this one has started and not yet reaped. */
function children(): Set<number> {
  const pids = new Set<number>()
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      for (const pid of readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'latin1').trim().split(/\s+/))
        if (pid !== '') pids.add(Number(pid))
    } catch {
      /* thread gone */
    }
  }
  return pids
}

describe('spawn', () => {
  it('starts the child under the policy; the parent keeps its own, exactly', async () => {
    await keepingPolicyAsync(async () => {
      setMempolicy({ mode: 'preferred', nodes: [node], flags: ['static-nodes'] })
      const cases: [Policy, string][] = [
        [{ mode: 'interleave', nodes: [node] }, `interleave:${node}`],
        [{ mode: 'bind', nodes: 'all', flags: ['numa-balancing'] }, `bind=balancing:${formatNodes(parseNodes('all'))}`],
        [{ mode: 'weighted-interleave', nodes: node }, `weighted interleave:${node}`],
        [{ mode: 'local' }, 'local'],
        [{ mode: 'default' }, 'default'],
      ]
      for (const [policy, kernel] of cases) {
        const child = spawn('sh', ['-c', SHOW_OWN], { mempolicy: policy, stdio: ['ignore', 'pipe', 'inherit'] })
        expect(getMempolicy()).toEqual({ mode: 'preferred', nodes: [node], flags: ['static-nodes'] })
        expect(kernelThreadPolicy()).toBe(`prefer=static:${node}`)
        const { stdout, code } = await output(child)
        expect(code).toBe(0)
        expect(stdout.trim().split(' ')[0]).toBe(kernel.split(' ')[0])
        expect(stdout.trim().startsWith(kernel)).toBe(true)
      }
    })
  })

  it('the policy survives exec: a Node child reads it with getMempolicy()', async () => {
    const child = spawn(process.execPath, ['-e', `process.stdout.write(JSON.stringify(require(${JSON.stringify(dist)}).getMempolicy()))`], {
      mempolicy: { mode: 'bind', nodes: [node], flags: ['static-nodes'] },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const { stdout, code } = await output(child)
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual({ mode: 'bind', nodes: [node], flags: ['static-nodes'] })
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
  })

  it('takes the forms of child_process.spawn: (command, options) and shell: true', async () => {
    const a = await output(spawn('true', { mempolicy: { mode: 'local' } }))
    expect(a.code).toBe(0)
    const b = await output(
      spawn(SHOW_OWN, { shell: true, mempolicy: { mode: 'interleave', nodes: [node] }, stdio: ['ignore', 'pipe', 'inherit'] }),
    )
    expect(b.stdout.startsWith(`interleave:${node}`)).toBe(true)
    // Without a mempolicy it is child_process.spawn: the child inherits the calling thread's policy.
    await keepingPolicyAsync(async () => {
      setMempolicy({ mode: 'bind', nodes: [node] })
      const c = await output(spawn('sh', ['-c', SHOW_OWN], { stdio: ['ignore', 'pipe', 'inherit'] }))
      expect(c.stdout.startsWith(`bind:${node}`)).toBe(true)
    })
  })

  it('validates before spawning: an invalid policy throws and nothing is started', () => {
    keepingPolicy(() => {
      setMempolicy({ mode: 'interleave', nodes: [node], flags: ['static-nodes'] })
      const bad: [unknown, string, RegExp][] = [
        [{ mode: 'bind' }, 'ERR_INVALID_ARG_VALUE', /'options\.mempolicy\.nodes' must name at least one node/],
        [{ mode: 'membind', nodes: [node] }, 'ERR_INVALID_ARG_VALUE', /'options\.mempolicy\.mode' must be one of/],
        [{ mode: 'bind', nodes: [99999] }, 'ERR_OUT_OF_RANGE', /options\.mempolicy\.nodes\[0\]/],
        ['bind', 'ERR_INVALID_ARG_TYPE', /options\.mempolicy/],
        [{ mode: 'local', flags: ['numa-balancing'] }, 'ERR_INVALID_ARG_VALUE', /options\.mempolicy\.flags/],
      ]
      for (const [mempolicy, code, message] of bad) {
        const before = children()
        let thrown: unknown
        try {
          spawn('sleep', ['30'], { mempolicy: mempolicy as Policy })
        } catch (err) {
          thrown = err
        }
        expect(thrown).toMatchObject({ code })
        expect((thrown as Error).message).toMatch(message)
        // A fork happens synchronously inside spawn: had it run, the child would be listed here.
        expect(children()).toEqual(before)
        expect(getMempolicy()).toEqual({ mode: 'interleave', nodes: [node], flags: ['static-nodes'] })
        expect(kernelThreadPolicy()).toBe(`interleave=static:${node}`)
      }
      expect(() => spawn('sleep', ['30'], null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    })
  })

  it('restores the parent even when child_process.spawn itself throws', () => {
    expect(() => spawn(42 as never, [], { mempolicy: { mode: 'bind', nodes: [node] } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }),
    )
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
    expect(kernelThreadPolicy()).toBe('default')
  })

  it('a command that does not exist is reported as child_process reports it, and the parent is restored', async () => {
    const child = spawn('/nonexistent/command', [], { mempolicy: { mode: 'interleave', nodes: [node] } })
    await expect(output(child)).rejects.toMatchObject({ code: 'ENOENT' })
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
  })

  it('from a Worker, forks from that Worker’s thread and restores only its policy', async () => {
    const source = `
      const { parentPort } = require('node:worker_threads')
      const mp = require(${JSON.stringify(dist)})
      mp.setMempolicy({ mode: 'preferred', nodes: [${node}] })
      const child = mp.spawn('sh', ['-c', ${JSON.stringify(SHOW_OWN)}], { mempolicy: { mode: 'interleave', nodes: [${node}] }, stdio: ['ignore', 'pipe', 'inherit'] })
      let out = ''
      child.stdout.on('data', (d) => { out += d })
      child.on('close', () => parentPort.postMessage({ child: out.trim(), own: mp.getMempolicy() }))
    `
    const worker = new Worker(source, { eval: true })
    const seen = await new Promise<{ child: string; own: unknown }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    expect(seen.child.startsWith(`interleave:${node}`)).toBe(true)
    expect(seen.own).toEqual({ mode: 'preferred', nodes: [node], flags: [] })
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
  })

  it('a policy the kernel refuses (a node outside this cpuset) throws MempolicyError and starts nothing', (ctx) => {
    const outside = refusedNode()
    if (outside === undefined) return ctx.skip('every possible node has memory and is allowed here: the kernel has nothing to refuse')
    const before = children()
    expect(() => spawn('sleep', ['30'], { mempolicy: { mode: 'bind', nodes: [outside] } })).toThrow(
      expect.objectContaining({ name: 'MempolicyError', code: 'EINVAL' }),
    )
    expect(children()).toEqual(before)
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
  })
})

describe('spawn(): cpus and cpuNodes', () => {
  const own = (): string => /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/thread-self/status', 'latin1'))![1]!
  const SHOW_CPUS = 'grep Cpus_allowed_list /proc/self/status | cut -f2'

  it('the child starts on the CPUs given, under the policy; the calling thread is as before', async () => {
    const before = own()
    const policyBefore = kernelThreadPolicy()
    const cpu = Number(before.split(/[-,]/).pop())
    const child = spawn('sh', ['-c', `${SHOW_CPUS}; ${SHOW_OWN}`], {
      cpus: [cpu],
      mempolicy: { mode: 'bind', nodes: [node] },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    expect(own()).toBe(before)
    expect(kernelThreadPolicy()).toEqual(policyBefore)
    const { stdout, code } = await output(child)
    expect(code).toBe(0)
    expect(stdout.split('\n').slice(0, 2)).toEqual([String(cpu), `bind:${node} stack`])
  })

  it('cpuNodes: the CPUs of those nodes', async () => {
    const child = spawn('sh', ['-c', SHOW_CPUS], { cpuNodes: node, stdio: ['ignore', 'pipe', 'inherit'] })
    const { stdout } = await output(child)
    const nodeCpus = readFileSync(`/sys/devices/system/node/node${node}/cpulist`, 'latin1').trim()
    const allowed = new Set(
      own()
        .split(',')
        .flatMap((r) => {
          const [a, b] = r.split('-').map(Number)
          return [...Array((b ?? a!) - a! + 1).keys()].map((k) => a! + k)
        }),
    )
    const expected = nodeCpus
      .split(',')
      .flatMap((r) => {
        const [a, b] = r.split('-').map(Number)
        return [...Array((b ?? a!) - a! + 1).keys()].map((k) => a! + k)
      })
      .filter((c) => allowed.has(c))
    expect(stdout.trim()).toBe(formatNodes(expected))
  })

  it('reads each option of its own once: a getter that answers differently later changes nothing', async () => {
    const reads: Record<string, number> = { mempolicy: 0, cpus: 0, mode: 0 }
    const policy = {
      get mode() {
        reads.mode!++
        return reads.mode === 1 ? 'bind' : 'interleave'
      },
      nodes: [node],
    }
    const options = {
      stdio: ['ignore', 'pipe', 'inherit'] as ('ignore' | 'pipe' | 'inherit')[],
      get mempolicy() {
        reads.mempolicy!++
        return policy as unknown as Policy
      },
      get cpus() {
        reads.cpus!++
        return reads.cpus === 1 ? Number(own().split(/[-,]/)[0]) : 'all'
      },
    }
    const child = spawn('sh', ['-c', `${SHOW_CPUS}; ${SHOW_OWN}`], options)
    const { stdout } = await output(child)
    expect(reads).toEqual({ mempolicy: 1, cpus: 1, mode: 1 })
    expect(stdout.split('\n').slice(0, 2)).toEqual([own().split(/[-,]/)[0], `bind:${node} stack`])
  })

  it('refuses bad CPU options before anything is spawned', () => {
    const before = children()
    expect(() => spawn('true', [], { cpus: 99999 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => spawn('true', [], { cpus: [] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(() => spawn('true', [], { cpus: 0, cpuNodes: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(() => spawn('true', [], { cpuNodes: 'x' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(children()).toEqual(before)
  })
})

describe('putting the borrowed policy and affinity back', () => {
  // thenRestore is what spawn() runs its fork through: a restore that fails is reported, and never
  // hides the fork's own error nor claims a child that was not started.
  const failed = (rc: number, started: boolean): MempolicyError =>
    new MempolicyError(rc, 'set_mempolicy', started ? 'the child was started' : 'spawn itself failed too (see cause)')

  it('returns what fn returned when the restore works', () => {
    expect(
      thenRestore(
        () => 7,
        () => 0,
        failed,
      ),
    ).toBe(7)
  })

  it('throws the failed restore with the child when fn returned one', () => {
    const thrown = catching(() =>
      thenRestore(
        () => 'child',
        () => -22,
        failed,
      ),
    )
    expect(thrown).toMatchObject({ code: 'EINVAL', hint: 'the child was started', child: 'child' })
  })

  it("throws fn's own error when fn threw and the restore worked", () => {
    const own = new TypeError('bad options')
    expect(
      catching(() =>
        thenRestore(
          () => {
            throw own
          },
          () => 0,
          failed,
        ),
      ),
    ).toBe(own)
  })

  it("throws the failed restore with fn's error as its cause when both failed, never claiming a child", () => {
    const own = new TypeError('bad options')
    const thrown = catching(() =>
      thenRestore(
        () => {
          throw own
        },
        () => -22,
        failed,
      ),
    )
    expect(thrown).toMatchObject({ code: 'EINVAL', hint: 'spawn itself failed too (see cause)', cause: own })
    expect(thrown).not.toHaveProperty('child')
  })
})

function catching(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('did not throw')
}
