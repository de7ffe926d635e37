// npm run example: the machine's nodes, this thread's policy, and a buffer bound to a node with
// its pages looked up where the kernel put them.
import { alloc, formatNodes, getMempolicy, memsAllowed, nodeOf, pageNodes, policyOf, topology } from 'mempolicy'

const t = topology()
console.log(`nodes online ${formatNodes(t.online)}, with memory ${formatNodes(t.withMemory)}, with CPUs ${formatNodes(t.withCpu)}`)
for (const n of t.nodes) {
  console.log(
    `  node ${n.id}: ${(n.memTotal / 2 ** 30).toFixed(1)} GiB, ${(n.memFree / 2 ** 30).toFixed(1)} GiB free, cpus ${formatNodes(n.cpus) || 'none'}`,
  )
}

const current = getMempolicy()
console.log(`this thread's policy: ${current.mode}${current.nodes.length ? ` ${formatNodes(current.nodes)}` : ''}`)

// The last node this thread may use that has memory: on a two-node machine, the far one.
const withMemory = new Set(t.withMemory)
const node =
  memsAllowed()
    .filter((n) => withMemory.has(n))
    .pop() ?? 0
const buffer = alloc(64 << 20, { mode: 'bind', nodes: [node] })
buffer.fill(1) // pages are placed when first written
const perNode = new Map()
for (const where of pageNodes(buffer)) perNode.set(where, (perNode.get(where) ?? 0) + 1)
const placed = [...perNode].map(([where, pages]) => `${pages} pages on node ${where}`).join(', ')
console.log(
  `alloc(64 MiB, bind ${node}): policy ${policyOf(buffer).mode} ${formatNodes(policyOf(buffer).nodes)}; ` +
    `first page on node ${nodeOf(buffer)}; ${placed}`,
)
