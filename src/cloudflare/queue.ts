/**
 * Queue consumers for ACME work: what to do with a message once its job has run. A job that succeeded is
 * acknowledged; one that hit something that heals by itself (a rate limit, a 5xx, the network, a timeout, a CA
 * whose circuit breaker is open) is retried later, no earlier than the CA's `Retry-After` (or the breaker's next
 * probe), with bounded, jittered delays; one that will not heal (a
 * rejected identifier, a failed validation, a caller mistake) goes to the dead-letter queue at once instead of
 * burning its retries.
 */

import { DnsProviderError } from '../dns/errors.ts'
import {
  AcmeNetworkError,
  AcmeProblemError,
  AcmeResponseError,
  AcmeStateError,
  isAcmeError,
} from '../errors.ts'
import { CaUnavailableError } from '../protocol/circuit-breaker.ts'
import { StorageError } from '../storage/storage.ts'
import type { MessageBatchLike, QueueMessageLike, QueueProducerLike } from './types.ts'

/** What to do with a message. */
export type MessageOutcome =
  | { action: 'ack' }
  | { action: 'retry'; delaySeconds: number; reason: string }
  | { action: 'dead-letter'; reason: string }

/** How failures are retried. */
export interface RetryPolicy {
  /** Shortest delay, seconds (default 5). */
  minDelaySeconds?: number
  /** Longest delay, seconds (default 3600; Cloudflare Queues accept at most 43 200). */
  maxDelaySeconds?: number
  /** Up to this fraction is added to each delay, at random, so retries do not come back together (default 0.2). */
  jitter?: number
  /** Deliveries after which a failure that could heal goes to the dead-letter queue anyway (default 8). */
  maxAttempts?: number
  /** Random numbers in [0, 1) (default `Math.random`). */
  random?: () => number
  /** The clock, ms (default `Date.now`). */
  now?: () => number
}

/** Cloudflare Queues' longest retry delay. */
const MAX_QUEUE_DELAY = 43_200
const TRANSIENT_STATUS = new Set([408, 425, 429, 500, 502, 503, 504])

/**
 * Whether a failure may heal by itself, and how soon it may be tried again: the `Retry-After` the CA (or DNS
 * provider) sent, if any. `undefined` for failures that will not heal.
 */
export function retryHint(error: unknown): { retryAfter: Date | undefined } | undefined {
  if (error instanceof AcmeProblemError) {
    if (error.code === 'ERR_ACME_RATE_LIMITED' || error.code === 'ERR_ACME_SERVER_INTERNAL') {
      return { retryAfter: error.retryAfter }
    }
    if (error.code === 'ERR_ACME_BAD_NONCE') return { retryAfter: undefined }
    return TRANSIENT_STATUS.has(error.status) ? { retryAfter: error.retryAfter } : undefined
  }
  if (error instanceof AcmeResponseError) {
    return error.status !== undefined && TRANSIENT_STATUS.has(error.status)
      ? { retryAfter: error.retryAfter }
      : undefined
  }
  if (error instanceof AcmeNetworkError) return { retryAfter: undefined }
  // The CA stopped answering and the client's breaker is open: back on the queue, not before its next probe.
  if (error instanceof CaUnavailableError) return { retryAfter: error.retryAfter }
  if (error instanceof AcmeStateError)
    return error.code === 'ERR_WAIT_TIMEOUT' ? { retryAfter: undefined } : undefined
  if (error instanceof DnsProviderError) {
    return ['ERR_DNS_RATE_LIMITED', 'ERR_DNS_PROVIDER', 'ERR_DNS_QUERY'].includes(error.code)
      ? { retryAfter: error.retryAfter }
      : undefined
  }
  if (error instanceof StorageError) {
    return error.code === 'ERR_STORAGE' || error.code === 'ERR_STORAGE_CONFLICT'
      ? { retryAfter: undefined }
      : undefined
  }
  // Caller mistakes, unsupported features: retrying changes nothing.
  if (isAcmeError(error)) return undefined
  // Not ours: the platform (a Durable Object reset, a lost connection, "internal error"). Worth another go.
  return { retryAfter: undefined }
}

/**
 * The outcome for a job that threw `error` on delivery number `attempts` (1 for the first): `retry` with a delay of
 * at least the `Retry-After` (else exponential from `minDelaySeconds`), at most `maxDelaySeconds`, plus jitter; or
 * `dead-letter` when the failure will not heal or `maxAttempts` deliveries are used up.
 *
 * @example
 * ```ts
 * import { messageOutcome } from 'webacme/cloudflare'
 *
 * declare const error: unknown
 * const outcome = messageOutcome(error, 1)
 * if (outcome.action === 'retry') console.log(`again in ${outcome.delaySeconds} s: ${outcome.reason}`)
 * ```
 */
export function messageOutcome(error: unknown, attempts: number, policy: RetryPolicy = {}): MessageOutcome {
  const reason = describe(error)
  const hint = retryHint(error)
  if (!hint) return { action: 'dead-letter', reason }
  if (attempts >= (policy.maxAttempts ?? 8)) {
    return { action: 'dead-letter', reason: `gave up after ${attempts} attempts: ${reason}` }
  }
  return { action: 'retry', delaySeconds: retryDelay(attempts, hint.retryAfter, policy), reason }
}

/**
 * Seconds to wait before delivery `attempts + 1`: never less than `retryAfter`, exponential from `minDelaySeconds`
 * otherwise, capped by `maxDelaySeconds`, then up to `jitter` more (the cap included, so that many waiters do not
 * return together).
 */
export function retryDelay(attempts: number, retryAfter: Date | undefined, policy: RetryPolicy = {}): number {
  const min = Math.max(0, policy.minDelaySeconds ?? 5)
  const max = Math.min(MAX_QUEUE_DELAY, Math.max(min, policy.maxDelaySeconds ?? 3600))
  const now = (policy.now ?? Date.now)()
  const backoff = min * 2 ** Math.max(0, attempts - 1)
  const asked = retryAfter ? Math.ceil((retryAfter.getTime() - now) / 1000) : 0
  const base = Math.min(max, Math.max(backoff, asked))
  const jitter = Math.max(0, policy.jitter ?? 0.2) * (policy.random ?? Math.random)()
  return Math.min(MAX_QUEUE_DELAY, Math.ceil(base * (1 + jitter)))
}

/** Options of {@link settleMessage}. */
export interface SettleOptions<Body> {
  /**
   * The dead-letter queue's producer binding. A dead-lettered message is sent there with the reason, then
   * acknowledged. Without one it is only acknowledged (record the failure yourself).
   */
  deadLetter?: QueueProducerLike<DeadLetter<Body>>
}

/** What {@link settleMessage} sends to the dead-letter queue. */
export interface DeadLetter<Body> {
  body: Body
  reason: string
  attempts: number
}

/** Acknowledges, retries (`retry({ delaySeconds })`) or dead-letters `message` as `outcome` says. */
export async function settleMessage<Body>(
  message: QueueMessageLike<Body>,
  outcome: MessageOutcome,
  options: SettleOptions<Body> = {},
): Promise<void> {
  switch (outcome.action) {
    case 'ack':
      message.ack()
      return
    case 'retry':
      message.retry({ delaySeconds: outcome.delaySeconds })
      return
    case 'dead-letter':
      await options.deadLetter?.send({
        body: message.body,
        reason: outcome.reason,
        attempts: message.attempts,
      })
      message.ack()
  }
}

/** Options of {@link consumeBatch}. */
export interface ConsumeOptions<Body> extends SettleOptions<Body>, RetryPolicy {
  /** Messages worked at once (default 10). Locally a queue delivers one batch at a time: this is the parallelism. */
  concurrency?: number
}

/**
 * Works a batch's messages concurrently (at most `concurrency` at a time). `work` resolves to an outcome of its own
 * choosing, or to nothing for `ack`; a throw becomes {@link messageOutcome}'s answer. Every message is settled, and a
 * settle that fails (a dead-letter `send`) leaves that message to the queue's own retry.
 *
 * @example
 * ```ts
 * import { consumeBatch, type MessageBatchLike } from 'webacme/cloudflare'
 *
 * declare function issue(name: string): Promise<void>
 * export default {
 *   async queue(batch: MessageBatchLike<{ name: string }>) {
 *     await consumeBatch(batch, (message) => issue(message.body.name), { concurrency: 25 })
 *   },
 * }
 * ```
 */
export async function consumeBatch<Body>(
  batch: MessageBatchLike<Body>,
  work: (message: QueueMessageLike<Body>) => Promise<MessageOutcome | undefined> | Promise<void>,
  options: ConsumeOptions<Body> = {},
): Promise<void> {
  const queue = [...batch.messages]
  const worker = async () => {
    for (let message = queue.shift(); message !== undefined; message = queue.shift()) {
      let outcome: MessageOutcome
      try {
        outcome = (await work(message)) ?? { action: 'ack' }
      } catch (error) {
        outcome = messageOutcome(error, message.attempts, options)
      }
      try {
        await settleMessage(message, outcome, options)
      } catch {
        message.retry()
      }
    }
  }
  const width = Math.max(1, Math.min(options.concurrency ?? 10, queue.length))
  await Promise.all(Array.from({ length: width }, worker))
}

function describe(error: unknown): string {
  if (isAcmeError(error)) return `${error.code}: ${error.message}`
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error)
}
