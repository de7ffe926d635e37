// The `mempolicy` command (dist/cli.js, built by test/global-setup.ts), run as a user runs it, and
// compared side by side with numactl where numactl is installed.
import { spawn as spawnChild, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { formatNodes, getCpuAffinity, memsAllowed, parseNodes } from '../src/index'

const root = path.join(__dirname, '..')
const cli = path.join(root, 'dist', 'cli.js')
const dist = path.join(root, 'dist', 'index.js')
const node = memsAllowed()[0]!
const lastCpu = getCpuAffinity().at(-1)!
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mempolicy-cli-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

function mempolicy(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' })
}

function numactl(...args: string[]): SpawnSyncReturns<string> {
  return spawnSync('numactl', args, { encoding: 'utf8' })
}

const hasNumactl = numactl('--show').error === undefined
const numactlHas = (option: string): boolean => hasNumactl && numactl(option, `${node}`, 'true').status === 0

// The child's own thread policy: numa_maps prints it on the stack, which has no policy of its own.
const SHOW_OWN = ['sh', '-c', 'grep -m1 " stack" /proc/self/numa_maps | cut -d" " -f2-3']

describe('mempolicy CLI basics', () => {
  it('is an executable script: dist/cli.js starts with a node shebang', () => {
    expect(readFileSync(cli, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node')
  })

  it('prints usage for --help and its version for --version, exit 0', () => {
    const help = mempolicy('--help')
    expect(help.status).toBe(0)
    expect(help.stdout).toMatch(/^usage: mempolicy \[--all \| -a\] \[--balancing \| -b\]/)
    for (const option of [
      '--membind',
      '--preferred-many',
      '--weighted-interleave',
      '--localalloc',
      '--balancing',
      '--show',
      '--hardware',
      'maps',
      '--cpunodebind',
      '--physcpubind',
      '--shm',
      '--file',
      '--cpu-compress',
    ]) {
      expect(help.stdout).toContain(option)
    }
    const version = mempolicy('--version')
    expect(version.status).toBe(0)
    expect(version.stdout).toBe(
      `mempolicy ${(JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version}\n`,
    )
  })
})

describe('mempolicy -- command: runs the command under the policy', () => {
  const cases: [string[], string][] = [
    [['-i', `${node}`], `interleave:${node}`],
    [[`-i${node}`], `interleave:${node}`],
    [[`--interleave=${node}`], `interleave:${node}`],
    [['--interleave', `${node}`], `interleave:${node}`],
    [['-i', 'all'], `interleave:${formatNodes(parseNodes('all'))}`],
    [['-w', `${node}`], `weighted interleave:${node}`],
    [['--weighted-interleave', `${node}`], `weighted interleave:${node}`],
    [['-m', `${node}`], `bind:${node}`],
    [['--membind', `${node}`], `bind:${node}`],
    [['-b', '-m', `${node}`], `bind=balancing:${node}`],
    [[`-bm${node}`], `bind=balancing:${node}`],
    // numactl insists on -b before -m; here either order works.
    [['-m', `${node}`, '--balancing'], `bind=balancing:${node}`],
    // Numbers as C's strtoul reads them, as numactl does.
    [['-m', `0x${node.toString(16)}`], `bind:${node}`],
    [['--memb', `${node}`], `bind:${node}`],
    [['-m', `${node}`, '-N', 'same'], `bind:${node}`],
    [['-p', `${node}`], `prefer:${node}`],
    [['--preferred', `${node}`], `prefer:${node}`],
    [['-P', `${node}`], `prefer (many):${node}`],
    [['--preferred-many', `${node}`], `prefer (many):${node}`],
    [['-l'], 'local'],
    [['--localalloc'], 'local'],
    [['-i', `+0`], `interleave:${memsAllowed()[0]}`],
  ]
  for (const [options, kernel] of cases) {
    it(`${options.join(' ')} -- …: the child's numa_maps shows '${kernel}'`, () => {
      const run = mempolicy(...options, '--', ...SHOW_OWN)
      expect(run.stderr).toBe('')
      expect(run.status).toBe(0)
      expect(run.stdout.trim().startsWith(kernel)).toBe(true)
    })
  }

  it('takes the command without -- as numactl does: options after it belong to the command', () => {
    const run = mempolicy('-m', `${node}`, 'sh', '-c', 'grep -m1 " stack" /proc/self/numa_maps | cut -d" " -f2', '-l')
    expect(run.status).toBe(0)
    expect(run.stdout.trim()).toBe(`bind:${node}`)
  })

  it('with no policy, runs the command under the policy it inherited', () => {
    const run = mempolicy('--', ...SHOW_OWN)
    expect(run.status).toBe(0)
    expect(run.stdout.trim().startsWith('default')).toBe(true)
  })

  it('passes the exit code through, and 127 / 126 when the command cannot be run', () => {
    expect(mempolicy('-l', '--', 'sh', '-c', 'exit 7').status).toBe(7)
    expect(mempolicy('-l', '--', 'true').status).toBe(0)
    const missing = mempolicy('-l', '--', 'no-such-command-here')
    expect(missing.status).toBe(127)
    expect(missing.stderr).toBe('mempolicy: no-such-command-here: command not found\n')
    const notExecutable = mempolicy('--', path.join(root, 'package.json'))
    expect(notExecutable.status).toBe(126)
    expect(notExecutable.stderr).toMatch(/permission denied/)
  })

  it('ends the way the command ended when a signal killed it: the command is this process', () => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGKILL', 'SIGUSR2', 'SIGSEGV', 'SIGABRT', 'SIGUSR1', 'SIGPIPE']) {
      const run = mempolicy('-l', '--', 'sh', '-c', `kill -${signal.slice(3)} $$`)
      expect(run.signal, signal).toBe(signal)
    }
  })

  it('the command has the PID mempolicy was started with, and no Node process stays behind', () => {
    const child = spawnSync(process.execPath, [cli, '-l', '--', 'sh', '-c', 'echo $$; cat /proc/$$/comm; cat /proc/$PPID/comm'], {
      encoding: 'utf8',
    })
    expect(child.status).toBe(0)
    const [pid, comm] = child.stdout.trim().split('\n')
    expect(Number(pid)).toBe(child.pid)
    expect(comm).toBe('sh')
  })

  it('the command starts with the dispositions and mask of a shell: nothing ignored or blocked, stdio inherited', () => {
    const script = 'grep -E "^Sig(Ign|Blk)" /proc/self/status; for fd in 0 1 2; do grep flags /proc/self/fdinfo/$fd; done'
    const ours = mempolicy('--', 'sh', '-c', script)
    expect(ours.status).toBe(0)
    expect(ours.stdout).toMatch(/^SigBlk:\s+0+\nSigIgn:\s+0+\n/)
    if (hasNumactl) expect(ours.stdout).toBe(numactl('--', 'sh', '-c', script).stdout)
    // SIGPIPE at its default: the writer of a closed pipe ends as it would from a shell.
    const pipe = spawnSync('sh', ['-c', `${JSON.stringify(process.execPath)} ${JSON.stringify(cli)} -- yes | head -1`], {
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect(pipe.stdout).toBe('y\n')
    expect(pipe.status).toBe(0)
  })

  for (const signal of ['SIGUSR1', 'SIGUSR2', 'SIGQUIT', 'SIGALRM', 'SIGPWR', 'SIGINT', 'SIGTERM'] as const) {
    it(`${signal} sent to mempolicy's PID reaches the command itself (no inspector, no orphan)`, async () => {
      const script = `trap 'echo got-${signal}; exit 42' ${signal.slice(3)}; echo ready; while :; do sleep 0.02; done`
      const child = spawnChild(process.execPath, [cli, '-l', '--', 'sh', '-c', script], {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let out = ''
      let err = ''
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d
      })
      const done = new Promise<{ code: number | null; signal: string | null }>((resolve) =>
        child.once('exit', (code, sig) => resolve({ code, signal: sig })),
      )
      await new Promise<void>((resolve) =>
        child.stdout.setEncoding('utf8').on('data', (d: string) => {
          out += d
          if (out.includes('ready')) resolve()
        }),
      )
      child.kill(signal)
      expect(await done).toEqual({ code: 42, signal: null })
      expect(out).toContain(`got-${signal}`)
      expect(err).not.toMatch(/Debugger|inspector/i)
    })
  }

  it('an empty command name is a message and 127, as a shell reports it', () => {
    const run = mempolicy('-l', '--', '')
    expect(run.status).toBe(127)
    expect(run.stderr).toBe('mempolicy: : command not found\n')
  })
})

describe('CPU binding, side by side with numactl', () => {
  // What the command sees: its CPUs, its nodes, and its own policy.
  const SEE = ['sh', '-c', 'grep -E "^(Cpus|Mems)_allowed_list" /proc/self/status; grep -m1 " stack" /proc/self/numa_maps | cut -d" " -f2']
  const lines: string[][] = [
    ['-C', `${lastCpu}`, '-l'],
    ['--physcpubind', `${lastCpu}`, '--membind', `${node}`],
    ['-N', `${node}`, '-m', `${node}`],
    ['--cpunodebind=+0', '--interleave=+0'],
    ['-C', `+0`],
    ['-C', `!${lastCpu}`],
    ['-a', '-C', `${lastCpu}`],
    ['-C', `0x${lastCpu.toString(16)}`],
    ['-N', `${node}`, '-p', 'same'],
    ['--cpubind', 'all', '-m', 'all'],
    ['-C', `0-${lastCpu}`],
    ['-C', 'all'],
  ]
  for (const line of lines) {
    it(`${line.join(' ')}: the command sees what it sees under numactl`, (ctx) => {
      if (!hasNumactl) return ctx.skip('numactl is not installed: nothing to compare with')
      const theirs = numactl(...line, '--', ...SEE)
      if (theirs.status !== 0) return ctx.skip(`numactl refuses it here: ${theirs.stderr.split('\n')[1] ?? theirs.stderr}`)
      const ours = mempolicy(...line, '--', ...SEE)
      expect(ours.stderr).toBe('')
      expect(ours.stdout).toBe(theirs.stdout)
    })
  }

  const refused: string[][] = [
    ['-C', '99999'],
    ['-C', `0-99999`],
    ['-C', `+${getCpuAffinity().length}`],
    ['-C', 'x'],
    ['-C', '0,'],
    ['-C', '0-'],
    ['-N', '99999'],
    ['-N', `+${memsAllowed().length}`],
    ['-i', '!'],
    ['-i', 'all,0'],
    ['-i', '0x'],
    ['-m', '-1'],
    ['-N', 'allx'],
  ]
  for (const line of refused) {
    it(`${line.join(' ')} is refused with numactl's words and status`, (ctx) => {
      if (!hasNumactl) return ctx.skip('numactl is not installed: nothing to compare with')
      const theirs = numactl(...line, 'true')
      const ours = mempolicy(...line, 'true')
      expect(theirs.status).toBe(1)
      expect(ours.status).toBe(1)
      const warning = /^libnuma: Warning: (.*)$/m.exec(theirs.stderr)?.[1]
      const invalid = theirs.stdout.trim()
      expect(ours.stderr.split('\n')[0]).toBe(`mempolicy: ${invalid}${warning === undefined ? '' : `: ${warning}`}`)
      expect(ours.stdout).toBe('')
    })
  }
})

describe('mempolicy: bad input is a message on stderr, exit 1, and nothing run', () => {
  const marker = path.join(tmp, 'ran')
  const bad: [string[], RegExp][] = [
    [['-i', `${node}`, '-m', `${node}`], /^mempolicy: Conflicting policies$/m],
    [['-l', '-p', `${node}`], /Conflicting policies/],
    [['-p', `${node}-${node + 1}`], /--preferred|is invalid/],
    [['-b', '-i', `${node}`], /--balancing applies only to --membind/],
    [['-b'], /--balancing applies only to --membind/],
    [['-i', 'x'], /^mempolicy: <x> is invalid: unparseable node description `x'$/m],
    [['-i', '08'], /^mempolicy: <08> is invalid$/m],
    [['-i', '99999'], /<99999> is invalid: node argument 99999 is out of range/],
    [['-i', '!'], /<!> is invalid: unparseable node description `'/],
    [['-i', '!all'], /no node left/],
    [['-i', `+${memsAllowed().length}`], /is invalid: node argument \d+ is out of range/],
    [['-i', ''], /--interleave needs a node list/],
    [['-C', '99999'], /<99999> is invalid: cpu argument 99999 is out of range/],
    [['-C', '0-99999'], /<0-99999> is invalid: cpu argument 99999 out of range/],
    [['-N', '99999'], /node argument 99999 is out of range/],
    [['-N', 'same'], /same needs previous node specification/],
    [['-N', `${node}`, '-a'], /--all\/-a option must be before all cpu\/node specifications/],
    [['-i', 'netdev:lo'], /not supported here/],
    [['-L', '1m'], /shm related option --length for process/],
    [['-d'], /Cannot do --dump without shared memory/],
    [['-T'], /--touch must be after shared memory specification/],
    [['--bogus'], /unrecognized option '--bogus'/],
    [['-X'], /invalid option -- 'X'/],
    [['--p', '0'], /option '--p' is ambiguous; possibilities: '--preferred' '--preferred-many' '--physcpubind'/],
    [['--show=1'], /option '--show' doesn't allow an argument/],
    [['-s'], /--show runs no command/],
    [['-H', '-i', `${node}`], /--hardware takes no policy/],
  ]
  for (const [options, message] of bad) {
    it(`${options.join(' ')}`, () => {
      const run = mempolicy(...options, '--', 'sh', '-c', `touch ${marker}`)
      expect(run.status).toBe(1)
      expect(run.stderr).toMatch(message)
      expect(run.stderr).toMatch(/^mempolicy: /)
      expect(run.stdout).toBe('')
      // Had it run the command (in place of mempolicy), the file would be there now.
      expect(existsSync(marker)).toBe(false)
    })
  }

  it('a missing option value, or no command at all', () => {
    for (const args of [['-i'], ['-m', `${node}`], []]) {
      const run = mempolicy(...args)
      expect(run.status).toBe(1)
      expect(run.stderr).toMatch(/^mempolicy: /)
    }
  })

  it('a policy the kernel refuses (a node outside this cpuset, or without memory): the kernel error, nothing run', (ctx) => {
    const highest = Number(readFileSync('/sys/devices/system/node/possible', 'latin1').trim().split(/[-,]/).pop())
    const usable = new Set(parseNodes('all'))
    const refused = [...Array(highest + 1).keys()].find((n) => !usable.has(n))
    if (refused === undefined) return ctx.skip('every possible node has memory and is allowed here: the kernel has nothing to refuse')
    const run = mempolicy('-m', `${refused}`, '--', 'sh', '-c', `touch ${marker}`)
    expect(run.status).toBe(1)
    expect(run.stderr).toMatch(/EINVAL: invalid argument, set_mempolicy/)
    expect(existsSync(marker)).toBe(false)
  })
})

/**
 * numactl's output where it is malformed, rewritten as mempolicy prints it (docs/cli.md): mode flags
 * shown as a raw number ('[8194]') become the mode name and a 'flags:' line; the 'preferred node:'
 * line numactl leaves without a value or a line break (local, and flagged modes) gets the value
 * numactl prints for the unflagged mode ('current' for local); for a flagged bind, membind is the
 * bind mask (numactl falls back to every allowed node).
 */
function asMempolicyPrints(text: string): string {
  const MODES = ['default', 'preferred', 'bind', 'interleave', 'local', 'preferred-many', 'weighted-interleave']
  const FLAGS: [string, number][] = [
    ['static-nodes', 0x8000],
    ['relative-nodes', 0x4000],
    ['numa-balancing', 0x2000],
  ]
  let mode = /^policy: (.*)$/m.exec(text)![1]!
  let flagged = false
  text = text.replace(/^policy: \[(\d+)\]$/m, (_, n: string) => {
    const value = Number(n)
    mode = MODES[value & ~0xe000]!
    const flags = FLAGS.filter(([, bit]) => (value & bit) !== 0).map(([f]) => f)
    flagged = flags.length > 0
    return `policy: ${mode}${flagged ? `\nflags: ${flags.join(' ')}` : ''}`
  })
  const preferred = /^preferred: (.*)$/m.exec(text)![1]!.trim().split(' ').filter(Boolean)
  text = text.replace(/^preferred node: (?=physcpubind:)/m, () => {
    if (mode === 'default' || mode === 'local') return 'preferred node: current\n'
    return `preferred node: ${preferred[0] ?? 0}\n`
  })
  if (flagged && mode === 'bind') text = text.replace(/^membind: .*$/m, `membind: ${preferred.map((n) => `${n} `).join('')}`)
  return text
}

/**
 * The next interleave node moves with every page the process allocates, and the two programs allocate
 * differently before they print it: checked to be one of the interleave nodes, then blanked.
 */
function steady(text: string): string {
  const mask = /^interleavemask: (.*)$/m.exec(text)?.[1]!.trim().split(' ').filter(Boolean).map(Number)
  const check = (n: string): void => {
    if (mask !== undefined) expect(mask).toContain(Number(n))
  }
  return text
    .replace(/^(preferred node: )(\d+)( \(interleave next\))$/m, (_, a: string, n: string, b: string) => {
      check(n)
      return `${a}N${b}`
    })
    .replace(/^interleavenode: (\d+)$/m, (_, n: string) => {
      check(n)
      return 'interleavenode: N'
    })
}

describe('--show and --hardware, side by side with numactl', () => {
  const policies: string[][] = [
    [],
    ['-i', `${node}`],
    ['-i', 'all'],
    ['-m', `${node}`],
    ['-m', 'all'],
    ['-p', `${node}`],
    ['-P', `${node}`],
    ['-l'],
    ['-b', '-m', `${node}`],
    ['-C', `${lastCpu}`],
    ['-N', `${node}`],
    ['-C', `${lastCpu}`, '-m', `${node}`],
    ['-c', `${node}`, '-i', 'same'],
  ]
  for (const policy of policies) {
    it(`under '${policy.join(' ') || 'no policy'}': mempolicy -s prints what numactl -s prints`, (ctx) => {
      if (!hasNumactl) return ctx.skip('numactl is not installed: nothing to compare with')
      if (policy[0] === '-P' && !numactlHas('-P')) return ctx.skip('this numactl has no --preferred-many')
      const theirs = numactl(...policy, 'numactl', '-s')
      expect(theirs.status).toBe(0)
      const expected = steady(asMempolicyPrints(theirs.stdout))
      // mempolicy's --show under numactl's policy, and numactl's --show under mempolicy's policy.
      const ours = numactl(...policy, process.execPath, cli, '-s')
      expect(ours.stderr).toBe('')
      expect(steady(ours.stdout)).toBe(expected)
      const crossed = mempolicy(...policy, '--', 'numactl', '-s')
      expect(crossed.status).toBe(0)
      expect(steady(crossed.stdout)).toBe(steady(theirs.stdout))
      // And mempolicy applying the policy to itself before --show.
      expect(steady(mempolicy(...policy, '-s').stdout)).toBe(expected)
    })
  }

  it('under -w: numactl -s, run by mempolicy, sees the weighted interleave policy', (ctx) => {
    if (!hasNumactl) return ctx.skip('numactl is not installed: nothing to compare with')
    const crossed = mempolicy('-w', `${node}`, '--', 'numactl', '-s')
    expect(crossed.status).toBe(0)
    // A numactl without weighted interleave support has no name for mode 6 and prints it as a number.
    expect(crossed.stdout).toMatch(/^policy: (weighted-interleave|\[6\])$/m)
    const ours = mempolicy('-w', `${node}`, '-s')
    expect(ours.stdout).toMatch(/^policy: weighted-interleave\npreferred node: \d+ \(interleave next\)\ninterleavemask: /)
  })

  it('mempolicy -H prints what numactl -H prints (memory sizes within 256 MiB: they move between the two runs)', (ctx) => {
    if (!hasNumactl) return ctx.skip('numactl is not installed: nothing to compare with')
    const theirs = numactl('-H')
    const ours = mempolicy('-H')
    expect(ours.status).toBe(0)
    expect(ours.stderr).toBe('')
    const a = theirs.stdout.split('\n')
    const b = ours.stdout.split('\n')
    expect(b.length).toBe(a.length)
    a.forEach((line, k) => {
      const memory = /^(node \d+ (?:size|free): )(\d+) MB$/.exec(line)
      if (memory === null) {
        // Newer numactl sources widen the distance columns from 3 to 4 characters; 2.0.16 (Debian 12) is matched exactly.
        expect(b[k]!.replace(/ +/g, ' ')).toBe(line.replace(/ +/g, ' '))
        if (!/^(node distances:|node +\d| +\d+:)/.test(line)) expect(b[k]).toBe(line)
      } else {
        const mine = new RegExp(`^${memory[1]}(\\d+) MB$`).exec(b[k]!)
        expect(mine, `line ${k}: ${b[k]}`).not.toBeNull()
        expect(Math.abs(Number(mine![1]) - Number(memory[2]))).toBeLessThanOrEqual(256)
      }
    })
  })

  it('mempolicy -H: the format, without numactl', () => {
    const run = mempolicy('-H')
    expect(run.status).toBe(0)
    expect(run.stdout).toMatch(
      /^available: \d+ nodes \([0-9,-]+\)\n(node \d+ cpus:( \d+)*\nnode \d+ size: \d+ MB\nnode \d+ free: \d+ MB\n)+(node distances:\nnode( +\d+ )+\n( +\d+:( +\d+ )+\n)+|No distance information available\.\n)$/,
    )
  })
})

describe('mempolicy maps PID', () => {
  /** A Node child holding 32 MiB under interleave, touched, until it is killed. */
  async function holder(): Promise<{ pid: number; stop: () => void }> {
    const script = `
      const mp = require(${JSON.stringify(dist)})
      const memory = mp.alloc(32 << 20, { mode: 'interleave', nodes: [${node}] })
      memory.fill(1)
      globalThis.keep = memory
      process.stdout.write('ready')
      setInterval(() => {}, 1000)
    `
    const child = spawnChild(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()))
    return { pid: child.pid!, stop: () => child.kill() }
  }

  /** The same sums, read independently: N<node>= pages times kernelpagesize_kB. */
  function perNode(pid: number): Record<number, number> {
    const sums: Record<number, number> = {}
    for (const line of readFileSync(`/proc/${pid}/numa_maps`, 'latin1').split('\n')) {
      const kb = Number(/kernelpagesize_kB=(\d+)/.exec(line)?.[1] ?? 0)
      for (const [, n, pages] of line.matchAll(/ N(\d+)=(\d+)/g)) sums[Number(n)] = (sums[Number(n)] ?? 0) + Number(pages) * kb * 1024
    }
    return sums
  }

  it('--json: bytes per node, as numa_maps sums them; --mappings lists each mapping with its policy', async () => {
    const { pid, stop } = await holder()
    try {
      const run = mempolicy('maps', '--json', '--mappings', `${pid}`)
      expect(run.stderr).toBe('')
      expect(run.status).toBe(0)
      const result = JSON.parse(run.stdout) as {
        pid: number
        command: string
        total: number
        nodes: Record<string, number>
        mappings: { policy: string; nodes: Record<string, number>; kind: string }[]
      }
      expect(result.pid).toBe(pid)
      expect(result.command).toBe('node')
      expect(result.nodes[node]).toBeGreaterThanOrEqual(32 << 20)
      const sums = perNode(pid)
      // The process keeps running (its heap moves), so the two reads agree within a few MiB.
      expect(Math.abs(result.nodes[node]! - sums[node]!)).toBeLessThan(8 << 20)
      expect(result.total).toBe(Object.values(result.nodes).reduce((a, b) => a + b, 0))
      const buffer = result.mappings.find((m) => m.policy === `interleave:${node}` && (m.nodes[node] ?? 0) >= 32 << 20)
      expect(buffer, 'the interleaved buffer is one mapping').toBeDefined()
      expect(buffer!.kind).toBe('anon')
    } finally {
      stop()
    }
  })

  it('draws a bar per node with the size and share beside it, and a per-mapping table', async () => {
    const { pid, stop } = await holder()
    try {
      const run = spawnSync(process.execPath, [cli, 'maps', '--mappings', `${pid}`], {
        encoding: 'utf8',
        env: { ...process.env, LANG: 'C.UTF-8' },
      })
      expect(run.status).toBe(0)
      const lines = run.stdout.split('\n')
      expect(lines[0]).toMatch(new RegExp(`^pid ${pid} \\(node\\): \\d+\\.\\d (MiB|GiB) resident in \\d+ of \\d+ mappings$`))
      expect(run.stdout).toMatch(new RegExp(`^node ${node}  [█▏▎▍▌▋▊▉ ]+  +\\d+\\.\\d (MiB|GiB)  +\\d+\\.\\d%$`, 'm'))
      expect(run.stdout).toMatch(new RegExp(`^address +policy( +node \\d+)* +node ${node}( +node \\d+)* +mapping$`, 'm'))
      // One column per node: the buffer's 32 MiB under its node, '-' where a mapping has nothing.
      expect(run.stdout).toMatch(
        new RegExp(`^[0-9a-f]+ +interleave:${node}( +(-|\\S+ \\S+))* +3\\d\\.\\d MiB( +(-|\\S+ \\S+))* +anon$`, 'm'),
      )
      const ascii = spawnSync(process.execPath, [cli, 'maps', `${pid}`], {
        encoding: 'utf8',
        env: { ...process.env, LANG: 'C', LC_ALL: '', LC_CTYPE: '' },
      })
      expect(ascii.stdout).toMatch(new RegExp(`^node ${node}  [# ]+  `, 'm'))
    } finally {
      stop()
    }
  })

  it('bad input: exit 1 with a message', () => {
    for (const [args, message] of [
      [['maps'], /maps takes one process id/],
      [['maps', 'abc'], /"abc" is not a process id/],
      [['maps', '1', '2'], /maps takes one process id/],
      [['maps', '--bogus', '1'], /maps: Unknown option/],
      [['maps', '2147483647'], /no process 2147483647/],
    ] as [string[], RegExp][]) {
      const run = mempolicy(...args)
      expect(run.status, args.join(' ')).toBe(1)
      expect(run.stderr).toMatch(message)
    }
  })
})
