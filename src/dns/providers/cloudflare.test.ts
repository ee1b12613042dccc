// cloudflareAdapter against the Cloudflare API v4 fixture (test/fixtures/dns/cloudflare.ts).
import { describe, expect, it, vi } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { CLOUDFLARE_API, cfError, cloudflareFixture } from '../../../test/fixtures/dns/cloudflare.ts'
import { settledState, turnsUntil } from '../../../test/fixtures/events.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { cloudflareAdapter } from './cloudflare.ts'

const TOKEN = 'cf-token-123'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

function setup(options: { maxPerPage?: number } = {}) {
  const fixture = cloudflareFixture({ token: TOKEN, zones: ['example.com', 'other.org'], ...options })
  const adapter = cloudflareAdapter({ apiToken: TOKEN, fetch: fixture.fetch })
  return { fixture, adapter }
}

describe('cloudflareAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup({ maxPerPage: 2 })
    return {
      adapter,
      zone: 'example.com',
      // Decoded by the fixture (RFC 1035, its own reader), not by src/dns/txt.ts: a shared bug cannot pass.
      values: async (name) => fixture.texts(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('cloudflareAdapter requests', () => {
  it('finds the zone with GET /zones?name= per label and creates a quoted TXT record with the bearer token', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('_acme-challenge.www.example.com', V1)
    const calls = fixture.fetch.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)
    expect(calls).toEqual([
      'GET /client/v4/zones?name=_acme-challenge.www.example.com&per_page=50',
      'GET /client/v4/zones?name=www.example.com&per_page=50',
      'GET /client/v4/zones?name=example.com&per_page=50',
      `GET /client/v4/zones/${fixture.zones[0]!.id}/dns_records?type=TXT&name=_acme-challenge.www.example.com&page=1&per_page=100`,
      `POST /client/v4/zones/${fixture.zones[0]!.id}/dns_records`,
    ])
    for (const r of fixture.fetch.requests) expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(JSON.parse(fixture.fetch.requests.at(-1)!.body)).toEqual({
      type: 'TXT',
      name: '_acme-challenge.www.example.com',
      content: `"${V1}"`,
      ttl: 60,
      comment: 'webacme dns-01',
    })
    // The zone is remembered: a second name in it needs no discovery.
    const before = fixture.fetch.requests.length
    await adapter.createTxt('_acme-challenge.www.example.com', V2)
    expect(fixture.fetch.requests.slice(before).map((r) => r.method)).toEqual(['GET', 'POST'])
  })

  it('pages through dns_records and deletes only the records carrying the value', async () => {
    const { fixture, adapter } = setup({ maxPerPage: 2 })
    const name = '_acme-challenge.example.com'
    for (const v of ['a', 'b', 'c', 'd']) await adapter.createTxt(name, v.repeat(43))
    await adapter.createTxt(name, V1) // fifth record: page 3
    const before = fixture.fetch.requests.length
    await adapter.createTxt(name, V1) // found on page 3: no POST
    expect(
      fixture.fetch.requests.slice(before).map((r) => `${r.method} ${r.url.searchParams.get('page')}`),
    ).toEqual(['GET 1', 'GET 2', 'GET 3'])
    await adapter.removeTxt(name, V1)
    expect(fixture.texts(name)).toEqual(['a', 'b', 'c', 'd'].map((v) => v.repeat(43)))
    expect(fixture.fetch.requests.filter((r) => r.method === 'DELETE')).toHaveLength(1)
  })

  it('uses a given zoneId without discovery', async () => {
    const { fixture } = setup()
    const adapter = cloudflareAdapter({
      apiToken: TOKEN,
      zoneId: fixture.zones[1]!.id,
      fetch: fixture.fetch,
      ttl: 120,
    })
    await adapter.createTxt('_acme-challenge.other.org', V1)
    expect(fixture.fetch.requests.map((r) => r.method)).toEqual(['GET', 'POST'])
    expect(fixture.records[0]).toMatchObject({ zone_name: 'other.org', ttl: 120 })
  })

  it('maps a refused token to ERR_DNS_AUTH with the provider code and a non-enumerable response', async () => {
    const { fixture } = setup()
    const adapter = cloudflareAdapter({ apiToken: 'wrong', fetch: fixture.fetch })
    const err = await adapter.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(DnsProviderError)
    expect(err).toMatchObject({
      code: 'ERR_DNS_AUTH',
      provider: 'cloudflare',
      status: 403,
      providerCode: '9109',
    })
    expect((err as DnsProviderError).message).toContain('9109 Invalid access token')
    expect((err as DnsProviderError).response?.status).toBe(403)
    expect(Object.keys(err as object)).not.toContain('response')
  })

  it('retries a 429 after its Retry-After, and throws ERR_DNS_RATE_LIMITED when the wait is too long', async () => {
    const { fixture, adapter } = setup()
    const isPost = (r: { method: string }) => r.method === 'POST'
    fixture.fetch.fault({
      match: isPost,
      respond: () =>
        cfError(429, 971, 'Please wait and consider throttling your request speed', { 'retry-after': '0' }),
    })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([`"${V1}"`])
    expect(fixture.fetch.requests.filter(isPost)).toHaveLength(2)

    fixture.fetch.fault({
      match: isPost,
      respond: () =>
        cfError(429, 971, 'Please wait and consider throttling your request speed', { 'retry-after': '120' }),
    })
    // Refused at once: with the clock stopped, a wait of any length would never end.
    const before = Date.now()
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    let err: unknown
    try {
      const call = adapter.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
      const state = settledState(call)
      await turnsUntil(() => state() !== 'pending', 'settles without any time passing')
      err = await call
    } finally {
      vi.useRealTimers()
    }
    const after = Date.now()
    expect(isDnsRateLimited(err)).toBe(true)
    expect((err as DnsProviderError).providerCode).toBe('971')
    const retryAfter = (err as DnsProviderError).retryAfter!.getTime()
    expect(retryAfter).toBeGreaterThanOrEqual(before + 120_000)
    expect(retryAfter).toBeLessThanOrEqual(after + 120_000)
    expect(fixture.fetch.requests.filter(isPost)).toHaveLength(3)
  })

  it('treats 81058 "identical record already exists" as success only when the value is there', async () => {
    const { fixture, adapter } = setup()
    const name = '_acme-challenge.example.com'
    // Someone else creates the same value between our read and our write.
    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: (r) => {
        fixture.records.push({
          id: 'external',
          zone_id: fixture.zones[0]!.id,
          zone_name: 'example.com',
          name,
          type: 'TXT',
          content: JSON.parse(r.body).content,
          ttl: 60,
          proxied: false,
          comment: null,
        })
        return cfError(400, 81058, 'An identical record already exists.')
      },
    })
    await adapter.createTxt(name, V1)
    expect(fixture.txt(name)).toEqual([`"${V1}"`])

    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => cfError(400, 81057, 'Record already exists.'),
    })
    const err = await adapter.createTxt(name, V2).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_CONFLICT')).toBe(true)
  })

  it('ignores a record deleted meanwhile (81044) and reports a network failure as ERR_DNS_PROVIDER', async () => {
    const { fixture, adapter } = setup()
    const name = '_acme-challenge.example.com'
    await adapter.createTxt(name, V1)
    fixture.fetch.fault({
      match: (r) => r.method === 'DELETE',
      respond: () => cfError(404, 81044, 'Record does not exist.'),
    })
    await adapter.removeTxt(name, V1)

    const offline = cloudflareAdapter({
      apiToken: TOKEN,
      baseUrl: 'https://unreachable.test/client/v4',
      fetch: fixture.fetch,
      retry: false,
    })
    const err = await offline.createTxt(name, V1).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', provider: 'cloudflare', status: undefined })
    expect((err as Error).cause).toBeInstanceOf(TypeError)
    expect(CLOUDFLARE_API).toBe('https://api.cloudflare.com/client/v4')
  })

  it('rejects a missing token before any request', () => {
    expect(() => cloudflareAdapter({ apiToken: '' })).toThrow(InvalidArgumentError)
  })
})
