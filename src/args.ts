// Reading arguments that may be hostile: Proxies whose traps throw or answer differently on each
// read, revoked Proxies, getters that throw, arrays that lie about their length. Each property and
// element is read exactly once; validation and the native call then use what was read, never the
// caller's object again. An exception thrown by the caller's own code while it is read becomes a
// TypeError with code ERR_INVALID_ARG_VALUE whose `cause` is what was thrown, so every failure of the
// package is an Error with a code.
import { types } from 'node:util'
import { invalidValue, outOfRange, unknownProperty } from './errors'
import { closest, didYouMean } from './suggest'

const apply = Reflect.apply
const getter = (proto: object, key: string): (() => number) => Object.getOwnPropertyDescriptor(proto, key)!.get as () => number
const typedArrayByteLength = getter(Object.getPrototypeOf(Uint8Array.prototype) as object, 'byteLength')
const dataViewByteLength = getter(DataView.prototype, 'byteLength')
const arrayBufferByteLength = getter(ArrayBuffer.prototype, 'byteLength')
const sharedArrayBufferByteLength = getter(SharedArrayBuffer.prototype, 'byteLength')

/** The error for an argument whose getter or Proxy trap threw while it was read. */
export function unreadable(name: string, value: unknown, cause: unknown): TypeError {
  const err = invalidValue(name, 'could not be read: a getter or Proxy trap threw (see cause)', value)
  Object.defineProperty(err, 'cause', { value: cause, writable: true, configurable: true, enumerable: false })
  return err
}

/** True for an Error that carries a string `code` (Node's own errors do); never throws. */
export function isCodedError(err: unknown): boolean {
  try {
    return types.isNativeError(err) && typeof (err as { code?: unknown }).code === 'string'
  } catch {
    return false
  }
}

/** Reads `keys` of `object` once each, in order; `name` names the object in errors. */
export function readProps<K extends string>(object: object, keys: readonly K[], name: string): Record<K, unknown> {
  const out = Object.create(null) as Record<K, unknown>
  for (const key of keys) {
    try {
      out[key] = (object as Record<K, unknown>)[key]
    } catch (err) {
      throw unreadable(`${name}.${key}`, object, err)
    }
  }
  return out
}

/**
 * Whether `key`, met by for...in over `object`, is one of the object's own properties. An ordinary
 * object answers without running any code of the caller's; a Proxy would run its trap a second
 * time for the key, so for a Proxy every key for...in listed counts as its own.
 */
export function isOwnKey(object: object, key: string): boolean {
  return types.isProxy(object) || Object.prototype.hasOwnProperty.call(object, key)
}

/** The properties an options object may have, with the names a misspelling most likely means. */
export interface KnownKeys {
  readonly names: readonly string[]
  readonly set: ReadonlySet<string>
  /** Squashed names from elsewhere (see suggest.ts) -> the property meant. */
  readonly aliases?: ReadonlyMap<string, string>
  /** What to call the names in a message, where listing them all would be too long. */
  readonly summary?: string
}

export function knownKeys(names: readonly string[], aliases?: Record<string, string>, summary?: string): KnownKeys {
  return Object.freeze({
    names,
    set: new Set(names),
    aliases: aliases === undefined ? undefined : new Map(Object.entries(aliases)),
    summary,
  })
}

/** The error for an own property that `known` does not list, naming the one most likely meant. */
export function unknownKey(name: string, key: string, known: KnownKeys, hint?: string): TypeError {
  return unknownProperty(name, key, known.summary ?? known.names, hint ?? didYouMean(closest(key, known.names, known.aliases)))
}

/**
 * Throws ERR_INVALID_ARG_VALUE when `object` has an own enumerable property that `known` does not
 * list: a misspelled option is an error, never silently ignored. for...in makes no array (V8 walks
 * the shape's cached keys), so the check costs little on the calls made in loops; an inherited
 * property is not the caller's mistake and is passed over. Runs no caller code on an ordinary
 * object; on a Proxy, its ownKeys trap once and its getOwnPropertyDescriptor trap once per key.
 * Values are never read here.
 */
export function checkKeys(object: object, known: KnownKeys, name: string): void {
  let unknown: string | undefined
  try {
    for (const key in object) {
      if (!known.set.has(key) && isOwnKey(object, key)) {
        unknown = key
        break
      }
    }
  } catch (err) {
    throw unreadable(name, object, err)
  }
  if (unknown !== undefined) throw unknownKey(name, unknown, known)
}

/** Array.isArray that never throws: a revoked Proxy is not an array here. */
export function isArray(value: unknown): value is readonly unknown[] {
  try {
    return Array.isArray(value)
  } catch {
    return false
  }
}

/**
 * The most elements a list of node ids or flags may have. Nothing needs more (the kernel has at most
 * 1024 nodes, and three flags), and a Proxy claiming billions of elements is refused before its first
 * element is read rather than read for minutes.
 */
export const MAX_LIST_LENGTH = 65536

/** An array's length, read once and checked (what forEachElement loops over); at most `max`. */
export function arrayLength(array: readonly unknown[], name: string, max = 2 ** 32 - 1): number {
  let length: unknown
  try {
    length = array.length
  } catch (err) {
    throw unreadable(`${name}.length`, array, err)
  }
  if (typeof length !== 'number' || !Number.isInteger(length) || length < 0 || length > 2 ** 32 - 1) {
    throw invalidValue(`${name}.length`, 'must be an array length (an integer from 0 to 2 ** 32 - 1)', length)
  }
  if (length > max) throw outOfRange(`${name}.length`, `at most ${max}`, length)
  return length
}

/**
 * Calls `each` with every element of an array, reading its length once and each element once.
 * Errors thrown by `each` pass through; anything the array itself throws is wrapped.
 */
export function forEachElement(
  array: readonly unknown[],
  name: string,
  each: (element: unknown, index: number) => void,
  max?: number,
): void {
  const length = arrayLength(array, name, max)
  for (let k = 0; k < length; k++) {
    let element: unknown
    try {
      element = array[k]
    } catch (err) {
      throw unreadable(`${name}[${k}]`, array, err)
    }
    each(element, k)
  }
}

/**
 * The byte length of an ArrayBuffer, SharedArrayBuffer or view, from the built-in getters (an own
 * `byteLength` property on the object is not consulted). A detached buffer, or a view that a resized
 * buffer no longer covers, has 0.
 */
export function byteLengthOf(memory: ArrayBuffer | SharedArrayBuffer | ArrayBufferView): number {
  try {
    if (types.isTypedArray(memory)) return apply(typedArrayByteLength, memory, [])
    if (types.isDataView(memory)) return apply(dataViewByteLength, memory, [])
    if (types.isSharedArrayBuffer(memory)) return apply(sharedArrayBufferByteLength, memory, [])
    return apply(arrayBufferByteLength, memory, [])
  } catch {
    // DataView's getter throws for a detached or out-of-bounds view.
    return 0
  }
}
