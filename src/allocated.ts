// Memory from alloc(): which ArrayBuffers it made (page-aligned at their start, for the messages of
// range calls), and one behaviour for transferring them to another thread on every supported Node.
//
// alloc() memory is a mapping of its own, freed by a finalizer of the thread that made it. Node
// cannot move such a buffer to another thread: Node 22 and later refuse it in a transfer list with a
// DataCloneError, but Node 20 silently copies it into ordinary memory, and the copy has lost the
// policy. On a Node that copies, the first alloc() makes MessagePort's postMessage (which
// worker.postMessage, parentPort, MessageChannel and the Worker constructor's transferList use) and
// structuredClone refuse alloc() memory in a transfer list the way Node 22 does, with a message that
// says what to do instead; nothing else about them changes. docs/validation.md, "alloc() and Workers".
import { types } from 'node:util'

const allocated = new WeakSet<ArrayBuffer>()
let guarded = false

/**
 * Records an ArrayBuffer alloc() made. The first time, `probe` makes another such buffer (of one
 * page) to learn whether this Node refuses to transfer it by itself.
 */
export function remember(buffer: ArrayBuffer, probe: () => ArrayBuffer | undefined): void {
  allocated.add(buffer)
  if (!guarded) guardTransfers(probe)
}

/** Whether alloc() made this ArrayBuffer (so it starts on a page boundary). */
export function isAllocated(buffer: unknown): boolean {
  return types.isArrayBuffer(buffer) && allocated.has(buffer)
}

export const TRANSFER_MESSAGE =
  'Memory from mempolicy alloc() cannot be transferred to another thread: it is a mapping ' +
  'of its own that only the thread that allocated it can free (without the transfer list it is copied into ordinary ' +
  'memory, without its policy). Call alloc() in the Worker, or mbind() a SharedArrayBuffer and post that: it is ' +
  'shared, not copied, and a range policy holds for every thread'

function refuse(): never {
  throw new DOMException(TRANSFER_MESSAGE, 'DataCloneError')
}

/** Throws if a transfer list (an array, or { transfer: array }) holds alloc() memory. */
function check(transfer: unknown): void {
  let list: unknown = transfer
  try {
    if (!Array.isArray(list) && list !== null && typeof list === 'object') list = (list as { transfer?: unknown }).transfer
    if (!Array.isArray(list)) return
    for (const item of list as unknown[]) if (isAllocated(item)) refuse()
  } catch (err) {
    // Only our own refusal: anything the caller's object throws is left for Node to report.
    if (err instanceof DOMException && err.message === TRANSFER_MESSAGE) throw err
  }
}

/** Whether this Node refuses, by itself, to transfer memory like alloc()'s (Node 21 and later). */
function refusesToTransfer(probe: ArrayBuffer): boolean {
  try {
    // Node 20 copies it (one page); later versions throw a DataCloneError.
    structuredClone(probe, { transfer: [probe] })
    return false
  } catch {
    return true
  }
}

function wrap<F extends (...args: never[]) => unknown>(owner: object, name: string, original: F, transferAt: number): void {
  const wrapped = {
    [name](this: unknown, ...args: unknown[]): unknown {
      if (args.length > transferAt) check(args[transferAt])
      return Reflect.apply(original, this, args)
    },
  }[name]!
  const descriptor = Object.getOwnPropertyDescriptor(owner, name)
  Object.defineProperty(owner, name, {
    value: wrapped,
    writable: descriptor?.writable ?? true,
    enumerable: descriptor?.enumerable ?? false,
    configurable: true,
  })
}

function guardTransfers(probe: () => ArrayBuffer | undefined): void {
  guarded = true
  const buffer = probe()
  if (buffer === undefined || refusesToTransfer(buffer)) return
  // Only on a Node that copies: MessagePort (the global, the class worker_threads exports) is
  // loaded here, on the first alloc(), never by loading the package.
  const port = (globalThis as unknown as { MessagePort: { prototype: { postMessage: (...args: never[]) => unknown } } }).MessagePort
    .prototype
  wrap(port, 'postMessage', port.postMessage, 1)
  wrap(globalThis, 'structuredClone', globalThis.structuredClone, 1)
}
