/**
 * A circuit breaker for one CA: after a run of HTTP attempts that got no answer from the CA (connection refused or
 * reset, a timeout, a 5xx without an ACME problem document), every request fails at once with
 * {@link CaUnavailableError} instead of paying its own timeouts and retries, until a probe gets an answer.
 *
 * The transport asks it before each HTTP attempt ({@link CircuitBreaker.admit}) and tells it how the attempt
 * ended. What counts is whether the CA answered, not whether it said yes: a problem document (`rateLimited`,
 * `serverInternal`, ...) or any status below 500 is an answer and closes the breaker.
 *
 * @module
 */
import { AcmeNetworkError, AcmeProblemError, AcmeResponseError, CaUnavailableError } from '../errors.ts'

export { CaUnavailableError }

/** Options of {@link CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * HTTP attempts in a row that got no answer from the CA before the breaker opens (default 10). One request's
   * own retries count, so a single request rides out a short outage as before (its retries back off for about
   * 30 s before the tenth).
   */
  threshold?: number
  /** Milliseconds the breaker stays open before it lets one probe through (default 30 000). */
  coolDown?: number
  /** The clock, in milliseconds (default `Date.now`); for tests. */
  now?: () => number
}

/** Where a {@link CircuitBreaker} stands: sending, refusing, or letting one probe through. */
export type CircuitState = 'closed' | 'open' | 'half-open'

/** How an HTTP attempt ended, as the breaker sees it. */
export type AttemptOutcome =
  /** The CA answered (any status below 500, or a problem document). */
  | 'answered'
  /** No answer: a network failure, a timeout, a 5xx that is not a problem document. */
  | 'unanswered'
  /** Says nothing about the CA: the caller aborted, or this runtime does not trust the CA's certificate. */
  | 'neutral'

/** What the transport calls when an attempt the breaker admitted has ended. */
export type AttemptDone = (error: unknown) => void

/**
 * A circuit breaker for one CA (closed → open after `threshold` unanswered attempts in a row → half-open after
 * `coolDown`: one probe → closed on an answer, open again otherwise). Every `AcmeClient` has one (option `breaker`,
 * default a new one per client); hand one instance to every client that talks to the same CA, so that a dead CA
 * is noticed once for all of them.
 *
 * @example
 * ```ts
 * import { AcmeClient, CircuitBreaker, generateKeyPair, isAcmeError } from 'webacme'
 *
 * // One breaker for every client of this CA (several accounts, several tenants).
 * const letsEncrypt = new CircuitBreaker({ threshold: 10, coolDown: 30_000 })
 * const client = new AcmeClient({
 *   directoryUrl: 'https://acme-v02.api.letsencrypt.org/directory',
 *   accountKey: await generateKeyPair('ES256'),
 *   breaker: letsEncrypt,
 * })
 * try {
 *   await client.directory()
 * } catch (err) {
 *   if (isAcmeError(err, 'ERR_CA_UNAVAILABLE')) console.log(`CA down; next probe after ${err.retryAfter.toISOString()}`)
 * }
 * ```
 * @see {@link https://martinfowler.com/bliki/CircuitBreaker.html Circuit breaker}
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-6.7 RFC 8555 §6.7} (a problem document is an answer)
 */
export class CircuitBreaker {
  /** Unanswered attempts in a row that open the breaker. */
  readonly threshold: number
  /** Milliseconds open before a probe. */
  readonly coolDown: number
  readonly #now: () => number
  #failures = 0
  #openUntil: number | undefined
  #probing = false
  #lastFailure: unknown

  constructor(options: CircuitBreakerOptions = {}) {
    this.threshold = Math.max(1, Math.floor(options.threshold ?? 10))
    this.coolDown = Math.max(0, options.coolDown ?? 30_000)
    this.#now = options.now ?? Date.now
  }

  /** Closed (sending), open (refusing until {@link CircuitBreaker.openUntil}), or half-open (one probe may go). */
  get state(): CircuitState {
    if (this.#openUntil === undefined) return 'closed'
    return this.#probing || this.#now() < this.#openUntil ? 'open' : 'half-open'
  }

  /** Unanswered attempts since the last answer. */
  get consecutiveFailures(): number {
    return this.#failures
  }

  /** When the next probe may go, while the breaker is open or probing; `undefined` when closed. */
  get openUntil(): Date | undefined {
    if (this.#openUntil === undefined) return undefined
    return new Date(this.#probing ? Math.max(this.#openUntil, this.#now() + this.coolDown) : this.#openUntil)
  }

  /**
   * Before an HTTP attempt to this CA: throws {@link CaUnavailableError} when the breaker is open (or another
   * request is the probe), else returns what to call with the attempt's error (`undefined` for a response).
   */
  admit(url: string): AttemptDone {
    const state = this.state
    if (state === 'open') throw this.#refusal(url)
    const probe = state === 'half-open'
    if (probe) this.#probing = true
    let done = false
    return (error) => {
      if (done) return
      done = true
      this.record(attemptOutcome(error), error, probe)
    }
  }

  /**
   * Throws {@link CaUnavailableError} while the breaker is open, without taking the probe: for work that would
   * start with a request (an issuance, a renewal) and should not even prepare for it.
   */
  throwIfOpen(url: string): void {
    if (this.state === 'open') throw this.#refusal(url)
  }

  /** Records how an attempt ended (for attempts made outside {@link CircuitBreaker.admit}, e.g. a shared probe). */
  record(outcome: AttemptOutcome, error?: unknown, probe = false): void {
    if (probe) this.#probing = false
    if (outcome === 'answered') {
      // Any answer, even a late one from before the breaker opened, says the CA is up.
      this.#failures = 0
      this.#openUntil = undefined
      this.#lastFailure = undefined
    } else if (outcome === 'unanswered') {
      this.#failures++
      this.#lastFailure = error
      // A failed probe opens it again; attempts that were in flight when it opened do not push the probe back.
      if (probe || (this.#openUntil === undefined && this.#failures >= this.threshold))
        this.#openUntil = this.#now() + this.coolDown
    }
  }

  #refusal(url: string): CaUnavailableError {
    const now = this.#now()
    const retryAfter = this.openUntil ?? new Date(now)
    const last = this.#lastFailure instanceof Error ? `; last: ${this.#lastFailure.message}` : ''
    return new CaUnavailableError(
      `the CA did not answer ${this.#failures} requests in a row${last}; nothing is sent to it before ${retryAfter.toISOString()} (circuit breaker open)`,
      {
        url,
        retryAfter,
        retryIn: Math.max(0, retryAfter.getTime() - now),
        consecutiveFailures: this.#failures,
        cause: this.#lastFailure,
      },
    )
  }
}

/**
 * How an attempt's error tells about the CA. No error, a problem document or any HTTP status below 500 is an
 * answer; a network failure, a timeout or a 5xx without a problem document (a proxy or load balancer in front of
 * a CA that is down) is none. A TLS trust failure is this runtime's configuration, and an abort the caller's.
 */
export function attemptOutcome(error: unknown): AttemptOutcome {
  if (error === undefined) return 'answered'
  if (error instanceof AcmeNetworkError) return error.reason === 'tls' ? 'neutral' : 'unanswered'
  if (error instanceof AcmeProblemError) return 'answered'
  if (error instanceof AcmeResponseError) return error.status >= 500 ? 'unanswered' : 'answered'
  return 'neutral'
}
