/**
 * The valibot schemas every server response is checked against before use (RFC 8555 §7.1). Unknown fields
 * are kept (servers add extensions); a missing or malformed required field is an `AcmeResponseError` that
 * names the field and the URL. Internal: kept apart from ./resources.ts so that the public declarations
 * never reach valibot's types (they name DOM `Blob` and `File`).
 */
import * as v from 'valibot'
import { AcmeResponseError, type ProblemDocument } from '../errors.ts'
import { validate } from '../lib/validate.ts'
import type { AccountObject, AuthorizationObject, Challenge, Directory, OrderObject } from './resources.ts'

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
  return validate(schema, body, ({ field, message }) => {
    throw new AcmeResponseError(`invalid ${context.what} from ${context.url}: ${message}`, {
      url: context.url,
      status: context.status,
      field,
    })
  })
}
