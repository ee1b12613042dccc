import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test'
import { describe, expect, it, vi } from 'vitest'
import { DnsProviderError } from '../dns/errors.ts'
import { AcmeNetworkError, AcmeProblemError, AcmeStateError, InvalidArgumentError } from '../errors.ts'
import { CaUnavailableError, CircuitBreaker } from '../protocol/circuit-breaker.ts'
import { StorageError } from '../storage/storage.ts'
import { consumeBatch, messageOutcome, retryDelay, retryHint, settleMessage } from './queue.ts'
import type { QueueMessageLike } from './types.ts'

const NOW = Date.parse('2030-01-01T00:00:00Z')
const noJitter = { random: () => 0, now: () => NOW }

function problem(type: string, status: number, retryAfter?: Date): AcmeProblemError {
  return new AcmeProblemError(
    { type: `urn:ietf:params:acme:error:${type}`, detail: type, status },
    { status, url: 'https://ca.test/new-order', retryAfter },
  )
}

describe('messageOutcome', () => {
  it('retries a rate limit no earlier than its Retry-After, capped, with jitter only added', () => {
    const limited = problem('rateLimited', 429, new Date(NOW + 90_000))
    expect(messageOutcome(limited, 1, noJitter)).toMatchObject({ action: 'retry', delaySeconds: 90 })
    expect(messageOutcome(limited, 1, { ...noJitter, random: () => 0.999 })).toMatchObject({
      delaySeconds: 108,
    })
    const far = problem('rateLimited', 429, new Date(NOW + 10 * 3600_000))
    expect(messageOutcome(far, 1, noJitter)).toMatchObject({ action: 'retry', delaySeconds: 3600 })
    expect(messageOutcome(far, 1, { ...noJitter, maxDelaySeconds: 1e9 })).toMatchObject({
      delaySeconds: 36_000,
    })
    expect(
      retryDelay(1, new Date(NOW + 1e9 * 1000), { ...noJitter, maxDelaySeconds: 1e9, random: () => 0.99 }),
    ).toBe(43_200)
  })

  it("retries a job refused by an open circuit breaker (ERR_CA_UNAVAILABLE) no earlier than the breaker's probe", () => {
    const breaker = new CircuitBreaker({ threshold: 1, coolDown: 120_000, now: () => NOW })
    breaker.record('unanswered', new Error('connect ECONNREFUSED'))
    let refused: unknown
    try {
      breaker.admit('https://ca.test/new-order')
    } catch (err) {
      refused = err
    }
    expect(refused).toBeInstanceOf(CaUnavailableError)
    expect(retryHint(refused)).toEqual({ retryAfter: new Date(NOW + 120_000) })
    expect(messageOutcome(refused, 1, noJitter)).toMatchObject({ action: 'retry', delaySeconds: 120 })
  })

  it('backs off exponentially from the minimum for failures that heal, then gives up', () => {
    const network = new AcmeNetworkError('ERR_NETWORK', 'refused', {
      url: 'https://ca.test',
      reason: 'connection-refused',
    })
    expect([1, 2, 3].map((a) => retryDelay(a, undefined, noJitter))).toEqual([5, 10, 20])
    for (const error of [
      network,
      problem('serverInternal', 500),
      problem('malformed', 503),
      new AcmeStateError('ERR_WAIT_TIMEOUT', 'still pending', { url: 'https://ca.test/authz/1' }),
      new StorageError('ERR_STORAGE', 'k', 'R2 down'),
      new DnsProviderError('ERR_DNS_RATE_LIMITED', 'slow down', { provider: 'cloudflare' }),
      new Error('Network connection lost.'),
    ]) {
      expect(retryHint(error), String(error)).toBeDefined()
      expect(messageOutcome(error, 2, noJitter)).toMatchObject({ action: 'retry', delaySeconds: 10 })
      expect(messageOutcome(error, 8, noJitter)).toMatchObject({ action: 'dead-letter' })
    }
    expect(messageOutcome(network, 8, noJitter)).toMatchObject({
      reason: expect.stringMatching(/^gave up after 8 attempts: ERR_NETWORK/),
    })
  })

  it('dead-letters at once what will not heal', () => {
    for (const error of [
      problem('rejectedIdentifier', 400),
      problem('unauthorized', 403),
      problem('caa', 403),
      new AcmeStateError('ERR_AUTHORIZATION_INVALID', 'validation failed', {
        url: 'https://ca.test/authz/1',
      }),
      new InvalidArgumentError('bad name'),
      new StorageError('ERR_STORAGE_CORRUPT', 'k', 'garbage'),
      new DnsProviderError('ERR_DNS_AUTH', 'bad token', { provider: 'cloudflare' }),
    ]) {
      expect(messageOutcome(error, 1, noJitter), String(error)).toMatchObject({ action: 'dead-letter' })
    }
  })
})

function fakeMessage<T>(body: T, attempts = 1) {
  const message = {
    id: `m${Math.random()}`,
    body,
    attempts,
    ack: vi.fn<() => void>(),
    retry: vi.fn<QueueMessageLike['retry']>(),
  }
  return message satisfies QueueMessageLike<T>
}

describe('settleMessage', () => {
  it('acks, retries with the delay, or sends to the dead-letter queue and acks', async () => {
    const sent: unknown[] = []
    const deadLetter = { send: async (b: unknown) => void sent.push(b), sendBatch: async () => {} }
    const a = fakeMessage({ name: 'a' })
    await settleMessage(a, { action: 'ack' }, { deadLetter })
    expect(a.ack).toHaveBeenCalledOnce()
    const b = fakeMessage({ name: 'b' })
    await settleMessage(b, { action: 'retry', delaySeconds: 42, reason: 'x' }, { deadLetter })
    expect(b.retry).toHaveBeenCalledWith({ delaySeconds: 42 })
    const c = fakeMessage({ name: 'c' }, 3)
    await settleMessage(c, { action: 'dead-letter', reason: 'ERR_ACME_CAA: no' }, { deadLetter })
    expect(sent).toEqual([{ body: { name: 'c' }, reason: 'ERR_ACME_CAA: no', attempts: 3 }])
    expect(c.ack).toHaveBeenCalledOnce()
  })
})

describe('consumeBatch', () => {
  it('works messages concurrently up to the bound and settles each one as its job ended', async () => {
    let running = 0
    let peak = 0
    const gates: Array<() => void> = []
    const batch = createMessageBatch<{ n: number }>(
      'test-wake',
      Array.from({ length: 7 }, (_, n) => ({ id: `m${n}`, timestamp: new Date(), attempts: 1, body: { n } })),
    )
    const retries = batch.messages.map((m) => vi.spyOn(m, 'retry'))
    const ctx = createExecutionContext()
    const done = consumeBatch(
      batch,
      async ({ body }) => {
        running++
        peak = Math.max(peak, running)
        await new Promise<void>((resolve) => gates.push(resolve))
        running--
        if (body.n === 1) throw problem('rateLimited', 429, new Date(Date.now() + 30_000))
        if (body.n === 2) throw new InvalidArgumentError('never')
        if (body.n === 3) return { action: 'retry', delaySeconds: 7, reason: 'mine' }
        return undefined
      },
      { concurrency: 3, random: () => 0 },
    )
    // Release the jobs one by one as they start: never more than 3 at once.
    while (gates.length > 0 || running > 0) {
      await new Promise((r) => setTimeout(r, 0))
      gates.shift()?.()
    }
    await done
    expect(peak).toBe(3)
    const result = await getQueueResult(batch, ctx)
    expect(result.explicitAcks.sort()).toEqual(['m0', 'm2', 'm4', 'm5', 'm6'])
    expect(retries[1]).toHaveBeenCalledWith({ delaySeconds: expect.any(Number) })
    expect((retries[1]!.mock.calls[0]![0] as { delaySeconds: number }).delaySeconds).toBeGreaterThanOrEqual(
      29,
    )
    expect(retries[3]).toHaveBeenCalledWith({ delaySeconds: 7 })
  })
})
