// The two ways the command fails: a bad command line (usage hint, exit 1, nothing run) and any other
// failure (message, exit status). src/cli.ts prints them.

/** A bad command line: message on stderr, usage hint, exit 1, nothing run. */
export class UsageError extends Error {}

/** A failure that is not a usage error: message on stderr, exit `status`. */
export class Failure extends Error {
  constructor(
    message: string,
    readonly status = 1,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}
