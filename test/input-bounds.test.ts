// Inputs that used to be taken without a word or read without end, each refused before anything
// reaches the kernel, and a size that used to cost a full collection. The unbounded ones run in a
// child process: on a build without the bound it would read for minutes, and is stopped.
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { getMempolicy, interleaveWeights, memsAllowed, setInterleaveWeights } from '../src/index'
import { expectRejected } from './kernel-view'

const dist = path.join(__dirname, '..', 'dist', 'index.js')
const node = memsAllowed()[0]!

function child(script: string, args: string[] = []): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  // The bound only stops a build that reads without end; a correct one answers at once.
  return spawnSync(process.execPath, [...args, '-e', script], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' })
}

describe('setInterleaveWeights', () => {
  it('refuses a Map (its entries are not properties: it would write nothing and say nothing)', (ctx) => {
    let before: Record<number, number>
    try {
      before = interleaveWeights()
    } catch {
      return ctx.skip('this kernel has no interleave weights (before Linux 6.9)')
    }
    for (const weights of [new Map([[node, 3]]), new Set([node]), new WeakMap()]) {
      const err = expectRejected(() => setInterleaveWeights(weights as never), TypeError, 'ERR_INVALID_ARG_TYPE')
      expect(err.message).toMatch(/"weights" argument must be a plain object/)
    }
    expect(interleaveWeights()).toEqual(before)
  })
})

describe('lists that claim 2 ** 32 - 1 elements', () => {
  it('are refused before their first element is read, and no policy changes', () => {
    const script = `
      const mp = require(${JSON.stringify(dist)})
      const reads = { nodes: 0, flags: 0 }
      const claim = (key, element) => new Proxy([], { get: (t, p) => {
        if (p === 'length') return 2 ** 32 - 1
        if (typeof p === 'string' && /^[0-9]+$/.test(p)) reads[key]++
        return p === 'constructor' ? Array : element
      } })
      const before = JSON.stringify(mp.getMempolicy())
      const errors = []
      for (const policy of [
        { mode: 'bind', nodes: claim('nodes', ${node}) },
        { mode: 'bind', nodes: [${node}], flags: claim('flags', 'static-nodes') },
      ]) {
        try { mp.setMempolicy(policy); errors.push('accepted') } catch (err) { errors.push(err.name + ' ' + err.code + ' ' + err.message) }
        try { mp.setMempolicy(policy, { scope: 'process' }); errors.push('accepted') } catch (err) { errors.push(err.code) }
      }
      console.log(JSON.stringify({ errors, reads, same: JSON.stringify(mp.getMempolicy()) === before }))
    `
    const out = child(script)
    expect({ status: out.status, signal: out.signal, stderr: out.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
    const r = JSON.parse(out.stdout) as { errors: string[]; reads: Record<string, number>; same: boolean }
    expect(r.errors[0]).toMatch(
      /^RangeError ERR_OUT_OF_RANGE The value of "policy\.nodes\.length" is out of range\. It must be at most 65536/,
    )
    expect(r.errors[1]).toBe('ERR_OUT_OF_RANGE')
    expect(r.errors[2]).toMatch(/^RangeError ERR_OUT_OF_RANGE The value of "policy\.flags\.length" is out of range/)
    expect(r.errors[3]).toBe('ERR_OUT_OF_RANGE')
    expect(r.reads).toEqual({ nodes: 0, flags: 0 })
    expect(r.same).toBe(true)
    expect(getMempolicy()).toEqual({ mode: 'default', nodes: [], flags: [] })
  })

  it('as CPUs, are refused before their first element is read, and no affinity changes', () => {
    // The Proxy gives up after 100 reads, so a list read element by element fails with its error.
    const script = `
      const mp = require(${JSON.stringify(dist)})
      let reads = 0
      const cpus = new Proxy([], { get: (t, p) => {
        if (p === 'length') return 2 ** 32 - 1
        if (typeof p === 'string' && /^[0-9]+$/.test(p) && ++reads > 100) throw new Error('read 100 elements')
        return p === 'constructor' ? Array : 0
      } })
      const before = JSON.stringify(mp.getCpuAffinity())
      const errors = []
      for (const options of [undefined, { scope: 'process' }]) {
        try { mp.setCpuAffinity(cpus, options); errors.push('accepted') } catch (err) { errors.push(err.name + ' ' + err.code + ' ' + err.message) }
      }
      console.log(JSON.stringify({ errors, reads, same: JSON.stringify(mp.getCpuAffinity()) === before }))
    `
    const out = child(script)
    expect({ status: out.status, signal: out.signal, stderr: out.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
    const r = JSON.parse(out.stdout) as { errors: string[]; reads: number; same: boolean }
    for (const error of r.errors) {
      expect(error).toMatch(/^RangeError ERR_OUT_OF_RANGE The value of "cpus\.length" is out of range\. It must be at most 65536/)
    }
    expect(r.errors).toHaveLength(2)
    expect(r.reads).toBe(0)
    expect(r.same).toBe(true)
  })
})

describe('alloc() of 4 GiB, never touched', () => {
  it('costs no more collections than any ArrayBuffer of 4 GiB (V8 counts its length once)', () => {
    // --trace-gc prints each collection as it happens; the markers bracket the call. V8 itself counts
    // the length of every ArrayBuffer and collects at once for 4 GiB; the package adds nothing to it.
    const collections = (make: string): string[] => {
      const out = child(
        `
        const mp = require(${JSON.stringify(dist)})
        const junk = []
        for (let i = 0; i < 200000; i++) junk.push({ i })
        console.log('--- before')
        const memory = ${make}
        console.log('--- after ' + memory.byteLength)
      `,
        ['--trace-gc'],
      )
      expect({ status: out.status, signal: out.signal, stderr: out.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
      expect(out.stdout).toContain(`--- after ${2 ** 32}`)
      const during = out.stdout.slice(out.stdout.indexOf('--- before'), out.stdout.indexOf('--- after'))
      return during.split('\n').filter((l) => /Mark-Compact|Mark-sweep/.test(l))
    }
    const plain = collections('new ArrayBuffer(2 ** 32)')
    const mapped = collections('mp.alloc(2 ** 32)')
    console.log(`[input-bounds] full collections during a 4 GiB ArrayBuffer: ${plain.length}; during alloc(4 GiB): ${mapped.length}`)
    expect(mapped.length).toBeLessThanOrEqual(plain.length)
  })
})
