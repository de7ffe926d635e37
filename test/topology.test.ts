import { readdirSync, readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { parseNodes, topology } from '../src/index'

const sys = (file: string): string => readFileSync(`/sys/devices/system/node/${file}`, 'latin1').trim()

describe('topology', () => {
  const t = topology()

  it('lists the node states sysfs lists', () => {
    expect(t.online).toEqual(parseNodes(sys('online')))
    expect(t.possible).toEqual(parseNodes(sys('possible')))
    expect(t.withMemory).toEqual(parseNodes(sys('has_memory')))
    expect(t.withCpu).toEqual(parseNodes(sys('has_cpu')))
  })

  it('has one entry per online node, in order, with its CPUs, memory and distances', () => {
    const dirs = readdirSync('/sys/devices/system/node').filter((d) => /^node\d+$/.test(d)).map((d) => Number(d.slice(4))).sort((a, b) => a - b)
    expect(t.nodes.map((n) => n.id)).toEqual(t.online)
    expect(t.nodes.map((n) => n.id)).toEqual(dirs)
    for (const n of t.nodes) {
      expect(n.cpus).toEqual(parseNodes(sys(`node${n.id}/cpulist`)))
      const meminfo = sys(`node${n.id}/meminfo`)
      expect(n.memTotal).toBe(Number(/MemTotal:\s+(\d+) kB/.exec(meminfo)![1]) * 1024)
      expect(n.memFree).toBeGreaterThan(0)
      expect(n.memFree).toBeLessThanOrEqual(n.memTotal)
      const row = sys(`node${n.id}/distance`).split(/\s+/).map(Number)
      expect(Object.keys(n.distances).map(Number)).toEqual(t.online)
      expect(Object.values(n.distances)).toEqual(row)
      expect(n.distances[n.id]).toBe(10)
    }
  })

  it('agrees with the CPUs the machine has', async () => {
    const { availableParallelism, cpus } = await import('node:os')
    const all = t.nodes.flatMap((n) => n.cpus)
    expect(all.length).toBeGreaterThanOrEqual(Math.min(availableParallelism(), cpus().length))
  })
})
