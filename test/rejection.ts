// What a promise rejected with, for tests of the calls that run on the libuv pool.

/** The error `promise` rejects with; throws if it resolves instead. */
export async function rejection(
  promise: Promise<unknown>,
): Promise<Error & { code?: string; errno?: number; syscall?: string; hint?: string }> {
  try {
    await promise
  } catch (err) {
    return err as Error & { code?: string }
  }
  throw new Error('expected the promise to reject')
}
