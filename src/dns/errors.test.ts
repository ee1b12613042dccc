// DnsProviderError: stable codes, predicates, the Response kept out of logs.
import { describe, expect, it } from 'vitest'
import { DnsProviderError, isDnsProviderError, isDnsRateLimited } from './errors.ts'

describe('DnsProviderError', () => {
  it('carries code, provider, status, retryAfter, providerCode and a non-enumerable response', () => {
    const response = new Response('{}', { status: 429 })
    const retryAfter = new Date(Date.now() + 1000)
    const cause = new Error('root')
    const err = new DnsProviderError('ERR_DNS_RATE_LIMITED', 'slow down', {
      provider: 'cloudflare',
      status: 429,
      retryAfter,
      providerCode: '971',
      url: 'https://api.example/x',
      response,
      cause,
    })
    expect(err).toBeInstanceOf(Error)
    expect(err).toMatchObject({
      name: 'DnsProviderError',
      code: 'ERR_DNS_RATE_LIMITED',
      provider: 'cloudflare',
      status: 429,
      providerCode: '971',
    })
    expect(err.retryAfter).toBe(retryAfter)
    expect(err.response).toBe(response)
    expect(err.cause).toBe(cause)
    expect(Object.keys(err)).not.toContain('response')
    expect(JSON.stringify(err)).not.toContain('Response')
  })

  it('is told apart by the predicates', () => {
    const err = new DnsProviderError('ERR_DNS_AUTH', 'no', { provider: 'x' })
    expect(isDnsProviderError(err)).toBe(true)
    expect(isDnsProviderError(err, 'ERR_DNS_AUTH')).toBe(true)
    expect(isDnsProviderError(err, 'ERR_DNS_CONFLICT')).toBe(false)
    expect(isDnsRateLimited(err)).toBe(false)
    expect(isDnsProviderError(new Error('x'))).toBe(false)
  })
})
