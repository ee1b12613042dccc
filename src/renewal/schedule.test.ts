import { describe, expect, it } from 'vitest'
import {
  chooseRenewalTime,
  ERROR_CHECK_INTERVAL_MS,
  errorCheckTime,
  isDue,
  isValidWindow,
  lifetimeRenewalTime,
  MAX_CHECK_INTERVAL_MS,
  MIN_CHECK_INTERVAL_MS,
  nextCheckTime,
  renewalBackoff,
} from './schedule.ts'

const T0 = Date.parse('2030-01-01T00:00:00Z')
const HOUR = 3_600_000
const DAY = 24 * HOUR
const at = (ms: number) => new Date(ms)

describe('renewal window (RFC 9773 §4.2)', () => {
  const window = { start: at(T0 + DAY), end: at(T0 + 2 * DAY) }

  it('picks uniformly in [start, end)', () => {
    expect(chooseRenewalTime(window, undefined, () => 0).renewAt).toBe(at(T0 + DAY).toISOString())
    expect(chooseRenewalTime(window, undefined, () => 0.5).renewAt).toBe(at(T0 + 1.5 * DAY).toISOString())
    const last = Date.parse(chooseRenewalTime(window, undefined, () => 0.999999999999).renewAt)
    expect(last).toBeLessThan(T0 + 2 * DAY)
    expect(last).toBeGreaterThan(T0 + 2 * DAY - 1000)
    // A broken RNG cannot push the pick out of the window.
    expect(Date.parse(chooseRenewalTime(window, undefined, () => 1).renewAt)).toBeLessThan(T0 + 2 * DAY)
    // Math.random by default: always inside.
    for (let i = 0; i < 50; i++) {
      const pick = Date.parse(chooseRenewalTime(window).renewAt)
      expect(pick >= T0 + DAY && pick < T0 + 2 * DAY).toBe(true)
    }
  })

  it('keeps the pick while the window stays, and picks again when it moves', () => {
    const first = chooseRenewalTime(window, undefined, () => 0.25)
    const again = chooseRenewalTime({ start: at(T0 + DAY), end: at(T0 + 2 * DAY) }, first, () => 0.9)
    expect(again).toEqual(first)
    const moved = chooseRenewalTime({ start: at(T0 + DAY), end: at(T0 + 3 * DAY) }, first, () => 0.9)
    expect(moved.renewAt).toBe(at(T0 + DAY + 0.9 * 2 * DAY).toISOString())
    expect(moved.window.end).toBe(at(T0 + 3 * DAY).toISOString())
  })

  it('treats a window whose end is not after its start as invalid', () => {
    expect(isValidWindow(window)).toBe(true)
    expect(isValidWindow({ start: at(T0), end: at(T0) })).toBe(false)
    expect(isValidWindow({ start: at(T0 + 1), end: at(T0) })).toBe(false)
    expect(isValidWindow({ start: new Date(Number.NaN), end: at(T0) })).toBe(false)
    expect(() => chooseRenewalTime({ start: at(T0), end: at(T0) })).toThrow(RangeError)
  })

  it('is due when the pick is past (renew now), or within the lookahead', () => {
    expect(isDue(T0, T0)).toBe(true)
    expect(isDue(T0 - DAY, T0)).toBe(true)
    expect(isDue(T0 + 1, T0)).toBe(false)
    expect(isDue(at(T0 + HOUR), at(T0), HOUR)).toBe(true)
    expect(isDue(T0 + HOUR + 1, T0, HOUR)).toBe(false)
  })
})

describe('lifetime rule (no ARI)', () => {
  it('renews a 6-day certificate after 4 days and a 90-day one after 60', () => {
    expect(lifetimeRenewalTime(T0, T0 + 6 * DAY).getTime()).toBe(T0 + 4 * DAY)
    expect(lifetimeRenewalTime(at(T0), at(T0 + 90 * DAY)).getTime()).toBe(T0 + 60 * DAY)
    expect(lifetimeRenewalTime(T0, T0 + 45 * DAY).getTime()).toBe(T0 + 30 * DAY)
  })
})

describe('Retry-After handling (RFC 9773 §4.3)', () => {
  it('clamps to one minute .. one day, both ways', () => {
    expect(nextCheckTime(at(T0 + 5_000), T0).getTime()).toBe(T0 + MIN_CHECK_INTERVAL_MS)
    expect(nextCheckTime(at(T0 - DAY), T0).getTime()).toBe(T0 + MIN_CHECK_INTERVAL_MS)
    expect(nextCheckTime(at(T0 + 3 * DAY), T0).getTime()).toBe(T0 + MAX_CHECK_INTERVAL_MS)
    expect(nextCheckTime(at(T0 + 6 * HOUR), at(T0)).getTime()).toBe(T0 + 6 * HOUR)
    expect(MIN_CHECK_INTERVAL_MS).toBe(60_000)
    expect(MAX_CHECK_INTERVAL_MS).toBe(86_400_000)
  })

  it('asks again after six hours when there is no Retry-After or after a long-term error', () => {
    expect(nextCheckTime(undefined, T0).getTime()).toBe(T0 + 6 * HOUR)
    expect(nextCheckTime(new Date(Number.NaN), T0).getTime()).toBe(T0 + 6 * HOUR)
    expect(errorCheckTime(T0).getTime()).toBe(T0 + ERROR_CHECK_INTERVAL_MS)
    expect(ERROR_CHECK_INTERVAL_MS).toBe(6 * HOUR)
  })

  it('backs off failed renewals from one hour to one day', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(renewalBackoff)).toEqual([
      HOUR,
      2 * HOUR,
      4 * HOUR,
      8 * HOUR,
      16 * HOUR,
      DAY,
      DAY,
      DAY,
    ])
    expect(renewalBackoff(0)).toBe(HOUR)
  })
})
