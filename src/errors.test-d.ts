/**
 * Type tests (compiled by `npm run typecheck`, never run): `switch (err.code)` narrows a webacme error to the
 * class that carries that code's fields.
 */
import { expectTypeOf } from 'vitest'
import type { DnsProviderError } from './dns/errors.ts'
import {
  type AcmeNetworkError,
  type AcmeProblemError,
  type AcmeResponseError,
  type AcmeStateError,
  type InvalidArgumentError,
  isAcmeError,
  type NetworkFailureReason,
  type ProblemDocument,
  type WebAcmeError,
} from './errors.ts'
import type { StorageError } from './storage/storage.ts'

declare const err: unknown

if (isAcmeError(err)) {
  expectTypeOf(err).toEqualTypeOf<WebAcmeError>()
  switch (err.code) {
    case 'ERR_ACME_RATE_LIMITED':
      expectTypeOf(err).toEqualTypeOf<AcmeProblemError>()
      expectTypeOf(err.retryAfter).toEqualTypeOf<Date | undefined>()
      expectTypeOf(err.helpUrl).toEqualTypeOf<string | undefined>()
      break
    case 'ERR_AUTHORIZATION_INVALID':
      expectTypeOf(err).toEqualTypeOf<AcmeStateError>()
      expectTypeOf(err.url).toEqualTypeOf<string>()
      expectTypeOf(err.problem).toEqualTypeOf<ProblemDocument | undefined>()
      break
    case 'ERR_NETWORK':
      expectTypeOf(err).toEqualTypeOf<AcmeNetworkError>()
      expectTypeOf(err.reason).toEqualTypeOf<NetworkFailureReason>()
      expectTypeOf(err.hint).toEqualTypeOf<string | undefined>()
      break
    case 'ERR_UNTRUSTED_URL':
      expectTypeOf(err).toEqualTypeOf<AcmeResponseError>()
      expectTypeOf(err.url).toEqualTypeOf<string>()
      break
    case 'ERR_TERMS_NOT_AGREED':
    case 'ERR_NO_SOLVER':
      expectTypeOf(err).toEqualTypeOf<InvalidArgumentError>()
      break
    case 'ERR_DNS_RATE_LIMITED':
      expectTypeOf(err).toEqualTypeOf<DnsProviderError>()
      expectTypeOf(err.retryAfter).toEqualTypeOf<Date | undefined>()
      break
    case 'ERR_STORAGE_CONFLICT':
      expectTypeOf(err).toEqualTypeOf<StorageError>()
      expectTypeOf(err.key).toEqualTypeOf<string>()
      break
  }
}

// The predicate with a code narrows the same way.
if (isAcmeError(err, 'ERR_ACME_BAD_NONCE')) expectTypeOf(err).toEqualTypeOf<AcmeProblemError>()
if (isAcmeError(err, 'ERR_WAIT_TIMEOUT')) expectTypeOf(err).toEqualTypeOf<AcmeStateError>()
// @ts-expect-error: not a webacme code
isAcmeError(err, 'ERR_NOT_A_CODE')
