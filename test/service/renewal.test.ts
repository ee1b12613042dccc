/**
 * Renewal through the service's cron pass (issue #9, "Renewal"): Pebble issues short-lived certificates (one hour,
 * `certificateValidityPeriod`), so the lifetime rule makes each due 40 minutes after its notBefore. Two groups are
 * issued a few seconds apart; the test's clock is the cron pass's scheduled time, set between the two groups' renewal
 * times: the pass renews the first group (through renewDue, in the queue consumer) and nothing else. Pebble 2.4 has
 * no ARI, so the lifetime rule decides (ARI is covered by the library's own renewal tests).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { type RateLimitProxy, startRateLimitProxy } from '../fixtures/rate-limit-proxy.ts'
import { getTestCa } from '../harness/ca.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import {
  allValid,
  type CertificateView,
  listAll,
  type ServiceProcess,
  startService,
} from './service-process.ts'

const VALIDITY = 3600
const RUN = Date.now().toString(36)
const groupA = Array.from({ length: 10 }, (_, i) => `ra${i}-${RUN}.webacme.test`)
const groupB = Array.from({ length: 10 }, (_, i) => `rb${i}-${RUN}.webacme.test`)

let pebble: Pebble
let proxy: RateLimitProxy
let service: ServiceProcess
let persist: string
const before = new Map<string, CertificateView>()
let asOf = 0

async function request(names: string[]): Promise<void> {
  for (const name of names) {
    const res = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [name] }),
    })
    expect(res.status).toBe(202)
  }
  await allValid(service, names, { deadline: Date.now() + 120_000 })
}

async function status(): Promise<{ lastPass?: { asOf: number; renewals: number; resumed: number } }> {
  return (await service.api('/api/status')).json()
}

async function serialOf(name: string): Promise<string> {
  return parseCertificate(await (await service.api(`/api/certificates/${name}/chain`)).text()).serialNumber
}

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-renewal-'))
  pebble = await startPebble({
    http01: 'self',
    httpPort: port,
    authzReusePercent: 0,
    certificateValidityPeriod: VALIDITY,
  })
  proxy = await startRateLimitProxy({ pebble })
  service = await startService({
    port,
    persist,
    directory: proxy.directoryUrl,
    token: `token-${RUN}-renewal`,
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      LIMIT_REQUESTS_PER_SECOND: '1000',
      // Due means due at the pass's time: no lookahead.
      RENEWAL_LOOKAHEAD_SECONDS: '0',
    },
  })
  await request(groupA)
  // Group B's notBefore (whole seconds) at least 2 s after group A's: the gap the test's clock fits in.
  const lastA = Math.max(...[...proxy.certificates.values()].map((c) => c.notBefore.getTime()))
  while (Date.now() < lastA + 2000) await new Promise((r) => setTimeout(r, lastA + 2000 - Date.now()))
  await request(groupB)
  for (const c of await listAll(service)) before.set(c.name, c)
  const renewA = Math.max(...groupA.map((n) => Date.parse(before.get(n)!.renewAt!)))
  const renewB = Math.min(...groupB.map((n) => Date.parse(before.get(n)!.renewAt!)))
  expect(renewB - renewA).toBeGreaterThanOrEqual(2000)
  asOf = renewA + 1000
}, 300_000)

afterAll(async () => {
  await service?.stop()
  await proxy?.close()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('renewal by the cron pass, short-lived certificates', () => {
  it('schedules each certificate by the lifetime rule: 2/3 into its one-hour life', async () => {
    for (const name of [...groupA, ...groupB]) {
      const view = before.get(name)!
      const chain = await (await service.api(`/api/certificates/${name}/chain`)).text()
      const { notBefore, notAfter } = parseCertificate(chain)
      expect(notAfter.getTime() - notBefore.getTime()).toBeGreaterThanOrEqual((VALIDITY - 1) * 1000)
      expect(Date.parse(view.renewAt!)).toBe(
        Math.floor(notAfter.getTime() - (notAfter.getTime() - notBefore.getTime()) / 3),
      )
    }
  })

  it('a pass as of a time between the two groups renews the first group and nothing else', async () => {
    const serials = new Map(
      await Promise.all([...groupA, ...groupB].map(async (n) => [n, await serialOf(n)] as const)),
    )
    const ordersBefore = proxy.orders.size
    await service.cron(asOf)
    expect((await status()).lastPass).toMatchObject({ asOf, renewals: groupA.length, resumed: 0 })
    // The renewal runs go through the queue: wait until each of group A reports its renewal.
    const deadline = Date.now() + 120_000
    for (;;) {
      const views = await listAll(service)
      const renewed = views.filter((v) => groupA.includes(v.name) && v.renewals === 1)
      if (renewed.length === groupA.length) break
      if (Date.now() > deadline)
        throw new Error(`renewed ${renewed.length} of ${groupA.length}:\n${service.output().slice(-3000)}`)
      await new Promise((r) => setTimeout(r, 250))
    }
    for (const name of groupA) {
      expect(await serialOf(name), name).not.toBe(serials.get(name))
      const view = (await (await service.api(`/api/certificates/${name}`)).json()) as CertificateView
      expect(view).toMatchObject({ status: 'valid', renewals: 1 })
      // The new certificate is due 40 minutes after its own notBefore: after the pass's time.
      expect(Date.parse(view.renewAt!)).toBeGreaterThan(asOf)
    }
    for (const name of groupB) {
      expect(await serialOf(name), name).toBe(serials.get(name))
      expect(
        ((await (await service.api(`/api/certificates/${name}`)).json()) as CertificateView).renewals,
      ).toBe(0)
    }
    expect(proxy.orders.size - ordersBefore).toBe(groupA.length)
  })

  it('a second pass at the same time finds nothing due', async () => {
    const orders = proxy.orders.size
    await service.cron(asOf)
    expect((await status()).lastPass).toMatchObject({ asOf, renewals: 0, resumed: 0 })
    expect(proxy.orders.size).toBe(orders)
  })

  it('issued each certificate once per renewal: two finalized orders per name of the first group, one for the second', () => {
    const count = new Map<string, number>()
    for (const order of proxy.orders.values()) {
      if (order.finalizedAt !== undefined)
        count.set(order.identifiers.join(), (count.get(order.identifiers.join()) ?? 0) + 1)
    }
    for (const name of groupA) expect(count.get(name), name).toBe(2)
    for (const name of groupB) expect(count.get(name), name).toBe(1)
  })
})
