// numactl's node and CPU strings, read as numactl reads them (docs/cli.md, "Node and CPU lists"):
// numbers in C's strtoul base 0 (decimal, 0x hex, leading-0 octal), A-B ranges, commas, "all", a
// leading "!" (inverted) and then "+" (counted within the allowed set). The package's own
// parseIdList is stricter on purpose; the command line takes what numactl takes and refuses what
// numactl refuses, with numactl's words.

/** What a list is read against. */
export interface ListContext {
  /** 'node' or 'cpu': the word in numactl's messages. */
  kind: 'node' | 'cpu'
  /** The ids a list may name, ascending ("all" is these; a relative "+N" is the N+1th). */
  allowed: readonly number[]
  /** The width of the kernel's mask: where a relative id past the allowed ones lands. */
  size: number
  /** "!" inverts ids 0 to this count - 1 (nodes with memory, or configured CPUs), whatever is allowed. */
  invertCount: number
}

/** A list numactl refuses: `message` is libnuma's warning, or undefined where it prints none. */
export class ListError extends Error {
  constructor(readonly warning: string | undefined) {
    super(warning ?? 'invalid list')
  }
}

const ULONG_MAX = 2n ** 64n - 1n

function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\v' || c === '\f' || c === '\r'
}

function digitValue(c: string | undefined): number {
  if (c === undefined) return 99
  const code = c.charCodeAt(0)
  if (code >= 48 && code <= 57) return code - 48
  if (code >= 97 && code <= 122) return code - 87
  if (code >= 65 && code <= 90) return code - 55
  return 99
}

/** C's strtoul(s + i, &end, 0): the value (wrapped as unsigned long) and where it stopped (i if no number). */
export function strtoul(s: string, i: number, base0 = 0): { value: bigint; end: number } {
  let k = i
  while (isSpace(s[k])) k++
  let negative = false
  if (s[k] === '+' || s[k] === '-') {
    negative = s[k] === '-'
    k++
  }
  let base = base0
  if ((base === 0 || base === 16) && s[k] === '0' && (s[k + 1] === 'x' || s[k + 1] === 'X') && digitValue(s[k + 2]) < 16) {
    base = 16
    k += 2
  } else if (base === 0) {
    base = s[k] === '0' ? 8 : 10
  }
  const start = k
  let value = 0n
  let overflow = false
  while (digitValue(s[k]) < base) {
    value = value * BigInt(base) + BigInt(digitValue(s[k]))
    if (value > ULONG_MAX) overflow = true
    k++
  }
  if (k === start) return { value: 0n, end: i }
  if (overflow) return { value: ULONG_MAX, end: k }
  return { value: negative && value !== 0n ? ULONG_MAX + 1n - value : value, end: k }
}

/** printf("%d") of an unsigned long on a 64-bit machine: its low 32 bits as a signed int. */
function asInt(value: bigint): string {
  return String(BigInt.asIntN(32, value))
}

/**
 * Reads a node or CPU string as libnuma's numa_parse_nodestring / numa_parse_cpustring do; throws a
 * ListError with libnuma's warning text where they refuse it. "" is no ids (numactl then sets the
 * default policy or an empty CPU mask; the command line refuses that itself).
 */
export function parseList(text: string, context: ListContext): number[] {
  const { kind, allowed, size } = context
  const allowedSet = new Set(allowed)
  const isAllowed = (v: bigint): boolean => v < BigInt(size) && allowedSet.has(Number(v))
  const chosen = new Set<number>()
  if (text === '') return []
  let s = 0
  let invert = false
  let relative = false
  if (text[s] === '!') {
    invert = true
    s++
  }
  if (text[s] === '+') {
    relative = true
    s++
  }
  // get_nr(): a number, or with "+" the position of the (number + 1)th allowed id (the mask's width
  // when there are fewer).
  const nr = (at: number): { value: bigint; end: number } => {
    const read = strtoul(text, at)
    if (!relative || read.end === at) return read
    const n = read.value
    return { value: n < BigInt(allowed.length) ? BigInt(allowed[Number(n)]!) : BigInt(size), end: read.end }
  }
  const rest = (at: number): string => text.slice(at)
  let after: number
  for (;;) {
    if (kind === 'node' && /^[a-zA-Z]/.test(text[s] ?? '')) {
      if (rest(s) === 'all') {
        for (const id of allowed) chosen.add(id)
        after = text.length + 1
        break
      }
      if (/^(netdev|ip|file|block|pci):/.test(rest(s))) {
        throw new ListError(
          `${rest(s)}: naming a node by a device (netdev:, ip:, file:, block:, pci:) is not supported here: use the node number`,
        )
      }
    } else if (kind === 'cpu' && rest(s) === 'all') {
      for (const id of allowed) chosen.add(id)
      after = text.length + 1
      break
    }
    const first = nr(s)
    if (first.end === s) throw new ListError(`unparseable ${kind} description \`${rest(s)}'`)
    if (!isAllowed(first.value)) {
      throw new ListError(
        kind === 'node' ? `node argument ${asInt(first.value)} is out of range` : `cpu argument ${rest(s)} is out of range`,
      )
    }
    chosen.add(Number(first.value))
    s = first.end
    if (text[s] === '-') {
      s++
      const last = nr(s)
      if (last.end === s) throw new ListError(`missing ${kind} argument ${rest(s)}`)
      if (!isAllowed(last.value)) {
        throw new ListError(kind === 'node' ? `node argument ${asInt(last.value)} out of range` : `cpu argument ${rest(s)} out of range`)
      }
      // Only the allowed ids inside the range; a reversed range leaves just its first id.
      for (const id of allowed) if (BigInt(id) >= first.value && BigInt(id) <= last.value) chosen.add(id)
      s = last.end
    }
    // while (*s++ == ','): one more item after a comma; anything else ends the list.
    if (text[s] === ',') {
      s++
      continue
    }
    after = s + 1
    break
  }
  // Trailing characters: refused without a warning.
  if (after - 1 < text.length) throw new ListError(undefined)
  let ids = [...chosen]
  if (invert) {
    const inverted: number[] = []
    for (let id = 0; id < context.invertCount; id++) if (!chosen.has(id)) inverted.push(id)
    ids = inverted.concat(ids.filter((id) => id >= context.invertCount))
  }
  return ids.sort((a, b) => a - b)
}
