/**
 * The certificate service end to end (issue #9, "Proof"): 300 hostnames requested through the API of the service
 * as `npm run service` runs it (workerd through Miniflare, the bindings of /wrangler.toml), against a real Pebble
 * behind the rate-limit proxy (test/fixtures/rate-limit-proxy.ts, here recording every request and answering every
 * 41st newOrder with `429 rateLimited` + `Retry-After` as a loaded CA may). The whole runtime is SIGKILLed by process
 * group once 100 orders are finalized, and started again on its persisted state.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { splitPemChain } from '../../src/pkix/chain.ts'
import { type RateLimitProxy, type RequestRecord, startRateLimitProxy } from '../fixtures/rate-limit-proxy.ts'
import { getTestCa } from '../harness/ca.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const COUNT = 300
const KILL_AFTER_FINALIZED = 100
const CONCURRENCY = 25
const RUN = Date.now().toString(36)
const names = Array.from({ length: COUNT }, (_, i) => `h${i}-${RUN}.webacme.test`)

let pebble: Pebble
let proxy: RateLimitProxy
let service: ServiceProcess
let persist: string
let port: number
const token = `token-${RUN}-0123456789`

/** What the run saw, for the assertions. */
const run = {
  killedAt: 0,
  restartedAt: 0,
  /** Orders created and not yet valid at the kill: the runs in flight. */
  inFlight: [] as Array<{ url: string; identifiers: string[]; finalized: boolean }>,
}

beforeAll(async () => {
  const ca = await getTestCa()
  port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-e2e-'))
  // Pebble's VA dials the service's own port for http-01; no authorization reuse, so every name is validated.
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  proxy = await startRateLimitProxy({ pebble, extraRateLimits: { every: 41, retryAfter: 3 } })
  const options = {
    port,
    persist,
    directory: proxy.directoryUrl,
    token,
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      CONSUMER_CONCURRENCY: String(CONCURRENCY),
      LIMIT_NEW_ORDERS: '5000',
      LIMIT_REQUESTS_PER_SECOND: '1000',
    },
  }
  service = await startService(options)

  // 300 hostnames through the API.
  for (let i = 0; i < names.length; i += 25) {
    await Promise.all(
      names.slice(i, i + 25).map(async (name) => {
        const res = await service.api('/api/certificates', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ identifiers: [name], challenge: 'http-01' }),
        })
        expect(res.status, await res.clone().text()).toBe(202)
        expect(await res.json()).toEqual({ name, status: 'pending' })
      }),
    )
  }

  // The kill: the moment the proxy has answered the 100th successful finalize.
  await new Promise<void>((resolve) => {
    const onResponse = (r: RequestRecord) => {
      if (r.kind !== 'finalize' || r.status !== 200) return
      if ([...proxy.orders.values()].filter((o) => o.finalizedAt !== undefined).length < KILL_AFTER_FINALIZED)
        return
      proxy.events.off('response', onResponse)
      resolve()
    }
    proxy.events.on('response', onResponse)
  })
  await service.kill()
  run.killedAt = Date.now()
  run.inFlight = [...proxy.orders.values()]
    .filter((o) => o.status !== 'valid')
    .map((o) => ({ url: o.url, identifiers: o.identifiers, finalized: o.finalizedAt !== undefined }))

  // The same runtime again, on the persisted state (queue messages are gone: the cron pass at start re-enqueues).
  service = await startService(options)
  run.restartedAt = Date.now()
  await allValid(service, names, { deadline: Date.now() + 240_000 })
}, 420_000)

afterAll(async () => {
  await service?.stop()
  await proxy?.close()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('300 hostnames, the runtime SIGKILLed mid-run', () => {
  it('killed the whole runtime mid-run, with orders in flight', () => {
    const finalizedBefore = [...proxy.orders.values()].filter(
      (o) => o.finalizedAt !== undefined && o.finalizedAt <= run.killedAt,
    )
    expect(finalizedBefore.length).toBeGreaterThanOrEqual(KILL_AFTER_FINALIZED)
    expect(finalizedBefore.length).toBeLessThan(COUNT)
    expect(run.inFlight.length).toBeGreaterThan(0)
  })

  it('ends with all 300 valid, each chain stored and served: the certificate for its name', async () => {
    const downloaded = new Set([...proxy.certificates.values()].map((c) => c.serialHex))
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names.slice(i, i + 50).map(async (name) => {
          const res = await service.api(`/api/certificates/${name}/chain`)
          expect(res.status).toBe(200)
          expect(res.headers.get('content-type')).toBe('application/pem-certificate-chain')
          const chain = splitPemChain(await res.text())
          expect(chain.length).toBeGreaterThanOrEqual(2)
          const leaf = parseCertificate(chain[0]!)
          expect(leaf.dnsNames).toEqual([name])
          expect(downloaded.has(leaf.serialNumber.replace(/^(00)+(?=.)/, ''))).toBe(true)
          const view = (await (await service.api(`/api/certificates/${name}`)).json()) as Record<
            string,
            unknown
          >
          expect(view).toMatchObject({ name, status: 'valid', notAfter: leaf.notAfter.toISOString() })
          expect(Date.parse(String(view.renewAt))).toBeLessThan(leaf.notAfter.getTime())
        }),
      )
    }
  })

  it('issued no certificate twice: one finalized order per name', () => {
    const finalized = new Map<string, number>()
    for (const order of proxy.orders.values()) {
      if (order.finalizedAt === undefined) continue
      const key = order.identifiers.join()
      finalized.set(key, (finalized.get(key) ?? 0) + 1)
    }
    expect([...finalized.entries()].filter(([, n]) => n > 1)).toEqual([])
    expect(finalized.size).toBe(COUNT)
  })

  it('abandoned no order except some in flight at the kill; every finalized one was resumed by its URL', () => {
    const valid = [...proxy.orders.values()].filter((o) => o.status === 'valid')
    expect(valid).toHaveLength(COUNT)
    const abandoned = [...proxy.orders.values()].filter((o) => o.status !== 'valid').map((o) => o.url)
    const inFlight = new Set(run.inFlight.map((o) => o.url))
    expect(abandoned.filter((url) => !inFlight.has(url))).toEqual([])
    // A finalized order can only be completed with the key stored before its finalize: it was, and it was.
    for (const order of run.inFlight.filter((o) => o.finalized)) {
      expect(proxy.orders.get(order.url)?.status, order.url).toBe('valid')
    }
    // Every in-flight run that had recorded its order resumed that order instead of placing another one.
    const resumed = run.inFlight.filter((o) => proxy.orders.get(o.url)?.status === 'valid')
    const replaced = run.inFlight.length - resumed.length
    console.log(
      `[service e2e] in flight at the kill: ${run.inFlight.length} orders (${run.inFlight.filter((o) => o.finalized).length} finalized); resumed by URL: ${resumed.length}; replaced: ${replaced}`,
    )
    expect(resumed.length).toBeGreaterThan(0)
  })

  it('left no challenge record and no presented challenge behind', async () => {
    const status = (await (await service.api('/api/status')).json()) as {
      jobs: Record<string, number>
      presented: number
      challengeRecords: number
      pendingAuthorizations: number
    }
    expect(status).toMatchObject({
      jobs: { pending: 0, processing: 0, valid: COUNT, failed: 0 },
      presented: 0,
      challengeRecords: 0,
      pendingAuthorizations: 0,
    })
  })

  it('honoured every Retry-After: no newOrder for the same names before it, and the account paused', () => {
    expect(proxy.rateLimited.length).toBeGreaterThan(0)
    for (const limited of proxy.rateLimited) {
      const again = proxy.newOrders.find(
        (o) => o.at > limited.at && o.identifiers.join() === limited.identifiers.join(),
      )
      expect(again, `no new order after the 429 for ${limited.identifiers.join()}`).toBeDefined()
      expect(again!.at).toBeGreaterThanOrEqual(limited.retryAfter)
      // Runs granted before the service heard of the 429 may still have been on their way: at most the batch's
      // concurrency of them.
      const during = proxy.newOrders.filter((o) => o.at > limited.at && o.at < limited.retryAfter)
      expect(during.length).toBeLessThanOrEqual(CONCURRENCY)
    }
  })

  it('refuses the API without the token, and says nothing about what exists', async () => {
    const existing = `/api/certificates/${names[0]}`
    const missing = '/api/certificates/never-requested.webacme.test'
    for (const path of ['/api/certificates', existing, missing, `${existing}/chain`, '/api/status']) {
      for (const authorization of [
        undefined,
        'Bearer wrong-token',
        `Bearer ${token}x`,
        'Basic Zm9vOmJhcg==',
        `bearer${token}`,
      ]) {
        const res = await fetch(`${service.url}${path}`, { headers: authorization ? { authorization } : {} })
        expect(res.status, `${path} with ${authorization}`).toBe(401)
        expect(res.headers.get('www-authenticate')).toBe('Bearer realm="webacme"')
        expect(await res.json()).toEqual({
          error: { code: 'ERR_UNAUTHORIZED', message: 'missing or wrong bearer token' },
        })
      }
    }
    const post = await fetch(`${service.url}/api/certificates`, { method: 'POST', body: '{}' })
    expect(post.status).toBe(401)
    expect((await service.api(missing)).status).toBe(404)
  })

  it('answered the CA’s http-01 requests only while a token was presented', async () => {
    const res = await fetch(`${service.url}/.well-known/acme-challenge/${'x'.repeat(43)}`)
    expect(res.status).toBe(404)
    const requests = proxy.requests.filter((r) => r.kind === 'newOrder')
    console.log(
      `[service e2e] ${COUNT} certificates; requests to the CA: ${proxy.requests.length} (${(proxy.requests.length / COUNT).toFixed(2)} per certificate), newOrder attempts: ${requests.length}, 429s: ${proxy.rateLimited.length}; kill → restart ${run.restartedAt - run.killedAt} ms`,
    )
  })
})
