// GNU getopt_long as numactl calls it: short options with their value attached or in the next
// argument, clusters (-bm0), long options as --name=value or --name value, unambiguous prefixes of
// long names (--inter=0), and a leading "+": options stop at the first operand or at "--". Its error
// messages are glibc's.

export interface OptionSpec {
  /** The long name, without "--". */
  name: string
  /** The short letter, if any. */
  short?: string
  /** Whether it takes a value. */
  value: boolean
}

export interface Parsed {
  name: string
  value?: string
  /** How it was written (-i, --interleave), for messages. */
  spelled: string
  /** Whether any argument (or letter of this cluster) follows it. */
  more: boolean
}

/** A getopt error: glibc's message, printed as "<program>: <message>". */
export class GetoptError extends Error {}

/**
 * Yields each option in order and returns the index in `args` where the operands (the command) start.
 * Throws GetoptError at the first malformed option, so options before it have been seen already.
 */
export function* getopt(args: readonly string[], specs: readonly OptionSpec[]): Generator<Parsed, number, void> {
  let i = 0
  while (i < args.length) {
    const arg = args[i]!
    if (arg === '--') return i + 1
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=')
      const name = arg.slice(2, eq < 0 ? undefined : eq)
      const exact = specs.find((s) => s.name === name)
      let spec = exact
      if (spec === undefined) {
        const matches = specs.filter((s) => s.name.startsWith(name))
        if (matches.length > 1) {
          throw new GetoptError(`option '--${name}' is ambiguous; possibilities:${matches.map((m) => ` '--${m.name}'`).join('')}`)
        }
        spec = matches[0]
      }
      if (spec === undefined) throw new GetoptError(`unrecognized option '--${name}'`)
      i++
      if (!spec.value) {
        if (eq >= 0) throw new GetoptError(`option '--${spec.name}' doesn't allow an argument`)
        yield { name: spec.name, spelled: `--${spec.name}`, more: i < args.length }
      } else if (eq >= 0) {
        yield { name: spec.name, value: arg.slice(eq + 1), spelled: `--${spec.name}`, more: i < args.length }
      } else {
        if (i >= args.length) throw new GetoptError(`option '--${spec.name}' requires an argument`)
        const value = args[i++]!
        yield { name: spec.name, value, spelled: `--${spec.name}`, more: i < args.length }
      }
      continue
    }
    if (!arg.startsWith('-') || arg === '-') return i
    i++
    for (let j = 1; j < arg.length; j++) {
      const letter = arg[j]!
      const spec = specs.find((s) => s.short === letter)
      if (spec === undefined) throw new GetoptError(`invalid option -- '${letter}'`)
      if (!spec.value) {
        yield { name: spec.name, spelled: `-${letter}`, more: j + 1 < arg.length || i < args.length }
        continue
      }
      if (j + 1 < arg.length) {
        yield { name: spec.name, value: arg.slice(j + 1), spelled: `-${letter}`, more: i < args.length }
      } else {
        if (i >= args.length) throw new GetoptError(`option requires an argument -- '${letter}'`)
        const value = args[i++]!
        yield { name: spec.name, value, spelled: `-${letter}`, more: i < args.length }
      }
      break
    }
  }
  return i
}
