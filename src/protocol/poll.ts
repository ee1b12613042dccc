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
   * Wait before the first read (default `false`). Right after responding to a challenge or finalizing, the
   * resource is rarely done at once, so an immediate read is a wasted request. The client learns how long its
   * CA takes for each kind of wait and waits about that long (never more than `interval`).
   */
  delayFirstRead?: boolean
  /** Aborts the wait. */
  signal?: AbortSignalLike
}

/** What a {@link FirstReadPacer} learned, per kind of wait: the next first delay and its floor (ms). */
export type FirstReadPacerState = Record<string, { delay: number; floor: number }>

/** Follow-up polls after a paced first read that came too early start here (ms). */
const MIN_FOLLOW_UP = 10

/**
 * Learns, per kind of wait (authorization, order), how long the CA takes, so that the first read lands just after
 * the resource is done: a fast CA (Pebble: milliseconds) is read almost at once, a slow one is not polled early.
 * After a read that found the resource done, the next first delay is a quarter, but not below the time the last
 * too-early wait needed; a too-early read raises it to what that wait took.
 */
export class FirstReadPacer {
  readonly #state = new Map<string, { delay: number; floor: number }>()

  /**
   * A pacer that starts from what another one learned ({@link FirstReadPacer.toJSON}), e.g. kept in a Durable
   * Object between Worker invocations. Entries that are not finite non-negative numbers are ignored.
   */
  constructor(learned?: FirstReadPacerState) {
    for (const [kind, entry] of Object.entries(learned ?? {})) {
      const ok = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= 0
      if (ok(entry?.delay) && ok(entry?.floor))
        this.#state.set(kind, { delay: entry.delay, floor: entry.floor })
    }
  }

  /** What this pacer has learned, as JSON, for `new FirstReadPacer(state)` in another process. */
  toJSON(): FirstReadPacerState {
    return Object.fromEntries([...this.#state].map(([kind, { delay, floor }]) => [kind, { delay, floor }]))
  }

  /** The delay before the first read of a `kind` wait: the learned time, never more than `interval`. */
  delay(kind: string, interval: number): number {
    const state = this.#state.get(kind)
    return state ? Math.min(interval, state.delay) : interval
  }

  /** Records a finished wait: its first delay, whether the first read found it done, and its total time. */
  record(kind: string, delay: number, doneAtFirstRead: boolean, elapsed: number): void {
    const state = this.#state.get(kind) ?? { delay, floor: 0 }
    if (doneAtFirstRead) {
      state.delay = Math.max(state.floor, delay / 4, 1)
      state.floor *= 0.98
    } else {
      state.floor = elapsed
      state.delay = elapsed
    }
    this.#state.set(kind, state)
  }
}

/**
 * Polls `read` until `done` holds for its value; `read` returns the value and the response's Retry-After. Past
 * the deadline it throws `what.timeoutError()` when given, else an `ERR_WAIT_TIMEOUT` `AcmeStateError`.
 */
export async function poll<T>(
  what: { kind: string; url: string; timeoutError?: () => Error },
  read: (signal: AbortSignalLike | undefined) => Promise<{ value: T; retryAfter: Date | undefined }>,
  done: (value: T) => boolean,
  options: PollOptions = {},
  pacer?: FirstReadPacer,
): Promise<T> {
  const { signal } = options
  const started = Date.now()
  const deadline = started + (options.timeout ?? 300_000)
  let interval = options.interval ?? 500
  const maxInterval = options.maxInterval ?? 10_000
  let firstDelay = 0
  if (options.delayFirstRead) {
    firstDelay = pacer ? pacer.delay(what.kind, interval) : interval
    await sleep(firstDelay, signal)
    // A paced first read that comes too early is followed up on the same scale, not a whole interval later.
    if (pacer) interval = Math.min(interval, Math.max(firstDelay, MIN_FOLLOW_UP))
  }
  for (let reads = 1; ; reads++) {
    throwIfAborted(signal)
    const { value, retryAfter } = await read(signal)
    if (done(value)) {
      if (options.delayFirstRead) pacer?.record(what.kind, firstDelay, reads === 1, Date.now() - started)
      return value
    }
    const delay = Math.max(interval, retryAfter ? retryAfter.getTime() - Date.now() : 0)
    if (Date.now() + delay > deadline) {
      if (what.timeoutError) throw what.timeoutError()
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
