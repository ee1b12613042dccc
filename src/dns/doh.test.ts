// dohResolver against the DoH fixture (test/fixtures/dns/doh.ts): RFC 8484 wire format (GET and POST) and
// the JSON API in Cloudflare's and Google's styles. The wire path is also tested for real through dnsdist in
// test/e2e-node/powerdns.test.ts.
import { describe, expect, it } from 'vitest'
import { DOH_ORIGIN, dohFixture } from '../../test/fixtures/dns/doh.ts'
import { InvalidArgumentError } from '../errors.ts'
import { DEFAULT_DOH_RESOLVERS, dohResolver } from './doh.ts'
import { type DnsProviderError, isDnsProviderError } from './errors.ts'

const WIRE = `${DOH_ORIGIN}/dns-query`

describe('dohResolver (wire format)', () => {
  it('sends GET ?dns= with ID 0 and RD, and reads TXT records (strings joined per record)', async () => {
    const doh = dohFixture()
    doh.setTxt('_acme-challenge.example.com', [['abc'], ['de', 'f']])
    const resolver = dohResolver({ url: WIRE, fetch: doh.fetch })
    expect((await resolver.resolveTxt('_acme-challenge.example.com.')).sort()).toEqual(['abc', 'def'])
    const [request] = doh.fetch.requests
    expect(request!.headers.accept).toBe('application/dns-message')
    const query = Buffer.from(request!.url.searchParams.get('dns')!, 'base64url')
    expect(query.readUInt16BE(0)).toBe(0) // RFC 8484 §4.1
    expect(query.readUInt16BE(2)).toBe(0x0100) // RD
    expect(request!.url.searchParams.get('dns')).not.toContain('=')
    expect(doh.queries).toEqual([
      { name: '_acme-challenge.example.com', type: 'TXT', format: 'wire', method: 'GET' },
    ])
  })

  it('follows CNAMEs: resolveCname gives the target, resolveTxt reads TXT along the chain (compressed names)', async () => {
    const doh = dohFixture()
    doh.setCname('_acme-challenge.www.example.com', 'x.auth.example.net')
    doh.setCname('x.auth.example.net', 'y.auth.example.net')
    doh.setTxt('y.auth.example.net', [['value']])
    const resolver = dohResolver({ url: WIRE, fetch: doh.fetch, method: 'POST' })
    expect(await resolver.resolveCname('_acme-challenge.www.example.com')).toBe('x.auth.example.net')
    expect(await resolver.resolveTxt('_acme-challenge.www.example.com')).toEqual(['value'])
    expect(await resolver.resolveCname('_acme-challenge.example.com')).toBeUndefined() // NXDOMAIN
    expect(await resolver.resolveTxt('nothing.example.com')).toEqual([])
    expect(doh.queries.every((q) => q.method === 'POST')).toBe(true)
  })

  it('fails over to the next URL, and reports SERVFAIL from every one as ERR_DNS_QUERY', async () => {
    const doh = dohFixture()
    doh.setTxt('a.example.com', [['v']])
    const resolver = dohResolver({ urls: ['https://down.test/dns-query', WIRE], fetch: doh.fetch })
    expect(await resolver.resolveTxt('a.example.com')).toEqual(['v'])

    doh.rcodes.set('broken.example.com', 2)
    const err = await resolver.resolveTxt('broken.example.com').catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_QUERY')).toBe(true)
    expect((err as DnsProviderError).providerCode).toBe('SERVFAIL')
  })

  it('with mode "all" reports only the values every resolver sees', async () => {
    const one = dohFixture()
    const two = dohFixture()
    one.setTxt('n.example.com', [['old'], ['new']])
    two.setTxt('n.example.com', [['old']])
    const fetch = (async (input: RequestInfo | URL, init?: RequestInit) =>
      String(input).includes('two.test')
        ? two.fetch(String(input).replace('https://two.test', DOH_ORIGIN), init)
        : one.fetch(input, init)) as typeof globalThis.fetch
    const resolver = dohResolver({ urls: [WIRE, 'https://two.test/dns-query'], mode: 'all', fetch })
    expect(await resolver.resolveTxt('n.example.com')).toEqual(['old'])
    two.setTxt('n.example.com', [['old'], ['new']])
    expect((await resolver.resolveTxt('n.example.com')).sort()).toEqual(['new', 'old'])
  })

  it('maps HTTP errors (429 with Retry-After), a wrong content type and aborts', async () => {
    const doh = dohFixture()
    const resolver = dohResolver({ url: WIRE, fetch: doh.fetch })
    doh.fetch.fault({
      match: () => true,
      respond: () => new Response('slow down', { status: 429, headers: { 'retry-after': '30' } }),
    })
    const limited = await resolver.resolveTxt('x.example.com').catch((e: unknown) => e)
    expect(limited).toMatchObject({ code: 'ERR_DNS_RATE_LIMITED', provider: 'doh', status: 429 })
    expect((limited as DnsProviderError).retryAfter).toBeInstanceOf(Date)

    doh.fetch.fault({
      match: () => true,
      respond: () => new Response('<html>', { status: 200, headers: { 'content-type': 'text/html' } }),
    })
    await expect(resolver.resolveTxt('x.example.com')).rejects.toMatchObject({ code: 'ERR_DNS_QUERY' })

    const reason = new Error('stop')
    await expect(resolver.resolveTxt('x.example.com', { signal: AbortSignal.abort(reason) })).rejects.toBe(
      reason,
    )
  })

  it('times out a silent endpoint', async () => {
    const doh = dohFixture()
    doh.fetch.silent = true // never answers: only the resolver's own timeout can end the query
    const resolver = dohResolver({ url: WIRE, fetch: doh.fetch, timeout: 50 })
    await expect(resolver.resolveTxt('x.example.com')).rejects.toMatchObject({
      code: 'ERR_DNS_QUERY',
      message: expect.stringContaining('timed out after 50 ms'),
    })
  })

  it('has public defaults and refuses bad URLs up front', () => {
    expect(DEFAULT_DOH_RESOLVERS).toContain('https://cloudflare-dns.com/dns-query')
    expect(() => dohResolver({ url: 'not a url' })).toThrow(InvalidArgumentError)
    expect(() => dohResolver({ urls: [] })).toThrow(InvalidArgumentError)
  })
})

describe('dohResolver (JSON API)', () => {
  it('reads Cloudflare-style answers (TXT data in presentation format) with Accept: application/dns-json', async () => {
    const doh = dohFixture({ jsonStyle: 'cloudflare' })
    doh.setCname('_acme-challenge.example.com', 'target.example.net')
    doh.setTxt('target.example.net', [['with "quote"'], ['a', 'b']])
    const resolver = dohResolver({ url: WIRE, format: 'json', fetch: doh.fetch })
    expect(await resolver.resolveCname('_acme-challenge.example.com')).toBe('target.example.net')
    expect((await resolver.resolveTxt('_acme-challenge.example.com')).sort()).toEqual(['ab', 'with "quote"'])
    const request = doh.fetch.requests[0]!
    expect(request.headers.accept).toBe('application/dns-json')
    expect(Object.fromEntries(request.url.searchParams)).toEqual({
      name: '_acme-challenge.example.com',
      type: '5',
    })
  })

  it('reads Google-style answers (bare TXT data) from /resolve, and NXDOMAIN as empty', async () => {
    const doh = dohFixture({ jsonStyle: 'google' })
    doh.setTxt('_acme-challenge.example.com', [['plain']])
    const resolver = dohResolver({ url: `${DOH_ORIGIN}/resolve`, format: 'json', fetch: doh.fetch })
    expect(await resolver.resolveTxt('_acme-challenge.example.com')).toEqual(['plain'])
    expect(await resolver.resolveTxt('missing.example.com')).toEqual([])
    doh.rcodes.set('refused.example.com', 5)
    await expect(resolver.resolveTxt('refused.example.com')).rejects.toMatchObject({
      providerCode: 'REFUSED',
    })
  })
})
