// digitalOceanAdapter against the DigitalOcean API v2 fixture (test/fixtures/dns/digitalocean.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { digitalOceanFixture, doError } from '../../../test/fixtures/dns/digitalocean.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { digitalOceanAdapter } from './digitalocean.ts'

const TOKEN = 'dop_v1_fixture'
const V1 = 'x'.repeat(43)

function setup(maxPerPage?: number) {
  const fixture = digitalOceanFixture({
    token: TOKEN,
    domains: ['example.com'],
    ...(maxPerPage !== undefined && { maxPerPage }),
  })
  return { fixture, adapter: digitalOceanAdapter({ token: TOKEN, fetch: fixture.fetch }) }
}

describe('digitalOceanAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup(2)
    return {
      adapter,
      zone: 'example.com',
      values: async (name) => fixture.txt(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('digitalOceanAdapter requests', () => {
  it('discovers the domain per label, lists with the full name, creates with the relative name', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('_acme-challenge.www.example.com', V1)
    expect(fixture.fetch.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)).toEqual([
      'GET /v2/domains/_acme-challenge.www.example.com',
      'GET /v2/domains/www.example.com',
      'GET /v2/domains/example.com',
      'GET /v2/domains/example.com/records?type=TXT&name=_acme-challenge.www.example.com&page=1&per_page=200',
      'POST /v2/domains/example.com/records',
    ])
    expect(JSON.parse(fixture.fetch.requests.at(-1)!.body)).toEqual({
      type: 'TXT',
      name: '_acme-challenge.www',
      data: V1,
      ttl: 30,
    })
    expect(fixture.fetch.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true)
  })

  it('writes at the apex as "@" and follows links.pages.next', async () => {
    const { fixture, adapter } = setup(1)
    for (const v of ['a', 'b', 'c']) await adapter.createTxt('example.com', v.repeat(43))
    expect(fixture.records.map((r) => r.name)).toEqual(['@', '@', '@'])
    const before = fixture.fetch.requests.length
    await adapter.removeTxt('example.com', 'c'.repeat(43))
    expect(
      fixture.fetch.requests.slice(before).map((r) => `${r.method} ${r.url.searchParams.get('page') ?? ''}`),
    ).toEqual(['GET 1', 'GET 2', 'GET 3', 'DELETE '])
    expect(fixture.txt('example.com')).toEqual(['a'.repeat(43), 'b'.repeat(43)])
  })

  it('maps 401 to ERR_DNS_AUTH and a 429 to ERR_DNS_RATE_LIMITED with ratelimit-reset as retryAfter', async () => {
    const { fixture } = setup()
    const bad = digitalOceanAdapter({ token: 'nope', fetch: fixture.fetch })
    const auth = await bad.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(auth).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401, providerCode: 'Unauthorized' })
    expect((auth as Error).message).toContain('Unable to authenticate you.')

    const reset = Math.floor(Date.now() / 1000) + 600
    fixture.fetch.fault({
      match: () => true,
      respond: () =>
        doError(429, 'too_many_requests', 'API Rate limit exceeded.', {
          'ratelimit-limit': '5000',
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(reset),
        }),
    })
    const adapter = digitalOceanAdapter({ token: TOKEN, fetch: fixture.fetch })
    const limited = await adapter.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)
    expect((limited as DnsProviderError).retryAfter?.getTime()).toBe(reset * 1000)
  })

  it('retries a 503 on a read, not on a write', async () => {
    const { fixture, adapter } = setup()
    fixture.fetch.fault({
      match: (r) => r.method === 'GET',
      respond: () => doError(503, 'service_unavailable', 'try again'),
    })
    const slow = digitalOceanAdapter({
      token: TOKEN,
      fetch: fixture.fetch,
      retry: { retries: 1, maxWait: 2_000 },
    })
    await slow.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([V1])

    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => doError(503, 'service_unavailable', 'try again'),
    })
    const err = await adapter
      .createTxt('_acme-challenge.example.com', 'z'.repeat(43))
      .catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(fixture.fetch.requests.filter((r) => r.method === 'POST')).toHaveLength(2) // V1, then the failed one
  })

  it('uses a given domain without discovery', async () => {
    const { fixture } = setup()
    const adapter = digitalOceanAdapter({ token: TOKEN, domain: 'example.com', fetch: fixture.fetch })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.fetch.requests.map((r) => r.method)).toEqual(['GET', 'POST'])
  })
})
