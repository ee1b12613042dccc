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
  /**
   * Certificates per registered domain (the name one label under its public suffix) per window, counted once per
   * certificate for each registered domain it names (Let's Encrypt: 50 per 7 days). Needs the budget's
   * `registeredDomain` option.
   */
  certificatesPerDomain?: { limit: number; windowSeconds: number }
  /** Certificates per exact set of identifiers per window (Let's Encrypt: 5 per 7 days). */
  duplicateCertificates?: { limit: number; windowSeconds: number }
  /** Failed authorizations per identifier per window (Let's Encrypt: 5 per hour). */
  failedAuthorizations?: { limit: number; windowSeconds: number }
}

/**
 * Let's Encrypt's account limits (2026): 300 new orders per 3 hours, 50 certificates per registered domain and 5 per
 * exact set of identifiers per 7 days, 5 failed authorizations per identifier per hour, 20 requests per second
 * (`new-nonce`), and a pending-authorization ceiling of 300 (no longer listed; kept as a bound on what one account
 * has in flight). Renewals carrying ARI's `replaces` are exempt from all but the last: {@link BudgetRequest.exempt}.
 *
 * @see {@link https://letsencrypt.org/docs/rate-limits/ Let's Encrypt rate limits}
 */
export const LETS_ENCRYPT_LIMITS: RateLimits = {
  pendingAuthorizations: 300,
  newOrders: { limit: 300, windowSeconds: 3 * 60 * 60 },
  requestsPerSecond: 20,
  certificatesPerDomain: { limit: 50, windowSeconds: 7 * 24 * 60 * 60 },
  duplicateCertificates: { limit: 5, windowSeconds: 7 * 24 * 60 * 60 },
  failedAuthorizations: { limit: 5, windowSeconds: 60 * 60 },
}

/** Which limit a {@link RateBudget} held a job back for. */
export type LimitName =
  | 'pending-authorizations'
  | 'new-orders'
  | 'certificates-per-domain'
  | 'duplicate-certificates'
  | 'failed-authorizations'

/** A certificate counted by the per-domain and duplicate limits. */
export interface CountedCertificate {
  /** When it was granted (while `pending`) or issued (ms). */
  at: number
  /** The job it is for. */
  name: string
  /** Its registered domains. */
  domains: string[]
  /** A digest of its sorted identifiers (the duplicate limit's key). */
  set: string
  /** Granted, not issued yet: dropped if the run ends without a certificate. */
  pending?: true
}

/**
 * What the budget learned from the CA's refusals (`429 rateLimited`), lower than the configured limits, each until a
 * time (ms): a refusal may have been the CA's passing load rather than a limit, so the configured limit returns
 * after a while, and the next refusal teaches again.
 */
export interface LearnedLimits {
  pendingAuthorizations?: { limit: number; until: number }
  newOrders?: { limit: number; windowSeconds: number; until: number }
}

/** How long a learned pending-authorization limit holds (ms). */
const LEARNED_PENDING_MS = 60 * 60_000

/** The durable part of a {@link RateBudget}. */
export interface BudgetState {
  /** Authorizations held per job name. */
  holders: Record<string, number>
  /** When each new order of the window was granted (ms), oldest first. */
  orders: number[]
  /** No new order before this (ms): the CA's `Retry-After`. */
  pausedUntil?: number
  /** After a pause: one run places a new order (the probe) before the others are released. */
  probing?: boolean
  /** Certificates counted by the per-domain and duplicate limits, oldest first. */
  certificates?: CountedCertificate[]
  /** Failed authorizations, oldest first. */
  failures?: Array<{ at: number; identifier: string }>
  /** Keys the CA refused until a time (`domain:<d>`, `set:<digest>`, `identifier:<i>`), from 429s naming them. */
  blocked?: Record<string, number>
  learned?: LearnedLimits
}

/** Options of {@link RateBudget}. */
export interface RateBudgetOptions {
  /**
   * The registered domain of a hostname (the label under its public suffix: `example.co.uk` for
   * `www.example.co.uk`), from the Public Suffix List; the per-domain limit is not counted without it.
   */
  registeredDomain?: (hostname: string) => string | undefined
}

/** What a job asks for. */
export interface BudgetRequest {
  /** Authorizations the order will hold pending (its identifiers). */
  authorizations: number
  /** Whether it will place a new order (`false` when it resumes one). Default true. */
  newOrder?: boolean
  /** Its identifiers: what the per-domain, duplicate and failed-authorization limits count. */
  identifiers?: string[]
  /**
   * A renewal that carries ARI's `replaces` (RFC 9773 §5): exempt from the new-order, per-domain, duplicate and
   * failed-authorization limits (Let's Encrypt's rule). It still holds its pending authorizations.
   */
  exempt?: boolean
}

/** The answer to {@link RateBudget.acquire}. */
export type BudgetGrant =
  | { granted: true }
  | {
      granted: false
      /**
       * Which limit held it back: one of {@link LimitName}, `paused` (the CA's Retry-After), `probing` (after a pause,
       * one run goes first) or `queued` (others are in line before it).
       */
      reason: LimitName | 'paused' | 'probing' | 'queued'
      /** When that limit frees by itself, if it does (else when another job finishes). */
      retryAt: number | undefined
    }

interface Wanted {
  authorizations: number
  newOrder: boolean
  identifiers: string[]
  exempt: boolean
}

interface Waiter extends Wanted {
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
  readonly #reserved = new Map<string, { until: number; request: Wanted }>()
  readonly #options: RateBudgetOptions
  /** The run placing the first new order after a pause. */
  #probe: string | undefined

  constructor(limits: RateLimits, state?: BudgetState, options: RateBudgetOptions = {}) {
    this.limits = limits
    this.#options = options
    this.#state = {
      holders: { ...state?.holders },
      orders: [...(state?.orders ?? [])],
      ...(state?.pausedUntil !== undefined && { pausedUntil: state.pausedUntil }),
      ...(state?.probing && { probing: true }),
      ...(state?.certificates && { certificates: [...state.certificates] }),
      ...(state?.failures && { failures: [...state.failures] }),
      ...(state?.blocked && { blocked: { ...state.blocked } }),
      ...(state?.learned && { learned: { ...state.learned } }),
    }
  }

  /** The limits in force: the configured ones, lowered by what the CA's refusals taught. */
  get effective(): Pick<RateLimits, 'pendingAuthorizations' | 'newOrders'> {
    const learned = this.#state.learned
    return {
      pendingAuthorizations: Math.min(
        this.limits.pendingAuthorizations,
        learned?.pendingAuthorizations?.limit ?? Number.POSITIVE_INFINITY,
      ),
      newOrders: learned?.newOrders
        ? { limit: learned.newOrders.limit, windowSeconds: learned.newOrders.windowSeconds }
        : this.limits.newOrders,
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
    const wanted: Wanted = {
      authorizations: Math.max(0, request.authorizations),
      newOrder: request.newOrder ?? true,
      identifiers: [...(request.identifiers ?? [])],
      exempt: request.exempt ?? false,
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
    if (wanted.newOrder && !wanted.exempt) {
      this.#state.orders.push(now)
      if (wanted.identifiers.length > 0) {
        this.#state.certificates = [
          ...(this.#state.certificates ?? []).filter((c) => !(c.name === name && c.pending)),
          {
            at: now,
            name,
            domains: this.#domains(wanted.identifiers),
            set: setKey(wanted.identifiers),
            pending: true,
          },
        ]
      }
    }
    if (wanted.newOrder && this.#state.probing && this.#probe === undefined) this.#probe = name
    this.#forget(name)
    return { granted: true }
  }

  /**
   * Job `name` no longer holds room (finished, failed, deleted). Returns whether it held any. `issued`: its run
   * ended with a certificate, which stays counted by the per-domain and duplicate limits (from now); otherwise the
   * certificate counted when it was granted is dropped.
   */
  release(name: string, issued: boolean = false, now: number = Date.now()): boolean {
    this.#forget(name)
    if (this.#probe === name) this.#probe = undefined
    const counted = this.#state.certificates
    if (counted?.some((c) => c.name === name && c.pending)) {
      this.#state.certificates = counted.flatMap((c) => {
        if (c.name !== name || !c.pending) return [c]
        if (!issued) return []
        const { pending: _p, ...kept } = c
        return [{ ...kept, at: now }]
      })
    }
    if (!this.holds(name)) return false
    delete this.#state.holders[name]
    return true
  }

  /**
   * The new order of job `name` was created: if it was the probe after a pause, the pause is over for everyone (the
   * others are released as room allows). Returns whether that changed anything.
   */
  orderPlaced(name: string): boolean {
    if (!this.#state.probing) return false
    if (this.#probe !== undefined && this.#probe !== name) return false
    delete this.#state.probing
    this.#probe = undefined
    return true
  }

  /** Authorizations of `identifiers` failed (counted by the failed-authorization limit). */
  authorizationsFailed(identifiers: string[], now: number): void {
    this.#state.failures = [
      ...(this.#state.failures ?? []),
      ...identifiers.map((identifier) => ({ at: now, identifier })),
    ]
  }

  /**
   * The CA refused a new order of job `name` with `429 rateLimited`, naming `limit` (when it said which), until
   * `retryAfter` (ms). The account pauses new orders until then, the first run after the pause is a probe, and the
   * limit named is lowered to what was in flight: pending authorizations to those the other runs hold, new orders to
   * those of the window (over the window the Retry-After implies, when it is shorter than the configured one); a
   * per-domain, duplicate or failed-authorization refusal blocks that key until `retryAfter`. The refused order is
   * not counted.
   */
  rateLimited(
    name: string,
    refusal: {
      limit?: LimitName
      key?: string
      retryAfter: number
      /** The limit as the CA stated it in its refusal (Let's Encrypt: "too many new orders (300) ... in the last 3h0m0s"). */
      stated?: { limit: number; windowSeconds: number }
    },
    now: number,
  ): void {
    const { limit, retryAfter } = refusal
    this.#prune(now)
    // The refused order did not count at the CA.
    // (The newest grant stands for it: grants are not kept per job.)
    if (this.holds(name) && this.#state.orders.length > 0) this.#state.orders.pop()
    const learned: LearnedLimits = { ...this.#state.learned }
    if (limit === 'pending-authorizations') {
      const others = this.held - (this.#state.holders[name] ?? 0)
      learned.pendingAuthorizations = {
        limit: Math.max(1, Math.min(refusal.stated?.limit ?? others, this.effective.pendingAuthorizations)),
        until: now + LEARNED_PENDING_MS,
      }
    } else if (limit === 'new-orders') {
      const orders = this.#state.orders
      const current = this.effective.newOrders
      let candidate: { limit: number; windowSeconds: number } | undefined = refusal.stated
      // Without the CA's figures, what was in flight: the orders of the window, over the window the Retry-After
      // implies (the CA frees the oldest order of its window then), when that is shorter than the configured one. A
      // single order in the window says nothing about a window: a pause only.
      if (!candidate && orders.length >= 2) {
        const windowSeconds = Math.max(
          1,
          Math.min(current.windowSeconds, Math.ceil((retryAfter - orders[0]!) / 1000)),
        )
        candidate = { limit: orders.length, windowSeconds }
      }
      if (candidate && candidate.limit / candidate.windowSeconds < current.limit / current.windowSeconds) {
        learned.newOrders = { ...candidate, until: retryAfter + candidate.windowSeconds * 1000 }
      }
    } else if (limit !== undefined && refusal.key !== undefined) {
      this.#state.blocked = {
        ...this.#state.blocked,
        [refusal.key]: Math.max(retryAfter, this.#state.blocked?.[refusal.key] ?? 0),
      }
    }
    if (Object.keys(learned).length > 0) this.#state.learned = learned
    if (limit === undefined || limit === 'pending-authorizations' || limit === 'new-orders')
      this.pause(retryAfter)
  }

  /**
   * The account moved to another CA: what this CA counted (its new-order window, its pause) no longer applies.
   * Authorizations held by jobs stay held until those jobs finish.
   */
  forgetCa(): void {
    this.#state.orders = []
    delete this.#state.pausedUntil
    delete this.#state.probing
    delete this.#state.certificates
    delete this.#state.failures
    delete this.#state.blocked
    delete this.#state.learned
    this.#probe = undefined
  }

  /** The CA said no new orders before `until` (ms). */
  pause(until: number): void {
    this.#state.pausedUntil = Math.max(this.#state.pausedUntil ?? 0, until)
    this.#state.probing = true
    this.#probe = undefined
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
      for (const waiter of this.#waiting) {
        const refusal = this.#refusal(waiter.name, waiter, now)
        if (refusal && !refusal.granted && refusal.retryAt !== undefined) times.push(refusal.retryAt)
      }
    }
    return times.length > 0 ? Math.max(now, Math.min(...times)) : undefined
  }

  /** Why job `name` would wait now, if it asked for `request`; `undefined` when it would be granted. */
  check(
    name: string,
    request: BudgetRequest,
    now: number,
  ): Exclude<BudgetGrant, { granted: true }> | undefined {
    if (this.holds(name)) return undefined
    this.#prune(now)
    return this.#refusal(
      name,
      {
        authorizations: Math.max(0, request.authorizations),
        newOrder: request.newOrder ?? true,
        identifiers: request.identifiers ?? [],
        exempt: request.exempt ?? false,
      },
      now,
    )
  }

  /** Why `request` does not fit now, counting the room reserved for others; `undefined` when it fits. */
  #refusal(name: string, request: Wanted, now: number): Exclude<BudgetGrant, { granted: true }> | undefined {
    const counted = request.newOrder && !request.exempt
    const paused = this.#state.pausedUntil
    if (counted && paused !== undefined && paused > now) {
      return { granted: false, reason: 'paused', retryAt: paused }
    }
    // After a pause, one new order goes first (the probe); the others wait until it is placed.
    if (counted && this.#state.probing && this.#probe !== undefined && this.#probe !== name) {
      return { granted: false, reason: 'probing', retryAt: undefined }
    }
    let reservedAuthorizations = 0
    let reservedOrders = 0
    for (const [other, { request: r }] of this.#reserved) {
      if (other === name) continue
      reservedAuthorizations += r.authorizations
      if (r.newOrder && !r.exempt) reservedOrders++
    }
    if (counted && this.#state.probing && reservedOrders > 0) {
      return { granted: false, reason: 'probing', retryAt: undefined }
    }
    if (counted && request.identifiers.length > 0) {
      const limited = this.#identifierRefusal(name, request.identifiers, now)
      if (limited) return limited
    }
    const { limit, windowSeconds } = this.effective.newOrders
    const since = now - windowSeconds * 1000
    const inWindow = this.#state.orders.filter((t) => t > since)
    if (counted && inWindow.length + reservedOrders >= limit) {
      const oldest = inWindow[0]
      return {
        granted: false,
        reason: 'new-orders',
        retryAt: oldest === undefined ? undefined : oldest + windowSeconds * 1000,
      }
    }
    const busy = this.held + reservedAuthorizations
    // A job larger than the whole limit still runs, alone.
    if (busy > 0 && busy + request.authorizations > this.effective.pendingAuthorizations) {
      return { granted: false, reason: 'pending-authorizations', retryAt: undefined }
    }
    return undefined
  }

  /** The failed-authorization, duplicate and per-domain limits, and keys the CA blocked, for a new order. */
  #identifierRefusal(
    name: string,
    identifiers: string[],
    now: number,
  ): Exclude<BudgetGrant, { granted: true }> | undefined {
    const blocked = this.#state.blocked ?? {}
    const set = setKey(identifiers)
    const domains = this.#domains(identifiers)
    const keys: Array<[string, LimitName]> = [
      ...identifiers.map((i): [string, LimitName] => [`identifier:${i}`, 'failed-authorizations']),
      [`set:${set}`, 'duplicate-certificates'],
      ...domains.map((d): [string, LimitName] => [`domain:${d}`, 'certificates-per-domain']),
    ]
    for (const [key, reason] of keys) {
      const until = blocked[key]
      if (until !== undefined && until > now) return { granted: false, reason, retryAt: until }
    }
    const failed = this.limits.failedAuthorizations
    if (failed) {
      const since = now - failed.windowSeconds * 1000
      for (const identifier of identifiers) {
        const times = (this.#state.failures ?? []).filter((f) => f.identifier === identifier && f.at > since)
        if (times.length >= failed.limit) {
          return {
            granted: false,
            reason: 'failed-authorizations',
            retryAt: times[times.length - failed.limit]!.at + failed.windowSeconds * 1000,
          }
        }
      }
    }
    const others = (this.#state.certificates ?? []).filter((c) => !(c.name === name && c.pending))
    const duplicate = this.limits.duplicateCertificates
    if (duplicate) {
      const since = now - duplicate.windowSeconds * 1000
      const times = others.filter((c) => c.set === set && c.at > since).map((c) => c.at)
      if (times.length >= duplicate.limit) {
        return {
          granted: false,
          reason: 'duplicate-certificates',
          retryAt: times[times.length - duplicate.limit]! + duplicate.windowSeconds * 1000,
        }
      }
    }
    const perDomain = this.limits.certificatesPerDomain
    if (perDomain && domains.length > 0) {
      const since = now - perDomain.windowSeconds * 1000
      for (const domain of domains) {
        const times = others.filter((c) => c.at > since && c.domains.includes(domain)).map((c) => c.at)
        if (times.length >= perDomain.limit) {
          return {
            granted: false,
            reason: 'certificates-per-domain',
            retryAt: times[times.length - perDomain.limit]! + perDomain.windowSeconds * 1000,
          }
        }
      }
    }
    return undefined
  }

  #domains(identifiers: string[]): string[] {
    const of = this.#options.registeredDomain
    if (!of) return []
    const domains = new Set<string>()
    for (const identifier of identifiers) {
      const domain = of(identifier.replace(/^\*\./, ''))
      if (domain) domains.add(domain)
    }
    return [...domains]
  }

  #prune(now: number): void {
    const since =
      now - Math.max(this.limits.newOrders.windowSeconds, this.effective.newOrders.windowSeconds) * 1000
    const orders = this.#state.orders
    while (orders.length > 0 && orders[0]! <= since) orders.shift()
    if (this.#state.pausedUntil !== undefined && this.#state.pausedUntil <= now)
      delete this.#state.pausedUntil
    for (const [name, r] of this.#reserved) if (r.until <= now) this.#reserved.delete(name)
    const keep = (limit: { windowSeconds: number } | undefined) => now - (limit?.windowSeconds ?? 0) * 1000
    if (this.#state.certificates) {
      const after = Math.min(keep(this.limits.certificatesPerDomain), keep(this.limits.duplicateCertificates))
      this.#state.certificates = this.#state.certificates.filter((c) => c.pending || c.at > after)
      if (this.#state.certificates.length === 0) delete this.#state.certificates
    }
    if (this.#state.failures) {
      const after = keep(this.limits.failedAuthorizations)
      this.#state.failures = this.#state.failures.filter((f) => f.at > after)
      if (this.#state.failures.length === 0) delete this.#state.failures
    }
    const learned = this.#state.learned
    if (learned) {
      if (learned.pendingAuthorizations && learned.pendingAuthorizations.until <= now)
        delete learned.pendingAuthorizations
      if (learned.newOrders && learned.newOrders.until <= now) delete learned.newOrders
      if (Object.keys(learned).length === 0) delete this.#state.learned
    }
    if (this.#state.blocked) {
      for (const [key, until] of Object.entries(this.#state.blocked))
        if (until <= now) delete this.#state.blocked[key]
      if (Object.keys(this.#state.blocked).length === 0) delete this.#state.blocked
    }
  }

  #forget(name: string): void {
    this.#reserved.delete(name)
    const at = this.#waiting.findIndex((w) => w.name === name)
    if (at >= 0) this.#waiting.splice(at, 1)
  }
}

/**
 * The duplicate limit's key of a set of identifiers: FNV-1a (64 bits) of the sorted, comma-joined names. A refusal
 * naming the set blocks the key `set:<this>` ({@link RateBudget.rateLimited}).
 *
 * @example
 * ```ts
 * import { identifierSetKey } from 'webacme/cloudflare'
 *
 * console.log(identifierSetKey(['b.example.com', 'a.example.com']) === identifierSetKey(['a.example.com', 'b.example.com'])) // true
 * ```
 */
export function identifierSetKey(identifiers: string[]): string {
  return setKey(identifiers)
}

function setKey(identifiers: string[]): string {
  const text = [...new Set(identifiers)].sort().join(',')
  let hash = 0xcbf29ce484222325n
  for (let i = 0; i < text.length; i++) {
    hash ^= BigInt(text.charCodeAt(i))
    hash = (hash * 0x100000001b3n) & 0xffffffffffffffffn
  }
  return hash.toString(36)
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
