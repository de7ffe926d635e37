// Compares memory policies on this machine: for each, allocate a buffer under it, time the first
// touch (the page faults that place it), time a read pass (best of a few), and show where the
// pages went. On a machine with one node every row lands on node 0 and the times only show noise.
//
//   node examples/policies-bench.mjs [--size MiB] [--rounds N]
import { parseArgs } from 'node:util'
import { alloc, capabilities, formatNodes, memsAllowed, pageNodes, topology } from 'mempolicy'

const { values } = parseArgs({ options: { size: { type: 'string', default: '256' }, rounds: { type: 'string', default: '3' } } })
const bytes = Number(values.size) * 2 ** 20
const rounds = Number(values.rounds)

const withMemory = new Set(topology().withMemory)
const nodes = memsAllowed().filter((n) => withMemory.has(n))
const all = formatNodes(nodes)
const policies = [
  ['default', undefined],
  ['local', { mode: 'local' }],
  [`interleave ${all}`, { mode: 'interleave', nodes }],
  ...nodes.map((n) => [`bind ${n}`, { mode: 'bind', nodes: [n] }]),
]
if (capabilities().weightedInterleave.mode) policies.push([`weighted-interleave ${all}`, { mode: 'weighted-interleave', nodes }])

const ms = (start) => Number(process.hrtime.bigint() - start) / 1e6

function readPass(words) {
  let sum = 0
  for (let i = 0; i < words.length; i += 8) sum += words[i] // one read per 64-byte line
  return sum
}

const rows = []
for (const [name, policy] of policies) {
  const buffer = alloc(bytes, policy)
  let start = process.hrtime.bigint()
  buffer.fill(1)
  const touch = ms(start)
  const words = new Float64Array(buffer.buffer, buffer.byteOffset, buffer.byteLength / 8)
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    start = process.hrtime.bigint()
    readPass(words)
    best = Math.min(best, ms(start))
  }
  const perNode = new Map()
  for (const where of pageNodes(buffer)) perNode.set(where, (perNode.get(where) ?? 0) + 1)
  const total = [...perNode.values()].reduce((a, b) => a + b, 0)
  const placement = [...perNode]
    .sort(([a], [b]) => a - b)
    .map(([where, pages]) => (where < 0 ? `errno ${where}` : `node ${where}`) + ` ${Math.round((100 * pages) / total)}%`)
    .join(', ')
  rows.push({
    policy: name,
    'first touch ms': touch.toFixed(1),
    'read ms': best.toFixed(1),
    'GB/s': (bytes / best / 1e6).toFixed(1),
    pages: placement,
  })
}

console.log(`${values.size} MiB per policy, read pass best of ${rounds}; nodes with memory: ${all}`)
console.table(rows)
