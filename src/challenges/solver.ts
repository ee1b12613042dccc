/**
 * The challenge solver interface (RFC 8555 §8): something that can publish what one challenge type needs
 * (an http-01 token, a dns-01 TXT record, a tls-alpn-01 certificate, ...) and take it down again.
 */

import type { AbortSignalLike } from '../lib/web-types.ts'
import type { Authorization, Challenge, Identifier } from '../protocol/resources.ts'

/** What a solver is told about the challenge it must present. */
export interface ChallengeContext {
  /** The authorization the challenge belongs to. */
  authorization: Authorization
  /** The challenge to present. */
  challenge: Challenge
  /**
   * The identifier as ordered: for a wildcard authorization this is `*.example.com`, while
   * `authorization.identifier.value` is `example.com` (RFC 8555 §7.1.4).
   */
  identifier: Identifier
  /** `token.thumbprint` (RFC 8555 §8.1); `undefined` for token-less challenge types (dns-persist-01). */
  keyAuthorization: string | undefined
  /** The account URL, for account-bound challenge types (dns-account-01, dns-persist-01). */
  accountUrl: string
  /**
   * Aborts presenting. In `cleanup` it is never the caller's signal (cleanup must run after an abort too): it
   * aborts when the cleanup's own time is up.
   */
  signal?: AbortSignalLike
}

/**
 * Solves one challenge type. `present` publishes, `cleanup` removes exactly what `present` published (and
 * must tolerate a `present` that failed half-way). `ready`, when given, resolves once the published value
 * is visible to the CA (DNS propagation); the flow calls it before telling the CA to validate.
 */
export interface ChallengeSolver {
  /** The challenge type, e.g. `http-01`, `dns-01`, `tls-alpn-01`. */
  readonly type: string
  /** Whether this solver can answer for an identifier (default: any). http-01 cannot do wildcards. */
  canSolve?(identifier: Identifier): boolean
  present(context: ChallengeContext): Promise<void>
  ready?(context: ChallengeContext): Promise<void>
  cleanup(context: ChallengeContext): Promise<void>
}
