// A directory tree standing in for parts of /sys in tests: files, symbolic links and directories from a
// plain description, so that a test can give the package exactly what a kernel (or a container's
// partial /sys) would publish, and check that it reads that and nothing else.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/** Relative path -> file text, `{ link }` (a symbolic link to that target) or `{ dir: true }` (an empty directory). */
export type TreeSpec = Record<string, string | { link: string } | { dir: true }>

export interface Tree {
  root: string
  /** The absolute path of `relative` inside the tree. */
  at(relative: string): string
  remove(): void
}

export function makeTree(spec: TreeSpec, prefix = 'mempolicy-sysfs-'): Tree {
  const root = mkdtempSync(path.join(os.tmpdir(), prefix))
  for (const [relative, entry] of Object.entries(spec)) {
    const full = path.join(root, relative)
    if (typeof entry === 'string') {
      mkdirSync(path.dirname(full), { recursive: true })
      writeFileSync(full, entry)
    } else if ('link' in entry) {
      mkdirSync(path.dirname(full), { recursive: true })
      symlinkSync(entry.link, full)
    } else {
      mkdirSync(full, { recursive: true })
    }
  }
  return { root, at: (relative) => path.join(root, relative), remove: () => rmSync(root, { recursive: true, force: true }) }
}

/**
 * What a 6.12 kernel publishes for the 'hmat' guest (test/numa-vm/topologies.mjs), as seen there:
 * CPU nodes 0 and 1 at 100 ns / 102400 MB/s locally, memory-only node 2 at 250 ns / 20480 MB/s from
 * node 0, a 16 MiB direct-mapped write-back memory-side cache in front of node 2, tiers 4 (0-1) and
 * 56 (2). `overrides` replace or add entries (undefined removes one).
 */
export function hmatGuestSpec(overrides: Record<string, TreeSpec[string] | undefined> = {}): TreeSpec {
  const spec: Record<string, TreeSpec[string] | undefined> = {
    'node/possible': '0-2\n',
    'node/online': '0-2\n',
    'node/has_memory': '0-2\n',
    'node/has_normal_memory': '0-2\n',
    'node/has_cpu': '0-1\n',
    'node/has_generic_initiator': '\n',
    'tiering/memory_tier4/nodelist': '0-1\n',
    'tiering/memory_tier56/nodelist': '2\n',
    'numa/demotion_enabled': 'false\n',
  }
  const perf = (node: number, initiator: number, latency: number, bandwidth: number): void => {
    for (const k of [0, 1]) {
      const dir = `node/node${node}/access${k}/initiators`
      spec[`${dir}/node${initiator}`] = { link: `../../../node${initiator}` }
      spec[`${dir}/read_bandwidth`] = `${bandwidth}\n`
      spec[`${dir}/write_bandwidth`] = `${bandwidth}\n`
      spec[`${dir}/read_latency`] = `${latency}\n`
      spec[`${dir}/write_latency`] = `${latency}\n`
      spec[`node/node${node}/access${k}/targets`] = { dir: true }
    }
  }
  const meminfo = (node: number, kb: number): string =>
    `Node ${node} MemTotal:       ${kb} kB\nNode ${node} MemFree:        ${kb - 1024} kB\nNode ${node} MemUsed:           1024 kB\n`
  const distances = ['10 20 28', '20 10 28', '28 28 10']
  for (const node of [0, 1, 2]) {
    spec[`node/node${node}/cpulist`] = node < 2 ? `${node}\n` : '\n'
    spec[`node/node${node}/distance`] = `${distances[node]}\n`
    spec[`node/node${node}/meminfo`] = meminfo(node, 476400 + node * 4096)
  }
  perf(0, 0, 100, 102400)
  perf(1, 1, 100, 102400)
  perf(2, 0, 250, 20480)
  const cache = 'node/node2/memory_side_cache/index1'
  Object.assign(spec, {
    [`${cache}/size`]: '16777216\n',
    [`${cache}/line_size`]: '64\n',
    [`${cache}/indexing`]: '0\n',
    [`${cache}/write_policy`]: '0\n',
  })
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete spec[key]
    else spec[key] = value
  }
  return spec as TreeSpec
}
