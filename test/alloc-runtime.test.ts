// alloc() where Node versions differ, with one behaviour on every supported Node: transferring its
// memory to another thread is a DataCloneError (Node 20 would silently copy it, losing the policy),
// posting it without a transfer list copies it, and its largest size is the longest Uint8Array the
// running Node allows, said in the error. Run on Node 22 and 24 too: scripts/node-versions.mjs.
import { constants as bufferConstants } from 'node:buffer'
import { MessageChannel, Worker } from 'node:worker_threads'
import { describe, expect, it } from 'vitest'
import { alloc, mbind, memsAllowed, pageNodes, pageSize, policyOf } from '../src/index'
import { expectRejected } from './kernel-view'

const node = memsAllowed()[0]!
const P = pageSize

/** What a synchronous call threw. */
function thrown(call: () => unknown): unknown {
  try {
    call()
  } catch (err) {
    return err
  }
  return undefined
}

function expectDataCloneError(call: () => unknown, memory: Uint8Array, policy: unknown): void {
  const err = thrown(call)
  expect(err).toBeInstanceOf(DOMException)
  expect((err as DOMException).name).toBe('DataCloneError')
  // Nothing moved: the memory is still here, with its bytes and its policy.
  expect(memory.byteLength).toBe(4 * P)
  expect(memory[0]).toBe(7)
  expect(policyOf(memory)).toEqual(policy)
}

describe(`alloc() and other threads (Node ${process.version})`, () => {
  const policy = { mode: 'bind', nodes: [node], flags: ['static-nodes'] } as const

  it('refuses to transfer its memory through a MessagePort, the same on every Node', () => {
    const memory = alloc(4 * P, policy)
    memory[0] = 7
    const { port1, port2 } = new MessageChannel()
    try {
      expectDataCloneError(() => port1.postMessage(memory.buffer as ArrayBuffer, [memory.buffer as ArrayBuffer]), memory, {
        ...policy,
        flags: ['static-nodes'],
      })
      expectDataCloneError(() => port1.postMessage({ memory }, { transfer: [memory.buffer as ArrayBuffer] } as never), memory, {
        ...policy,
        flags: ['static-nodes'],
      })
    } finally {
      port1.close()
      port2.close()
    }
  })

  it("refuses it in structuredClone, worker.postMessage and a new Worker's transferList", async () => {
    const memory = alloc(4 * P, policy)
    memory[0] = 7
    const expected = { ...policy, flags: ['static-nodes'] }
    expectDataCloneError(() => structuredClone(memory.buffer, { transfer: [memory.buffer as ArrayBuffer] }), memory, expected)
    const worker = new Worker('require("node:worker_threads").parentPort.on("message", () => {})', { eval: true })
    try {
      expectDataCloneError(() => worker.postMessage(memory.buffer as ArrayBuffer, [memory.buffer as ArrayBuffer]), memory, expected)
    } finally {
      await worker.terminate()
    }
    expectDataCloneError(
      () => new Worker('0', { eval: true, workerData: memory.buffer, transferList: [memory.buffer as ArrayBuffer] }),
      memory,
      expected,
    )
  })

  it('says what to do instead', () => {
    const memory = alloc(P)
    const err = thrown(() => structuredClone(memory.buffer, { transfer: [memory.buffer as ArrayBuffer] })) as Error
    // Node 22+ refuses by itself with its own words; Node 20 with the package's.
    if (!/unsupported type/.test(err.message)) expect(err.message).toMatch(/Call alloc\(\) in the Worker, or mbind\(\) a SharedArrayBuffer/)
  })

  it('copies its memory when posted without a transfer list, as any buffer: the copy is ordinary memory', () => {
    const memory = alloc(4 * P, policy)
    memory.fill(9)
    const copy = structuredClone(memory)
    expect(copy).not.toBe(memory)
    expect(copy.byteLength).toBe(memory.byteLength)
    expect(copy[4 * P - 1]).toBe(9)
    expect(memory[0]).toBe(9)
  })

  it('leaves every other buffer transferable', () => {
    const plain = new ArrayBuffer(64)
    const moved = structuredClone(plain, { transfer: [plain] })
    expect(plain.byteLength).toBe(0)
    expect(moved.byteLength).toBe(64)
    const { port1, port2 } = new MessageChannel()
    const other = new ArrayBuffer(16)
    port1.postMessage(other, [other])
    expect(other.byteLength).toBe(0)
    port1.close()
    port2.close()
  })

  it('shares memory with a Worker through a SharedArrayBuffer bound with mbind, as the message says', async () => {
    const shared = new SharedArrayBuffer(16 * P)
    const span = mbind(shared, { mode: 'bind', nodes: [node] })
    expect(span.byteLength).toBeGreaterThan(0)
    const worker = new Worker(
      `
      const { parentPort, workerData } = require('node:worker_threads')
      new Uint8Array(workerData).fill(3)
      parentPort.postMessage('done')
    `,
      { eval: true, workerData: shared },
    )
    await new Promise((resolve, reject) => {
      worker.once('message', resolve)
      worker.once('error', reject)
    })
    await worker.terminate()
    const bytes = new Uint8Array(shared, span.byteOffset, span.byteLength)
    expect(bytes[0]).toBe(3)
    // The pages the Worker touched are where the policy put them.
    expect(new Set(pageNodes(bytes))).toEqual(new Set([node]))
  })
})

describe(`alloc() sizes (Node ${process.version}: Uint8Arrays up to ${bufferConstants.MAX_LENGTH} bytes)`, () => {
  it('refuses one byte more than this Node allows, saying the limit', () => {
    const limit = bufferConstants.MAX_LENGTH
    if (Number.isSafeInteger(limit + 1)) {
      const err = expectRejected(() => alloc(limit + 1), RangeError, 'ERR_OUT_OF_RANGE')
      expect(err.message).toContain(`an integer from 1 to ${limit} (the longest Uint8Array this Node.js ${process.version} allows)`)
      expect(err.message).toMatch(/Node\.js 22 and later allow longer ones/)
    } else {
      const err = expectRejected(() => alloc(limit + 2), RangeError, 'ERR_OUT_OF_RANGE')
      expect(err.message).toContain(`an integer from 1 to ${limit}`)
    }
  })

  it('maps more than 4 GiB where this Node allows it (nothing is touched, so nothing is used)', () => {
    const size = 2 ** 32 + P
    if (size > bufferConstants.MAX_LENGTH) {
      expectRejected(() => alloc(size), RangeError, 'ERR_OUT_OF_RANGE')
      return
    }
    const memory = alloc(size, { mode: 'bind', nodes: [node] })
    expect(memory.byteLength).toBe(size)
    expect(policyOf(memory.subarray(size - P))).toEqual({ mode: 'bind', nodes: [node], flags: [] })
  })
})
