/**
 * Every `code` a webacme error can have, in one module that imports nothing: the error classes of every part of the
 * library (`src/errors.ts`, `src/dns/errors.ts`, `src/storage/storage.ts`, `src/ondemand/errors.ts`) type their
 * `code` from here, and {@link WebAcmeErrorCode} is the union of them all, so no part has to import another's
 * errors to know its codes.
 *
 * @module
 */

/** ACME error types (RFC 8555 §6.7, RFC 9773 §7.4, draft-ietf-acme-profiles) and the code each maps to. */
export interface ProblemCodes {
  readonly accountDoesNotExist: 'ERR_ACME_ACCOUNT_DOES_NOT_EXIST'
  readonly alreadyReplaced: 'ERR_ACME_ALREADY_REPLACED'
  readonly alreadyRevoked: 'ERR_ACME_ALREADY_REVOKED'
  readonly badCSR: 'ERR_ACME_BAD_CSR'
  readonly badNonce: 'ERR_ACME_BAD_NONCE'
  readonly badPublicKey: 'ERR_ACME_BAD_PUBLIC_KEY'
  readonly badRevocationReason: 'ERR_ACME_BAD_REVOCATION_REASON'
  readonly badSignatureAlgorithm: 'ERR_ACME_BAD_SIGNATURE_ALGORITHM'
  readonly caa: 'ERR_ACME_CAA'
  readonly compound: 'ERR_ACME_COMPOUND'
  readonly connection: 'ERR_ACME_CONNECTION'
  readonly dns: 'ERR_ACME_DNS'
  readonly externalAccountRequired: 'ERR_ACME_EXTERNAL_ACCOUNT_REQUIRED'
  readonly incorrectResponse: 'ERR_ACME_INCORRECT_RESPONSE'
  readonly invalidContact: 'ERR_ACME_INVALID_CONTACT'
  readonly invalidProfile: 'ERR_ACME_INVALID_PROFILE'
  readonly malformed: 'ERR_ACME_MALFORMED'
  readonly orderNotReady: 'ERR_ACME_ORDER_NOT_READY'
  readonly rateLimited: 'ERR_ACME_RATE_LIMITED'
  readonly rejectedIdentifier: 'ERR_ACME_REJECTED_IDENTIFIER'
  readonly serverInternal: 'ERR_ACME_SERVER_INTERNAL'
  readonly tls: 'ERR_ACME_TLS'
  readonly unauthorized: 'ERR_ACME_UNAUTHORIZED'
  readonly unsupportedContact: 'ERR_ACME_UNSUPPORTED_CONTACT'
  readonly unsupportedIdentifier: 'ERR_ACME_UNSUPPORTED_IDENTIFIER'
  readonly userActionRequired: 'ERR_ACME_USER_ACTION_REQUIRED'
}

/** The short names of {@link ProblemCodes}: each code is `ERR_ACME_` and the name in upper snake case. */
const PROBLEM_TYPES = [
  'accountDoesNotExist',
  'alreadyReplaced',
  'alreadyRevoked',
  'badCSR',
  'badNonce',
  'badPublicKey',
  'badRevocationReason',
  'badSignatureAlgorithm',
  'caa',
  'compound',
  'connection',
  'dns',
  'externalAccountRequired',
  'incorrectResponse',
  'invalidContact',
  'invalidProfile',
  'malformed',
  'orderNotReady',
  'rateLimited',
  'rejectedIdentifier',
  'serverInternal',
  'tls',
  'unauthorized',
  'unsupportedContact',
  'unsupportedIdentifier',
  'userActionRequired',
] as const satisfies ReadonlyArray<keyof ProblemCodes>

/**
 * ACME error types (RFC 8555 §6.7, RFC 9773 §7.4, draft-ietf-acme-profiles) and the code each maps to, e.g.
 * `badCSR` -> `ERR_ACME_BAD_CSR`. Built from the names (their codes spelled out once, in {@link ProblemCodes}):
 * the table is a fifth of the size in a bundle.
 */
export const PROBLEM_CODES: ProblemCodes = /* @__PURE__ */ Object.fromEntries(
  PROBLEM_TYPES.map((type) => [type, `ERR_ACME_${type.replace(/CSR$|[A-Z]/g, '_$&').toUpperCase()}`]),
) as unknown as ProblemCodes

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
  /** The CA's circuit breaker is open (`CaUnavailableError`): nothing was sent. */
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

/** Codes of `StorageError` (storage backends and the records webacme keeps in them). */
export type StorageErrorCode =
  /** A record is not JSON, or not the record expected under its key. */
  | 'ERR_STORAGE_CORRUPT'
  /** A lock was never released. */
  | 'ERR_STORAGE_LOCKED'
  /** A record changed under a compare-and-swap. */
  | 'ERR_STORAGE_CONFLICT'
  /** The backend itself failed (a file system, KV, R2 or Redis error). */
  | 'ERR_STORAGE'

/** Codes of `CertificateManagerError` (the on-demand certificate manager, `webacme/tls`). */
export type CertificateManagerErrorCode =
  /** The name may not get a certificate: `allow` said no, the name is invalid, a rate limit, or the manager closed. */
  | 'ERR_NAME_REFUSED'
  /** Every issuer failed, or the name failed recently and is not tried again yet (`failureTtl`). */
  | 'ERR_ISSUANCE_FAILED'
  /** Every issuer's circuit breaker is open: the CA failed too often in a row; nothing was sent. */
  | 'ERR_CIRCUIT_OPEN'
  /** Another process held the name's storage lease longer than `waitTimeout` without storing a certificate. */
  | 'ERR_LOCK_WAIT_TIMEOUT'
