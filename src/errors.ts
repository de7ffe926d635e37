// Every error the package throws is built here: argument errors in Node's style (TypeError/RangeError
// with ERR_* codes) and kernel errors in the shape of Node's SystemError.
import { constants } from 'node:os'
// Named imports only: a default or namespace import of node:util copies every property, which on
// Node 22+ runs its lazy getters and loads streams, worker_threads and more (test/lazy-load.test.ts).
import { getSystemErrorMap, types } from 'node:util'

type ArgCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE'

function argError<E extends TypeError | RangeError>(err: E, code: ArgCode): E & { code: ArgCode } {
  return Object.assign(err, { code })
}

/** A short, safe description of a received value: never calls user code (getters, Proxy traps, toString). */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined'
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value
      return `type string (${JSON.stringify(shown)})`
    }
    case 'number':
      return `type number (${Object.is(value, -0) ? '-0' : String(value)})`
    case 'bigint':
      return `type bigint (${value}n)`
    case 'boolean':
      return `type boolean (${value})`
    case 'symbol':
      return `type symbol (${String(value.description ?? '')})`
    case 'function':
      return 'type function'
    default: {
      if (value === null) return 'null'
      // A Proxy's traps are user code (and a revoked one throws even in Array.isArray).
      if (types.isProxy(value)) return 'a Proxy'
      if (Array.isArray(value)) return `an array of length ${value.length}`
      return 'an object'
    }
  }
}

/** `text` as a quoted name in a message: 'nodes', escaped, at most 40 characters. */
export function quote(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text
  return `'${JSON.stringify(shown).slice(1, -1).replace(/'/g, "\\'")}'`
}

/** `hint` (what to do, e.g. "Did you mean 'bind'?") ends the message, after what was received. */
function ending(hint: string | undefined): string {
  return hint === undefined || hint === '' ? '' : `. ${hint}`
}

export function invalidType(name: string, expected: string, value: unknown, hint?: string): TypeError {
  return argError(
    new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}${ending(hint)}`),
    'ERR_INVALID_ARG_TYPE',
  )
}

export function invalidValue(name: string, rule: string, value: unknown, hint?: string): TypeError {
  return argError(new TypeError(`The argument '${name}' ${rule}. Received ${describe(value)}${ending(hint)}`), 'ERR_INVALID_ARG_VALUE')
}

/**
 * An object with a property the call does not read (a misspelling would otherwise be ignored):
 * "The argument 'options' may only have the properties 'strict', 'move' and 'moveAll'. Received the
 * property 'moveall'. Did you mean 'moveAll'?"
 */
export function unknownProperty(name: string, key: string, known: readonly string[] | string, hint?: string): TypeError {
  if (typeof known === 'string') {
    return argError(
      new TypeError(`The argument '${name}' may only have ${known}. Received the property ${quote(key)}${ending(hint)}`),
      'ERR_INVALID_ARG_VALUE',
    )
  }
  const list = known.length === 1 ? quote(known[0]!) : `${known.slice(0, -1).map(quote).join(', ')} and ${quote(known[known.length - 1]!)}`
  const only = known.length === 1 ? 'the property' : 'the properties'
  return argError(
    new TypeError(`The argument '${name}' may only have ${only} ${list}. Received the property ${quote(key)}${ending(hint)}`),
    'ERR_INVALID_ARG_VALUE',
  )
}

export function outOfRange(name: string, range: string, value: unknown, hint?: string): RangeError {
  const shown = typeof value === 'number' || typeof value === 'bigint' ? String(value) : describe(value)
  return argError(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}${ending(hint)}`),
    'ERR_OUT_OF_RANGE',
  )
}

/** outOfRange with what was received described in words ('a detached ArrayBuffer'). */
export function outOfRangeAs(name: string, range: string, received: string, hint?: string): RangeError {
  return argError(
    new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${received}${ending(hint)}`),
    'ERR_OUT_OF_RANGE',
  )
}

let errorMap: Map<number, [string, string]> | undefined

// Where Linux gives one number two names, the one the memory-policy man pages use.
const KERNEL_NAMES: ReadonlyMap<number, [string, string]> = new Map([[95, ['EOPNOTSUPP', 'operation not supported']]])

/** Node's name and description of an errno (positive or negative). */
export function errnoName(errno: number): [code: string, description: string] {
  const positive = Math.abs(errno)
  const own = KERNEL_NAMES.get(positive)
  if (own !== undefined) return own
  // Bun has no util.getSystemErrorMap: there each errno is named from os.constants.errno (the
  // first name of a number, as Node's map has EAGAIN before EWOULDBLOCK).
  errorMap ??=
    typeof getSystemErrorMap === 'function'
      ? getSystemErrorMap()
      : new Map(
          Object.entries(constants.errno)
            .reverse()
            .map(([name, value]) => [-value, [name, `errno ${value}`]]),
        )
  return errorMap.get(-positive) ?? [`E${positive}`, `unknown error ${positive}`]
}

/**
 * A failed syscall, shaped like Node's SystemError: `code` ('EINVAL'), `errno` (negative), `syscall`
 * ('mbind'), and a message that begins `EINVAL: invalid argument, mbind`. `hint` says what to do,
 * where the cause can be known.
 */
export class MempolicyError extends Error {
  readonly code: string
  readonly errno: number
  readonly syscall: string
  readonly hint?: string

  constructor(errno: number, syscall: string, hint?: string) {
    const [code, description] = errnoName(errno)
    super(`${code}: ${description}, ${syscall}${hint === undefined ? '' : ` (${hint})`}`)
    this.code = code
    this.errno = -Math.abs(errno)
    this.syscall = syscall
    if (hint !== undefined) this.hint = hint
  }

  override get name(): string {
    return 'MempolicyError'
  }
}
