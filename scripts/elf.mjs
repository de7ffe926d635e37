// What a shared object asks of the system that loads it, read from its ELF headers (64-bit
// little-endian only: the prebuilt addons are x86-64 and AArch64): the CPU it is for, the
// libraries it needs (DT_NEEDED), and the symbol versions it needs from each (.gnu.version_r).
// A glibc build needs libc.so.6 with GLIBC_x.y versions; a musl build needs only musl's libc and
// no symbol versions at all, since musl has none. Used by build-prebuilds.mjs and check-prebuilds.mjs.
import fs from 'node:fs'

export const EM_X86_64 = 62
export const EM_AARCH64 = 183
/** e_machine of each Node.js process.arch the package ships a prebuild for. */
export const MACHINE = { x64: EM_X86_64, arm64: EM_AARCH64 }

const SHT_DYNAMIC = 6
const SHT_GNU_VERNEED = 0x6ffffffe
const PT_INTERP = 3
const DT_NEEDED = 1
const DT_SONAME = 14

/**
 * @param {string} file
 * @returns {{ machine: number, interpreter: string | undefined, soname: string | undefined, needed: string[],
 *   versions: { file: string, names: string[] }[] }}
 */
export function readElf(file) {
  const buf = fs.readFileSync(file)
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`)
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`)
  const u64 = (at) => Number(buf.readBigUInt64LE(at))
  const machine = buf.readUInt16LE(18)
  const [phoff, shoff] = [u64(32), u64(40)]
  const [phentsize, phnum, shentsize, shnum] = [buf.readUInt16LE(54), buf.readUInt16LE(56), buf.readUInt16LE(58), buf.readUInt16LE(60)]
  const cstring = (at) => buf.toString('latin1', at, buf.indexOf(0, at))

  let interpreter
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize
    if (buf.readUInt32LE(ph) === PT_INTERP) interpreter = cstring(u64(ph + 8))
  }

  const sections = []
  for (let i = 0; i < shnum; i++) {
    const sh = shoff + i * shentsize
    sections.push({
      type: buf.readUInt32LE(sh + 4),
      offset: u64(sh + 24),
      size: u64(sh + 32),
      link: buf.readUInt32LE(sh + 40),
      info: buf.readUInt32LE(sh + 44),
    })
  }
  const strings = (section) => (at) => cstring(sections[section.link].offset + at)

  const needed = []
  let soname
  for (const section of sections.filter((s) => s.type === SHT_DYNAMIC)) {
    const str = strings(section)
    for (let at = section.offset; at + 16 <= section.offset + section.size; at += 16) {
      const tag = Number(buf.readBigInt64LE(at))
      if (tag === 0) break
      if (tag === DT_NEEDED) needed.push(str(u64(at + 8)))
      if (tag === DT_SONAME) soname = str(u64(at + 8))
    }
  }

  const versions = []
  for (const section of sections.filter((s) => s.type === SHT_GNU_VERNEED)) {
    const str = strings(section)
    let entry = section.offset
    for (let n = 0; n < section.info; n++) {
      const names = []
      let aux = entry + buf.readUInt32LE(entry + 8)
      for (let k = 0; k < buf.readUInt16LE(entry + 2); k++) {
        names.push(str(buf.readUInt32LE(aux + 8)))
        aux += buf.readUInt32LE(aux + 12)
      }
      versions.push({ file: str(buf.readUInt32LE(entry + 4)), names })
      const next = buf.readUInt32LE(entry + 12)
      if (next === 0) break
      entry += next
    }
  }
  return { machine, interpreter, soname, needed, versions }
}

export function compareVersions(a, b) {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)]
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
  return 0
}

/** The newest GLIBC_x.y the object needs, or undefined when it needs none. */
export function newestGlibc(elf) {
  return elf.versions
    .flatMap((v) => v.names)
    .map((name) => /^GLIBC_(\d+(?:\.\d+)+)$/.exec(name)?.[1])
    .filter(Boolean)
    .sort(compareVersions)
    .pop()
}
