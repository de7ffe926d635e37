// `mempolicy stat`: numastat's reports, option for option and byte for byte (docs/heterogeneous-memory.md,
// "mempolicy stat"). numastat (numactl 2.0.16) is the reference: its table layout (16-column cells,
// a gutter space, right-aligned numbers, lines folded at the screen width), its option parsing (GNU
// getopt: clustered short options, operands anywhere), its rounding (C's %.2f: round half to even
// on the exact binary value) and its known rows (meminfo rows it does not know are reported, one
// "Token ... not in hash table." line per node, and left out).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { pageSize } from '../mempolicy'
import { defaultHugePageSize } from '../stats'

const NAME = 'mempolicy stat'
const NODE_DIR = '/sys/devices/system/node'
const MEGABYTE = 1024 * 1024
const KILOBYTE = 1024
/** numastat's line buffers: fgets reads at most one less than these. */
const SMALL_BUF = 128
const BUF = 2048

// The rows numastat knows, in its order: [token in the kernel file, label].
const NUMASTAT_ROWS: readonly (readonly [string, string])[] = [
  ['numa_hit', 'Numa_Hit'],
  ['numa_miss', 'Numa_Miss'],
  ['numa_foreign', 'Numa_Foreign'],
  ['interleave_hit', 'Interleave_Hit'],
  ['local_node', 'Local_Node'],
  ['other_node', 'Other_Node'],
]
const MEMINFO_ROWS: readonly string[] = [
  'MemTotal',
  'MemFree',
  'MemUsed',
  'HighTotal',
  'HighFree',
  'LowTotal',
  'LowFree',
  'Active',
  'Inactive',
  'Active(anon)',
  'Inactive(anon)',
  'Active(file)',
  'Inactive(file)',
  'Unevictable',
  'Mlocked',
  'Dirty',
  'Writeback',
  'FilePages',
  'Mapped',
  'AnonPages',
  'Shmem',
  'KernelStack',
  'PageTables',
  'NFS_Unstable',
  'Bounce',
  'WritebackTmp',
  'Slab',
  'SReclaimable',
  'SUnreclaim',
  'AnonHugePages',
  'ShmemHugePages',
  'ShmemPmdMapped',
  'HugePages_Total',
  'HugePages_Free',
  'HugePages_Surp',
  'KReclaimable',
]
/** numastat -p's rows, in order; a numa_maps line whose tokens start with none of the first three is Private. */
const PROCESS_ROWS = [
  ['huge', 'Huge'],
  ['heap', 'Heap'],
  ['stack', 'Stack'],
  ['N', 'Private'],
] as const
const HUGE = 0
const PRIVATE = 3

const USAGE = [
  `Usage: ${NAME} [-c] [-m] [-n] [-p <PID>|<pattern>] [-s[<node>]] [-v] [-V] [-z] [ <PID>|<pattern>... ]`,
  '-c to minimize column widths',
  '-m to show meminfo-like system-wide memory usage',
  '-n to show the numastat statistics info',
  '-p <PID>|<pattern> to show process info',
  '-s[<node>] to sort data by total column or <node>',
  '-v to make some reports more verbose',
  `-V to show the ${NAME} code version`,
  '-z to skip rows and columns of zeros',
  '',
].join('\n')

// C library texts of the errors a read can meet (strerror), for messages written as perror writes them.
const STRERROR: Readonly<Record<string, string>> = {
  EPERM: 'Operation not permitted',
  ENOENT: 'No such file or directory',
  ESRCH: 'No such process',
  EIO: 'Input/output error',
  ENOMEM: 'Cannot allocate memory',
  EACCES: 'Permission denied',
  EBUSY: 'Device or resource busy',
  ENODEV: 'No such device',
  ENOTDIR: 'Not a directory',
  EISDIR: 'Is a directory',
  EINVAL: 'Invalid argument',
  ENAMETOOLONG: 'File name too long',
  ELOOP: 'Too many levels of symbolic links',
}

function strerror(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  if (typeof code === 'string' && STRERROR[code] !== undefined) return STRERROR[code]!
  const errno = (err as { errno?: unknown } | null)?.errno
  return typeof errno === 'number' ? `Unknown error ${Math.abs(errno)}` : 'Unknown error'
}

/** Ends the report early: what was printed so far stays, `stderr` follows what went there before. */
class Exit extends Error {
  constructor(
    readonly status: number,
    readonly stderr = '',
  ) {
    super(`exit ${status}`)
  }
}

// Numbers as C prints and parses them.

const F64 = new DataView(new ArrayBuffer(8))

/**
 * printf("%.*f", places, value): the exact binary value rounded half to even, as glibc does
 * (0.125 is "0.12", 0.375 is "0.38"); JavaScript's toFixed rounds half up and stops at 1e21.
 */
export function cFixed(value: number, places: number): string {
  const negative = value < 0 || Object.is(value, -0)
  if (Number.isNaN(value)) return 'nan'
  if (!Number.isFinite(value)) return negative ? '-inf' : 'inf'
  const magnitude = Math.abs(value)
  // toFixed also rounds the exact value, and differs only on an exact tie: used wherever the scaled
  // value is clearly off one (its rounding error is below scaled * 2^-53), and below 1e21.
  const approximate = magnitude * 10 ** places
  if (approximate < 1e20 && Math.abs(approximate - Math.floor(approximate) - 0.5) > approximate * 1e-15 + 1e-300) {
    return (negative ? '-' : '') + magnitude.toFixed(places)
  }
  F64.setFloat64(0, magnitude)
  const bits = F64.getBigUint64(0)
  const biased = Number((bits >> 52n) & 0x7ffn)
  let mantissa = bits & ((1n << 52n) - 1n)
  let exponent = -1074
  if (biased !== 0) {
    mantissa |= 1n << 52n
    exponent = biased - 1075
  }
  const scale = 10n ** BigInt(places)
  let scaled: bigint
  if (exponent >= 0) {
    scaled = (mantissa << BigInt(exponent)) * scale
  } else {
    const numerator = mantissa * scale
    const denominator = 1n << BigInt(-exponent)
    scaled = numerator / denominator
    const twice = 2n * (numerator - scaled * denominator)
    if (twice > denominator || (twice === denominator && (scaled & 1n) === 1n)) scaled += 1n
  }
  let digits = scaled.toString()
  if (places > 0) {
    digits = digits.padStart(places + 1, '0')
    digits = `${digits.slice(0, -places)}.${digits.slice(-places)}`
  }
  return negative ? `-${digits}` : digits
}

const LONG_MAX = (1n << 63n) - 1n
const LONG_MIN = -(1n << 63n)

/** strtol(text, &end, 10): the value (clamped to a 64-bit long) and how many characters it used. */
function strtol(text: string): { value: bigint; end: number } {
  const match = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(text)
  if (match === null) return { value: 0n, end: 0 }
  let value = BigInt(match[2]!)
  if (match[1] === '-') value = -value
  if (value > LONG_MAX) value = LONG_MAX
  if (value < LONG_MIN) value = LONG_MIN
  return { value, end: match[0].length }
}

/** atol: strtol's value as a double, as numastat stores it. */
const atol = (text: string | undefined): number => (text === undefined ? 0 : Number(strtol(text).value))
/** atoi: strtol's value truncated to a 32-bit int. */
const atoi = (text: string): number => Number(BigInt.asIntN(32, strtol(text).value))
/** numastat's all_digits: true for "" too. */
const allDigits = (text: string): boolean => /^\d*$/.test(text)

/** The pieces fgets(buf, size) returns one after another: lines, and long lines cut into size - 1 characters. */
function fgetsChunks(text: string, size: number): string[] {
  const chunks: string[] = []
  let at = 0
  while (at < text.length) {
    const newline = text.indexOf('\n', at)
    const end = Math.min(newline === -1 ? text.length : newline + 1, at + size - 1)
    chunks.push(text.slice(at, end))
    at = end
  }
  return chunks
}

const tokens = (chunk: string, delimiters: RegExp): string[] => chunk.split(delimiters).filter((t) => t !== '')

// numastat's table: header rows and columns, data cells, per-row and per-column flags, widths.

const NULL = 0
const DOUBLE = 2
const STRING = 3
const REPCHAR = 5

const SEEN = 1 << 2
const NON_ZERO = 1 << 3
const ALWAYS_SHOW = 1 << 4
const LEFT = 1
const RIGHT = 2
const JUSTIFY = 3

interface Cell {
  type: number
  d: number
  s: string
}

class Table {
  readonly rows: number
  readonly cols: number
  /** Row-major, as numastat lays them out: a column past the last reads on into the next row. */
  readonly cells: Cell[]
  readonly order: number[]
  readonly rowFlags: number[]
  readonly colFlags: number[]
  readonly width: number[]
  readonly places: number[]

  constructor(
    readonly headerRows: number,
    readonly headerCols: number,
    dataRows: number,
    dataCols: number,
  ) {
    this.rows = headerRows + dataRows
    this.cols = headerCols + dataCols
    this.cells = Array.from({ length: this.rows * this.cols }, () => ({ type: NULL, d: 0, s: '' }))
    this.order = Array.from({ length: this.rows }, (_, k) => k)
    this.rowFlags = new Array<number>(this.rows).fill(0)
    this.colFlags = new Array<number>(this.cols).fill(0)
    this.width = new Array<number>(this.cols).fill(0)
    this.places = new Array<number>(this.cols).fill(0)
  }

  cell(row: number, col: number): Cell {
    return this.cells[row * this.cols + col] ?? { type: NULL, d: 0, s: '' }
  }

  string(row: number, col: number, s: string): void {
    Object.assign(this.cell(row, col), { type: STRING, s })
  }

  repchar(row: number, col: number, c: string): void {
    Object.assign(this.cell(row, col), { type: REPCHAR, s: c })
  }

  assign(row: number, col: number, d: number): void {
    Object.assign(this.cell(row, col), { type: DOUBLE, d })
  }

  add(row: number, col: number, d: number): void {
    const cell = this.cell(row, col)
    cell.type = DOUBLE
    cell.d += d
  }

  justify(col: number, how: number): void {
    this.colFlags[col] = (this.colFlags[col]! & ~JUSTIFY) | how
  }

  setWidth(col: number, width: number): void {
    this.width[col] = Math.min(width, SMALL_BUF - 1)
  }

  zeroData(): void {
    for (let row = this.headerRows; row < this.rows; row++) {
      for (let col = this.headerCols; col < this.cols; col++) Object.assign(this.cell(row, col), { type: DOUBLE, d: 0, s: '' })
    }
  }

  /** A cell's text, cut to `width` characters. */
  format(cell: Cell, width: number, places: number): string {
    let text: string
    switch (cell.type) {
      case NULL:
        text = ''
        break
      case DOUBLE:
        text = cFixed(cell.d, places)
        break
      case STRING:
        text = cell.s
        break
      case REPCHAR:
        text = cell.s.repeat(Math.max(0, width - 1))
        break
      default:
        text = 'Unknown'
    }
    return text.slice(0, Math.min(width, SMALL_BUF - 1))
  }

  /** The widest cell of a column plus the gutter, between min and max (numastat -c). */
  fitWidth(col: number, min: number, max: number): void {
    let width = min
    for (let row = 0; row < this.rows; row++) {
      const cell = this.cell(row, col)
      if (cell.type === REPCHAR) continue
      width = Math.max(width, this.format(cell, max, this.places[col]!).length)
    }
    this.width[col] = Math.min(width + 1, max)
  }

  /** Orders rows first..last by the value in `col`, largest first (numastat's selection sort). */
  sortDescending(first: number, last: number, col: number): void {
    for (let i = first; i <= last; i++) {
      let biggest = i
      for (let j = i + 1; j <= last; j++) {
        if (this.cell(this.order[biggest]!, col).d < this.cell(this.order[j]!, col).d) biggest = j
      }
      if (biggest !== i) [this.order[i], this.order[biggest]] = [this.order[biggest]!, this.order[i]!]
    }
  }

  private show(row: number, col: number): string {
    const width = this.width[col]!
    const text = this.format(this.cell(row, col), width, this.places[col]!)
    const pad = Math.max(0, width - text.length)
    switch (this.colFlags[col]! & JUSTIFY) {
      case LEFT:
        return text + ' '.repeat(pad)
      case RIGHT:
        return ' '.repeat(pad) + text
      default: {
        const before = Math.floor((width - text.length + 1) / 2)
        return (' '.repeat(before) + text + ' '.repeat(width)).slice(0, width)
      }
    }
  }

  /**
   * The table as numastat prints it: rows and columns without data left out, and those of zeros too
   * unless `zeros`; lines folded before a column that would pass `screenWidth`, the rest of the
   * columns following in sections of their own.
   */
  render(screenWidth: number, zeros: boolean): string {
    let seen = false
    let nonZero = false
    for (let row = this.headerRows; row < this.rows; row++) {
      for (let col = this.headerCols; col < this.cols; col++) {
        const cell = this.cell(row, col)
        if (cell.type === NULL || cell.type === REPCHAR) continue
        seen = true
        this.rowFlags[row]! |= SEEN
        this.colFlags[col]! |= SEEN
        // numastat tests the cell's bits: a string is non-zero, and so is -0.
        if (cell.type !== DOUBLE || !Object.is(cell.d, 0)) {
          nonZero = true
          this.rowFlags[row]! |= NON_ZERO
          this.colFlags[col]! |= NON_ZERO
        }
      }
    }
    if (!seen) return 'Table has no data.\n'
    if (!nonZero && !zeros) return 'Table has no non-zero data.\n'
    const showCol = (col: number): boolean => {
      const flags = this.colFlags[col]!
      return (flags & ALWAYS_SHOW) !== 0 || ((flags & SEEN) !== 0 && (zeros || (flags & NON_ZERO) !== 0))
    }
    let out = ''
    let col = -1
    let dataCol = this.headerCols
    while (dataCol < this.cols) {
      if (!showCol(dataCol)) {
        dataCol++
        continue
      }
      if (col > 0) out += '\n'
      for (const row of this.order) {
        const flags = this.rowFlags[row]!
        if (row >= this.headerRows && (flags & ALWAYS_SHOW) === 0 && ((flags & SEEN) === 0 || (!zeros && (flags & NON_ZERO) === 0)))
          continue
        let line = ''
        let lineWidth = 0
        for (col = 0; col < this.headerCols; col++) {
          line += this.show(row, col)
          lineWidth += this.width[col]!
        }
        col = dataCol
        for (;;) {
          if (showCol(col)) {
            line += this.show(row, col)
            lineWidth += this.width[col]!
          }
          col++
          if (col >= this.cols || lineWidth + this.width[col]! > screenWidth) break
        }
        out += `${line}\n`
      }
      dataCol = col
    }
    return out
  }
}

// The report.

interface Settings {
  compress: boolean
  zeros: boolean
  sort: boolean
  sortNode: number
  verbose: boolean
  compat: boolean
  screenWidth: number
  nodes: number[]
  /** "Node 0" ... and "Total" ("node0" ... in the compatible form). */
  headers: string[]
  pageSize: number
  hugePageSize: number
}

/** NUMASTAT_WIDTH, else 80 on a terminal and no folding otherwise; never under 32. */
function screenWidth(env: NodeJS.ProcessEnv, isTTY: boolean): number {
  let width = 80
  const text = env.NUMASTAT_WIDTH
  if (text !== undefined) {
    width = atoi(text)
    if (width < 1 || width > 10000000) width = 80
  } else if (!isTTY) {
    width = 10000000
  }
  return Math.max(width, 32)
}

function commandName(pid: number): string | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/status`, 'latin1')
  } catch {
    return undefined
  }
  for (const chunk of fgetsChunks(text, SMALL_BUF)) {
    if (!chunk.startsWith('Name:')) continue
    return chunk
      .slice(5)
      .replace(/^[ \t\n\v\f\r]+/, '')
      .replace(/\n$/, '')
  }
  return undefined
}

/** printf's "%s" of a missing string. */
const str = (s: string | undefined): string => s ?? '(null)'

/** Processes whose name or command line contains `pattern` (numastat's search; this process excluded). */
function searchPattern(pattern: string, pids: number[]): string {
  let found = 0
  let names: string[] = []
  try {
    names = readdirSync('/proc').filter((name) => /^\d/.test(name))
  } catch (err) {
    // perror("Couldn't open /proc"): numastat carries on with no match.
    void err
  }
  for (const name of names) {
    const pid = atoi(name)
    let text = commandName(pid) ?? ''
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1').replace(/\0/g, ' ')
      text = `${text} ${cmdline}`.slice(0, BUF - 1)
    } catch {
      // No command line to search.
    }
    if (text.includes(pattern) && pid !== process.pid) {
      pids.push(pid)
      found++
    }
  }
  return found === 0 ? `Found no processes containing pattern: "${pattern}"\n` : ''
}

/** The node-file report (numastat counters or meminfo), as numastat's show_info_from_system_file. */
function systemReport(
  s: Settings,
  file: 'numastat' | 'meminfo',
  rows: readonly (readonly [string, string])[],
  offset: number,
): { out: string; exit?: Exit } {
  const headerRows = s.compat ? 1 : 2
  const nodeCount = s.nodes.length
  const table = new Table(headerRows, 1, rows.length, nodeCount + 1)
  const totalCol = 1 + nodeCount
  const index = new Map<string, number>()
  rows.forEach(([token, label], row) => {
    if (!index.has(token)) index.set(token, row)
    table.string(headerRows + row, 0, s.compat ? token : label)
  })
  table.setWidth(0, 16)
  table.justify(0, LEFT)
  let out = ''
  for (let k = 0; k < nodeCount + (s.compat ? 0 : 1); k++) {
    const col = 1 + k
    table.string(0, col, s.headers[k]!)
    if (!s.compat) {
      table.repchar(1, col, '-')
      table.places[col] = s.compress ? 0 : 2
    }
    table.setWidth(col, 16)
    table.justify(col, RIGHT)
    if (k === nodeCount) break
    const name = `${NODE_DIR}/node${s.nodes[k]}/${file}`
    let text: string
    try {
      text = readFileSync(name, 'latin1')
    } catch (err) {
      return { out, exit: new Exit(1, `cannot open ${name}: ${strerror(err)}\n`) }
    }
    for (const chunk of fgetsChunks(text, SMALL_BUF)) {
      const tok = tokens(chunk, /[ \t\r\n:]+/)
      if (tok.length === 0) continue
      const key = tok[offset]
      if (key === undefined) continue
      const row = index.get(key)
      if (row === undefined) {
        out += `Token ${key} not in hash table.\n`
        continue
      }
      let value = atol(tok[1 + offset])
      if (!s.compat) {
        let multiplier = 1
        if (tok.length < 4) multiplier = s.pageSize
        else if (tok[2]!.startsWith('HugePages')) multiplier = s.hugePageSize
        else if (tok[4]?.startsWith('kB') === true) multiplier = KILOBYTE
        value *= multiplier
        value /= MEGABYTE
      }
      table.assign(headerRows + row, col, value)
      table.add(headerRows + row, totalCol, value)
    }
  }
  if (s.compress) for (let col = 0; col < table.cols; col++) table.fitWidth(col, 4, 16)
  if (s.sort) table.sortDescending(headerRows, headerRows + rows.length - 1, sortColumn(s))
  return { out: out + table.render(s.screenWidth, s.zeros) }
}

/** numastat's sort column: `-s<N>` takes the N-th node's id as a column offset (right while ids run 0, 1, 2...). */
function sortColumn(s: Settings): number {
  return s.sortNode < 0 || s.sortNode >= s.nodes.length ? 1 + s.nodes.length : 1 + s.nodes[s.sortNode]!
}

/** The -p report, as numastat's show_process_info: a table per process, or one row per process. */
function processReport(s: Settings, pids: readonly number[]): { out: string; err: string; exit?: Exit } {
  const split = s.verbose || pids.length === 1
  const dataRows = split ? PROCESS_ROWS.length : pids.length
  const nodeCount = s.nodes.length
  const table = new Table(2, 1, dataRows + 2, nodeCount + 1)
  const totalCol = 1 + nodeCount
  const totalRow = 2 + dataRows + 1
  table.string(totalRow, 0, 'Total')
  let out = ''
  let err = ''
  if (split) {
    PROCESS_ROWS.forEach(([, label], row) => table.string(2 + row, 0, label))
  } else {
    table.string(0, 0, 'PID')
    table.repchar(1, 0, '-')
    out += '\nPer-node process memory usage (in MBs)\n'
  }
  table.setWidth(0, 16)
  table.justify(0, LEFT)
  for (let k = 0; k <= nodeCount; k++) {
    const col = 1 + k
    table.string(0, col, s.headers[k]!)
    table.repchar(1, col, '-')
    table.setWidth(col, 16)
    table.places[col] = s.compress ? 0 : 2
    table.justify(col, RIGHT)
  }
  table.zeroData()
  const column = new Map(s.nodes.map((node, k) => [node, 1 + k]))
  for (let k = 0; k < pids.length; k++) {
    const pid = pids[k]!
    if (split) {
      out += `\nPer-node process memory usage (in MBs) for PID ${pid} (${str(commandName(pid))})\n`
      if (k > 0) table.zeroData()
    } else {
      table.string(2 + k, 0, `${pid} (${str(commandName(pid))})`.slice(0, 63))
    }
    const file = `/proc/${pid}/numa_maps`
    let text: string
    try {
      text = readFileSync(file, 'latin1')
    } catch (e) {
      const message = `Can't read ${file}: ${strerror(e)}\n`
      // A file that opens but cannot be read ends numastat; one that does not open is skipped.
      if ((e as { syscall?: unknown }).syscall === 'read') return { out, err, exit: new Exit(1, message) }
      err += message
      continue
    }
    for (const chunk of fgetsChunks(text, BUF)) {
      let category = PRIVATE
      for (const token of tokens(chunk, /[ \t\r\n]+/)) {
        if (category === PRIVATE) {
          for (let c = 0; c < PRIVATE; c++) {
            if (token.startsWith(PROCESS_ROWS[c]![0])) {
              category = c
              break
            }
          }
        }
        if (token[0] !== 'N') continue
        const node = strtol(token.slice(1))
        if (token[1 + node.end] !== '=') return { out, err, exit: new Exit(1, 'node value parse error: Success\n') }
        let value = Number(strtol(token.slice(2 + node.end)).value)
        value *= category === HUGE ? s.hugePageSize : s.pageSize
        value /= MEGABYTE
        const col = column.get(Number(BigInt.asIntN(32, node.value)))
        if (col === undefined) continue
        const row = split ? 2 + category : 2 + k
        table.add(row, col, value)
        table.add(row, totalCol, value)
        table.add(totalRow, col, value)
        table.add(totalRow, totalCol, value)
      }
    }
    if (split || k + 1 === pids.length) {
      if (s.compress) {
        for (let col = 0; col < table.cols; col++) table.fitWidth(col, 4, 16)
      } else {
        // Wider labels (up to 24) so that "PID (command)" is not cut.
        table.fitWidth(0, 16, 24)
      }
      table.rowFlags[totalRow - 1]! |= ALWAYS_SHOW
      for (let col = 0; col < table.cols; col++) table.repchar(totalRow - 1, col, '-')
      if (s.sort) table.sortDescending(2, 2 + dataRows - 1, sortColumn(s))
      out += table.render(s.screenWidth, s.zeros)
    }
  }
  return { out, err }
}

function nodeIds(): number[] | undefined {
  let names: string[]
  try {
    names = readdirSync(NODE_DIR)
  } catch {
    return undefined
  }
  const ids = names.filter((name) => /^node\d+$/.test(name)).map((name) => atoi(name.slice(4)))
  return ids.length === 0 ? undefined : ids.sort((a, b) => a - b)
}

export interface StatResult {
  stdout: string
  stderr: string
  status: number
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/**
 * numastat's command line, run: `args` as they follow `mempolicy stat`. Nothing is written; the
 * report comes back with numastat's exit status. `env` (NUMASTAT_WIDTH) and `isTTY` (stdout is a
 * terminal) decide the line width as they do for numastat.
 */
export function stat(args: readonly string[], env: NodeJS.ProcessEnv = process.env, isTTY = process.stdout.isTTY === true): StatResult {
  let stdout = ''
  let stderr = ''
  try {
    const s: Settings = {
      compress: false,
      zeros: true,
      sort: false,
      sortNode: -1,
      verbose: false,
      compat: args.length === 0,
      screenWidth: 0,
      nodes: [],
      headers: [],
      pageSize,
      hugePageSize: 0,
    }
    let system = false
    let counters = false
    const pids: number[] = []
    const operands: string[] = []
    const usage = (message = ''): never => {
      throw new Exit(1, message + USAGE)
    }
    const pidOrPattern = (text: string): void => {
      if (allDigits(text)) pids.push(atoi(text))
      else stdout += searchPattern(text, pids)
    }
    // GNU getopt_long with "cmnp:s::vVz?" and --help: options and operands in any order, `--` ends options.
    for (let i = 0; i < args.length; i++) {
      const arg = args[i]!
      if (arg === '--') {
        operands.push(...args.slice(i + 1))
        break
      }
      if (arg.startsWith('--')) {
        const [name = '', value] = arg.slice(2).split(/=(.*)/s)
        if (!'help'.startsWith(name)) usage(`${NAME}: unrecognized option '${arg}'\n`)
        if (value !== undefined) usage(`${NAME}: option '--help' doesn't allow an argument\n`)
        usage()
      }
      if (arg.length < 2 || arg[0] !== '-') {
        operands.push(arg)
        continue
      }
      for (let j = 1; j < arg.length; j++) {
        const option = arg[j]!
        const rest = arg.slice(j + 1)
        if (option === 'p') {
          let value = rest
          if (value === '') {
            if (i + 1 >= args.length) usage(`${NAME}: option requires an argument -- 'p'\n`)
            value = args[++i]!
          }
          pidOrPattern(value)
          break
        }
        if (option === 's') {
          s.sort = true
          if (rest !== '' && allDigits(rest)) s.sortNode = atoi(rest)
          break
        }
        switch (option) {
          case 'c':
            s.compress = true
            break
          case 'm':
            system = true
            break
          case 'n':
            counters = true
            break
          case 'v':
            s.verbose = true
            break
          case 'z':
            s.zeros = false
            break
          case 'V':
            stdout += `${NAME} version: ${version()}\n`
            throw new Exit(0)
          case '?':
            usage()
            break
          default:
            usage(`${NAME}: invalid option -- '${option}'\n`)
        }
      }
    }
    s.screenWidth = screenWidth(env, isTTY)
    for (const operand of operands) pidOrPattern(operand)
    const nodes = nodeIds()
    if (nodes === undefined) {
      throw new Exit(
        1,
        s.compat
          ? 'sysfs not mounted or system not NUMA aware: No such file or directory\n'
          : `Couldn't open ${NODE_DIR}: No such file or directory\n`,
      )
    }
    s.nodes = nodes
    s.headers = [...nodes.map((n) => (s.compat ? `node${n}` : `Node ${n}`)), 'Total']
    if (s.compat) {
      const report = systemReport(s, 'numastat', NUMASTAT_ROWS, 0)
      stdout += report.out
      if (report.exit !== undefined) throw report.exit
      return { stdout, stderr, status: 0 }
    }
    try {
      readFileSync('/proc/meminfo', 'latin1')
    } catch (err) {
      throw new Exit(1, `Can't open /proc/meminfo: ${strerror(err)}\n`)
    }
    s.hugePageSize = defaultHugePageSize()
    if (pids.length > 0) {
      const unique = [...new Set(pids)].sort((a, b) => (a - b) | 0)
      const report = processReport(s, unique)
      stdout += report.out
      stderr += report.err
      if (report.exit !== undefined) throw report.exit
    }
    if (system) {
      stdout += '\nPer-node system memory usage (in MBs):\n'
      const report = systemReport(
        s,
        'meminfo',
        MEMINFO_ROWS.map((row) => [row, row] as const),
        2,
      )
      stdout += report.out
      if (report.exit !== undefined) throw report.exit
    }
    if (counters || (pids.length === 0 && !system)) {
      stdout += '\nPer-node numastat info (in MBs):\n'
      const report = systemReport(s, 'numastat', NUMASTAT_ROWS, 0)
      stdout += report.out
      if (report.exit !== undefined) throw report.exit
    }
    return { stdout, stderr, status: 0 }
  } catch (err) {
    if (!(err instanceof Exit)) throw err
    return { stdout, stderr: stderr + err.stderr, status: err.status }
  }
}

/** `mempolicy stat ARGS`: prints the report, returns the exit status. */
export function main(args: readonly string[]): number {
  const result = stat(args)
  process.stdout.write(result.stdout)
  process.stderr.write(result.stderr)
  return result.status
}
