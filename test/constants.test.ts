import { createRequire } from 'node:module'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { constants, pageSize } from '../src/index'

const nodeGypBuild = createRequire(__filename)('node-gyp-build') as (dir: string) => { constants: Record<string, number>; pageSize: number }
const native = nodeGypBuild(path.join(__dirname, '..'))

describe('constants', () => {
  it('agree with what the native side compiled with', () => {
    for (const [name, value] of Object.entries(constants)) expect(native.constants[name], name).toBe(value)
  })

  it('are the kernel UAPI values', () => {
    expect(constants).toEqual({
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
    })
    expect(Object.isFrozen(constants)).toBe(true)
  })

  it('use the syscall numbers of this architecture', () => {
    const table: Record<string, Record<string, number>> = {
      x64: { SYS_mbind: 237, SYS_set_mempolicy: 238, SYS_get_mempolicy: 239, SYS_set_mempolicy_home_node: 450 },
      arm64: { SYS_mbind: 235, SYS_set_mempolicy: 237, SYS_get_mempolicy: 236, SYS_set_mempolicy_home_node: 450 },
    }
    const expected = table[process.arch]
    if (expected === undefined) return
    for (const [name, value] of Object.entries(expected)) expect(native.constants[name], name).toBe(value)
  })

  it('pageSize is the kernel page size', async () => {
    const { readFileSync } = await import('node:fs')
    // AT_PAGESZ (6) in the auxiliary vector.
    const auxv = readFileSync('/proc/self/auxv')
    let fromAuxv = 0
    for (let i = 0; i + 16 <= auxv.length; i += 16) if (auxv.readBigUInt64LE(i) === 6n) fromAuxv = Number(auxv.readBigUInt64LE(i + 8))
    expect(pageSize).toBe(fromAuxv)
    expect(native.pageSize).toBe(pageSize)
  })
})
