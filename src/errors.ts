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
 */

import type { DnsProviderError } from './dns/errors.ts'
import type { ResponseLike } from './lib/web-types.ts'
import type { CertificateManagerError, CertificateManagerErrorCode } from './ondemand/errors.ts'
import type { CaUnavailableError } from './protocol/circuit-breaker.ts'
import type { StorageError, StorageErrorCode } from './storage/storage.ts'

/** ACME error types (RFC 8555 §6.7, RFC 9773 §7.4, draft-ietf-acme-profiles) and the code each maps to. */
export const PROBLEM_CODES = {
  accountDoesNotExist: 'ERR_ACME_ACCOUNT_DOES_NOT_EXIST',
  alreadyReplaced: 'ERR_ACME_ALREADY_REPLACED',
  alreadyRevoked: 'ERR_ACME_ALREADY_REVOKED',
  badCSR: 'ERR_ACME_BAD_CSR',
  badNonce: 'ERR_ACME_BAD_NONCE',
  badPublicKey: 'ERR_ACME_BAD_PUBLIC_KEY',
  badRevocationReason: 'ERR_ACME_BAD_REVOCATION_REASON',
  badSignatureAlgorithm: 'ERR_ACME_BAD_SIGNATURE_ALGORITHM',
  caa: 'ERR_ACME_CAA',
  compound: 'ERR_ACME_COMPOUND',
  connection: 'ERR_ACME_CONNECTION',
  dns: 'ERR_ACME_DNS',
  externalAccountRequired: 'ERR_ACME_EXTERNAL_ACCOUNT_REQUIRED',
  incorrectResponse: 'ERR_ACME_INCORRECT_RESPONSE',
  invalidContact: 'ERR_ACME_INVALID_CONTACT',
  invalidProfile: 'ERR_ACME_INVALID_PROFILE',
  malformed: 'ERR_ACME_MALFORMED',
  orderNotReady: 'ERR_ACME_ORDER_NOT_READY',
  rateLimited: 'ERR_ACME_RATE_LIMITED',
  rejectedIdentifier: 'ERR_ACME_REJECTED_IDENTIFIER',
  serverInternal: 'ERR_ACME_SERVER_INTERNAL',
  tls: 'ERR_ACME_TLS',
  unauthorized: 'ERR_ACME_UNAUTHORIZED',
  unsupportedContact: 'ERR_ACME_UNSUPPORTED_CONTACT',
  unsupportedIdentifier: 'ERR_ACME_UNSUPPORTED_IDENTIFIER',
  userActionRequired: 'ERR_ACME_USER_ACTION_REQUIRED',
} as const

/** The short name of an ACME error type: the part after `urn:ietf:params:acme:error:`. */
export type AcmeProblemType = keyof typeof PROBLEM_CODES

/** Code of an {@link AcmeProblemError}; `ERR_ACME_PROBLEM` for a problem type outside the ACME namespace. */
export type AcmeProblemCode = (typeof PROBLEM_CODES)[AcmeProblemType] | 'ERR_ACME_PROBLEM'

/** Codes of {@link InvalidArgumentError}: caller mistakes. */
export type InvalidArgumentCode =
  /** A bad argument: malformed identifier, wrong key type, bad PEM, unknown option value, ... */
  | 'ERR_INVALID_ARGUMENT'
  /** An account would be created without the caller's explicit `termsOfServiceAgreed: true`. */
  | 'ERR_TERMS_NOT_AGREED'
  /** An identifier that none of the given solvers can answer for (a wildcard with only http-01). */
  | 'ERR_NO_SOLVER'
  /** Resuming an order that is already finalized (`processing`/`valid`) without the key it was finalized with. */
  | 'ERR_CERTIFICATE_KEY_REQUIRED'

/** Codes of {@link AcmeResponseError}: server data the client cannot use. */
export type ResponseErrorCode =
  /** A body, field or header that is not what RFC 8555 says it must be. */
  | 'ERR_INVALID_RESPONSE'
  /** A URL the client refuses to send to: another origin than the CA's, or plain `http:`. */
  | 'ERR_UNTRUSTED_URL'
  /** A redirect the client does not follow (any redirect of a signed request; https to http). */
  | 'ERR_REDIRECT'
  /** A response body larger than `maxResponseBytes`. */
  | 'ERR_RESPONSE_TOO_LARGE'

/** Codes of {@link AcmeStateError}. */
export type StateErrorCode =
  | 'ERR_ORDER_INVALID'
  | 'ERR_AUTHORIZATION_INVALID'
  | 'ERR_CHALLENGE_INVALID'
  | 'ERR_WAIT_TIMEOUT'
  | 'ERR_KEY_IN_USE'

/** Every `code` an error thrown by webacme can have. */
export type WebAcmeErrorCode =
  | AcmeProblemCode
  | InvalidArgumentCode
  | ResponseErrorCode
  | 'ERR_NETWORK'
  | 'ERR_TIMEOUT'
  /** The CA's circuit breaker is open ({@link CaUnavailableError}): nothing was sent. */
  | 'ERR_CA_UNAVAILABLE'
  | 'ERR_UNSUPPORTED'
  | StateErrorCode
  | DnsErrorCode
  | StorageErrorCode
  | CertificateManagerErrorCode

/** Codes of `DnsProviderError` (DNS adapters and resolvers). */
export type DnsErrorCode =
  /** The credentials were refused (wrong token or key, expired, missing permission). */
  | 'ERR_DNS_AUTH'
  /** The provider throttled the request; `retryAfter` says when to try again when the provider said so. */
  | 'ERR_DNS_RATE_LIMITED'
  /** The change conflicts with the provider's state (record exists, rrset changed meanwhile, CNAME at the name). */
  | 'ERR_DNS_CONFLICT'
  /** No zone for the name (or the zone/record vanished). */
  | 'ERR_DNS_NOT_FOUND'
  /** Any other provider failure: a 5xx, a malformed answer, a network failure. */
  | 'ERR_DNS_PROVIDER'
  /** A DNS query failed: the DoH server answered an HTTP error, SERVFAIL/REFUSED, or a malformed message. */
  | 'ERR_DNS_QUERY'

export const ACME_ERROR_PREFIX = 'urn:ietf:params:acme:error:'

/** Base class of every error webacme throws. */
export class AcmeError extends Error {
  readonly code: WebAcmeErrorCode
  constructor(code: WebAcmeErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AcmeError'
    this.code = code
  }
}

/**
 * A caller mistake, caught before the request it concerns: a malformed identifier, a key that cannot sign, a bad
 * PEM, an identifier no solver can answer for, an account without agreement to the terms of service, ...
 */
export class InvalidArgumentError extends AcmeError {
  declare readonly code: InvalidArgumentCode
  constructor(message: string, options?: { cause?: unknown; code?: InvalidArgumentCode }) {
    super(options?.code ?? 'ERR_INVALID_ARGUMENT', message, options)
    this.name = 'InvalidArgumentError'
  }
}

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
