// googleCloudDnsAdapter and the service-account JWT flow against the Google fixture
// (test/fixtures/dns/google.ts), which verifies the RS256 JWT with node:crypto.
import { createPublicKey, createVerify } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { GOOGLE_TOKEN_URI, googleError, googleFixture } from '../../../test/fixtures/dns/google.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { googleCloudDnsAdapter } from './google.ts'
import { serviceAccountTokenSource, signServiceAccountJwt } from './google-jwt.ts'

const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

function setup(extra: { pageSize?: number } = {}) {
  const fixture = googleFixture({
    project: 'acme-project',
    zones: [
      { name: 'example-com-private', dnsName: 'example.com.', visibility: 'private' },
      { name: 'example-com', dnsName: 'example.com.' },
      { name: 'example-org', dnsName: 'example.org.' },
    ],
    ...extra,
  })
  const adapter = googleCloudDnsAdapter({
    serviceAccount: JSON.stringify(fixture.serviceAccount),
    fetch: fixture.fetch,
    changePollInterval: 10,
  })
  return { fixture, adapter }
}

describe('googleCloudDnsAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup({ pageSize: 1 })
    return {
      adapter,
      zone: 'example.com',
      // Decoded by the fixture (RFC 1035, its own reader), not by src/dns/txt.ts: a shared bug cannot pass.
      values: async (name) => fixture.texts(`${name}.`).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('service-account JWT', () => {
  it('is RS256 over the documented claims and verifies with the public key', async () => {
    const { fixture } = setup()
    const now = new Date('2030-01-01T00:00:00Z')
    const jwt = await signServiceAccountJwt(fixture.serviceAccount, { scope: 'scope-a scope-b', now })
    const [h, p, s] = jwt.split('.') as [string, string, string]
    expect(JSON.parse(Buffer.from(h, 'base64url').toString())).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      kid: fixture.serviceAccount.private_key_id,
    })
    expect(JSON.parse(Buffer.from(p, 'base64url').toString())).toEqual({
      iss: fixture.serviceAccount.client_email,
      scope: 'scope-a scope-b',
      aud: GOOGLE_TOKEN_URI,
      iat: 1893456000,
      exp: 1893459600,
    })
    const verifier = createVerify('RSA-SHA256')
    verifier.update(`${h}.${p}`)
    expect(
      verifier.verify(createPublicKey(fixture.serviceAccount.private_key), Buffer.from(s, 'base64url')),
    ).toBe(true)
  })

  it('exchanges it once for concurrent callers and reuses the token; invalid_grant is ERR_DNS_AUTH', async () => {
    const { fixture } = setup()
    const source = serviceAccountTokenSource(fixture.serviceAccount, {
      fetch: fixture.fetch,
      scope: 'https://www.googleapis.com/auth/ndev.clouddns.readwrite',
    })
    const [a, b] = await Promise.all([source.getToken(), source.getToken()])
    expect(a).toBe(b)
    expect(await source.getToken()).toBe(a)
    expect(fixture.tokensIssued).toBe(1)
    const form = new URLSearchParams(fixture.fetch.requests[0]!.body)
    expect(form.get('grant_type')).toBe('urn:ietf:params:oauth:grant-type:jwt-bearer')

    const other = googleFixture({ project: 'p', zones: [] })
    const forged = serviceAccountTokenSource(
      { ...fixture.serviceAccount, private_key: other.serviceAccount.private_key },
      {
        fetch: fixture.fetch,
        scope: 'https://www.googleapis.com/auth/ndev.clouddns.readwrite',
      },
    )
    await expect(forged.getToken()).rejects.toMatchObject({
      code: 'ERR_DNS_AUTH',
      providerCode: 'invalid_grant',
      message: expect.stringContaining('Invalid JWT Signature.'),
    })
  })

  it('rejects a key file without the needed fields before any request', () => {
    expect(() => googleCloudDnsAdapter({ serviceAccount: '{"client_email": "x"}' })).toThrow(/private_key/)
    expect(() => googleCloudDnsAdapter({ serviceAccount: 'not json' })).toThrow(InvalidArgumentError)
  })
})

describe('googleCloudDnsAdapter requests', () => {
  it('discovers the public zone by dnsName, replaces the set atomically (deletions + additions)', async () => {
    const { fixture, adapter } = setup({ pageSize: 1 })
    await adapter.createTxt('_acme-challenge.example.com', V1)
    await adapter.createTxt('_acme-challenge.example.com', V2)
    const dnsCalls = fixture.fetch.requests.filter((r) => r.url.origin === 'https://dns.googleapis.com')
    expect(dnsCalls.map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)).toEqual([
      'GET /dns/v1/projects/acme-project/managedZones?dnsName=_acme-challenge.example.com.',
      'GET /dns/v1/projects/acme-project/managedZones?dnsName=example.com.',
      'GET /dns/v1/projects/acme-project/managedZones?dnsName=example.com.&pageToken=1', // page 1 held the private zone
      'GET /dns/v1/projects/acme-project/managedZones/example-com/rrsets?name=_acme-challenge.example.com.&type=TXT',
      'POST /dns/v1/projects/acme-project/managedZones/example-com/changes',
      'GET /dns/v1/projects/acme-project/managedZones/example-com/rrsets?name=_acme-challenge.example.com.&type=TXT',
      'POST /dns/v1/projects/acme-project/managedZones/example-com/changes',
    ])
    expect(JSON.parse(dnsCalls.at(-1)!.body)).toEqual({
      kind: 'dns#change',
      additions: [
        { name: '_acme-challenge.example.com.', type: 'TXT', ttl: 60, rrdatas: [`"${V1}"`, `"${V2}"`] },
      ],
      deletions: [
        {
          kind: 'dns#resourceRecordSet',
          name: '_acme-challenge.example.com.',
          type: 'TXT',
          ttl: 60,
          rrdatas: [`"${V1}"`],
        },
      ],
    })
    expect(dnsCalls.every((r) => /^Bearer ya29\.fixture-/.test(r.headers.authorization ?? ''))).toBe(true)
    expect(fixture.tokensIssued).toBe(1)
  })

  it('writes TXT rrdatas in RFC 1035 format: quoted, escaped, split into 255-byte strings', async () => {
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
    const post = fixture.fetch.requests.filter(
      (r) => r.method === 'POST' && r.url.pathname.endsWith('/changes'),
    )
    expect(post.map((r) => r.headers['content-type'])).toEqual(['application/json', 'application/json'])
  })

  it('recomputes a change refused with 412 conditionNotMet; waitForChange polls until done', async () => {
    const { fixture, adapter } = setup()
    const zone = fixture.zones[1]!
    zone.rrsets.push({
      kind: 'dns#resourceRecordSet',
      name: '_acme-challenge.example.com.',
      type: 'TXT',
      ttl: 300,
      rrdatas: ['"other"'],
    })
    fixture.fetch.fault({
      match: (r) => r.method === 'POST' && r.url.pathname.endsWith('/changes'),
      respond: () => {
        zone.rrsets[0]!.rrdatas = ['"other"', '"more"']
        return googleError(
          412,
          'FAILED_PRECONDITION',
          'conditionNotMet',
          "Precondition not met for 'entity.change.deletions[0]'",
        )
      },
    })
    fixture.pendingPolls = 2
    await adapter.createTxt('_acme-challenge.example.com', V1)
    expect(fixture.txt('_acme-challenge.example.com.')).toEqual(['"other"', '"more"', `"${V1}"`])
    await adapter.waitForChange!('_acme-challenge.example.com', V1)
    expect(fixture.fetch.requests.filter((r) => /\/changes\/\d+$/.test(r.url.pathname))).toHaveLength(3)
  })

  it('maps 429 RESOURCE_EXHAUSTED to ERR_DNS_RATE_LIMITED and an unknown project to ERR_DNS_AUTH', async () => {
    const { fixture } = setup()
    const adapter = googleCloudDnsAdapter({
      serviceAccount: fixture.serviceAccount,
      fetch: fixture.fetch,
      retry: false,
    })
    fixture.fetch.fault({
      match: (r) => r.url.origin === 'https://dns.googleapis.com',
      respond: () =>
        googleError(429, 'RESOURCE_EXHAUSTED', 'rateLimitExceeded', 'Quota exceeded for quota metric'),
    })
    const limited = await adapter.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)
    expect(limited).toMatchObject({ providerCode: 'rateLimitExceeded', status: 429 })

    const wrongProject = googleCloudDnsAdapter({
      serviceAccount: fixture.serviceAccount,
      project: 'nope',
      fetch: fixture.fetch,
    })
    const denied = await wrongProject.createTxt('_acme-challenge.example.com', V1).catch((e: unknown) => e)
    expect(isDnsProviderError(denied, 'ERR_DNS_AUTH')).toBe(true)
  })

  it('uses a caller-supplied access token and a given managed zone', async () => {
    const { fixture } = setup()
    const token = await serviceAccountTokenSource(fixture.serviceAccount, {
      fetch: fixture.fetch,
      scope: 'https://www.googleapis.com/auth/ndev.clouddns.readwrite',
    }).getToken()
    const adapter = googleCloudDnsAdapter({
      accessToken: async () => token,
      project: 'acme-project',
      managedZone: 'example-org',
      fetch: fixture.fetch,
    })
    await adapter.createTxt('_acme-challenge.example.org', V1)
    expect(fixture.txt('_acme-challenge.example.org.')).toEqual([`"${V1}"`])
    expect(() => googleCloudDnsAdapter({ accessToken: async () => token })).toThrow(/project/)
  })
})
