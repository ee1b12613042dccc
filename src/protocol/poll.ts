/**
 * The one polling loop of webacme (orders, authorizations, challenges): waits at least as long as the server's
 * `Retry-After` asks (RFC 8555 §7.4, §8.2), backs off otherwise, stops at a deadline, and is abortable.
 */
import { AcmeStateError } from '../errors.ts'
import { sleep, throwIfAborted } from '../lib/abort.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'

/** How a wait polls. */
export interface PollOptions {
  /** First delay between polls when the server sends no `Retry-After` (ms, default 500). */
  interval?: number
  /** Longest delay between polls when the server sends no `Retry-After` (ms, default 10 000). */
  maxInterval?: number
  /** Give up after this many ms with an `ERR_WAIT_TIMEOUT` error (default 300 000). */
  timeout?: number
  /**
   * Wait one interval before the first read (default `false`). Right after responding to a challenge or
   * finalizing, the resource is rarely done at once: this saves a request per wait.
   */
  delayFirstRead?: boolean
  /** Aborts the wait. */
  signal?: AbortSignalLike
}

/** Polls `read` until `done` holds for its value; `read` returns the value and the response's Retry-After. */
export async function poll<T>(
  what: { kind: string; url: string },
  read: (signal: AbortSignalLike | undefined) => Promise<{ value: T; retryAfter: Date | undefined }>,
  done: (value: T) => boolean,
  options: PollOptions = {},
): Promise<T> {
  const { signal } = options
  const deadline = Date.now() + (options.timeout ?? 300_000)
  let interval = options.interval ?? 500
  const maxInterval = options.maxInterval ?? 10_000
  if (options.delayFirstRead) await sleep(interval, signal)
  for (;;) {
    throwIfAborted(signal)
    const { value, retryAfter } = await read(signal)
    if (done(value)) return value
    const delay = Math.max(interval, retryAfter ? retryAfter.getTime() - Date.now() : 0)
    if (Date.now() + delay > deadline) {
      throw new AcmeStateError(
        'ERR_WAIT_TIMEOUT',
        `${what.kind} ${what.url} is still not done; gave up waiting`,
        {
          url: what.url,
        },
      )
    }
    await sleep(delay, signal)
    interval = Math.min(maxInterval, interval * 1.5)
  }
}
