import { describe, expect, it } from 'vitest'
import {
  AcmeError,
  AcmeProblemError,
  InvalidArgumentError,
  isAcmeError,
  isProblem,
  isRateLimited,
  PROBLEM_CODES,
  problemCode,
} from './errors.ts'

describe('errors', () => {
  it('maps every ACME error type to its own code', () => {
    const codes = Object.values(PROBLEM_CODES)
    expect(new Set(codes).size).toBe(codes.length)
    expect(problemCode('urn:ietf:params:acme:error:badCSR')).toBe('ERR_ACME_BAD_CSR')
    expect(problemCode('urn:ietf:params:acme:error:somethingNew')).toBe('ERR_ACME_PROBLEM')
    expect(problemCode('about:blank')).toBe('ERR_ACME_PROBLEM')
    expect(problemCode('urn:ietf:params:acme:error:toString')).toBe('ERR_ACME_PROBLEM')
  })

  it('builds PROBLEM_CODES exactly as its type spells it (every name, each code)', () => {
    // The table is built at run time from the names; its type lists every code literally.
    const expected: typeof PROBLEM_CODES = {
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
    }
    expect(PROBLEM_CODES).toStrictEqual(expected)
    expect(Object.keys(PROBLEM_CODES)).toEqual(Object.keys(expected))
  })

  it('carries the problem fields, and predicates narrow', () => {
    const err = new AcmeProblemError(
      { type: 'urn:ietf:params:acme:error:rateLimited', detail: 'too many', status: 429 },
      { status: 429, url: 'https://ca/x', retryAfter: new Date(0), helpUrl: 'https://docs' },
    )
    expect(err).toBeInstanceOf(AcmeError)
    expect(err.code).toBe('ERR_ACME_RATE_LIMITED')
    expect(isRateLimited(err) && err.retryAfter?.getTime()).toBe(0)
    expect(isProblem(err, 'badNonce')).toBe(false)
    expect(isAcmeError(err, 'ERR_ACME_RATE_LIMITED')).toBe(true)
    expect(JSON.stringify(err)).not.toContain('response')
    const arg = new InvalidArgumentError('nope')
    expect(arg).toBeInstanceOf(AcmeError)
    expect(isAcmeError(arg, 'ERR_INVALID_ARGUMENT')).toBe(true)
    expect(isAcmeError(new Error('x'))).toBe(false)
  })
})
