// Guest topologies for the multi-node NUMA harness (see README.md in this folder).
//
// Each entry says how to boot qemu (TCG) and what the guest must then report in
// /sys/devices/system/node/. The guest tests in test/numa/ restate these
// expectations independently and check them from inside the guest.

/** Symmetric distance arguments for qemu: `pairs` is [[src, dst, distance], ...]. */
function distances(pairs) {
  const args = []
  for (const [src, dst, val] of pairs) {
    args.push('-numa', `dist,src=${src},dst=${dst},val=${val}`)
    args.push('-numa', `dist,src=${dst},dst=${src},val=${val}`)
  }
  return args
}

/**
 * One `-object memory-backend-ram` + `-numa node` per entry; `cpus` may be omitted (memory-only node),
 * and so may `sizeMiB` (a node with CPUs and no memory); `initiator` names the node whose CPUs are local
 * to the memory (ACPI HMAT, `-machine hmat=on`).
 */
function nodes(list) {
  const args = []
  for (const { id, sizeMiB, cpus, initiator } of list) {
    if (sizeMiB !== undefined) args.push('-object', `memory-backend-ram,id=m${id},size=${sizeMiB}M`)
    const memdev = sizeMiB === undefined ? '' : `,memdev=m${id}`
    const local = initiator === undefined ? '' : `,initiator=${initiator}`
    args.push('-numa', `node,nodeid=${id}${cpus === undefined ? '' : `,cpus=${cpus}`}${memdev}${local}`)
  }
  return args
}

/**
 * ACPI HMAT entries for qemu: `pairs` is [[initiator, target, latencyNs, bandwidth], ...], bandwidth in
 * qemu's size syntax ('100G' is 100 GiB/s; the kernel publishes it in MiB/s).
 */
function hmat(pairs) {
  const args = []
  for (const [initiator, target, latency, bandwidth] of pairs) {
    const at = `hmat-lb,initiator=${initiator},target=${target},hierarchy=memory`
    args.push('-numa', `${at},data-type=access-latency,latency=${latency}`)
    args.push('-numa', `${at},data-type=access-bandwidth,bandwidth=${bandwidth}`)
  }
  return args
}

export const TOPOLOGIES = Object.freeze({
  four: {
    description: 'four nodes, one CPU and 768 MiB each, distance ladder 10/20/30/40',
    smp: 4,
    memoryMiB: 4 * 768,
    qemuArgs: [
      ...nodes([0, 1, 2, 3].map((id) => ({ id, sizeMiB: 768, cpus: String(id) }))),
      // distance(i, j) = 10 * (1 + |i - j|): 0-1 20, 0-2 30, 0-3 40, 1-2 20, 1-3 30, 2-3 20
      ...distances([
        [0, 1, 20],
        [0, 2, 30],
        [0, 3, 40],
        [1, 2, 20],
        [1, 3, 30],
        [2, 3, 20],
      ]),
    ],
    kernelArgs: [],
    expect: { possible: '0-3', online: '0-3', hasCpu: '0-3', hasMemory: '0-3' },
  },
  cxl: {
    // The kernel numbers CPU proximity domains before memory-only ones, so the CPU-only node is 2 and
    // the memory-only node 3 in qemu too, and both number them alike.
    description: 'CPU nodes 0 and 1, a CPU-only node 2 (no memory), a memory-only node 3 (a CXL-like expander)',
    smp: 3,
    memoryMiB: 3 * 768,
    qemuArgs: [
      ...nodes([
        { id: 0, sizeMiB: 768, cpus: '0' },
        { id: 1, sizeMiB: 768, cpus: '1' },
        { id: 2, cpus: '2' },
        { id: 3, sizeMiB: 768 },
      ]),
      ...distances([
        [0, 1, 20],
        [0, 2, 20],
        [0, 3, 30],
        [1, 2, 30],
        [1, 3, 40],
        [2, 3, 40],
      ]),
    ],
    kernelArgs: [],
    expect: { possible: '0-3', online: '0-3', hasCpu: '0-2', hasMemory: '0-1,3' },
  },
  hmat: {
    // An ACPI HMAT (qemu -machine hmat=on) as on a machine with a CXL memory expander: two CPU nodes with
    // their own DRAM and a slower memory-only node attached to node 0, with latency and bandwidth for
    // every initiator/target pair, and a memory-side cache in front of the expander. The kernel
    // publishes them in nodeN/access0 and access1, builds memory tiers from them (the expander alone in
    // a lower tier) and, on Linux 6.16+, would derive the interleave weights from the bandwidths.
    description:
      'CPU nodes 0 and 1 (100 ns / 100G local, 180 ns / 50G remote), memory-only node 2 (250 ns / 20G) behind a memory-side cache, ACPI HMAT',
    smp: 2,
    memoryMiB: 3 * 512,
    qemuArgs: [
      '-machine',
      'hmat=on',
      ...nodes([
        { id: 0, sizeMiB: 512, cpus: '0', initiator: 0 },
        { id: 1, sizeMiB: 512, cpus: '1', initiator: 1 },
        { id: 2, sizeMiB: 512, initiator: 0 },
      ]),
      ...distances([
        [0, 1, 20],
        [0, 2, 28],
        [1, 2, 28],
      ]),
      ...hmat([
        [0, 0, 100, '100G'],
        [0, 1, 180, '50G'],
        [0, 2, 250, '20G'],
        [1, 0, 180, '50G'],
        [1, 1, 100, '100G'],
        [1, 2, 250, '20G'],
      ]),
      '-numa',
      'hmat-cache,node-id=2,size=16M,level=1,associativity=direct,policy=write-back,line=64',
    ],
    kernelArgs: [],
    expect: { possible: '0-2', online: '0-2', hasCpu: '0-1', hasMemory: '0-2' },
  },
  fake64: {
    // 16 GiB: ~250 MiB per node. All CPUs are local to node 0, which also takes the page cache and the
    // test processes; with less, node 0 runs out and allocations meant for it (interleave) fall back.
    description: 'numa=fake=64: possible nodes exactly 0-63 (one 64-bit mask word), ~250 MiB each',
    smp: 2,
    memoryMiB: 16384,
    qemuArgs: [],
    kernelArgs: ['numa=fake=64'],
    // Fake nodes list the CPUs of the physical node they were cut from: has_cpu is every node.
    expect: { possible: '0-63', online: '0-63', hasMemory: '0-63', hasCpu: '0-63' },
  },
  fake66: {
    description: 'numa=fake=66: nodes 63 and 64 straddle the first 64-bit mask word, ~245 MiB each',
    smp: 2,
    memoryMiB: 16384,
    qemuArgs: [],
    kernelArgs: ['numa=fake=66'],
    expect: { possible: '0-65', online: '0-65', hasMemory: '0-65', hasCpu: '0-65' },
  },
})

export const TOPOLOGY_NAMES = Object.freeze(Object.keys(TOPOLOGIES))
