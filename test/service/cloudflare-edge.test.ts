/**
 * Cloudflare edge delivery against a fixture of the custom hostnames API (test/fixtures/cloudflare-custom-hostnames.ts:
 * its auth header, its error envelope, its refusal of a key that does not match): an existing custom hostname is
 * PATCHed and a missing one created with the certificate and its key; a renewal is installed again; a refused
 * install shows in the job view as `error` with the API's message and the next cron pass installs it.
 */
import { generateKeyPairSync } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CloudflareFixture, startCloudflareFixture } from '../fixtures/cloudflare-custom-hostnames.ts'
import { getTestCa } from '../harness/ca.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const RUN = Date.now().toString(36)
const ZONE = '023e105f4ecef8ad9ca31a8372d0c353'
const TOKEN = `cf-${RUN}`
let pebble: Pebble
let service: ServiceProcess
let fixture: CloudflareFixture
let persist: string
let options: Parameters<typeof startService>[0]

interface EdgeView {
  status: string
  customHostnameId?: string
  lastError?: string
  serial: string
}

beforeAll(async () => {
  fixture = await startCloudflareFixture({ zone: ZONE, token: TOKEN })
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-edge-'))
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  options = {
    port,
    persist,
    directory: pebble.directoryUrl,
    token: `token-${RUN}-edge`,
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      LIMIT_REQUESTS_PER_SECOND: '1000',
      DELIVER_CLOUDFLARE_ZONE_ID: ZONE,
      CLOUDFLARE_API_TOKEN: TOKEN,
      CLOUDFLARE_API_BASE: fixture.baseUrl,
    },
  }
  service = await startService(options)
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  await fixture?.close()
  if (persist) await rm(persist, { recursive: true, force: true })
})

async function edge(name: string): Promise<EdgeView | undefined> {
  const view = (await (await service.api(`/api/certificates/${name}`)).json()) as {
    delivery?: { cloudflare: EdgeView }
  }
  return view.delivery?.cloudflare
}

async function edgeUntil(name: string, done: (v: EdgeView | undefined) => boolean): Promise<EdgeView> {
  const deadline = Date.now() + 45_000
  for (;;) {
    const v = await edge(name)
    if (done(v)) return v!
    if (Date.now() > deadline)
      throw new Error(`${name}: ${JSON.stringify(v)}\n${service.output().slice(-3000)}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}

const bundleSerial = async (name: string) =>
  ((await (await service.api(`/api/certificates/${name}/bundle`)).json()) as { serial: string }).serial

const normal = (serial: string | undefined) => serial?.toLowerCase().replace(/^0+/, '')

describe('Cloudflare edge delivery', () => {
  it('the fixture follows the API: bearer token, error envelope, a key that does not match refused', async () => {
    const url = `${fixture.baseUrl}/zones/${ZONE}/custom_hostnames`
    const denied = await fetch(url, { headers: { authorization: 'Bearer wrong' } })
    expect(denied.status).toBe(403)
    expect(await denied.json()).toMatchObject({ success: false, errors: [{ code: 10000 }], result: null })
    // A real certificate with another key.
    const host = `mismatch-${RUN}.webacme.test`
    await service.api('/api/certificates', { method: 'POST', body: JSON.stringify({ identifiers: [host] }) })
    await allValid(service, [host], { deadline: Date.now() + 60_000 })
    const { fullchain } = (await (await service.api(`/api/certificates/${host}/bundle`)).json()) as {
      fullchain: string
    }
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    })
    const refused = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        hostname: `other-${RUN}.webacme.test`,
        ssl: { custom_certificate: fullchain, custom_key: other },
      }),
    })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({
      success: false,
      errors: [{ message: expect.stringMatching(/do not match/) }],
    })
  })

  it('creates or PATCHes the custom hostname with each certificate, and retries what the API refused', async () => {
    const existing = `existing-${RUN}.webacme.test`
    const fresh = `fresh-${RUN}.webacme.test`
    const preexisting = fixture.add(existing)
    fixture.failNext(fresh)
    for (const name of [existing, fresh]) {
      await service.api('/api/certificates', {
        method: 'POST',
        body: JSON.stringify({ identifiers: [name] }),
      })
    }
    await allValid(service, [existing, fresh], { deadline: Date.now() + 60_000 })

    const patched = await edgeUntil(existing, (v) => v?.status === 'active')
    expect(patched.customHostnameId).toBe(preexisting.id)
    expect(normal(fixture.hostnames.get(preexisting.id)!.ssl.serial)).toBe(
      normal(await bundleSerial(existing)),
    )
    expect(fixture.requests.some((r) => r.method === 'PATCH' && r.path.endsWith(preexisting.id))).toBe(true)

    // The first install of `fresh` got a 503 in the API's envelope: the view says so, the cron pass installs it.
    const failed = await edgeUntil(fresh, (v) => v?.status === 'error')
    expect(failed.lastError).toMatch(/503 1000: Service temporarily unavailable/)
    await service.cron()
    const created = await edgeUntil(fresh, (v) => v?.status === 'active')
    const entry = fixture.hostnames.get(created.customHostnameId!)!
    expect(entry.hostname).toBe(fresh)
    expect(normal(entry.ssl.serial)).toBe(normal(await bundleSerial(fresh)))

    // A renewal is installed on the same custom hostname.
    const before = await bundleSerial(existing)
    const { notAfter } = (await (await service.api(`/api/certificates/${existing}`)).json()) as {
      notAfter: string
    }
    await service.cron(Date.parse(notAfter))
    const renewed = await edgeUntil(
      existing,
      (v) => v?.status === 'active' && normal(v.serial) !== normal(before),
    )
    expect(renewed.customHostnameId).toBe(preexisting.id)
    expect(normal(fixture.hostnames.get(preexisting.id)!.ssl.serial)).toBe(
      normal(await bundleSerial(existing)),
    )
    // Only the first test's own wrong token was refused: the service always sent its token.
    expect(fixture.requests.filter((r) => !r.authorized)).toHaveLength(1)
  }, 240_000)

  it('finishes a renewal the runtime was killed in after it stored the new certificate, without a second one', async () => {
    const name = `killed-${RUN}.webacme.test`
    await service.api('/api/certificates', { method: 'POST', body: JSON.stringify({ identifiers: [name] }) })
    await allValid(service, [name], { deadline: Date.now() + 60_000 })
    await edgeUntil(name, (v) => v?.status === 'active')
    const view = async () =>
      (await (await service.api(`/api/certificates/${name}`)).json()) as {
        notAfter: string
        renewals: number
      }
    const before = await view()
    const first = await bundleSerial(name)

    // The renewal stores its certificate, writes its event, then installs it at the edge, which never answers: the
    // run is inside that request, before the job records the new certificate. The runtime is killed right there.
    const held = fixture.holdNext(name)
    await service.cron(Date.parse(before.notAfter))
    await held
    const stored = await bundleSerial(name)
    expect(normal(stored)).not.toBe(normal(first))
    await service.kill()
    service = await startService(options)
    expect((await view()).notAfter).toBe(before.notAfter) // the job still names the first certificate

    // The next pass as of the same time finds the job due again: it finishes what the killed run did not.
    await service.cron(Date.parse(before.notAfter))
    const deadline = Date.now() + 60_000
    let after = await view()
    while (after.notAfter === before.notAfter && (await bundleSerial(name)) === stored) {
      if (Date.now() > deadline)
        throw new Error(`${name}: ${JSON.stringify(after)}\n${service.output().slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 250))
      after = await view()
    }
    // The stored certificate stays (no second renewal), and the job, the edge and the count now say so.
    expect(await bundleSerial(name)).toBe(stored)
    expect(after.renewals).toBe(before.renewals + 1)
    const { notAfter: storedNotAfter } = (await (
      await service.api(`/api/certificates/${name}/bundle`)
    ).json()) as {
      notAfter: string
    }
    expect(after.notAfter).toBe(storedNotAfter)
    const installed = await edgeUntil(
      name,
      (v) => v?.status === 'active' && normal(v.serial) === normal(stored),
    )
    expect(normal(fixture.hostnames.get(installed.customHostnameId!)!.ssl.serial)).toBe(normal(stored))
  }, 240_000)
})
