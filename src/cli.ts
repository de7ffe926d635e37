#!/usr/bin/env node
// The `mempolicy` command. Each subcommand is a file of src/cli/: numactl's options (numactl.ts, with
// --show and --hardware in show.ts), `maps PID` (maps.ts) and `stat`, numastat's reports (stat.ts).
// This file picks one and prints failures.
import './cli/signals'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { supportedPlatform } from './binding'
import { Failure, UsageError } from './cli/failures'
import { maps } from './cli/maps'
import { numactl } from './cli/numactl'
import { main as stat } from './cli/stat'

const NAME = 'mempolicy'

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

async function main(argv: readonly string[]): Promise<number> {
  if (!supportedPlatform && !argv.some((a) => a === '--help' || a === '-h' || a === '--version')) {
    throw new Failure(`memory policy is a Linux kernel feature and this is ${process.platform}`)
  }
  if (argv[0] === 'stat') return stat(argv.slice(1))
  if (argv[0] === 'maps') {
    process.stdout.write(maps(argv.slice(1)))
    return 0
  }
  return numactl(argv, version)
}

main(process.argv.slice(2)).then(
  (status) => {
    process.exitCode = status
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${NAME}: ${err.message}\nTry 'mempolicy --help' for more information.\n`)
      process.exitCode = 1
    } else if (err instanceof Failure) {
      process.stderr.write(`${NAME}: ${err.message}\n`)
      process.exitCode = err.status
    } else {
      process.stderr.write(`${NAME}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
      process.exitCode = 1
    }
  },
)
