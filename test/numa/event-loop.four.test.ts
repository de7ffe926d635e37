// The event loop keeps turning while 512 MiB move between nodes off it (movePages, mbindAsync with
// move), in the 'four' guest. The loop is sampled with perf_hooks.monitorEventLoopDelay every
// millisecond and what it saw is printed (README "Performance" quotes it): the delay of each turn
// beyond that millisecond, as median, 99th percentile and maximum, beside the same over a quiet
// period. No timing threshold is asserted (the guest is emulated, on a shared host whose scheduling
// alone shows stalls of tens of milliseconds); only that the loop kept turning, as a sanity check:
// at least one turn per 20 ms on average, and a 99th percentile under 50 ms. A move made on the
// JavaScript thread would be a single stall as long as the move. Placement before and after each move
// is checked with the oracle (its own move_pages addon).
import { monitorEventLoopDelay } from 'node:perf_hooks'

import { beforeAll, expect, it } from 'vitest'

import { alloc, mbindAsync, movePages, pageSize } from '../../src/index'
import { countByNode } from '../oracle/index'
import { describeNuma, memoryNodes, nodeMeminfo } from './helpers'

const MiB = 1 << 20
const BYTES = 512 * MiB

const RESOLUTION_MS = 1

interface Lag {
  /** How long the work took. */
  ms: number
  /** Turns of the loop seen. */
  turns: number
  /** Delay of a turn beyond RESOLUTION_MS: median, 99th percentile, maximum. */
  p50: number
  p99: number
  max: number
}

/** Runs `work` while the event loop is sampled every RESOLUTION_MS. */
async function lagDuring(work: () => Promise<unknown>): Promise<Lag> {
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  delay.enable()
  // The first sample is taken one resolution after enable().
  await new Promise((resolve) => setTimeout(resolve, 5))
  const started = process.hrtime.bigint()
  await work()
  const ms = Number(process.hrtime.bigint() - started) / 1e6
  delay.disable()
  const beyond = (ns: number): number => Math.max(0, ns / 1e6 - RESOLUTION_MS)
  return { ms, turns: delay.count, p50: beyond(delay.percentile(50)), p99: beyond(delay.percentile(99)), max: beyond(delay.max) }
}

function show(what: string, lag: Lag): string {
  return (
    `${what}: ${lag.ms.toFixed(0)} ms, ${lag.turns} turns; event-loop delay p50 ${lag.p50.toFixed(1)} ms, ` +
    `p99 ${lag.p99.toFixed(1)} ms, max ${lag.max.toFixed(1)} ms`
  )
}

/** The sanity check: the loop kept turning all along. */
function keptTurning(lag: Lag): void {
  expect(lag.turns).toBeGreaterThan(lag.ms / 20)
  expect(lag.p99).toBeLessThan(50)
}

describeNuma('the event loop while 512 MiB move between nodes', { topology: 'four' }, () => {
  // Nodes 1 and 2: pages.four.test.ts, which may run at the same time in another process, moves its
  // own 512 MiB between the first and the last node.
  const nodes = memoryNodes()
  const [from, to] = [nodes[1]!, nodes[2]!]
  const pages = BYTES / pageSize
  let memory: Uint8Array

  beforeAll(async () => {
    for (const node of [from, to]) {
      const freeMiB = nodeMeminfo(node).MemFree! / 1024
      if (freeMiB < 560) throw new Error(`node ${node} has ${freeMiB.toFixed(0)} MiB free, too little for ${BYTES / MiB} MiB`)
    }
    memory = alloc(BYTES, { mode: 'bind', nodes: [from] })
    // One byte a page: every page is present (a whole 2 MiB page where transparent huge pages are on).
    for (let i = 0; i < memory.length; i += pageSize) memory[i] = 1
    expect(Object.fromEntries(countByNode(memory))).toEqual({ [from]: pages })
    const quiet = await lagDuring(() => new Promise((resolve) => setTimeout(resolve, 2000)))
    console.log(`[event-loop] ${show('nothing moving, for comparison', quiet)}`)
  })

  it(`movePages: the loop keeps turning while ${BYTES / MiB} MiB move`, async () => {
    let result: Awaited<ReturnType<typeof movePages>> | undefined
    const lag = await lagDuring(async () => {
      result = await movePages(memory, to)
    })
    console.log(`[event-loop] ${show(`movePages of ${BYTES / MiB} MiB, node ${from} to ${to}`, lag)}`)
    expect(result).toEqual({ moved: pages, failed: 0 })
    expect(Object.fromEntries(countByNode(memory))).toEqual({ [to]: pages })
    keptTurning(lag)
  })

  it(`mbindAsync with move: the loop keeps turning while ${BYTES / MiB} MiB move`, async () => {
    const here = [...countByNode(memory).keys()]
    const target = here.length === 1 && here[0] === from ? to : from
    let span: Awaited<ReturnType<typeof mbindAsync>> | undefined
    const lag = await lagDuring(async () => {
      span = await mbindAsync(memory, { mode: 'bind', nodes: [target] }, { move: true })
    })
    console.log(`[event-loop] ${show(`mbindAsync(move) of ${BYTES / MiB} MiB to node ${target}`, lag)}`)
    expect(span).toEqual({ byteOffset: 0, byteLength: BYTES })
    expect(Object.fromEntries(countByNode(memory))).toEqual({ [target]: pages })
    keptTurning(lag)
  })
})
