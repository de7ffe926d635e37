// The only module that loads the native addon. Off Linux nothing is loaded and every call that
// needs the kernel throws ERR_MEMPOLICY_UNSUPPORTED; installing and importing never fail.
import path from 'node:path'
import nodeGypBuild from 'node-gyp-build'

/** A nodemask as 32-bit halves of 64-bit words, low half first. */
export type NativeMask = Uint32Array

/** What native/mempolicy.cc exports. Every call returns its result or -errno; none throws for a kernel error. */
export interface NativeBinding {
  setMempolicy(mode: number, mask: NativeMask | null, maxnode: number): number
  /** byteOffset -1 asks for the first whole page of memory. */
  getMempolicy(mask: NativeMask | null, maxnode: number, memory: NativeMemory | undefined, byteOffset: number, flags: number): number
  /** Returns the offset of the first whole page inside memory, -errno, or noWholePage. */
  mbind(memory: NativeMemory, mode: number, mask: NativeMask | null, maxnode: number, flags: number): number
  setHomeNode(memory: NativeMemory, node: number): number
  alloc(byteLength: number, align: number, hugePages: number, mode: number, mask: NativeMask | null, maxnode: number):
    ArrayBuffer | { errno: number; syscall: string }
  readonly constants: Readonly<Record<string, number>>
  readonly pageSize: number
  readonly noWholePage: number
}

/** Memory the shim can read a pointer from (a SharedArrayBuffer travels as a view over it). */
export type NativeMemory = ArrayBuffer | ArrayBufferView

export const supportedPlatform = process.platform === 'linux'

let native: NativeBinding | undefined
let loadError: unknown

if (supportedPlatform) {
  try {
    native = nodeGypBuild(path.join(__dirname, '..')) as NativeBinding
  } catch (err) {
    loadError = err
  }
}

/** The addon, or an ERR_MEMPOLICY_UNSUPPORTED error saying why there is none. */
export function binding(): NativeBinding {
  if (native !== undefined) return native
  throw unsupported()
}

export function loaded(): NativeBinding | undefined {
  return native
}

export function unsupported(): Error {
  const reason = supportedPlatform
    ? `its native addon could not be loaded (${loadError instanceof Error ? loadError.message : String(loadError)})`
    : `memory policy is a Linux kernel feature and this is ${process.platform}`
  const err = new Error(`mempolicy is not supported here: ${reason}`, loadError === undefined ? undefined : { cause: loadError })
  return Object.assign(err, { code: 'ERR_MEMPOLICY_UNSUPPORTED' })
}
