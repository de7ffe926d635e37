// Leaks: memory from alloc() goes back to the system once collected, and V8 is told about it; calls on
// the libuv pool hold their memory while they run and let go of it when they settle. The heavy loops
// run in a child process (--expose-gc) of the built package, so this process's heap stays out of the
// numbers. Nothing is timed: the bounds are on memory.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const dist = path.join(__dirname, '..', 'dist', 'index.js')

/** Runs `body` (the source of an async function taking the package) in a child; returns what it returns. */
function inChild<T>(body: string): T {
  const source = `
    const mp = require(${JSON.stringify(dist)})
    const MiB = 2 ** 20
    const rss = () => process.memoryUsage().rss
    const external = () => process.memoryUsage().external
    const turn = () => new Promise((resolve) => setImmediate(resolve))
    /** Collects, then lets the event loop run the finalizers of external buffers (Node runs them there). */
    async function settle() { for (let i = 0; i < 4; i++) { globalThis.gc(); await turn() } }
    ;(${body})(mp).then((r) => process.stdout.write(JSON.stringify(r)), (e) => { console.error(e); process.exit(1) })
  `
  // Without a preloaded sanitizer runtime (npm run test:asan): its allocator's quarantine would be the
  // RSS measured. Leaks under ASan are LeakSanitizer's job there (test/sanitize/exercise.cjs).
  const { LD_PRELOAD: _preload, MEMPOLICY_PREBUILD: _build, ...env } = process.env
  const out = execFileSync(process.execPath, ['--expose-gc', '-e', source], { encoding: 'utf8', maxBuffer: 1 << 20, env })
  return JSON.parse(out) as T
}

describe('alloc', () => {
  it('100,000 buffers, dropped as they go, keep RSS bounded and are reported to V8 as external memory', () => {
    const r = inChild<{ before: number; peak: number; after: number; held: number; released: number; baseline: number }>(`async (mp) => {
      const node = mp.memsAllowed()[0]
      await settle()
      const baseline = external()
      // V8 sees the memory while it is held...
      let held = []
      for (let i = 0; i < 64; i++) held.push(mp.alloc(MiB, { mode: 'bind', nodes: [node] }))
      const heldExternal = external() - baseline
      held = []
      await settle()
      const released = external() - baseline
      // ...and 100,000 buffers of 64 KiB (6.25 GiB in all, 3 pages of each written), dropped as they go,
      // in a loop that lets the event loop turn now and then, as a service does.
      const before = rss()
      let peak = before
      for (let i = 0; i < 100000; i++) {
        const memory = i % 2 === 0 ? mp.alloc(64 * 1024) : mp.alloc(64 * 1024, { mode: 'interleave', nodes: [node] })
        memory[0] = 1
        memory[32768] = 1
        memory[memory.length - 1] = 1
        if (i % 100 === 99) await turn()
        if (i % 5000 === 0) peak = Math.max(peak, rss())
      }
      await settle()
      return { before, peak, after: rss(), held: heldExternal, released, baseline }
    }`)
    console.log(
      `[leaks] alloc x100,000 (64 KiB): RSS ${(r.before / 2 ** 20).toFixed(0)} MiB before, ` +
        `${(r.peak / 2 ** 20).toFixed(0)} MiB peak, ${(r.after / 2 ** 20).toFixed(0)} MiB after; ` +
        `64 MiB held: external +${(r.held / 2 ** 20).toFixed(0)} MiB, after release +${(r.released / 2 ** 20).toFixed(0)} MiB`,
    )
    expect(r.held).toBeGreaterThanOrEqual(64 * 2 ** 20)
    expect(r.released).toBeLessThan(8 * 2 ** 20)
    // 1.2 GiB were written; what stays is a small fraction, whatever the collector's timing.
    expect(r.peak - r.before).toBeLessThan(256 * 2 ** 20)
    expect(r.after - r.before).toBeLessThan(128 * 2 ** 20)
  }, 120_000)
})

describe('calls on the libuv pool', () => {
  it('hold their memory while in flight, even with every reference dropped, and release it when they settle', () => {
    const r = inChild<{
      calls: number
      early: number
      finalized: number
      results: string[]
      externalLeft: number
      rssGrowth: number
    }>(`async (mp) => {
      const node = mp.memsAllowed()[0]
      const P = mp.pageSize
      await settle()
      const baseExternal = external()
      const baseRss = rss()
      const settled = new Set()
      let finalized = 0
      let early = 0
      // A buffer whose call had not settled when it was collected: the call did not hold it.
      const registry = new FinalizationRegistry((k) => { finalized++; if (!settled.has(k)) early++ })
      const results = new Set()
      const calls = []
      for (let round = 0; round < 10; round++) {
        for (let j = 0; j < 30; j++) {
          const k = round * 30 + j
          // Each buffer exists only inside this function: the only reference left is the call's.
          const start = () => {
            const kind = k % 3
            const memory = kind === 2 ? new Uint8Array(new SharedArrayBuffer(256 * P)) : mp.alloc(256 * P)
            memory.fill(1)
            registry.register(kind === 2 ? memory.buffer : memory.buffer, k)
            if (kind === 0) return mp.movePages(memory, node).then((r) => 'moved ' + (r.moved + r.failed === 256))
            if (kind === 1) return mp.mbindAsync(memory.subarray(P), { mode: 'bind', nodes: [node] }, { move: true }).then((s) => 'span ' + (s.byteLength === 255 * P))
            return mp.movePages(memory.subarray(5, 100 * P), node, { all: false }).then((r) => 'shared ' + (r.moved + r.failed >= 100))
          }
          calls.push(start().then((r) => { settled.add(k); results.add(r) }))
        }
        // Collect while the calls are in flight.
        globalThis.gc()
        await turn()
        globalThis.gc()
      }
      await Promise.all(calls)
      for (let i = 0; i < 50 && finalized < calls.length; i++) await settle()
      return { calls: calls.length, early, finalized, results: [...results].sort(), externalLeft: external() - baseExternal, rssGrowth: rss() - baseRss }
    }`)
    console.log(
      `[leaks] ${r.calls} calls on the pool with dropped buffers: ${r.finalized} collected after settling, ` +
        `${r.early} before; external +${(r.externalLeft / 2 ** 20).toFixed(1)} MiB, RSS +${(r.rssGrowth / 2 ** 20).toFixed(1)} MiB afterwards`,
    )
    expect(r.early).toBe(0)
    expect(r.finalized).toBe(r.calls)
    expect(r.results).toEqual(['moved true', 'shared true', 'span true'])
    expect(r.externalLeft).toBeLessThan(8 * 2 ** 20)
  }, 120_000)
})
