// hetznerAdapter against the Hetzner Cloud API fixture (test/fixtures/dns/hetzner.ts).
import { describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { hetznerError, hetznerFixture } from '../../../test/fixtures/dns/hetzner.ts'
import { InvalidArgumentError } from '../../errors.ts'
import { type DnsProviderError, isDnsProviderError, isDnsRateLimited } from '../errors.ts'
import { hetznerAdapter } from './hetzner.ts'

const TOKEN = 'hcloud-token-fixture'
const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)
const NAME = '_acme-challenge.example.com'

function setup(options: { actionPolls?: number } = {}) {
  const fixture = hetznerFixture({
    token: TOKEN,
    readOnlyToken: 'read-only',
    zones: ['example.com', { name: 'secondary.org', mode: 'secondary' }],
    ...options,
  })
  const adapter = hetznerAdapter({ apiToken: TOKEN, fetch: fixture.fetch, actionPollInterval: 0 })
  return { fixture, adapter }
}
const calls = (fixture: ReturnType<typeof setup>['fixture'], from = 0) =>
  fixture.fetch.requests.slice(from).map((r) => `${r.method} ${r.url.pathname}${r.url.search}`)

describe('hetznerAdapter: DnsAdapter contract', () => {
  adapterContract(async () => {
    const { fixture, adapter } = setup({ actionPolls: 2 })
    return {
      adapter,
      zone: 'example.com',
      values: async (name) => fixture.texts(name).sort(),
      requestCount: () => fixture.fetch.requests.length,
    }
  })
})

describe('hetznerAdapter requests', () => {
  it('finds the zone with GET /zones?name= per label, adds a quoted value and waits for the action', async () => {
    const { fixture, adapter } = setup({ actionPolls: 3 })
    await adapter.createTxt('_acme-challenge.www.example.com', V1)
    expect(calls(fixture)).toEqual([
      'GET /v1/zones?name=_acme-challenge.www.example.com',
      'GET /v1/zones?name=www.example.com',
      'GET /v1/zones?name=example.com',
      'GET /v1/zones/example.com/rrsets/_acme-challenge.www/TXT',
      'POST /v1/zones/example.com/rrsets/_acme-challenge.www/TXT/actions/add_records',
      'GET /v1/zones/actions/1',
      'GET /v1/zones/actions/1',
      'GET /v1/zones/actions/1',
    ])
    for (const r of fixture.fetch.requests) expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`)
    expect(JSON.parse(fixture.fetch.requests[4]!.body)).toEqual({
      ttl: 60,
      records: [{ value: `"${V1}"`, comment: 'webacme dns-01' }],
    })
    expect(fixture.actions[0]!.status).toBe('success')
    expect(fixture.texts('_acme-challenge.www.example.com')).toEqual([V1])
  })

  it('takes a zone filter refused as invalid input as "not a zone here" and walks on', async () => {
    const { fixture, adapter } = setup()
    fixture.fetch.fault({
      match: (r) => r.url.searchParams.get('name')?.startsWith('_') ?? false,
      respond: () => hetznerError(422, 'invalid_input', "invalid input in field 'name'"),
    })
    await adapter.createTxt(NAME, V1)
    expect(fixture.texts(NAME)).toEqual([V1])
  })

  it('adds a second value at one name without a TTL, writes the apex as "@", removes one value only', async () => {
    const { fixture, adapter } = setup()
    await adapter.createTxt('example.com', V1)
    const before = fixture.fetch.requests.length
    await adapter.createTxt('example.com', V2)
    expect(calls(fixture, before)).toEqual([
      'GET /v1/zones/example.com/rrsets/@/TXT',
      'POST /v1/zones/example.com/rrsets/@/TXT/actions/add_records',
      'GET /v1/zones/actions/2',
    ])
    expect(JSON.parse(fixture.fetch.requests.at(-2)!.body)).not.toHaveProperty('ttl')
    expect(fixture.texts('example.com').sort()).toEqual([V1, V2])
    await adapter.removeTxt('example.com', V1)
    expect(JSON.parse(fixture.fetch.requests.at(-2)!.body)).toEqual({ records: [{ value: `"${V1}"` }] })
    expect(fixture.texts('example.com')).toEqual([V2])
    const after = fixture.fetch.requests.length
    await adapter.removeTxt('example.com', V1) // idempotent: read, nothing to remove
    expect(calls(fixture, after)).toEqual(['GET /v1/zones/example.com/rrsets/@/TXT'])
  })

  it('uses a zone given by name without discovery, and one given by id after one lookup', async () => {
    const { fixture } = setup()
    const byName = hetznerAdapter({
      apiToken: TOKEN,
      zone: 'example.com',
      fetch: fixture.fetch,
      actionPollInterval: 0,
    })
    await byName.createTxt(NAME, V1)
    expect(calls(fixture)[0]).toBe('GET /v1/zones/example.com/rrsets/_acme-challenge/TXT')
    const before = fixture.fetch.requests.length
    const byId = hetznerAdapter({
      apiToken: TOKEN,
      zone: '4711',
      fetch: fixture.fetch,
      actionPollInterval: 0,
    })
    await byId.createTxt(NAME, V2)
    await byId.removeTxt(NAME, V1)
    expect(calls(fixture, before).filter((c) => c === 'GET /v1/zones/4711')).toHaveLength(1)
    expect(fixture.texts(NAME)).toEqual([V2])
  })

  it('maps 401 and a read-only token (403) to ERR_DNS_AUTH', async () => {
    const { fixture } = setup()
    const bad = hetznerAdapter({ apiToken: 'nope', fetch: fixture.fetch })
    const auth = await bad.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(auth).toMatchObject({ code: 'ERR_DNS_AUTH', status: 401, providerCode: 'unauthorized' })
    const readOnly = hetznerAdapter({ apiToken: 'read-only', fetch: fixture.fetch })
    const denied = await readOnly.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(denied).toMatchObject({ code: 'ERR_DNS_AUTH', status: 403, providerCode: 'forbidden' })
    expect(fixture.texts(NAME)).toEqual([])
  })

  it('surfaces a refused write in a secondary zone, and an action that ended in error', async () => {
    const { fixture, adapter } = setup()
    const err = await adapter.createTxt('_acme-challenge.secondary.org', V1).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', status: 422, providerCode: 'incorrect_zone_mode' })

    fixture.fetch.fault({
      match: (r) => r.url.pathname.startsWith('/v1/zones/actions/'),
      respond: () =>
        new Response(
          JSON.stringify({
            action: {
              id: 1,
              command: 'add_rrset_records',
              status: 'error',
              progress: 100,
              resources: [],
              error: { code: 'action_failed', message: 'boom' },
            },
          }),
          { status: 200, headers: { 'content-type': 'application/json' } },
        ),
    })
    const failed = await adapter.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(failed).toMatchObject({ code: 'ERR_DNS_PROVIDER', providerCode: 'action_failed' })
    expect((failed as Error).message).toContain('boom')
  })

  it('gives up on an action that never finishes, after actionPolls polls', async () => {
    const { fixture } = setup({ actionPolls: 1000 })
    const adapter = hetznerAdapter({
      apiToken: TOKEN,
      fetch: fixture.fetch,
      actionPollInterval: 0,
      actionPolls: 3,
    })
    const err = await adapter.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_PROVIDER')).toBe(true)
    expect(fixture.fetch.requests.filter((r) => r.url.pathname === '/v1/zones/actions/1')).toHaveLength(3)
  })

  it('releases the caller at once when it aborts while its action runs, and polls no more', async () => {
    const { fixture } = setup({ actionPolls: 1000 })
    const adapter = hetznerAdapter({ apiToken: TOKEN, fetch: fixture.fetch, actionPollInterval: 60_000 })
    const controller = new AbortController()
    const reason = new Error('stop')
    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => {
        // Aborted as the action is created: the caller is released at once (not after the 60 s poll interval).
        queueMicrotask(() => controller.abort(reason))
        return new Response(
          JSON.stringify({
            action: {
              id: 1,
              command: 'add_rrset_records',
              status: 'running',
              progress: 0,
              resources: [],
              error: null,
            },
          }),
          { status: 201, headers: { 'content-type': 'application/json' } },
        )
      },
    })
    await expect(adapter.createTxt(NAME, V1, { signal: controller.signal })).rejects.toBe(reason)
    expect(
      fixture.fetch.requests.filter((r) => r.url.pathname.startsWith('/v1/zones/actions/')),
    ).toHaveLength(0)
  })

  it('maps rate_limit_exceeded to ERR_DNS_RATE_LIMITED with RateLimit-Reset as retryAfter', async () => {
    const { fixture, adapter } = setup()
    const reset = Math.floor(Date.now() / 1000) + 600
    fixture.fetch.fault({
      match: () => true,
      respond: () =>
        hetznerError(429, 'rate_limit_exceeded', 'limit of 3600 requests per hour reached', {
          'ratelimit-limit': '3600',
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(reset),
        }),
    })
    const limited = await adapter.createTxt(NAME, V1).catch((e: unknown) => e)
    expect(isDnsRateLimited(limited)).toBe(true)
    expect((limited as DnsProviderError).retryAfter?.getTime()).toBe(reset * 1000)
  })

  it('retries a 503 on a read, not on a write', async () => {
    const { fixture } = setup()
    const adapter = hetznerAdapter({
      apiToken: TOKEN,
      fetch: fixture.fetch,
      actionPollInterval: 0,
      retry: { retries: 1, maxWait: 2_000 },
    })
    fixture.fetch.fault({
      match: (r) => r.method === 'GET',
      respond: () => hetznerError(503, 'maintenance', 'try again'),
    })
    await adapter.createTxt(NAME, V1)
    expect(fixture.texts(NAME)).toEqual([V1])
    fixture.fetch.fault({
      match: (r) => r.method === 'POST',
      respond: () => hetznerError(503, 'maintenance', 'try again'),
    })
    const err = await adapter.createTxt(NAME, V2).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_PROVIDER', status: 503, providerCode: 'maintenance' })
    expect(fixture.fetch.requests.filter((r) => r.method === 'POST')).toHaveLength(2)
  })

  it('refuses a missing token', () => {
    expect(() => hetznerAdapter({ apiToken: '' })).toThrow(InvalidArgumentError)
  })
})
