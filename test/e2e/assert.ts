/**
 * Runner-agnostic assertions for the end-to-end scenarios: no Node, no test framework, so the same scenario
 * files run in Node, Deno, Bun, workerd and a browser page.
 */

export class AssertionError extends Error {
  override name = 'AssertionError'
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message)
}

export function equal<T>(actual: T, expected: T, message: string): void {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new AssertionError(`${message}: expected ${e}, got ${a}`)
}

/** Awaits `promise`, expects it to reject with an error whose `code` is `code`, and returns that error. */
export async function rejectsWith<E = { code: string; message: string }>(
  promise: Promise<unknown>,
  code: string,
  message: string,
): Promise<E> {
  let outcome: unknown
  try {
    outcome = await promise
  } catch (err) {
    const actual = (err as { code?: unknown })?.code
    if (actual !== code) {
      throw new AssertionError(
        `${message}: expected error code ${code}, got ${String(actual)} (${(err as Error)?.message})`,
      )
    }
    return err as E
  }
  throw new AssertionError(
    `${message}: expected rejection with ${code}, resolved with ${JSON.stringify(outcome)}`,
  )
}
