/**
 * Webhooks: certificate events POSTed to the operator's URLs, signed as the Standard Webhooks specification says
 * (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under
 * the base64-decoded `whsec_` secret), so existing verifier libraries accept them.
 *
 * At least once: an event is written to R2 (one record per webhook, keyed by a message id derived from the event,
 * so writing it again after a crash changes nothing) before the job that caused it is marked done, then sent through
 * the webhooks queue. A failed attempt is retried with jittered exponential backoff (capped at an hour) for
 * `WEBHOOK_RETRY_HOURS` (26 by default); queue messages do not survive everything, so every cron pass re-sends the
 * deliveries that are overdue. Receivers deduplicate by `webhook-id`.
 *
 * @see https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
 */
import type { CertificateRecord } from 'webacme'
import type { JobRecord } from 'webacme/cloudflare'
import type { Env, WebhookMessage } from '../env.ts'
import { base64, problem, randomId, serviceStorage, sha256Hex } from './store.ts'

/** The events a webhook can ask for. */
export const EVENTS = [
  'certificate.issued',
  'certificate.renewed',
  'certificate.failed',
  'certificate.revoked',
] as const
export type WebhookEvent = (typeof EVENTS)[number]

/** `webhooks/<id>`. */
interface Webhook {
  id: string
  url: string
  events: WebhookEvent[]
  /** `whsec_<base64>`, sealed at rest like every record here. */
  secret: string
  createdAt: string
}

/** One attempt of a delivery. */
interface Attempt {
  at: string
  /** The receiver's HTTP status, when it answered. */
  status?: number
  error?: string
  durationMs: number
}

/** `webhook-deliveries/<webhook>/<message id>`. */
interface Delivery {
  id: string
  webhook: string
  type: WebhookEvent
  /** The exact body sent (and signed). */
  body: string
  status: 'pending' | 'delivered' | 'failed' | 'cancelled'
  attempts: Attempt[]
  createdAt: string
  nextAttemptAt?: string
  deliveredAt?: string
}

/** The webhooks queue's name, as in /wrangler.toml. */
export const WEBHOOK_QUEUE = 'webacme-webhooks'

const MAX_WEBHOOKS = 20
const MAX_ATTEMPTS_KEPT = 50
const ATTEMPT_TIMEOUT_MS = 15_000
const BACKOFF_CAP_SECONDS = 3600

const webhookKey = (id: string) => `webhooks/${id}`
const deliveryKey = (webhook: string, message: string) => `webhook-deliveries/${webhook}/${message}`
const pendingKey = (webhook: string, message: string) => `webhook-pending/${webhook}.${message}`

function settings(env: Env) {
  const number = (value: string | undefined, fallback: number) => {
    const n = Number(value)
    return value !== undefined && value.trim() !== '' && Number.isFinite(n) && n > 0 ? n : fallback
  }
  return {
    baseSeconds: number(env.WEBHOOK_RETRY_BASE_SECONDS, 5),
    retryForMs: number(env.WEBHOOK_RETRY_HOURS, 26) * 3_600_000,
    allowLocal: env.WEBHOOK_ALLOW_LOCAL === 'true',
  }
}

/** Why a URL cannot be a webhook (deployed: https on a public address), or `undefined`. */
export function webhookUrlProblem(value: unknown, allowLocal: boolean): string | undefined {
  if (typeof value !== 'string' || value.length > 2048) return 'url must be a URL of at most 2048 characters'
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return 'url is not a URL'
  }
  if (url.protocol !== 'https:' && !(allowLocal && url.protocol === 'http:')) {
    return allowLocal ? 'url must be http: or https:' : 'url must be https:'
  }
  if (allowLocal) return undefined
  const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '')
  if (host === 'localhost' || host.endsWith('.localhost') || (!host.includes('.') && !host.includes(':'))) {
    return `url must name a public host, not ${host}`
  }
  if (isNonPublicAddress(host)) return `url must be on a public address, not ${host}`
  return undefined
}

function isNonPublicAddress(host: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host)
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])]
    return (
      a === 0 ||
      a === 10 ||
      a === 127 ||
      (a === 100 && b >= 64 && b <= 127) ||
      (a === 169 && b === 254) ||
      (a === 172 && b >= 16 && b <= 31) ||
      (a === 192 && b === 168) ||
      a >= 224
    )
  }
  if (host.includes(':')) {
    return (
      host === '::' ||
      host === '::1' ||
      /^(fc|fd|fe8|fe9|fea|feb|ff)/.test(host) ||
      host.startsWith('::ffff:')
    )
  }
  return false
}

/** `POST /api/webhooks { url, events? }` → `201 { id, url, events, secret }` (the secret is shown once). */
export async function createWebhook(env: Env, body: unknown): Promise<Response> {
  const input = (body ?? {}) as { url?: unknown; events?: unknown }
  const why = webhookUrlProblem(input.url, settings(env).allowLocal)
  if (why) return problem(400, 'ERR_INVALID_URL', why)
  const events = input.events ?? [...EVENTS]
  if (
    !Array.isArray(events) ||
    events.length === 0 ||
    !events.every((e) => (EVENTS as readonly unknown[]).includes(e))
  ) {
    return problem(400, 'ERR_INVALID_EVENTS', `events must be a non-empty list of ${EVENTS.join(', ')}`)
  }
  const storage = await serviceStorage(env)
  if ((await storage.list('webhooks/')).length >= MAX_WEBHOOKS) {
    return problem(409, 'ERR_TOO_MANY_WEBHOOKS', `at most ${MAX_WEBHOOKS} webhooks`)
  }
  const webhook: Webhook = {
    id: randomId('wh_'),
    url: input.url as string,
    events: [...new Set(events as WebhookEvent[])],
    // Standard Webhooks: 24 to 64 random bytes, base64, prefixed with whsec_.
    secret: `whsec_${base64(crypto.getRandomValues(new Uint8Array(32)))}`,
    createdAt: new Date().toISOString(),
  }
  await storage.put(webhookKey(webhook.id), webhook)
  registered = undefined
  return Response.json(webhook, { status: 201 })
}

/**
 * How long the consumer's `notify` works from the webhooks it read (ms): a list and a read per webhook on every event
 * are most of an event's cost. A webhook added or removed through this isolate counts at once; through another
 * isolate, from its next read. The API's own list reads every time.
 */
const REGISTERED_TTL_MS = 5_000
let registered: { bucket: R2Bucket; at: number; webhooks: Promise<Webhook[]> } | undefined

async function webhooks(env: Env, fresh = true): Promise<Webhook[]> {
  const now = Date.now()
  if (!fresh && registered?.bucket === env.CERTIFICATES && now - registered.at < REGISTERED_TTL_MS) {
    return registered.webhooks
  }
  const read = (async () => {
    const storage = await serviceStorage(env)
    const keys = await storage.list('webhooks/')
    const found = await Promise.all(keys.map((k) => storage.get(k) as Promise<Webhook | undefined>))
    return found.filter((w): w is Webhook => w !== undefined)
  })()
  registered = { bucket: env.CERTIFICATES, at: now, webhooks: read }
  read.catch(() => {
    if (registered?.webhooks === read) registered = undefined
  })
  return read
}

/** `GET /api/webhooks`: every webhook, without its secret. */
export async function listWebhooks(env: Env): Promise<Response> {
  return Response.json({
    webhooks: (await webhooks(env)).map(({ secret: _, ...rest }) => rest),
  })
}

/** `DELETE /api/webhooks/:id`: no more events; its pending deliveries are cancelled. */
export async function deleteWebhook(env: Env, id: string): Promise<Response> {
  const storage = await serviceStorage(env)
  if (!(await storage.get(webhookKey(id)))) return problem(404, 'ERR_NOT_FOUND', `no webhook ${id}`)
  await storage.delete(webhookKey(id))
  registered = undefined
  return Response.json({ id, deleted: true })
}

/** `GET /api/webhooks/:id/deliveries`: each event sent to it, with its attempts and outcome, oldest first. */
export async function listDeliveries(env: Env, id: string): Promise<Response> {
  const storage = await serviceStorage(env)
  if (!(await storage.get(webhookKey(id)))) return problem(404, 'ERR_NOT_FOUND', `no webhook ${id}`)
  const keys = await storage.list(`webhook-deliveries/${id}/`)
  const found = (await Promise.all(keys.map((k) => storage.get(k) as Promise<Delivery | undefined>))).filter(
    (d): d is Delivery => d !== undefined,
  )
  found.sort((a, b) => a.createdAt.localeCompare(b.createdAt))
  return Response.json({
    deliveries: found.map(({ body, ...rest }) => ({
      ...rest,
      event: JSON.parse(body) as unknown,
    })),
  })
}

/**
 * Records `type` for every webhook that asked for it and sends each to the webhooks queue. Idempotent: the message id
 * is derived from the webhook, the event, the job and the certificate's serial (or the run's epoch), so calling it
 * again after a crash writes nothing new.
 */
export async function notify(
  env: Env,
  type: WebhookEvent,
  job: Pick<JobRecord, 'name' | 'identifiers' | 'epoch'>,
  record?: Pick<CertificateRecord, 'serialNumber' | 'notAfter' | 'notBefore'>,
  error?: unknown,
): Promise<void> {
  const targets = (await webhooks(env, false)).filter((w) => w.events.includes(type))
  if (targets.length === 0) return
  const storage = await serviceStorage(env)
  const now = new Date().toISOString()
  const data = {
    name: job.name,
    identifiers: job.identifiers,
    ...(record && {
      serialNumber: record.serialNumber,
      notBefore: record.notBefore,
      notAfter: record.notAfter,
    }),
    ...(error !== undefined && {
      error: {
        ...(typeof (error as { code?: unknown })?.code === 'string' && {
          code: (error as { code: string }).code,
        }),
        message: error instanceof Error ? error.message : String(error),
      },
    }),
  }
  const messages: WebhookMessage[] = []
  for (const webhook of targets) {
    const discriminator = record ? record.serialNumber : `epoch-${job.epoch}`
    const message = `msg_${(await sha256Hex(`${webhook.id}|${type}|${job.name}|${discriminator}`)).slice(0, 32)}`
    const key = deliveryKey(webhook.id, message)
    const existing = (await storage.get(key)) as Delivery | undefined
    if (!existing) {
      const delivery: Delivery = {
        id: message,
        webhook: webhook.id,
        type,
        body: JSON.stringify({ type, timestamp: now, data }),
        status: 'pending',
        attempts: [],
        createdAt: now,
        nextAttemptAt: now,
      }
      await storage.put(key, delivery)
      await storage.put(pendingKey(webhook.id, message), { at: now })
    } else if (existing.status !== 'pending') {
      continue
    }
    messages.push({ webhook: webhook.id, message })
  }
  if (messages.length > 0) await env.WEBHOOKS.sendBatch(messages.map((body) => ({ body })))
}

/** The Standard Webhooks signature of a body: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`. */
export async function signature(
  secret: string,
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  const raw = Uint8Array.from(atob(secret.replace(/^whsec_/, '')), (c) => c.charCodeAt(0))
  const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(`${id}.${timestamp}.${body}`))
  return `v1,${base64(new Uint8Array(mac))}`
}

/** The delay before attempt `n + 1` after `n` failed ones: exponential from the base, capped, jittered (50–100 %). */
export function backoffSeconds(failed: number, baseSeconds: number, random = Math.random()): number {
  const full = Math.min(BACKOFF_CAP_SECONDS, baseSeconds * 2 ** Math.max(0, failed - 1))
  return Math.max(1, Math.ceil(full * (0.5 + random / 2)))
}

/** The webhooks queue's consumer: one attempt per message, a few at once. */
export async function consumeWebhooks(batch: MessageBatch<WebhookMessage>, env: Env): Promise<void> {
  const queue = [...batch.messages]
  const worker = async () => {
    for (let message = queue.shift(); message; message = queue.shift()) {
      try {
        await attempt(env, message.body)
        message.ack()
      } catch (error) {
        console.error('webhook delivery failed to run:', error)
        message.retry({ delaySeconds: 5 })
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(10, queue.length) }, worker))
}

async function attempt(env: Env, { webhook: webhookId, message }: WebhookMessage): Promise<void> {
  const storage = await serviceStorage(env)
  const key = deliveryKey(webhookId, message)
  const delivery = (await storage.get(key)) as Delivery | undefined
  if (delivery?.status !== 'pending') return
  // A second message for the same delivery (the cron pass re-sent one that was only late): not before its time.
  if (delivery.nextAttemptAt && Date.parse(delivery.nextAttemptAt) > Date.now() + 2_000) return
  const webhook = (await storage.get(webhookKey(webhookId))) as Webhook | undefined
  if (!webhook) {
    await storage.put(key, { ...delivery, status: 'cancelled' } satisfies Delivery)
    await storage.delete(pendingKey(webhookId, message))
    return
  }
  const { baseSeconds, retryForMs } = settings(env)
  const started = Date.now()
  const timestamp = Math.floor(started / 1000)
  const result: Attempt = { at: new Date(started).toISOString(), durationMs: 0 }
  try {
    const response = await fetch(webhook.url, {
      method: 'POST',
      redirect: 'manual',
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
      headers: {
        'content-type': 'application/json',
        'user-agent': 'webacme-service',
        'webhook-id': message,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': await signature(webhook.secret, message, timestamp, delivery.body),
      },
      body: delivery.body,
    })
    result.status = response.status
    await response.body?.cancel()
  } catch (error) {
    result.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  }
  result.durationMs = Date.now() - started
  const attempts = [...delivery.attempts, result].slice(-MAX_ATTEMPTS_KEPT)
  const ok = result.status !== undefined && result.status >= 200 && result.status < 300
  if (ok) {
    const { nextAttemptAt: _, ...rest } = delivery
    await storage.put(key, {
      ...rest,
      status: 'delivered',
      attempts,
      deliveredAt: result.at,
    } satisfies Delivery)
    await storage.delete(pendingKey(webhookId, message))
    return
  }
  if (Date.now() - Date.parse(delivery.createdAt) >= retryForMs) {
    const { nextAttemptAt: _, ...rest } = delivery
    await storage.put(key, { ...rest, status: 'failed', attempts } satisfies Delivery)
    await storage.delete(pendingKey(webhookId, message))
    return
  }
  const failed = attempts.filter((a) => !(a.status !== undefined && a.status < 300)).length
  const delay = backoffSeconds(failed, baseSeconds)
  const next = new Date(Date.now() + delay * 1000).toISOString()
  await storage.put(key, { ...delivery, attempts, nextAttemptAt: next } satisfies Delivery)
  await env.WEBHOOKS.send({ webhook: webhookId, message }, { delaySeconds: delay })
}

/**
 * The cron pass's part: deliveries whose next attempt is overdue by more than twice the base delay lost their queue
 * message (a restart drops them locally): send them again. Returns how many.
 */
export async function resumeDeliveries(env: Env, now = Date.now()): Promise<number> {
  const storage = await serviceStorage(env)
  const { baseSeconds } = settings(env)
  const grace = 2 * baseSeconds * 1000
  const due: WebhookMessage[] = []
  for (const key of await storage.list('webhook-pending/')) {
    const [webhook, message] = key.slice('webhook-pending/'.length).split('.')
    if (!webhook || !message) continue
    const delivery = (await storage.get(deliveryKey(webhook, message))) as Delivery | undefined
    if (delivery?.status !== 'pending') {
      await storage.delete(key)
      continue
    }
    if (Date.parse(delivery.nextAttemptAt ?? delivery.createdAt) + grace <= now)
      due.push({ webhook, message })
  }
  for (let i = 0; i < due.length; i += 100) {
    await env.WEBHOOKS.sendBatch(due.slice(i, i + 100).map((body) => ({ body })))
  }
  return due.length
}
