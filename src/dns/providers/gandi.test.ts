// gandiAdapter against the Gandi LiveDNS v5 fixture (test/fixtures/dns/gandi.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { gandiError, gandiFixture } from '../../../test/fixtures/dns/gandi.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { gandiAdapter } from './gandi.ts'

const PAT = 'pat_fixture-0123456789'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

function setup(domains = ['example.com', 'example.org']) {
  const fixture = gandiFixture({ personalAccessToken: PAT, apiKey: 'legacy-key', domains })
  return { fixture, adapter: gandiAdapter({ personalAccessToken: PAT, fetch: fixture.fetch }) }
}

describe('gandiAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup()
    return {
      adapter,
      zone: 'example.com',
      // Decoded by the fixture (RFC 1035, its own reader), not by src/dns/txt.ts.
      values: async (name) => fixture.texts(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('gandiAdapter requests', () => {
  it('lists the domains once, reads and PUTs the merged TXT set with quoted values and the bearer token', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('_acme-challenge.www.example.com', V1)
    await adapter.createTxt('_acme-challenge.www.example.com', V2)
    const path = '/v5/livedns/domains/example.com/records/_acme-challenge.www/TXT'
    expect(fixture.fetch.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)).toEqual([
      'GET /v5/livedns/domains?page=1&per_page=100',
      `GET ${path}`,
      `PUT ${path}`,
      `GET ${path}`,
      `PUT ${path}`,
    ])
    expect(JSON.parse(fixture.fetch.requests.at(-1)!.body)).toEqual({
      rrset_ttl: 300,
      rrset_values: [`"${V1}"`, `"${V2}"`],
    })
    expect(fixture.fetch.requests.every((r) => r.headers.authorization === `Bearer ${PAT}`)).toBe(true)
    expect(fixture.texts('_acme-challenge.www.example.com')).toEqual([V1, V2])
  })

  it('pages through the domain list and picks the deepest domain; writes "@" at an apex', async () => {
    const many = Array.from({ length: 150 }, (_, i) => `d${i}.example`).concat(
      'example.net',
      'sub.example.net',
    )
    const { fixture, adapter } = setup(many)
    await adapter.createTxt('sub.example.net', V1)
    expect(fixture.domains.get('sub.example.net')!.get('@')?.values).toEqual([`"${V1}"`])
    expect(fixture.fetch.requests.slice(0, 2).map((r) => r.url.searchParams.get('page'))).toEqual(['1', '2'])
  })

  it('keeps an existing TTL and other values; quotes and escapes like a zone file; deletes the set with the last value', async () => {
    const { fixture, adapter } = setup()
    fixture.domains.get('example.com')!.set('_acme-challenge', { ttl: 3600, values: ['"v=other"'] })
    const odd = 'say "hi" \\ there'
    await adapter.createTxt('_acme-challenge.example.com', odd)
    expect(fixture.domains.get('example.com')!.get('_acme-challenge')).toEqual({
      ttl: 3600,
      values: ['"v=other"', '"say \\"hi\\" \\\\ there"'],
    })
    expect(fixture.texts('_acme-challenge.example.com')).toEqual(['v=other', odd])
    await adapter.removeTxt('_acme-challenge.example.com', 'v=other')
    await adapter.removeTxt('_acme-challenge.example.com', odd)
    expect(fixture.domains.get('example.com')!.has('_acme-challenge')).toBe(false)
    expect(fixture.fetch.requests.at(-1)!.method).toBe('DELETE')
  })

  it('authenticates with a legacy API key as "Apikey"', async () => {
    const { fixture } = setup()
    const adapter = gandiAdapter({ apiKey: 'legacy-key', fetch: fixture.fetch })
    await adapter.createTxt('_acme-challenge.example.org', V1)
    expect(fixture.texts('_acme-challenge.example.org')).toEqual([V1])
    expect(fixture.fetch.requests.every((r) => r.headers.authorization === 'Apikey legacy-key')).toBe(true)
  })

  it('maps 401 and 403 to ERR_DNS_AUTH with LiveDNS’s message', async () => {
    const { fixture } = setup()
    const bad = gandiAdapter({ personalAccessToken: 'nope', fetch: fixture.fetch })
    const err = (await bad
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401, providerCode: 'HTTPUnauthorized' })
    expect(err.message).toContain('could not verify that you authorized')

    const limited = gandiFixture({
      personalAccessToken: PAT,
      domains: ['example.com'],
      forbidden: ['example.com'],
    })
    const adapter = gandiAdapter({ personalAccessToken: PAT, fetch: limited.fetch })
    expect(await adapter.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)).toMatchObject(
      {
        code: 'ERR_DNS_AUTH',
        status: 403,
        providerCode: 'HTTPForbidden',
      },
    )
  })

  it('reports a validation error with the field LiveDNS named', async () => {
    const { fixture } = setup()
    const adapter = gandiAdapter({ personalAccessToken: PAT, fetch: fixture.fetch, domain: 'example.com' })
    fixture.fetch.fault({
      match: (r) => r.method === 'PUT',
      respond: () =>
        gandiError(400, 'HTTPBadRequest', 'Bad Request', 'Validation error', {
          errors: [{ location: 'body', name: 'rrset_values', description: 'too long' }],
        }),
    })
    const err = (await adapter
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', status: 400, providerCode: 'HTTPBadRequest' })
    expect(err.message).toContain('Validation error (rrset_values: too long)')
  })

  it('waits out a 429 Retry-After; retries a 503 on a read, never on a write', async () => {
    const { fixture } = setup()
    const adapter = gandiAdapter({
      personalAccessToken: PAT,
      fetch: fixture.fetch,
      retry: { retries: 1, maxWait: 2_000 },
    })
    fixture.fetch.fault({
      match: (r) => r.method === 'PUT',
      respond: () => gandiError(429, 'HTTPTooManyRequests', 'Too Many Requests', 'Rate limit exceeded', {}),
    })
    fixture.fetch.fault({
      match: (r) => r.method === 'GET' && r.url.pathname.endsWith('/TXT'),
      respond: () => gandiError(503, 'HTTPServiceUnavailable', 'Service Unavailable', 'try again'),
    })
    // A 429 without Retry-After waits the backoff (1 s), within maxWait.
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.texts('_acme-challenge.example.com')).toEqual([V1])

    fixture.fetch.fault({
      match: (r) => r.method === 'PUT',
      respond: () => gandiError(503, 'HTTPServiceUnavailable', 'Service Unavailable', 'try again'),
    })
    const puts = () => fixture.fetch.requests.filter((r) => r.method === 'PUT').length
    const before = puts()
    const err = await adapter.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(puts() - before).toBe(1)

    const strict = gandiAdapter({ personalAccessToken: PAT, fetch: fixture.fetch, retry: false })
    fixture.fetch.fault({
      match: () => true,
      respond: () => gandiError(429, 'HTTPTooManyRequests', 'Too Many Requests', 'Rate limit exceeded', {}),
    })
    const limited = await strict.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)
  })

  it('needs a token or a key', () => {
    expect(() => gandiAdapter({})).toThrow(InvalidArgumentError)
  })
})
