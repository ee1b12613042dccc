/**
 * Signed requests go only to the CA (issue #8): every refusal the client makes when a server (or whoever changed
 * its responses) names a URL elsewhere, redirects, or sends too much. Driven by the scripted FIXTURE fetch, which
 * records every request: a refusal must send nothing to the refused URL.
 */
import { describe, expect, it } from 'vitest'
import { DIRECTORY, json, nonce, scriptedFetch } from '../../test/fixtures/scripted-fetch.ts'
import { AcmeClient } from '../client.ts'
import { AcmeResponseError } from '../errors.ts'
import { generateKeyPair } from '../jose/algorithms.ts'

const ACCOUNT = 'https://ca.test/acct/1'
const EVIL = 'https://evil.test'

async function clientWith(
  routes: Parameters<typeof scriptedFetch>[0],
  options: { directory?: object; accountUrl?: string; allowedOrigins?: string[] } = {},
) {
  const fetch = scriptedFetch({
    'GET https://ca.test/dir': () => json(200, options.directory ?? DIRECTORY),
    ...routes,
  })
  const c = new AcmeClient({
    directoryUrl: 'https://ca.test/dir',
    accountKey: await generateKeyPair(),
    fetch,
    ...(options.accountUrl !== null && { accountUrl: options.accountUrl ?? ACCOUNT }),
    ...(options.allowedOrigins && { allowedOrigins: options.allowedOrigins }),
  })
  return { c, fetch, sentTo: (prefix: string) => fetch.calls.filter((call) => call.url.startsWith(prefix)) }
}

async function refusal(promise: Promise<unknown>): Promise<AcmeResponseError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AcmeResponseError)
  return err as AcmeResponseError
}

const order = (authz: string, extra: object = {}) => ({
  status: 'pending',
  identifiers: [{ type: 'dns', value: 'a.test' }],
  authorizations: [authz],
  finalize: 'https://ca.test/order/1/finalize',
  ...extra,
})

describe('URL policy: the client requests only https: URLs on the CA’s origins', () => {
  it('refuses a directory that names an endpoint on another origin, and sends nothing there', async () => {
    const { c, sentTo } = await clientWith({}, { directory: { ...DIRECTORY, newOrder: `${EVIL}/new-order` } })
    const err = await refusal(c.createOrder({ identifiers: ['a.test'] }))
    expect(err.code).toBe('ERR_UNTRUSTED_URL')
    expect(err.url).toBe(`${EVIL}/new-order`)
    expect(err.message).toContain('directory.newOrder')
    expect(sentTo(EVIL)).toEqual([])
  })

  it('refuses an http: URL, even on the CA’s host', async () => {
    const { c, sentTo } = await clientWith(
      {},
      { directory: { ...DIRECTORY, newNonce: 'http://ca.test/nonce' } },
    )
    const err = await refusal(c.getAccount())
    expect(err.code).toBe('ERR_UNTRUSTED_URL')
    expect(err.url).toBe('http://ca.test/nonce')
    expect(err.message).toMatch(/HTTPS only \(RFC 8555 §6\.1\)/)
    expect(sentTo('http:')).toEqual([])
  })

  it('refuses an order whose authorization, finalize or certificate URL is elsewhere', async () => {
    const { c, sentTo } = await clientWith({
      'POST https://ca.test/new-order': () =>
        json(201, order(`${EVIL}/authz/1`, { finalize: `${EVIL}/finalize`, certificate: `${EVIL}/cert` }), {
          location: 'https://ca.test/order/1',
        }),
    })
    const o = await c.createOrder({ identifiers: ['a.test'] })
    for (const attempt of [
      c.getAuthorization(o.authorizations[0]!),
      c.finalizeOrder(o, new Uint8Array([0x30, 0x00])),
      c.getCertificate(`${EVIL}/cert`),
      c.respondToChallenge(`${EVIL}/chall/1`),
    ]) {
      expect((await refusal(attempt)).code).toBe('ERR_UNTRUSTED_URL')
    }
    expect(sentTo(EVIL)).toEqual([])
  })

  it('refuses a foreign Location on newOrder and on newAccount (it would become the kid of every request)', async () => {
    const { c } = await clientWith({
      'POST https://ca.test/new-order': () =>
        json(201, order('https://ca.test/authz/1'), { location: `${EVIL}/order/1` }),
    })
    const err = await refusal(c.createOrder({ identifiers: ['a.test'] }))
    expect(err).toMatchObject({ code: 'ERR_UNTRUSTED_URL', url: `${EVIL}/order/1` })

    const fresh = await clientWith(
      {
        'POST https://ca.test/new-acct': () => json(201, { status: 'valid' }, { location: `${EVIL}/acct/1` }),
      },
      { accountUrl: null as unknown as string },
    )
    const accountErr = await refusal(fresh.c.createAccount({ termsOfServiceAgreed: true }))
    expect(accountErr).toMatchObject({ code: 'ERR_UNTRUSTED_URL', url: `${EVIL}/acct/1` })
    expect(fresh.c.accountUrl).toBeUndefined()
  })

  it('follows allowedOrigins for a CA that spreads over several hosts', async () => {
    const CERTS = 'https://certs.ca.test'
    const { c, sentTo } = await clientWith(
      {
        [`POST ${CERTS}/cert/1`]: () =>
          new Response('-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n', {
            headers: { 'content-type': 'application/pem-certificate-chain', 'replay-nonce': nonce() },
          }),
      },
      { allowedOrigins: [CERTS] },
    )
    await c.getCertificate(`${CERTS}/cert/1`)
    expect(sentTo(CERTS)).toHaveLength(1)
    expect(
      () =>
        new AcmeClient({
          directoryUrl: 'https://ca.test/dir',
          accountKey: c.accountKey,
          allowedOrigins: ['http://x.test'],
        }),
    ).toThrow(/https/)
  })
})

describe('redirects', () => {
  it('never follows a redirect of a signed request, and never re-sends the JWS', async () => {
    const { c, fetch, sentTo } = await clientWith({
      'POST https://ca.test/new-order': () =>
        new Response(null, {
          status: 307,
          headers: { location: 'http://ca.test/new-order', 'replay-nonce': nonce() },
        }),
    })
    const err = await refusal(c.createOrder({ identifiers: ['a.test'] }))
    expect(err).toMatchObject({ code: 'ERR_REDIRECT', url: 'https://ca.test/new-order', status: 307 })
    expect(fetch.calls.filter((call) => call.method === 'POST')).toHaveLength(1)
    expect(sentTo('http:')).toEqual([])
    // Every request was made with redirect: 'manual', so the runtime itself follows nothing either.
    expect(fetch.calls.every((call) => call.redirect === 'manual')).toBe(true)
  })

  it('never follows a redirect from https to http, and follows one within the CA', async () => {
    const plain = await clientWith({
      'GET https://ca.test/dir': () =>
        new Response(null, { status: 302, headers: { location: 'http://ca.test/dir' } }),
    })
    const err = await refusal(plain.c.directory())
    expect(err).toMatchObject({ code: 'ERR_REDIRECT', url: 'http://ca.test/dir' })
    expect(plain.sentTo('http:')).toEqual([])

    const moved = await clientWith({
      'GET https://ca.test/dir': () => new Response(null, { status: 301, headers: { location: '/v2/dir' } }),
      'GET https://ca.test/v2/dir': () => json(200, DIRECTORY),
    })
    expect((await moved.c.directory()).newOrder).toBe(DIRECTORY.newOrder)

    const away = await clientWith({
      'GET https://ca.test/dir': () =>
        new Response(null, { status: 302, headers: { location: `${EVIL}/dir` } }),
    })
    expect((await refusal(away.c.directory())).code).toBe('ERR_UNTRUSTED_URL')
    expect(away.sentTo(EVIL)).toEqual([])
  })
})

describe('response size', () => {
  it('refuses a declared Content-Length over the limit without reading the body', async () => {
    let pulled = 0
    const { c } = await clientWith({
      'POST https://ca.test/order/1': () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              pulled++
              controller.enqueue(new Uint8Array(64 * 1024))
            },
          }),
          { headers: { 'content-length': String(50 * 1024 * 1024), 'content-type': 'application/json' } },
        ),
    })
    const err = await refusal(c.getOrder('https://ca.test/order/1'))
    expect(err).toMatchObject({ code: 'ERR_RESPONSE_TOO_LARGE', url: 'https://ca.test/order/1' })
    expect(err.message).toContain('52428800')
    expect(pulled).toBeLessThanOrEqual(1) // the stream may prefetch one chunk; nothing is read
  })

  it('stops reading a body without a length as soon as it passes the limit (configurable)', async () => {
    let sent = 0
    const fetch = scriptedFetch({
      'GET https://ca.test/dir': () => json(200, DIRECTORY),
      'POST https://ca.test/order/1': () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              sent += 16 * 1024
              controller.enqueue(new Uint8Array(16 * 1024).fill(0x20))
            },
          }),
          { headers: { 'content-type': 'application/json', 'replay-nonce': nonce() } },
        ),
    })
    const c = new AcmeClient({
      directoryUrl: 'https://ca.test/dir',
      accountKey: await generateKeyPair(),
      accountUrl: ACCOUNT,
      fetch,
      maxResponseBytes: 100_000,
    })
    const err = await refusal(c.getOrder('https://ca.test/order/1'))
    expect(err.code).toBe('ERR_RESPONSE_TOO_LARGE')
    expect(sent).toBeLessThan(100_000 + 3 * 16 * 1024)
  })
})
