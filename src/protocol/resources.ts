/**
 * ACME resources (RFC 8555 §7.1): the directory, accounts, orders, authorizations and challenges, as typed
 * plain data, and the valibot schemas every server response is checked against before use. Unknown fields
 * are kept (servers add extensions); a missing or malformed required field is an `AcmeResponseError` that
 * names the field and the URL.
 */
import * as v from 'valibot'
import { AcmeResponseError, type ProblemDocument } from '../errors.ts'

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

const url = v.pipe(v.string(), v.url())
const identifierSchema = v.looseObject({ type: v.string(), value: v.string() })

/** RFC 7807 problem document; `type` defaults to `about:blank` (RFC 7807 §4.2). */
export const problemSchema: v.GenericSchema<unknown, ProblemDocument> = v.looseObject({
  type: v.optional(v.string(), 'about:blank'),
  detail: v.exactOptional(v.string()),
  status: v.exactOptional(v.number()),
  instance: v.exactOptional(v.string()),
  subproblems: v.exactOptional(
    v.array(
      v.looseObject({
        type: v.optional(v.string(), 'about:blank'),
        detail: v.exactOptional(v.string()),
        identifier: v.exactOptional(identifierSchema),
      }),
    ),
  ),
  identifier: v.exactOptional(identifierSchema),
  algorithms: v.exactOptional(v.array(v.string())),
})

export const directorySchema: v.GenericSchema<unknown, Directory> = v.looseObject({
  newNonce: url,
  newAccount: url,
  newOrder: url,
  newAuthz: v.exactOptional(url),
  revokeCert: url,
  keyChange: url,
  renewalInfo: v.exactOptional(url),
  meta: v.exactOptional(
    v.looseObject({
      termsOfService: v.exactOptional(v.string()),
      website: v.exactOptional(v.string()),
      caaIdentities: v.exactOptional(v.array(v.string())),
      externalAccountRequired: v.exactOptional(v.boolean()),
      profiles: v.exactOptional(v.record(v.string(), v.string())),
    }),
  ),
})

export const accountSchema: v.GenericSchema<unknown, AccountObject> = v.looseObject({
  status: v.pipe(v.string(), v.nonEmpty('status must not be empty')),
  contact: v.exactOptional(v.array(v.string())),
  termsOfServiceAgreed: v.exactOptional(v.boolean()),
  orders: v.exactOptional(url),
})

const challengeSchema = v.looseObject({
  type: v.string(),
  url,
  status: v.pipe(v.string(), v.nonEmpty('status must not be empty')),
  token: v.exactOptional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]+$/, 'token must be base64url'))),
  validated: v.exactOptional(v.string()),
  error: v.exactOptional(problemSchema),
})

export const challengeObjectSchema: v.GenericSchema<unknown, Challenge> = challengeSchema

export const authorizationSchema: v.GenericSchema<unknown, AuthorizationObject> = v.looseObject({
  identifier: identifierSchema,
  status: v.pipe(v.string(), v.nonEmpty('status must not be empty')),
  expires: v.exactOptional(v.string()),
  challenges: v.array(challengeSchema),
  wildcard: v.exactOptional(v.boolean()),
})

export const orderSchema: v.GenericSchema<unknown, OrderObject> = v.looseObject({
  status: v.pipe(v.string(), v.nonEmpty('status must not be empty')),
  expires: v.exactOptional(v.string()),
  identifiers: v.array(identifierSchema),
  notBefore: v.exactOptional(v.string()),
  notAfter: v.exactOptional(v.string()),
  error: v.exactOptional(problemSchema),
  authorizations: v.array(url),
  finalize: url,
  certificate: v.exactOptional(url),
  profile: v.exactOptional(v.string()),
  replaces: v.exactOptional(v.string()),
})

/** The orders list of an account (RFC 8555 §7.1.2.1). */
export const ordersListSchema: v.GenericSchema<unknown, { orders: string[] }> = v.looseObject({
  orders: v.array(url),
})

/**
 * Checks `body` against `schema`. On failure the error names the resource kind, the field path and the URL,
 * e.g. `invalid order from https://ca/order/1: status: Invalid type: Expected ...`.
 */
export function parseResource<T>(
  schema: v.GenericSchema<unknown, T>,
  body: unknown,
  context: { what: string; url: string; status: number },
): T {
  const result = v.safeParse(schema, body)
  if (result.success) return result.output
  const issue = result.issues[0]
  const field = v.getDotPath(issue) ?? undefined
  throw new AcmeResponseError(
    `invalid ${context.what} from ${context.url}: ${field ? `${field}: ` : ''}${issue.message}`,
    { url: context.url, status: context.status, field },
  )
}
