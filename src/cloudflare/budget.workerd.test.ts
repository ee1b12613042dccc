import { describe, expect, it, vi } from 'vitest'
import { RateBudget, type RateLimits, requestPacer } from './budget.ts'

const LIMITS: RateLimits = {
  pendingAuthorizations: 5,
  newOrders: { limit: 3, windowSeconds: 60 },
  requestsPerSecond: 10,
}
const T = Date.parse('2030-01-01T00:00:00Z')

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
