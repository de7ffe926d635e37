// Kernel values from include/uapi/linux/mempolicy.h (docs/kernel.md, "Constants"). test/constants.test.ts checks
// them against what the native side compiled with.
export const constants = Object.freeze({
  MPOL_DEFAULT: 0,
  MPOL_PREFERRED: 1,
  MPOL_BIND: 2,
  MPOL_INTERLEAVE: 3,
  MPOL_LOCAL: 4,
  MPOL_PREFERRED_MANY: 5,
  MPOL_WEIGHTED_INTERLEAVE: 6,
  MPOL_F_STATIC_NODES: 0x8000,
  MPOL_F_RELATIVE_NODES: 0x4000,
  MPOL_F_NUMA_BALANCING: 0x2000,
  MPOL_F_NODE: 1,
  MPOL_F_ADDR: 2,
  MPOL_F_MEMS_ALLOWED: 4,
  MPOL_MF_STRICT: 1,
  MPOL_MF_MOVE: 2,
  MPOL_MF_MOVE_ALL: 4,
} as const)

export const MODE_FLAGS_MASK = 0xe000

export type Mode = 'default' | 'preferred' | 'bind' | 'interleave' | 'local' | 'preferred-many' | 'weighted-interleave'

export type ModeFlag = 'static-nodes' | 'relative-nodes' | 'numa-balancing'

/** Mode names indexed by the kernel's value. */
export const MODES: readonly Mode[] = Object.freeze([
  'default',
  'preferred',
  'bind',
  'interleave',
  'local',
  'preferred-many',
  'weighted-interleave',
])

/** Flag names with their bits, in the order PolicyInfo lists them. */
export const FLAGS: readonly (readonly [ModeFlag, number])[] = Object.freeze([
  ['static-nodes', constants.MPOL_F_STATIC_NODES],
  ['relative-nodes', constants.MPOL_F_RELATIVE_NODES],
  ['numa-balancing', constants.MPOL_F_NUMA_BALANCING],
] as const)
