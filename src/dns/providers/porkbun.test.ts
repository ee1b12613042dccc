// porkbunAdapter against the Porkbun API v3 fixture (test/fixtures/dns/porkbun.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { porkbunError, porkbunFixture } from '../../../test/fixtures/dns/porkbun.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { porkbunAdapter } from './porkbun.ts'

const KEY = 'pk1_fixture'
const SECRET = 'sk1_fixture'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)
const NAME = '_acme-challenge.example.com'

function setup(pageSize?: number) {
  const fixture = porkbunFixture({
    apiKey: KEY,
    secretApiKey: SECRET,
    domains: ['a.org', 'b.org', 'example.com', 'sub.example.com', 'z.net'],
    locked: ['locked.dev'],
    ...(pageSize !== undefined && { pageSize }),
  })
  return { fixture, adapter: porkbunAdapter({ apiKey: KEY, secretApiKey: SECRET, fetch: fixture.fetch }) }
}
const calls = (fixture: ReturnType<typeof setup>['fixture'], from = 0) =>
  fixture.fetch.requests.slice(from).map((r) => `${r.method} ${r.url.pathname}`)

describe('porkbunAdapter: DnsAdapter contract', () => {
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

describe('porkbunAdapter requests', () => {
  it('pages domain/listAll once, picks the longest domain, creates with the subdomain and the keys in the body', async () => {
    const { fixture, adapter } = setup(2)
    await adapter.createTxt('_acme-challenge.www.sub.example.com', V1)
    expect(calls(fixture)).toEqual([
      'POST /api/json/v3/domain/listAll',
      'POST /api/json/v3/domain/listAll',
      'POST /api/json/v3/domain/listAll',
      'POST /api/json/v3/domain/listAll',
      'POST /api/json/v3/dns/retrieveByNameType/sub.example.com/TXT/_acme-challenge.www',
      'POST /api/json/v3/dns/create/sub.example.com',
    ])
    const bodies = fixture.fetch.requests.map((r) => JSON.parse(r.body) as Record<string, unknown>)
    expect(bodies.slice(0, 4).map((b) => b.start)).toEqual(['0', '1000', '2000', '3000'])
    for (const b of bodies) expect(b).toMatchObject({ apikey: KEY, secretapikey: SECRET })
    for (const r of fixture.fetch.requests) expect(r.headers['content-type']).toBe('application/json')
    expect(bodies.at(-1)).toEqual({
      apikey: KEY,
      secretapikey: SECRET,
      name: '_acme-challenge.www',
      type: 'TXT',
      content: V1,
      ttl: '600',
    })
    const before = fixture.fetch.requests.length
    await adapter.createTxt('_acme-challenge.example.com', V1) // the list is remembered
    expect(calls(fixture, before)).toEqual([
      'POST /api/json/v3/dns/retrieveByNameType/example.com/TXT/_acme-challenge',
      'POST /api/json/v3/dns/create/example.com',
    ])
  })

  it('writes the apex with an empty name, deletes only the record carrying the value', async () => {
    const { fixture } = setup()
    const adapter = porkbunAdapter({
      apiKey: KEY,
      secretApiKey: SECRET,
      domain: 'example.com',
      fetch: fixture.fetch,
    })
    await adapter.createTxt('example.com', V1)
    await adapter.createTxt('example.com', V2)
    expect(fixture.records.map((r) => r.name)).toEqual(['', ''])
    expect(calls(fixture)[0]).toBe('POST /api/json/v3/dns/retrieveByNameType/example.com/TXT')
    const before = fixture.fetch.requests.length
    const id = fixture.records.find((r) => r.content === V1)!.id
    await adapter.removeTxt('example.com', V1)
    expect(calls(fixture, before)).toEqual([
      'POST /api/json/v3/dns/retrieveByNameType/example.com/TXT',
      `POST /api/json/v3/dns/delete/example.com/${id}`,
    ])
    expect(fixture.txt('example.com')).toEqual([V2])
  })

  it('takes a delete refused for a record already gone as done, and rethrows one still there', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt(NAME, V1)
    fixture.fetch.fault({
      match: (r) => r.url.pathname.includes('/dns/delete/'),
      respond: () => {
        fixture.records.splice(0, 1) // deleted by someone else meanwhile
        return porkbunError(400, 'Invalid record ID.')
      },
    })
    await adapter.removeTxt(NAME, V1)
    expect(fixture.txt(NAME)).toEqual([])

    await adapter.createTxt(NAME, V2)
    fixture.fetch.fault({
      match: (r) => r.url.pathname.includes('/dns/delete/'),
      respond: () => porkbunError(400, 'Something went wrong.'),
    })
    const err = await adapter.removeTxt(NAME, V2).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', status: 400 })
    expect(fixture.txt(NAME)).toEqual([V2])
  })

  it('maps invalid keys and a domain without API access to ERR_DNS_AUTH, a foreign domain to ERR_DNS_NOT_FOUND', async () => {
    const { fixture } = setup()
    const bad = porkbunAdapter({ apiKey: KEY, secretApiKey: 'wrong', fetch: fixture.fetch })
    const auth = await bad.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(auth).toMatchObject({ code: 'ERR_DNS_AUTH', status: 403 })
    expect((auth as Error).message).toContain('Invalid API key. (002)')

    const { adapter } = setup()
    const locked = await adapter.createTxt('_acme-challenge.locked.dev', V1).catch((e: unknown) => e)
    expect(locked).toMatchObject({ code: 'ERR_DNS_AUTH', status: 400 })
    const elsewhere = porkbunAdapter({
      apiKey: KEY,
      secretApiKey: SECRET,
      domain: 'not-mine.org',
      fetch: fixture.fetch,
    })
    const missing = await elsewhere.createTxt('_acme-challenge.not-mine.org', V1).catch((e: unknown) => e)
    expect(missing).toMatchObject({ code: 'ERR_DNS_NOT_FOUND', status: 400 })
  })

  it('maps a 429 to ERR_DNS_RATE_LIMITED with Retry-After; retries a 503 on a read (a POST), not on a write', async () => {
    const { fixture } = setup()
    const adapter = porkbunAdapter({
      apiKey: KEY,
      secretApiKey: SECRET,
      domain: 'example.com',
      fetch: fixture.fetch,
      retry: { retries: 1, maxWait: 2_000 },
    })
    fixture.fetch.fault({
      match: () => true,
      respond: () => porkbunError(429, 'Rate limit exceeded.', { 'retry-after': '600' }),
    })
    const limited = await adapter.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)

    fixture.fetch.fault({
      match: (r) => r.url.pathname.includes('/retrieveByNameType/'),
      respond: () => porkbunError(503, 'Service unavailable.'),
    })
    await adapter.createTxt(NAME, V1)
    expect(fixture.txt(NAME)).toEqual([V1])
    fixture.fetch.fault({
      match: (r) => r.url.pathname.includes('/dns/create/'),
      respond: () => porkbunError(503, 'Service unavailable.'),
    })
    const err = await adapter.createTxt(NAME, V2).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(fixture.fetch.requests.filter((r) => r.url.pathname.includes('/dns/create/'))).toHaveLength(2)
  })

  it('refuses missing keys', () => {
    expect(() => porkbunAdapter({ apiKey: KEY, secretApiKey: '' })).toThrow(InvalidArgumentError)
  })
})
