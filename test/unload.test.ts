// The addon is never unmapped once loaded (linked with -z nodelete, docs/threads.md): a process whose
// main thread never loads the package, only short-lived Workers that each make a process-scope call
// and exit, unloads the addon with every Worker; another thread may still be returning from the
// signal handler of that call, and must not find its code gone. Each run is its own process, since
// the failure is a SIGSEGV of the whole process.
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { isSupported } from '../src/index'

const dist = path.join(__dirname, '..', 'dist', 'index.js')

const script = `
  const { Worker } = require('node:worker_threads')
  const total = Number(process.argv[1])
  const body = 'const mp = require(' + JSON.stringify(${JSON.stringify(dist)}) + ')\\n' +
    "mp.setMempolicy({ mode: 'default' }, { scope: 'process' })"
  let started = 0
  let ended = 0
  // Two at a time, so that one Worker's call signals the other while it comes and goes.
  const next = () => {
    if (started === total) return
    started++
    const worker = new Worker(body, { eval: true })
    worker.on('error', (err) => { console.error(err); process.exitCode = 1 })
    worker.on('exit', () => { if (++ended === total) console.log('ended ' + ended); else next() })
  }
  next()
  next()
`

describe('the addon loaded only by Workers', () => {
  it('survives 30 Workers that each make a process-scope call and exit, in each of 3 processes', () => {
    // The child's main thread never loads the package (that would keep the addon loaded); only
    // the Workers' source names it.
    for (let run = 0; run < 3; run++) {
      const out = spawnSync(process.execPath, ['-e', script, '30'], { encoding: 'utf8' })
      expect({ run, signal: out.signal, status: out.status, stderr: out.stderr }).toEqual({ run, signal: null, status: 0, stderr: '' })
      expect(out.stdout.trim()).toBe('ended 30')
    }
  }, 120_000)

  it('is linked so that it is never unmapped (DF_1_NODELETE)', () => {
    // The flag itself, read from the ELF dynamic section of the addon this process loaded.
    expect(isSupported()).toBe(true)
    const loaded = readFileSync('/proc/self/maps', 'latin1')
      .split('\n')
      .map((l) => l.split(/\s+/)[5])
      .find((f) => f !== undefined && f.endsWith('mempolicy.node'))
    expect(loaded, 'the addon in /proc/self/maps').toBeDefined()
    expect(dynamicFlags1(readFileSync(loaded!)) & 0x8).toBe(0x8)
  })
})

/** DT_FLAGS_1 of a 64-bit little-endian ELF shared object (0 if absent). */
function dynamicFlags1(elf: Buffer): number {
  expect(elf.readUInt32BE(0)).toBe(0x7f454c46)
  expect(elf[4]).toBe(2) // ELFCLASS64
  const phoff = Number(elf.readBigUInt64LE(0x20))
  const phentsize = elf.readUInt16LE(0x36)
  const phnum = elf.readUInt16LE(0x38)
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize
    if (elf.readUInt32LE(ph) !== 2) continue // PT_DYNAMIC
    const offset = Number(elf.readBigUInt64LE(ph + 8))
    const size = Number(elf.readBigUInt64LE(ph + 32))
    for (let d = offset; d < offset + size; d += 16) {
      const tag = elf.readBigInt64LE(d)
      if (tag === 0n) break
      if (tag === 0x6ffffffbn) return Number(elf.readBigUInt64LE(d + 8)) // DT_FLAGS_1
    }
  }
  return 0
}
