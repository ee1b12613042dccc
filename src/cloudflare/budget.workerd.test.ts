import { describe, expect, it, vi } from 'vitest'
import { RateBudget, type RateLimits, requestPacer } from './budget.ts'

const LIMITS: RateLimits = {
  pendingAuthorizations: 5,
  newOrders: { limit: 3, windowSeconds: 60 },
  requestsPerSecond: 10,
}
const T = Date.parse('2030-01-01T00:00:00Z')
const LIMITS_WIDE: RateLimits = {
  pendingAuthorizations: 100,
  newOrders: { limit: 100, windowSeconds: 3600 },
  requestsPerSecond: 10,
}

describe('RateBudget', () => {
  it('grants room up to the pending-authorization limit, then queues first come first served', () => {
    const budget = new RateBudget({ ...LIMITS, newOrders: { limit: 100, windowSeconds: 60 } })
    expect(budget.acquire('a', { authorizations: 3 }, T)).toEqual({ granted: true })
    expect(budget.acquire('b', { authorizations: 2 }, T)).toEqual({ granted: true })
    expect(budget.held).toBe(5)
    expect(budget.acquire('c', { authorizations: 1 }, T)).toEqual({
      granted: false,
      reason: 'pending-authorizations',
      retryAt: undefined,
    })
    // A small newcomer does not jump the line even when it would fit.
    budget.release('b')
    expect(budget.acquire('d', { authorizations: 1 }, T)).toMatchObject({ granted: false, reason: 'queued' })
    expect(budget.waiting).toEqual(['c', 'd'])
    // Asking again is idempotent for a holder and does not queue twice.
    expect(budget.acquire('a', { authorizations: 3 }, T)).toEqual({ granted: true })
    expect(budget.acquire('c', { authorizations: 1 }, T)).toMatchObject({ granted: false })
    expect(budget.waiting).toEqual(['c', 'd'])
    expect(budget.wake(T)).toEqual(['c', 'd'])
    // The room is reserved for the woken: a third party cannot take it.
    expect(budget.acquire('e', { authorizations: 1 }, T)).toMatchObject({ granted: false })
    expect(budget.acquire('d', { authorizations: 1 }, T)).toEqual({ granted: true })
    expect(budget.acquire('c', { authorizations: 1 }, T)).toEqual({ granted: true })
    expect(budget.held).toBe(5)
  })

  it('limits new orders per sliding window and says when the window frees', () => {
    const budget = new RateBudget(LIMITS)
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      expect(budget.acquire(name, { authorizations: 1 }, T + i * 1000)).toEqual({ granted: true })
      budget.release(name)
    }
    expect(budget.acquire('d', { authorizations: 1 }, T + 5000)).toEqual({
      granted: false,
      reason: 'new-orders',
      retryAt: T + 60_000,
    })
    // Resuming an existing order is not a new order.
    expect(budget.acquire('resumed', { authorizations: 1, newOrder: false }, T + 5000)).toMatchObject({
      granted: false,
      reason: 'queued',
    })
    expect(budget.nextWake(T + 5000)).toBe(T + 60_000)
    // Resuming needs no new order: it goes ahead of the new order waiting for the window.
    expect(budget.wake(T + 5000)).toEqual(['resumed'])
    expect(budget.wake(T + 59_999)).toEqual([])
    expect(budget.wake(T + 60_000)).toEqual(['d'])
    expect(budget.acquire('d', { authorizations: 1 }, T + 60_000)).toEqual({ granted: true })
  })

  it('holds every new order while the CA asked for a pause', () => {
    const budget = new RateBudget(LIMITS)
    budget.pause(T + 30_000)
    expect(budget.acquire('a', { authorizations: 1 }, T)).toEqual({
      granted: false,
      reason: 'paused',
      retryAt: T + 30_000,
    })
    expect(budget.nextWake(T)).toBe(T + 30_000)
    expect(budget.wake(T + 29_000)).toEqual([])
    expect(budget.wake(T + 30_000)).toEqual(['a'])
  })

  it('wakes again a woken job that came back during a new pause, without waiting for its reservation to lapse', () => {
    const budget = new RateBudget(LIMITS)
    budget.pause(T + 1000)
    expect(budget.acquire('a', { authorizations: 1 }, T)).toMatchObject({ reason: 'paused' })
    expect(budget.wake(T + 1000)).toEqual(['a'])
    // Before a comes back, the CA asks for another pause.
    budget.pause(T + 2000)
    expect(budget.acquire('a', { authorizations: 1 }, T + 1500)).toMatchObject({ reason: 'paused' })
    expect(budget.nextWake(T + 1500)).toBe(T + 2000)
    expect(budget.wake(T + 2000)).toEqual(['a'])
  })

  it('lets a job larger than the whole limit run alone', () => {
    const budget = new RateBudget(LIMITS)
    expect(budget.acquire('huge', { authorizations: 9 }, T)).toEqual({ granted: true })
    expect(budget.acquire('small', { authorizations: 1 }, T)).toMatchObject({ granted: false })
  })

  it('survives as plain data: holdings, the window and the pause', () => {
    const budget = new RateBudget(LIMITS)
    budget.acquire('a', { authorizations: 2 }, T)
    budget.pause(T + 10_000)
    const copy = new RateBudget(LIMITS, JSON.parse(JSON.stringify(budget.state)))
    expect(copy.holds('a')).toBe(true)
    expect(copy.held).toBe(2)
    expect(copy.acquire('b', { authorizations: 1 }, T + 1)).toMatchObject({ reason: 'paused' })
    expect(copy.state.orders).toEqual([T])
  })

  it('forgets reservations that were not used, so the line moves on', () => {
    const budget = new RateBudget({ ...LIMITS, pendingAuthorizations: 1 })
    budget.acquire('a', { authorizations: 1 }, T)
    budget.acquire('b', { authorizations: 1 }, T)
    budget.acquire('c', { authorizations: 1 }, T)
    budget.release('a')
    expect(budget.wake(T)).toEqual(['b'])
    expect(budget.nextWake(T)).toBe(T + 60_000)
    // b never came back: after its reservation, c is next.
    budget.release('b')
    expect(budget.wake(T + 60_000)).toEqual(['c'])
  })
})

const WEEK = 7 * 24 * 3600
const LE_STYLE: RateLimits = {
  pendingAuthorizations: 100,
  newOrders: { limit: 100, windowSeconds: 3 * 3600 },
  requestsPerSecond: 20,
  certificatesPerDomain: { limit: 2, windowSeconds: WEEK },
  duplicateCertificates: { limit: 1, windowSeconds: WEEK },
  failedAuthorizations: { limit: 2, windowSeconds: 3600 },
}
// The registered domain of a name: its last two labels (the tests' names have no multi-label suffix).
const lastTwo = (name: string) => name.split('.').slice(-2).join('.')

describe('RateBudget: limits as Let’s Encrypt counts them', () => {
  it('counts certificates per registered domain from their grant, keeps the issued, drops the failed', () => {
    const budget = new RateBudget(LE_STYLE, undefined, { registeredDomain: lastTwo })
    expect(budget.acquire('a', { authorizations: 1, identifiers: ['a.example.com'] }, T)).toEqual({
      granted: true,
    })
    expect(budget.acquire('b', { authorizations: 1, identifiers: ['b.example.com'] }, T)).toEqual({
      granted: true,
    })
    // Two in flight for example.com: a third waits, until the oldest leaves the week.
    expect(
      budget.acquire('c', { authorizations: 1, identifiers: ['c.example.com', 'www.other.org'] }, T),
    ).toEqual({
      granted: false,
      reason: 'certificates-per-domain',
      retryAt: T + WEEK * 1000,
    })
    // b failed: its certificate is not counted, c fits; a was issued and stays counted.
    budget.release('a', true, T + 10)
    budget.release('b', false, T + 10)
    expect(budget.wake(T + 20)).toEqual(['c'])
    expect(
      budget.acquire('c', { authorizations: 1, identifiers: ['c.example.com', 'www.other.org'] }, T + 20),
    ).toEqual({
      granted: true,
    })
    budget.release('c', true, T + 30)
    expect(budget.acquire('d', { authorizations: 1, identifiers: ['d.example.com'] }, T + 40)).toMatchObject({
      reason: 'certificates-per-domain',
      retryAt: T + 10 + WEEK * 1000,
    })
    expect(budget.acquire('e', { authorizations: 1, identifiers: ['e.other.org'] }, T + 40)).toMatchObject({
      granted: false,
      reason: 'queued',
    })
  })

  it('counts certificates per exact set of identifiers, whatever their order', () => {
    const budget = new RateBudget(LE_STYLE, undefined, { registeredDomain: lastTwo })
    budget.acquire('x', { authorizations: 2, identifiers: ['a.example.net', 'b.example.net'] }, T)
    budget.release('x', true, T)
    expect(
      budget.acquire('y', { authorizations: 2, identifiers: ['b.example.net', 'a.example.net'] }, T + 1),
    ).toEqual({
      granted: false,
      reason: 'duplicate-certificates',
      retryAt: T + WEEK * 1000,
    })
  })

  it('counts failed authorizations per identifier per hour', () => {
    const budget = new RateBudget(LE_STYLE)
    budget.authorizationsFailed(['bad.example.org'], T)
    budget.authorizationsFailed(['bad.example.org'], T + 1000)
    expect(budget.acquire('f', { authorizations: 1, identifiers: ['bad.example.org'] }, T + 2000)).toEqual({
      granted: false,
      reason: 'failed-authorizations',
      retryAt: T + 3600_000,
    })
    // The first failure leaves the hour at T + 1 h.
    expect(budget.wake(T + 3599_999)).toEqual([])
    expect(budget.wake(T + 3600_000)).toEqual(['f'])
  })

  it('exempts renewals that carry ARI’s replaces from every count, not from pending authorizations', () => {
    const budget = new RateBudget({ ...LE_STYLE, newOrders: { limit: 1, windowSeconds: 3600 } }, undefined, {
      registeredDomain: lastTwo,
    })
    budget.acquire('a', { authorizations: 1, identifiers: ['a.example.com'] }, T)
    budget.release('a', true, T)
    budget.pause(T + 60_000)
    const exempt = { authorizations: 1, identifiers: ['a.example.com'], exempt: true }
    expect(budget.acquire('a-renewal', exempt, T + 1)).toEqual({ granted: true })
    expect(budget.state.orders).toHaveLength(1)
    expect(budget.state.certificates).toHaveLength(1)
    const tight = new RateBudget({ ...LE_STYLE, pendingAuthorizations: 1 })
    tight.acquire('busy', { authorizations: 1 }, T)
    expect(tight.acquire('r', { authorizations: 1, exempt: true }, T)).toMatchObject({
      reason: 'pending-authorizations',
    })
  })
})

describe('RateBudget: learning from 429', () => {
  it('lowers the pending-authorization limit to what the others held, for an hour', () => {
    const budget = new RateBudget(LIMITS_WIDE)
    for (const n of ['a', 'b', 'c']) budget.acquire(n, { authorizations: 5 }, T)
    budget.rateLimited('c', { limit: 'pending-authorizations', retryAfter: T + 5000 }, T)
    expect(budget.effective.pendingAuthorizations).toBe(10)
    expect(budget.acquire('d', { authorizations: 1 }, T + 6000)).toMatchObject({
      reason: 'pending-authorizations',
    })
    budget.release('a')
    budget.release('b')
    // c still holds its 5; one of 5 more fits under the learned 10.
    expect(budget.wake(T + 6000)).toEqual(['d'])
    expect(budget.effective.pendingAuthorizations).toBe(10)
    budget.wake(T + 6000 + 3600_000)
    expect(budget.effective.pendingAuthorizations).toBe(LIMITS_WIDE.pendingAuthorizations)
  })

  it('lowers the new-order limit to the window in flight, or to what the CA stated; the refused order does not count', () => {
    const budget = new RateBudget({ ...LIMITS_WIDE, newOrders: { limit: 100, windowSeconds: 600 } })
    for (let i = 0; i < 4; i++) budget.acquire(`o${i}`, { authorizations: 0 }, T + i * 1000)
    // Refused at T+3s; the CA frees its oldest at T+60s: 3 orders per 60 s.
    budget.rateLimited('o3', { limit: 'new-orders', retryAfter: T + 60_000 }, T + 3000)
    expect(budget.state.orders).toHaveLength(3)
    expect(budget.effective.newOrders).toEqual({ limit: 3, windowSeconds: 60 })
    const stated = new RateBudget(LIMITS_WIDE)
    stated.acquire('s', { authorizations: 0 }, T)
    stated.rateLimited(
      's',
      { limit: 'new-orders', retryAfter: T + 1000, stated: { limit: 50, windowSeconds: 10800 } },
      T,
    )
    expect(stated.effective.newOrders).toEqual({ limit: 50, windowSeconds: 10800 })
  })

  it('after a pause releases one run (the probe), and the rest once its order is placed', () => {
    const budget = new RateBudget(LIMITS_WIDE)
    budget.rateLimited('', { retryAfter: T + 2000 }, T)
    for (const n of ['a', 'b', 'c'])
      expect(budget.acquire(n, { authorizations: 1 }, T + 1)).toMatchObject({ granted: false })
    expect(budget.nextWake(T + 1)).toBe(T + 2000)
    expect(budget.wake(T + 1999)).toEqual([])
    expect(budget.wake(T + 2000)).toEqual(['a'])
    expect(budget.acquire('a', { authorizations: 1 }, T + 2001)).toEqual({ granted: true })
    expect(budget.wake(T + 2002)).toEqual([])
    // A resumed order is not held by the probe.
    expect(budget.acquire('resume', { authorizations: 1, newOrder: false }, T + 2002)).toMatchObject({
      reason: 'queued',
    })
    expect(budget.orderPlaced('a')).toBe(true)
    expect(budget.wake(T + 2003)).toEqual(['b', 'c', 'resume'])
  })

  it('blocks what a refusal names (a registered domain, a set, an identifier) until its Retry-After', () => {
    const budget = new RateBudget(LIMITS_WIDE, undefined, { registeredDomain: lastTwo })
    budget.rateLimited(
      'x',
      { limit: 'certificates-per-domain', key: 'domain:example.com', retryAfter: T + 9000 },
      T,
    )
    expect(budget.acquire('y', { authorizations: 1, identifiers: ['y.example.com'] }, T + 1)).toEqual({
      granted: false,
      reason: 'certificates-per-domain',
      retryAt: T + 9000,
    })
    expect(budget.acquire('z', { authorizations: 1, identifiers: ['z.example.org'] }, T + 1)).toMatchObject({
      reason: 'queued',
    })
    expect(budget.wake(T + 2)).toEqual(['z'])
  })
})

describe('requestPacer', () => {
  it('lets a burst of perSecond through, then one request per 1/perSecond', async () => {
    vi.useFakeTimers({ now: T, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      let started = 0
      const pacer = requestPacer(20, async () => {
        started++
        return new Response('ok')
      })
      const all = Promise.all(Array.from({ length: 23 }, () => pacer('https://ca.test/')))
      await vi.advanceTimersByTimeAsync(0)
      expect(started).toBe(20)
      await vi.advanceTimersByTimeAsync(49)
      expect(started).toBe(20)
      await vi.advanceTimersByTimeAsync(1)
      expect(started).toBe(21)
      await vi.advanceTimersByTimeAsync(100)
      expect(started).toBe(23)
      await all
    } finally {
      vi.useRealTimers()
    }
  })

  it('holds at least one token at low rates, and stops waiting when the request is aborted', async () => {
    const pacer = requestPacer(0.1, async () => new Response('ok'))
    await pacer('https://ca.test/') // the one token, at once
    const controller = new AbortController()
    const waiting = pacer('https://ca.test/', { signal: controller.signal })
    controller.abort(new Error('stop'))
    await expect(waiting).rejects.toThrow('stop')
  })
})
