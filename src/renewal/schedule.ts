/**
 * When to renew and when to ask again, as pure functions of the inputs and an injectable clock and RNG:
 * RFC 9773 §4.2 (a uniformly random instant in the suggested window, renew at once when it is past), §4.3
 * (Retry-After clamped to a sane range, six hours after long-term errors) and, without ARI, the lifetime rule
 * (renew when one third of the lifetime remains).
 */

/** Shortest re-check interval honoured (RFC 9773 §4.3.2: "values under one minute could be treated as ... one minute"). */
export const MIN_CHECK_INTERVAL_MS = 60_000
/** Longest re-check interval honoured (RFC 9773 §4.3.2: "values over one day could be treated as ... one day"). */
export const MAX_CHECK_INTERVAL_MS = 86_400_000
/** Re-check interval after a long-term error (RFC 9773 §4.3.3: "as soon as possible after six hours"). */
export const ERROR_CHECK_INTERVAL_MS = 21_600_000

/** A time range, e.g. an RFC 9773 suggested window. */
export interface TimeWindow {
  start: Date
  end: Date
}

/** A renewal instant picked in a window, in a JSON-friendly form so that it can be stored and kept stable. */
export interface RenewalChoice {
  /** The window it was picked in (RFC 3339). */
  window: { start: string; end: string }
  /** The picked instant (RFC 3339). */
  renewAt: string
}

/** A time, or milliseconds since the epoch. */
export type Instant = Date | number

const ms = (t: Instant): number => (typeof t === 'number' ? t : t.getTime())

/**
 * A window is valid only when its end is after its start (RFC 9773 §4.2: one whose end equals or precedes its start
 * must be treated as no answer at all).
 */
export function isValidWindow(window: TimeWindow): boolean {
  const start = window.start.getTime()
  const end = window.end.getTime()
  return Number.isFinite(start) && Number.isFinite(end) && end > start
}

/**
 * Picks the renewal instant: uniformly at random in `[start, end)` (RFC 9773 §4.2 step 2). When `previous` was
 * picked in the same window it is returned unchanged, so the instant is stable across checks until the CA moves
 * the window.
 *
 * @param random A function returning a number in `[0, 1)` (default `Math.random`).
 * @see {@link https://www.rfc-editor.org/rfc/rfc9773#section-4.2 RFC 9773 §4.2}
 */
export function chooseRenewalTime(
  window: TimeWindow,
  previous?: RenewalChoice,
  random: () => number = Math.random,
): RenewalChoice {
  if (!isValidWindow(window)) throw new RangeError('the window must end after it starts')
  const start = window.start.getTime()
  const end = window.end.getTime()
  if (previous && Date.parse(previous.window.start) === start && Date.parse(previous.window.end) === end) {
    const at = Date.parse(previous.renewAt)
    if (at >= start && at < end) return previous
  }
  const r = Math.min(Math.max(random(), 0), 1 - Number.EPSILON)
  const at = start + Math.floor(r * (end - start))
  return {
    window: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
    renewAt: new Date(at).toISOString(),
  }
}

/**
 * The lifetime rule for CAs without ARI (or when ARI fails): renew when one third of the lifetime remains, so a
 * 6-day certificate renews after 4 days and a 90-day one after 60.
 */
export function lifetimeRenewalTime(notBefore: Instant, notAfter: Instant): Date {
  const start = ms(notBefore)
  const end = ms(notAfter)
  return new Date(Math.floor(end - Math.max(0, end - start) / 3))
}

/**
 * Whether a renewal instant has come (RFC 9773 §4.2 step 3: a past instant means "now"). `lookahead` implements
 * step 5 for clients that wake up at fixed intervals: an instant before the next wake-up counts as due.
 */
export function isDue(renewAt: Instant, now: Instant, lookahead = 0): boolean {
  return ms(renewAt) <= ms(now) + Math.max(0, lookahead)
}

/**
 * The next renewalInfo check: the server's `Retry-After` clamped to one minute .. one day from `now`, or six hours
 * when there is none (RFC 9773 §4.3.2, §4.3.3).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc9773#section-4.3 RFC 9773 §4.3}
 */
export function nextCheckTime(retryAfter: Instant | undefined, now: Instant): Date {
  const base = ms(now)
  if (retryAfter === undefined || !Number.isFinite(ms(retryAfter)))
    return new Date(base + ERROR_CHECK_INTERVAL_MS)
  const wait = Math.min(Math.max(ms(retryAfter) - base, MIN_CHECK_INTERVAL_MS), MAX_CHECK_INTERVAL_MS)
  return new Date(base + wait)
}

/** The next renewalInfo check after a long-term error: six hours from `now` (RFC 9773 §4.3.3). */
export function errorCheckTime(now: Instant): Date {
  return new Date(ms(now) + ERROR_CHECK_INTERVAL_MS)
}

/**
 * How long to wait after the `failures`-th failed renewal in a row: one hour, doubling, at most one day. Renewal
 * attempts stay subject to backoff whatever the window says (RFC 9773 §4.2), and Let's Encrypt allows only five
 * failed validations per identifier per hour.
 */
export function renewalBackoff(failures: number): number {
  const n = Math.max(1, Math.floor(failures))
  return Math.min(3_600_000 * 2 ** Math.min(n - 1, 10), MAX_CHECK_INTERVAL_MS)
}
