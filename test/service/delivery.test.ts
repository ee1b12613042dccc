/**
 * Delivery end to end against Pebble, the service run as `npm run service` runs it:
 * - bring your own CSR: the identifiers come from an openssl request, the leaf carries its public key (and the
 *   service never had the private key: the bundle has none), a renewal reuses the request, `PUT .../csr` replaces it
 *   and the certificate is re-issued with the new key;
 * - deploy tokens: created by the admin token and shown once, they fetch the bundles of the names their patterns
 *   cover and get the same 403 for everything else (other names, names that do not exist, every other route);
 *   revoked, they stop working with the next request; the job view counts deliveries.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getTestCa } from '../harness/ca.ts'
import { opensslCsr } from '../harness/openssl-csr.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const RUN = Date.now().toString(36)
let pebble: Pebble
let service: ServiceProcess
let persist: string

interface Bundle {
  name: string
  serial: string
  notAfter: string
  certificate: string
  chain: string
  fullchain: string
  privateKey?: string
}

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-delivery-'))
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  service = await startService({
    port,
    persist,
    directory: pebble.directoryUrl,
    token: `token-${RUN}-delivery`,
    caFile: ca.caCertPath,
    vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true', LIMIT_REQUESTS_PER_SECOND: '1000' },
  })
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

/** An openssl request for `names`, and its key's SPKI (DER) to compare with the leaf's. */
async function csrWithSpki(names: string[]): Promise<{ pem: string; spki: Buffer }> {
  const { csr, key } = await opensslCsr(names)
  return { pem: csr, spki: createPublicKey(key).export({ type: 'spki', format: 'der' }) }
}

const leafSpki = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' })

const post = (body: unknown) =>
  service.api('/api/certificates', { method: 'POST', body: JSON.stringify(body) })

async function bundleOf(name: string, token?: string): Promise<Response> {
  return token
    ? fetch(`${service.url}/api/certificates/${name}/bundle`, {
        headers: { authorization: `Bearer ${token}` },
      })
    : service.api(`/api/certificates/${name}/bundle`)
}

/** Reads the bundle until its serial is not `previous` (a renewal landed), or the deadline. */
async function nextBundle(name: string, previous: string, deadline: number): Promise<Bundle> {
  for (;;) {
    const res = await bundleOf(name)
    if (res.ok) {
      const body = (await res.json()) as Bundle
      if (body.serial !== previous) return body
    }
    if (Date.now() > deadline)
      throw new Error(`no new certificate for ${name}:\n${service.output().slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

async function expectError(res: Response, status: number, code: string): Promise<unknown> {
  const body = (await res.json()) as { error: { code: string } }
  expect({ status: res.status, code: body.error.code }).toEqual({ status, code })
  return body
}

describe('bring your own CSR', () => {
  it('issues for the request, renews with it, and re-issues when PUT replaces it', async () => {
    const names = [`csr-${RUN}.webacme.test`, `www.csr-${RUN}.webacme.test`]
    const name = `csr-${RUN}`
    const first = await csrWithSpki(names)

    await expectError(await post({ csr: 'not a request' }), 400, 'ERR_INVALID_CSR')
    await expectError(await post({ csr: first.pem, identifiers: names }), 400, 'ERR_INVALID_IDENTIFIERS')
    // A request altered after it was signed (one letter of a name): refused before any job or order exists.
    const altered = await opensslCsr([`alt-${RUN}.webacme.test`])
    const der = Buffer.from(altered.csrDer)
    for (let at = der.indexOf(`alt-${RUN}`); at >= 0; at = der.indexOf(`alt-${RUN}`, at + 1)) der[at] = 0x62 // b
    const alteredPem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`
    const refused = (await expectError(await post({ csr: alteredPem }), 400, 'ERR_INVALID_CSR')) as {
      error: { message: string }
    }
    expect(refused.error.message).toMatch(/signature does not verify/)
    await expectError(await service.api(`/api/certificates/blt-${RUN}.webacme.test`), 404, 'ERR_NOT_FOUND')
    const created = await post({ csr: first.pem, name })
    expect(created.status).toBe(202)
    const [view] = await allValid(service, [name], { deadline: Date.now() + 60_000 })
    expect([...view!.identifiers].sort()).toEqual([...names].sort())

    const bundle = (await (await bundleOf(name)).json()) as Bundle
    expect(bundle).not.toHaveProperty('privateKey')
    expect(leafSpki(bundle.certificate)).toEqual(first.spki)
    expect(bundle.fullchain).toBe(bundle.certificate + bundle.chain)
    expect(new X509Certificate(bundle.certificate).serialNumber.toLowerCase()).toBe(
      bundle.serial.toLowerCase(),
    )

    // The same request again is its status; another request under the name is refused (PUT replaces it).
    expect((await post({ csr: first.pem, name })).status).toBe(202)
    const second = await csrWithSpki(names)
    await expectError(await post({ csr: second.pem, name }), 409, 'ERR_CSR_CHANGED')

    // A renewal (the cron pass as of the certificate's expiry) reuses the request.
    await service.cron(Date.parse(bundle.notAfter))
    const renewed = await nextBundle(name, bundle.serial, Date.now() + 60_000)
    expect(leafSpki(renewed.certificate)).toEqual(first.spki)

    // PUT: other names are refused; the same names with a new key re-issue at once.
    const other = await csrWithSpki([`other-${RUN}.webacme.test`])
    const put = (csr: string) =>
      service.api(`/api/certificates/${name}/csr`, { method: 'PUT', body: JSON.stringify({ csr }) })
    await expectError(await put(other.pem), 409, 'ERR_IDENTIFIERS_CHANGED')
    await expectError(await put('garbage'), 400, 'ERR_INVALID_CSR')
    const replaced = await put(second.pem)
    expect(replaced.status).toBe(200)
    const rekeyed = await nextBundle(name, renewed.serial, Date.now() + 60_000)
    expect(leafSpki(rekeyed.certificate)).toEqual(second.spki)
    // ... and the next renewal keeps the new request.
    await service.cron(Date.parse(rekeyed.notAfter))
    const again = await nextBundle(name, rekeyed.serial, Date.now() + 60_000)
    expect(leafSpki(again.certificate)).toEqual(second.spki)
  })

  it('refuses a request for a name managed with a key the service holds', async () => {
    const host = `held-${RUN}.webacme.test`
    expect((await post({ identifiers: [host] })).status).toBe(202)
    const { pem } = await csrWithSpki([host])
    await expectError(await post({ csr: pem }), 409, 'ERR_NAME_TAKEN')
    const put = await service.api(`/api/certificates/${host}/csr`, {
      method: 'PUT',
      body: JSON.stringify({ csr: pem }),
    })
    await expectError(put, 409, 'ERR_NOT_CSR_JOB')
  })
})

describe('deploy tokens and bundles', () => {
  it('fetch what their patterns cover, and get one 403 for everything else', async () => {
    const exact = `exact-${RUN}.webacme.test`
    const customer = `shop.cust-${RUN}.webacme.test`
    const outside = `outside-${RUN}.webacme.test`
    const deep = `a.b.cust-${RUN}.webacme.test`
    for (const host of [exact, customer, outside, deep])
      expect((await post({ identifiers: [host] })).status).toBe(202)
    await allValid(service, [exact, customer, outside, deep], { deadline: Date.now() + 60_000 })

    const create = (body: unknown, token?: string) =>
      token
        ? fetch(`${service.url}/api/tokens`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token}` },
            body: JSON.stringify(body),
          })
        : service.api('/api/tokens', { method: 'POST', body: JSON.stringify(body) })
    await expectError(await create({ names: [] }), 400, 'ERR_INVALID_NAMES')
    await expectError(await create({ names: ['bad name'] }), 400, 'ERR_INVALID_NAMES')
    const res = await create({ names: [exact, `*.cust-${RUN}.webacme.test`], label: 'edge-1' })
    expect(res.status).toBe(201)
    const { id, token } = (await res.json()) as { id: string; token: string }
    expect(token).toMatch(/^wdt_/)

    // Covered: the exact name and one label under the pattern; the key is PKCS#8 and the certificate's.
    for (const host of [exact, customer]) {
      const got = await bundleOf(host, token)
      expect(got.status).toBe(200)
      const bundle = (await got.json()) as Bundle
      expect(bundle.privateKey).toMatch(/^-----BEGIN PRIVATE KEY-----/)
      const spki = createPublicKey(createPrivateKey(bundle.privateKey!)).export({
        type: 'spki',
        format: 'der',
      })
      expect(leafSpki(bundle.certificate)).toEqual(spki)
      expect(bundle.name).toBe(host)
    }

    // Outside its patterns, absent, or any other route: the same 403.
    const refusals = await Promise.all(
      [
        bundleOf(outside, token),
        bundleOf(deep, token),
        bundleOf(`absent-${RUN}.webacme.test`, token),
        fetch(`${service.url}/api/certificates/${exact}`, { headers: { authorization: `Bearer ${token}` } }),
        fetch(`${service.url}/api/certificates/${exact}/chain`, {
          headers: { authorization: `Bearer ${token}` },
        }),
        fetch(`${service.url}/api/certificates`, { headers: { authorization: `Bearer ${token}` } }),
        fetch(`${service.url}/api/status`, { headers: { authorization: `Bearer ${token}` } }),
        fetch(`${service.url}/api/tokens`, { headers: { authorization: `Bearer ${token}` } }),
        create({ names: ['x.webacme.test'] }, token),
      ].map(async (r) => {
        const response = await r
        return { status: response.status, body: await response.text() }
      }),
    )
    for (const refusal of refusals) expect(refusal).toEqual(refusals[0])
    expect(refusals[0]!.status).toBe(403)

    // The admin token sees every bundle; the job view counts the deliveries.
    expect((await bundleOf(outside)).status).toBe(200)
    const view = (await (await service.api(`/api/certificates/${exact}`)).json()) as {
      deliveries: number
      lastDeliveredAt?: string
    }
    expect(view.deliveries).toBe(1)
    expect(Date.parse(view.lastDeliveredAt!)).not.toBeNaN()

    // Listed without secrets; revoked, it stops at once.
    const listed = (await (await service.api('/api/tokens')).json()) as { tokens: Record<string, unknown>[] }
    const mine = listed.tokens.find((t) => t.id === id)
    expect(mine).toMatchObject({ id, label: 'edge-1', names: [exact, `*.cust-${RUN}.webacme.test`] })
    expect(JSON.stringify(listed)).not.toContain(token)
    expect(Object.keys(mine!).sort()).toEqual(['createdAt', 'id', 'label', 'names'])
    expect((await service.api(`/api/tokens/${id}`, { method: 'DELETE' })).status).toBe(200)
    await expectError(await bundleOf(exact, token), 401, 'ERR_UNAUTHORIZED')
    await expectError(await service.api(`/api/tokens/${id}`, { method: 'DELETE' }), 404, 'ERR_NOT_FOUND')
  })
})
