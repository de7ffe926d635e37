// Multi-node NUMA guest harness: boots a qemu (TCG) guest with Debian's 6.12 kernel from
// bookworm-backports, shares the host's / read-only over 9p with a tmpfs overlay on top, and runs one
// shell command inside it against the same checkout (same paths). See README.md in this folder.
//
// Plain Node.js, no dependencies. Exports:
//   ensureGuestAssets({ log, refreshKernel }) -> { kernel, initrd, kernelRelease, packageName, packageVersion }
//   runInGuest(topologyName, shellCommand, { timeoutMs, env, cwd, onOutput, assets })
//     -> { code, output, timedOut, error, bootMs, jobMs, totalMs, budget }

import { spawn, spawnSync } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { StringDecoder } from 'node:string_decoder'
import { fileURLToPath } from 'node:url'

import { TOPOLOGIES, TOPOLOGY_NAMES } from './topologies.mjs'

export { TOPOLOGIES, TOPOLOGY_NAMES }

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export const CACHE_DIR =
  process.env.MEMPOLICY_NUMA_VM_CACHE || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'mempolicy-numa-vm')

/** Modules the initramfs loads, in this order (virtio itself is built into Debian's kernel). */
const MODULES = [
  ['netfs', 'fs/netfs/netfs.ko.xz'],
  ['9pnet', 'net/9p/9pnet.ko.xz'],
  ['9pnet_virtio', 'net/9p/9pnet_virtio.ko.xz'],
  ['9p', 'fs/9p/9p.ko.xz'],
  ['overlay', 'fs/overlayfs/overlay.ko.xz'],
]

/** Newest linux-image-6.12.<N>+deb12-amd64-unsigned is used. */
const KERNEL_PACKAGE_RE = /^linux-image-6\.12\.\d+\+deb12-amd64-unsigned$/
const BACKPORTS_SUITE = 'bookworm-backports'
const BACKPORTS_FILE = '/etc/apt/sources.list.d/mempolicy-bookworm-backports.sources'

const MARK = '@@MEMPOLICY-NUMA-VM'

/** Host environment variables handed to the guest command (when set), besides MEMPOLICY_*. */
const PASSED_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'CI',
  'TERM',
  'LANG',
  'LC_ALL',
  'TZ',
  'NO_COLOR',
  'FORCE_COLOR',
  'NODE_OPTIONS',
  'DEBUG',
]

// ---------------------------------------------------------------------------------------------
// Small utilities

export class HarnessError extends Error {
  constructor(message) {
    super(message)
    this.name = 'HarnessError'
  }
}

function which(cmd) {
  for (const dir of (process.env.PATH || '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    if (!dir) continue
    const full = path.join(dir, cmd)
    try {
      fs.accessSync(full, fs.constants.X_OK)
      return full
    } catch {
      // keep looking
    }
  }
  return undefined
}

/** Runs a command synchronously; throws a HarnessError with its output when it fails. */
function run(cmd, args, { cwd, env, log, input, quiet } = {}) {
  if (log && !quiet) log(`$ ${[cmd, ...args].join(' ')}`)
  const res = spawnSync(cmd, args, {
    cwd,
    input,
    env: env ? { ...process.env, ...env } : process.env,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (res.error) throw new HarnessError(`cannot run ${cmd}: ${res.error.message}`)
  if (res.status !== 0) {
    const out = `${res.stdout || ''}${res.stderr || ''}`.trim().split('\n').slice(-20).join('\n')
    throw new HarnessError(
      `${[cmd, ...args].join(' ')} failed (${res.signal ? `signal ${res.signal}` : `exit ${res.status}`})` + (out ? `:\n${out}` : ''),
    )
  }
  return res.stdout
}

function isRoot() {
  return typeof process.getuid === 'function' && process.getuid() === 0
}

function sha256(...parts) {
  const h = crypto.createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}

function shQuote(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`
}

/** Debian version comparison via dpkg (exact), used to pick the newest kernel. */
function debVersionGreater(a, b) {
  return spawnSync('dpkg', ['--compare-versions', a, 'gt', b]).status === 0
}

function dpkgInstalled(pkg) {
  const res = spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' })
  return res.status === 0 && /install ok installed/.test(res.stdout)
}

// ---------------------------------------------------------------------------------------------
// Host packages

const HOST_TOOLS = [
  { pkg: 'qemu-system-x86', present: () => which('qemu-system-x86_64') },
  { pkg: 'busybox-static', present: () => dpkgInstalled('busybox-static') && fs.existsSync('/bin/busybox') },
  { pkg: 'cpio', present: () => which('cpio') },
  { pkg: 'xz-utils', present: () => which('xz') },
  { pkg: 'gzip', present: () => which('gzip') },
  // Not needed to boot; the guest placement smoke test uses it when present (the guest sees the host's /).
  { pkg: 'numactl', present: () => which('numactl'), optional: true },
]

const APT_ENV = { DEBIAN_FRONTEND: 'noninteractive' }

function aptInstall(pkgs, log) {
  const args = ['install', '-y', '--no-install-recommends', ...pkgs]
  try {
    run('apt-get', args, { env: APT_ENV, log })
  } catch (first) {
    // Most likely the package lists are missing or stale: refresh them once and retry.
    log(`apt-get install failed; running apt-get update and retrying (${first.message.split('\n')[0]})`)
    run('apt-get', ['update'], { env: APT_ENV, log })
    run('apt-get', args, { env: APT_ENV, log })
  }
}

function ensureHostTools(log) {
  const missing = HOST_TOOLS.filter((t) => !t.present())
  if (missing.length === 0) return
  const names = missing.map((t) => t.pkg)
  if (!isRoot() || !which('apt-get')) {
    const required = missing.filter((t) => !t.optional).map((t) => t.pkg)
    if (required.length === 0) {
      log(`note: optional package(s) ${names.join(' ')} not installed (apt-get install ${names.join(' ')})`)
      return
    }
    throw new HarnessError(
      `the NUMA guest harness needs these Debian packages: ${names.join(' ')}\n` +
        `install them with: sudo apt-get install --no-install-recommends ${names.join(' ')}`,
    )
  }
  log(`installing host packages: ${names.join(' ')}`)
  try {
    aptInstall(names, log)
  } catch (err) {
    const required = missing.filter((t) => !t.optional).map((t) => t.pkg)
    if (required.length > 0) {
      aptInstall(required, log) // throws with apt's own message if that fails too
      log(`note: could not install optional packages: ${err.message.split('\n')[0]}`)
    } else {
      log(`note: could not install optional packages: ${err.message.split('\n')[0]}`)
    }
  }
  const still = HOST_TOOLS.filter((t) => !t.optional && !t.present()).map((t) => t.pkg)
  if (still.length) throw new HarnessError(`packages still missing after apt-get install: ${still.join(' ')}`)
}

// ---------------------------------------------------------------------------------------------
// Kernel from bookworm-backports (downloaded, never installed)

/** Parses deb822 stanzas into arrays of {field: value} (lower-cased keys). */
function parseDeb822(text) {
  const stanzas = []
  let cur = {}
  let lastKey
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) continue
    if (raw.trim() === '') {
      if (Object.keys(cur).length) stanzas.push(cur)
      cur = {}
      lastKey = undefined
      continue
    }
    if (/^\s/.test(raw) && lastKey) {
      cur[lastKey] += `\n${raw.trim()}`
      continue
    }
    const m = /^([^:\s]+):\s*(.*)$/.exec(raw)
    if (m) {
      lastKey = m[1].toLowerCase()
      cur[lastKey] = m[2]
    }
  }
  if (Object.keys(cur).length) stanzas.push(cur)
  return stanzas
}

function backportsConfigured() {
  const files = ['/etc/apt/sources.list']
  try {
    for (const f of fs.readdirSync('/etc/apt/sources.list.d')) {
      if (f.endsWith('.list') || f.endsWith('.sources')) files.push(path.join('/etc/apt/sources.list.d', f))
    }
  } catch {
    // no sources.list.d
  }
  for (const f of files) {
    let text
    try {
      text = fs.readFileSync(f, 'utf8')
    } catch {
      continue
    }
    if (f.endsWith('.sources')) {
      for (const s of parseDeb822(text)) {
        if (String(s.enabled || 'yes').toLowerCase() === 'no') continue
        if ((s.suites || '').split(/\s+/).includes(BACKPORTS_SUITE)) return f
      }
    } else if (text.split('\n').some((l) => /^\s*deb\s/.test(l) && l.split(/\s+/).includes(BACKPORTS_SUITE))) {
      return f
    }
  }
  return undefined
}

/** Adds bookworm-backports as a deb822 file using the URI and keyring of the existing Debian entry. */
function ensureBackportsSource(log) {
  const existing = backportsConfigured()
  if (existing) return { file: existing, added: false }
  if (!isRoot()) {
    throw new HarnessError(
      `${BACKPORTS_SUITE} is not configured in apt and adding it needs root; ` +
        `run this once as root, or put a kernel in the cache (${CACHE_DIR}/kernel/)`,
    )
  }
  const debianSources = '/etc/apt/sources.list.d/debian.sources'
  let uri = 'http://deb.debian.org/debian'
  let signedBy = '/usr/share/keyrings/debian-archive-keyring.gpg'
  if (fs.existsSync(debianSources)) {
    const stanza = parseDeb822(fs.readFileSync(debianSources, 'utf8')).find(
      (s) => (s.suites || '').split(/\s+/).includes('bookworm') && /\/debian\/?$/.test((s.uris || '').trim()),
    )
    if (!stanza) throw new HarnessError(`no 'bookworm' stanza with a .../debian URI in ${debianSources}`)
    uri = stanza.uris.trim().split(/\s+/)[0]
    if (stanza['signed-by']) signedBy = stanza['signed-by'].trim()
  } else {
    log(`note: ${debianSources} not found; using ${uri} and ${signedBy}`)
  }
  const text =
    `# Added by mempolicy's NUMA test harness (test/numa-vm): kernels for the test guests are\n` +
    `# downloaded from here with apt-get download, never installed.\n` +
    `Types: deb\nURIs: ${uri}\nSuites: ${BACKPORTS_SUITE}\nComponents: main\nSigned-By: ${signedBy}\n`
  log(`adding ${BACKPORTS_FILE} (${uri} ${BACKPORTS_SUITE})`)
  fs.writeFileSync(BACKPORTS_FILE, text)
  return { file: BACKPORTS_FILE, added: true }
}

function kernelCandidates() {
  const out = run('apt-cache', ['search', '--names-only', '^linux-image-6\\.12\\..*-amd64-unsigned$'], {
    quiet: true,
  })
  return out
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => KERNEL_PACKAGE_RE.test(n))
}

function candidateVersion(pkg) {
  const out = run('apt-cache', ['policy', pkg], { quiet: true })
  const m = /Candidate:\s*(\S+)/.exec(out)
  return m && m[1] !== '(none)' ? m[1] : undefined
}

/** Picks the newest package by the version in its name (6.12.N), then by its Debian version. */
function newestKernelPackage() {
  const names = kernelCandidates()
  let best
  for (const name of names) {
    const n = Number(/^linux-image-6\.12\.(\d+)/.exec(name)[1])
    if (!best || n > best.n) best = { name, n }
  }
  return best?.name
}

function localKernels() {
  const dir = path.join(CACHE_DIR, 'kernel')
  const found = []
  let entries
  try {
    entries = fs.readdirSync(dir)
  } catch {
    return found
  }
  for (const e of entries) {
    const stamp = path.join(dir, e, 'complete.json')
    try {
      const info = JSON.parse(fs.readFileSync(stamp, 'utf8'))
      const vmlinuz = path.join(dir, e, 'vmlinuz')
      const ok = fs.existsSync(vmlinuz) && MODULES.every(([m]) => fs.existsSync(path.join(dir, e, 'modules', `${m}.ko`)))
      if (ok) found.push({ ...info, dir: path.join(dir, e), vmlinuz, modulesDir: path.join(dir, e, 'modules') })
    } catch {
      // incomplete extraction: ignored (and replaced on the next download)
    }
  }
  found.sort((a, b) => (debVersionGreater(a.packageVersion, b.packageVersion) ? -1 : 1))
  return found
}

function downloadKernel(log) {
  if (!which('apt-get') || !which('dpkg')) throw new HarnessError('apt-get and dpkg are needed to fetch the guest kernel')
  const { added } = ensureBackportsSource(log)
  let pkg = added ? undefined : newestKernelPackage()
  if (!pkg) {
    if (!isRoot()) throw new HarnessError(`no linux-image-6.12.*+deb12-amd64-unsigned known to apt; run 'apt-get update' as root`)
    log('apt-get update (to see bookworm-backports)')
    run('apt-get', ['update'], { env: APT_ENV, log })
    pkg = newestKernelPackage()
  }
  if (!pkg)
    throw new HarnessError(`apt knows no package matching linux-image-6.12.*+deb12-amd64-unsigned (is ${BACKPORTS_SUITE} reachable?)`)
  const version = candidateVersion(pkg)
  if (!version) throw new HarnessError(`apt has no candidate version for ${pkg}`)

  const kernelRoot = path.join(CACHE_DIR, 'kernel')
  fs.mkdirSync(kernelRoot, { recursive: true })
  const dest = path.join(kernelRoot, `${pkg}_${version}`.replace(/[^A-Za-z0-9._+-]/g, '_'))
  const already = localKernels().find((k) => k.dir === dest)
  if (already) {
    log(`${pkg} ${version} is already in the cache`)
    return already
  }
  const work = fs.mkdtempSync(path.join(kernelRoot, '.download-'))
  try {
    log(`downloading ${pkg} ${version} (never installed; /boot is untouched)`)
    // APT::Sandbox::User=root: the cache folder may not be readable by the _apt user.
    run('apt-get', ['download', '-o', 'APT::Sandbox::User=root', `${pkg}=${version}`], { cwd: work, log })
    const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'))
    if (!deb) throw new HarnessError(`apt-get download left no .deb in ${work}`)
    const tree = path.join(work, 'tree')
    run('dpkg', ['-x', path.join(work, deb), tree], { log })
    const boot = path.join(tree, 'boot')
    const vmlinuz = fs.readdirSync(boot).find((f) => f.startsWith('vmlinuz-'))
    if (!vmlinuz) throw new HarnessError(`${deb} contains no boot/vmlinuz-*`)
    const kernelRelease = vmlinuz.slice('vmlinuz-'.length)
    const modSrc = path.join(tree, 'lib', 'modules', kernelRelease, 'kernel')

    fs.rmSync(dest, { recursive: true, force: true })
    fs.mkdirSync(path.join(dest, 'modules'), { recursive: true })
    fs.copyFileSync(path.join(boot, vmlinuz), path.join(dest, 'vmlinuz'))
    const config = path.join(boot, `config-${kernelRelease}`)
    if (fs.existsSync(config)) fs.copyFileSync(config, path.join(dest, 'config'))
    for (const [name, rel] of MODULES) {
      const src = path.join(modSrc, rel)
      if (!fs.existsSync(src)) throw new HarnessError(`${deb} has no ${rel}`)
      const res = spawnSync('xz', ['-dc', src], { maxBuffer: 256 * 1024 * 1024 })
      if (res.status !== 0) throw new HarnessError(`xz -dc ${src} failed: ${res.stderr}`)
      fs.writeFileSync(path.join(dest, 'modules', `${name}.ko`), res.stdout)
    }
    const info = { packageName: pkg, packageVersion: version, kernelRelease, downloadedAt: new Date().toISOString() }
    fs.writeFileSync(path.join(dest, 'complete.json'), `${JSON.stringify(info, null, 2)}\n`)
    log(`kernel ${kernelRelease} ready in ${dest}`)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  return localKernels().find((k) => k.dir === dest)
}

function ensureKernel(log, refreshKernel) {
  const local = localKernels()
  if (local.length && !refreshKernel) return local[0]
  const fresh = downloadKernel(log)
  if (!fresh) throw new HarnessError('kernel extraction did not complete')
  // Keep only the newest extracted kernel.
  for (const k of localKernels()) if (k.dir !== fresh.dir) fs.rmSync(k.dir, { recursive: true, force: true })
  return fresh
}

// ---------------------------------------------------------------------------------------------
// Initramfs

/**
 * The guest's /init (busybox sh). Kernel command line parameters it reads:
 *   mpjob=<absolute path of the job script on the host's />  mpnonce=<marker nonce>
 */
export const INIT_SCRIPT = `#!/bin/busybox sh
# /init of the mempolicy NUMA test guest (generated by test/numa-vm/vm.mjs; do not edit in place).
/bin/busybox mkdir -p /proc /sys /dev /mnt/host /mnt/rw /newroot /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
mount -t sysfs sysfs /sys

job=
nonce=none
for arg in $(cat /proc/cmdline); do
  case "$arg" in
    mpjob=*) job="\${arg#mpjob=}" ;;
    mpnonce=*) nonce="\${arg#mpnonce=}" ;;
  esac
done

fail() {
  echo
  echo "${MARK} SETUP-FAILED $nonce $*"
  poweroff -f
  sleep 10
}

for m in netfs 9pnet 9pnet_virtio 9p overlay; do
  insmod /lib/modules/$m.ko || fail "insmod $m.ko"
done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /mnt/host || fail "mount 9p hostroot"
mount -t tmpfs -o mode=0755 tmpfs /mnt/rw || fail "mount tmpfs for the overlay"
mkdir -p /mnt/rw/upper /mnt/rw/work
mount -t overlay -o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work overlay /newroot ||
  fail "mount overlay"
mount -t proc proc /newroot/proc || fail "mount proc"
mount -t sysfs sysfs /newroot/sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs /newroot/dev || fail "mount devtmpfs"
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /newroot/dev/shm
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup || fail "mount cgroup2"
# /tmp stays the host's, seen through the overlay (writable, writes thrown away): a checkout under /tmp
# (CI clones can live there) must be visible to the job.
mount -t tmpfs -o mode=0755 tmpfs /newroot/run

# 4 KiB pages by default: placement tests count pages (tests that want THP turn it back on).
echo never > /sys/kernel/mm/transparent_hugepage/enabled
# No automatic NUMA balancing moving pages behind the tests' backs.
if [ -e /proc/sys/kernel/numa_balancing ]; then echo 0 > /proc/sys/kernel/numa_balancing; fi

[ -n "$job" ] || fail "no mpjob= on the kernel command line"
[ -f "/newroot$job" ] || fail "job script $job not found in the shared host root"

echo "${MARK} READY $nonce $(cut -d' ' -f1 /proc/uptime)"
chroot /newroot /bin/sh "$job"
rc=$?
echo
echo "${MARK} EXIT $nonce $rc"
poweroff -f
sleep 10
`

function ensureInitramfs(kernel, log) {
  const busybox = fs.readFileSync('/bin/busybox')
  const modules = MODULES.map(([m]) => fs.readFileSync(path.join(kernel.modulesDir, `${m}.ko`)))
  const key = sha256(INIT_SCRIPT, busybox, ...modules).slice(0, 16)
  const out = path.join(CACHE_DIR, `initramfs-${key}.cpio.gz`)
  if (fs.existsSync(out)) return out

  log(`building initramfs ${path.basename(out)}`)
  const work = fs.mkdtempSync(path.join(CACHE_DIR, '.initramfs-'))
  try {
    const root = path.join(work, 'root')
    for (const d of ['bin', 'dev', 'proc', 'sys', 'lib/modules', 'mnt', 'newroot']) {
      fs.mkdirSync(path.join(root, d), { recursive: true })
    }
    fs.writeFileSync(path.join(root, 'bin', 'busybox'), busybox, { mode: 0o755 })
    fs.writeFileSync(path.join(root, 'init'), INIT_SCRIPT, { mode: 0o755 })
    MODULES.forEach(([m], i) => fs.writeFileSync(path.join(root, 'lib/modules', `${m}.ko`), modules[i]))
    const tmp = `${out}.tmp-${process.pid}`
    run('sh', ['-c', `find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -6 > ${shQuote(tmp)}`], {
      cwd: root,
      quiet: true,
    })
    fs.renameSync(tmp, out)
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
  }
  for (const f of fs.readdirSync(CACHE_DIR)) {
    if (/^initramfs-[0-9a-f]+\.cpio\.gz$/.test(f) && path.join(CACHE_DIR, f) !== out) {
      fs.rmSync(path.join(CACHE_DIR, f), { force: true })
    }
  }
  return out
}

/**
 * Makes sure qemu, busybox-static, cpio, xz, the 6.12 kernel and the initramfs are in place, installing
 * or downloading what is missing (as root). Cached in CACHE_DIR; cheap when everything is there.
 */
export async function ensureGuestAssets({ log = (m) => process.stderr.write(`[numa-vm] ${m}\n`), refreshKernel = false } = {}) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    throw new HarnessError(`the NUMA guest harness runs on x86-64 Linux hosts only (this is ${process.platform}/${process.arch})`)
  }
  if (/[\s'"\\]/.test(CACHE_DIR)) {
    throw new HarnessError(`cache folder path must not contain spaces or quotes (it goes on the kernel command line): ${CACHE_DIR}`)
  }
  fs.mkdirSync(CACHE_DIR, { recursive: true })
  ensureHostTools(log)
  const kernel = ensureKernel(log, refreshKernel)
  const initrd = ensureInitramfs(kernel, log)
  return {
    kernel: kernel.vmlinuz,
    initrd,
    kernelRelease: kernel.kernelRelease,
    packageName: kernel.packageName,
    packageVersion: kernel.packageVersion,
  }
}

// ---------------------------------------------------------------------------------------------
// Running a guest

const liveGuests = new Set()

/** Kills a guest: qemu and the `timeout` wrapping it form a process group of their own. */
function killGuest(child) {
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    try {
      child.kill('SIGKILL')
    } catch {
      // already gone
    }
  }
}

// The time a guest is given, from what it does rather than a fixed wall-clock figure (README.md,
// "Time budget"). Under TCG everything the guest does costs host CPU, so a busy host slows it
// throughout; how long it took to boot measures that slowdown for this run. A guest is killed:
//   - before it reports READY: after `timeoutMs` (default 240 s; a boot that hangs);
//   - after: when its console has been silent for IDLE_FACTOR boot times, and at least IDLE_MIN_MS
//     (a hang: every test file prints when it ends, and no file runs that long without printing);
//   - in any case once the whole run passes the larger of `timeoutMs` and TOTAL_FACTOR boot times,
//     and never later than MAX_TOTAL_MS (a guest that keeps printing and never ends).
export const IDLE_FACTOR = 20
export const IDLE_MIN_MS = 120_000
export const TOTAL_FACTOR = 60
export const MAX_TOTAL_MS = 2_700_000

/** The limits of a run whose boot took `bootMs` (undefined: not booted yet). */
export function guestBudget(timeoutMs, bootMs) {
  if (bootMs === undefined) return { bootMs: timeoutMs, idleMs: undefined, totalMs: timeoutMs }
  return {
    bootMs: timeoutMs,
    idleMs: Math.max(IDLE_MIN_MS, IDLE_FACTOR * bootMs),
    totalMs: Math.min(MAX_TOTAL_MS, Math.max(timeoutMs, TOTAL_FACTOR * bootMs)),
  }
}

/** Kills every qemu this module started and that is still running (used on timeouts and signals). */
export function killAllGuests() {
  for (const child of liveGuests) killGuest(child)
}

process.once('exit', killAllGuests)

export function qemuArgs(topology, assets, kernelCmdline) {
  return [
    '-accel',
    'tcg,thread=multi',
    '-cpu',
    'max',
    '-machine',
    'pc',
    '-smp',
    String(topology.smp),
    '-m',
    `${topology.memoryMiB}M`,
    ...topology.qemuArgs,
    '-kernel',
    assets.kernel,
    '-initrd',
    assets.initrd,
    '-append',
    kernelCmdline,
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-nodefaults',
    '-nographic',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-net',
    'none',
    '-no-reboot',
  ]
}

/** Job scripts left behind by a harness that was killed (other runs may be using theirs right now). */
function removeStaleJobs(jobsDir) {
  const cutoff = Date.now() - 6 * 3600 * 1000
  for (const f of fs.readdirSync(jobsDir)) {
    const full = path.join(jobsDir, f)
    try {
      if (/^job-[0-9a-f]+\.sh$/.test(f) && fs.statSync(full).mtimeMs < cutoff) fs.rmSync(full, { force: true })
    } catch {
      // removed meanwhile
    }
  }
}

function guestEnv(topologyName, extra) {
  const env = {}
  for (const k of PASSED_ENV) if (process.env[k] !== undefined) env[k] = process.env[k]
  for (const [k, v] of Object.entries(process.env)) if (k.startsWith('MEMPOLICY_') && v !== undefined) env[k] = v
  delete env.MEMPOLICY_NUMA_VM_CACHE
  if (env.CI === undefined) env.CI = '1' // the serial console is a tty: keep reporters non-interactive
  if (env.TERM === undefined) env.TERM = 'dumb'
  Object.assign(env, extra)
  env.MEMPOLICY_NUMA_GUEST = topologyName
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new HarnessError(`invalid environment variable name for the guest: ${k}`)
    if (env[k] === undefined || env[k] === null) delete env[k]
  }
  return env
}

/**
 * Boots `topologyName`, runs `shellCommand` (sh syntax) in the guest in `cwd` (default: the repository
 * root, same path as on the host) and powers off.
 *
 * Resolves to { code, output, timedOut, error, bootMs, jobMs, totalMs }:
 *   code   the command's exit status, or null when the guest never reported one (see `error`)
 *   output everything the guest printed on its serial console (CR LF turned into LF).
 */
export async function runInGuest(topologyName, shellCommand, options = {}) {
  const topology = TOPOLOGIES[topologyName]
  if (!topology) {
    throw new HarnessError(`unknown topology '${topologyName}' (known: ${TOPOLOGY_NAMES.join(', ')})`)
  }
  const { timeoutMs = 240_000, env = {}, cwd = REPO_ROOT, onOutput, log } = options
  const assets = options.assets ?? (await ensureGuestAssets(log ? { log } : {}))

  const nonce = crypto.randomBytes(8).toString('hex')
  const jobsDir = path.join(CACHE_DIR, 'jobs')
  fs.mkdirSync(jobsDir, { recursive: true })
  removeStaleJobs(jobsDir)
  const jobFile = path.join(jobsDir, `job-${nonce}.sh`)
  const envLines = Object.entries(guestEnv(topologyName, env))
    .map(([k, v]) => `export ${k}=${shQuote(v)}`)
    .join('\n')
  fs.writeFileSync(
    jobFile,
    `# mempolicy NUMA guest job (${topologyName}), written by test/numa-vm/vm.mjs\n` +
      `${envLines}\n` +
      `cd ${shQuote(cwd)} || exit 126\n` +
      `${shellCommand}\n`,
    { mode: 0o644 },
  )

  const cmdline = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    'no_timer_check',
    `mpjob=${jobFile}`,
    `mpnonce=${nonce}`,
    ...topology.kernelArgs,
  ].join(' ')
  const args = qemuArgs(topology, assets, cmdline)

  const started = Date.now()
  let readyAt
  let lastOutputAt = started
  let timedOut = false
  let timeoutReason
  let output = ''

  try {
    const result = await new Promise((resolve, reject) => {
      let child
      try {
        // coreutils `timeout` bounds qemu even if this process dies without killing it (SIGKILL from an
        // outer CI timeout); `detached` gives the pair a process group of their own to kill together.
        const hardLimit = String(Math.ceil(Math.max(timeoutMs, MAX_TOTAL_MS) / 1000) + 15)
        child = spawn('timeout', ['-s', 'KILL', hardLimit, 'qemu-system-x86_64', ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
          detached: true,
        })
      } catch (err) {
        reject(new HarnessError(`cannot start qemu-system-x86_64: ${err.message}`))
        return
      }
      liveGuests.add(child)
      // Checked once a second against the budget of this run (guestBudget).
      const timer = setInterval(() => {
        const now = Date.now()
        const budget = guestBudget(timeoutMs, readyAt === undefined ? undefined : readyAt - started)
        if (readyAt === undefined && now - started > budget.bootMs) {
          timeoutReason = `did not boot within ${Math.round(budget.bootMs / 1000)} s`
        } else if (budget.idleMs !== undefined && now - lastOutputAt > budget.idleMs) {
          timeoutReason =
            `no output for ${Math.round(budget.idleMs / 1000)} s (${IDLE_FACTOR} times the ` +
            `${((readyAt - started) / 1000).toFixed(1)} s boot, at least ${IDLE_MIN_MS / 1000} s)`
        } else if (now - started > budget.totalMs) {
          timeoutReason =
            `ran past ${Math.round(budget.totalMs / 1000)} s (the larger of ${Math.round(timeoutMs / 1000)} s ` +
            `and ${TOTAL_FACTOR} times the boot)`
        }
        if (timeoutReason !== undefined && !timedOut) {
          timedOut = true
          killGuest(child)
        }
      }, 1000)

      const append = (text) => {
        if (!text) return
        lastOutputAt = Date.now()
        output += text
        if (readyAt === undefined && output.includes(`${MARK} READY ${nonce}`)) readyAt = Date.now()
        onOutput?.(text)
      }
      // One sink per stream: CR LF from the serial line becomes LF, and the firmware's terminal resets
      // (ESC c, ESC [?7l, ESC [2J) are dropped. A chunk may end inside a UTF-8 character, a CR LF pair or an
      // escape sequence: such a tail waits for the next chunk.
      const sink = (stream) => {
        const decoder = new StringDecoder('utf8')
        let carry = ''
        // eslint-disable-next-line no-control-regex -- the terminal escapes qemu's firmware prints
        const clean = (text) => text.replace(/\r\n/g, '\n').replace(/\x1bc|\x1b\[\?7l|\x1b\[2J/g, '')
        stream.on('data', (buf) => {
          let text = carry + decoder.write(buf)
          // eslint-disable-next-line no-control-regex -- a terminal escape cut at the end of a chunk
          const tail = /(\r|\x1b[[?0-9]*)$/.exec(text)
          carry = tail ? tail[0] : ''
          if (tail) text = text.slice(0, -carry.length)
          append(clean(text))
        })
        stream.on('end', () => append(clean(carry + decoder.end())))
      }
      sink(child.stdout)
      sink(child.stderr)
      child.on('error', (err) => {
        clearInterval(timer)
        liveGuests.delete(child)
        reject(new HarnessError(`qemu-system-x86_64 failed to run: ${err.message}`))
      })
      child.on('close', (status, signal) => {
        clearInterval(timer)
        liveGuests.delete(child)
        resolve({ status, signal })
      })
    })

    const totalMs = Date.now() - started
    const exit = new RegExp(`${MARK} EXIT ${nonce} (\\d+)`).exec(output)
    const setup = new RegExp(`${MARK} SETUP-FAILED ${nonce} ([^\\n]*)`).exec(output)
    let error
    if (timedOut) error = `timed out: ${timeoutReason} (qemu killed after ${Math.round(totalMs / 1000)} s)`
    else if (setup) error = `guest setup failed: ${setup[1]}`
    else if (!exit) {
      const panic = /Kernel panic[^\n]*/.exec(output)
      error = panic
        ? `guest kernel panic: ${panic[0]}`
        : `guest ended without reporting an exit code (qemu ${result.signal ? `signal ${result.signal}` : `exit ${result.status}`})`
    }
    const bootMs = readyAt === undefined ? undefined : readyAt - started
    return {
      budget: guestBudget(timeoutMs, bootMs),
      code: exit ? Number(exit[1]) : null,
      output,
      timedOut,
      error,
      bootMs,
      jobMs: readyAt === undefined ? undefined : totalMs - bootMs,
      totalMs,
    }
  } finally {
    fs.rmSync(jobFile, { force: true })
  }
}
