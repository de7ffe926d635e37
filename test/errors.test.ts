import { getSystemErrorMap } from 'node:util'
import { describe, expect, it } from 'vitest'
import { alloc, mbind, MempolicyError, setHomeNode, setMempolicy } from '../src/index'

describe('MempolicyError', () => {
  it("has the shape of Node's SystemError", () => {
    const err = new MempolicyError(22, 'set_mempolicy')
    expect(err).toBeInstanceOf(Error)
    expect(err).toBeInstanceOf(MempolicyError)
    expect(err.name).toBe('MempolicyError')
    expect(err.code).toBe('EINVAL')
    expect(err.errno).toBe(-22)
    expect(err.syscall).toBe('set_mempolicy')
    expect(err.message).toBe('EINVAL: invalid argument, set_mempolicy')
    expect(err.hint).toBeUndefined()
    expect(String(err.stack)).toMatch(/^MempolicyError: EINVAL: invalid argument, set_mempolicy\n/)
  })

  it('takes errno either sign, and puts the hint after the message Node would print', () => {
    const err = new MempolicyError(-1, 'mbind', 'a seccomp filter blocks mbind')
    expect(err).toMatchObject({ code: 'EPERM', errno: -1, syscall: 'mbind', hint: 'a seccomp filter blocks mbind' })
    expect(err.message).toBe('EPERM: operation not permitted, mbind (a seccomp filter blocks mbind)')
  })

  it('names every errno the way Node does, except EOPNOTSUPP, which Node calls ENOTSUP', () => {
    for (const [errno, [code, description]] of getSystemErrorMap()) {
      const err = new MempolicyError(errno, 'mbind')
      if (errno === -95) continue
      expect(err.code).toBe(code)
      expect(err.message).toBe(`${code}: ${description}, mbind`)
    }
    expect(new MempolicyError(95, 'set_mempolicy_home_node').message).toBe('EOPNOTSUPP: operation not supported, set_mempolicy_home_node')
  })

  it('is what a failed syscall throws, with a hint where the cause is known', () => {
    const memory = alloc(2 * 4096)
    let thrown: unknown
    try {
      setHomeNode(memory, 0)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(MempolicyError)
    expect(thrown).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'set_mempolicy_home_node' })
    expect((thrown as MempolicyError).hint).toMatch(/mbind/)
  })

  it('argument errors are not MempolicyErrors', () => {
    expect(() => setMempolicy({ mode: 'nope' as never })).toThrow(TypeError)
    expect(() => setMempolicy({ mode: 'nope' as never })).not.toThrow(MempolicyError)
    expect(() => mbind(new Uint8Array(1), { mode: 'default' })).toThrow(RangeError)
  })
})
