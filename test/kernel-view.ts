// The kernel's own view, read without the package: /proc/<pid>/task/<tid>/numa_maps (docs/kernel.md, "numa_maps").
import { readFileSync } from 'node:fs'
import { expect } from 'vitest'
import { getMempolicy, setMempolicy, type Policy, type PolicyInfo } from '../src/index'

const FIELD = /^(heap|stack|huge|file=|anon=|dirty=|mapped=|mapmax=|swapcache=|active=|writeback=|N\d+=|kernelpagesize_kB=)/

export interface MapsLine {
  start: string
  /** The policy text as the kernel prints it, e.g. 'bind=static:0' or 'prefer (many):0'. */
  policy: string
  rest: string[]
}

/** Splits numa_maps into lines; a policy can contain spaces ('prefer (many)', 'weighted interleave'). */
export function numaMaps(file = '/proc/self/numa_maps'): MapsLine[] {
  return readFileSync(file, 'latin1')
    .trim()
    .split('\n')
    .map((line) => {
      const [start, ...tokens] = line.split(' ')
      const end = tokens.findIndex((t) => FIELD.test(t))
      const cut = end === -1 ? tokens.length : end
      return { start: start!, policy: tokens.slice(0, cut).join(' '), rest: tokens.slice(cut) }
    })
}

/**
 * The calling (main) thread's policy as the kernel shows it: numa_maps prints the thread policy on
 * VMAs without a policy of their own, such as the stack.
 */
export function kernelThreadPolicy(tid = process.pid): string {
  const stack = numaMaps(`/proc/self/task/${tid}/numa_maps`).find((l) => l.rest.includes('stack'))
  if (stack === undefined) throw new Error('no stack line in numa_maps')
  return stack.policy
}

/** Policies of VMAs that have one of their own (not 'default' and not the thread's). */
export function rangePolicies(): string[] {
  const thread = kernelThreadPolicy()
  return numaMaps()
    .map((l) => l.policy)
    .filter((p) => p !== 'default' && p !== thread)
}

/** Runs fn with the thread policy restored afterwards to what it was. */
export function keepingPolicy<T>(fn: () => T): T {
  const before = getMempolicy()
  try {
    return fn()
  } finally {
    setMempolicy(toPolicy(before))
  }
}

/** keepingPolicy for async work: restores once the promise settles. */
export async function keepingPolicyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const before = getMempolicy()
  try {
    return await fn()
  } finally {
    setMempolicy(toPolicy(before))
  }
}

/** A PolicyInfo is a Policy: what the kernel reported can be set again as it is. */
export function toPolicy(info: PolicyInfo): Policy {
  return info
}

/**
 * Asserts that `call` throws the given kind of argument error and that nothing reached the kernel:
 * the thread policy (ours and the kernel's view) and every range policy are unchanged.
 */
export function expectRejected(call: () => unknown, kind: typeof TypeError | typeof RangeError, code?: string | RegExp): Error {
  return keepingPolicy(() => {
    // A distinctive thread policy, so a call that slipped through would show.
    setMempolicy({ mode: 'interleave', nodes: [0], flags: ['static-nodes'] })
    const policy = getMempolicy()
    const kernel = kernelThreadPolicy()
    const ranges = rangePolicies().sort()
    let thrown: unknown
    try {
      call()
    } catch (err) {
      thrown = err
    }
    expect(thrown, 'expected the call to throw').toBeInstanceOf(kind)
    const err = thrown as Error & { code?: string }
    expect(err.code).toMatch(code ?? /^ERR_(INVALID_ARG_TYPE|INVALID_ARG_VALUE|OUT_OF_RANGE)$/)
    expect(getMempolicy()).toEqual(policy)
    expect(kernelThreadPolicy()).toBe(kernel)
    expect(rangePolicies().sort()).toEqual(ranges)
    return err
  })
}
