// Weighted-interleave weights in sysfs. Reads are checked against the files read here directly.
// Writes change a machine-wide setting, so they run only as root, only where the previous state
// can be put back exactly, and always put it back: on Linux 6.16+ writing any weight switches
// automatic mode off, and switching it back on needs bandwidth data (HMAT/CDAT) the kernel may not
// have (this one-node development host has none: the write test skips there, with the reason).
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { MempolicyError, interleaveWeights, interleaveWeightsAuto, setInterleaveWeights, setInterleaveWeightsAuto } from '../src/index'

// Child processes and Workers start slowly under emulation (the multi-node guests run these files too).
const SLOW = 120_000
const DIR = '/sys/kernel/mm/mempolicy/weighted_interleave'
const dist = path.join(__dirname, '..', 'dist', 'index.js')
const root = process.getuid?.() === 0
const hasWeights = existsSync(DIR)

/** The weights as the files say, read without the package. */
function filesWeights(): Record<number, number> {
  const out: Record<number, number> = {}
  for (const name of readdirSync(DIR)) {
    const m = /^node(\d+)$/.exec(name)
    if (m) out[Number(m[1])] = Number(readFileSync(`${DIR}/${name}`, 'latin1').trim())
  }
  return out
}

/** The auto file's text ('true' / 'false'), whichever name it has, or undefined. */
function filesAuto(): string | undefined {
  for (const name of ['auto', '__auto_type']) {
    if (existsSync(`${DIR}/${name}`)) return readFileSync(`${DIR}/${name}`, 'latin1').trim()
  }
  return undefined
}

function snapshot(): { weights: Record<number, number>; auto: string | undefined } {
  return { weights: filesWeights(), auto: filesAuto() }
}

/** Runs `body` (a function source taking the package) as user nobody; returns the error it threw. */
function errorAsNobody(body: string): Record<string, unknown> {
  const script = `
    const mp = require(${JSON.stringify(dist)})
    try { (${body})(mp); console.log(JSON.stringify({})) } catch (e) {
      console.log(JSON.stringify({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall, hint: e.hint, path: e.path, message: e.message }))
    }
  `
  const child = spawnSync(process.execPath, ['-e', script], { uid: 65534, gid: 65534, encoding: 'utf8', cwd: '/' })
  return JSON.parse(child.stdout) as Record<string, unknown>
}

describe.runIf(hasWeights)('interleaveWeights', () => {
  it('reads one weight per node with memory, as the sysfs files say', () => {
    const weights = interleaveWeights()
    expect(weights).toEqual(filesWeights())
    const nodes = Object.keys(weights)
    expect(nodes.length).toBeGreaterThan(0)
    for (const weight of Object.values(weights)) {
      expect(Number.isInteger(weight)).toBe(true)
      expect(weight).toBeGreaterThanOrEqual(1)
      expect(weight).toBeLessThanOrEqual(255)
    }
  })

  it("reads automatic mode from 'auto' or '__auto_type', undefined where there is neither", () => {
    const text = filesAuto()
    expect(interleaveWeightsAuto()).toBe(text === undefined ? undefined : text === 'true')
  })
})

describe.runIf(hasWeights)('setInterleaveWeights validates everything before writing anything', () => {
  const node = Number(Object.keys(filesWeights())[0])

  it.each([
    [null, 'ERR_INVALID_ARG_TYPE'],
    [undefined, 'ERR_INVALID_ARG_TYPE'],
    [[3], 'ERR_INVALID_ARG_TYPE'],
    ['0:3', 'ERR_INVALID_ARG_TYPE'],
    [{ x: 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ '01': 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ '-1': 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ 5000: 1 }, 'ERR_INVALID_ARG_VALUE'],
    [{ NODE: 0 }, 'ERR_OUT_OF_RANGE'],
    [{ NODE: 256 }, 'ERR_OUT_OF_RANGE'],
    [{ NODE: -1 }, 'ERR_OUT_OF_RANGE'],
    [{ NODE: 1.5 }, 'ERR_OUT_OF_RANGE'],
    [{ NODE: Number.NaN }, 'ERR_OUT_OF_RANGE'],
    [{ NODE: '3' }, 'ERR_INVALID_ARG_TYPE'],
    [{ NODE: 3, 5000: 3 }, 'ERR_INVALID_ARG_VALUE'],
  ])('%j -> %s', (raw, code) => {
    const weights =
      raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'NODE' in raw
        ? Object.fromEntries(Object.entries(raw).map(([k, v]) => [k === 'NODE' ? String(node) : k, v]))
        : raw
    const before = snapshot()
    let thrown: unknown
    try {
      setInterleaveWeights(weights as never)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(code === 'ERR_OUT_OF_RANGE' ? RangeError : TypeError)
    expect((thrown as { code?: string }).code).toBe(code)
    // Nothing was written: on 6.16+ a write would also have switched automatic mode off.
    expect(snapshot()).toEqual(before)
  })

  it('0 is refused on every kernel, with what to do instead', () => {
    expect(() => setInterleaveWeights({ [node]: 0 })).toThrow(
      /from 1 to 255 \(for the default weight write 1, or use setInterleaveWeightsAuto\(true\)\)/,
    )
  })

  it('setInterleaveWeightsAuto takes a boolean', () => {
    for (const value of [1, 'true', undefined, null]) {
      expect(() => setInterleaveWeightsAuto(value as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }))
    }
  })
})

describe.runIf(hasWeights && root)('writing needs root', { timeout: SLOW }, () => {
  it('setInterleaveWeights as another user: MempolicyError EACCES from write, with the file and a hint', () => {
    const node = Number(Object.keys(filesWeights())[0])
    const before = snapshot()
    const err = errorAsNobody(`(mp) => mp.setInterleaveWeights({ ${node}: 2 })`)
    expect(err).toMatchObject({ name: 'MempolicyError', code: 'EACCES', errno: -13, syscall: 'write', path: `${DIR}/node${node}` })
    expect(err.message).toMatch(/^EACCES: permission denied, write/)
    expect(err.hint).toMatch(/needs root/)
    expect(snapshot()).toEqual(before)
  })

  it.runIf(filesAuto() !== undefined)('setInterleaveWeightsAuto as another user: EACCES', () => {
    const before = snapshot()
    const err = errorAsNobody('(mp) => mp.setInterleaveWeightsAuto(false)')
    expect(err).toMatchObject({ name: 'MempolicyError', code: 'EACCES', syscall: 'write' })
    expect(snapshot()).toEqual(before)
  })
})

/**
 * Whether the weights and mode can be written and then put back as they are. Switching automatic
 * mode on is the one step that may be impossible: where it is on now, writing `true` again is a
 * harmless way to find out (it recomputes the same weights, or fails with ENODEV and changes nothing).
 */
function restorable(): { ok: true } | { ok: false; reason: string; error: unknown } {
  const auto = interleaveWeightsAuto()
  if (auto !== true) return { ok: true }
  try {
    setInterleaveWeightsAuto(true)
    return { ok: true }
  } catch (error) {
    return {
      ok: false,
      reason: 'automatic weights are on and this kernel has no bandwidth data to switch them back on after a write (ENODEV)',
      error,
    }
  }
}

describe.runIf(hasWeights && root)('writing (as root, restoring the previous state)', () => {
  it('setInterleaveWeightsAuto(true) without bandwidth data fails with ENODEV and changes nothing', (ctx) => {
    if (filesAuto() !== 'true') ctx.skip('automatic mode is not on: switching it on could change the weights')
    const before = snapshot()
    const check = restorable()
    if (check.ok) ctx.skip('this kernel has bandwidth data: switching automatic mode on works')
    const err = (check as { error: MempolicyError & { path?: string } }).error
    expect(err).toBeInstanceOf(MempolicyError)
    expect(err).toMatchObject({ code: 'ENODEV', syscall: 'write' })
    expect(err.hint).toMatch(/bandwidth/)
    expect(snapshot()).toEqual(before)
  })

  it('sets the weights named, leaves the others, and the files agree', (ctx) => {
    const check = restorable()
    if (!check.ok) {
      console.log(`[weights] write test skipped: ${check.reason}`)
      ctx.skip(check.reason)
    }
    const before = snapshot()
    const previous = interleaveWeights()
    const nodes = Object.keys(previous).map(Number)
    const target = nodes[nodes.length - 1]!
    const wanted = previous[target] === 7 ? 9 : 7
    try {
      setInterleaveWeights({ [target]: wanted })
      expect(filesWeights()).toEqual({ ...before.weights, [target]: wanted })
      expect(interleaveWeights()).toEqual(filesWeights())
      // 6.16+: a manual weight switches automatic mode off.
      if (before.auto !== undefined) expect(filesAuto()).toBe('false')
      const next = nodes.length > 1 ? { [target]: 255, [nodes[0]!]: 2 } : { [target]: 255 }
      setInterleaveWeights(next)
      expect(filesWeights()).toEqual({ ...before.weights, ...next })
    } finally {
      setInterleaveWeights(previous)
      if (before.auto === 'true') setInterleaveWeightsAuto(true)
    }
    expect(snapshot()).toEqual(before)
  })
})

describe.runIf(!hasWeights)('a kernel without weighted interleave (before 6.9)', () => {
  it('interleaveWeights throws MempolicyError ENOENT with a hint; interleaveWeightsAuto is undefined', () => {
    expect(() => interleaveWeights()).toThrow(expect.objectContaining({ code: 'ENOENT', hint: expect.stringMatching(/6\.9/) }))
    expect(interleaveWeightsAuto()).toBeUndefined()
  })
})
