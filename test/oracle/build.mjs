// Compiles oracle.c into build/oracle.node when it is missing or older than its source.
// Plain JavaScript so that the NUMA guest harness and child processes can use it too.
import { spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))

export const ORACLE_SOURCE = path.join(here, 'oracle.c')
export const ORACLE_BUILD_DIR = path.join(here, 'build')
export const ORACLE_ADDON = path.join(ORACLE_BUILD_DIR, 'oracle.node')

function nodeIncludeDir() {
  const candidates = [
    process.env.MEMPOLICY_ORACLE_NODE_INCLUDE,
    '/usr/include/node',
    path.resolve(path.dirname(process.execPath), '..', 'include', 'node'),
  ].filter(Boolean)
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')))
  if (!found) {
    throw new Error(`oracle: node_api.h not found (looked in ${candidates.join(', ')}); set MEMPOLICY_ORACLE_NODE_INCLUDE`)
  }
  return found
}

function mtime(file) {
  try {
    return fs.statSync(file).mtimeMs
  } catch {
    return undefined
  }
}

/** Returns the path of the compiled oracle addon, compiling it first if needed. */
export function ensureOracleBuilt() {
  const built = mtime(ORACLE_ADDON)
  const source = mtime(ORACLE_SOURCE)
  if (source === undefined) throw new Error(`oracle: source missing: ${ORACLE_SOURCE}`)
  if (built !== undefined && built >= source) return ORACLE_ADDON

  fs.mkdirSync(ORACLE_BUILD_DIR, { recursive: true })
  // Several test processes may compile at once: each writes its own file, then renames it into place.
  const tmp = `${ORACLE_ADDON}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`
  const cc = process.env.CC || 'cc'
  const args = ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', `-I${nodeIncludeDir()}`, '-o', tmp, ORACLE_SOURCE]
  const res = spawnSync(cc, args, { encoding: 'utf8' })
  if (res.error || res.status !== 0) {
    fs.rmSync(tmp, { force: true })
    const why = res.error ? res.error.message : `${res.stderr}${res.stdout}`.trim()
    throw new Error(`oracle: compiling failed: ${cc} ${args.join(' ')}\n${why}`)
  }
  fs.renameSync(tmp, ORACLE_ADDON)
  return ORACLE_ADDON
}
