// The addon's exports and the facade's declaration of them (src/binding.ts) agree: a function added
// on one side only fails here.
import { describe, expect, it } from 'vitest'
import { loaded, nativeFunctions } from '../src/binding'

describe('native exports', () => {
  it('are exactly the functions NativeBinding declares, plus its constants', () => {
    const native = loaded()
    expect(native, 'the addon must load on Linux').toBeDefined()
    const functions = Object.keys(native!).filter((k) => typeof (native as unknown as Record<string, unknown>)[k] === 'function')
    expect(functions.sort()).toEqual([...nativeFunctions].sort())
    const values = Object.keys(native!).filter((k) => typeof (native as unknown as Record<string, unknown>)[k] !== 'function')
    expect(values.sort()).toEqual(['constants', 'mapLimit', 'noWholePage', 'pageSize'])
  })
})
