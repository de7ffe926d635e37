// Exercises every native export of the addon, many times, on the paths that succeed and on those that
// fail (kernel errors, shapes the shim refuses, memory that is detached, resized or dropped mid-call),
// through the package and directly. Run under valgrind (test/sanitize/valgrind.mjs) and under
// AddressSanitizer's leak checker (test/sanitize/asan.mjs). Plain CommonJS on the built package, so
// nothing but node itself runs under the tool. Exits 0 when every round finished.
'use strict'
const path = require('node:path')
const { Worker } = require('node:worker_threads')

const root = path.join(__dirname, '..', '..')
const mp = require(path.join(root, 'dist', 'index.js'))
const binding = require(path.join(root, 'dist', 'binding.js'))
// Every native export must be called here (checked at the end against the addon's own list, so an
// export added later cannot go unexercised): calls go through a recorder.
const called = new Set()
const native = new Proxy(binding.binding(), {
  get(target, key) {
    const value = Reflect.get(target, key)
    if (typeof value !== 'function') return value
    return (...args) => {
      called.add(key)
      return Reflect.apply(value, target, args)
    }
  },
})

const ROUNDS = Number(process.env.MEMPOLICY_EXERCISE_ROUNDS || 200)
const P = mp.pageSize
const node = mp.memsAllowed()[0]
const maskWords = require(path.join(root, 'dist', 'ids.js')).maskWords(mp.topology().possible.at(-1))
const mask = new Uint32Array(maskWords * 2)
mask[node >>> 5] |= 1 << (node & 31)
const maxnode = maskWords * 64 + 1
const { MPOL_BIND, MPOL_INTERLEAVE, MPOL_PREFERRED, MPOL_DEFAULT, MPOL_MF_MOVE, MPOL_MF_STRICT } = native.constants

function swallow(fn) {
  try {
    const r = fn()
    if (r && typeof r.then === 'function') return r.catch(() => {})
    return r
  } catch {
    return undefined
  }
}

function detached(bytes) {
  const buffer = new ArrayBuffer(bytes)
  structuredClone(buffer, { transfer: [buffer] })
  return buffer
}

function detachedView() {
  const buffer = new ArrayBuffer(4 * P)
  const view = new Uint8Array(buffer, 7)
  structuredClone(buffer, { transfer: [buffer] })
  return view
}

function shrunkView() {
  const buffer = new ArrayBuffer(8 * P, { maxByteLength: 16 * P })
  const view = new DataView(buffer, 4 * P, 4 * P)
  buffer.resize(P)
  return view
}

/** Memory of every kind the shim reads a span from, including empty, detached and out-of-bounds. */
function memories() {
  const mapped = mp.alloc(8 * P)
  mapped.fill(1)
  return [
    mapped,
    mapped.subarray(123, 5 * P + 7),
    new DataView(mapped.buffer, P, 3 * P),
    mapped.buffer,
    new Uint16Array(new ArrayBuffer(6 * P), 2, P),
    new Float64Array(new SharedArrayBuffer(4 * P)),
    new Uint8Array(0),
    new ArrayBuffer(0),
    detached(4 * P),
    detachedView(),
    shrunkView(),
    Buffer.from('tiny'),
    new BigInt64Array((5 * P) / 8),
  ]
}

async function round(i) {
  // Thread policy: good and bad modes, masks and maxnodes, straight to the shim too.
  mp.setMempolicy({ mode: 'bind', nodes: [node] })
  mp.getMempolicy()
  mp.memsAllowed()
  swallow(() => mp.setMempolicy({ mode: 'weighted-interleave', nodes: [node], flags: ['static-nodes'] }))
  native.setMempolicy(7, mask, maxnode)
  native.setMempolicy(MPOL_BIND, mask, 1)
  native.setMempolicy(MPOL_BIND, null, 0)
  swallow(() => native.setMempolicy(MPOL_BIND, mask, maxnode + 64))
  swallow(() => native.setMempolicy(MPOL_BIND, new Uint32Array(3), 2))
  swallow(() => native.setMempolicy('x', {}, -1))
  native.getMempolicy(mask, maskWords * 64, undefined, 0, 0)
  native.threadPolicy(mask)
  native.threadPolicy(mask.buffer)
  swallow(() => native.threadPolicy(new Uint32Array(3)))
  native.getMempolicy(null, 0, undefined, 0, 0)
  native.getMempolicy(mask, maskWords * 64, undefined, 0, 0xf0)
  swallow(() => native.getMempolicy(mask, maskWords * 64, undefined, 0, 0xff))
  swallow(() => native.getMempolicy(mask, maskWords * 64 + 1, undefined, 0, 0))
  mp.setMempolicy({ mode: 'default' })

  // Range policy over every kind of memory.
  for (const memory of memories()) {
    swallow(() => mp.mbind(memory, { mode: 'interleave', nodes: [node] }, { move: true }))
    swallow(() => mp.mbind(memory, { mode: 'preferred', nodes: [node] }, { strict: true, move: true }))
    swallow(() => mp.policyOf(memory))
    swallow(() => mp.nodeOf(memory, 0))
    swallow(() => mp.setHomeNode(memory, node))
    swallow(() => mp.pageNodes(memory))
    native.mbind(memory, MPOL_BIND, mask, maxnode, MPOL_MF_MOVE | MPOL_MF_STRICT)
    native.mbind(memory, 99, mask, maxnode, 0)
    native.getMempolicy(mask, maskWords * 64, memory, -1, 2)
    native.getMempolicy(null, 0, memory, 5 * P, 3)
    native.setHomeNode(memory, node)
    native.pageNodes(memory)
    native.nodeOf(memory, 0)
    native.nodeOf(memory, 5 * P + 3)
    swallow(() => native.getMempolicy(new Uint32Array(3), 96, memory, -1, 2))
    swallow(() => mp.mbind(memory, { mode: 'default' }))
    await swallow(() => mp.mbindAsync(memory, { mode: 'bind', nodes: [node] }, { move: true }))
    await swallow(() => mp.movePages(memory, node))
    await swallow(() => native.movePages(memory, 0x7fffffff, MPOL_MF_MOVE))
    await swallow(() => native.mbindAsync(memory, 77, null, 0, 0))
  }

  // alloc: every option, kernel refusals, sizes Node cannot hold, buffers dropped at once.
  mp.alloc(P)
  mp.alloc(3 * P + 1, { mode: 'interleave', nodes: [node] }, { hugePages: true })
  mp.alloc(2 << 20, { mode: 'bind', nodes: [node] }, { hugePages: false }).fill(2)
  swallow(() => mp.alloc(2 ** 52))
  const bigAlloc = native.alloc(2 ** 32 + 1, 0, -1, -1, null, 0)
  if (bigAlloc instanceof ArrayBuffer) throw new Error('alloc past buffer.constants.MAX_LENGTH made a buffer')
  native.alloc(P, 0, -1, 7, mask, maxnode)
  swallow(() => native.alloc(P, 3, -1, -1, null, 0))

  // Calls on the pool whose memory is dropped before they run.
  const pending = []
  for (let k = 0; k < 4; k++) {
    pending.push(swallow(() => native.mbindAsync(mp.alloc(4 * P), MPOL_INTERLEAVE, mask, maxnode, 0)))
    pending.push(swallow(() => native.movePages(new Uint8Array(4 * P).fill(1), node, MPOL_MF_MOVE)))
  }
  pending.push(swallow(() => mp.migratePages(0, [node], [node])))
  pending.push(swallow(() => mp.migratePages(0x7ffffffe, [node], [node])))
  pending.push(native.migratePages(0, mask, mask, maxnode))
  pending.push(swallow(() => native.migratePages(0, mask, null, maxnode + 64)))
  native.migratePagesSync(0, mask, mask, maxnode)
  native.migratePagesSync(0, null, null, 0)
  if (typeof globalThis.gc === 'function' && i % 10 === 0) globalThis.gc()
  await Promise.all(pending)

  // Process scope: the signal round trip to every thread, a deadlock refusal, a callback that throws.
  if (i % 20 === 0) {
    mp.setMempolicy({ mode: 'preferred', nodes: [node] }, { scope: 'process' })
    mp.setMempolicy({ mode: 'default' }, { scope: 'process' })
    native.processExclusive(() => native.processExclusive(() => 0, true), true)
    native.processExclusive(() => native.processExclusive(() => 0, false), false)
    swallow(() =>
      native.processExclusive(() => {
        throw new Error('inside')
      }, true),
    )
    swallow(() => native.processExclusive(() => 0))
    native.signalThreads(MPOL_DEFAULT, null, 0, new Int32Array(0), new Int32Array(0), 10)
    swallow(() => native.processExclusive(null))
    // The count of this process's mappings under vm.max_map_count (read from /proc/self/maps).
    native.mappings()
  }

  swallow(() => mp.capabilities())
  // CPU placement and the command line's raw calls, with arguments that change nothing lasting.
  const cpus = mp.getCpuAffinity()
  mp.setCpuAffinity(cpus)
  mp.runOnNodes(node)
  mp.setCpuAffinity(cpus)
  mp.currentCpu()
  native.getAffinity(0, new Uint32Array(2))
  native.setAffinity(0, new Uint32Array(native.getAffinity(0, new Uint32Array(128)) > 0 ? 128 : 2).fill(0xffffffff))
  mp.setCpuAffinity(cpus)
  native.getcpu(new Int32Array(2))
  native.execve('/nonexistent/mempolicy-exercise', ['x'], ['A=1'])
  native.signalDefault(28)
  native.shmGet(0x7e5e7e5e, 0, 0)
  native.shmSize(-1)
  native.shmAttach(-1, 0)
  native.mapShared(0x7ffffff0, 4096, 0)
  swallow(() => native.execve('/bin/true', ['a\u0000b'], []))
  if (i % 20 === 0) mp.setCpuAffinity(cpus, { scope: 'process' })
  void MPOL_PREFERRED
}

function inWorker(terminateEarly) {
  return new Promise((resolve) => {
    const worker = new Worker(
      `
      const mp = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))})
      const node = mp.memsAllowed()[0]
      for (let i = 0; i < 50; i++) {
        mp.setMempolicy({ mode: 'interleave', nodes: [node] })
        mp.getMempolicy()
        mp.mbind(mp.alloc(4 * mp.pageSize), { mode: 'bind', nodes: [node] })
        mp.movePages(new Uint8Array(8 * mp.pageSize).fill(1), node).catch(() => {})
      }
      require('node:worker_threads').parentPort.postMessage('done')
    `,
      { eval: true },
    )
    worker.on('message', () => {
      if (!terminateEarly) void worker.terminate()
    })
    worker.on('error', () => {})
    worker.on('exit', () => resolve())
    if (terminateEarly) setTimeout(() => void worker.terminate(), 5)
  })
}

async function main() {
  for (let i = 0; i < ROUNDS; i++) await round(i)
  // Workers that end on their own with calls still on the pool, and Workers terminated mid-call.
  const workers = Number(process.env.MEMPOLICY_EXERCISE_WORKERS ?? 4)
  for (let i = 0; i < workers; i++) await inWorker(i % 2 === 1)
  if (typeof globalThis.gc === 'function') globalThis.gc()
  await new Promise((resolve) => setImmediate(resolve))
  // What the addon really exports (test/exports.test.ts checks it is what src/binding.ts declares).
  const real = binding.binding()
  const exported = Object.keys(real).filter((name) => typeof real[name] === 'function')
  const missed = exported.filter((name) => !called.has(name))
  if (missed.length > 0) throw new Error(`native exports never exercised: ${missed.join(', ')} (add them to round())`)
  console.log(`exercised ${ROUNDS} rounds of all ${exported.length} native exports`)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
