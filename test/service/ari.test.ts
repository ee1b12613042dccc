/**
 * Renewal with ACME Renewal Information (RFC 9773) through the service: Pebble 2.4 behind the ARI fixture
 * (test/fixtures/ari-proxy.ts), which answers `renewalInfo` with the windows the test sets. A fresh certificate is due
 * for an ARI check at once; the cron pass enqueues the checks, the consumer's renewDue asks the CA, renews the one
 * whose window has passed (its order carrying `replaces`), and schedules the other inside its window.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { certId } from '../../src/renewal/cert-id.ts'
import { type AriProxy, startAriProxy } from '../fixtures/ari-proxy.ts'
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

const RUN = Date.now().toString(36)
const due = `ari-due-${RUN}.webacme.test`
const later = `ari-later-${RUN}.webacme.test`
const HOUR = 3600_000
const DAY = 24 * HOUR

let pebble: Pebble
let proxy: AriProxy
let service: ServiceProcess
let persist: string

const chain = async (name: string) => (await service.api(`/api/certificates/${name}/chain`)).text()
const view = async (name: string) =>
  (await (await service.api(`/api/certificates/${name}`)).json()) as CertificateView

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-ari-'))
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  proxy = await startAriProxy({ pebble, profiles: false })
  service = await startService({
    port,
    persist,
    directory: proxy.directoryUrl,
    token: `token-${RUN}-ari`,
    caFile: ca.caCertPath,
    vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true', RENEWAL_LOOKAHEAD_SECONDS: '0' },
  })
  for (const name of [due, later]) {
    await service.api('/api/certificates', { method: 'POST', body: JSON.stringify({ identifiers: [name] }) })
  }
  await allValid(service, [due, later], { deadline: Date.now() + 60_000 })
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await proxy?.close()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('renewal by ARI through the cron pass', () => {
  it('renews the certificate whose window has passed, with replaces, and schedules the other inside its window', async () => {
    const dueId = certId(await chain(due))
    const laterId = certId(await chain(later))
    const now = Date.now()
    proxy.setRenewalInfo(dueId, { start: new Date(now - 2 * HOUR), end: new Date(now - HOUR) })
    proxy.setRenewalInfo(laterId, {
      start: new Date(now + 10 * DAY),
      end: new Date(now + 11 * DAY),
      explanationURL: 'https://ca.test/why',
    })
    const lifetimeRenewAt = (await view(later)).renewAt
    await service.cron()
    const status = (await (await service.api('/api/status')).json()) as { lastPass: { renewals: number } }
    // A fresh certificate is due for a renewal-information check at once (RFC 9773 §4.3).
    expect(status.lastPass.renewals).toBe(2)
    const deadline = Date.now() + 60_000
    for (;;) {
      const views = await listAll(service)
      const d = views.find((v) => v.name === due)!
      const l = views.find((v) => v.name === later)!
      if (d.renewals === 1 && l.renewAt !== lifetimeRenewAt) break
      if (Date.now() > deadline) throw new Error(`not renewed/scheduled in time: ${JSON.stringify(views)}`)
      await new Promise((r) => setTimeout(r, 250))
    }
    expect(certId(await chain(due))).not.toBe(dueId)
    expect(proxy.newOrders.at(-1)).toMatchObject({ replaces: dueId, outcome: 'created' })
    expect(proxy.renewalInfoRequests).toEqual(expect.arrayContaining([dueId, laterId]))
    const scheduled = await view(later)
    expect(scheduled.renewals).toBe(0)
    expect(Date.parse(scheduled.renewAt!)).toBeGreaterThanOrEqual(now + 10 * DAY)
    expect(Date.parse(scheduled.renewAt!)).toBeLessThanOrEqual(now + 11 * DAY)
    expect(certId(await chain(later))).toBe(laterId)
  })

  it('a second pass right after finds nothing to check or renew (the next checks follow the CA’s Retry-After)', async () => {
    await service.cron()
    const status = (await (await service.api('/api/status')).json()) as { lastPass: { renewals: number } }
    expect(status.lastPass.renewals).toBe(0)
  })
})
