// namecheapAdapter against the Namecheap XML API fixture (test/fixtures/dns/namecheap.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { type NamecheapHost, namecheapError, namecheapFixture } from '../../../test/fixtures/dns/namecheap.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { namecheapAdapter } from './namecheap.ts'

const USER = 'acmeuser'
const KEY = 'd41474b94e7d4536baabb074a09c96bd'
const IP = '203.0.113.7'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

/** A domain with everything a real one carries: mail, a redirect, CAA, SPF, a CNAME. */
const HOSTS: Array<Omit<NamecheapHost, 'hostId'>> = [
  { name: '@', type: 'A', address: '192.0.2.10', mxPref: 10, ttl: 1800 },
  { name: 'www', type: 'CNAME', address: 'example.co.uk.', mxPref: 10, ttl: 1800 },
  { name: '@', type: 'MX', address: 'mx1.mail.example.net.', mxPref: 10, ttl: 3600 },
  { name: '@', type: 'MX', address: 'mx2.mail.example.net.', mxPref: 20, ttl: 3600 },
  { name: '@', type: 'TXT', address: 'v=spf1 include:_spf.example.net ~all', mxPref: 10, ttl: 1800 },
  { name: '@', type: 'CAA', address: '0 issue "letsencrypt.org"', mxPref: 10, ttl: 1800 },
  { name: 'old', type: 'URL301', address: 'https://example.co.uk/new?a=1&b=2', mxPref: 10, ttl: 60 },
]

function setup(extra: { clientIp?: string } = { clientIp: IP }) {
  const fixture = namecheapFixture({
    apiUser: USER,
    apiKey: KEY,
    clientIp: IP,
    domains: [
      ...Array.from({ length: 120 }, (_, i) => ({ name: `filler${i}.com` })),
      { name: 'example.co.uk', emailType: 'MX', hosts: HOSTS },
      { name: 'example.com' },
    ],
  })
  const adapter = namecheapAdapter({ apiUser: USER, apiKey: KEY, fetch: fixture.fetch, ...extra })
  return { fixture, adapter }
}

const form = (body: string) => Object.fromEntries(new URLSearchParams(body))
const withoutIds = (hosts: NamecheapHost[]) => hosts.map(({ hostId: _, ...h }) => h)

describe('namecheapAdapter: DnsAdapter contract', () => {
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

describe('namecheapAdapter requests', () => {
  it('splits a multi-label TLD by the account’s domain list and keeps every other record and the EmailType', async () => {
    const { fixture, adapter } = setup()
    const domain = fixture.domains.find((d) => d.name === 'example.co.uk')!
    const before = withoutIds(domain.hosts)
    await adapter.createTxt('_acme-challenge.www.example.co.uk', V1)
    await adapter.createTxt('example.co.uk', V2)
    expect(fixture.txt('_acme-challenge.www.example.co.uk')).toEqual([V1])
    expect(fixture.txt('example.co.uk')).toEqual(['v=spf1 include:_spf.example.net ~all', V2])
    await adapter.removeTxt('_acme-challenge.www.example.co.uk', V1)
    await adapter.removeTxt('example.co.uk', V2)
    expect(withoutIds(domain.hosts)).toEqual(before)
    expect(domain.emailType).toBe('MX')

    const calls = fixture.fetch.requests.map((r) => form(r.body))
    expect(calls.map((c) => c.Command)).toEqual([
      'namecheap.domains.getList',
      'namecheap.domains.getList',
      'namecheap.domains.dns.getHosts',
      'namecheap.domains.dns.setHosts',
      'namecheap.domains.dns.getHosts',
      'namecheap.domains.dns.setHosts',
      'namecheap.domains.dns.getHosts',
      'namecheap.domains.dns.setHosts',
      'namecheap.domains.dns.getHosts',
      'namecheap.domains.dns.setHosts',
    ])
    const set = calls[3]!
    expect(set).toMatchObject({
      ApiUser: USER,
      ApiKey: KEY,
      UserName: USER,
      ClientIp: IP,
      SLD: 'example',
      TLD: 'co.uk',
      EmailType: 'MX',
    })
    expect(set).toMatchObject({
      HostName8: '_acme-challenge.www',
      RecordType8: 'TXT',
      Address8: V1,
      TTL8: '60',
    })
    expect(set).toMatchObject({
      HostName3: '@',
      RecordType3: 'MX',
      Address3: 'mx1.mail.example.net.',
      MXPref3: '10',
      TTL3: '3600',
    })
    // The API key travels in form bodies only, never in a URL.
    expect(fixture.fetch.requests.every((r) => r.method === 'POST' && r.url.search === '')).toBe(true)
    expect(
      fixture.fetch.requests.every((r) => r.headers['content-type'] === 'application/x-www-form-urlencoded'),
    ).toBe(true)
  })

  it('writes two values at one name from concurrent calls, one whole-domain write at a time', async () => {
    const { fixture, adapter } = setup()
    await Promise.all([
      adapter.createTxt('_acme-challenge.example.co.uk', V1),
      adapter.createTxt('_acme-challenge.example.co.uk', V2),
      adapter.createTxt('_acme-challenge.www.example.co.uk', V1),
    ])
    expect(fixture.txt('_acme-challenge.example.co.uk')).toEqual([V1, V2])
    expect(fixture.txt('_acme-challenge.www.example.co.uk')).toEqual([V1])
    expect(fixture.writes).toBe(3)
    expect(
      fixture.domains.find((d) => d.name === 'example.co.uk')!.hosts.filter((h) => h.type === 'MX'),
    ).toHaveLength(2)
  })

  it('asks Namecheap’s echo for the client IP once when none is given', async () => {
    const { fixture, adapter } = setup({})
    await adapter.createTxt('_acme-challenge.example.com', V1)
    await adapter.createTxt('_acme-challenge.example.com', V2)
    const echo = fixture.fetch.requests.filter((r) => r.url.hostname === 'dynamicdns.park-your-domain.com')
    expect(echo.map((r) => `${r.method} ${r.url.pathname}`)).toEqual(['GET /getip'])
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([V1, V2])
  })

  it('uses a given domain without the list', async () => {
    const { fixture } = setup()
    const adapter = namecheapAdapter({
      apiUser: USER,
      apiKey: KEY,
      clientIp: IP,
      domain: 'example.co.uk',
      fetch: fixture.fetch,
    })
    await adapter.createTxt('_acme-challenge.example.co.uk', V1)
    expect(fixture.fetch.requests.map((r) => form(r.body).Command)).toEqual([
      'namecheap.domains.dns.getHosts',
      'namecheap.domains.dns.setHosts',
    ])
  })

  it('maps a bad key and a client IP that is not allow-listed to ERR_DNS_AUTH with Namecheap’s error number', async () => {
    const { fixture } = setup()
    const badKey = namecheapAdapter({ apiUser: USER, apiKey: 'nope', clientIp: IP, fetch: fixture.fetch })
    const err = (await badKey
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', providerCode: '1011102' })
    expect(err.message).toContain('API Key is invalid')
    expect(err.message).not.toContain('nope')

    const badIp = namecheapAdapter({
      apiUser: USER,
      apiKey: KEY,
      clientIp: '198.51.100.1',
      fetch: fixture.fetch,
    })
    expect(await badIp.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)).toMatchObject({
      code: 'ERR_DNS_AUTH',
      providerCode: '1011150',
    })
  })

  it('maps "Domain not found" to ERR_DNS_NOT_FOUND and writes nothing after a failed read', async () => {
    const { fixture } = setup()
    const adapter = namecheapAdapter({
      apiUser: USER,
      apiKey: KEY,
      clientIp: IP,
      domain: 'missing.co.uk',
      fetch: fixture.fetch,
    })
    expect(
      await adapter.createTxt('_acme-challenge.missing.co.uk', V1).catch((e: unknown) => e),
    ).toMatchObject({
      code: 'ERR_DNS_NOT_FOUND',
      providerCode: '2019166',
    })
    expect(fixture.writes).toBe(0)
  })

  it('maps a 429 to ERR_DNS_RATE_LIMITED; retries a 503 on a read command, never on setHosts', async () => {
    const { fixture } = setup()
    const adapter = namecheapAdapter({
      apiUser: USER,
      apiKey: KEY,
      clientIp: IP,
      fetch: fixture.fetch,
      retry: { retries: 1, maxWait: 2_000 },
    })
    fixture.fetch.fault({
      match: () => true,
      respond: () => new Response('Too Many Requests', { status: 429, headers: { 'retry-after': '3600' } }),
    })
    const limited = await adapter.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)

    const isCommand = (name: string) => (r: { body: string }) => form(r.body).Command === name
    fixture.fetch.fault({
      match: isCommand('namecheap.domains.dns.getHosts'),
      respond: () => new Response('Service Unavailable', { status: 503 }),
    })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com')).toEqual([V1])

    fixture.fetch.fault({
      match: isCommand('namecheap.domains.dns.setHosts'),
      respond: () => new Response('Service Unavailable', { status: 503 }),
    })
    const sets = () => fixture.fetch.requests.filter(isCommand('namecheap.domains.dns.setHosts')).length
    const before = sets()
    const err = await adapter.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(sets() - before).toBe(1)
  })

  it('reads an error envelope answered with HTTP 200', async () => {
    const { fixture, adapter } = setup()
    fixture.fetch.fault({
      match: () => true,
      respond: () =>
        namecheapError(3031510, 'Error From Enom when Errorcount <> 0', 'namecheap.domains.getList'),
    })
    const err = (await adapter
      .createTxt('_acme-challenge.example.com', V1)
      .catch((e: unknown) => e)) as DnsProviderError
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', providerCode: '3031510', status: 200 })
    expect(err.message).toContain('Error From Enom when Errorcount <> 0')
  })

  it('refuses incomplete options before any request', () => {
    expect(() => namecheapAdapter({ apiUser: USER, apiKey: '' })).toThrow(InvalidArgumentError)
    expect(() => namecheapAdapter({ apiUser: USER, apiKey: KEY, clientIp: 'localhost' })).toThrow(/clientIp/)
  })
})
