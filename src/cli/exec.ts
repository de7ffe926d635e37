// Running the command in place of this process, as numactl does: the addon's execve, so the command
// keeps this PID, gets its signals directly and its exit status is the one the caller sees; no Node
// process stays behind. The command is looked up on PATH as execvp does; a command that cannot be
// run exits 127 (not found) or 126 (found, not executable), as a shell reports (docs/cli.md).
import { constants } from 'node:os'
import { binding } from '../binding'
import { EACCES, ENOENT } from '../errno'
import { Failure } from './failures'
import { strerror } from './shm'

const { ENOEXEC, ENOTDIR, ESTALE, ENODEV, ETIMEDOUT } = constants.errno

/** glibc's execvp default search path, when PATH is unset. */
const DEFAULT_PATH = '/bin:/usr/bin'

/**
 * Replaces this process with `command` (argv[0] is looked up as execvp does). Returns only by
 * throwing a Failure with the shell's status when no candidate could be executed.
 */
export function execInPlace(command: readonly string[]): never {
  const native = binding()
  const [file] = command as [string, ...string[]]
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v ?? ''}`)
  if (file === '') throw new Failure(': command not found', 127)
  const candidates = file.includes('/')
    ? [file]
    : (process.env.PATH ?? DEFAULT_PATH).split(':').map((dir) => `${dir === '' ? '.' : dir}/${file}`)
  let denied = false
  let errno = ENOENT
  for (const path of candidates) {
    const rc = -native.execve(path, command, env)
    if (rc === ENOEXEC) {
      // Not a binary and no #! line: run it with the shell, as execvp does.
      const sh = -native.execve('/bin/sh', ['/bin/sh', path, ...command.slice(1)], env)
      errno = sh
      break
    }
    if (rc === EACCES) {
      denied = true
      continue
    }
    errno = rc
    if (rc === ENOENT || rc === ENOTDIR || rc === ESTALE || rc === ENODEV || rc === ETIMEDOUT) continue
    break
  }
  if (denied && (errno === ENOENT || errno === ENOTDIR)) errno = EACCES
  if (errno === ENOENT && !file.includes('/')) throw new Failure(`${file}: command not found`, 127)
  throw new Failure(`${file}: ${errno === EACCES ? 'permission denied' : strerror(errno)}`, errno === ENOENT ? 127 : 126)
}
