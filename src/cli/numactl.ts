// numactl's command line: the options in numactl's order and with its effects (docs/cli.md lists every
// option and each place this one differs), then the command executed in place of this process.
// Options act as numactl's do, one after another: CPU binding at once, a policy on shared memory at
// once (--touch and --dump after it see it), the process's own policy just before --show or the exec.
import { readFileSync } from 'node:fs'
import { binding } from '../binding'
import type { Mode } from '../constants'
import { cpuMask, cpusetCpus, getCpuAffinity, highestPossibleCpu, nodeCpus, onlineCpus } from '../cpu'
import { MempolicyError } from '../errors'
import { CPU_IDS, formatIdList } from '../ids'
import { isSupported, memsAllowed, setMempolicy } from '../mempolicy'
import type { Policy } from '../policy'
import { nodeState } from '../topology'
import { execInPlace } from './exec'
import { Failure, UsageError } from './failures'
import { GetoptError, getopt, type OptionSpec } from './getopt'
import { ListError, parseList, type ListContext } from './lists'
import { SharedMemory, memsize, print, strerror } from './shm'
import { hardware, show } from './show'

const USAGE = `usage: mempolicy [--all | -a] [--balancing | -b]
                 [--interleave= | -i <nodes>] [--weighted-interleave= | -w <nodes>]
                 [--preferred= | -p <node>] [--preferred-many= | -P <nodes>]
                 [--physcpubind= | -C <cpus>] [--cpunodebind= | -N <nodes>]
                 [--membind= | -m <nodes>] [--localalloc | -l] [--] command args ...
       mempolicy [<policy>] --show | -s
       mempolicy --hardware | -H [--cpu-compress]
       mempolicy [--length | -L <length>] [--offset | -o <offset>] [--shmmode | -M <shmmode>]
                 [--strict | -t]
                 [--shmid | -I <id>] --shm | -S <shmkeyfile>
                 [--shmid | -I <id>] --file | -f <tmpfsfile>
                 [--huge | -u] [--touch | -T]
                 memory policy [--dump | -d] [--dump-nodes | -D]
       mempolicy maps [--mappings] [--json] <pid>
       mempolicy stat [numastat's options: -c -m -n -p <pid>|<pattern> -s -v -z]
       mempolicy --help | -h
       mempolicy --version

Runs a command on some CPUs and under a memory policy, as numactl does: the command replaces
mempolicy (same process). One memory policy per invocation:
--interleave | -i, --weighted-interleave | -w, --preferred | -p, --preferred-many | -P,
--membind | -m, --localalloc | -l.
<nodes> is a comma-separated list of node numbers and A-B ranges, or all; <cpus> likewise for CPUs.
!<list> inverts a list, +<list> counts within the allowed nodes or CPUs (cpuset-relative),
and same repeats the previous node list. Numbers are read as C reads them (0x10 is 16, 010 is 8).
--all (-a), before any list, reads lists against every node or CPU instead of the cpuset's.
--balancing (-b) adds Linux NUMA balancing to --membind (or --preferred-many, Linux 6.10+).
--shm / --file give the policy that follows to a SysV segment or a tmpfs/hugetlbfs file instead;
<length> and <offset> may end in k, m or g.
stat: what numastat prints (mempolicy stat --help lists its options).
maps: the pages of process <pid> per node (from /proc/<pid>/numa_maps); --mappings breaks them
down per mapping, --json prints the same as JSON.
`

const SPECS: readonly OptionSpec[] = [
  { name: 'all', short: 'a', value: false },
  { name: 'interleave', short: 'i', value: true },
  { name: 'weighted-interleave', short: 'w', value: true },
  { name: 'preferred', short: 'p', value: true },
  { name: 'preferred-many', short: 'P', value: true },
  { name: 'cpubind', short: 'c', value: true },
  { name: 'cpunodebind', short: 'N', value: true },
  { name: 'physcpubind', short: 'C', value: true },
  { name: 'membind', short: 'm', value: true },
  { name: 'show', short: 's', value: false },
  { name: 'localalloc', short: 'l', value: false },
  { name: 'balancing', short: 'b', value: false },
  { name: 'hardware', short: 'H', value: false },
  { name: 'shm', short: 'S', value: true },
  { name: 'file', short: 'f', value: true },
  { name: 'offset', short: 'o', value: true },
  { name: 'length', short: 'L', value: true },
  { name: 'strict', short: 't', value: false },
  { name: 'shmmode', short: 'M', value: true },
  { name: 'dump', short: 'd', value: false },
  { name: 'dump-nodes', short: 'D', value: false },
  { name: 'shmid', short: 'I', value: true },
  { name: 'huge', short: 'u', value: false },
  { name: 'touch', short: 'T', value: false },
  { name: 'cpu-compress', value: false },
  { name: 'verify', short: 'V', value: false },
  { name: 'version', value: false },
  { name: 'help', short: 'h', value: false },
]

const POLICY_MODE: Readonly<Record<string, Mode>> = {
  interleave: 'interleave',
  'weighted-interleave': 'weighted-interleave',
  membind: 'bind',
  preferred: 'preferred',
  'preferred-many': 'preferred-many',
  localalloc: 'local',
}

/** The prefix of a policy the kernel refused (numactl's own words vary by option; the kernel's error follows). */
const SETTING = 'setting the policy'

/** The width of the kernel's nodemask: the bits of Mems_allowed in /proc/self/status (MAX_NUMNODES). */
function nodemaskBits(): number {
  try {
    const match = /^Mems_allowed:\s*([0-9a-f,]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'))
    if (match !== null) return match[1]!.replace(/,/g, '').length * 4
  } catch {
    // no /proc: the common MAX_NUMNODES
  }
  return 1024
}

const range = (count: number): number[] => [...Array(count).keys()]

class Invocation {
  private parseAll = false
  private didNodeCpuParse = false
  private didCpubind = false
  private lastNodes: string | undefined
  private policy: { option: string; mode: Mode; nodes: number[] } | undefined
  private balancing = false
  private shmOption: string | undefined
  private didStrict = false
  private doDump = false
  private hardware = false
  private compress = false
  private verifyFailed = false
  private readonly shm = new SharedMemory()
  // What libnuma reads once at start: the CPUs this process runs on and the nodes it may use.
  private readonly startCpus = getCpuAffinity()
  private readonly mems = memsAllowed()

  private nodeContext(): ListContext {
    const possible = nodeState('online')
    return this.parseAll
      ? {
          kind: 'node',
          allowed: range((possible[possible.length - 1] ?? 0) + 1),
          size: nodemaskBits(),
          invertCount: nodeState('has_memory').length,
        }
      : { kind: 'node', allowed: this.mems, size: nodemaskBits(), invertCount: nodeState('has_memory').length }
  }

  private cpuContext(): ListContext {
    const configured = highestPossibleCpu() + 1
    return { kind: 'cpu', allowed: this.parseAll ? range(configured) : this.startCpus, size: configured, invertCount: configured }
  }

  private list(option: string, text: string, kind: 'node' | 'cpu'): number[] {
    let source = text
    if (kind === 'node') {
      if (text === 'same') {
        if (this.lastNodes === undefined) throw new UsageError('same needs previous node specification')
        source = this.lastNodes
      } else {
        this.lastNodes = text
      }
    }
    try {
      return parseList(source, kind === 'node' ? this.nodeContext() : this.cpuContext())
    } catch (err) {
      if (!(err instanceof ListError)) throw err
      throw new UsageError(`<${text}> is invalid${err.warning === undefined ? '' : `: ${err.warning}`}`, { cause: err })
    }
  }

  private checkNuma(): void {
    if (!isSupported()) throw new Failure('This system does not support NUMA policy')
  }

  private setPolicyOnce(option: string, mode: Mode, nodes: number[]): void {
    if (this.policy !== undefined) throw new UsageError('Conflicting policies')
    this.policy = { option, mode, nodes }
  }

  private noPolicy(): void {
    if (this.policy !== undefined) throw new UsageError('specify policy after --shm/--file')
  }

  private noShm(option: string): void {
    if (this.shm.attached) throw new UsageError(`${option} must be before shared memory specification`)
    this.shmOption = option
  }

  private dontShm(option: string): void {
    if (this.shmOption !== undefined) throw new UsageError(`${this.shmOption} shm option is not allowed before ${option}`)
  }

  private needShm(option: string): void {
    if (!this.shm.attached) throw new UsageError(`${option} must be after shared memory specification`)
  }

  private policyOption(name: string, value: string | undefined): void {
    const mode = POLICY_MODE[name]!
    this.checkNuma()
    if (mode === 'local') {
      this.setPolicyOnce(name, mode, [])
      if (this.shm.attached) this.onShm(mode, [])
      return
    }
    const text = value!
    if (mode === 'bind') this.setPolicyOnce(name, mode, [])
    const nodes = this.list(`--${name}`, text, 'node')
    this.didNodeCpuParse = true
    if (nodes.length === 0) {
      throw new UsageError(
        text.trim() === '' ? `--${name} needs a node list` : `--${name} ${JSON.stringify(text)}: no node left in the list`,
      )
    }
    if (mode === 'preferred' && nodes.length !== 1 && !this.shm.attached) {
      throw new UsageError(`--preferred takes exactly one node (got ${formatIdList(nodes)}); for several, use --preferred-many`)
    }
    if (mode === 'bind') this.policy!.nodes = nodes
    else this.setPolicyOnce(name, mode, nodes)
    if (this.shm.attached) this.onShm(mode === 'preferred' ? 'preferred' : mode, mode === 'preferred' ? [nodes[0]!] : nodes)
  }

  private onShm(mode: Mode, nodes: number[]): void {
    try {
      this.shm.setPolicy(mode, nodes)
    } catch (err) {
      if (err instanceof MempolicyError) throw new Failure(`${SETTING}: ${err.message}`, 1, { cause: err })
      throw err
    }
  }

  /** Applies the process's own policy (before --show and before the exec). */
  applyPolicy(): void {
    const pending = this.policy
    if (this.balancing && (pending === undefined || (pending.mode !== 'bind' && pending.mode !== 'preferred-many')) && !this.shm.attached) {
      throw new UsageError('--balancing applies only to --membind (or --preferred-many)')
    }
    if (pending === undefined || this.shm.attached) return
    const policy: Policy =
      pending.mode === 'local'
        ? { mode: 'local' }
        : ({ mode: pending.mode, nodes: pending.nodes, ...(this.balancing ? { flags: ['numa-balancing'] as const } : {}) } as Policy)
    try {
      setMempolicy(policy)
    } catch (err) {
      if (err instanceof MempolicyError) throw new Failure(`${SETTING}: ${err.message}`, 1, { cause: err })
      throw err
    }
  }

  private bindCpus(cpus: readonly number[], what: string): void {
    const usable = new Set(cpusetCpus())
    const online = new Set(onlineCpus())
    if (!cpus.some((c) => usable.has(c) && online.has(c))) {
      throw new Failure(
        `sched_setaffinity: ${strerror(22)} (${what}; this process's cpuset has CPUs ${formatIdList(cpusetCpus(), 'cpus', CPU_IDS)})`,
      )
    }
    const rc = binding().setAffinity(0, cpuMask(cpus))
    if (rc !== 0) throw new Failure(`sched_setaffinity: ${strerror(rc)}`)
  }

  private cpuNodes(text: string): void {
    this.dontShm('-c/--cpubind/--cpunodebind')
    this.checkNuma()
    const nodes = this.list('--cpunodebind', text, 'node')
    this.didCpubind = true
    this.didNodeCpuParse = true
    // numa_run_on_node_mask_all: the CPUs of every possible node named; the kernel keeps those in the cpuset.
    const possible = new Set(nodeState('online'))
    const cpus = new Set<number>()
    for (const node of nodes) if (possible.has(node)) for (const c of nodeCpus(node)) cpus.add(c)
    const withCpus = nodeState('online').filter((n) => nodeCpus(n).some((c) => cpusetCpus().includes(c)))
    this.bindCpus(
      [...cpus].sort((a, b) => a - b),
      nodes.length === 0
        ? 'no node given'
        : `node ${formatIdList(nodes)} ${nodes.length === 1 ? 'has' : 'have'} no CPU in this process's cpuset; nodes with CPUs there: ${formatIdList(withCpus)}`,
    )
  }

  private physCpus(text: string): void {
    this.dontShm('-C/--physcpubind')
    const cpus = this.list('--physcpubind', text, 'cpu')
    this.didCpubind = true
    this.didNodeCpuParse = true
    this.bindCpus(
      cpus,
      cpus.length === 0 ? 'no CPU given' : `CPU ${formatIdList(cpus, 'cpus', CPU_IDS)} ${cpus.length === 1 ? 'is' : 'are'} not in it`,
    )
  }

  /** Runs one option; returns an exit status when the option ends the invocation (--show, --help). */
  option(name: string, value: string | undefined, more: boolean, version: () => string): number | undefined {
    switch (name) {
      case 'help':
        print(USAGE)
        return 0
      case 'version':
        this.noPolicy()
        print(`mempolicy ${version()}\n`)
        return 0
      case 'show': {
        if (more) throw new UsageError('--show runs no command and takes no option after it')
        this.applyPolicy()
        const shown = show()
        print(shown.out)
        for (const line of shown.warning?.split('\n') ?? []) process.stderr.write(`mempolicy: ${line}\n`)
        return shown.status
      }
      case 'hardware':
        this.noPolicy()
        this.hardware = true
        return undefined
      case 'cpu-compress':
        this.compress = true
        return undefined
      case 'balancing':
        this.balancing = true
        return undefined
      case 'interleave':
      case 'weighted-interleave':
      case 'membind':
      case 'preferred':
      case 'preferred-many':
      case 'localalloc':
        this.policyOption(name, value)
        return undefined
      case 'cpunodebind':
      case 'cpubind':
        this.cpuNodes(value!)
        return undefined
      case 'physcpubind':
        this.physCpus(value!)
        return undefined
      case 'all':
        if (this.didNodeCpuParse) throw new UsageError('--all/-a option must be before all cpu/node specifications')
        this.parseAll = true
        return undefined
      case 'shm':
      case 'file':
        if (this.didCpubind) throw new UsageError('cannot do --cpubind on shared memory')
        this.noPolicy()
        if (name === 'shm') this.shm.attachSysv(value!, '--shm')
        else this.shm.attachFile(value!, '--file')
        return undefined
      case 'length':
        this.noShm('--length')
        this.shm.length = memsize(value!)
        return undefined
      case 'offset':
        this.noShm('--offset')
        this.shm.offset = memsize(value!)
        return undefined
      case 'shmmode': {
        this.noShm('--shmmode')
        if (!/^[0-7]+$/.test(value!.trim())) throw new UsageError(`--shmmode ${JSON.stringify(value)}: not an octal mode such as 0600`)
        this.shm.mode = Number.parseInt(value!.trim(), 8)
        return undefined
      }
      case 'shmid': {
        const id = /^\s*[+-]?(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)$/i.test(value!) ? Number(BigInt.asIntN(64, memsizeFree(value!))) : NaN
        if (!Number.isFinite(id)) throw new UsageError(`--shmid ${JSON.stringify(value)}: not a number`)
        this.shm.id = id
        return undefined
      }
      case 'huge':
        this.noShm('--huge')
        this.shm.huge = true
        return undefined
      case 'strict':
        this.didStrict = true
        this.shm.strict = true
        return undefined
      case 'touch':
        this.needShm('--touch')
        this.shm.touch('--touch')
        return undefined
      case 'dump':
        if (!this.shm.attached) throw new Failure('Cannot do --dump without shared memory.')
        this.shm.dump(print)
        this.doDump = true
        return undefined
      case 'dump-nodes':
        if (!this.shm.attached) throw new Failure('Cannot do --dump-nodes without shared memory.')
        this.shm.dumpNodes(print)
        this.doDump = true
        return undefined
      case 'verify': {
        this.needShm('--verify')
        if (this.policy === undefined) throw new Failure('Need a policy first to verify')
        if (this.policy.mode !== 'local' && this.policy.nodes.length === 0) throw new Failure('Need a mask to verify')
        if (!this.shm.verify('--verify', this.policy.mode, this.policy.nodes, print)) this.verifyFailed = true
        return undefined
      }
      default:
        throw new UsageError(`unrecognized option '--${name}'`)
    }
  }

  /** After the options: hardware, shared memory's exit, or the command. */
  finish(command: readonly string[]): number {
    if (this.hardware) {
      if (this.policy !== undefined) throw new UsageError('--hardware takes no policy')
      if (command.length > 0) throw new UsageError(`--hardware runs no command (got ${JSON.stringify(command[0])})`)
      print(hardware(this.compress))
      return 0
    }
    if (this.shm.attached) {
      if (command.length > 0) throw new UsageError(`the shared memory options run no command (got ${JSON.stringify(command[0])})`)
      return this.verifyFailed ? 1 : 0
    }
    if (this.didStrict) process.stderr.write('mempolicy: warning. Strict flag for process ignored.\n')
    if (this.doDump) throw new UsageError('cannot do --dump|--dump-shm for process')
    if (this.shmOption !== undefined) throw new UsageError(`shm related option ${this.shmOption} for process`)
    if (command.length === 0) {
      throw new UsageError(
        this.policy === undefined && !this.didCpubind ? 'no command given' : 'no command given to run (to see the placement, add --show)',
      )
    }
    this.applyPolicy()
    return execInPlace(command)
  }
}

/** --shmid's number: strtoul base 0 of the whole text. */
function memsizeFree(text: string): bigint {
  const trimmed = text.trim()
  const negative = trimmed.startsWith('-')
  const body = trimmed.replace(/^[+-]/, '')
  const value = BigInt(/^0[0-7]+$/.test(body) ? `0o${body.slice(1)}` : body)
  return negative ? -value : value
}

/** `mempolicy [numactl options] ...`: an exit status, or the command in place of this process. */
export async function numactl(argv: readonly string[], version: () => string): Promise<number> {
  const run = new Invocation()
  const options = getopt(argv, SPECS)
  let index: number
  for (;;) {
    let next: IteratorResult<{ name: string; value?: string; more: boolean }, number>
    try {
      next = options.next()
    } catch (err) {
      if (err instanceof GetoptError) throw new UsageError(err.message)
      throw err
    }
    if (next.done === true) {
      index = next.value
      break
    }
    const { name, value, more } = next.value
    const status = run.option(name, value, more, version)
    if (status !== undefined) return status
  }
  return run.finish(argv.slice(index))
}
