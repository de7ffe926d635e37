// CPU placement on this host: what the kernel holds is read back independently, from
// /proc/<pid>/task/<tid>/status (Cpus_allowed_list) and sysfs, never from what the package wrote.
import { spawnSync } from 'node:child_process'
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import path from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { currentCpu, getCpuAffinity, runOnNodes, setCpuAffinity } from '../src/index'
import { loaded } from '../src/binding'
import { parseNodeList } from './oracle/index'

const dist = path.join(__dirname, '..', 'dist', 'index.js')

/** The calling thread's Cpus_allowed_list, as the kernel reports it. */
function kernelCpus(tid = Number(readlinkSync('/proc/thread-self').split('/').pop())): number[] {
  const text = readFileSync(`/proc/self/task/${tid}/status`, 'latin1')
  return parseNodeList(/^Cpus_allowed_list:\s*(.*)$/m.exec(text)![1]!)
}

const start = kernelCpus()
afterEach(() => setCpuAffinity(start))

const nodeOfCpu = (cpu: number): number => {
  for (const entry of readdirSync('/sys/devices/system/node')) {
    const m = /^node(\d+)$/.exec(entry)
    if (m !== null && parseNodeList(readFileSync(`/sys/devices/system/node/${entry}/cpulist`, 'latin1')).includes(cpu)) return Number(m[1])
  }
  return -1
}

describe('getCpuAffinity / setCpuAffinity (thread)', () => {
  it("getCpuAffinity is the kernel's Cpus_allowed_list of the calling thread", () => {
    expect(getCpuAffinity()).toEqual(kernelCpus())
  })

  it('moves the calling thread only, in every form of CPU list', () => {
    const cpu = start[start.length - 1]!
    for (const form of [cpu, [cpu], `${cpu}`, `${cpu}-${cpu}`]) {
      setCpuAffinity(start)
      setCpuAffinity(form)
      expect(kernelCpus(), String(form)).toEqual([cpu])
      // The main thread of this process (another thread in vitest's fork) is not this one unless it is.
      expect(getCpuAffinity()).toEqual([cpu])
    }
    setCpuAffinity('all')
    expect(kernelCpus()).toEqual(start)
  })

  it('refuses bad lists before any syscall, and nothing changes', () => {
    const cpu = start[0]!
    setCpuAffinity(cpu)
    const highest = Number(readFileSync('/sys/devices/system/cpu/possible', 'latin1').trim().split(/[-,]/).pop())
    const cases: [unknown, string][] = [
      [highest + 1, 'ERR_OUT_OF_RANGE'],
      [-1, 'ERR_OUT_OF_RANGE'],
      [1.5, 'ERR_OUT_OF_RANGE'],
      ['x', 'ERR_INVALID_ARG_VALUE'],
      [[], 'ERR_INVALID_ARG_VALUE'],
      ['', 'ERR_INVALID_ARG_VALUE'],
      [null, 'ERR_INVALID_ARG_TYPE'],
      [{}, 'ERR_INVALID_ARG_TYPE'],
      [[0, 'a'], 'ERR_INVALID_ARG_TYPE'],
      [`0-${highest + 1}`, 'ERR_OUT_OF_RANGE'],
    ]
    for (const [value, code] of cases) {
      expect(() => setCpuAffinity(value as number), String(value)).toThrow(expect.objectContaining({ code }))
      expect(kernelCpus()).toEqual([cpu])
    }
    expect(() => setCpuAffinity(cpu, { scope: 'all' as 'thread' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(() => setCpuAffinity(cpu, null as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    // A misspelt option is an error, not silently the calling thread only.
    expect(() => setCpuAffinity(cpu, { process: true } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringMatching(/Did you mean 'scope'\?/) }),
    )
    expect(() => runOnNodes(0, { scop: 'process' } as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(kernelCpus()).toEqual([cpu])
  })

  it("the addon refuses a mask narrower than the kernel's with EINVAL, which getCpuAffinity widens past", () => {
    const native = loaded()!
    // One 64-bit word is as wide as the kernel's mask only when nr_cpu_ids <= 64; either way the call is consistent.
    const rc = native.getAffinity(0, new Uint32Array(2))
    const highest = Number(readFileSync('/sys/devices/system/cpu/possible', 'latin1').trim().split(/[-,]/).pop())
    if (highest < 64) expect(rc).toBe(8)
    else expect(rc).toBe(-22)
    expect(getCpuAffinity()).toEqual(kernelCpus())
  })
})

describe('currentCpu', () => {
  it("is a CPU this thread may run on, and that CPU's node", () => {
    const { cpu, node } = currentCpu()
    expect(start).toContain(cpu)
    expect(node).toBe(nodeOfCpu(cpu))
    setCpuAffinity(start[start.length - 1]!)
    expect(currentCpu().cpu).toBe(start[start.length - 1])
  })
})

describe('runOnNodes', () => {
  it('runs on the CPUs of the nodes, within the cpuset', () => {
    const node = nodeOfCpu(start[0]!)
    runOnNodes(node)
    const nodeCpus = parseNodeList(readFileSync(`/sys/devices/system/node/node${node}/cpulist`, 'latin1'))
    expect(kernelCpus()).toEqual(nodeCpus.filter((c) => start.includes(c)))
    runOnNodes('all')
    expect(kernelCpus()).toEqual(start)
  })

  it('refuses nodes that do not exist or are empty lists, and nothing changes', () => {
    setCpuAffinity(start[0]!)
    const highest = Number(readFileSync('/sys/devices/system/node/possible', 'latin1').trim().split(/[-,]/).pop())
    expect(() => runOnNodes(highest + 1)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }))
    expect(() => runOnNodes([])).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(() => runOnNodes('x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }))
    expect(kernelCpus()).toEqual([start[0]])
  })
})

describe("setCpuAffinity(cpus, { scope: 'process' })", () => {
  it('reaches every thread, Workers and threads that block signals included', () => {
    // In a child process of its own: Workers, libuv's pool and Node's signal-watchdog thread (which
    // blocks every signal) are all listed in /proc/self/task, each read back from its own status.
    const script = `
      const fs = require('node:fs')
      const { Worker } = require('node:worker_threads')
      const mp = require(${JSON.stringify(dist)})
      const workers = Array.from({ length: 3 }, () => new Worker('setInterval(() => {}, 1000)', { eval: true }))
      Promise.all(workers.map((w) => new Promise((r) => w.once('online', r)))).then(() => {
        require('node:crypto').pbkdf2Sync('x', 'y', 1, 8, 'sha1')
        const cpu = mp.getCpuAffinity().at(-1)
        const result = mp.setCpuAffinity(cpu, { scope: 'process' })
        const tasks = fs.readdirSync('/proc/self/task').map(Number).sort((a, b) => a - b)
        const status = tasks.map((t) => fs.readFileSync('/proc/self/task/' + t + '/status', 'latin1'))
        const cpus = status.map((s) => /^Cpus_allowed_list:\\s*(.*)$/m.exec(s)[1])
        const blocking = status.filter((s) => !/^SigBlk:\\s*0+$/m.test(s)).length
        console.log(JSON.stringify({ cpu, result, tasks, cpus, blocking }))
        process.exit(0)
      })
    `
    const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 })
    expect(run.status, run.stderr).toBe(0)
    const out = JSON.parse(run.stdout) as {
      cpu: number
      result: { threads: number[]; cpus: number[] }
      tasks: number[]
      cpus: string[]
      blocking: number
    }
    expect(out.tasks.length).toBeGreaterThanOrEqual(4)
    expect(out.cpus).toEqual(out.tasks.map(() => String(out.cpu)))
    expect(out.result.threads).toEqual(out.tasks)
    expect(out.result.cpus).toEqual([out.cpu])
    expect(out.blocking, 'a thread that blocks signals was there to be reached').toBeGreaterThanOrEqual(1)
  })
})

describe('from a Worker', () => {
  it("each Worker places itself: runOnNodes and setCpuAffinity act on the Worker's own thread", async () => {
    const { Worker } = await import('node:worker_threads')
    const cpu = start[start.length - 1]!
    const worker = new Worker(
      `
      const { parentPort } = require('node:worker_threads')
      const fs = require('node:fs')
      const mp = require(${JSON.stringify(dist)})
      const own = () => /^Cpus_allowed_list:\\s*(.*)$/m.exec(fs.readFileSync('/proc/thread-self/status', 'latin1'))[1]
      mp.setCpuAffinity(${cpu})
      const after = own()
      mp.runOnNodes('all')
      parentPort.postMessage({ after, all: own(), mine: mp.getCpuAffinity() })
    `,
      { eval: true },
    )
    const message = await new Promise<{ after: string; all: string; mine: number[] }>((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    expect(message.after).toBe(String(cpu))
    expect(parseNodeList(message.all)).toEqual(message.mine)
    // This thread was not moved.
    expect(kernelCpus()).toEqual(start)
  })
})
