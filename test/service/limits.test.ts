/**
 * The service under a CA's rate limits (issue #9, "Limits"): 300 hostnames (100 certificates of 3 names each, so the
 * pending authorizations add up) through the API, with Pebble behind the rate-limit proxy enforcing, as Let's
 * Encrypt does, 50 pending authorizations per account and 20 new orders per 10 s window with `429 rateLimited` +
 * `Retry-After`, and answering every 23rd newOrder with a 429 besides; its VA takes up to 2 s per validation. The
 * service is given the CA's limits; it must pace itself under them (the proxy measures the demand of every newOrder,
 * refused or not), honour every 429, and still finish every hostname.
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

const PENDING = 50
const ORDERS = { limit: 20, windowSeconds: 10 }
const CONCURRENCY = 25
const RUN = Date.now().toString(36)
const certificates = Array.from({ length: 100 }, (_, i) => ({
  name: `l${i}-${RUN}.webacme.test`,
  identifiers: [
    `l${i}-${RUN}.webacme.test`,
    `www.l${i}-${RUN}.webacme.test`,
    `api.l${i}-${RUN}.webacme.test`,
  ],
}))

let pebble: Pebble
let proxy: RateLimitProxy
let service: ServiceProcess
let persist: string
let started = 0
let finished = 0

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-limits-'))
  // Validations take Pebble's VA up to 2 s (its random sleep, off elsewhere in the tests): authorizations stay
  // pending long enough for 25 concurrent runs of 3 names each to press on the pending-authorization limit.
  pebble = await startPebble({
    http01: 'self',
    httpPort: port,
    authzReusePercent: 0,
    env: { PEBBLE_VA_NOSLEEP: '0', PEBBLE_VA_SLEEPTIME: '2' },
  })
  proxy = await startRateLimitProxy({
    pebble,
    pendingAuthorizations: PENDING,
    newOrders: ORDERS,
    extraRateLimits: { every: 23, retryAfter: 2 },
  })
  service = await startService({
    port,
    persist,
    directory: proxy.directoryUrl,
    token: `token-${RUN}-limits`,
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      CONSUMER_CONCURRENCY: String(CONCURRENCY),
      LIMIT_PENDING_AUTHORIZATIONS: String(PENDING),
      LIMIT_NEW_ORDERS: String(ORDERS.limit),
      LIMIT_NEW_ORDERS_WINDOW_SECONDS: String(ORDERS.windowSeconds),
      LIMIT_REQUESTS_PER_SECOND: '1000',
    },
  })
  started = Date.now()
  for (const { name, identifiers } of certificates) {
    const res = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ name, identifiers, challenge: 'http-01' }),
    })
    expect(res.status, await res.clone().text()).toBe(202)
  }
  await allValid(
    service,
    certificates.map((c) => c.name),
    { deadline: Date.now() + 300_000 },
  )
  finished = Date.now()
}, 420_000)

afterAll(async () => {
  await service?.stop()
  await proxy?.close()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('300 hostnames under Let’s Encrypt-style limits', () => {
  it('finished every hostname, one certificate each', () => {
    const valid = [...proxy.orders.values()].filter((o) => o.status === 'valid')
    expect(valid).toHaveLength(certificates.length)
    expect(new Set(valid.flatMap((o) => o.identifiers)).size).toBe(300)
    expect([...proxy.orders.values()].filter((o) => o.finalizedAt !== undefined)).toHaveLength(
      certificates.length,
    )
  })

  it('never asked for more pending authorizations than the limit', () => {
    const peak = Math.max(...proxy.newOrders.map((o) => o.pendingDemand))
    expect(peak).toBeLessThanOrEqual(PENDING)
    expect(proxy.rateLimited.filter((r) => r.reason === 'pending-authorizations')).toEqual([])
    console.log(`[limits e2e] peak pending-authorization demand ${peak} (limit ${PENDING})`)
  })

  it('kept new orders within the window, but for runs already on their way', () => {
    const peak = Math.max(
      ...proxy.newOrders.filter((o) => o.outcome !== 'rate-limited').map((o) => o.windowDemand),
    )
    expect(peak).toBeLessThanOrEqual(ORDERS.limit)
    const demand = Math.max(...proxy.newOrders.map((o) => o.windowDemand))
    // The service counts an order when it grants the run; the CA when the request arrives a moment later.
    expect(demand).toBeLessThanOrEqual(ORDERS.limit + CONCURRENCY)
    const elapsed = (finished - started) / 1000
    const windows = Math.ceil(certificates.length / ORDERS.limit) - 1
    console.log(
      `[limits e2e] ${certificates.length} orders in ${elapsed.toFixed(1)} s (the window allows ${ORDERS.limit} per ${ORDERS.windowSeconds} s: at least ${windows * ORDERS.windowSeconds} s); peak window demand ${demand}; 429s: ${proxy.rateLimited.map((r) => r.reason).join(', ')}`,
    )
  })

  it('honoured every 429: that certificate not before its Retry-After, the account held back at once', () => {
    expect(proxy.rateLimited.length).toBeGreaterThan(0)
    for (const limited of proxy.rateLimited) {
      const again = proxy.newOrders.find(
        (o) => o.at > limited.at && o.identifiers.join() === limited.identifiers.join(),
      )
      expect(again).toBeDefined()
      expect(again!.at).toBeGreaterThanOrEqual(limited.retryAfter)
      const during = proxy.newOrders.filter((o) => o.at > limited.at && o.at < limited.retryAfter)
      expect(during.length).toBeLessThanOrEqual(CONCURRENCY)
    }
  })

  it('left nothing behind: no pending authorization at the CA, no challenge record', async () => {
    expect(proxy.pending()).toBe(0)
    const status = (await (await service.api('/api/status')).json()) as Record<string, unknown>
    expect(status).toMatchObject({ presented: 0, challengeRecords: 0, pendingAuthorizations: 0, waiting: 0 })
  })
})
