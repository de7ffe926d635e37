// Process scope: setMempolicy(policy, { scope: 'process' }). Linux sets a memory policy per thread
// and only on the calling thread (docs/kernel.md, "Thread scope"); a thread created later copies its creator's policy.
// So the calling thread sets it first, then every other thread listed in /proc/self/task is asked to
// set it itself, from the handler of a real-time signal (native/process.cc), pass after pass until a
// pass finds no thread left to ask. Threads created meanwhile are created either by a thread already
// done (and inherit the policy) or by one not yet done (and are listed by the next pass). The whole
// call holds the process-wide lock that spawn() also holds while it borrows its thread's policy, in
// every copy of the package loaded in the process (docs/threads.md).
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import type { NativeBinding } from './binding'
import { MempolicyError, errnoName } from './errors'
import { hintFor, type HintContext } from './hints'
import type { Encoded } from './policy'
import { EAGAIN, EDEADLK, ESRCH, ETIMEDOUT } from './errno'

/** How long a thread has to run the handler once signalled; one stopped or stuck in the kernel longer fails. */
export const ANSWER_TIMEOUT_MS = 2000
/** Passes over /proc/self/task before giving up on a process that keeps creating threads. */
const MAX_PASSES = 64

/** A thread that blocks the signal, so its handler cannot run: its policy is left as it was. */
export interface SkippedThread {
  tid: number
  /** The thread's name (/proc/self/task/<tid>/comm). */
  name: string
  reason: 'signals-blocked'
}

/** A thread where setting the policy failed. */
export interface FailedThread {
  tid: number
  name: string
  /** Negative, as MempolicyError.errno. */
  errno: number
  /** 'EINVAL', or 'ETIMEDOUT' when the thread did not run the handler in time. */
  code: string
}

/** What setMempolicy(policy, { scope: 'process' }) did. */
export interface ProcessPolicyResult {
  /** Every thread now under the policy, ascending: the caller and each thread that set it. */
  threads: number[]
  /**
   * Threads that block every real-time signal and so keep their own policy. In Node this is its
   * SIGUSR1 watchdog thread, which waits on a semaphore and allocates nothing.
   */
  skipped: SkippedThread[]
}

/** Thrown when the policy was set on some threads but not all: what was done, and where it failed. */
export interface ProcessPolicyError extends MempolicyError {
  applied: number[]
  failed: FailedThread[]
  skipped: SkippedThread[]
}

interface Task {
  tid: number
  name: string
  /** Zombie or dead: nothing to do. */
  gone: boolean
}

function task(tid: number): Task | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/self/task/${tid}/status`, 'latin1')
  } catch {
    return undefined // exited since the listing
  }
  const field = (key: string): string => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(text)?.[1] ?? ''
  return { tid, name: field('Name'), gone: /^[ZX]/.test(field('State')) }
}

/** signalThreads' result for a thread that blocks the signal and sleeps (native/process.cc kBlocked). */
const BLOCKED = 1

function tasks(): number[] {
  return readdirSync('/proc/self/task').map(Number).filter(Number.isInteger)
}

function ownTid(): number {
  // "<pid>/task/<tid>" for the calling thread (Linux 3.17+); the main thread's id is the pid.
  try {
    return Number(readlinkSync('/proc/thread-self').split('/').pop())
  } catch {
    return process.pid
  }
}

type Fail = (errno: number, syscall: string, context?: HintContext) => never

interface Outcome {
  applied: number[]
  failed: FailedThread[]
  skipped: SkippedThread[]
}

/**
 * Sets an encoded policy on every thread of the process. The caller's thread goes first: if the
 * kernel refuses it there, that error is thrown and no other thread was touched.
 */
export function setProcessPolicy(
  native: NativeBinding,
  encoded: Encoded,
  mask: Uint32Array,
  maxnode: number,
  fail: Fail,
): ProcessPolicyResult {
  const outcome = native.processExclusive((): Outcome => {
    const rc = native.setMempolicy(encoded.value, mask, maxnode)
    if (rc !== 0) fail(rc, 'set_mempolicy', { policy: encoded })
    const self = ownTid()
    const applied = [self]
    const failed: FailedThread[] = []
    const finished = new Set([self])
    const blocking = new Map<number, SkippedThread>()
    for (let pass = 0; ; pass++) {
      // Threads that block the signal are asked too: one that blocks it only for a moment (around a
      // fork) answers once it unblocks it; one that sleeps with it blocked is reported skipped.
      const ask: Task[] = []
      for (const tid of tasks()) {
        if (finished.has(tid)) continue
        const t = task(tid)
        if (t === undefined || t.gone) finished.add(tid)
        else ask.push(t)
      }
      if (ask.length === 0) break
      if (pass === MAX_PASSES) {
        for (const t of ask) failed.push({ tid: t.tid, name: t.name, errno: -EAGAIN, code: errnoName(EAGAIN)[0] })
        break
      }
      const results = new Int32Array(ask.length)
      native.signalThreads(
        encoded.value,
        mask,
        maxnode,
        Int32Array.from(ask, (t) => t.tid),
        results,
        ANSWER_TIMEOUT_MS,
      )
      ask.forEach((t, i) => {
        finished.add(t.tid)
        const result = results[i]!
        if (result === 0) applied.push(t.tid)
        else if (result === BLOCKED) blocking.set(t.tid, { tid: t.tid, name: t.name, reason: 'signals-blocked' })
        else if (result !== -ESRCH) failed.push({ tid: t.tid, name: t.name, errno: result, code: errnoName(result)[0] })
      })
    }
    // A thread that exited while it was blocking the signal is not worth reporting.
    const live = new Set(tasks())
    const skipped = [...blocking.values()].filter((s) => live.has(s.tid))
    return { applied: applied.sort((a, b) => a - b), failed, skipped }
  }, true)
  if (typeof outcome === 'number') {
    // -EDEADLK cannot happen through the public API (nothing calls back into it); -EAGAIN: every
    // real-time signal already has a handler.
    const hint =
      outcome === -EDEADLK
        ? 'a process-scope call is already running on this thread'
        : 'every real-time signal (SIGRTMIN to SIGRTMAX) already has a handler in this process, so none is free to reach the other threads'
    throw new MempolicyError(outcome, 'set_mempolicy', hint)
  }
  const { applied, failed, skipped } = outcome
  if (failed.length > 0) throw partialFailure(encoded, applied, failed, skipped)
  return { threads: applied, skipped }
}

function partialFailure(encoded: Encoded, applied: number[], failed: FailedThread[], skipped: SkippedThread[]): ProcessPolicyError {
  const first = failed[0]!
  const cause =
    -first.errno === ETIMEDOUT
      ? `did not run the handler within ${ANSWER_TIMEOUT_MS} ms (stopped, or stuck in the kernel)`
      : (hintFor(first.errno, 'set_mempolicy', { policy: encoded }) ?? 'the kernel refused it there')
  const others = failed.length > 1 ? ` and ${failed.length - 1} other thread${failed.length > 2 ? 's' : ''} failed` : ''
  const hint =
    `thread ${first.tid} (${first.name}) ${cause}${others}; the policy is set on ${applied.length} of ` +
    `${applied.length + failed.length + skipped.length} threads: see .applied and .failed`
  return Object.assign(new MempolicyError(first.errno, 'set_mempolicy', hint), { applied, failed, skipped })
}
