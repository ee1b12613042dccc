/**
 * A per-account budget that keeps a fleet of issuances under a CA's rate limits by pacing them instead of letting
 * them fail: authorizations pending at once, new orders per sliding window, and a pause the CA itself asked for
 * (`429 rateLimited` with `Retry-After`). Jobs that do not fit wait in line, first come first served, and are woken
 * when room frees (a job finishes) or time passes (the window slides, the pause ends).
 *
 * The holdings and the window are plain data ({@link BudgetState}) to keep in durable storage; the line of waiting
 * jobs is in memory only (whoever lost it re-asks: a cron pass re-enqueues every job not done).
 */
import { sleep } from '../lib/abort.ts'
import type { AbortSignalLike, FetchLike } from '../lib/web-types.ts'

/** A CA's limits, per account. */
export interface RateLimits {
  /** Authorizations pending at once (Let's Encrypt: 300 per account). */
  pendingAuthorizations: number
  /** New orders per sliding window (Let's Encrypt: 300 per account per 3 hours). */
  newOrders: { limit: number; windowSeconds: number }
  /**
   * Requests per second to the CA (Let's Encrypt's tightest endpoint limit, `new-nonce`, is 20/s). Enforced where
   * the requests are made ({@link requestPacer}); kept here so one object describes the CA.
   */
  requestsPerSecond: number
}

/**
 * Let's Encrypt's account limits: 300 pending authorizations, 300 new orders per 3 hours, 20 requests per second.
 *
 * @see {@link https://letsencrypt.org/docs/rate-limits/ Let's Encrypt rate limits}
 */
export const LETS_ENCRYPT_LIMITS: RateLimits = {
  pendingAuthorizations: 300,
  newOrders: { limit: 300, windowSeconds: 3 * 60 * 60 },
  requestsPerSecond: 20,
}

/** The durable part of a {@link RateBudget}. */
export interface BudgetState {
  /** Authorizations held per job name. */
  holders: Record<string, number>
  /** When each new order of the window was granted (ms), oldest first. */
  orders: number[]
  /** No new order before this (ms): the CA's `Retry-After`. */
  pausedUntil?: number
}

/** What a job asks for. */
export interface BudgetRequest {
  /** Authorizations the order will hold pending (its identifiers). */
  authorizations: number
  /** Whether it will place a new order (`false` when it resumes one). Default true. */
  newOrder?: boolean
}

/** The answer to {@link RateBudget.acquire}. */
export type BudgetGrant =
  | { granted: true }
  | {
      granted: false
      /** Which limit held it back. */
      reason: 'pending-authorizations' | 'new-orders' | 'paused' | 'queued'
      /** When that limit frees by itself, if it does (else when another job finishes). */
      retryAt: number | undefined
    }

interface Waiter extends Required<BudgetRequest> {
  name: string
}

/** How long a woken job's room is kept for it (ms): long enough for its message to arrive. */
const RESERVATION_MS = 60_000

/**
 * The budget. Every method takes the time (`now`, ms) so that callers and tests control the clock.
 *
 * @example
 * ```ts
 * import { RateBudget } from 'webacme/cloudflare'
 *
 * const budget = new RateBudget({ pendingAuthorizations: 2, newOrders: { limit: 10, windowSeconds: 60 }, requestsPerSecond: 20 })
 * const now = Date.now()
 * console.log(budget.acquire('a', { authorizations: 2 }, now)) // { granted: true }
 * console.log(budget.acquire('b', { authorizations: 1 }, now)) // waits for room
 * budget.release('a')
 * console.log(budget.wake(now)) // ['b']: b's room is reserved for it
 * ```
 */
export class RateBudget {
  readonly limits: RateLimits
  #state: BudgetState
  readonly #waiting: Waiter[] = []
  readonly #reserved = new Map<string, { until: number; request: Required<BudgetRequest> }>()

  constructor(limits: RateLimits, state?: BudgetState) {
    this.limits = limits
    this.#state = {
      holders: { ...state?.holders },
      orders: [...(state?.orders ?? [])],
      ...(state?.pausedUntil !== undefined && { pausedUntil: state.pausedUntil }),
    }
  }

  /** The durable state, to store after a change. */
  get state(): BudgetState {
    return this.#state
  }

  /** Authorizations held now, by every job. */
  get held(): number {
    return Object.values(this.#state.holders).reduce((sum, n) => sum + n, 0)
  }

  /** Names waiting in line, in order. */
  get waiting(): string[] {
    return this.#waiting.map((w) => w.name)
  }

  /** Whether `name` holds room. */
  holds(name: string): boolean {
    return Object.hasOwn(this.#state.holders, name)
  }

  /**
   * Room for job `name`. A job that already holds room gets it again (a retry, a resumed run). One that does not fit
   * joins the line (once) and is told which limit held it and when that limit frees by itself.
   */
  acquire(name: string, request: BudgetRequest, now: number): BudgetGrant {
    if (this.holds(name)) return { granted: true }
    const wanted: Required<BudgetRequest> = {
      authorizations: Math.max(0, request.authorizations),
      newOrder: request.newOrder ?? true,
    }
    this.#prune(now)
    const reserved = this.#reserved.has(name)
    const refusal = this.#refusal(name, wanted, now)
    const ahead = !reserved && this.#waiting.some((w) => w.name !== name && !this.#reserved.has(w.name))
    if (refusal || ahead) {
      if (!this.#waiting.some((w) => w.name === name)) this.#waiting.push({ name, ...wanted })
      // A woken job that still does not fit (a pause came in meanwhile) is back in line, to be woken again.
      this.#reserved.delete(name)
      return refusal ?? { granted: false, reason: 'queued', retryAt: undefined }
    }
    this.#state.holders[name] = wanted.authorizations
    if (wanted.newOrder) this.#state.orders.push(now)
    this.#forget(name)
    return { granted: true }
  }

  /** Job `name` no longer holds room (finished, failed, deleted). Returns whether it held any. */
  release(name: string): boolean {
    this.#forget(name)
    if (!this.holds(name)) return false
    delete this.#state.holders[name]
    return true
  }

  /**
   * The account moved to another CA: what this CA counted (its new-order window, its pause) no longer applies.
   * Authorizations held by jobs stay held until those jobs finish.
   */
  forgetCa(): void {
    this.#state.orders = []
    delete this.#state.pausedUntil
  }

  /** The CA said no new orders before `until` (ms). */
  pause(until: number): void {
    this.#state.pausedUntil = Math.max(this.#state.pausedUntil ?? 0, until)
  }

  /**
   * Waiting jobs that fit now, in line order. The line stops at the first job that needs more pending
   * authorizations than are free (so a large job is not starved by small ones); a job held back only by the
   * new-order window or a pause lets the jobs behind it that resume an order go first. The room of the woken is
   * reserved for a minute: newcomers cannot take it before they come back.
   */
  wake(now: number): string[] {
    this.#prune(now)
    const woken: string[] = []
    for (const waiter of this.#waiting) {
      if (this.#reserved.has(waiter.name)) continue
      const refusal = this.#refusal(waiter.name, waiter, now)
      if (refusal && !refusal.granted && refusal.reason === 'pending-authorizations') break
      if (refusal) continue
      this.#reserved.set(waiter.name, { until: now + RESERVATION_MS, request: waiter })
      woken.push(waiter.name)
    }
    return woken
  }

  /** When to call {@link RateBudget.wake} next, if a wait ends by itself: the pause, the window, a reservation. */
  nextWake(now: number): number | undefined {
    const times: number[] = [...[...this.#reserved.values()].map((r) => r.until)]
    if (this.#waiting.length > 0) {
      if ((this.#state.pausedUntil ?? 0) > now) times.push(this.#state.pausedUntil!)
      const oldest = this.#state.orders[0]
      if (oldest !== undefined && this.#state.orders.length >= this.limits.newOrders.limit) {
        times.push(oldest + this.limits.newOrders.windowSeconds * 1000)
      }
    }
    return times.length > 0 ? Math.max(now, Math.min(...times)) : undefined
  }

  /** Why `request` does not fit now, counting the room reserved for others; `undefined` when it fits. */
  #refusal(name: string, request: Required<BudgetRequest>, now: number): BudgetGrant | undefined {
    const paused = this.#state.pausedUntil
    if (request.newOrder && paused !== undefined && paused > now) {
      return { granted: false, reason: 'paused', retryAt: paused }
    }
    let reservedAuthorizations = 0
    let reservedOrders = 0
    for (const [other, { request: r }] of this.#reserved) {
      if (other === name) continue
      reservedAuthorizations += r.authorizations
      if (r.newOrder) reservedOrders++
    }
    const { limit, windowSeconds } = this.limits.newOrders
    if (request.newOrder && this.#state.orders.length + reservedOrders >= limit) {
      const oldest = this.#state.orders[0]
      return {
        granted: false,
        reason: 'new-orders',
        retryAt: oldest === undefined ? undefined : oldest + windowSeconds * 1000,
      }
    }
    const busy = this.held + reservedAuthorizations
    // A job larger than the whole limit still runs, alone.
    if (busy > 0 && busy + request.authorizations > this.limits.pendingAuthorizations) {
      return { granted: false, reason: 'pending-authorizations', retryAt: undefined }
    }
    return undefined
  }

  #prune(now: number): void {
    const since = now - this.limits.newOrders.windowSeconds * 1000
    const orders = this.#state.orders
    while (orders.length > 0 && orders[0]! <= since) orders.shift()
    if (this.#state.pausedUntil !== undefined && this.#state.pausedUntil <= now)
      delete this.#state.pausedUntil
    for (const [name, r] of this.#reserved) if (r.until <= now) this.#reserved.delete(name)
  }

  #forget(name: string): void {
    this.#reserved.delete(name)
    const at = this.#waiting.findIndex((w) => w.name === name)
    if (at >= 0) this.#waiting.splice(at, 1)
  }
}

/**
 * A `fetch` that lets at most `perSecond` requests start per second (a token bucket holding `perSecond` tokens, at
 * least one, so a burst of that size goes at once). For the requests of one consumer invocation; give the queue
 * `max_concurrency = 1` to make it the account's rate. A request's own signal stops its wait.
 *
 * @example
 * ```ts
 * import { AcmeClient, generateKeyPair } from 'webacme'
 * import { LETS_ENCRYPT_LIMITS, requestPacer } from 'webacme/cloudflare'
 *
 * const client = new AcmeClient({
 *   directoryUrl: 'https://acme-staging-v02.api.letsencrypt.org/directory',
 *   accountKey: await generateKeyPair(),
 *   fetch: requestPacer(LETS_ENCRYPT_LIMITS.requestsPerSecond),
 * })
 * console.log(client.accountUrl)
 * ```
 */
export function requestPacer(
  perSecond: number,
  inner: FetchLike = (input, init) => fetch(input, init),
): FetchLike {
  const rate = Math.max(0.1, perSecond)
  const capacity = Math.max(1, rate)
  let tokens = capacity
  let last = Date.now()
  let line: Promise<void> = Promise.resolve()
  const take = async (signal: AbortSignalLike | undefined) => {
    for (;;) {
      const now = Date.now()
      tokens = Math.min(capacity, tokens + ((now - last) / 1000) * rate)
      last = now
      if (tokens >= 1) {
        tokens -= 1
        return
      }
      await sleep(Math.ceil(((1 - tokens) / rate) * 1000), signal)
    }
  }
  const paced = (input: Parameters<FetchLike>[0], init?: Parameters<FetchLike>[1]) => {
    const signal = init?.signal ?? undefined
    const turn = line.then(() => take(signal))
    line = turn.catch(() => {})
    return turn.then(() => inner(input, init))
  }
  return paced as FetchLike
}
