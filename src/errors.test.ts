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
