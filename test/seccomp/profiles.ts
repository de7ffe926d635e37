// The container runtimes' default seccomp profiles, for every syscall this package makes or may make,
// as each runtime's own source defines them, written down here in a table of our own (where each rule
// comes from: docs/containers.md, "What each profile blocks"); and a harness that runs a command as
// that runtime would: under those rules (test/seccomp/filter.c), with the runtime's default
// capabilities (setpriv), and with the marks the runtime leaves in a container (/.dockerenv,
// /run/.containerenv, environment variables), in a private mount namespace whose root is an overlay
// of this one. Every syscall not in the table is allowed, as each profile allows what Node needs.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'

export const SYSCALLS = [
  'get_mempolicy',
  'set_mempolicy',
  'mbind',
  'set_mempolicy_home_node',
  'move_pages',
  'migrate_pages',
  'sched_setaffinity',
  'sched_getaffinity',
  'getcpu',
  'execve',
  'execveat',
  'clone3',
] as const
export type Syscall = (typeof SYSCALLS)[number]

/**
 * What a profile does with a syscall: 'allow'; 'nice': allowed to a container with CAP_SYS_NICE,
 * the default action otherwise; 'unlisted': in no rule, so the default action; or an explicit
 * errno rule.
 */
type Rule = 'allow' | 'nice' | 'unlisted' | 'EPERM' | 'ENOSYS'
export type Answer = 'allow' | 'EPERM' | 'ENOSYS'

interface Runtime {
  /** What the profile answers a syscall it does not list (its default action). */
  defaultErrno: 'EPERM' | 'ENOSYS'
  /** The capabilities a container gets by default (setpriv names). */
  capabilities: readonly string[]
  rules: Readonly<Record<Syscall, Rule>>
  /** The marks the runtime leaves in every container. */
  marks: { files: readonly string[]; env: Readonly<Record<string, string>> }
}

const DOCKER_CAPABILITIES = [
  'chown',
  'dac_override',
  'fsetid',
  'fowner',
  'mknod',
  'net_raw',
  'setgid',
  'setuid',
  'setfcap',
  'setpcap',
  'net_bind_service',
  'sys_chroot',
  'kill',
  'audit_write',
]

/** Docker's rules; containerd's default profile, Kubernetes' RuntimeDefault there, has the same. */
const DOCKER_RULES: Record<Syscall, Rule> = {
  get_mempolicy: 'nice',
  set_mempolicy: 'nice',
  mbind: 'nice',
  set_mempolicy_home_node: 'nice',
  move_pages: 'unlisted',
  migrate_pages: 'unlisted',
  sched_setaffinity: 'allow',
  sched_getaffinity: 'allow',
  getcpu: 'allow',
  execve: 'allow',
  execveat: 'allow',
  // ENOSYS without CAP_SYS_ADMIN, so that glibc falls back to clone (which the profile allows without namespace flags).
  clone3: 'ENOSYS',
}

export const RUNTIMES = {
  docker: {
    defaultErrno: 'EPERM',
    capabilities: DOCKER_CAPABILITIES,
    rules: DOCKER_RULES,
    marks: { files: ['/.dockerenv'], env: {} },
  },
  podman: {
    defaultErrno: 'ENOSYS',
    capabilities: [
      'chown',
      'dac_override',
      'fowner',
      'fsetid',
      'kill',
      'net_bind_service',
      'setfcap',
      'setgid',
      'setpcap',
      'setuid',
      'sys_chroot',
    ],
    rules: {
      get_mempolicy: 'allow',
      set_mempolicy: 'allow',
      mbind: 'allow',
      set_mempolicy_home_node: 'unlisted',
      move_pages: 'EPERM',
      migrate_pages: 'EPERM',
      sched_setaffinity: 'allow',
      sched_getaffinity: 'allow',
      getcpu: 'allow',
      execve: 'allow',
      execveat: 'allow',
      clone3: 'allow',
    },
    marks: { files: ['/run/.containerenv'], env: { container: 'podman' } },
  },
  // A Kubernetes pod's container with seccompProfile RuntimeDefault under containerd (under CRI-O,
  // RuntimeDefault is the profile Podman uses). The kubelet puts the API server's address in every
  // container's environment.
  kubernetes: {
    defaultErrno: 'EPERM',
    capabilities: DOCKER_CAPABILITIES,
    rules: DOCKER_RULES,
    marks: { files: [], env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' } },
  },
} satisfies Record<string, Runtime>

export type RuntimeName = keyof typeof RUNTIMES
export type Profile = RuntimeName | `${RuntimeName}+SYS_NICE`

export const PROFILES: readonly Profile[] = (Object.keys(RUNTIMES) as RuntimeName[]).flatMap((r) => [r, `${r}+SYS_NICE`] as Profile[])

export function runtimeOf(profile: Profile): RuntimeName {
  return profile.split('+')[0] as RuntimeName
}

export function hasSysNice(profile: Profile): boolean {
  return profile.endsWith('+SYS_NICE')
}

/** What `syscall` gets under `profile`. */
export function answer(profile: Profile, syscall: Syscall): Answer {
  const runtime: Runtime = RUNTIMES[runtimeOf(profile)]
  const rule = runtime.rules[syscall]
  if (rule === 'allow' || (rule === 'nice' && hasSysNice(profile))) return 'allow'
  if (rule === 'nice' || rule === 'unlisted') return runtime.defaultErrno
  return rule
}

/** The memory-policy calls `profile` refuses, in the order capabilities() lists them. */
export function refused(profile: Profile): Syscall[] {
  const order: Syscall[] = ['get_mempolicy', 'set_mempolicy', 'mbind', 'move_pages', 'migrate_pages', 'set_mempolicy_home_node']
  return order.filter((s) => answer(profile, s) !== 'allow')
}

/** The filter's rules for `profile`, with `rules` over them: every syscall in the table. */
function filterRules(profile: Profile, rules: Partial<Record<Syscall, Answer>> = {}): string {
  return SYSCALLS.map((s) => `${s}=${rules[s] ?? answer(profile, s)}`).join(',')
}

export interface RunOptions {
  /** Answers that replace the profile's, as a custom profile based on it would give. */
  rules?: Partial<Record<Syscall, Answer>>
  /** Extra environment for the command (merged over the runtime's marks). */
  env?: Record<string, string>
  /**
   * The runtime's marks in the container (default true). false: none, as under a runtime this
   * package cannot name.
   */
  marks?: boolean
  input?: string
  timeout?: number
}

export interface Harness {
  /** test/seccomp/probe.c, built: makes each syscall of the table and prints what it got. */
  probe: string
  /** Runs `command` (program first) under `profile`, as its runtime would start it. */
  run(profile: Profile, command: readonly string[], options?: RunOptions): SpawnSyncReturns<string>
  dispose(): void
}

/**
 * Builds the filter and checks what the harness needs (a C compiler, root for setpriv's capability
 * sets and the mount namespace, setpriv, unshare, chroot). Returns the harness, or why there is none.
 */
export function seccompHarness(): Harness | { missing: string } {
  if (process.getuid?.() !== 0) return { missing: "root (setpriv sets the runtime's capabilities, unshare -m makes its marks)" }
  for (const tool of ['cc', 'setpriv', 'unshare', 'chroot']) {
    const probe = spawnSync(tool, ['--version'], { stdio: 'ignore' })
    if (probe.error !== undefined) return { missing: `${tool} (${probe.error.message})` }
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'mempolicy-seccomp-'))
  const filter = path.join(dir, 'filter')
  const probe = path.join(dir, 'probe')
  execFileSync('cc', ['-O2', '-Wall', '-o', filter, path.join(__dirname, 'filter.c')])
  execFileSync('cc', ['-O2', '-Wall', '-o', probe, path.join(__dirname, 'probe.c')])
  // The container's root: an overlay of this one (writes go to a tmpfs), the runtime's marks made or
  // removed there, /proc, /sys, /dev, /tmp and /work the host's, then chroot.
  const ROOT = [
    'set -e',
    'T=$(mktemp -d "$MP_DIR/root.XXXXXX")',
    'mount -t tmpfs tmpfs "$T"',
    'mkdir "$T/up" "$T/work" "$T/root"',
    'mount -t overlay overlay -o "lowerdir=/,upperdir=$T/up,workdir=$T/work" "$T/root"',
    'for d in proc sys dev tmp work; do [ -d "/$d" ] && mount --rbind "/$d" "$T/root/$d"; done',
    'rm -f "$T/root/.dockerenv" "$T/root/run/.containerenv"',
    'for f in $MP_MARKS; do mkdir -p "$T/root$(dirname "$f")"; : > "$T/root$f"; done',
    'cd "$T/root"',
    'exec chroot . "$@"',
  ].join('\n')
  const command = (profile: Profile, argv: readonly string[], options: RunOptions = {}): string[] => {
    const runtime: Runtime = RUNTIMES[runtimeOf(profile)]
    const marks = options.marks ?? true
    const env = { ...(marks ? runtime.marks.env : {}), ...options.env }
    const caps = ['-all', ...runtime.capabilities.map((c) => `+${c}`), ...(hasSysNice(profile) ? ['+sys_nice'] : [])].join(',')
    return [
      'unshare',
      '-m',
      '--propagation',
      'private',
      'sh',
      '-c',
      ROOT,
      'root',
      // In the container's root: the filter installed first (as a runtime does before it drops
      // capabilities, so no_new_privs stays off), then the capabilities, then the environment.
      filter,
      filterRules(profile, options.rules),
      '--',
      'setpriv',
      '--inh-caps=-all',
      `--bounding-set=${caps}`,
      '--',
      'env',
      '-u',
      'KUBERNETES_SERVICE_HOST',
      '-u',
      'KUBERNETES_SERVICE_PORT',
      '-u',
      'container',
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ...argv,
    ]
  }
  const markEnv = (profile: Profile, options: RunOptions = {}): NodeJS.ProcessEnv => {
    // Without a preloaded sanitizer runtime (npm run test:asan): the harness's children stay plain.
    const { LD_PRELOAD: _preload, MEMPOLICY_PREBUILD: _build, ...env } = process.env
    const marks = (options.marks ?? true) ? RUNTIMES[runtimeOf(profile)].marks.files : []
    return { ...env, MP_DIR: dir, MP_MARKS: marks.join(' ') }
  }
  const harness: Harness = {
    probe,
    run(profile, argv, options = {}) {
      const [program, ...args] = command(profile, argv, options)
      return spawnSync(program!, args, {
        encoding: 'utf8',
        env: markEnv(profile, options),
        input: options.input,
        timeout: options.timeout ?? 60_000,
      })
    },
    dispose() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
  // A mount namespace, an overlay and chroot can be refused where the tools exist (inside a container
  // without CAP_SYS_ADMIN, say): try them once.
  const trial = harness.run('docker', ['true'])
  if (trial.status !== 0) {
    harness.dispose()
    return {
      missing: `a mount namespace with an overlay root (${(trial.stderr || trial.error?.message || `exit ${trial.status}`).trim()})`,
    }
  }
  return harness
}
