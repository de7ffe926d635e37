// Moving pages between real nodes (the 'four' guest: nodes 0-3 with ~768 MiB each): movePages,
// mbindAsync with move, migratePages and pageNodes, every placement checked by the oracle (its own
// move_pages addon) and numa_maps. On a host with fewer than two nodes with memory it skips.
import { monitorEventLoopDelay } from 'node:perf_hooks'

import { expect, it } from 'vitest'

import { alloc, mbind, mbindAsync, migratePages, movePages, pageNodes, pageSize } from '../../src/index'
import { ENOENT_STATUS, numaMapsLine, pageNodes as oraclePageNodes } from '../oracle/index'
import { describeNuma, memoryNodes, nodeMeminfo, placement, touch } from './helpers'

const MiB = 1 << 20

describeNuma('moving pages between nodes', { memoryNodes: 2 }, () => {
  const nodes = memoryNodes()
  const [a, b] = [nodes[0]!, nodes[nodes.length - 1]!]

  it(`movePages moves every written page to the node asked, and pageNodes agrees with the oracle`, async () => {
    const pages = 256
    const memory = alloc(pages * pageSize, { mode: 'bind', nodes: [a] }, { hugePages: false })
    touch(memory)
    expect(placement(memory)).toEqual({ [a]: pages })
    for (const target of nodes) {
      const result = await movePages(memory, target)
      expect(result).toEqual({ moved: pages, failed: 0 })
      expect(placement(memory)).toEqual({ [target]: pages })
      expect([...pageNodes(memory)]).toEqual([...oraclePageNodes(memory)])
    }
  })

  it('pages never touched are left alone and counted in neither number', async () => {
    const pages = 64
    const memory = alloc(pages * pageSize, { mode: 'bind', nodes: [a] }, { hugePages: false })
    touch(memory, 4) // pages 0, 4, 8, ...
    expect(await movePages(memory, b)).toEqual({ moved: pages / 4, failed: 0 })
    const statuses = oraclePageNodes(memory)
    for (let i = 0; i < pages; i++) expect(statuses[i]).toBe(i % 4 === 0 ? b : ENOENT_STATUS)
  })

  it('pages already on the target count as moved', async () => {
    const pages = 64
    const memory = alloc(pages * pageSize, { mode: 'interleave', nodes: [a, b] }, { hugePages: false })
    touch(memory)
    const before = placement(memory)
    expect(before[a]).toBeGreaterThan(0)
    expect(before[b]).toBeGreaterThan(0)
    expect(await movePages(memory, b)).toEqual({ moved: pages, failed: 0 })
    expect(placement(memory)).toEqual({ [b]: pages })
  })

  it('pageNodes reads an interleaved buffer exactly as the oracle and numa_maps do', () => {
    const pages = 1024
    const memory = alloc(pages * pageSize, { mode: 'interleave', nodes }, { hugePages: false })
    touch(memory)
    const ours = pageNodes(memory)
    expect([...ours]).toEqual([...oraclePageNodes(memory)])
    const counts: Record<number, number> = {}
    for (const s of ours) counts[s] = (counts[s] ?? 0) + 1
    for (const n of nodes) expect(counts[n]).toBe(pages / nodes.length)
    expect(Object.fromEntries(numaMapsLine(memory).nodes)).toEqual(counts)
  })

  it('mbindAsync with move: true moves what is already there', async () => {
    const pages = 512
    const memory = alloc(pages * pageSize, { mode: 'bind', nodes: [a] }, { hugePages: false })
    touch(memory)
    expect(placement(memory)).toEqual({ [a]: pages })
    expect(await mbindAsync(memory, { mode: 'bind', nodes: [b] }, { move: true, strict: true })).toEqual({
      byteOffset: 0,
      byteLength: pages * pageSize,
    })
    expect(placement(memory)).toEqual({ [b]: pages })
    expect(numaMapsLine(memory).policy).toBe(`bind:${b}`)
  })

  it("migratePages moves this process's pages from one node to another", async () => {
    // From the highest node (little else of this process lives there) to the one below it.
    const from = nodes[nodes.length - 1]!
    const to = nodes[nodes.length - 2]!
    const pages = 256
    const memory = alloc(pages * pageSize, { mode: 'preferred', nodes: [from] }, { hugePages: false })
    touch(memory)
    expect(placement(memory)).toEqual({ [from]: pages })
    const left = await migratePages(0, from, to)
    expect(left).toBeGreaterThanOrEqual(0)
    expect(placement(memory)).toEqual({ [to]: pages })
  })

  it('moving 512 MiB runs off the event loop (lag measured and printed)', async () => {
    const bytes = 512 * MiB
    const target = nodes.find((n) => n !== a && nodeMeminfo(n).MemFree! * 1024 > bytes + 64 * MiB)
    const room = nodeMeminfo(a).MemFree! * 1024 > bytes + 64 * MiB
    if (target === undefined || !room) {
      console.log(
        `[numa] 512 MiB lag test skipped: not enough free memory on two nodes (${nodes.map((n) => `${n}: ${Math.round(nodeMeminfo(n).MemFree! / 1024)} MiB`).join(', ')})`,
      )
      return
    }
    const memory = alloc(bytes, { mode: 'bind', nodes: [a] })
    touch(memory)
    const touched = Math.ceil(bytes / pageSize)
    expect(placement(memory)).toEqual({ [a]: touched })

    const delay = monitorEventLoopDelay({ resolution: 10 })
    let ticks = 0
    const timer = setInterval(() => {
      ticks++
    }, 10)
    delay.enable()
    const started = process.hrtime.bigint()
    const result = await movePages(memory, target)
    const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6
    delay.disable()
    clearInterval(timer)
    expect(result).toEqual({ moved: touched, failed: 0 })
    expect(placement(memory)).toEqual({ [target]: touched })
    const maxMs = delay.max / 1e6
    console.log(
      `[numa] movePages of 512 MiB to node ${target}: ${elapsedMs.toFixed(0)} ms; event loop delay p50 ${(delay.percentile(50) / 1e6).toFixed(1)} ms, p99 ${(delay.percentile(99) / 1e6).toFixed(1)} ms, max ${maxMs.toFixed(1)} ms; ${ticks} timer ticks`,
    )
    // Loose and relative, not a timing threshold: while the pages moved the loop kept turning, so no
    // single stall came near the length of the whole move (a synchronous move would be one stall).
    if (elapsedMs > 500) {
      expect(maxMs).toBeLessThan(elapsedMs / 2)
      expect(ticks).toBeGreaterThan(1)
    }

    // For comparison only: the synchronous mbind with move blocks the loop for the whole move.
    const syncDelay = monitorEventLoopDelay({ resolution: 10 })
    syncDelay.enable()
    // Let the monitor take its first samples: it measures each delay from the sample before.
    await new Promise((resolve) => setTimeout(resolve, 50))
    const syncStart = process.hrtime.bigint()
    mbind(memory, { mode: 'bind', nodes: [a] }, { move: true })
    const syncMs = Number(process.hrtime.bigint() - syncStart) / 1e6
    await new Promise((resolve) => setTimeout(resolve, 30))
    syncDelay.disable()
    console.log(
      `[numa] synchronous mbind move of 512 MiB back to node ${a}: ${syncMs.toFixed(0)} ms; event loop delay max ${(syncDelay.max / 1e6).toFixed(1)} ms`,
    )
    expect(placement(memory)).toEqual({ [a]: touched })
  })
})
