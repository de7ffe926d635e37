// A service that keeps its memory on one node: the whole process (every thread, the libuv pool
// and V8's helpers included) is bound before anything large is allocated, a cache gets a buffer of
// its own, and /numa reports where the memory really is.
//
//   node examples/service.mjs [--node N] [--port P] [--once]
//
// --node: the node to use (default: the node of the CPU this process starts on). --once: serve one
// request to itself, print the answer and exit (what a smoke test runs).
import http from 'node:http'
import { parseArgs } from 'node:util'
import { alloc, formatNodes, getMempolicy, isSupported, nodeOf, pageNodes, setMempolicy, topology } from 'mempolicy'
import { readFileSync } from 'node:fs'

const { values } = parseArgs({ options: { node: { type: 'string' }, port: { type: 'string', default: '0' }, once: { type: 'boolean' } } })

if (!isSupported()) {
  console.error('memory policy is not available here (not Linux, or the calls are blocked): running unpinned')
}

/** The node whose CPUs include the one this process is running on now. */
function currentNode() {
  const cpu = Number(readFileSync('/proc/self/stat', 'latin1').split(') ')[1].split(' ')[36])
  return topology().nodes.find((n) => n.cpus.includes(cpu))?.id ?? 0
}

let node
let cache
if (isSupported()) {
  node = values.node === undefined ? currentNode() : Number(values.node)
  // 'bind', not 'preferred': if the node runs out, the service should be told (OOM) rather than
  // silently spill to a far node. Use 'preferred' where spilling is the lesser evil.
  const { threads, skipped } = setMempolicy({ mode: 'bind', nodes: [node] }, { scope: 'process' })
  console.log(
    `bound ${threads.length} threads to node ${node}` +
      (skipped.length ? ` (left as they were: ${skipped.map((t) => t.name).join(', ')})` : ''),
  )
  // A 32 MiB cache placed on the same node, written once so its pages exist.
  cache = alloc(32 << 20, { mode: 'bind', nodes: [node] })
  cache.fill(0)
} else {
  cache = new Uint8Array(32 << 20)
}

function report() {
  if (!isSupported()) return { pinned: false }
  const heap = Buffer.alloc(1 << 20, 1) // a fresh allocation, made under the process policy
  const cachePages = pageNodes(cache)
  return {
    pinned: true,
    policy: getMempolicy(),
    node,
    heapNode: nodeOf(heap),
    cachePagesOnNode: cachePages.filter((n) => n === node).length,
    cachePages: cachePages.length,
    nodesWithMemory: formatNodes(topology().withMemory),
  }
}

const server = http.createServer((req, res) => {
  if (req.url !== '/numa') {
    res.writeHead(404).end()
    return
  }
  res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(report())}\n`)
})

server.listen(Number(values.port), '127.0.0.1', async () => {
  const { port } = server.address()
  console.log(`listening on http://127.0.0.1:${port}/numa`)
  if (values.once) {
    const answer = await fetch(`http://127.0.0.1:${port}/numa`).then((r) => r.json())
    console.log(JSON.stringify(answer))
    server.close()
  }
})
