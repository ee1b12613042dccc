/**
 * Every error webacme throws is an {@link AcmeError} with a stable `code`, so callers `switch (err.code)`
 * instead of matching messages, and each code belongs to exactly one class: narrowing on the code narrows the
 * error to the class that carries that code's fields (see {@link WebAcmeError}).
 *
 * Who is at fault decides the class:
 * - the caller: {@link InvalidArgumentError}, raised before the request it would spoil;
 * - the ACME server's RFC 7807 problem document (RFC 8555 §6.7): {@link AcmeProblemError}, one code per ACME type;
 * - any other server data that is not what RFC 8555 says (a bad field, a garbage certificate, a URL the client
 *   must not follow): {@link AcmeResponseError};
 * - the network: {@link AcmeNetworkError}, with the root cause in `reason`;
 * - a resource that ended where the call cannot go on: {@link AcmeStateError}.
 *
 * An aborted call rejects with the `AbortSignal`'s own reason (a `DOMException` named `AbortError` unless the
 * caller chose another), as `fetch` does.
 *
 * The errors of the DNS providers ({@link DnsProviderError}), of storage ({@link StorageError}) and of the
 * on-demand certificate manager ({@link CertificateManagerError}) live with their modules, on the same base; every
 * code is declared in `src/error-codes.ts`. This module re-exports them all and none of them imports it back.
 */

import { AcmeError, InvalidArgumentError } from './acme-error.ts'
import { DnsProviderError } from './dns/errors.ts'
import {
  type AcmeProblemCode,
  type AcmeProblemType,
  PROBLEM_CODES,
  type ResponseErrorCode,
  type StateErrorCode,
  type WebAcmeErrorCode,
} from './error-codes.ts'
import type { ResponseLike } from './lib/web-types.ts'
import { CertificateManagerError } from './ondemand/errors.ts'
import { StorageError } from './storage/storage.ts'

export type {
  AcmeProblemCode,
  AcmeProblemType,
  CertificateManagerErrorCode,
  DnsErrorCode,
  InvalidArgumentCode,
  ResponseErrorCode,
  StateErrorCode,
  StorageErrorCode,
  WebAcmeErrorCode,
} from './error-codes.ts'
export {
  AcmeError,
  CertificateManagerError,
  DnsProviderError,
  InvalidArgumentError,
  PROBLEM_CODES,
  StorageError,
}

export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:'

/** The identifier a problem or subproblem is about (RFC 8555 §6.7.1). */
export interface ProblemIdentifier {
  type: string
  value: string
}

/** A subproblem of a compound problem (RFC 8555 §6.7.1). */
export interface Subproblem {
  type: string
  detail?: string | undefined
  identifier?: ProblemIdentifier | undefined
}

/** An RFC 7807 problem document as ACME servers send it (RFC 8555 §6.7). */
export interface ProblemDocument {
  type: string
  detail?: string | undefined
  status?: number | undefined
  instance?: string | undefined
  subproblems?: Subproblem[] | undefined
  identifier?: ProblemIdentifier | undefined
  /** `badSignatureAlgorithm` lists the algorithms the server accepts (RFC 8555 §6.2). */
  algorithms?: string[] | undefined
}

/** The short ACME type (`rateLimited`) of a full problem type URN, or `undefined` outside the namespace. */
export function problemShortType(type: string): AcmeProblemType | undefined {
  if (!type.startsWith(ACME_ERROR_PREFIX)) return undefined
  const short = type.slice(ACME_ERROR_PREFIX.length)
  return Object.hasOwn(PROBLEM_CODES, short) ? (short as AcmeProblemType) : undefined
}

/** The code an ACME problem type maps to. */
export function problemCode(type: string): AcmeProblemCode {
  const short = problemShortType(type)
  return short ? PROBLEM_CODES[short] : 'ERR_ACME_PROBLEM'
}

/** An error document returned by the ACME server (RFC 8555 §6.7). */
export class AcmeProblemError extends AcmeError {
  declare readonly code: AcmeProblemCode
  /** Full problem type URN, e.g. `urn:ietf:params:acme:error:rateLimited`. */
  readonly type: string
  readonly detail: string | undefined
  /**
   * HTTP status of the response. RFC 7807 §3.1: the HTTP status is authoritative; the document's own `status`
   * member is advisory and stays in `problem.status`.
   */
  readonly status: number
  readonly subproblems: Subproblem[]
  readonly identifier: ProblemIdentifier | undefined
  /** When the server asked to retry (`Retry-After`), if it did. */
  readonly retryAfter: Date | undefined
  /** `Link: <...>;rel="help"` (rate limit documentation, terms of service for `userActionRequired`). */
  readonly helpUrl: string | undefined
  /** Algorithms the server accepts, from a `badSignatureAlgorithm` problem. */
  readonly algorithms: string[] | undefined
  /** URL of the request that failed. */
  readonly url: string
  /** The problem document as received. */
  readonly problem: ProblemDocument
  declare readonly response: ResponseLike

  constructor(
    problem: ProblemDocument,
    init: {
      status: number
      url: string
      retryAfter?: Date | undefined
      helpUrl?: string | undefined
      response?: ResponseLike
    },
  ) {
    const subproblems = problem.subproblems ?? []
    const details = subproblems
      .map((sub) => `${sub.identifier ? `${sub.identifier.value}: ` : ''}${sub.detail ?? sub.type}`)
      .join('; ')
    super(
      problemCode(problem.type),
      `${problem.detail ?? problem.type} (${problem.type}, HTTP ${init.status} from ${init.url})${details ? ` [${details}]` : ''}`,
    )
    this.name = 'AcmeProblemError'
    this.type = problem.type
    this.detail = problem.detail
    this.status = init.status
    this.subproblems = subproblems
    this.identifier = problem.identifier
    this.retryAfter = init.retryAfter
    this.helpUrl = init.helpUrl
    this.algorithms = problem.algorithms
    this.url = init.url
    this.problem = problem
    // Non-enumerable so that logging the error does not dump a whole Response.
    Object.defineProperty(this, 'response', { value: init.response, enumerable: false })
  }
}

/**
 * Server data the client cannot use: bad JSON, a missing field or header, a garbage certificate
 * (`ERR_INVALID_RESPONSE`); a URL on another origin or over plain `http:` (`ERR_UNTRUSTED_URL`); a redirect it
 * does not follow (`ERR_REDIRECT`); a body over the size limit (`ERR_RESPONSE_TOO_LARGE`). `url` names the URL
 * concerned.
 */
export class AcmeResponseError extends AcmeError {
  declare readonly code: ResponseErrorCode
  readonly url: string
  readonly status: number
  /** Dotted path of the offending field (`challenges.0.token`), or the header name, when known. */
  readonly field: string | undefined
  /** `Retry-After` of the response, when it had one (a 503 from a proxy, say). */
  readonly retryAfter: Date | undefined
  constructor(
    message: string,
    init: {
      url: string
      status: number
      field?: string | undefined
      retryAfter?: Date | undefined
      cause?: unknown
      code?: ResponseErrorCode
    },
  ) {
    super(init.code ?? 'ERR_INVALID_RESPONSE', message, { cause: init.cause })
    this.name = 'AcmeResponseError'
    this.url = init.url
    this.status = init.status
    this.field = init.field
    this.retryAfter = init.retryAfter
  }
}

/** The root cause of a network failure, as far as the runtime tells it. */
export type NetworkFailureReason =
  /** Nothing listens at the address (ECONNREFUSED). */
  | 'connection-refused'
  /** The host name does not resolve (ENOTFOUND, EAI_AGAIN). */
  | 'dns'
  /** The TLS handshake failed: most often a certificate this runtime does not trust. */
  | 'tls'
  /** The connection was reset or closed before the whole response arrived. */
  | 'reset'
  /** The per-request timeout ran out (`ERR_TIMEOUT`). */
  | 'timeout'
  /** The runtime gave no detail (browsers say only "Failed to fetch"). */
  | 'unknown'

/**
 * `fetch` itself failed (`ERR_NETWORK`) or the per-request timeout ran out (`ERR_TIMEOUT`). `reason` names the
 * root cause found in the runtime's error chain, and `hint` says what usually fixes it, when something does.
 */
export class AcmeNetworkError extends AcmeError {
  declare readonly code: 'ERR_NETWORK' | 'ERR_TIMEOUT'
  readonly url: string
  readonly reason: NetworkFailureReason
  readonly hint: string | undefined
  constructor(
    code: 'ERR_NETWORK' | 'ERR_TIMEOUT',
    message: string,
    init: { url: string; cause?: unknown; reason?: NetworkFailureReason; hint?: string | undefined },
  ) {
    super(code, message, { cause: init.cause })
    this.name = 'AcmeNetworkError'
    this.url = init.url
    this.reason = init.reason ?? (code === 'ERR_TIMEOUT' ? 'timeout' : 'unknown')
    this.hint = init.hint
  }
}

/**
 * The CA's circuit breaker is open: it left `consecutiveFailures` requests in a row unanswered, and nothing is
 * sent to it before `retryAfter` (then one probe goes; an answer closes the breaker). `cause` is the last failure.
 * Retry the work after `retryAfter`; a queue consumer should put the message back with that delay.
 */
export class CaUnavailableError extends AcmeError {
  declare readonly code: 'ERR_CA_UNAVAILABLE'
  /** The request that was not sent. */
  readonly url: string
  /** When the breaker lets the next probe through (by the breaker's clock). */
  readonly retryAfter: Date
  /** Milliseconds from this error to `retryAfter`: the delay to put a queue message back with. */
  readonly retryIn: number
  /** Unanswered attempts in a row that opened the breaker. */
  readonly consecutiveFailures: number
  constructor(
    message: string,
    init: { url: string; retryAfter: Date; retryIn: number; consecutiveFailures: number; cause?: unknown },
  ) {
    super('ERR_CA_UNAVAILABLE', message, { cause: init.cause })
    this.name = 'CaUnavailableError'
    this.url = init.url
    this.retryAfter = init.retryAfter
    this.retryIn = init.retryIn
    this.consecutiveFailures = init.consecutiveFailures
  }
}

/**
 * A resource ended in a state the call cannot continue from: an order or authorization became `invalid`,
 * a wait ran out of time, or a key change found the new key already bound to another account.
 */
export class AcmeStateError extends AcmeError {
  declare readonly code: StateErrorCode
  /** URL of the resource concerned (for `ERR_KEY_IN_USE`: the account that already holds the key). */
  readonly url: string
  /** The problem the server attached to the resource (`order.error`, `challenge.error`), if any. */
  readonly problem: ProblemDocument | undefined
  constructor(
    code: AcmeStateError['code'],
    message: string,
    init: { url: string; problem?: ProblemDocument | undefined },
  ) {
    super(code, message)
    this.name = 'AcmeStateError'
    this.url = init.url
    this.problem = init.problem
  }
}

/** The runtime or the ACME server lacks a capability (Ed25519 in WebCrypto, `newAuthz` in the directory, ...). */
export class UnsupportedError extends AcmeError {
  declare readonly code: 'ERR_UNSUPPORTED'
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_UNSUPPORTED', message, options)
    this.name = 'UnsupportedError'
  }
}

/** True when `err` is an {@link AcmeProblemError} of the given ACME type (short name, e.g. `'rateLimited'`). */
export function isProblem(err: unknown, type?: AcmeProblemType): err is AcmeProblemError {
  return err instanceof AcmeProblemError && (type === undefined || err.type === ACME_ERROR_PREFIX + type)
}

/** The server refused because of a rate limit; see `err.retryAfter` and `err.helpUrl`. */
export function isRateLimited(err: unknown): err is AcmeProblemError {
  return isProblem(err, 'rateLimited')
}

/** The server wants a fresh nonce (RFC 8555 §6.5). webacme retries these itself; this is for custom loops. */
export function isBadNonce(err: unknown): err is AcmeProblemError {
  return isProblem(err, 'badNonce')
}

/** The user must act (typically agree to new terms of service at `err.helpUrl`). */
export function isUserActionRequired(err: unknown): err is AcmeProblemError {
  return isProblem(err, 'userActionRequired')
}

/** The CA requires external account binding (RFC 8555 §7.3.4). */
export function isExternalAccountRequired(err: unknown): err is AcmeProblemError {
  return isProblem(err, 'externalAccountRequired')
}

/**
 * Every error webacme throws, as a union whose members each carry their own codes: `switch (err.code)` narrows
 * `err` to the class with that code's fields (`retryAfter` on `ERR_ACME_RATE_LIMITED`, `url` and `problem` on
 * `ERR_AUTHORIZATION_INVALID`, `reason` on `ERR_NETWORK`, ...).
 */
export type WebAcmeError =
  | AcmeProblemError
  | AcmeResponseError
  | AcmeNetworkError
  | CaUnavailableError
  | AcmeStateError
  | UnsupportedError
  | InvalidArgumentError
  | DnsProviderError
  | StorageError
  | CertificateManagerError

/** The member of {@link WebAcmeError} that carries code `C`. */
export type WebAcmeErrorWithCode<C extends WebAcmeErrorCode, E = WebAcmeError> = E extends {
  readonly code: infer K
}
  ? C extends K
    ? E
    : never
  : never

/** True for any error webacme threw (every one is an {@link AcmeError}), optionally of one code. */
export function isAcmeError<C extends WebAcmeErrorCode = WebAcmeErrorCode>(
  err: unknown,
  code?: C,
): err is WebAcmeErrorWithCode<C> {
  return err instanceof AcmeError && (code === undefined || err.code === code)
}
