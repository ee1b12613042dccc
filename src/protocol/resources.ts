/**
 * ACME resources (RFC 8555 §7.1): the directory, accounts, orders, authorizations and challenges, as typed
 * plain data. The valibot schemas that check every server response are in ./schemas.ts, so that the public
 * declarations never reach valibot's types.
 */
import type { ProblemDocument } from '../errors.ts'

/** An identifier in an order or authorization: `dns` (RFC 8555 §9.7.7) or `ip` (RFC 8738). */
export interface Identifier {
  type: 'dns' | 'ip' | (string & {})
  value: string
}

/** Directory metadata (RFC 8555 §7.1.1, draft-ietf-acme-profiles §3). */
export interface DirectoryMeta {
  termsOfService?: string
  website?: string
  caaIdentities?: string[]
  externalAccountRequired?: boolean
  /** Certificate profiles the CA offers: name → human-readable description. */
  profiles?: Record<string, string>
  [extension: string]: unknown
}

/** The directory object (RFC 8555 §7.1.1). */
export interface Directory {
  newNonce: string
  newAccount: string
  newOrder: string
  /** Only when the server supports pre-authorization (RFC 8555 §7.4.1). */
  newAuthz?: string
  revokeCert: string
  keyChange: string
  /** RFC 9773 renewal information, when the CA supports ARI. */
  renewalInfo?: string
  meta?: DirectoryMeta
  [extension: string]: unknown
}

// Statuses are the RFC 8555 §7.1.6 values, but servers also send others (Pebble 2.4 reports a deactivated
// authorization's order as "deactivated"), so any string is accepted and waits treat unknown ones as final.

/** Account status (RFC 8555 §7.1.6). */
export type AccountStatus = 'valid' | 'deactivated' | 'revoked' | (string & {})
/** Order status (RFC 8555 §7.1.6). */
export type OrderStatus = 'pending' | 'ready' | 'processing' | 'valid' | 'invalid' | (string & {})
/** Authorization status (RFC 8555 §7.1.6). */
export type AuthorizationStatus =
  | 'pending'
  | 'valid'
  | 'invalid'
  | 'deactivated'
  | 'expired'
  | 'revoked'
  | (string & {})
/** Challenge status (RFC 8555 §7.1.6). */
export type ChallengeStatus = 'pending' | 'processing' | 'valid' | 'invalid' | (string & {})

/** An account object as the server sends it (RFC 8555 §7.1.2). */
export interface AccountObject {
  status: AccountStatus
  contact?: string[]
  termsOfServiceAgreed?: boolean
  /** URL of the account's orders list (RFC 8555 §7.1.2.1); some CAs (Let's Encrypt) omit it. */
  orders?: string
  [extension: string]: unknown
}

/** An account with its URL (the `kid` of every request it signs). */
export interface Account extends AccountObject {
  url: string
}

/** A challenge (RFC 8555 §8). `token` is absent only for token-less types such as dns-persist-01. */
export interface Challenge {
  type: 'http-01' | 'dns-01' | 'tls-alpn-01' | (string & {})
  url: string
  status: ChallengeStatus
  token?: string
  validated?: string
  error?: ProblemDocument
  [extension: string]: unknown
}

/** An authorization object as the server sends it (RFC 8555 §7.1.4). */
export interface AuthorizationObject {
  identifier: Identifier
  status: AuthorizationStatus
  expires?: string
  challenges: Challenge[]
  /** True when the authorization is for a wildcard name; `identifier.value` then lacks the `*.`. */
  wildcard?: boolean
  [extension: string]: unknown
}

/** An authorization with its URL. */
export interface Authorization extends AuthorizationObject {
  url: string
}

/** An order object as the server sends it (RFC 8555 §7.1.3). */
export interface OrderObject {
  status: OrderStatus
  expires?: string
  identifiers: Identifier[]
  notBefore?: string
  notAfter?: string
  error?: ProblemDocument
  authorizations: string[]
  finalize: string
  certificate?: string
  /** The profile the order was placed with (draft-ietf-acme-profiles). */
  profile?: string
  /** The CertID of the certificate this order replaces (RFC 9773 §5). */
  replaces?: string
  [extension: string]: unknown
}

/** An order with its URL. */
export interface Order extends OrderObject {
  url: string
}
