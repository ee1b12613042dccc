// acmeDnsAdapter and registerAcmeDns against the acme-dns fixture (test/fixtures/dns/acme-dns.ts).
import { describe, expect, it } from 'vitest'
import { ACME_DNS_URL, acmeDnsFixture } from '../../../test/fixtures/dns/acme-dns.ts'
import { isDnsProviderError } from '../errors.ts'
import { acmeDnsAdapter, registerAcmeDns } from './acme-dns.ts'

const A = 'a'.repeat(43)
const B = 'b'.repeat(43)
const C = 'c'.repeat(43)

async function setup() {
  const fixture = acmeDnsFixture()
  const account = await registerAcmeDns(ACME_DNS_URL, { fetch: fixture.fetch, allowFrom: ['192.0.2.0/24'] })
  return { fixture, account }
}

describe('registerAcmeDns', () => {
  it('POSTs /register and returns the credentials', async () => {
    const { fixture, account } = await setup()
    expect(account.fulldomain).toBe(`${account.subdomain}.auth.acme-dns.test`)
    expect(account.allowfrom).toEqual(['192.0.2.0/24'])
    const [request] = fixture.fetch.requests
    expect(request).toMatchObject({ method: 'POST' })
    expect(request!.url.href).toBe(`${ACME_DNS_URL}/register`)
    expect(JSON.parse(request!.body)).toEqual({ allowfrom: ['192.0.2.0/24'] })
  })
})

describe('acmeDnsAdapter', () => {
  it('updates with X-Api-User/X-Api-Key, finding the account by domain, challenge name or fulldomain', async () => {
    const { fixture, account } = await setup()
    const adapter = acmeDnsAdapter({
      url: ACME_DNS_URL,
      accounts: { 'example.com': account },
      fetch: fixture.fetch,
    })
    await adapter.createTxt('_acme-challenge.example.com', A) // no CNAME following
    await adapter.createTxt(account.fulldomain, B) // the solver followed the CNAME
    expect(fixture.txt(account.fulldomain)).toEqual([A, B])
    const update = fixture.fetch.requests.at(-1)!
    expect(update.url.pathname).toBe('/update')
    expect(update.headers).toMatchObject({
      'x-api-user': account.username,
      'x-api-key': account.password,
      'content-type': 'application/json',
    })
    expect(JSON.parse(update.body)).toEqual({ subdomain: account.subdomain, txt: B })
  })

  it('serves an apex and its wildcard (two values), refuses a third concurrent one, forgets removed ones', async () => {
    const { fixture, account } = await setup()
    const adapter = acmeDnsAdapter({ url: ACME_DNS_URL, account, fetch: fixture.fetch })
    await Promise.all([adapter.createTxt(account.fulldomain, A), adapter.createTxt(account.fulldomain, B)])
    await adapter.createTxt(account.fulldomain, A) // already served: no request
    expect(fixture.fetch.requests.filter((r) => r.url.pathname === '/update')).toHaveLength(2)
    const err = await adapter.createTxt(account.fulldomain, C).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_CONFLICT')).toBe(true)
    expect((err as Error).message).toMatch(/only 2 TXT values/)
    expect(fixture.txt(account.fulldomain)).toEqual([A, B])

    // acme-dns cannot delete: removal sends nothing and frees the slot for the next value.
    const before = fixture.fetch.requests.length
    await adapter.removeTxt(account.fulldomain, A)
    expect(fixture.fetch.requests.length).toBe(before)
    await adapter.createTxt(account.fulldomain, C)
    expect(fixture.txt(account.fulldomain)).toEqual([B, C])
  })

  it('maps {"error":"forbidden"} to ERR_DNS_AUTH and bad_txt to ERR_DNS_PROVIDER', async () => {
    const { fixture, account } = await setup()
    const wrong = acmeDnsAdapter({
      url: ACME_DNS_URL,
      account: { ...account, password: 'x' },
      fetch: fixture.fetch,
    })
    await expect(wrong.createTxt(account.fulldomain, A)).rejects.toMatchObject({
      code: 'ERR_DNS_AUTH',
      status: 401,
      providerCode: 'forbidden',
    })
    const adapter = acmeDnsAdapter({ url: ACME_DNS_URL, account, fetch: fixture.fetch })
    await expect(adapter.createTxt(account.fulldomain, 'short')).rejects.toMatchObject({
      code: 'ERR_DNS_PROVIDER',
      status: 400,
      providerCode: 'bad_txt',
    })
  })

  it('fails with ERR_DNS_NOT_FOUND when no account covers the name', async () => {
    const { fixture, account } = await setup()
    const adapter = acmeDnsAdapter({
      url: ACME_DNS_URL,
      accounts: { 'example.com': account },
      fetch: fixture.fetch,
    })
    await expect(adapter.createTxt('_acme-challenge.other.org', A)).rejects.toMatchObject({
      code: 'ERR_DNS_NOT_FOUND',
    })
  })
})
