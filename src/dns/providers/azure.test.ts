// azureDnsAdapter and its client-credentials token against the Entra ID + Azure DNS fixture
// (test/fixtures/dns/azure.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { armError, azureFixture } from '../../../test/fixtures/dns/azure.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { type AzureDnsAdapterOptions, azureDnsAdapter } from './azure.ts'

const SUB = '11111111-2222-3333-4444-555555555555'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

function setup(extra: Partial<AzureDnsAdapterOptions> = {}, pageSize?: number) {
  const fixture = azureFixture({
    subscription: SUB,
    zones: [
      { resourceGroup: 'other-rg', name: 'example.org' },
      { resourceGroup: 'dns-rg', name: 'example.com' },
      { resourceGroup: 'dns-rg', name: 'sub.example.com' },
    ],
    ...(pageSize !== undefined && { pageSize }),
  })
  const adapter = azureDnsAdapter({
    tenantId: fixture.tenant,
    clientId: fixture.clientId,
    clientSecret: fixture.clientSecret,
    subscriptionId: SUB,
    fetch: fixture.fetch,
    ...extra,
  })
  return { fixture, adapter }
}

const arm = (fixture: ReturnType<typeof setup>['fixture']) =>
  fixture.fetch.requests.filter((r) => r.url.origin === 'https://management.azure.com')

describe('azureDnsAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup({}, 1)
    return {
      adapter,
      zone: 'example.com',
      values: async (name) => fixture.txt(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('azureDnsAdapter requests', () => {
  it('gets one token by client credentials, lists zones once across nextLink, writes two values at one name', async () => {
    const { fixture, adapter } = setup({}, 1)
    await Promise.all([
      adapter.createTxt('_acme-challenge.www.example.com', V1),
      adapter.createTxt('_acme-challenge.www.example.com', V2),
    ])
    expect(fixture.tokensIssued).toBe(1)
    const form = new URLSearchParams(fixture.fetch.requests[0]!.body)
    expect(Object.fromEntries(form)).toEqual({
      grant_type: 'client_credentials',
      client_id: fixture.clientId,
      client_secret: fixture.clientSecret,
      scope: 'https://management.azure.com/.default',
    })
    expect(fixture.fetch.requests[0]!.url.pathname).toBe(`/${fixture.tenant}/oauth2/v2.0/token`)
    const base = `/subscriptions/${SUB}/resourceGroups/dns-rg/providers/Microsoft.Network/dnsZones/example.com/TXT/_acme-challenge.www`
    const condition = (h: Record<string, string>) =>
      h['if-match'] ? 'If-Match' : h['if-none-match'] ? `If-None-Match: ${h['if-none-match']}` : '-'
    expect(arm(fixture).map((r) => `${r.method} ${r.url.pathname} ${condition(r.headers)}`)).toEqual([
      `GET /subscriptions/${SUB}/providers/Microsoft.Network/dnszones -`,
      `GET /subscriptions/${SUB}/providers/Microsoft.Network/dnszones -`,
      `GET /subscriptions/${SUB}/providers/Microsoft.Network/dnszones -`,
      `GET ${base} -`,
      `PUT ${base} If-None-Match: *`,
      `GET ${base} -`,
      `PUT ${base} If-Match`,
    ])
    expect(arm(fixture).map((r) => r.url.searchParams.get('api-version'))).toEqual(
      Array(7).fill('2018-05-01'),
    )
    expect(fixture.txt('_acme-challenge.www.example.com')).toEqual([V1, V2])
    expect(JSON.parse(arm(fixture).at(-1)!.body)).toEqual({
      properties: { TTL: 60, TXTRecords: [{ value: [V1] }, { value: [V2] }] },
    })
    expect(arm(fixture).every((r) => r.headers.authorization?.startsWith('Bearer eyJ'))).toBe(true)
  })

  it('picks the deepest zone, writes "@" at its apex, and deletes the set with the last value under If-Match', async () => {
    const { fixture, adapter } = setup({ resourceGroup: 'dns-rg' })
    await adapter.createTxt('sub.example.com', V1)
    expect(fixture.zones[2]!.txt.get('@')?.records).toEqual([[V1]])
    const etag = fixture.zones[2]!.txt.get('@')!.etag
    await adapter.removeTxt('sub.example.com', V1)
    expect(fixture.zones[2]!.txt.size).toBe(0)
    const del = arm(fixture).at(-1)!
    expect(`${del.method} ${del.headers['if-match']}`).toBe(`DELETE ${etag}`)
    expect(arm(fixture)[0]!.url.pathname).toBe(
      `/subscriptions/${SUB}/resourceGroups/dns-rg/providers/Microsoft.Network/dnszones`,
    )
  })

  it('splits text longer than 255 characters into strings and reads it back joined', async () => {
    const { fixture, adapter } = setup()
    const long = 'L'.repeat(600)
    await adapter.createTxt('_acme-challenge.example.com', long)
    expect(fixture.zones[1]!.txt.get('_acme-challenge')?.records).toEqual([
      ['L'.repeat(255), 'L'.repeat(255), 'L'.repeat(90)],
    ])
    await adapter.createTxt('_acme-challenge.example.com', long) // already there: no write
    await adapter.removeTxt('_acme-challenge.example.com', long)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([])
  })

  it('reads again and keeps the other writer’s value when the set changed between read and write (412)', async () => {
    const { fixture, adapter } = setup({ zone: 'example.com', resourceGroup: 'dns-rg' })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    const zone = fixture.zones[1]!
    fixture.fetch.fault({
      match: (r) => r.method === 'GET' && r.url.pathname.endsWith('/TXT/_acme-challenge'),
      respond: () => {
        // The adapter reads the set as it is, then someone else writes before the adapter's PUT.
        const seen = zone.txt.get('_acme-challenge')!
        zone.txt.set('_acme-challenge', {
          etag: 'changed-by-someone-else',
          ttl: 60,
          records: [[V1], ['other']],
        })
        return Response.json({
          etag: seen.etag,
          properties: { TTL: seen.ttl, TXTRecords: seen.records.map((value) => ({ value })) },
        })
      },
    })
    await adapter.createTxt('_acme-challenge.example.com', V2)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([V1, 'other', V2])
    expect(
      arm(fixture)
        .filter((r) => r.method === 'PUT')
        .map((r) => r.headers['if-match'] ?? '*'),
    ).toEqual(['*', expect.not.stringMatching('changed-by-someone-else'), 'changed-by-someone-else'])
  })

  it('maps a wrong client secret to ERR_DNS_AUTH with the Entra error, before any ARM call', async () => {
    const { fixture } = setup()
    const bad = azureDnsAdapter({
      tenantId: fixture.tenant,
      clientId: fixture.clientId,
      clientSecret: 'wrong',
      subscriptionId: SUB,
      fetch: fixture.fetch,
    })
    const err = (await bad
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401, providerCode: 'invalid_client' })
    expect(err.message).toContain('AADSTS7000215')
    expect(arm(fixture)).toHaveLength(0)

    const otherTenant = azureDnsAdapter({
      tenantId: 'nope',
      clientId: fixture.clientId,
      clientSecret: fixture.clientSecret,
      subscriptionId: SUB,
      fetch: fixture.fetch,
    })
    expect(
      await otherTenant.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e),
    ).toMatchObject({
      code: 'ERR_DNS_AUTH',
      providerCode: 'invalid_request',
    })
  })

  it('maps a rejected token to ERR_DNS_AUTH and an unknown subscription to ERR_DNS_NOT_FOUND', async () => {
    const { fixture } = setup()
    const adapter = azureDnsAdapter({
      accessToken: async () => 'not-issued',
      subscriptionId: SUB,
      fetch: fixture.fetch,
    })
    expect(await adapter.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)).toMatchObject(
      {
        code: 'ERR_DNS_AUTH',
        status: 401,
        providerCode: 'InvalidAuthenticationToken',
      },
    )
    const { adapter: wrongSub } = setup({ subscriptionId: '00000000-0000-0000-0000-000000000000' })
    expect(
      await wrongSub.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e),
    ).toMatchObject({
      code: 'ERR_DNS_NOT_FOUND',
      providerCode: 'SubscriptionNotFound',
    })
  })

  it('waits out a 429 Retry-After; retries a 503 on a read, never on a write', async () => {
    const { fixture, adapter } = setup({ retry: { retries: 1, maxWait: 2_000 } })
    fixture.fetch.fault({
      match: (r) => r.method === 'PUT',
      respond: () => armError(429, 'TooManyRequests', 'Too many requests.', { 'retry-after': '0' }),
    })
    fixture.fetch.fault({
      match: (r) => r.method === 'GET' && r.url.pathname.includes('/TXT/'),
      respond: () => armError(503, 'ServiceUnavailable', 'try again'),
    })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([V1])

    fixture.fetch.fault({
      match: (r) => r.method === 'PUT',
      respond: () => armError(503, 'ServiceUnavailable', 'try again'),
    })
    const puts = () => fixture.fetch.requests.filter((r) => r.method === 'PUT').length
    const before = puts()
    const err = await adapter.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(puts() - before).toBe(1)

    const { fixture: f2, adapter: noRetry } = setup({ retry: false })
    f2.fetch.fault({
      match: (r) => r.url.origin === 'https://management.azure.com',
      respond: () => armError(429, 'TooManyRequests', 'Too many requests.', { 'retry-after': '30' }),
    })
    const limited = await noRetry.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)
    expect((limited as DnsProviderError).retryAfter).toBeInstanceOf(Date)
  })

  it('gets a new token and sends the call again when ARM refuses the cached one (401)', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.tokensIssued).toBe(1)
    fixture.revokeTokens()
    await adapter.createTxt('_acme-challenge.example.com', V2)
    expect(fixture.tokensIssued).toBe(2)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([V1, V2])
    // Once only: a token ARM keeps refusing is an ERR_DNS_AUTH, not a loop.
    fixture.fetch.fault({
      match: (r) => r.url.origin === 'https://management.azure.com',
      times: 2,
      respond: () => armError(401, 'InvalidAuthenticationToken', 'The access token is invalid.'),
    })
    const err = await adapter.removeTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401 })
    expect(fixture.tokensIssued).toBe(3)
  })

  it('refuses incomplete options before any request', () => {
    expect(() => azureDnsAdapter({ subscriptionId: SUB })).toThrow(InvalidArgumentError)
    expect(() => azureDnsAdapter({ subscriptionId: '', accessToken: async () => 't' })).toThrow(
      /subscriptionId/,
    )
    expect(() =>
      azureDnsAdapter({ subscriptionId: SUB, accessToken: async () => 't', zone: 'example.com' }),
    ).toThrow(/resourceGroup/)
  })
})
