/**
 * The retry policy of the transport: which failures may heal by themselves (429, 500, 502, 503, 504, a network
 * failure, a timeout, a body cut short), how long to wait between attempts (exponential backoff with jitter that
 * never undercuts `Retry-After`, RFC 9110 §10.2.3), and when to give up. `badNonce` is not retried here: the
 * transport retries it at once with a new nonce (RFC 8555 §6.5).
 */
import {
  AcmeNetworkError,
  AcmeProblemError,
  AcmeResponseError,
  CaUnavailableError,
  isBadNonce,
} from '../errors.ts'
import { sleep, throwIfAborted } from '../lib/abort.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'

/**
 * Retry policy for what may heal by itself: 429, 500, 502, 503, 504, a network failure, a timeout, a body cut
 * short. `badNonce` is always retried (bounded).
 */
export interface RetryOptions {
  /** Retries of one request after a transient failure (default 10). */
  retries?: number
  /**
   * Most milliseconds one request may spend retrying, counted from the end of its first attempt: the waits
   * between attempts and the attempts themselves (default 180 000). No retry starts that would wait past it;
   * when the server's `Retry-After` asks for longer, the error is thrown at once with its `retryAfter` set.
   */
  maxWait?: number
  /** `badNonce` retries of one request (default 20; Pebble rejects 5 % of nonces by default). */
  badNonceRetries?: number
}

/** The policy with every default filled in. */
export function retryPolicy(options: RetryOptions | false | undefined): Required<RetryOptions> {
  const retry = options === false ? { retries: 0 } : (options ?? {})
  return {
    retries: retry.retries ?? 10,
    maxWait: retry.maxWait ?? 180_000,
    badNonceRetries: retry.badNonceRetries ?? 20,
  }
}

/** HTTP statuses worth another attempt: rate limited, and server or gateway trouble. */
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504])

/** Errors thrown after an attempt whose outcome is unknown (the server may have acted on it). */
const afterLostResponse = new WeakSet<object>()
/** Errors of a response whose body was cut short (bad JSON from a truncated read): worth another attempt. */
const truncated = new WeakSet<object>()

/** Marks `err` as coming from a body cut short in transit, so that another attempt is made. */
export function markTruncated(err: object): void {
  truncated.add(err)
}

/**
 * True when `err` came from a request that was retried after an attempt that may have reached the server
 * (network failure, timeout, 5xx): a "not pending" or "already done" answer may then be our own earlier work.
 */
export function isAfterLostResponse(err: unknown): boolean {
  return typeof err === 'object' && err !== null && afterLostResponse.has(err)
}

/** `Retry-After` of an error, when it carried one. */
export function retryAfterOf(err: unknown): Date | undefined {
  return err instanceof AcmeProblemError || err instanceof AcmeResponseError ? err.retryAfter : undefined
}

/** The HTTP status of an error that came with a response (RFC 7807 §3.1: the HTTP status, not the body's). */
function httpStatus(err: unknown): number | undefined {
  return err instanceof AcmeProblemError || err instanceof AcmeResponseError ? err.status : undefined
}

/**
 * Whether another attempt may succeed: network trouble, a cut body, or a transient HTTP status. A certificate
 * this runtime does not trust will not become trusted by trying again.
 */
function isTransient(err: unknown): boolean {
  if (err instanceof AcmeNetworkError) return err.reason !== 'tls'
  if (typeof err === 'object' && err !== null && truncated.has(err)) return true
  const status = httpStatus(err)
  return status !== undefined && TRANSIENT_STATUS.has(status) && !isBadNonce(err)
}

/**
 * How many retries a failure is worth. Nothing listening or a name that does not resolve is more often a wrong URL
 * than a blip: two quick retries. Everything else transient gets the whole budget, except that three 500s in a
 * row end it: a server's own error is sometimes deterministic (Pebble answers a key change to a key in use with
 * 500).
 */
function exhausted(err: unknown, retry: number, serverErrorsInARow: number, retries: number): boolean {
  const reason = err instanceof AcmeNetworkError ? err.reason : undefined
  if (reason === 'connection-refused' || reason === 'dns') return retry >= Math.min(2, retries)
  return retry >= retries || serverErrorsInARow > 3
}

/**
 * Runs `attempt` until it succeeds, a failure is not transient, or the retry budget is spent. Waits between
 * attempts back off exponentially (with jitter) and never undercut the server's `Retry-After`. The error thrown
 * at the end is marked {@link isAfterLostResponse} when an earlier attempt may have reached the server.
 */
export async function withRetries<T>(
  policy: Required<RetryOptions>,
  signal: AbortSignalLike | undefined,
  attempt: (attempt: number) => Promise<T>,
): Promise<T> {
  let retryingSince: number | undefined
  let uncertain = false
  let serverErrorsInARow = 0
  for (let retry = 0; ; retry++) {
    try {
      return await attempt(retry + 1)
    } catch (err) {
      throwIfAborted(signal)
      retryingSince ??= Date.now()
      // A request already under way when the CA's circuit breaker opened waits for the probe, within its budget; a
      // new one fails at once (the breaker's point).
      const waitsForProbe = retry > 0 && err instanceof CaUnavailableError
      const retryAfter = waitsForProbe ? new Date(Date.now() + err.retryIn) : retryAfterOf(err)
      const backoff = Math.min(10_000, 500 * 2 ** retry) * (0.5 + Math.random() / 2)
      const delay = Math.max(backoff, retryAfter ? retryAfter.getTime() - Date.now() : 0)
      const spent = Date.now() - retryingSince
      serverErrorsInARow = httpStatus(err) === 500 ? serverErrorsInARow + 1 : 0
      if (
        !(isTransient(err) || waitsForProbe) ||
        exhausted(err, retry, serverErrorsInARow, policy.retries) ||
        spent + delay > policy.maxWait
      ) {
        if (uncertain && typeof err === 'object' && err !== null) afterLostResponse.add(err)
        throw err
      }
      // Anything but a 429 may have happened after the server acted.
      if (httpStatus(err) !== 429) uncertain = true
      await sleep(delay, signal)
    }
  }
}
