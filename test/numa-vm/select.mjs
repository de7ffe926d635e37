// Which guest test files run in which topology. The rule, on the file name under test/numa/:
//   <name>.test.ts                 every topology
//   <name>.all.test.ts             every topology
//   <name>.<topology>.test.ts      only that topology (e.g. placement.four.test.ts)
//   <name>.<t1>.<t2>.test.ts       each topology named (e.g. interleave.four.cxl.test.ts)
// Tags are the dot-separated parts after the first that are `all` or a topology name (topologies.mjs).
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

import { TOPOLOGY_NAMES } from './topologies.mjs'

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
export const NUMA_TEST_DIR = path.join(REPO_ROOT, 'test', 'numa')
const SUFFIX = '.test.ts'

/** Topology tags of a test file name: [] when untagged (runs everywhere). */
export function topologyTags(file) {
  const base = path.basename(file)
  if (!base.endsWith(SUFFIX)) return []
  return base
    .slice(0, -SUFFIX.length)
    .split('.')
    .slice(1)
    .filter((part) => part === 'all' || TOPOLOGY_NAMES.includes(part))
}

export function runsIn(file, topology) {
  const tags = topologyTags(file)
  return tags.length === 0 || tags.includes('all') || tags.includes(topology)
}

function walk(dir) {
  let entries
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true })
  } catch {
    return []
  }
  const files = []
  for (const e of entries) {
    const full = path.join(dir, e.name)
    if (e.isDirectory()) files.push(...walk(full))
    else if (e.isFile() && e.name.endsWith(SUFFIX)) files.push(full)
  }
  return files
}

/**
 * Guest test files for `topology` (all of them when it is undefined), sorted, as absolute paths or,
 * with { relative: true }, relative to the repository root with forward slashes.
 */
export function numaTestFiles(topology, { relative = false } = {}) {
  if (topology !== undefined && !TOPOLOGY_NAMES.includes(topology)) {
    throw new Error(`unknown NUMA guest topology '${topology}' (known: ${TOPOLOGY_NAMES.join(', ')})`)
  }
  return walk(NUMA_TEST_DIR)
    .filter((f) => topology === undefined || runsIn(f, topology))
    .sort()
    .map((f) => (relative ? path.relative(REPO_ROOT, f).split(path.sep).join('/') : f))
}
