// Every error the package throws is built here: argument errors in Node's style (TypeError/RangeError
// with ERR_* codes) and kernel errors in the shape of Node's SystemError.
import { getSystemErrorMap, types } from 'node:util'

type ArgCode = 'ERR_INVALID_ARG_TYPE' | 'ERR_INVALID_ARG_VALUE' | 'ERR_OUT_OF_RANGE'

function argError<E extends TypeError | RangeError>(err: E, code: ArgCode): E & { code: ArgCode } {
  return Object.assign(err, { code })
}

/** A short, safe description of a received value: never calls user code (getters, Proxy traps, toString). */
export function describe(value: unknown): string {
  switch (typeof value) {
    case 'undefined': return 'undefined'
    case 'string': {
      const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value
      return `type string (${JSON.stringify(shown)})`
    }
    case 'number': return `type number (${Object.is(value, -0) ? '-0' : String(value)})`
    case 'bigint': return `type bigint (${value}n)`
    case 'boolean': return `type boolean (${value})`
    case 'symbol': return `type symbol (${String(value.description ?? '')})`
    case 'function': return 'type function'
    default: {
      if (value === null) return 'null'
      // A Proxy's traps are user code (and a revoked one throws even in Array.isArray).
      if (types.isProxy(value)) return 'a Proxy'
      if (Array.isArray(value)) return `an array of length ${value.length}`
      return 'an object'
    }
  }
}

export function invalidType(name: string, expected: string, value: unknown): TypeError {
  return argError(new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(value)}`), 'ERR_INVALID_ARG_TYPE')
}

export function invalidValue(name: string, rule: string, value: unknown): TypeError {
  return argError(new TypeError(`The argument '${name}' ${rule}. Received ${describe(value)}`), 'ERR_INVALID_ARG_VALUE')
}

export function outOfRange(name: string, range: string, value: unknown): RangeError {
  const shown = typeof value === 'number' || typeof value === 'bigint' ? String(value) : describe(value)
  return argError(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${shown}`), 'ERR_OUT_OF_RANGE')
}

let errorMap: Map<number, [string, string]> | undefined

// Where Linux gives one number two names, the one the memory-policy man pages use.
const KERNEL_NAMES: ReadonlyMap<number, [string, string]> = new Map([[95, ['EOPNOTSUPP', 'operation not supported']]])

/** Node's name and description of an errno (positive or negative). */
export function errnoName(errno: number): [code: string, description: string] {
  const positive = Math.abs(errno)
  const own = KERNEL_NAMES.get(positive)
  if (own !== undefined) return own
  errorMap ??= getSystemErrorMap()
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
