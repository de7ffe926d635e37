// numactl's command line: the policy options, one policy per invocation, and running a command under
// it. --show and --hardware print what numactl prints (show.ts).
import type { ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { MempolicyError } from '../errors'
import { formatIdList, parseIdList } from '../ids'
import { allNodes, setMempolicy } from '../mempolicy'
import type { Policy } from '../policy'
import { spawn } from '../spawn'
import { highestPossibleNode } from '../topology'
import { Failure, UsageError } from './failures'
import { hardware, show } from './show'

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
      : { mode: MODE_OF[option], nodes, ...(balancing ? { flags: ['numa-balancing'] as const } : {}) } as Policy
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

/** `mempolicy [numactl options] ...`: the exit status, or a promise that never settles while the command runs. */
export async function numactl(argv: readonly string[], version: () => string): Promise<number> {
  const parsed = parseCommandLine(argv)
  if (parsed.help) {
    process.stdout.write(USAGE)
    return 0
  }
  if (parsed.version) {
    process.stdout.write(`mempolicy ${version()}\n`)
    return 0
  }
  if (parsed.hardware) {
    process.stdout.write(hardware())
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
    const shown = show()
    process.stdout.write(shown.out)
    for (const line of shown.warning?.split('\n') ?? []) process.stderr.write(`mempolicy: ${line}\n`)
    return shown.status
  }
  return run(parsed.command, parsed.policy)
}
