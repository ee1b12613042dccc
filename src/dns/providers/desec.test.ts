// desecAdapter against the deSEC API v1 fixture (test/fixtures/dns/desec.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { desecError, desecFixture } from '../../../test/fixtures/dns/desec.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { type DnsProviderError, isDnsRateLimited } from '../errors.ts'
import { desecAdapter } from './desec.ts'

const TOKEN = 'desec-token-fixture'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)
const NAME = '_acme-challenge.example.com'

function setup() {
  const fixture = desecFixture({ token: TOKEN, domains: ['example.com', 'sub.example.com'] })
  return { fixture, adapter: desecAdapter({ token: TOKEN, fetch: fixture.fetch }) }
}
const calls = (fixture: ReturnType<typeof setup>['fixture'], from = 0) =>
  fixture.fetch.requests.slice(from).map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)

describe('desecAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup()
    return {
      adapter,
      zone: 'example.com',
      values: async (name) => fixture.texts(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('desecAdapter requests', () => {
  it('asks owns_qname once, creates the RRset with a quoted record at the domain minimum TTL', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('_acme-challenge.www.sub.example.com', V1)
    expect(calls(fixture)).toEqual([
      'GET /api/v1/domains/?owns_qname=_acme-challenge.www.sub.example.com',
      'GET /api/v1/domains/sub.example.com/rrsets/_acme-challenge.www/TXT/',
      'POST /api/v1/domains/sub.example.com/rrsets/',
    ])
    for (const r of fixture.fetch.requests) expect(r.headers.authorization).toBe(`Token ${TOKEN}`)
    expect(JSON.parse(fixture.fetch.requests[2]!.body)).toEqual({
      subname: '_acme-challenge.www',
      type: 'TXT',
      ttl: 3600,
      records: [`"${V1}"`],
    })
  })

  it('adds a second value with a PATCH of the merged records and removes one value at the apex ("@")', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('example.com', V1)
    const before = fixture.fetch.requests.length
    await adapter.createTxt('example.com', V2)
    expect(calls(fixture, before)).toEqual([
      'GET /api/v1/domains/example.com/rrsets/@/TXT/',
      'PATCH /api/v1/domains/example.com/rrsets/@/TXT/',
    ])
    expect(JSON.parse(fixture.fetch.requests.at(-1)!.body)).toEqual({ records: [`"${V1}"`, `"${V2}"`] })
    await adapter.removeTxt('example.com', V1)
    expect(JSON.parse(fixture.fetch.requests.at(-1)!.body)).toEqual({ records: [`"${V2}"`] })
    await adapter.removeTxt('example.com', V2) // an empty list deletes the RRset (204)
    expect(fixture.rrsets).toEqual([])
    const after = fixture.fetch.requests.length
    await adapter.removeTxt('example.com', V2)
    expect(calls(fixture, after)).toEqual(['GET /api/v1/domains/example.com/rrsets/@/TXT/'])
  })

  it('merges into an RRset someone created between its read and its POST', async () => {
    const { fixture, adapter } = setup()
    let raced = false
    fixture.fetch.fault({
      match: (r) => r.method === 'POST' && !raced,
      respond: () => {
        raced = true
        fixture.rrsets.push({
          domain: 'example.com',
          subname: '_acme-challenge',
          type: 'TXT',
          ttl: 3600,
          records: [`"${V2}"`],
        })
        return desecError(400, {
          non_field_errors: [
            'Another RRset with the same subdomain and type exists for this domain. (Try modifying it.)',
          ],
        })
      },
    })
    await adapter.createTxt(NAME, V1)
    expect(fixture.texts(NAME).sort()).toEqual([V1, V2])
  })

  it('uses a given domain without discovery; a TTL below the minimum is refused with the field named', async () => {
    const { fixture } = setup()
    const adapter = desecAdapter({ token: TOKEN, domain: 'example.com', ttl: 60, fetch: fixture.fetch })
    const err = await adapter.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(calls(fixture).map((c) => c.split(' ')[0])).toEqual(['GET', 'POST'])
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', status: 400, providerCode: 'ttl' })
    expect((err as Error).message).toContain('ttl: Ensure this value is greater than or equal to 3600.')
  })

  it('maps a bad token to ERR_DNS_AUTH and a domain of another account to ERR_DNS_NOT_FOUND', async () => {
    const { fixture } = setup()
    const bad = desecAdapter({ token: 'nope', fetch: fixture.fetch })
    const auth = await bad.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(auth).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401 })
    expect((auth as Error).message).toContain('Invalid token.')
    const other = desecAdapter({ token: TOKEN, domain: 'not-mine.org', fetch: fixture.fetch })
    const missing = await other.createTxt('_acme-challenge.not-mine.org', V1).catch((e: unknown) => e)
    expect(missing).toMatchObject({ code: 'ERR_DNS_NOT_FOUND', status: 404 })
  })

  it('waits out a throttled write as Retry-After asks, and fails at once when it asks for too long', async () => {
    const { fixture, adapter } = setup()
    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () =>
        desecError(
          429,
          { detail: 'Request was throttled. Expected available in 1 second.' },
          { 'retry-after': '1' },
        ),
    })
    await adapter.createTxt(NAME, V1)
    expect(fixture.texts(NAME)).toEqual([V1])
    expect(fixture.fetch.requests.filter((r) => r.method === 'POST')).toHaveLength(2)

    fixture.fetch.fault({
      match: (r) => r.method === 'PATCH',
      respond: () =>
        desecError(
          429,
          { detail: 'Request was throttled. Expected available in 3600 seconds.' },
          { 'retry-after': '3600' },
        ),
    })
    const limited = await adapter.createTxt(NAME, V2).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)
    expect((limited as DnsProviderError).retryAfter!.getTime()).toBeGreaterThan(Date.now() + 3_000_000)
    expect(fixture.texts(NAME)).toEqual([V1])
  })

  it('retries a 503 on a read, not on a write', async () => {
    const { fixture } = setup()
    const adapter = desecAdapter({
      token: TOKEN,
      fetch: fixture.fetch,
      retry: { retries: 1, maxWait: 2_000 },
    })
    fixture.fetch.fault({
      match: (r) => r.method === 'GET',
      respond: () => desecError(503, { detail: 'Service unavailable' }),
    })
    await adapter.createTxt(NAME, V1)
    fixture.fetch.fault({
      match: (r) => r.method === 'PATCH',
      respond: () => desecError(503, { detail: 'Service unavailable' }),
    })
    const err = await adapter.createTxt(NAME, V2).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', status: 503 })
    expect(fixture.fetch.requests.filter((r) => r.method === 'PATCH')).toHaveLength(1)
    expect(fixture.texts(NAME)).toEqual([V1])
  })

  it('refuses a missing token', () => {
    expect(() => desecAdapter({ token: '' })).toThrow(InvalidArgumentError)
  })
})
