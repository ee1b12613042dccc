/**
 * Webhooks end to end: a receiver in this test verifies every request with its own Standard Webhooks check
 * (node:crypto: HMAC-SHA256 under the base64-decoded `whsec_` secret over "id.timestamp.body"). It refuses (503)
 * while certificates are issued and one fails, the runtime is SIGKILLed with those deliveries pending (their queue
 * messages die with it), and after the restart every event is delivered: issued, failed, renewed (a cron pass as of
 * the certificates' expiry) and revoked, none lost; the deliveries route shows the refused attempts and the success.
 */
import { createHmac, timingSafeEqual } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getTestCa } from '../harness/ca.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { allValid, type ServiceOptions, type ServiceProcess, startService } from './service-process.ts'

const RUN = Date.now().toString(36)
let pebble: Pebble
let service: ServiceProcess
let options: ServiceOptions
let persist: string
let receiver: Server
let receiverUrl: string
let secret = ''
let accepting = false

interface Received {
  id: string
  type: string
  name: string
  status: number
  verified: boolean
}
const received: Received[] = []
const waiters = new Set<() => void>()

/** The Standard Webhooks check, written from the specification (not the service's code). */
function verify(headers: Record<string, string | string[] | undefined>, body: string): boolean {
  const id = headers['webhook-id']
  const timestamp = headers['webhook-timestamp']
  const signatures = headers['webhook-signature']
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false
  if (!/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64')
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest()
  return signatures.split(' ').some((entry) => {
    const [version, value] = entry.split(',')
    const got = Buffer.from(value ?? '', 'base64')
    return version === 'v1' && got.length === expected.length && timingSafeEqual(got, expected)
  })
}

async function until(what: string, done: () => boolean, deadline: number, poke?: () => Promise<void>) {
  while (!done()) {
    if (Date.now() > deadline) {
      const summary = new Map<string, number[]>()
      for (const r of received)
        summary.set(`${r.type} ${r.name}`, [...(summary.get(`${r.type} ${r.name}`) ?? []), r.status])
      const lines = [...summary].map(([k, v]) => `${k}: ${v.join(' ')}`).join('\n')
      const output = service
        .output()
        .replace(/^WEBACME_CRON .*\n/gm, '')
        .slice(-3000)
      throw new Error(`${what}: not by the deadline\n${lines}\n--- service ---\n${output}`)
    }
    if (poke) await poke()
    await new Promise<void>((resolve) => {
      const wake = () => {
        waiters.delete(wake)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(wake, 1000)
      waiters.add(wake)
    })
  }
}

beforeAll(async () => {
  receiver = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => {
      body += c.toString('utf8')
    })
    req.on('end', () => {
      const event = JSON.parse(body) as { type: string; data: { name: string } }
      const status = accepting ? 204 : 503
      received.push({
        id: String(req.headers['webhook-id']),
        type: event.type,
        name: event.data.name,
        status,
        verified: verify(req.headers, body),
      })
      res.writeHead(status).end()
      for (const wake of waiters) wake()
    })
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-webhooks-'))
  pebble = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
  options = {
    port,
    persist,
    directory: pebble.directoryUrl,
    token: `token-${RUN}-webhooks`,
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      LIMIT_REQUESTS_PER_SECOND: '1000',
      WEBHOOK_RETRY_BASE_SECONDS: '1',
    },
  }
  service = await startService(options)
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  await new Promise((r) => receiver?.close(r))
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('webhooks', () => {
  it('refuses what cannot be a webhook', async () => {
    const post = (body: unknown) =>
      service.api('/api/webhooks', { method: 'POST', body: JSON.stringify(body) })
    for (const body of [{}, { url: 'ftp://example.com/' }, { url: 'not a url' }]) {
      const res = await post(body)
      expect(res.status).toBe(400)
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_INVALID_URL')
    }
    const res = await post({ url: receiverUrl, events: ['certificate.exploded'] })
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('ERR_INVALID_EVENTS')
  })

  it('delivers every event at least once, through a SIGKILL of the runtime', async () => {
    const created = await service.api('/api/webhooks', {
      method: 'POST',
      body: JSON.stringify({ url: receiverUrl }),
    })
    expect(created.status).toBe(201)
    const webhook = (await created.json()) as { id: string; secret: string; events: string[] }
    secret = webhook.secret
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/)
    expect(Buffer.from(secret.slice(6), 'base64').length).toBeGreaterThanOrEqual(24)
    const listed = await (await service.api('/api/webhooks')).text()
    expect(listed).toContain(webhook.id)
    expect(listed).not.toContain(secret)

    const names = [1, 2, 3].map((i) => `hook${i}-${RUN}.webacme.test`)
    const unreachable = `unreachable-${RUN}`
    for (const name of names) {
      await service.api('/api/certificates', {
        method: 'POST',
        body: JSON.stringify({ identifiers: [name] }),
      })
    }
    // Pebble cannot reach 127.0.0.2 for http-01: this one fails for good.
    await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: ['127.0.0.2'], name: unreachable }),
    })
    await allValid(service, names, { deadline: Date.now() + 90_000 })
    const key = (r: Pick<Received, 'type' | 'name'>) => `${r.type} ${r.name}`
    const before = [...names.map((name) => `certificate.issued ${name}`), `certificate.failed ${unreachable}`]
    // Every event tried and refused at least once, one of them twice (the queue's retry).
    await until(
      'first attempts',
      () =>
        before.every((k) => received.some((r) => key(r) === k)) &&
        received.some((r) => received.filter((s) => s.id === r.id).length >= 2),
      Date.now() + 90_000,
    )
    expect(received.every((r) => r.status === 503)).toBe(true)

    // SIGKILL with deliveries pending (their next attempts sit in the queue, in memory), then the receiver recovers.
    await service.kill()
    accepting = true
    service = await startService(options)

    // Renew (a cron pass as of the expiry: it also resends the pending deliveries), then revoke one.
    const notAfter = (
      (await (await service.api(`/api/certificates/${names[0]}`)).json()) as { notAfter: string }
    ).notAfter
    await service.cron(Date.parse(notAfter))
    // The renewals first: a job deleted while its renewal runs is fenced off, and that renewal never happens.
    await until(
      'renewals',
      () => names.every((n) => received.some((r) => r.type === 'certificate.renewed' && r.name === n)),
      Date.now() + 120_000,
    )
    const revoked = await service.api(`/api/certificates/${names[2]}?revoke=true`, { method: 'DELETE' })
    expect(revoked.status).toBe(200)

    const expected = [
      ...before,
      ...names.map((name) => `certificate.renewed ${name}`),
      `certificate.revoked ${names[2]}`,
    ]
    const delivered = () => new Set(received.filter((r) => r.status === 204).map(key))
    await until(
      'every event delivered',
      () => expected.every((k) => delivered().has(k)),
      Date.now() + 120_000,
      () => service.cron(),
    )
    expect(received.every((r) => r.verified)).toBe(true)
    expect([...delivered()].sort()).toEqual([...expected].sort())
    // One message id per event: retries and re-sends keep it, so a receiver can deduplicate.
    for (const k of expected) {
      expect(new Set(received.filter((r) => key(r) === k).map((r) => r.id)).size, k).toBe(1)
    }

    const { deliveries } = (await (await service.api(`/api/webhooks/${webhook.id}/deliveries`)).json()) as {
      deliveries: Array<{ id: string; type: string; status: string; attempts: Array<{ status?: number }> }>
    }
    const first = deliveries.find((d) => d.type === 'certificate.issued')!
    expect(first.status).toBe('delivered')
    expect(first.attempts[0]!.status).toBe(503)
    expect(first.attempts.at(-1)!.status).toBe(204)
    expect(deliveries.filter((d) => d.status === 'delivered')).toHaveLength(expected.length)
  }, 300_000)
})
