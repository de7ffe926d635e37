// "Did you mean ...?": the name most likely meant by a mistyped one. Shared by every argument check
// and the CLI. Names are compared squashed (lower case, without '-', '_' and spaces), so 'MoveAll',
// 'move_all' and 'moveall' are one name; then known names from elsewhere (numactl's 'membind', the
// kernel's 'MPOL_BIND', numa_maps' 'prefer') through an alias table; then by edit distance.
// docs/validation.md lists what each argument suggests.
import { MODES, type Mode, type ModeFlag } from './constants'

/** Lower case without '-', '_' and white space: the form two spellings of one name share. */
export function squash(name: string): string {
  return name.toLowerCase().replace(/[-_\s]/g, '')
}

/**
 * The optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
 * neighbours each count one ('bnid' is one from 'bind').
 */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d = new Uint16Array(rows * cols)
  for (let i = 0; i < rows; i++) d[i * cols] = i
  for (let j = 0; j < cols; j++) d[j] = j
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost)
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) {
        best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1)
      }
      d[i * cols + j] = best
    }
  }
  return d[rows * cols - 1]!
}

function commonPrefix(a: string, b: string): number {
  let n = 0
  while (n < a.length && n < b.length && a.charCodeAt(n) === b.charCodeAt(n)) n++
  return n
}

/** Longer input is never a misspelling worth a guess (and is not compared, whatever its length). */
const LONGEST = 64

/**
 * The candidate `input` most likely means, or undefined. `aliases` maps squashed names from elsewhere
 * to a candidate. A candidate is only guessed by distance when it is at most a quarter of its length
 * away (at least one edit) and shares something with the input.
 */
export function closest(input: string, candidates: readonly string[], aliases?: ReadonlyMap<string, string>): string | undefined {
  if (input.length === 0 || input.length > LONGEST) return undefined
  const key = squash(input)
  const alias = aliases?.get(key)
  if (alias !== undefined) return alias
  let best: string | undefined
  let bestDistance = Infinity
  let bestPrefix = -1
  for (const candidate of candidates) {
    const target = squash(candidate)
    if (target === key) return candidate
    const distance = editDistance(key, target)
    if (distance > Math.max(1, Math.floor(target.length / 4)) || distance >= key.length) continue
    // Of two as near, the one that shares the longer start ('node' is 'nodes' rather than 'mode').
    const prefix = commonPrefix(key, target)
    if (distance < bestDistance || (distance === bestDistance && prefix > bestPrefix)) {
      best = candidate
      bestDistance = distance
      bestPrefix = prefix
    }
  }
  return best
}

/** " Did you mean 'x'?", or '' when there is no guess: the end of an error message. */
export function didYouMean(suggestion: string | undefined): string {
  return suggestion === undefined ? '' : `Did you mean '${suggestion}'?`
}

// Mode names as numactl, the kernel, numa_maps and other libraries spell them, squashed.
const MODE_ALIASES: ReadonlyMap<string, Mode> = new Map<string, Mode>([
  ['membind', 'bind'],
  ['bindall', 'bind'],
  ['strictbind', 'bind'],
  ['localalloc', 'local'],
  ['localallocation', 'local'],
  ['localnode', 'local'],
  ['prefer', 'preferred'],
  ['preferrednode', 'preferred'],
  ['preferred1', 'preferred'],
  ['prefermany', 'preferred-many'],
  ['preferredmanynodes', 'preferred-many'],
  ['prefer(many)', 'preferred-many'],
  ['interleaved', 'interleave'],
  ['interleaving', 'interleave'],
  ['roundrobin', 'interleave'],
  ['weighted', 'weighted-interleave'],
  ['weightedinterleaved', 'weighted-interleave'],
  ['weightedinterleaving', 'weighted-interleave'],
  ['interleaveweighted', 'weighted-interleave'],
  ['none', 'default'],
  ['reset', 'default'],
  ['systemdefault', 'default'],
  ['unset', 'default'],
])

const FLAG_NAMES: readonly ModeFlag[] = ['static-nodes', 'relative-nodes', 'numa-balancing']

const FLAG_ALIASES: ReadonlyMap<string, ModeFlag> = new Map<string, ModeFlag>([
  ['static', 'static-nodes'],
  ['staticnode', 'static-nodes'],
  ['relative', 'relative-nodes'],
  ['relativenode', 'relative-nodes'],
  ['balancing', 'numa-balancing'],
  ['numabalance', 'numa-balancing'],
  ['balance', 'numa-balancing'],
  ['autonuma', 'numa-balancing'],
])

/** 'MPOL_F_STATIC_NODES' -> 'STATIC_NODES', 'MPOL_BIND' -> 'BIND': the kernel's prefixes dropped. */
function withoutKernelPrefix(name: string): string {
  return name.replace(/^mpol[-_\s]?(f[-_\s])?/i, '')
}

/** The mode a mistyped mode name most likely means. */
export function suggestMode(name: string): Mode | undefined {
  return closest(withoutKernelPrefix(name), MODES, MODE_ALIASES) as Mode | undefined
}

/** The flag a mistyped flag name most likely means. */
export function suggestFlag(name: string): ModeFlag | undefined {
  return closest(withoutKernelPrefix(name), FLAG_NAMES, FLAG_ALIASES) as ModeFlag | undefined
}

/** A name given as a mode that is a flag ('static-nodes'), or as a flag that is a mode ('bind'). */
export function isFlagName(name: string): ModeFlag | undefined {
  const key = squash(withoutKernelPrefix(name))
  return FLAG_NAMES.find((f) => squash(f) === key)
}

export function isModeName(name: string): Mode | undefined {
  const key = squash(withoutKernelPrefix(name))
  return MODES.find((m) => squash(m) === key) ?? MODE_ALIASES.get(key)
}

/** mbind's MPOL_MF_* options, which are options of mbind(), not mode flags. */
export function mbindOptionName(name: string): 'strict' | 'move' | 'moveAll' | undefined {
  const key = squash(name.replace(/^mpol[-_\s]?mf[-_\s]?/i, ''))
  return key === 'strict' ? 'strict' : key === 'move' ? 'move' : key === 'moveall' ? 'moveAll' : undefined
}
