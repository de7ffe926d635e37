// How long a range policy lasts (docs/memory-lifetime.md, "A range policy and its memory"). The kernel
// keeps a range policy on the addresses, not on a buffer: it ends when the mapping ends. alloc() memory
// is its own mapping, unmapped when collected, so its policy ends with it and memory mapped there later
// starts with none. Memory from the C library's heap (a Buffer, a plain ArrayBuffer) is not unmapped
// when collected: the pages it covered keep the policy, and whatever the heap puts there later is
// placed by it. Resetting it when the buffer is collected is not sound (finalizers run after the
// memory is freed, when it may already be someone else's with a policy of its own), so the package
// leaves it, says so, and points to alloc(). Both halves are checked here in the kernel's own view.
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { alloc, mbind, memsAllowed, pageSize, policyOf } from '../src/index'
import { address } from './oracle/index'

const node = memsAllowed()[0]!
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** The policy numa_maps shows for the VMA that contains `at`, or undefined where nothing is mapped. */
function policyAt(at: bigint): string | undefined {
  const starts = readFileSync('/proc/self/maps', 'latin1')
    .trim()
    .split('\n')
    .map((l) => {
      const [start, end] = l.split(' ')[0]!.split('-')
      return [BigInt(`0x${start}`), BigInt(`0x${end}`)] as const
    })
  const vma = starts.find(([start, end]) => start <= at && at < end)
  if (vma === undefined) return undefined
  const line = readFileSync('/proc/self/numa_maps', 'latin1')
    .split('\n')
    .find((l) => l !== '' && BigInt(`0x${l.split(' ')[0]}`) === vma[0])
  return line?.split(' ')[1]
}

async function collect(done: () => boolean): Promise<boolean> {
  for (let i = 0; i < 50 && !done(); i++) {
    gc()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return done()
}

describe('a range policy and the memory it was set on', () => {
  it('alloc() memory: the policy ends with the buffer, and memory mapped there later has none', async () => {
    let memory: Uint8Array | undefined = alloc(16 * pageSize)
    memory.fill(1)
    mbind(memory.subarray(4 * pageSize, 8 * pageSize), { mode: 'interleave', nodes: [node], flags: ['relative-nodes'] })
    const at = address(memory) + BigInt(4 * pageSize)
    expect(policyAt(at)).toBe(`interleave=relative:${node}`)
    memory = undefined
    expect(await collect(() => policyAt(at) === undefined)).toBe(true)
    // New memory over the same addresses: no policy of its own.
    const fresh = alloc(16 * pageSize)
    fresh.fill(2)
    if (address(fresh) <= at && at < address(fresh) + BigInt(fresh.byteLength)) expect(policyAt(at)).toBe('default')
    expect(policyOf(fresh)).toEqual({ mode: 'default', nodes: [], flags: [] })
    expect(policyOf(fresh.subarray(4 * pageSize))).toEqual({ mode: 'default', nodes: [], flags: [] })
  })

  it('heap memory (a 24 KiB Buffer): the pages keep the policy after the buffer is collected, as documented', async () => {
    let buffer: Buffer | undefined = Buffer.alloc(24 * 1024)
    const span = mbind(buffer, { mode: 'bind', nodes: [node], flags: ['relative-nodes'] })
    expect(span.byteLength).toBeGreaterThanOrEqual(4 * pageSize)
    const at = address(buffer) + BigInt(span.byteOffset)
    expect(policyAt(at)).toBe(`bind=relative:${node}`)
    const registry = new FinalizationRegistry<void>(() => {
      collected = true
    })
    let collected = false
    registry.register(buffer.buffer, undefined)
    buffer = undefined
    expect(await collect(() => collected)).toBe(true)
    // Freed into the heap, still mapped, still under the policy: the reason to use alloc() for memory
    // that gets a policy of its own.
    expect(policyAt(at)).toBe(`bind=relative:${node}`)
  })
})
