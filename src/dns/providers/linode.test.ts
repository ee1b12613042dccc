// linodeAdapter against the Linode API v4 fixture (test/fixtures/dns/linode.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { linodeError, linodeFixture } from '../../../test/fixtures/dns/linode.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { linodeAdapter } from './linode.ts'

const TOKEN = 'linode-fixture-token'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

function setup(domains: Array<{ domain: string; type?: 'master' | 'slave' }> = [{ domain: 'example.com' }]) {
  const fixture = linodeFixture({ token: TOKEN, readOnlyToken: 'read-only', domains })
  return { fixture, adapter: linodeAdapter({ token: TOKEN, fetch: fixture.fetch }) }
}

describe('linodeAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup()
    return {
      adapter,
      zone: 'example.com',
      values: async (name) => fixture.txt(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('linodeAdapter requests', () => {
  it('lists domains once, creates one record per value with the relative name and a bearer token', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('_acme-challenge.www.example.com', V1)
    await adapter.createTxt('_acme-challenge.www.example.com', V2)
    const id = fixture.domains[0]!.id
    expect(fixture.fetch.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)).toEqual([
      'GET /v4/domains?page=1&page_size=500',
      `GET /v4/domains/${id}/records?page=1&page_size=500`,
      `POST /v4/domains/${id}/records`,
      `GET /v4/domains/${id}/records?page=1&page_size=500`,
      `POST /v4/domains/${id}/records`,
    ])
    expect(JSON.parse(fixture.fetch.requests[2]!.body)).toEqual({
      type: 'TXT',
      name: '_acme-challenge.www',
      target: V1,
      ttl_sec: 300,
    })
    expect(fixture.fetch.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true)
    expect(fixture.txt('_acme-challenge.www.example.com')).toEqual([V1, V2])
  })

  it('pages through domains and records; picks the deepest master domain; writes "" at an apex', async () => {
    const many = Array.from({ length: 700 }, (_, i) => ({ domain: `d${i}.example` }))
    const { fixture, adapter } = setup([
      ...many,
      { domain: 'example.net' },
      { domain: 'sub.example.net', type: 'slave' },
      { domain: 'deep.sub.example.net' },
    ])
    await adapter.createTxt('deep.sub.example.net', V1)
    await adapter.createTxt('_acme-challenge.sub.example.net', V1)
    expect(
      fixture.records.map((r) => [fixture.domains.find((d) => d.id === r.domainId)!.domain, r.name]),
    ).toEqual([
      ['deep.sub.example.net', ''],
      ['example.net', '_acme-challenge.sub'], // sub.example.net is a slave zone: Linode cannot write it
    ])
    expect(fixture.fetch.requests.slice(0, 2).map((r) => r.url.search)).toEqual([
      '?page=1&page_size=500',
      '?page=2&page_size=500',
    ])
    // 600 records at one domain: the removal finds its record on the second page.
    const domainId = fixture.domains.find((d) => d.domain === 'example.net')!.id
    for (let i = 0; i < 600; i++) {
      fixture.records.unshift({
        id: 1 + i,
        domainId,
        type: 'TXT',
        name: `n${i}`,
        target: 'filler',
        ttl_sec: 300,
      })
    }
    await adapter.removeTxt('_acme-challenge.sub.example.net', V1)
    expect(fixture.txt('_acme-challenge.sub.example.net')).toEqual([])
    expect(fixture.records).toHaveLength(601)
  })

  it('rounds a TTL up to one Linode keeps', async () => {
    const { fixture } = setup()
    const adapter = linodeAdapter({ token: TOKEN, ttl: 100, fetch: fixture.fetch })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(JSON.parse(fixture.fetch.requests.at(-1)!.body).ttl_sec).toBe(120)
    expect(fixture.records[0]!.ttl_sec).toBe(120)
  })

  it('maps 401 to ERR_DNS_AUTH (bad token, read-only token) with Linode’s reason', async () => {
    const { fixture } = setup()
    const bad = linodeAdapter({ token: 'nope', fetch: fixture.fetch })
    const err = (await bad
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401 })
    expect(err.message).toContain('Invalid Token')
    const readOnly = linodeAdapter({ token: 'read-only', fetch: fixture.fetch })
    const denied = (await readOnly
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(denied).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401 })
    expect(denied.message).toContain('not authorized to use this endpoint')
  })

  it('names the refused field', async () => {
    const { fixture, adapter } = setup()
    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => linodeError(400, 'Length must be 1-65535 characters', 'target'),
    })
    const err = (await adapter
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', status: 400, providerCode: 'target' })
    expect(err.message).toContain('target: Length must be 1-65535 characters')
  })

  it('maps a 429 to ERR_DNS_RATE_LIMITED with X-RateLimit-Reset; retries a 503 on a read, never on a write', async () => {
    const { fixture } = setup()
    const reset = Math.floor(Date.now() / 1000) + 600
    fixture.fetch.fault({
      match: () => true,
      respond: () => linodeError(429, 'Too many requests', undefined, { 'x-ratelimit-reset': String(reset) }),
    })
    const adapter = linodeAdapter({
      token: TOKEN,
      fetch: fixture.fetch,
      retry: { retries: 1, maxWait: 2_000 },
    })
    const limited = await adapter.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)
    expect((limited as DnsProviderError).retryAfter?.getTime()).toBe(reset * 1000)

    fixture.fetch.fault({
      match: (r) => r.method === 'GET',
      respond: () => linodeError(503, 'Service Unavailable'),
    })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([V1])

    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => linodeError(503, 'Service Unavailable'),
    })
    const posts = () => fixture.fetch.requests.filter((r) => r.method === 'POST').length
    const before = posts()
    const err = await adapter.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(posts() - before).toBe(1)
  })

  it('needs a token', () => {
    expect(() => linodeAdapter({ token: '' })).toThrow(InvalidArgumentError)
  })
})
