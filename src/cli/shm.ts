// numactl's shared-memory options: a SysV segment (--shm) or a tmpfs / hugetlbfs file (--file) is
// attached or mapped shared, and the policy options that follow give that memory a range policy
// (mbind), which the kernel keeps with the segment or file for every process that maps it later.
// --touch faults the pages in, --dump / --dump-nodes print policies and nodes, --verify checks them.
// Messages are numactl's (docs/cli.md, "Shared memory").
import { closeSync, fstatSync, ftruncateSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { binding } from '../binding'
import { ENOENT } from '../errno'
import { errnoName } from '../errors'
import { mbind, nodeOf, pageSize, policyOf } from '../mempolicy'
import type { Mode } from '../constants'
import type { Policy } from '../policy'
import { Failure } from './failures'
import { strtoul } from './lists'

const SHM_HUGETLB = 0o4000
const IPC_CREAT = 0o1000

/** glibc's strerror text for an errno (Node's words, capitalised as glibc prints them). */
export function strerror(errno: number): string {
  const text = errnoName(errno)[1]
  return text.charAt(0).toUpperCase() + text.slice(1)
}

function errnoOf(err: unknown): number {
  const code = (err as { errno?: unknown }).errno
  return typeof code === 'number' ? code : 0
}

/** numactl's memsize(): strtoul base 0, then a k, m or g suffix (only the first character after it counts). */
export function memsize(text: string): number {
  const { value, end } = strtoul(text, 0)
  let length = BigInt.asIntN(64, value)
  const shift = { G: 30n, M: 20n, K: 10n }[(text[end] ?? '').toUpperCase()]
  if (shift !== undefined) length <<= shift
  return Number(BigInt.asUintN(64, BigInt.asIntN(64, length)))
}

const hex = (n: number): string => (n === 0 ? '0' : `0x${n.toString(16)}`)
const hex16 = (n: number): string => n.toString(16).padStart(16, '0')

/** The shared memory of one invocation, and the settings that come before it on the command line. */
export class SharedMemory {
  length = 0
  offset = 0
  mode = 0o600
  id = 0
  huge = false
  strict = false
  /** The region policies act on: `length` bytes from `offset`. */
  region: Uint8Array | undefined
  private pagesize = pageSize

  get attached(): boolean {
    return this.region !== undefined
  }

  private checkRegion(option: string, address: number): void {
    if (address % this.pagesize !== 0 || this.length % this.pagesize !== 0) throw new Failure('policy region not page aligned')
    if (this.length === 0) throw new Failure(`policy region length not specified before ${option}`)
  }

  /** --shm FILE: the SysV segment whose key ftok(FILE, --shmid) names, created if need be. */
  attachSysv(name: string, option: string): void {
    const native = binding()
    const key = this.sysvKey(name)
    const flags = this.huge ? SHM_HUGETLB : 0
    let id = native.shmGet(key, this.length, flags)
    if (id === -ENOENT) {
      if (this.length === 0) throw new Failure('need a --length to create a sysv shared memory segment')
      process.stderr.write(
        `mempolicy: Creating shared memory segment ${name} id ${this.id} mode ${this.mode.toString(8).padStart(4, '0')} length ${((this.length + this.offset) / (1024 * 1024)).toFixed(0)}MB\n`,
      )
      id = native.shmGet(key, this.length + this.offset, IPC_CREAT | this.mode | flags)
      if (id < 0) throw new Failure(`cannot create shared memory segment: ${strerror(id)}`)
    }
    const size = native.shmSize(id)
    if (size < 0) throw new Failure(`${id < 0 ? 'shmat' : 'shmctl IPC_STAT'}: ${strerror(size)}`)
    if (this.length === 0) this.length = size
    if (this.offset + this.length > size) {
      throw new Failure(`region offset ${hex(this.offset)} plus length ${hex(this.length)} is beyond the segment's size ${hex(size)}`)
    }
    const memory = native.shmAttach(id, size)
    if (!(memory instanceof ArrayBuffer)) throw new Failure(`shmat: ${strerror(memory.errno)}`)
    this.pagesize = this.huge ? hugePageSize() : pageSize
    this.checkRegion(option, this.offset)
    this.region = new Uint8Array(memory, this.offset, this.length)
  }

  private sysvKey(name: string): number {
    const key = ftok(name, this.id)
    if (key !== undefined) return key
    process.stderr.write(`mempolicy: Creating shm key file ${name} mode ${this.mode.toString(8).padStart(4, '0')}\n`)
    try {
      closeSync(openSync(name, 'w', this.mode))
    } catch (err) {
      throw new Failure(`cannot create key for shm ${name}\n: ${strerror(errnoOf(err))}`)
    }
    const created = ftok(name, this.id)
    if (created === undefined) throw new Failure(`cannot get key for newly created shm key file ${name}`)
    return created
  }

  /** --file FILE: the file mapped shared (created, and grown to offset + length, if need be). */
  attachFile(name: string, option: string): void {
    let fd: number
    try {
      fd = openSync(name, 'r+')
    } catch {
      if (this.length === 0) throw new Failure('need a --length to create a shared file')
      try {
        fd = openSync(name, 'a+', this.mode)
        closeSync(fd)
        fd = openSync(name, 'r+')
      } catch (err) {
        throw new Failure(`cannot create file ${name}: ${strerror(errnoOf(err))}`)
      }
    }
    const st = fstatSync(fd)
    if (this.length + this.offset > st.size) {
      try {
        ftruncateSync(fd, this.length + this.offset)
      } catch (err) {
        throw new Failure(`ftruncate: ${strerror(errnoOf(err))}`)
      }
    }
    this.pagesize = st.blksize
    this.checkRegion(option, 0)
    const memory = binding().mapShared(fd, this.length, this.offset)
    closeSync(fd)
    if (!(memory instanceof ArrayBuffer)) throw new Failure(`shm mmap: ${strerror(memory.errno)}`)
    this.region = new Uint8Array(memory)
  }

  /** A policy option on the region (mbind), with MPOL_MF_STRICT after --strict. */
  setPolicy(mode: Mode, nodes: readonly number[]): void {
    mbind(this.region!, (mode === 'local' ? { mode } : { mode, nodes }) as Policy, { strict: this.strict })
  }

  private beyond(option: string): void {
    if (this.offset >= this.length)
      throw new Failure(`region offset ${hex(this.offset)} beyond its length ${hex(this.length)} at ${option}`)
  }

  /** --touch: fault every page in, as numa_police_memory does (a write that keeps each byte). */
  touch(option: string): void {
    this.beyond(option)
    const region = this.region!
    for (let i = 0; i < region.length; i += pageSize) Atomics.or(region, i, 0)
  }

  /** --dump: each run of pages with one policy, and its nodes (pages without a policy are left out). */
  dump(out: (text: string) => void): void {
    const region = this.region!
    let start = 0
    let previous: string | undefined
    let previousText = ''
    const flush = (end: number): void => {
      if (previous !== undefined && previous !== 'default')
        out(`${hex16(this.offset + start)}-${hex16(this.offset + end)}: ${previousText}\n`)
    }
    let c = 0
    for (; c < region.length; c += this.pagesize) {
      const info = policyOf(region.subarray(c, c + this.pagesize))
      const text = `${numactlName(info.mode)} : ${info.nodes.map((n) => `${n} `).join('')}`
      const key = `${info.mode}:${info.nodes.join(',')}`
      if (key === previous) continue
      flush(c)
      previous = key
      previousText = text
      start = c
      if (info.mode === 'default') previous = 'default'
    }
    flush(c)
  }

  /** --dump-nodes: each run of pages on one node (reading a page's node faults it in). */
  dumpNodes(out: (text: string) => void): void {
    const region = this.region!
    let start = 0
    let previous = -1
    let c = 0
    for (; c < region.length; c += this.pagesize) {
      const node = nodeOf(region, c)
      if (node === previous) continue
      if (previous !== -1) out(`${hex16(this.offset + start)}-${hex16(this.offset + c)}: ${previous}\n`)
      previous = node
      start = c
    }
    out(`${hex16(this.offset + start)}-${hex16(this.offset + c)}: ${previous}\n`)
  }

  /** --verify: every page has the policy and nodes asked for and lies where it says; false if not. */
  verify(option: string, mode: Mode, nodes: readonly number[], out: (text: string) => void): boolean {
    this.beyond(option)
    this.touch(option)
    const region = this.region!
    let ok = true
    const warn = (at: number, text: string): void => {
      out(`mempolicy verify ${hex(at)}: ${text}\n`)
      ok = false
    }
    let next = mode === 'interleave' ? nodeOf(region, 0) : -1
    const expected = nodes.join(',')
    for (let p = 0; p < region.length; p += this.pagesize) {
      const info = policyOf(region.subarray(p, p + this.pagesize))
      if (info.mode !== mode) {
        warn(p, `wrong policy ${numactlName(info.mode)}, expected ${numactlName(mode)}`)
        break
      }
      if (info.nodes.join(',') !== expected) {
        warn(p, 'mismatched node mask')
        out(`expected: ${nodes.map((n) => `${n} `).join('')}\nreal: ${info.nodes.map((n) => `${n} `).join('')}\n`)
      }
      const node = nodeOf(region, p)
      if (mode === 'interleave') {
        if (!info.nodes.includes(node)) warn(p, `interleave node out of range ${node}`)
        if (node !== next) {
          warn(p, `expected interleave node ${next}, got ${node}`)
          break
        }
        const at = info.nodes.indexOf(node)
        next = info.nodes[(at + 1) % info.nodes.length]!
      } else if (mode !== 'default' && mode !== 'local' && !info.nodes.includes(node)) {
        warn(p, `unexpected node ${node}`)
        out(`expected: ${info.nodes.map((n) => `${n} `).join('')}\n`)
      }
    }
    return ok
  }
}

/** The names numactl prints for a policy (util.c). */
function numactlName(mode: Mode): string {
  return mode
}

/** glibc's ftok(): the key of a file and a project id; undefined if the file cannot be stat'ed. */
function ftok(name: string, id: number): number | undefined {
  try {
    const st = statSync(name, { bigint: true })
    return Number(BigInt.asIntN(32, (st.ino & 0xffffn) | ((st.dev & 0xffn) << 16n) | ((BigInt(id) & 0xffn) << 24n)))
  } catch {
    return undefined
  }
}

function hugePageSize(): number {
  try {
    const kb = /^Hugepagesize:\s*(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'latin1'))?.[1]
    if (kb !== undefined) return Number(kb) * 1024
  } catch {
    // no /proc/meminfo: the base page size, as numactl falls back to
  }
  return pageSize
}

/** Writes to stdout synchronously (the command line may exec or exit right after). */
export function print(text: string): void {
  writeSync(1, text)
}
