import { describe, expect, it, vi } from 'vitest'
import { occurrence, turns, turnsUntil } from '../../test/fixtures/events.ts'
import { DIRECTORY, json, problem, scriptedFetch } from '../../test/fixtures/scripted-fetch.ts'
import { AcmeNetworkError, AcmeProblemError, AcmeResponseError, InvalidArgumentError } from '../errors.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { decodeBase64Url } from '../lib/base64url.ts'
import { utf8 } from '../lib/bytes.ts'
import { Transport } from './transport.ts'

const ORDER = 'https://ca.test/order/1'
const headerOf = (body: unknown) =>
  JSON.parse(utf8.decode(decodeBase64Url((body as { protected: string }).protected)))

async function signer() {
  const pair = await generateKeyPair('ES256')
  return { privateKey: pair.privateKey, kid: 'https://ca.test/acct/1' }
}

describe('Transport', () => {
  it('refuses a non-HTTPS directory unless allowed', () => {
    expect(() => new Transport('http://ca.test/dir')).toThrow(InvalidArgumentError)
    expect(() => new Transport('not a url')).toThrow(/not a URL/)
    expect(new Transport('http://127.0.0.1/dir', { allowInsecure: true }).directoryUrl).toBe(
      'http://127.0.0.1/dir',
    )
  })

  it('fetches the directory once and asks newNonce (GET: HEAD costs Node a connection) only when the pool is empty', async () => {
    const fetch = scriptedFetch({
      // Like Let's Encrypt: no Replay-Nonce on the directory, so the first POST needs a newNonce.
      'GET https://ca.test/dir': () => Response.json(DIRECTORY),
      [`POST ${ORDER}`]: () => json(200, { ok: true }),
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    const s = await signer()
    await t.post(ORDER, '', s)
    await t.post(ORDER, '', s)
    await t.post(ORDER, '', s)
    expect(fetch.calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'GET https://ca.test/dir',
      `GET ${DIRECTORY.newNonce}`,
      `POST ${ORDER}`,
      `POST ${ORDER}`,
      `POST ${ORDER}`,
    ])
    // Each POST used the nonce of the previous response.
    const nonces = fetch.calls.filter((c) => c.method === 'POST').map((c) => headerOf(c.body).nonce)
    expect(new Set(nonces).size).toBe(3)
  })

  it('sends the ACME headers: jose+json, User-Agent, Accept when asked', async () => {
    const fetch = scriptedFetch({ [`POST ${ORDER}`]: () => json(200, {}) })
    const t = new Transport('https://ca.test/dir', { fetch, userAgent: 'test-agent/1' })
    await t.post(ORDER, '', await signer(), { accept: 'application/pem-certificate-chain' })
    const post = fetch.calls.find((c) => c.method === 'POST')!
    expect(post.headers['content-type']).toBe('application/jose+json')
    expect(post.headers['user-agent']).toBe('test-agent/1')
    expect(post.headers.accept).toBe('application/pem-certificate-chain')
    expect(headerOf(post.body)).toMatchObject({ alg: 'ES256', url: ORDER, kid: 'https://ca.test/acct/1' })
  })

  it('retries badNonce with the nonce carried by the error response', async () => {
    const fetch = scriptedFetch({
      [`POST ${ORDER}`]: [
        () => problem(400, 'badNonce', 'stale', { 'replay-nonce': 'fromError' }),
        () => json(200, { ok: 1 }),
      ],
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    const res = await t.post(ORDER, '', await signer())
    expect(res.body).toEqual({ ok: 1 })
    const posts = fetch.calls.filter((c) => c.method === 'POST')
    expect(headerOf(posts[1]!.body).nonce).toBe('fromError')
    // The directory response carried a nonce (Pebble sends one on every response): no HEAD at all.
    expect(fetch.calls.filter((c) => c.url === DIRECTORY.newNonce)).toHaveLength(0)
  })

  it('gives up on badNonce after the bound', async () => {
    const fetch = scriptedFetch({ [`POST ${ORDER}`]: () => problem(400, 'badNonce', 'stale') })
    const t = new Transport('https://ca.test/dir', { fetch, retry: { badNonceRetries: 3 } })
    await expect(t.post(ORDER, '', await signer())).rejects.toMatchObject({ code: 'ERR_ACME_BAD_NONCE' })
    expect(fetch.calls.filter((c) => c.method === 'POST')).toHaveLength(4)
  })

  it('waits at least Retry-After on 429 and re-signs with a fresh nonce', async () => {
    const fetch = scriptedFetch({
      [`POST ${ORDER}`]: [
        () => problem(429, 'rateLimited', 'slow down', { 'retry-after': '1' }),
        () => json(200, {}),
      ],
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    const s = await signer()
    const posts = () => fetch.calls.filter((c) => c.method === 'POST')
    // Time moves only when the test moves it: the retry must not come one millisecond before Retry-After.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const posting = t.post(ORDER, '', s)
      await turnsUntil(
        () => posts().length === 1 && vi.getTimerCount() === 1,
        'the 429 is answered, a wait armed',
      )
      vi.advanceTimersByTime(999)
      expect(posts()).toHaveLength(1)
      vi.advanceTimersByTime(1)
      await posting
    } finally {
      vi.useRealTimers()
    }
    const [a, b] = posts()
    expect(headerOf(a!.body).nonce).not.toBe(headerOf(b!.body).nonce)
  })

  it("holds every caller's request to a URL until the Retry-After the server gave for it", async () => {
    const fetch = scriptedFetch({
      [`POST ${ORDER}`]: [
        () => problem(503, 'serverInternal', 'busy', { 'retry-after': '1' }),
        () => json(200, { n: 1 }),
      ],
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    const s = await signer()
    const posts = () => fetch.calls.filter((c) => c.method === 'POST')
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const first = t.post(ORDER, '', s)
      await turnsUntil(() => posts().length === 1 && vi.getTimerCount() === 1, 'the 503 is answered')
      // Another caller, after the 503: its first attempt waits too.
      const second = t.post(ORDER, '', s)
      await turns()
      vi.advanceTimersByTime(999)
      await turns()
      expect(posts()).toHaveLength(1)
      vi.advanceTimersByTime(1)
      await Promise.all([first, second])
      expect(posts()).toHaveLength(3)
    } finally {
      vi.useRealTimers()
    }
  })

  it('spends at most maxWait on retries, counted from the first failure, waits and attempts together', async () => {
    const fetch = scriptedFetch({ [`POST ${ORDER}`]: () => new Response('busy', { status: 503 }) })
    const t = new Transport('https://ca.test/dir', { fetch, retry: { retries: 10, maxWait: 2000 } })
    const s = await signer()
    const posts = () => fetch.calls.filter((c) => c.method === 'POST')
    vi.spyOn(Math, 'random').mockReturnValue(1) // backoffs of exactly 500, 1000, 2000 ms
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const posting = t.post(ORDER, '', s).catch((e: unknown) => e)
      await turnsUntil(() => posts().length === 1 && vi.getTimerCount() === 1, 'first 503')
      vi.advanceTimersByTime(500)
      await turnsUntil(() => posts().length === 2 && vi.getTimerCount() === 1, 'second 503')
      vi.advanceTimersByTime(1000)
      // 1500 ms spent; the next backoff (2000 ms) would end past the 2000 ms budget: give up now.
      expect(await posting).toMatchObject({ code: 'ERR_INVALID_RESPONSE', status: 503 })
      expect(posts()).toHaveLength(3)
    } finally {
      vi.useRealTimers()
      vi.restoreAllMocks()
    }
  })

  it('gives up on a 500 after three in a row, not after the whole budget', async () => {
    const fetch = scriptedFetch({ [`POST ${ORDER}`]: () => new Response('oops', { status: 500 }) })
    const t = new Transport('https://ca.test/dir', { fetch, retry: { retries: 10 } })
    vi.spyOn(Math, 'random').mockReturnValue(0)
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const posting = t.post(ORDER, '', await signer()).catch((e: unknown) => e)
      for (let n = 1; n <= 3; n++) {
        await turnsUntil(() => vi.getTimerCount() === 1, `500 number ${n}`)
        vi.runOnlyPendingTimers()
      }
      expect(await posting).toMatchObject({ status: 500 })
      expect(fetch.calls.filter((c) => c.method === 'POST')).toHaveLength(4)
    } finally {
      vi.useRealTimers()
      vi.restoreAllMocks()
    }
  })

  it('throws a rate limit at once when Retry-After exceeds the wait budget, with retryAfter and help link', async () => {
    const fetch = scriptedFetch({
      [`POST ${ORDER}`]: () =>
        problem(429, 'rateLimited', 'too many certificates', {
          'retry-after': '3600',
          link: '<https://letsencrypt.org/docs/rate-limits/>;rel="help"',
        }),
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    const s = await signer()
    const before = Date.now()
    const err = await t.post(ORDER, '', s).catch((e) => e)
    const after = Date.now()
    expect(err).toBeInstanceOf(AcmeProblemError)
    expect(err.code).toBe('ERR_ACME_RATE_LIMITED')
    expect(err.helpUrl).toBe('https://letsencrypt.org/docs/rate-limits/')
    // Retry-After: 3600 counts from the response, which came between `before` and `after`.
    expect(err.retryAfter.getTime()).toBeGreaterThanOrEqual(before + 3600_000)
    expect(err.retryAfter.getTime()).toBeLessThanOrEqual(after + 3600_000)
    expect(fetch.calls.filter((c) => c.method === 'POST')).toHaveLength(1)
  })

  it('retries 503 and network failures, and not at all with retry: false', async () => {
    let n = 0
    const fetch = scriptedFetch({
      [`POST ${ORDER}`]: [
        () => new Response('busy', { status: 503, headers: { 'replay-nonce': `x${n++}` } }),
        () => {
          throw new TypeError('fetch failed')
        },
        () => json(200, { done: true }),
      ],
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    expect((await t.post(ORDER, '', await signer())).body).toEqual({ done: true })

    const failing = scriptedFetch({ [`POST ${ORDER}`]: () => new Response('busy', { status: 503 }) })
    const strict = new Transport('https://ca.test/dir', { fetch: failing, retry: false })
    await expect(strict.post(ORDER, '', await signer())).rejects.toBeInstanceOf(AcmeResponseError)
    expect(failing.calls.filter((c) => c.method === 'POST')).toHaveLength(1)
  })

  it('maps a timeout to ERR_TIMEOUT and an abort to the signal reason', async () => {
    const hang = (init?: RequestInit) =>
      new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      )
    const fetch = (async (_input: RequestInfo | URL, init?: RequestInit) =>
      hang(init)) as typeof globalThis.fetch
    const t = new Transport('https://ca.test/dir', { fetch, timeout: 50, retry: false })
    await expect(t.directory()).rejects.toMatchObject({ code: 'ERR_TIMEOUT' })
    const controller = new AbortController()
    const t2 = new Transport('https://ca.test/dir', { fetch, timeout: 0 })
    const pending = t2.directory(controller.signal)
    controller.abort(new Error('stop'))
    await expect(pending).rejects.toThrow('stop')
    // A failed directory fetch is not cached.
    await expect(t.directory()).rejects.toBeInstanceOf(AcmeNetworkError)
  })

  it('applies the transport-wide signal to every request and wait', async () => {
    const hang = (async (_input: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_, reject) =>
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)),
      )) as typeof globalThis.fetch
    const controller = new AbortController()
    const t = new Transport('https://ca.test/dir', { fetch: hang, signal: controller.signal, timeout: 0 })
    const pending = t.directory()
    controller.abort(new Error('shutting down'))
    await expect(pending).rejects.toThrow('shutting down')
    await expect(t.post(ORDER, '', await signer())).rejects.toThrow('shutting down')

    // With a nonce in hand no HEAD is needed: the POST itself must stop with the transport-wide signal.
    const postSent = occurrence()
    const postHangs = scriptedFetch({
      [`POST ${ORDER}`]: (call) => {
        postSent.fire()
        return new Promise<Response>((_, reject) =>
          call.signal?.addEventListener('abort', () => reject(call.signal?.reason)),
        )
      },
    })
    const stop = new AbortController()
    const t2 = new Transport('https://ca.test/dir', { fetch: postHangs, signal: stop.signal, timeout: 0 })
    await t2.directory() // its response carries a Replay-Nonce, which the POST will use
    const posting = t2.post(ORDER, '', await signer())
    await postSent.happened // the POST is on the wire (not "probably, after 20 ms")
    stop.abort(new Error('client closed'))
    await expect(posting).rejects.toThrow('client closed')
    expect(postHangs.calls.map((c) => c.method)).toEqual(['GET', 'POST'])
  })

  it('parses problem documents with subproblems and algorithms', async () => {
    const fetch = scriptedFetch({
      [`POST ${DIRECTORY.newOrder}`]: () =>
        json(400, {
          type: 'urn:ietf:params:acme:error:compound',
          detail: 'two bad names',
          subproblems: [
            {
              type: 'urn:ietf:params:acme:error:rejectedIdentifier',
              detail: 'no',
              identifier: { type: 'dns', value: 'a.test' },
            },
            { type: 'urn:ietf:params:acme:error:caa', identifier: { type: 'dns', value: 'b.test' } },
          ],
        }),
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    const err = await t.post(DIRECTORY.newOrder, {}, await signer()).catch((e) => e)
    expect(err.code).toBe('ERR_ACME_COMPOUND')
    expect(err.subproblems.map((s: { identifier: { value: string } }) => s.identifier.value)).toEqual([
      'a.test',
      'b.test',
    ])
    expect(err.message).toContain('a.test: no')
    expect(Object.keys(err)).not.toContain('response')
  })

  it('reports invalid JSON and invalid directories naming the field and URL', async () => {
    const bad = scriptedFetch({
      'GET https://ca.test/dir': () => json(200, { ...DIRECTORY, newOrder: 42 }),
    })
    const err = await new Transport('https://ca.test/dir', { fetch: bad }).directory().catch((e) => e)
    expect(err).toBeInstanceOf(AcmeResponseError)
    expect(err.field).toBe('newOrder')
    expect(err.message).toContain('https://ca.test/dir')

    const garbage = scriptedFetch({
      'GET https://ca.test/dir': () =>
        new Response('{not json', { headers: { 'content-type': 'application/json' } }),
    })
    await expect(new Transport('https://ca.test/dir', { fetch: garbage }).directory()).rejects.toThrow(
      /invalid JSON/,
    )
  })

  it('errors when newNonce answers without a Replay-Nonce', async () => {
    const fetch = scriptedFetch({
      'GET https://ca.test/dir': () => Response.json(DIRECTORY),
      [`GET ${DIRECTORY.newNonce}`]: () => new Response(null, { status: 204 }),
    })
    const t = new Transport('https://ca.test/dir', { fetch })
    await expect(t.post(ORDER, '', await signer())).rejects.toMatchObject({
      code: 'ERR_INVALID_RESPONSE',
      field: 'Replay-Nonce',
    })
  })
})
