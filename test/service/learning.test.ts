/**
 * The CA's limits as the service counts them and learns them (issue 16, "The CA's limits as Let's Encrypt counts
 * them"), end to end through the service process against Pebble behind test/fixtures/rate-limit-proxy.ts.
 *
 * 1. Limits the service was not told about: the proxy enforces 15 pending authorizations and 30 new orders a minute,
 *    the service runs at its defaults (300 and 300 per 3 hours). 60 hostnames must all end valid, with no newOrder
 *    arriving inside the Retry-After of an earlier 429 (the issue measured 494 before this): a 429 pauses the
 *    account from the moment it arrives, new orders leave one at a time, the first after a pause is a probe, and the
 *    limit the 429 names is lowered to what was in flight.
 * 2. A limit the service was told about (per CA, through CA_LIMITS): two certificates per registered domain per
 *    week; the third job under the same registered domain waits with `waitingFor: { limit, until }` in its view
 *    instead of failing, and never reaches the CA.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RateLimitProxy, startRateLimitProxy } from '../fixtures/rate-limit-proxy.ts'
import { getTestCa } from '../harness/ca.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const RUN = Date.now().toString(36)
let pebble: Pebble
let proxy: RateLimitProxy
let service: ServiceProcess | undefined
let persist: string
let port: number
let caFile: string

beforeAll(async () => {
  const ca = await getTestCa()
  caFile = ca.caCertPath
  port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-learning-'))
  // Validations take Pebble's VA up to 2 s: authorizations stay pending long enough to press on the limit.
  pebble = await startPebble({
    http01: 'self',
    httpPort: port,
    authzReusePercent: 0,
    env: { PEBBLE_VA_NOSLEEP: '0', PEBBLE_VA_SLEEPTIME: '2' },
  })
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await proxy?.close()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('limits the service was not told about', () => {
  const names = Array.from({ length: 60 }, (_, i) => `r${i}-${RUN}.webacme.test`)
  let started = 0
  let finished = 0

  beforeAll(async () => {
    proxy = await startRateLimitProxy({
      pebble,
      pendingAuthorizations: 15,
      newOrders: { limit: 30, windowSeconds: 60 },
    })
    // At its defaults: only the terms agreed.
    service = await startService({
      port,
      persist: join(persist, 'learning'),
      directory: proxy.directoryUrl,
      token: `token-${RUN}-learning`,
      caFile,
      vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true' },
    })
    started = Date.now()
    for (const name of names) {
      const res = await service.api('/api/certificates', {
        method: 'POST',
        body: JSON.stringify({ identifiers: [name] }),
      })
      expect(res.status, await res.clone().text()).toBe(202)
    }
    await allValid(service, names, { deadline: Date.now() + 420_000 })
    finished = Date.now()
  }, 600_000)

  afterAll(async () => {
    await service?.stop()
    service = undefined
    await proxy?.close()
  })

  it('ends every hostname valid, one certificate each', () => {
    const valid = [...proxy.orders.values()].filter((o) => o.status === 'valid')
    expect(new Set(valid.flatMap((o) => o.identifiers))).toEqual(new Set(names))
    expect(proxy.pending()).toBe(0)
  })

  it('sends no newOrder inside the Retry-After of an earlier 429', () => {
    const inside = proxy.newOrders.filter((o) =>
      // Sent knowing of the 429: arrived once it was answered (those arriving earlier were already on their way).
      proxy.rateLimited.some(
        (r) =>
          r.account === o.account && o.at > (r.answeredAt ?? Number.POSITIVE_INFINITY) && o.at < r.retryAfter,
      ),
    )
    const refused = (reason: string) => proxy.rateLimited.filter((r) => r.reason === reason).length
    const created = proxy.newOrders.filter((o) => o.outcome === 'created').length
    console.log(
      `[learning e2e] ${names.length} hostnames in ${((finished - started) / 1000).toFixed(1)} s: ${created} orders placed, ${proxy.newOrders.length} newOrder requests, 429s: ${refused('pending-authorizations')} pending-authorizations + ${refused('new-orders')} new-orders; newOrder requests inside an earlier Retry-After: ${inside.length}`,
    )
    expect(inside).toEqual([])
  })

  it('left nothing waiting and nothing presented', async () => {
    const status = (await (await service!.api('/api/status')).json()) as Record<string, unknown>
    expect(status).toMatchObject({ presented: 0, challengeRecords: 0, pendingAuthorizations: 0, waiting: 0 })
  })
})

describe('limits the service was told about, per CA', () => {
  const domain = `d-${RUN}.webacme.test`
  const names = [`a.${domain}`, `b.${domain}`, `c.${domain}`]

  it('holds the third certificate of a registered domain with waitingFor, without asking the CA', async () => {
    proxy = await startRateLimitProxy({ pebble })
    service = await startService({
      port,
      persist: join(persist, 'told'),
      directory: proxy.directoryUrl,
      token: `token-${RUN}-told`,
      caFile,
      vars: {
        ACME_TERMS_OF_SERVICE_AGREED: 'true',
        CA_LIMITS: JSON.stringify({
          [proxy.directoryUrl]: { certificatesPerDomain: { limit: 2, windowSeconds: 7 * 24 * 3600 } },
        }),
      },
    })
    for (const name of names.slice(0, 2)) {
      const res = await service.api('/api/certificates', {
        method: 'POST',
        body: JSON.stringify({ identifiers: [name] }),
      })
      expect(res.status).toBe(202)
    }
    await allValid(service, names.slice(0, 2), { deadline: Date.now() + 120_000 })
    const before = Date.now()
    const res = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [names[2]] }),
    })
    expect(res.status).toBe(202)
    // Wait (on the API, each answer an event) until its run has been held back.
    let view: { status: string; waitingFor?: { limit: string; until?: string } } | undefined
    const deadline = Date.now() + 60_000
    while (Date.now() < deadline) {
      view = (await (await service.api(`/api/certificates/${names[2]}`)).json()) as typeof view
      if (view?.waitingFor) break
      await new Promise((r) => setTimeout(r, 200))
    }
    expect(view?.status).toBe('pending')
    expect(view?.waitingFor?.limit).toBe('certificates-per-domain')
    const until = Date.parse(view!.waitingFor!.until!)
    expect(until).toBeGreaterThan(before + 6 * 24 * 3600 * 1000)
    expect(proxy.newOrders.filter((o) => o.identifiers.includes(names[2]!))).toEqual([])
    await service.stop()
    service = undefined
  }, 240_000)
})
