// The package's prepack step: `npm pack` and `npm publish` stop here, loudly, unless prebuilds/
// holds exactly the prebuilt addons the package promises, each for the right CPU and C library
// (dist/ is npm's `prepare` step, which runs right after this one). Building them is `npm run build:prebuilds` (scripts/build-prebuilds.mjs),
// which runs the same check on what it built. See docs/packaging.md.
//
// Usage: node scripts/check-prebuilds.mjs [package root]   (exits 1 and says what is wrong)
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { compareVersions, MACHINE, newestGlibc, readElf } from './elf.mjs'

/** Every prebuilt addon the package ships: node-gyp-build picks one by folder and libc tag. */
export const TARGETS = [
  { arch: 'x64', libc: 'glibc' },
  { arch: 'arm64', libc: 'glibc' },
  { arch: 'x64', libc: 'musl' },
  { arch: 'arm64', libc: 'musl' },
].map((t) => ({ ...t, file: path.join('prebuilds', `linux-${t.arch}`, `mempolicy.${t.libc}.node`) }))

/** The addon must load wherever Node.js 20's own binaries do: they need glibc 2.28. */
export const GLIBC_FLOOR = '2.28'

/** musl's libc under the names a linker may record (musl resolves any `libc.*` to itself). */
const MUSL_LIBC = { x64: ['libc.so', 'libc.musl-x86_64.so.1'], arm64: ['libc.so', 'libc.musl-aarch64.so.1'] }

/** What is wrong with one prebuilt addon for its target (empty when nothing is). */
export function problemsOf(file, target) {
  let elf
  try {
    elf = readElf(file)
  } catch (err) {
    return [err.message]
  }
  const problems = []
  if (elf.machine !== MACHINE[target.arch]) problems.push(`is for ELF machine ${elf.machine}, not ${target.arch} (${MACHINE[target.arch]})`)
  if (elf.interpreter !== undefined) problems.push(`is an executable (interpreter ${elf.interpreter}), not a shared object`)
  if (target.libc === 'glibc') {
    if (!elf.needed.includes('libc.so.6')) problems.push(`does not need glibc's libc.so.6 (needs ${elf.needed.join(', ') || 'nothing'})`)
    const glibc = newestGlibc(elf)
    if (glibc !== undefined && compareVersions(glibc, GLIBC_FLOOR) > 0) {
      problems.push(`needs glibc ${glibc}, newer than the ${GLIBC_FLOOR} that Node.js 20 itself needs`)
    }
  } else {
    const foreign = elf.needed.filter((lib) => !MUSL_LIBC[target.arch].includes(lib))
    if (foreign.length)
      problems.push(`needs ${foreign.join(', ')}: a musl build may need only musl's libc (${MUSL_LIBC[target.arch].join(' or ')})`)
    if (!elf.needed.some((lib) => MUSL_LIBC[target.arch].includes(lib))) problems.push("does not need musl's libc")
    const versioned = elf.versions.map((v) => `${v.file} (${v.names.join(', ')})`)
    if (versioned.length) problems.push(`needs symbol versions, which musl does not have: ${versioned.join('; ')}`)
  }
  return problems
}

/** Every problem with the prebuilds in a package root, as lines to print. */
export function checkPackage(root) {
  const problems = []
  for (const target of TARGETS) {
    const file = path.join(root, target.file)
    if (!fs.existsSync(file)) problems.push(`${target.file} is missing`)
    else for (const problem of problemsOf(file, target)) problems.push(`${target.file} ${problem}`)
  }
  const expected = new Set(TARGETS.map((t) => t.file))
  const dir = path.join(root, 'prebuilds')
  for (const entry of fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }) : []) {
    const rel = path.relative(root, path.join(entry.parentPath ?? entry.path, entry.name))
    if (entry.isFile() && rel !== path.join('prebuilds', 'README.md') && !expected.has(rel))
      problems.push(`${rel} is not a prebuild the package ships (stale?)`)
  }
  return problems
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = path.resolve(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), '..'))
  const problems = checkPackage(root)
  if (problems.length) {
    console.error(
      [
        'check-prebuilds: refusing to pack: the tarball would not hold every prebuilt addon the package promises.',
        ...problems.map((p) => `  - ${p}`),
        'Build them with `npm run build:prebuilds` (docs/packaging.md says what it needs).',
      ].join('\n'),
    )
    process.exit(1)
  }
  console.log(`check-prebuilds: ${TARGETS.map((t) => t.file).join(', ')}: present, each for its CPU and C library`)
}
