/**
 * The certificate service when its CA stops answering (issue #19 item 5): the real Pebble behind the fault proxy
 * (test/fixtures/fault-proxy.ts), which, while the CA is "down", resets every connection before anything reaches
 * Pebble. Nothing here is timed; every step waits for what the API or the proxy reports.
 *
 * - The jobs wait: none is failed or dead-lettered (a failure the CA caused does not count against a job's attempts,
 *   and a message is handed to the cron pass before the queue's `max_retries` would dead-letter it), and each says
 *   why on the API (`ERR_CA_UNAVAILABLE`).
 * - The isolate's circuit breaker, shared by every batch, opens: the CA sees its threshold of unanswered attempts
 *   plus the ones already on their way and one probe per cool-down, not a run of retries per job and per delivery.
 * - Once the CA answers again, a cron pass brings every job to valid.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.ts'
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
/** The breaker's defaults (`CircuitBreaker`): 10 unanswered attempts open it, a probe every 30 s. */
const THRESHOLD = 10
const COOL_DOWN_MS = 30_000
let pebble: Pebble
let proxy: FaultProxy
let service: ServiceProcess
let persist: string

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-dead-ca-'))
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  proxy = await startFaultProxy({ pebble, percent: 0 })
  service = await startService({
    port,
    persist,
    directory: proxy.directoryUrl,
    token: `token-${RUN}-dead-ca`,
    caFile: ca.caCertPath,
    vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true', LIMIT_REQUESTS_PER_SECOND: '1000' },
  })
}, 180_000)

afterAll(async () => {
  await service?.stop()
  await proxy?.close()
  await pebble?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

const post = async (name: string) => {
  const res = await service.api('/api/certificates', {
    method: 'POST',
    body: JSON.stringify({ identifiers: [name] }),
  })
  expect(res.status, await res.clone().text()).toBe(202)
}

describe('the service with a CA that stops answering', () => {
  const names = Array.from({ length: 5 }, (_, i) => `down${i}-${RUN}.webacme.test`)

  it('keeps the jobs waiting, says why, sends little, and issues them all once the CA answers', async () => {
    // The account exists and one certificate was issued while the CA answered.
    const first = `up-${RUN}.webacme.test`
    await post(first)
    await allValid(service, [first], { deadline: Date.now() + 120_000 })

    proxy.configure({ percent: 100, kinds: ['reset-before'] })
    proxy.reset()
    const downSince = Date.now()
    for (const name of names) await post(name)

    // Each job records that the CA is unavailable: the breaker opened and the runs fail fast on it.
    let jobs: CertificateView[] = []
    const deadline = Date.now() + 240_000
    for (;;) {
      jobs = (await listAll(service)).filter((c) => names.includes(c.name))
      expect(jobs.filter((c) => c.status === 'failed')).toEqual([])
      if (jobs.length === names.length && jobs.every((c) => c.error?.code === 'ERR_CA_UNAVAILABLE')) break
      if (Date.now() > deadline) {
        throw new Error(
          `the jobs do not say the CA is unavailable: ${JSON.stringify(jobs)}\n--- service ---\n${service.output().slice(-3000)}`,
        )
      }
      await new Promise((r) => setTimeout(r, 250))
    }
    const downMs = Date.now() - downSince
    const reached = proxy.stats().requests
    expect(jobs.map((c) => c.status)).toEqual(names.map(() => 'pending'))
    // The threshold, the attempts already on their way when it opened (the batch's session and one run per job),
    // and at most one probe per cool-down since the CA went down.
    const bound = THRESHOLD + 1 + names.length + Math.ceil(downMs / COOL_DOWN_MS)
    expect(reached).toBeLessThanOrEqual(bound)
    expect(proxy.stats().faults['reset-before']).toBe(reached)

    // The CA answers again: the next cron pass re-enqueues the waiting jobs, and the breaker's probe closes it.
    proxy.configure({ percent: 0 })
    await service.cron()
    const valid = await allValid(service, names, { deadline: Date.now() + 240_000 })
    expect(valid.map((c) => c.status)).toEqual(names.map(() => 'valid'))
    console.log(
      `[service dead CA] ${names.length} jobs waited ${Math.round(downMs / 1000)} s with ERR_CA_UNAVAILABLE; ` +
        `requests that reached the dead CA: ${reached} (bound ${bound}); all valid after it came back`,
    )
  }, 600_000)
})
