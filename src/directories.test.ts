/**
 * Every CA that `directories` lists, with the directory it publishes (test/fixtures/directories/): the client
 * accepts it, keeps its extensions and `meta`, requests nothing but the RFC 8555 / RFC 9773 resources it names,
 * and still refuses a URL on any other origin (issue #15: Let's Encrypt's random entry on another host stopped
 * every client before it sent a request).
 */
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { json, nonce, scriptedFetch } from '../test/fixtures/scripted-fetch.ts'
import { AcmeClient } from './client.ts'
import { directories } from './directories.ts'
import { AcmeResponseError } from './errors.ts'
import { generateKeyPair } from './jose/algorithms.ts'
import type { Directory } from './protocol/resources.ts'
import { fetchRenewalInfo } from './renewal/renewal-info.ts'

const published = (file: string): Directory =>
  JSON.parse(
    readFileSync(new URL(`../test/fixtures/directories/${file}`, import.meta.url), 'utf8'),
  ) as Directory

const CAS: { name: string; url: string; file: string }[] = [
  { name: "Let's Encrypt", url: directories.letsencrypt.production, file: 'letsencrypt-production.json' },
  { name: "Let's Encrypt staging", url: directories.letsencrypt.staging, file: 'letsencrypt-staging.json' },
  { name: 'ZeroSSL', url: directories.zerossl.production, file: 'zerossl.json' },
  { name: 'Google Trust Services', url: directories.google.production, file: 'google-production.json' },
  { name: 'Buypass', url: directories.buypass.production, file: 'buypass.json' },
  { name: 'SSL.com RSA', url: directories.sslcom.rsa, file: 'sslcom-rsa.json' },
  { name: 'SSL.com ECC', url: directories.sslcom.ecc, file: 'sslcom-ecc.json' },
]

/** A CA answering from its published directory: newNonce, and newAccount for an existing key. */
function caFetch(url: string, directory: Directory) {
  const account = `${new URL(directory.newAccount).origin}/acct/1`
  const fetch = scriptedFetch({
    [`GET ${url}`]: () => json(200, directory),
    [`HEAD ${directory.newNonce}`]: () =>
      new Response(null, { status: 200, headers: { 'replay-nonce': nonce() } }),
    [`POST ${directory.newAccount}`]: () => json(200, { status: 'valid' }, { location: account }),
  })
  return { fetch, account }
}

const RESOURCES = ['newNonce', 'newAccount', 'newOrder', 'newAuthz', 'revokeCert', 'keyChange', 'renewalInfo']

describe('the directories public CAs publish', () => {
  it.each(CAS)('$name: accepted, kept whole, and only its resources requested', async ({ url, file }) => {
    const directory = published(file)
    const { fetch, account } = caFetch(url, directory)
    const client = new AcmeClient({ directoryUrl: url, accountKey: await generateKeyPair(), fetch })

    expect(await client.directory()).toEqual(directory)
    const found = await client.findAccount()
    expect(found.url).toBe(account)

    const requested = new Set(fetch.calls.map((c) => c.url))
    // The nonce may come with the directory's answer: newNonce is requested only when none did.
    expect([...requested].filter((u) => u !== directory.newNonce)).toEqual([url, directory.newAccount])
    // Extensions (Boulder's random entry) and meta are data: never a request target.
    const extensions = Object.entries(directory).filter(
      ([k, v]) => !RESOURCES.includes(k) && typeof v === 'string',
    )
    for (const [, value] of extensions) expect(requested.has(String(value))).toBe(false)
  })

  it("Let's Encrypt's random entry does not widen the origins the client trusts", async () => {
    const directory = published('letsencrypt-production.json')
    const random = Object.entries(directory).find(([, v]) => String(v).startsWith('https://community.'))
    expect(random, 'the published directory carries the random entry').toBeDefined()
    const { fetch } = caFetch(directories.letsencrypt.production, directory)
    const client = new AcmeClient({
      directoryUrl: directories.letsencrypt.production,
      accountKey: await generateKeyPair(),
      fetch,
      accountUrl: 'https://acme-v02.api.letsencrypt.org/acme/acct/1',
    })
    const err = await client.getOrder(String(random![1])).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(AcmeResponseError)
    expect((err as AcmeResponseError).code).toBe('ERR_UNTRUSTED_URL')
    expect(fetch.calls.filter((c) => c.url.startsWith('https://community.'))).toEqual([])
  })

  it('a renewalInfo on another host (ZeroSSL) is read there, and no signed request ever goes there', async () => {
    const directory = published('zerossl.json')
    const renewalInfo = 'https://ari.trust-provider.com/renewalInfo/aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE'
    const { fetch } = caFetch(directories.zerossl.production, directory)
    const routed = scriptedFetch({
      [`GET ${renewalInfo}`]: () =>
        json(200, { suggestedWindow: { start: '2026-12-20T00:00:00Z', end: '2026-12-22T00:00:00Z' } }),
    })
    const both = Object.assign(
      ((input: RequestInfo | URL, init?: RequestInit) =>
        String(input).startsWith('https://ari.') ? routed(input, init) : fetch(input, init)) as typeof fetch,
      { calls: fetch.calls },
    )
    const client = new AcmeClient({
      directoryUrl: directories.zerossl.production,
      accountKey: await generateKeyPair(),
      fetch: both,
      accountUrl: 'https://acme.zerossl.com/v2/DV90/account/1',
    })
    const info = await fetchRenewalInfo(client, 'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
    expect(info.suggestedWindow.start.toISOString()).toBe('2026-12-20T00:00:00.000Z')
    expect(routed.calls.map((c) => `${c.method} ${c.url}`)).toEqual([`GET ${renewalInfo}`])

    // The renewalInfo host is not the CA's for anything signed: an order there is refused before it is sent.
    const err = await client.getOrder('https://ari.trust-provider.com/order/1').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect((err as AcmeResponseError).code).toBe('ERR_UNTRUSTED_URL')
    expect(routed.calls).toHaveLength(1)
  })

  it('any other extension whose value is not a URL, an object or a number is kept, not refused', async () => {
    const directory = {
      ...published('letsencrypt-staging.json'),
      aNewThing: 'not a url at all',
      anObject: { nested: 'https://elsewhere.test/x' },
      aNumber: 3,
    }
    const { fetch } = caFetch(directories.letsencrypt.staging, directory)
    const client = new AcmeClient({
      directoryUrl: directories.letsencrypt.staging,
      accountKey: await generateKeyPair(),
      fetch,
    })
    expect(await client.directory()).toMatchObject({ aNewThing: 'not a url at all', aNumber: 3 })
    await client.findAccount()
  })

  it('a resource the client requests is still checked: newOrder on another origin refuses the directory', async () => {
    const directory = { ...published('letsencrypt-production.json'), newOrder: 'https://evil.test/new-order' }
    const { fetch } = caFetch(directories.letsencrypt.production, directory)
    const client = new AcmeClient({
      directoryUrl: directories.letsencrypt.production,
      accountKey: await generateKeyPair(),
      fetch,
    })
    const err = await client.directory().then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(AcmeResponseError)
    expect((err as AcmeResponseError).message).toContain('directory.newOrder')
  })
})
