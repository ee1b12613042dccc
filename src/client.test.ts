/**
 * AcmeClient behaviour that Pebble 2.4 cannot show (newAuthz, profiles, renewalInfo, a spec-conformant 409 on
 * key change, terms-of-service changes), driven by the scripted FIXTURE fetch. Everything Pebble can do is
 * covered against Pebble in test/e2e.
 */
import { describe, expect, it, vi } from 'vitest'
import pkg from '../package.json' with { type: 'json' }
import { turnsUntil } from '../test/fixtures/events.ts'
import { DIRECTORY, json, problem, scriptedFetch } from '../test/fixtures/scripted-fetch.ts'
import { AcmeClient } from './client.ts'
import {
  type AcmeProblemError,
  AcmeStateError,
  InvalidArgumentError,
  isUserActionRequired,
  UnsupportedError,
} from './errors.ts'
import { generateKeyPair } from './jose/algorithms.ts'
import { decodeBase64Url } from './lib/base64url.ts'
import { utf8 } from './lib/bytes.ts'
import { VERSION } from './version.ts'

const ACCOUNT = 'https://ca.test/acct/1'
const ORDER = 'https://ca.test/order/1'
const decode = (part: string) => JSON.parse(utf8.decode(decodeBase64Url(part)) || 'null')
const payloadOf = (body: unknown) => decode((body as { payload: string }).payload)
const headerOf = (body: unknown) => decode((body as { protected: string }).protected)

const orderBody = {
  status: 'pending',
  identifiers: [{ type: 'dns', value: 'a.test' }],
  authorizations: ['https://ca.test/authz/1'],
  finalize: 'https://ca.test/order/1/finalize',
}

async function client(routes: Parameters<typeof scriptedFetch>[0], directory: object = DIRECTORY) {
  const fetch = scriptedFetch({ 'GET https://ca.test/dir': () => json(200, directory), ...routes })
  const c = new AcmeClient({
    directoryUrl: 'https://ca.test/dir',
    accountKey: await generateKeyPair(),
    accountUrl: ACCOUNT,
    fetch,
  })
  return { c, fetch }
}

describe('AcmeClient', () => {
  it('keeps VERSION equal to package.json', () => {
    expect(VERSION).toBe(pkg.version)
  })

  it('pre-authorizes with newAuthz (§7.4.1) and refuses when the directory lacks it', async () => {
    const { c, fetch } = await client(
      {
        'POST https://ca.test/new-authz': () =>
          json(
            201,
            { identifier: { type: 'dns', value: 'a.test' }, status: 'pending', challenges: [] },
            { location: 'https://ca.test/authz/9' },
          ),
      },
      { ...DIRECTORY, newAuthz: 'https://ca.test/new-authz' },
    )
    const authz = await c.createAuthorization('A.test')
    expect(authz.url).toBe('https://ca.test/authz/9')
    expect(payloadOf(fetch.calls.at(-1)!.body)).toEqual({ identifier: { type: 'dns', value: 'a.test' } })
    const { c: plain } = await client({})
    await expect(plain.createAuthorization('a.test')).rejects.toBeInstanceOf(UnsupportedError)
  })

  it('sends only the optional order fields given, profile checked against meta.profiles, replaces only with renewalInfo', async () => {
    const routes = { [`POST ${DIRECTORY.newOrder}`]: () => json(201, orderBody, { location: ORDER }) }
    const withAri = {
      ...DIRECTORY,
      renewalInfo: 'https://ca.test/ari',
      meta: { profiles: { classic: 'c', shortlived: 's' } },
    }
    const { c, fetch } = await client(routes, withAri)
    await c.createOrder({ identifiers: ['a.test'] })
    expect(payloadOf(fetch.calls.at(-1)!.body)).toEqual({ identifiers: [{ type: 'dns', value: 'a.test' }] })
    await c.createOrder({
      identifiers: ['a.test', 'A.TEST'],
      notAfter: new Date('2030-01-01T00:00:00Z'),
      profile: 'shortlived',
      replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
    })
    expect(payloadOf(fetch.calls.at(-1)!.body)).toEqual({
      identifiers: [{ type: 'dns', value: 'a.test' }],
      notAfter: '2030-01-01T00:00:00Z',
      profile: 'shortlived',
      replaces: 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE',
    })
    const sent = fetch.calls.length
    await expect(c.createOrder({ identifiers: ['a.test'], profile: 'nope' })).rejects.toThrow(
      /offers: classic, shortlived/,
    )
    expect(fetch.calls.length).toBe(sent)

    const { c: noAri, fetch: f2 } = await client(routes)
    await noAri.createOrder({ identifiers: ['a.test'], replaces: 'x.y' })
    expect(payloadOf(f2.calls.at(-1)!.body)).not.toHaveProperty('replaces')
    await expect(noAri.createOrder({ identifiers: ['a.test'], profile: 'classic' })).rejects.toBeInstanceOf(
      UnsupportedError,
    )
    await expect(
      noAri.createOrder({ identifiers: ['a.test'], notBefore: 'yesterday' }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('maps a 409 key change to ERR_KEY_IN_USE with the holder from onlyReturnExisting', async () => {
    const { c, fetch } = await client({
      [`POST ${DIRECTORY.keyChange}`]: () =>
        new Response(null, {
          status: 409,
          headers: { location: 'https://ca.test/acct/2', 'replay-nonce': 'n409' },
        }),
      [`POST ${DIRECTORY.newAccount}`]: () =>
        json(200, { status: 'valid' }, { location: 'https://ca.test/acct/2' }),
    })
    const err = await c.changeAccountKey(await generateKeyPair()).catch((e) => e)
    expect(err).toBeInstanceOf(AcmeStateError)
    expect(err.code).toBe('ERR_KEY_IN_USE')
    expect(err.url).toBe('https://ca.test/acct/2')
    // Inner JWS per §7.3.5: jwk = new key, url = keyChange, no nonce; payload {account, oldKey}.
    const outer = fetch.calls.find((call) => call.url === DIRECTORY.keyChange)!
    expect(headerOf(outer.body).kid).toBe(ACCOUNT)
    const inner = payloadOf(outer.body)
    const innerHeader = headerOf(inner)
    expect(innerHeader.url).toBe(DIRECTORY.keyChange)
    expect(innerHeader).toHaveProperty('jwk')
    expect(innerHeader).not.toHaveProperty('nonce')
    expect(payloadOf(inner)).toEqual({ account: ACCOUNT, oldKey: await c.accountJwk() })
  })

  it('builds the EAB inner JWS per §7.3.4 (MAC alg, kid, url, no nonce, payload = account JWK)', async () => {
    const { c, fetch } = await client({
      [`POST ${DIRECTORY.newAccount}`]: () => json(201, { status: 'valid' }, { location: ACCOUNT }),
    })
    await c.createAccount({
      termsOfServiceAgreed: true,
      externalAccountBinding: { kid: 'k1', hmacKey: 'c2VjcmV0LWtleS1ieXRlcw', algorithm: 'HS384' },
    })
    const body = payloadOf(fetch.calls.at(-1)!.body)
    const eab = body.externalAccountBinding
    expect(headerOf(eab)).toEqual({ kid: 'k1', url: DIRECTORY.newAccount, alg: 'HS384' })
    expect(payloadOf(eab)).toEqual(await c.accountJwk())
    await expect(
      c.createAccount({
        termsOfServiceAgreed: true,
        externalAccountBinding: { kid: 'k1', hmacKey: 'not base64url!' },
      }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('surfaces userActionRequired with the terms-of-service link', async () => {
    const { c } = await client({
      [`POST ${DIRECTORY.newOrder}`]: () =>
        problem(403, 'userActionRequired', 'new terms', {
          link: '<https://ca.test/tos/v2>;rel="terms-of-service"',
        }),
    })
    const err = await c.createOrder({ identifiers: ['a.test'] }).catch((e) => e)
    expect(isUserActionRequired(err)).toBe(true)
    expect((err as AcmeProblemError).helpUrl).toBe('https://ca.test/tos/v2')
  })

  it('exposes the algorithms of badSignatureAlgorithm', async () => {
    const { c } = await client({
      [`POST ${DIRECTORY.newOrder}`]: () =>
        json(400, {
          type: 'urn:ietf:params:acme:error:badSignatureAlgorithm',
          detail: 'no',
          algorithms: ['ES256', 'RS256'],
        }),
    })
    const err = (await c.createOrder({ identifiers: ['a.test'] }).catch((e) => e)) as AcmeProblemError
    expect(err.code).toBe('ERR_ACME_BAD_SIGNATURE_ALGORITHM')
    expect(err.algorithms).toEqual(['ES256', 'RS256'])
  })

  it('finalize: orderNotReady re-reads the order and returns it when it already moved on', async () => {
    const { c } = await client({
      'POST https://ca.test/order/1/finalize': () => problem(403, 'orderNotReady', 'not ready'),
      [`POST ${ORDER}`]: () => json(200, { ...orderBody, status: 'processing' }),
    })
    const order = await c.finalizeOrder(
      { ...orderBody, status: 'ready', url: ORDER },
      new Uint8Array([0x30, 0]),
    )
    expect(order.status).toBe('processing')
    const { c: stuck } = await client({
      'POST https://ca.test/order/1/finalize': () => problem(403, 'orderNotReady', 'authorizations pending'),
      [`POST ${ORDER}`]: () => json(200, orderBody),
    })
    await expect(
      stuck.finalizeOrder({ ...orderBody, status: 'ready', url: ORDER }, new Uint8Array([0x30, 0])),
    ).rejects.toMatchObject({
      code: 'ERR_ACME_ORDER_NOT_READY',
    })
  })

  it('names the field when an order from the server is malformed', async () => {
    const { c } = await client({
      [`POST ${ORDER}`]: () => json(200, { ...orderBody, finalize: 'not a url' }),
    })
    await expect(c.getOrder(ORDER)).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      field: 'finalize',
      url: ORDER,
    })
  })

  it('waits no shorter than Retry-After while an order is processing', async () => {
    let polls = 0
    const { c } = await client({
      [`POST ${ORDER}`]: () =>
        ++polls < 2
          ? json(200, { ...orderBody, status: 'processing' }, { 'retry-after': '1' })
          : json(200, { ...orderBody, status: 'valid' }),
    })
    // Time moves only when the test moves it: no second poll one millisecond before Retry-After.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const waiting = c.waitForOrder(ORDER, { interval: 10 })
      await turnsUntil(() => polls === 1 && vi.getTimerCount() === 1, 'first poll answered, a wait armed')
      vi.advanceTimersByTime(999)
      expect(polls).toBe(1)
      vi.advanceTimersByTime(1)
      expect((await waiting).status).toBe('valid')
      expect(polls).toBe(2)
    } finally {
      vi.useRealTimers()
    }
    await expect(
      (
        await client({
          [`POST ${ORDER}`]: () => json(200, { ...orderBody, status: 'processing' }, { 'retry-after': '60' }),
        })
      ).c.waitForOrder(ORDER, { timeout: 1000 }),
    ).rejects.toMatchObject({ code: 'ERR_WAIT_TIMEOUT' })
  })

  it('rejects bad arguments with coded InvalidArgumentErrors', async () => {
    expect(
      () => new AcmeClient({ directoryUrl: 'https://ca.test/dir', accountKey: {} as CryptoKeyPair }),
    ).toThrow(InvalidArgumentError)
    const { c } = await client({})
    await expect(c.createOrder({ identifiers: [] })).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(c.revokeCertificate('no pem here')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(
      c.revokeCertificate(new Uint8Array([0x30]), { reason: 'bogus' as 'superseded' }),
    ).rejects.toThrow(/unknown revocation reason/)
    await expect(c.getOrder('relative/url')).rejects.toThrow(/not a URL/)
  })
  it("needs the Location of what it created (account, order, authorization), on the CA's origin", async () => {
    const { c } = await client(
      {
        'POST https://ca.test/new-order': [
          () => json(201, orderBody),
          () => json(201, orderBody, { location: 'https://elsewhere.test/order/1' }),
        ],
        'POST https://ca.test/new-authz': () =>
          json(201, { identifier: { type: 'dns', value: 'a.test' }, status: 'pending', challenges: [] }),
        'POST https://ca.test/new-acct': () => json(200, { status: 'valid' }),
      },
      { ...DIRECTORY, newAuthz: 'https://ca.test/new-authz' },
    )
    const missing = (what: string, from: string) => ({
      code: 'ERR_INVALID_RESPONSE',
      field: 'Location',
      url: from,
      message: `no Location header (${what} URL) from ${from}`,
    })
    await expect(c.createOrder({ identifiers: ['a.test'] })).rejects.toMatchObject(
      missing('order', 'https://ca.test/new-order'),
    )
    await expect(c.createOrder({ identifiers: ['a.test'] })).rejects.toMatchObject({
      code: 'ERR_UNTRUSTED_URL',
    })
    await expect(c.createAuthorization('a.test')).rejects.toMatchObject(
      missing('authorization', 'https://ca.test/new-authz'),
    )
    await expect(c.findAccount()).rejects.toMatchObject(missing('account', 'https://ca.test/new-acct'))
  })
})
