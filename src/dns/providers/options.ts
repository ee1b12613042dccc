/**
 * The options every DNS provider adapter takes. Kept apart from ./http.ts (the request plumbing, which uses
 * valibot) so that the adapters' public declarations never reach valibot's types.
 */
import type { FetchLike } from '../../lib/web-types.ts'

/** Retry policy of an adapter for throttled requests (and failed reads). */
export interface ProviderRetryOptions {
  /** Retries of one request (default 3). */
  retries?: number
  /**
   * Most milliseconds to wait before one retry (default 30 000). When the provider asks for longer, the
   * `ERR_DNS_RATE_LIMITED` error is thrown at once with its `retryAfter`.
   */
  maxWait?: number
}

/** Options every provider adapter takes. */
export interface ProviderHttpOptions {
  /** `fetch` to use instead of the global one (proxies, tests, request logging). */
  fetch?: FetchLike
  /**
   * Retries after the provider throttled a request (429, Route53 `Throttling`, ...), and of reads that failed
   * with a 502/503/504 or a network error. `false` turns retries off. Writes are never retried after a failure
   * whose outcome is unknown.
   */
  retry?: ProviderRetryOptions | false
}
