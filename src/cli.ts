#!/usr/bin/env node
// The `mempolicy` command: numactl's memory-policy options (a command run under a policy), --show and
// --hardware in numactl's output format, and `mempolicy maps PID`, where a process's pages live.
import type { ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { binding, supportedPlatform } from './binding'
import { constants } from './constants'
import { MempolicyError } from './errors'
import { allNodes, getMempolicy, isSupported, memsAllowed, setMempolicy } from './mempolicy'
import { formatIdList, parseIdList } from './ids'
import type { Policy } from './policy'
import { spawn } from './spawn'
import { highestPossibleNode, topology } from './topology'

const NAME = 'mempolicy'

const USAGE = `usage: mempolicy [--interleave= | -i <nodes>] [--weighted-interleave= | -w <nodes>]
                 [--membind= | -m <nodes>] [--balancing | -b] [--preferred= | -p <node>]
                 [--preferred-many= | -P <nodes>] [--localalloc | -l] [--] command args ...
       mempolicy [<policy>] --show | -s
       mempolicy --hardware | -H
       mempolicy maps [--mappings] [--json] <pid>
       mempolicy --help | -h
       mempolicy --version

Runs a command under a memory policy, as numactl does. One policy per invocation.
<nodes> is a comma-separated list of node numbers and A-B ranges, or all; !<nodes> is every
allowed node except those, and +<nodes> counts within the allowed nodes (cpuset-relative).
Numbers are decimal.
--balancing (-b) adds Linux NUMA balancing to --membind (or --preferred-many, Linux 6.10+).
maps: the pages of process <pid> per node (from /proc/<pid>/numa_maps); --mappings breaks them
down per mapping, --json prints the same as JSON.
`

/** A bad command line: message on stderr, usage hint, exit 1, nothing run. */
class UsageError extends Error {}

/** A failure that is not a usage error: message on stderr, exit `status`. */
class Failure extends Error {
  constructor(message: string, readonly status = 1, options?: ErrorOptions) {
    super(message, options)
  }
}

// numactl options this command does not have, and what to use instead.
const FOREIGN: Readonly<Record<string, string>> = {
  cpunodebind: 'CPU placement is not memory policy: use numactl -N or taskset',
  cpubind: 'CPU placement is not memory policy: use numactl -N or taskset',
  physcpubind: 'CPU placement is not memory policy: use numactl -C or taskset',
  all: 'node lists here are always cpuset-aware; there is no --all',
  shm: 'policies for shared memory segments and files are not supported: use numactl',
  file: 'policies for shared memory segments and files are not supported: use numactl',
  offset: 'policies for shared memory segments and files are not supported: use numactl',
  length: 'policies for shared memory segments and files are not supported: use numactl',
  strict: 'policies for shared memory segments and files are not supported: use numactl',
  shmmode: 'policies for shared memory segments and files are not supported: use numactl',
  shmid: 'policies for shared memory segments and files are not supported: use numactl',
  huge: 'policies for shared memory segments and files are not supported: use numactl',
  touch: 'policies for shared memory segments and files are not supported: use numactl',
  dump: 'policies for shared memory segments and files are not supported: use numactl',
  'dump-nodes': 'policies for shared memory segments and files are not supported: use numactl',
  verify: 'policies for shared memory segments and files are not supported: use numactl',
  'cpu-compress': 'not supported',
}

const OPTIONS = {
  interleave: { type: 'string', short: 'i' },
  'weighted-interleave': { type: 'string', short: 'w' },
  membind: { type: 'string', short: 'm' },
  preferred: { type: 'string', short: 'p' },
  'preferred-many': { type: 'string', short: 'P' },
  localalloc: { type: 'boolean', short: 'l' },
  balancing: { type: 'boolean', short: 'b' },
  show: { type: 'boolean', short: 's' },
  hardware: { type: 'boolean', short: 'H' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  // numactl's, recognised only to say they are not supported.
  cpunodebind: { type: 'string', short: 'N' },
  cpubind: { type: 'string', short: 'c' },
  physcpubind: { type: 'string', short: 'C' },
  all: { type: 'boolean', short: 'a' },
  shm: { type: 'string', short: 'S' },
  file: { type: 'string', short: 'f' },
  offset: { type: 'string', short: 'o' },
  length: { type: 'string', short: 'L' },
  strict: { type: 'boolean', short: 't' },
  shmmode: { type: 'string', short: 'M' },
  shmid: { type: 'string', short: 'I' },
  huge: { type: 'boolean', short: 'u' },
  touch: { type: 'boolean', short: 'T' },
  dump: { type: 'boolean', short: 'd' },
  'dump-nodes': { type: 'boolean', short: 'D' },
  verify: { type: 'boolean', short: 'V' },
  'cpu-compress': { type: 'boolean' },
} as const

type OptionName = keyof typeof OPTIONS

const POLICY_OPTIONS = ['interleave', 'weighted-interleave', 'membind', 'preferred', 'preferred-many', 'localalloc'] as const
type PolicyOption = (typeof POLICY_OPTIONS)[number]

const MODE_OF: Readonly<Record<PolicyOption, Policy['mode']>> = {
  interleave: 'interleave',
  'weighted-interleave': 'weighted-interleave',
  membind: 'bind',
  preferred: 'preferred',
  'preferred-many': 'preferred-many',
  localalloc: 'local',
}

function takesValue(name: string): boolean {
  return (OPTIONS as Record<string, { type: string }>)[name]?.type === 'string'
}

function shortName(letter: string): string | undefined {
  for (const [name, option] of Object.entries(OPTIONS)) if ('short' in option && option.short === letter) return name
  return undefined
}

/**
 * Splits argv into options and the command, as numactl's getopt ("+": stop at the first operand)
 * does: the command starts at `--` or at the first argument that is neither an option nor an
 * option's value, so `mempolicy -i 0 ls -l` runs `ls -l`.
 */
function splitCommand(args: readonly string[]): { options: string[]; command: string[] } {
  let i = 0
  while (i < args.length) {
    const arg = args[i]!
    if (arg === '--') return { options: args.slice(0, i), command: args.slice(i + 1) }
    if (arg.startsWith('--')) {
      i += !arg.includes('=') && takesValue(arg.slice(2)) ? 2 : 1
    } else if (arg.startsWith('-') && arg.length > 1) {
      let next = i + 1
      for (let j = 1; j < arg.length; j++) {
        const name = shortName(arg[j]!)
        if (name !== undefined && takesValue(name)) {
          if (j === arg.length - 1) next = i + 2
          break
        }
      }
      i = next
    } else {
      break
    }
  }
  return { options: args.slice(0, Math.min(i, args.length)), command: args.slice(Math.min(i, args.length)) }
}

function possible(): string {
  return `possible nodes: ${formatIdList([...Array(highestPossibleNode() + 1).keys()])}`
}

/** numactl's node-list syntax, as far as it is supported (README "Command line"). */
function cliNodes(option: string, text: string): number[] {
  let body = text
  const invert = body.startsWith('!')
  if (invert) body = body.slice(1)
  const relative = body.startsWith('+')
  if (relative) body = body.slice(1)
  if (/(^|[^0-9])0(x|[0-9])/i.test(body)) {
    throw new UsageError(`--${option} ${JSON.stringify(text)}: node numbers are decimal here (numactl reads 010 as octal 8 and 0x10 as hex 16)`)
  }
  let nodes: number[]
  try {
    nodes = parseIdList(body, `--${option}`, allNodes)
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_OUT_OF_RANGE') {
      throw new UsageError(`--${option} ${JSON.stringify(text)}: names a node that does not exist (${possible()})`, { cause: err })
    }
    throw new UsageError(`--${option} ${JSON.stringify(text)}: not a node list such as 0-3,7 or all`, { cause: err })
  }
  const allowed = relative || invert ? allNodes() : []
  if (relative && body.trim() !== 'all') {
    const beyond = nodes.find((n) => n >= allowed.length)
    if (beyond !== undefined) {
      throw new UsageError(`--${option} ${JSON.stringify(text)}: +${beyond} is out of range: only ${allowed.length} allowed node${allowed.length === 1 ? '' : 's'} with memory (${formatIdList(allowed)})`)
    }
    nodes = nodes.map((n) => allowed[n]!)
  }
  if (invert) {
    const drop = new Set(nodes)
    nodes = allowed.filter((n) => !drop.has(n))
  }
  const highest = highestPossibleNode()
  const missing = nodes.filter((n) => n > highest)
  if (missing.length > 0) throw new UsageError(`--${option} ${JSON.stringify(text)}: node ${formatIdList(missing)} does not exist (${possible()})`)
  return [...new Set(nodes)].sort((a, b) => a - b)
}

interface Parsed {
  policy?: Policy
  policyOption?: PolicyOption
  show: boolean
  hardware: boolean
  help: boolean
  version: boolean
  command: string[]
}

function parseCommandLine(args: readonly string[]): Parsed {
  const { options, command } = splitCommand(args)
  let tokens
  try {
    tokens = parseArgs({ args: options, options: OPTIONS, strict: true, allowPositionals: false, tokens: true }).tokens
  } catch (err) {
    throw new UsageError((err as Error).message.split('\n')[0]!.replace(/^Unknown option/, 'unrecognized option'))
  }
  const parsed: Parsed = { show: false, hardware: false, help: false, version: false, command }
  let balancing = false
  let nodes: number[] = []
  for (const token of tokens) {
    if (token.kind !== 'option') continue
    const name = token.name as OptionName
    if (name in FOREIGN) throw new UsageError(`--${name} is a numactl option this command does not have: ${FOREIGN[name]}`)
    if ((POLICY_OPTIONS as readonly string[]).includes(name)) {
      if (parsed.policyOption !== undefined) throw new UsageError('Conflicting policies')
      parsed.policyOption = name as PolicyOption
      if (name !== 'localalloc') {
        if (token.value === undefined || token.value === '') throw new UsageError(`--${name} needs a node list`)
        nodes = cliNodes(name, token.value)
        if (nodes.length === 0) throw new UsageError(`--${name} ${JSON.stringify(token.value)}: no node left in the list`)
      }
    } else if (name === 'balancing') {
      balancing = true
    } else {
      parsed[name as 'show' | 'hardware' | 'help' | 'version'] = true
    }
  }
  const option = parsed.policyOption
  if (option === 'preferred' && nodes.length !== 1) {
    throw new UsageError(`--preferred takes exactly one node (got ${formatIdList(nodes)}); for several, use --preferred-many`)
  }
  if (balancing && option !== 'membind' && option !== 'preferred-many') {
    throw new UsageError('--balancing applies only to --membind (or --preferred-many)')
  }
  if (option !== undefined) {
    parsed.policy = option === 'localalloc'
      ? { mode: 'local' }
      : { mode: MODE_OF[option], nodes, ...(balancing ? { flags: ['numa-balancing'] as const } : {}) }
  }
  if (parsed.help || parsed.version) return parsed
  if (parsed.show && parsed.hardware) throw new UsageError('--show and --hardware are separate commands')
  if (parsed.hardware && parsed.policy !== undefined) throw new UsageError('--hardware takes no policy')
  if ((parsed.show || parsed.hardware) && command.length > 0) {
    throw new UsageError(`--${parsed.show ? 'show' : 'hardware'} runs no command (got ${JSON.stringify(command[0])})`)
  }
  if (!parsed.show && !parsed.hardware && command.length === 0) {
    throw new UsageError(parsed.policy === undefined ? 'no command given' : 'no command given to run under the policy (to see a policy, add --show)')
  }
  return parsed
}

// --show and --hardware: numactl's output, line for line (numactl 2.0.16; README "Command line" lists the differences).

function nodeDirs(): number[] {
  try {
    return readdirSync('/sys/devices/system/node').filter((n) => /^node\d+$/.test(n)).map((n) => Number(n.slice(4))).sort((a, b) => a - b)
  } catch {
    return []
  }
}

function cpuList(text: string): number[] {
  const cpus: number[] = []
  for (const part of text.trim().split(',')) {
    if (part === '') continue
    const [a, b] = part.split('-').map(Number)
    for (let c = a!; c <= (b ?? a!); c++) cpus.push(c)
  }
  return cpus
}

function nodeCpus(node: number): number[] {
  try {
    return cpuList(readFileSync(`/sys/devices/system/node/node${node}/cpulist`, 'latin1'))
  } catch {
    return []
  }
}

function affinity(): number[] {
  const match = /^Cpus_allowed_list:\s*(.*)$/m.exec(readFileSync('/proc/self/status', 'latin1'))
  return match === null ? [] : cpuList(match[1]!)
}

const mask = (name: string, nodes: readonly number[]): string => `${name}: ${nodes.map((n) => `${n} `).join('')}\n`

function show(): string {
  const cpus = affinity()
  let out = mask('physcpubind', cpus)
  if (!isSupported()) return `${out}No NUMA support available on this system.\n`
  out = ''
  const info = getMempolicy()
  const allowed = memsAllowed()
  const next = binding().getMempolicy(null, 0, undefined, 0, constants.MPOL_F_NODE)
  const cur = next < 0 ? 0 : next
  const interleaving = info.mode === 'interleave' || info.mode === 'weighted-interleave'
  out += `policy: ${info.mode}\n`
  if (info.flags.length > 0) out += `flags: ${info.flags.join(' ')}\n`
  switch (info.mode) {
    case 'default':
    case 'local': out += 'preferred node: current\n'; break
    case 'preferred': out += `preferred node: ${info.nodes[0] ?? 0}\n`; break
    case 'bind': out += `preferred node: ${info.nodes[0] ?? 0}\n`; break
    case 'preferred-many': out += `preferred node: ${cur} (preferred-many)\n`; break
    default: out += `preferred node: ${cur} (interleave next)\n`
  }
  if (interleaving) out += `${mask('interleavemask', info.nodes)}interleavenode: ${cur}\n`
  const running = new Set(cpus)
  const cpubind = nodeDirs().filter((n) => allowed.includes(n) && nodeCpus(n).some((c) => running.has(c)))
  out += mask('physcpubind', cpus) + mask('cpubind', cpubind) + mask('nodebind', cpubind)
  out += mask('membind', info.mode === 'bind' ? info.nodes : allowed)
  out += mask('preferred', info.nodes)
  return out
}

/** printf("% 3d", n): a sign column (space) and a width of three. */
const col = (n: number): string => (n < 0 ? `${n}` : ` ${n}`).padStart(3)

function hardware(): string | undefined {
  const nodes = nodeDirs()
  if (!isSupported() || nodes.length === 0) return undefined
  const info = new Map(topology().nodes.map((n) => [n.id, n]))
  const mb = (bytes: number | undefined): string => (bytes === undefined ? '<not available>' : `${Math.floor(bytes / 1048576)} MB`)
  let out = `available: ${nodes.length} nodes (${formatIdList(nodes)})\n`
  for (const n of nodes) {
    out += `node ${n} cpus:${nodeCpus(n).map((c) => ` ${c}`).join('')}\n`
    out += `node ${n} size: ${mb(info.get(n)?.memTotal)}\n`
    out += `node ${n} free: ${mb(info.get(n)?.memFree)}\n`
  }
  const distance = (a: number, b: number): number => info.get(a)?.distances[b] ?? 0
  if (distance(nodes[nodes.length - 1]!, nodes[0]!) === 0) return `${out}No distance information available.\n`
  out += `node distances:\nnode ${nodes.map((n) => `${col(n)} `).join('')}\n`
  for (const a of nodes) out += `${col(a)}: ${nodes.map((b) => `${col(distance(a, b))} `).join('')}\n`
  return out
}

// maps PID: where a process's pages live.

interface Mapping {
  address: string
  policy: string
  /** 'heap', 'stack', 'anon', or the file mapped. */
  kind: string
  huge: boolean
  /** Resident bytes per node. */
  nodes: Record<number, number>
}

const FIELD = /^(heap|stack|huge|file=|anon=|dirty=|mapped=|mapmax=|swapcache=|active=|writeback=|N\d+=|kernelpagesize_kB=)/

/** Parses numa_maps (KERNEL.md C1): the policy may hold spaces ('prefer (many)'), so fields are found by name. */
function parseNumaMaps(text: string): Mapping[] {
  const mappings: Mapping[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    const [address, ...tokens] = line.split(' ')
    const first = tokens.findIndex((t) => FIELD.test(t))
    const cut = first === -1 ? tokens.length : first
    const fields = tokens.slice(cut)
    const pageKb = Number(fields.find((f) => f.startsWith('kernelpagesize_kB='))?.slice(18) ?? 4)
    const nodes: Record<number, number> = {}
    let kind = 'anon'
    for (const f of fields) {
      const match = /^N(\d+)=(\d+)$/.exec(f)
      if (match !== null) nodes[Number(match[1])] = Number(match[2]) * pageKb * 1024
      else if (f === 'heap' || f === 'stack') kind = f
      else if (f.startsWith('file=')) kind = f.slice(5).replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))
    }
    mappings.push({ address: address!, policy: tokens.slice(0, cut).join(' '), kind, huge: fields.includes('huge'), nodes })
  }
  return mappings
}

function size(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++ }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}

const BLOCKS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉']

function bar(fraction: number, width: number, unicode: boolean): string {
  if (!unicode) return '#'.repeat(Math.round(fraction * width)).padEnd(width)
  const eighths = Math.round(fraction * width * 8)
  return ('█'.repeat(Math.floor(eighths / 8)) + BLOCKS[eighths % 8]).padEnd(width)
}

function maps(args: readonly string[]): string {
  let parsed
  try {
    parsed = parseArgs({ args: [...args], options: { mappings: { type: 'boolean' }, json: { type: 'boolean' } }, allowPositionals: true, strict: true })
  } catch (err) {
    throw new UsageError(`maps: ${(err as Error).message.split('\n')[0]}`)
  }
  if (parsed.positionals.length !== 1) throw new UsageError('maps takes one process id: mempolicy maps <pid>')
  const pid = parsed.positionals[0]!
  if (pid !== 'self' && !/^[1-9]\d*$/.test(pid)) throw new UsageError(`maps: ${JSON.stringify(pid)} is not a process id`)
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/numa_maps`, 'latin1')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT') throw new Failure(`maps: no process ${pid}${supportedPlatform ? ' (or a kernel without NUMA support)' : ''}`)
    if (code === 'EACCES' || code === 'EPERM') throw new Failure(`maps: cannot read /proc/${pid}/numa_maps: permission denied (it needs ptrace access to the process: same user, or root)`)
    throw err
  }
  const mappings = parseNumaMaps(text)
  let command = ''
  try {
    command = readFileSync(`/proc/${pid}/comm`, 'latin1').trim()
  } catch { /* exited meanwhile */ }
  const totals: Record<number, number> = {}
  const withMemory = new Set(topology().withMemory)
  for (const n of nodeDirs()) if (withMemory.has(n)) totals[n] = 0
  for (const m of mappings) for (const [n, bytes] of Object.entries(m.nodes)) totals[Number(n)] = (totals[Number(n)] ?? 0) + bytes
  const nodes = Object.keys(totals).map(Number).sort((a, b) => a - b)
  const total = nodes.reduce((sum, n) => sum + totals[n]!, 0)
  const resident = mappings.filter((m) => Object.keys(m.nodes).length > 0)

  if (parsed.values.json === true) {
    const result: Record<string, unknown> = { pid: pid === 'self' ? process.pid : Number(pid), command, total, nodes: totals }
    if (parsed.values.mappings === true) result.mappings = resident
    return `${JSON.stringify(result, null, 2)}\n`
  }
  const unicode = /utf-?8/i.test(process.env.LC_ALL || process.env.LC_CTYPE || process.env.LANG || '')
  const width = Math.max(10, Math.min(50, (process.stdout.columns || 80) - 40))
  let out = `pid ${pid === 'self' ? process.pid : pid} (${command}): ${size(total)} resident in ${resident.length} of ${mappings.length} mappings\n`
  const label = Math.max(...nodes.map((n) => `node ${n}`.length))
  const sizes = nodes.map((n) => size(totals[n]!))
  const sizeWidth = Math.max(...sizes.map((s) => s.length))
  nodes.forEach((n, k) => {
    const share = total === 0 ? 0 : totals[n]! / total
    out += `${`node ${n}`.padEnd(label)}  ${bar(share, width, unicode)}  ${sizes[k]!.padStart(sizeWidth)}  ${(share * 100).toFixed(1).padStart(5)}%\n`
  })
  if (parsed.values.mappings === true && resident.length > 0) {
    const policyWidth = Math.max(6, ...resident.map((m) => m.policy.length))
    const cell = Math.max(10, ...resident.flatMap((m) => nodes.map((n) => size(m.nodes[n] ?? 0).length)))
    out += `\n${'address'.padEnd(16)}  ${'policy'.padEnd(policyWidth)}  ${nodes.map((n) => `node ${n}`.padStart(cell)).join('  ')}  mapping\n`
    for (const m of resident) {
      const cells = nodes.map((n) => (m.nodes[n] === undefined ? '-' : size(m.nodes[n]!)).padStart(cell))
      out += `${m.address.padEnd(16)}  ${m.policy.padEnd(policyWidth)}  ${cells.join('  ')}  ${m.kind}${m.huge ? ' (huge)' : ''}\n`
    }
  }
  return out
}

// Running the command.

/** The exit status of a command that could not be started, as shells and env(1) report it. */
function startFailure(command: string, err: NodeJS.ErrnoException): never {
  if (err.code === 'ENOENT') throw new Failure(`${command}: command not found`, 127, { cause: err })
  throw new Failure(`${command}: ${err.code === 'EACCES' ? 'permission denied' : err.message}`, 126, { cause: err })
}

// Signals whose default action ends the process without a core dump and that Node leaves at their
// default once our listener is gone: a child ended by one of them ends this process the same way.
// For the rest (core-dumping signals, SIGUSR1 which starts Node's inspector, SIGPIPE which Node
// ignores) the exit status is 128 + the signal number, as a shell reports it.
const RERAISE = new Set(['SIGHUP', 'SIGINT', 'SIGKILL', 'SIGALRM', 'SIGTERM', 'SIGUSR2', 'SIGPOLL', 'SIGIO', 'SIGPROF', 'SIGVTALRM', 'SIGSTKFLT', 'SIGPWR'])
const FORWARD = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * True when this process is in the terminal's foreground process group: then a SIGINT or SIGHUP
 * came from the terminal, which sent it to the child too (same group), so it is not sent again.
 */
function inForeground(): boolean {
  try {
    const stat = readFileSync('/proc/self/stat', 'latin1')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const [pgrp, , tty, tpgid] = [fields[2], fields[3], fields[4], fields[5]]
    return tty !== '0' && pgrp === tpgid
  } catch {
    return false
  }
}

function run(command: string[], policy: Policy | undefined): Promise<never> {
  const [file, ...args] = command
  // Listening before the child exists: it may start and be signalled before spawn() returns here.
  let child: ChildProcess | undefined
  const early: NodeJS.Signals[] = []
  const forward = (signal: NodeJS.Signals): void => {
    if (signal !== 'SIGTERM' && inForeground()) return
    if (child === undefined) early.push(signal)
    else child.kill(signal)
  }
  for (const signal of FORWARD) process.on(signal, forward)
  const unlisten = (): void => { for (const s of FORWARD) process.off(s, forward) }
  try {
    child = spawn(file!, args, { stdio: 'inherit', ...(policy === undefined ? {} : { mempolicy: policy }) })
  } catch (err) {
    unlisten()
    if (err instanceof MempolicyError) throw new Failure(`setting the policy: ${err.message}`)
    throw err
  }
  for (const signal of early) child.kill(signal)
  const started = child
  return new Promise((_, reject) => {
    started.once('error', (err: NodeJS.ErrnoException) => {
      unlisten()
      try {
        startFailure(file!, err)
      } catch (failure) {
        reject(failure)
      }
    })
    started.once('exit', (code, signal) => {
      unlisten()
      if (signal === null) process.exit(code ?? 1)
      const number = os.constants.signals[signal]
      process.exitCode = 128 + number
      if (RERAISE.has(signal)) {
        process.kill(process.pid, signal)
        // Still here: the signal is ignored by this process (a parent's SIG_IGN); exit as a shell would.
        setImmediate(() => process.exit(128 + number))
      } else {
        process.exit(128 + number)
      }
    })
  })
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

async function main(argv: readonly string[]): Promise<number> {
  if (!supportedPlatform && !argv.some((a) => a === '--help' || a === '-h' || a === '--version')) {
    throw new Failure(`memory policy is a Linux kernel feature and this is ${process.platform}`)
  }
  if (argv[0] === 'maps') {
    process.stdout.write(maps(argv.slice(1)))
    return 0
  }
  const parsed = parseCommandLine(argv)
  if (parsed.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if (parsed.version) {
    process.stdout.write(`${NAME} ${version()}\n`)
    return 0
  }
  if (parsed.hardware) {
    const out = hardware()
    if (out === undefined) throw new Failure('No NUMA available on this system')
    process.stdout.write(out)
    return 0
  }
  if (parsed.show) {
    if (parsed.policy !== undefined) {
      try {
        setMempolicy(parsed.policy)
      } catch (err) {
        if (err instanceof MempolicyError) throw new Failure(`setting the policy: ${err.message}`)
        throw err
      }
    }
    const out = show()
    process.stdout.write(out)
    return out.includes('No NUMA support') ? 1 : 0
  }
  return run(parsed.command, parsed.policy)
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${NAME}: ${err.message}\nTry 'mempolicy --help' for more information.\n`)
      process.exitCode = 1
    } else if (err instanceof Failure) {
      process.stderr.write(`${NAME}: ${err.message}\n`)
      process.exitCode = err.status
    } else {
      process.stderr.write(`${NAME}: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
      process.exitCode = 1
    }
  },
)
