// route53Adapter against the Route 53 fixture (test/fixtures/dns/route53.ts), which checks every SigV4
// signature with an independent node:crypto implementation.
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { ROUTE53_API, route53Error, route53Fixture } from '../../../test/fixtures/dns/route53.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { route53Adapter } from './route53.ts'

const CREDENTIALS = { accessKeyId: 'AKIDFIXTURE', secretAccessKey: 'fixture/secret+KEY' }
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

function setup(zones: Array<{ name: string; private?: boolean }> = [{ name: 'example.com' }]) {
  const fixture = route53Fixture({ ...CREDENTIALS, zones })
  const adapter = route53Adapter({ credentials: CREDENTIALS, fetch: fixture.fetch, changePollInterval: 10 })
  return { fixture, adapter }
}

describe('route53Adapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup()
    return {
      adapter,
      zone: 'example.com',
      // Decoded by the fixture as Route 53 reads TXT values, not by src/dns/txt.ts (a shared bug cannot pass).
      values: async (name) => fixture.texts(`${name}.`).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('route53Adapter requests', () => {
  it('finds the zone with ListHostedZonesByName, UPSERTs the merged set, and signs every request', async () => {
    const { fixture, adapter } = setup([{ name: 'example.com' }, { name: 'example.org' }])
    await adapter.createTxt('_acme-challenge.example.com', V1)
    await adapter.createTxt('_acme-challenge.example.com', V2)
    const zoneId = fixture.zones[0]!.id
    expect(fixture.fetch.requests.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)).toEqual([
      'GET /2013-04-01/hostedzonesbyname?dnsname=_acme-challenge.example.com.&maxitems=10',
      'GET /2013-04-01/hostedzonesbyname?dnsname=example.com.&maxitems=10',
      `GET /2013-04-01/hostedzone/${zoneId}/rrset?name=_acme-challenge.example.com.&type=TXT&maxitems=1`,
      `POST /2013-04-01/hostedzone/${zoneId}/rrset/`,
      `GET /2013-04-01/hostedzone/${zoneId}/rrset?name=_acme-challenge.example.com.&type=TXT&maxitems=1`,
      `POST /2013-04-01/hostedzone/${zoneId}/rrset/`,
    ])
    const last = fixture.fetch.requests.at(-1)!
    expect(last.headers['content-type']).toBe('text/xml')
    expect(last.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDFIXTURE\/\d{8}\/us-east-1\/route53\/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=[0-9a-f]{64}$/,
    )
    expect(last.body).toContain('<Action>UPSERT</Action>')
    expect(last.body).toContain(
      `<ResourceRecords><ResourceRecord><Value>"${V1}"</Value></ResourceRecord><ResourceRecord><Value>"${V2}"</Value></ResourceRecord></ResourceRecords>`,
    )
    expect(fixture.txt('_acme-challenge.example.com.')).toEqual([`"${V1}"`, `"${V2}"`])
  })

  it('writes TXT values in Route 53 format: quoted, escaped, split into 255-character strings', async () => {
    const { fixture, adapter } = setup()
    const long = 'L'.repeat(300)
    const odd = 'say "hi" \\ there'
    await adapter.createTxt('_acme-challenge.example.com', long)
    await adapter.createTxt('_acme-challenge.example.com', odd)
    expect(fixture.txt('_acme-challenge.example.com.')).toEqual([
      `"${'L'.repeat(255)}" "${'L'.repeat(45)}"`,
      '"say \\"hi\\" \\\\ there"',
    ])
    expect(fixture.texts('_acme-challenge.example.com.')).toEqual([long, odd])
    await adapter.removeTxt('_acme-challenge.example.com', long)
    expect(fixture.texts('_acme-challenge.example.com.')).toEqual([odd])
  })

  it('escapes bytes outside printable ASCII as three-digit octal, as Route 53 documents', async () => {
    const { fixture, adapter } = setup()
    const unicode = 'caf\u00e9\ttab'
    await adapter.createTxt('_acme-challenge.example.com', unicode)
    // é is 0xC3 0xA9 in UTF-8 (octal 303 251), the tab 0x09 (octal 011).
    expect(fixture.txt('_acme-challenge.example.com.')).toEqual(['"caf\\303\\251\\011tab"'])
    expect(fixture.texts('_acme-challenge.example.com.')).toEqual([unicode])
    await adapter.removeTxt('_acme-challenge.example.com', unicode)
    expect(fixture.texts('_acme-challenge.example.com.')).toEqual([])
  })

  it('DELETEs the set with its exact values and TTL when the last value goes', async () => {
    const { fixture, adapter } = setup()
    fixture.zones[0]!.sets.push({
      name: '_acme-challenge.example.com.',
      type: 'TXT',
      ttl: 300,
      values: [`"${V1}"`],
    })
    await adapter.removeTxt('_acme-challenge.example.com', V1)
    const body = fixture.fetch.requests.at(-1)!.body
    expect(body).toContain('<Action>DELETE</Action>')
    expect(body).toContain('<TTL>300</TTL>')
    expect(fixture.txt('_acme-challenge.example.com.')).toEqual([])
  })

  it('recomputes the change when the set moved between the read and the write (InvalidChangeBatch)', async () => {
    const { fixture, adapter } = setup()
    const zone = fixture.zones[0]!
    zone.sets.push({ name: '_acme-challenge.example.com.', type: 'TXT', ttl: 60, values: [`"${V1}"`] })
    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => {
        zone.sets[0]!.values.push(`"${V2}"`) // someone else adds a value meanwhile
        return new Response(
          "<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Messages><Message>Tried to delete resource record set [name='_acme-challenge.example.com.', type='TXT'] but the values provided do not match the current values</Message></Messages></InvalidChangeBatch>",
          { status: 400, headers: { 'content-type': 'text/xml' } },
        )
      },
    })
    await adapter.removeTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com.')).toEqual([`"${V2}"`])
  })

  it('waitForChange polls GetChange until INSYNC', async () => {
    const { fixture, adapter } = setup()
    fixture.pendingPolls = 2
    await adapter.createTxt('_acme-challenge.example.com', V1)
    await adapter.waitForChange!('_acme-challenge.example.com', V1)
    const polls = fixture.fetch.requests.filter((r) => r.url.pathname.startsWith('/2013-04-01/change/'))
    expect(polls).toHaveLength(3)
    // A value this adapter did not write (already there) needs no wait.
    const before = fixture.fetch.requests.length
    await adapter.waitForChange!('_acme-challenge.example.com', V2)
    expect(fixture.fetch.requests.length).toBe(before)
  })

  it('retries Throttling (HTTP 400 with an XML code) and maps a bad secret to ERR_DNS_AUTH', async () => {
    const { fixture, adapter } = setup()
    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => route53Error(400, 'Throttling', 'Rate exceeded'),
    })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com.')).toEqual([`"${V1}"`])

    const noRetry = route53Adapter({ credentials: CREDENTIALS, fetch: fixture.fetch, retry: false })
    fixture.fetch.fault({
      match: () => true,
      respond: () =>
        route53Error(
          400,
          'PriorRequestNotComplete',
          'The request was rejected because Route 53 was still processing a prior request.',
        ),
    })
    const throttled = await noRetry.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
    expect(isDnsRateLimited(throttled)).toBe(true)
    expect((throttled as DnsProviderError).providerCode).toBe('PriorRequestNotComplete')

    const wrong = route53Adapter({
      credentials: { ...CREDENTIALS, secretAccessKey: 'wrong' },
      fetch: fixture.fetch,
    })
    const err = await wrong.createTxt('_acme-challenge.example.com', V2).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', status: 403, providerCode: 'SignatureDoesNotMatch' })
  })

  it('signs temporary credentials from a provider function, with the session token', async () => {
    const { fixture } = setup()
    let calls = 0
    const adapter = route53Adapter({
      credentials: async () => {
        calls++
        return { ...CREDENTIALS, sessionToken: 'session-token' }
      },
      hostedZoneId: `/hostedzone/${fixture.zones[0]!.id}`,
      fetch: fixture.fetch,
    })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(calls).toBe(2)
    expect(fixture.fetch.requests.every((r) => r.headers['x-amz-security-token'] === 'session-token')).toBe(
      true,
    )
    expect(fixture.fetch.requests[0]!.headers.authorization).toContain(
      'SignedHeaders=host;x-amz-date;x-amz-security-token',
    )
  })

  it('skips private zones unless asked, and follows zone paging while the name repeats', async () => {
    const zones = [
      ...Array.from({ length: 11 }, () => ({ name: 'example.com', private: true })),
      { name: 'example.com' },
    ]
    const { fixture, adapter } = setup(zones)
    await adapter.createTxt('_acme-challenge.example.com', V1)
    const publicZone = fixture.zones.find((z) => !z.privateZone)!
    expect(publicZone.sets.map((s) => s.name)).toEqual(['_acme-challenge.example.com.'])
    expect(fixture.fetch.requests.some((r) => r.url.searchParams.get('hostedzoneid'))).toBe(true)

    const { fixture: only, adapter: onlyPrivate } = setup([{ name: 'example.com', private: true }])
    const err = await onlyPrivate.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_NOT_FOUND')).toBe(true)
    const withPrivate = route53Adapter({ credentials: CREDENTIALS, fetch: only.fetch, privateZones: true })
    await withPrivate.createTxt('_acme-challenge.example.com', V1)
    expect(only.txt('_acme-challenge.example.com.')).toEqual([`"${V1}"`])
    expect(ROUTE53_API).toBe('https://route53.amazonaws.com')
  })
})
