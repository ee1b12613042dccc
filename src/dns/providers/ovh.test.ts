// ovhAdapter against the OVHcloud API fixture (test/fixtures/dns/ovh.ts), which checks every signature with node:crypto.
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { ovhError, ovhFixture } from '../../../test/fixtures/dns/ovh.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { ovhAdapter } from './ovh.ts'

const KEYS = { applicationKey: 'ak-fixture', applicationSecret: 'as-fixture', consumerKey: 'ck-fixture' }
const CLIENT = { id: 'EU.sa-fixture', secret: 'sa-secret' }
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)
const NAME = '_acme-challenge.example.com'

function setup(options: { skew?: number; grants?: string[] } = {}) {
  const fixture = ovhFixture({ ...KEYS, client: CLIENT, zones: ['example.com'], ...options })
  return { fixture, adapter: ovhAdapter({ endpoint: 'ovh-eu', credentials: KEYS, fetch: fixture.fetch }) }
}
const calls = (fixture: ReturnType<typeof setup>['fixture'], from = 0) =>
  fixture.fetch.requests.slice(from).map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)

describe('ovhAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup({ skew: 1234 })
    return {
      adapter,
      zone: 'example.com',
      values: async (name) => fixture.texts(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('ovhAdapter: DnsAdapter contract with OAuth2 client credentials', () => {
  adapterContract(async () => {
    const { fixture } = setup()
    const adapter = ovhAdapter({
      endpoint: 'ovh-eu',
      credentials: { clientId: CLIENT.id, clientSecret: CLIENT.secret },
      fetch: fixture.fetch,
    })
    return {
      adapter,
      zone: 'example.com',
      values: async (name) => fixture.texts(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('ovhAdapter requests', () => {
  it('asks the server time once, signs every call, finds the zone per label, creates, then refreshes', async () => {
    const { fixture, adapter } = setup({ skew: -7200 })
    await adapter.createTxt('_acme-challenge.www.example.com', V1)
    expect(calls(fixture)).toEqual([
      'GET /1.0/auth/time',
      'GET /1.0/domain/zone/_acme-challenge.www.example.com',
      'GET /1.0/domain/zone/www.example.com',
      'GET /1.0/domain/zone/example.com',
      'GET /1.0/domain/zone/example.com/record?fieldType=TXT&subDomain=_acme-challenge.www',
      'POST /1.0/domain/zone/example.com/record',
      'POST /1.0/domain/zone/example.com/refresh',
    ])
    const signed = fixture.fetch.requests.slice(1)
    for (const r of signed) {
      expect(r.headers['x-ovh-application']).toBe(KEYS.applicationKey)
      expect(r.headers['x-ovh-consumer']).toBe(KEYS.consumerKey)
      expect(r.headers['x-ovh-signature']).toMatch(/^\$1\$[0-9a-f]{40}$/)
    }
    expect(JSON.parse(fixture.fetch.requests[5]!.body)).toEqual({
      fieldType: 'TXT',
      subDomain: '_acme-challenge.www',
      target: V1,
      ttl: 60,
    })
    expect(fixture.refreshes).toEqual(['example.com'])
    expect(fixture.texts('_acme-challenge.www.example.com')).toEqual([V1])
  })

  it('reads each listed record, checks the apex subDomain itself, deletes only the value, then refreshes', async () => {
    const { fixture } = setup()
    const adapter = ovhAdapter({
      endpoint: 'ovh-eu',
      credentials: KEYS,
      zone: 'example.com',
      fetch: fixture.fetch,
    })
    await adapter.createTxt('example.com', V1)
    await adapter.createTxt('example.com', V2)
    await adapter.createTxt(NAME, V1) // listed too by an apex query (an empty filter is no filter)
    const before = fixture.fetch.requests.length
    const id = fixture.records.find((r) => r.subDomain === '' && r.target === V1)!.id
    await adapter.removeTxt('example.com', V1)
    expect(
      calls(fixture, before).filter((c) => !c.startsWith('GET /1.0/domain/zone/example.com/record/')),
    ).toEqual([
      'GET /1.0/domain/zone/example.com/record?fieldType=TXT&subDomain=',
      `DELETE /1.0/domain/zone/example.com/record/${id}`,
      'POST /1.0/domain/zone/example.com/refresh',
    ])
    expect(fixture.texts('example.com')).toEqual([V2])
    expect(fixture.texts(NAME)).toEqual([V1])
    const refreshes = fixture.refreshes.length
    await adapter.removeTxt('example.com', V1) // nothing to delete: no refresh either
    expect(fixture.refreshes).toHaveLength(refreshes)
  })

  it('maps refused credentials, signatures and grants to ERR_DNS_AUTH with OVH error codes', async () => {
    const { fixture } = setup({ grants: ['GET /domain/zone/*'] })
    const attempt = async (credentials: typeof KEYS) =>
      ovhAdapter({ endpoint: 'ovh-eu', credentials, zone: 'example.com', fetch: fixture.fetch })
        .createTxt(NAME, V1)
        .catch((e: unknown) => e as DnsProviderError)
    expect(await attempt({ ...KEYS, applicationKey: 'other' })).toMatchObject({
      code: 'ERR_DNS_AUTH',
      status: 403,
      providerCode: 'INVALID_KEY',
    })
    expect(await attempt({ ...KEYS, consumerKey: 'other' })).toMatchObject({
      code: 'ERR_DNS_AUTH',
      providerCode: 'INVALID_CREDENTIAL',
    })
    expect(await attempt({ ...KEYS, applicationSecret: 'other' })).toMatchObject({
      code: 'ERR_DNS_AUTH',
      status: 400,
      providerCode: 'INVALID_SIGNATURE',
    })
    expect(await attempt(KEYS)).toMatchObject({
      code: 'ERR_DNS_AUTH',
      status: 403,
      providerCode: 'NOT_GRANTED_CALL',
    })
    expect(fixture.records).toEqual([])

    const oauth = ovhAdapter({
      endpoint: 'ovh-eu',
      credentials: { clientId: CLIENT.id, clientSecret: 'wrong' },
      fetch: fixture.fetch,
    })
    const err = await oauth.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401, providerCode: 'invalid_client' })
  })

  it('fails with ERR_DNS_NOT_FOUND for a zone the account does not have', async () => {
    const { fixture } = setup()
    const adapter = ovhAdapter({
      endpoint: 'ovh-eu',
      credentials: KEYS,
      zone: 'not-mine.org',
      fetch: fixture.fetch,
    })
    const err = await adapter.createTxt('_acme-challenge.not-mine.org', V1).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_NOT_FOUND', status: 404, providerCode: 'Client::NotFound' })
  })

  it('maps a 429 to ERR_DNS_RATE_LIMITED; retries a 503 on a read (signed afresh), not on a write', async () => {
    const { fixture } = setup()
    const adapter = ovhAdapter({
      endpoint: 'ovh-eu',
      credentials: KEYS,
      zone: 'example.com',
      fetch: fixture.fetch,
      retry: { retries: 1, maxWait: 2_000 },
    })
    fixture.fetch.fault({
      match: (r) => r.url.pathname.endsWith('/record'),
      respond: () => ovhError(429, 'TOO_MANY_REQUESTS', 'Too many requests', { 'retry-after': '3600' }),
    })
    const limited = await adapter.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)

    fixture.fetch.fault({
      match: (r) => r.method === 'GET' && r.url.pathname.endsWith('/record'),
      respond: () => ovhError(503, 'SERVICE_UNAVAILABLE', 'try again'),
    })
    await adapter.createTxt(NAME, V1)
    expect(fixture.texts(NAME)).toEqual([V1])
    fixture.fetch.fault({
      match: (r) => r.method === 'POST' && r.url.pathname.endsWith('/record'),
      respond: () => ovhError(503, 'SERVICE_UNAVAILABLE', 'try again'),
    })
    const err = await adapter.createTxt(NAME, V2).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(fixture.texts(NAME)).toEqual([V1])
  })

  it('takes the endpoint by name or URL and refuses missing credentials', () => {
    expect(() => ovhAdapter({ endpoint: 'ovh-mars', credentials: KEYS })).toThrow(InvalidArgumentError)
    expect(() => ovhAdapter({ endpoint: 'ovh-eu', credentials: { ...KEYS, consumerKey: '' } })).toThrow(
      InvalidArgumentError,
    )
    expect(() =>
      ovhAdapter({ endpoint: 'https://api.example/1.0', credentials: { clientId: 'a', clientSecret: 'b' } }),
    ).toThrow(/tokenUrl/)
    expect(ovhAdapter({ endpoint: 'https://eu.api.ovh.com/1.0/', credentials: KEYS }).name).toBe('ovh')
  })
})
