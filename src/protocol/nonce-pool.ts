/**
 * Where `Replay-Nonce` values wait between requests (RFC 8555 §6.5): the transport adds the nonce of every
 * response and takes one for every signed request, so only a cold start or a burst asks `newNonce` (§7.2).
 */

/**
 * A pool of `Replay-Nonce` values (RFC 8555 §6.5): the transport adds the nonce of every response and takes one
 * for every signed request. Synchronous on purpose: it sits on the path of every request. A stale nonce costs one
 * `badNonce` round trip, never a failure.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-6.5 RFC 8555 §6.5}
 * @example
 * ```ts
 * import type { NoncePool } from 'webacme'
 *
 * const nonces: string[] = []
 * const pool: NoncePool = { take: () => nonces.pop(), add: (nonce) => void nonces.push(nonce) }
 * ```
 */
export interface NoncePool {
  /** A nonce to use now (the newest is best), or `undefined` when the pool is empty. */
  take(): string | undefined
  /** Keeps a nonce for a later request; a pool may drop the oldest when full. */
  add(nonce: string): void
}

/** How many nonces the default pool keeps. */
export const NONCE_POOL_MAX = 64

/** RFC 8555 §6.5.1: a nonce is base64url; anything else is not worth sending back. */
export function isWellFormedNonce(nonce: string | null): nonce is string {
  return nonce !== null && nonce !== '' && /^[A-Za-z0-9_-]+$/.test(nonce)
}

/** The default pool: newest first, the oldest dropped beyond `max`. */
export function arrayNoncePool(max: number = NONCE_POOL_MAX): NoncePool {
  const nonces: string[] = []
  return {
    take: () => nonces.pop(),
    add(nonce) {
      nonces.push(nonce)
      if (nonces.length > max) nonces.shift()
    },
  }
}
