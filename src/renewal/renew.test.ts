/**
 * renewDue's decisions with a controllable clock and RNG, against a scripted CA (no network). The renewals
 * themselves, crash recovery and `replaces` run against Pebble in test/e2e-node/renewal.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { makeCertificate } from '../../test/fixtures/certificates.ts'
import { DIRECTORY, json, problem, scriptedFetch } from '../../test/fixtures/scripted-fetch.ts'
import { AcmeClient } from '../client.ts'
import { InvalidArgumentError, isRateLimited } from '../errors.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { MemoryStorage } from '../storage/memory.ts'
import { storageKeys } from '../storage/storage.ts'
import { certId } from './cert-id.ts'
import { type RenewalStateRecord, readRenewalState, saveCertificate } from './records.ts'
import { type RenewDueOptions, renewDue } from './renew.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
const T0 = Date.parse('2030-01-01T00:00:00Z')
const ARI = 'https://ca.test/renewal-info'
const noSolvers = { type: 'http-01', present: async () => {}, cleanup: async () => {} }

async function setup(options: {
  lifetimeDays: number
  ari?: boolean
  name?: string
  storage?: MemoryStorage
}) {
  const storage = options.storage ?? new MemoryStorage()
  const name = options.name ?? 'example.test'
  const { pem, key } = await makeCertificate({
    names: [name],
    notBefore: new Date(T0),
    notAfter: new Date(T0 + options.lifetimeDays * DAY),
  })
  const record = await saveCertificate(storage, name, { certificate: pem, certificateKey: key }, { now: T0 })
  return { storage, name, record, id: certId(pem) }
}

function ca(routes: Parameters<typeof scriptedFetch>[0], ari = true) {
  return scriptedFetch({
    'GET https://ca.test/dir': () => json(200, ari ? { ...DIRECTORY, renewalInfo: ARI } : DIRECTORY),
    // Any order attempt fails plainly unless a test scripts it.
    'POST https://ca.test/new-order': () => problem(400, 'malformed', 'scripted: no orders here'),
    ...routes,
  })
}

async function runner(fetch: typeof globalThis.fetch, storage: MemoryStorage) {
  let now = T0
  let random = 0.5
  const client = new AcmeClient({
    directoryUrl: 'https://ca.test/dir',
    accountKey: await generateKeyPair(),
    accountUrl: 'https://ca.test/acct/1',
    fetch,
    retry: false,
  })
  return {
    at: (t: number) => {
      now = t
    },
    rng: (r: number) => {
      random = r
    },
    run: (extra: Partial<RenewDueOptions> = {}) =>
      renewDue({ storage, client, solvers: [noSolvers], now: () => now, random: () => random, ...extra }),
  }
}

const window = (start: number, end: number) => ({
  suggestedWindow: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
})

describe('renewDue without ARI: the lifetime rule', () => {
  it('renews a 6-day certificate after 4 days and a 90-day one after 60', async () => {
    const storage = new MemoryStorage()
    await setup({ lifetimeDays: 6, name: 'short.test', storage })
    await setup({ lifetimeDays: 90, name: 'long.test', storage })
    const fetch = ca({}, false)
    const r = await runner(fetch, storage)

    r.at(T0 + 4 * DAY - 120_000)
    let result = await r.run()
    expect(result.skipped.map((s) => [s.name, s.source, s.renewAt.getTime()])).toEqual([
      ['long.test', 'lifetime', T0 + 60 * DAY],
      ['short.test', 'lifetime', T0 + 4 * DAY],
    ])
    expect(result.nextRunAt.getTime()).toBe(T0 + 4 * DAY) // the 6-day certificate's turn

    r.at(T0 + 4 * DAY)
    result = await r.run()
    expect(result.failed.map((f) => f.name)).toEqual(['short.test']) // due: an order was attempted
    expect(result.skipped.map((s) => s.name)).toEqual(['long.test'])
    expect(fetch.calls.filter((c) => c.url === 'https://ca.test/new-order')).toHaveLength(1)

    r.at(T0 + 60 * DAY - 1000)
    expect((await r.run()).skipped.find((s) => s.name === 'long.test')?.reason).toBe('not-due')
    r.at(T0 + 60 * DAY)
    expect((await r.run()).failed.map((f) => f.name)).toContain('long.test')
    // Never any renewalInfo request: the directory has none.
    expect(fetch.calls.some((c) => c.url.startsWith(ARI))).toBe(false)
  })

  it('backs off after a failure: 1 h, then 2 h, reported as skipped in between', async () => {
    const { storage, name } = await setup({ lifetimeDays: 6 })
    const fetch = ca({}, false)
    const r = await runner(fetch, storage)
    r.at(T0 + 5 * DAY)
    const first = await r.run()
    expect(first.failed[0]?.retryAt.getTime()).toBe(T0 + 5 * DAY + HOUR)
    expect(first.nextRunAt.getTime()).toBe(T0 + 5 * DAY + HOUR)
    const state = (await readRenewalState(storage, name)) as RenewalStateRecord
    expect(state.failures).toBe(1)
    expect(state.lastError?.code).toBe('ERR_ACME_MALFORMED')

    r.at(T0 + 5 * DAY + 30 * 60_000)
    const waiting = await r.run()
    expect(waiting.skipped[0]?.reason).toBe('backoff')
    expect(fetch.calls.filter((c) => c.url === 'https://ca.test/new-order')).toHaveLength(1)

    r.at(T0 + 5 * DAY + HOUR)
    const second = await r.run()
    expect(second.failed[0]?.retryAt.getTime()).toBe(T0 + 5 * DAY + 3 * HOUR)
  })

  it('applies the lookahead (RFC 9773 §4.2 step 5) and ari: false', async () => {
    const { storage } = await setup({ lifetimeDays: 90 })
    const fetch = ca({})
    const r = await runner(fetch, storage)
    r.at(T0 + 59 * DAY)
    expect((await r.run({ ari: false })).skipped).toHaveLength(1)
    expect((await r.run({ ari: false, lookahead: DAY })).failed).toHaveLength(1)
    expect(fetch.calls.some((c) => c.url.startsWith(ARI))).toBe(false)
  })
})

describe('renewDue with ARI (RFC 9773)', () => {
  it('picks a random instant in the window, keeps it across checks, and re-picks when the window moves', async () => {
    const { storage, name, id } = await setup({ lifetimeDays: 90 })
    const answers = [
      json(200, window(T0 + 10 * DAY, T0 + 12 * DAY), { 'retry-after': '3600' }),
      json(200, window(T0 + 10 * DAY, T0 + 12 * DAY), { 'retry-after': '3600' }),
      json(200, { ...window(T0 + 2 * DAY, T0 + 3 * DAY), explanationURL: 'https://ca.test/incident' }),
    ]
    const fetch = ca({ [`GET ${ARI}/${id}`]: answers.map((a) => () => a) })
    const r = await runner(fetch, storage)

    r.rng(0.25)
    let result = await r.run()
    expect(result.skipped[0]).toMatchObject({ name, source: 'ari', reason: 'not-due' })
    expect(result.skipped[0]?.renewAt.getTime()).toBe(T0 + 10.5 * DAY)
    expect(result.skipped[0]?.nextCheckAt?.getTime()).toBe(T0 + HOUR)
    expect(result.nextRunAt.getTime()).toBe(T0 + HOUR)

    // Before Retry-After: no request at all.
    r.at(T0 + 30 * 60_000)
    await r.run()
    expect(fetch.calls.filter((c) => c.url.startsWith(ARI))).toHaveLength(1)

    // Same window again, other RNG: the pick stays.
    r.at(T0 + HOUR)
    r.rng(0.9)
    result = await r.run()
    expect(result.skipped[0]?.renewAt.getTime()).toBe(T0 + 10.5 * DAY)

    // The CA moves the window (e.g. ahead of a revocation) and explains why; no Retry-After: 6 h.
    r.at(T0 + 2 * HOUR)
    result = await r.run()
    expect(result.skipped[0]?.renewAt.getTime()).toBe(T0 + 2.9 * DAY)
    expect(result.skipped[0]?.explanationURL).toBe('https://ca.test/incident')
    expect(result.skipped[0]?.nextCheckAt?.getTime()).toBe(T0 + 8 * HOUR)
  })

  it('is due once the picked instant comes, and at once for a window in the past', async () => {
    const { storage, id } = await setup({ lifetimeDays: 90 })
    const fetch = ca({
      [`GET ${ARI}/${id}`]: [
        () => json(200, window(T0 + DAY, T0 + 2 * DAY), { 'retry-after': '86400' }),
        () => json(200, window(T0 - 2 * DAY, T0 - DAY), { 'retry-after': '86400' }),
      ],
    })
    const orders = () => fetch.calls.filter((c) => c.url === 'https://ca.test/new-order').length
    const r = await runner(fetch, storage)
    r.at(T0)
    expect((await r.run()).skipped[0]?.renewAt.getTime()).toBe(T0 + 1.5 * DAY)
    r.at(T0 + DAY - 1)
    expect((await r.run()).skipped).toHaveLength(1)
    expect(orders()).toBe(0)
    // The 1-day re-check finds the window moved into the past: due now, not at the old pick.
    r.at(T0 + DAY)
    const result = await r.run()
    expect(result.failed).toHaveLength(1)
    expect(orders()).toBe(1)
    const state = (await readRenewalState(storage, 'example.test')) as RenewalStateRecord
    expect(Date.parse(state.renewAt)).toBeLessThan(T0)
  })

  it('clamps Retry-After both ways', async () => {
    for (const [header, wait] of [
      ['1', 60_000],
      ['604800', DAY],
    ] as const) {
      const { storage, id } = await setup({ lifetimeDays: 90 })
      const fetch = ca({
        [`GET ${ARI}/${id}`]: () =>
          json(200, window(T0 + 10 * DAY, T0 + 11 * DAY), { 'retry-after': header }),
      })
      const r = await runner(fetch, storage)
      const result = await r.run()
      expect(result.skipped[0]?.nextCheckAt?.getTime()).toBe(T0 + wait)
      expect(result.nextRunAt.getTime()).toBe(T0 + wait)
    }
  })

  it('falls back to the lifetime rule for an invalid window or an error, and asks again in 6 hours', async () => {
    const { storage, id, name } = await setup({ lifetimeDays: 90 })
    const fetch = ca({
      [`GET ${ARI}/${id}`]: [
        () => json(200, window(T0 + 10 * DAY, T0 + 10 * DAY), { 'retry-after': '60' }), // end == start
        () => problem(404, 'malformed', 'unknown certificate'),
        () => json(200, window(T0 + 10 * DAY, T0 + 11 * DAY), { 'retry-after': '60' }),
        () => json(500, 'oops'),
      ],
    })
    const events: string[] = []
    const r = await runner(fetch, storage)
    let result = await r.run({ onEvent: (e) => events.push(e.type) })
    expect(events).toContain('renewal-info-error')
    expect(result.skipped[0]).toMatchObject({ source: 'lifetime' })
    expect(result.skipped[0]?.renewAt.getTime()).toBe(T0 + 60 * DAY)
    expect(result.skipped[0]?.nextCheckAt?.getTime()).toBe(T0 + 6 * HOUR)
    let state = (await readRenewalState(storage, name)) as RenewalStateRecord
    expect(state.checkError?.code).toBe('ERR_INVALID_RESPONSE')

    r.at(T0 + 6 * HOUR)
    result = await r.run()
    expect(result.skipped[0]?.source).toBe('lifetime')
    expect(result.skipped[0]?.nextCheckAt?.getTime()).toBe(T0 + 12 * HOUR)

    r.at(T0 + 12 * HOUR)
    result = await r.run()
    expect(result.skipped[0]?.source).toBe('ari')
    const pick = result.skipped[0]?.renewAt.getTime()
    expect(pick).toBe(T0 + 10.5 * DAY)
    state = (await readRenewalState(storage, name)) as RenewalStateRecord
    expect(state.checkError).toBeUndefined()

    // An error after a good answer keeps the window already received.
    r.at(T0 + 13 * HOUR)
    result = await r.run()
    expect(result.skipped[0]).toMatchObject({ source: 'ari' })
    expect(result.skipped[0]?.renewAt.getTime()).toBe(pick)
    expect(result.skipped[0]?.nextCheckAt?.getTime()).toBe(T0 + 19 * HOUR)
  })

  it('does not ask about an expired certificate: it is due', async () => {
    const { storage, id } = await setup({ lifetimeDays: 6 })
    const fetch = ca({ [`GET ${ARI}/${id}`]: () => json(200, window(T0 + 100 * DAY, T0 + 101 * DAY)) })
    const r = await runner(fetch, storage)
    r.at(T0 + 7 * DAY)
    expect((await r.run()).failed).toHaveLength(1)
    expect(fetch.calls.some((c) => c.url.startsWith(ARI))).toBe(false)
  })

  it('reschedules a rate-limited renewal at its Retry-After without failing the batch', async () => {
    const storage = new MemoryStorage()
    const a = await setup({ lifetimeDays: 6, name: 'a.test', storage })
    await setup({ lifetimeDays: 90, name: 'b.test', storage })
    const fetch = ca(
      {
        'POST https://ca.test/new-order': () =>
          problem(429, 'rateLimited', 'too many new orders', { 'retry-after': '7200' }),
      },
      false,
    )
    const r = await runner(fetch, storage)
    r.at(T0 + 5 * DAY)
    const result = await r.run()
    expect(result.failed).toEqual([])
    expect(result.rescheduled).toHaveLength(1)
    expect(result.rescheduled[0]?.name).toBe(a.name)
    expect(isRateLimited(result.rescheduled[0]?.error)).toBe(true)
    expect(result.rescheduled[0]?.retryAt.getTime()).toBe(T0 + 5 * DAY + 2 * HOUR)
    expect(result.skipped.map((s) => s.name)).toEqual(['b.test'])
    expect(result.nextRunAt.getTime()).toBe(T0 + 5 * DAY + 2 * HOUR)
    r.at(T0 + 5 * DAY + 2 * HOUR - 1)
    expect((await r.run()).skipped.find((s) => s.name === a.name)?.reason).toBe('backoff')
  })
})

describe('renewDue bookkeeping', () => {
  it('drops state and pending orders left for an older certificate', async () => {
    const { storage, name } = await setup({ lifetimeDays: 90 })
    await storage.put(storageKeys.renewal(name), {
      serialNumber: 'ffff',
      source: 'lifetime',
      renewAt: new Date(T0 - DAY).toISOString(),
      failures: 3,
    })
    await storage.put(storageKeys.order(name), {
      name,
      replacesSerial: 'ffff',
      privateKey: 'x',
      startedAt: new Date(T0).toISOString(),
    })
    const r = await runner(ca({}, false), storage)
    const result = await r.run()
    expect(result.skipped).toHaveLength(1) // not due: the stale state said otherwise
    expect(await storage.get(storageKeys.order(name))).toBeUndefined()
    expect(((await readRenewalState(storage, name)) as RenewalStateRecord).failures).toBe(0)
  })

  it('reports certificates without a client, and bounds nextRunAt to 1 minute .. 1 day', async () => {
    const { storage } = await setup({ lifetimeDays: 6 })
    let now = T0 + 5 * DAY
    const result = await renewDue({ storage, solvers: [noSolvers], now: () => now })
    expect(result.failed[0]?.error).toBeInstanceOf(InvalidArgumentError)
    expect(result.nextRunAt.getTime()).toBe(now + HOUR)
    now = T0
    const empty = await renewDue({ storage: new MemoryStorage(), solvers: [], now: () => now })
    expect(empty.nextRunAt.getTime()).toBe(T0 + DAY)
  })

  it('stops at once when aborted', async () => {
    const { storage } = await setup({ lifetimeDays: 90 })
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    const r = await runner(ca({}), storage)
    await expect(r.run({ signal: controller.signal })).rejects.toThrow('stop')
  })
})
