// The errors table of docs/api.md is kept true against the hints the code can give: every errno
// hintFor() answers has a row, every hint text in src/hints.ts is shown in the table, and every hint
// the table quotes is made of the code's own text (what is left between the code's fragments can only
// be the values filled in: syscall names, node lists, numbers, paths).
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.join(__dirname, '..')
const read = (file: string): string => readFileSync(path.join(root, file), 'utf8')
const squash = (text: string): string => text.replace(/\s+/g, ' ').trim()

/** The static text of every string and template literal of a TypeScript source, comments skipped. */
function literals(src: string): string[] {
  const out: string[] = []
  let i = 0
  const scan = (quote: string): void => {
    let text = ''
    while (i < src.length) {
      const c = src[i]!
      if (c === '\\') {
        text += src[i + 1]
        i += 2
      } else if (c === quote) {
        i++
        out.push(text)
        return
      } else if (quote === '`' && c === '$' && src[i + 1] === '{') {
        out.push(text)
        text = ''
        i += 2
        for (let depth = 1; i < src.length && depth > 0;) {
          const d = src[i]!
          if (d === "'" || d === '"' || d === '`') {
            i++
            scan(d)
            continue
          }
          if (d === '{') depth++
          if (d === '}') depth--
          i++
        }
      } else {
        text += c
        i++
      }
    }
  }
  while (i < src.length) {
    const c = src[i]!
    if (c === '/' && src[i + 1] === '/') i = src.indexOf('\n', i) === -1 ? src.length : src.indexOf('\n', i)
    else if (c === '/' && src[i + 1] === '*') i = src.indexOf('*/', i) + 2
    else if (c === "'" || c === '"' || c === '`') {
      i++
      scan(c)
    } else i++
  }
  return out.map(squash).filter((s) => s !== '')
}

const api = read('docs/api.md')
const errors = api.slice(api.indexOf('\n## Errors'), api.indexOf('\n## Threads'))
const rows = errors.split('\n').filter((line) => /^\| `E[A-Z]+`/.test(line))
const hints = read('src/hints.ts')
const sources = readdirSync(path.join(root, 'src'), { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => read(path.join('src', f)))

describe('docs/api.md "Errors"', () => {
  it('has a row for every errno hintFor() answers', () => {
    const table = rows.map((row) => row.split(' | ')[0]!)
    const handled = [...hints.matchAll(/^\s*case (E[A-Z]+):/gm)].map((m) => m[1]!)
    expect(handled.length).toBeGreaterThan(10)
    expect(handled.filter((code) => !table.some((cell) => cell.includes(`\`${code}\``)))).toEqual([])
  })

  it('shows every hint text of src/hints.ts', () => {
    const shown = squash(errors)
    const texts = literals(hints).filter((s) => s.split(' ').length >= 4)
    expect(texts.length).toBeGreaterThan(30)
    expect(texts.filter((text) => !shown.includes(text))).toEqual([])
  })

  it('quotes only hints the code makes', () => {
    // Longest first, so that a long fragment is not cut up by a short one inside it.
    const fragments = [...new Set(sources.flatMap(literals))].filter((s) => s.length >= 2).sort((a, b) => b.length - a.length)
    const quoted = rows.flatMap((row) =>
      [
        ...row
          .split(' | ')
          .slice(2)
          .join(' | ')
          .matchAll(/`([^`]+)`/g),
      ].map((m) => squash(m[1]!)),
    )
    expect(quoted.length).toBeGreaterThan(20)
    const unexplained = quoted.flatMap((hint) => {
      let rest = hint
      for (const fragment of fragments) rest = rest.split(fragment).join('\u0000')
      // What is left between fragments: the values filled in, at most a few words each.
      return rest
        .split('\u0000')
        .map(squash)
        .filter((gap) => gap.split(' ').length > 3)
        .map((gap) => `${gap}   (in: ${hint})`)
    })
    expect(unexplained).toEqual([])
  })
})
