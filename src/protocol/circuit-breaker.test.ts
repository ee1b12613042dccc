import { describe, expect, it } from 'vitest'
import { AcmeNetworkError, AcmeProblemError, AcmeResponseError, isAcmeError } from '../errors.ts'
import { attemptOutcome, CaUnavailableError, CircuitBreaker } from './circuit-breaker.ts'

const URL_ = 'https://ca.example/acme/new-order'
const reset = () => new AcmeNetworkError('ERR_NETWORK', 'reset', { url: URL_, reason: 'reset' })
const problem = (type: string, status: number) =>
  new AcmeProblemError({ type: `urn:ietf:params:acme:error:${type}`, detail: type }, { status, url: URL_ })

/** A breaker on a clock the test moves. */
function breakerAt(threshold = 3, coolDown = 1000) {
  const clock = { now: 0 }
  return { clock, breaker: new CircuitBreaker({ threshold, coolDown, now: () => clock.now }) }
}

function fail(breaker: CircuitBreaker, times: number): void {
  for (let i = 0; i < times; i++) breaker.admit(URL_)(reset())
}

describe('attemptOutcome: did the CA answer?', () => {
  it('counts a problem document, a 429 and any status below 500 as an answer', () => {
    expect(attemptOutcome(undefined)).toBe('answered')
    expect(attemptOutcome(problem('rateLimited', 429))).toBe('answered')
    expect(attemptOutcome(problem('serverInternal', 500))).toBe('answered')
    expect(attemptOutcome(new AcmeResponseError('404', { url: URL_, status: 404 }))).toBe('answered')
  })

  it('counts network failures, timeouts and a 5xx without a problem document as no answer', () => {
    expect(attemptOutcome(reset())).toBe('unanswered')
    expect(attemptOutcome(new AcmeNetworkError('ERR_TIMEOUT', 'slow', { url: URL_ }))).toBe('unanswered')
    expect(
      attemptOutcome(
        new AcmeNetworkError('ERR_NETWORK', 'refused', { url: URL_, reason: 'connection-refused' }),
      ),
    ).toBe('unanswered')
    expect(attemptOutcome(new AcmeResponseError('HTTP 502', { url: URL_, status: 502 }))).toBe('unanswered')
  })

  it("leaves TLS trust failures and aborts out: they say nothing about the CA's health", () => {
    expect(
      attemptOutcome(new AcmeNetworkError('ERR_NETWORK', 'untrusted', { url: URL_, reason: 'tls' })),
    ).toBe('neutral')
    expect(attemptOutcome(new DOMException('stop', 'AbortError'))).toBe('neutral')
  })
})

describe('CircuitBreaker', () => {
  it('opens after `threshold` unanswered attempts in a row, and refuses with ERR_CA_UNAVAILABLE', () => {
    const { breaker } = breakerAt(3, 1000)
    fail(breaker, 2)
    expect(breaker.state).toBe('closed')
    fail(breaker, 1)
    expect(breaker.state).toBe('open')
    let err: unknown
    try {
      breaker.admit(URL_)
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(CaUnavailableError)
    expect(isAcmeError(err, 'ERR_CA_UNAVAILABLE')).toBe(true)
    expect(err).toMatchObject({ url: URL_, consecutiveFailures: 3, retryIn: 1000 })
    expect((err as CaUnavailableError).retryAfter.getTime()).toBe(1000)
    expect((err as CaUnavailableError).cause).toBeInstanceOf(AcmeNetworkError)
  })

  it('resets the count on any answer, so only failures in a row open it', () => {
    const { breaker } = breakerAt(3)
    fail(breaker, 2)
    breaker.admit(URL_)(problem('rateLimited', 429))
    fail(breaker, 2)
    expect(breaker.state).toBe('closed')
    expect(breaker.consecutiveFailures).toBe(2)
  })

  it('lets exactly one probe through after the cool-down; an answer closes it', () => {
    const { breaker, clock } = breakerAt(1, 1000)
    fail(breaker, 1)
    clock.now = 999
    expect(() => breaker.admit(URL_)).toThrow(CaUnavailableError)
    clock.now = 1000
    expect(breaker.state).toBe('half-open')
    const probe = breaker.admit(URL_)
    expect(breaker.state).toBe('open') // the probe is out: everyone else still fails fast
    expect(() => breaker.admit(URL_)).toThrow(CaUnavailableError)
    probe(undefined)
    expect(breaker.state).toBe('closed')
    expect(breaker.openUntil).toBeUndefined()
  })

  it('opens again for a whole cool-down when the probe fails; a neutral probe frees the slot', () => {
    const { breaker, clock } = breakerAt(1, 1000)
    fail(breaker, 1)
    clock.now = 1000
    breaker.admit(URL_)(reset())
    expect(breaker.state).toBe('open')
    expect(breaker.openUntil?.getTime()).toBe(2000)
    clock.now = 2000
    breaker.admit(URL_)(new DOMException('stop', 'AbortError'))
    expect(breaker.state).toBe('half-open') // another request may probe
  })

  it('does not push the probe back for late failures of attempts sent before it opened', () => {
    const { breaker, clock } = breakerAt(2, 1000)
    const late = breaker.admit(URL_)
    fail(breaker, 2)
    clock.now = 500
    late(reset())
    expect(breaker.openUntil?.getTime()).toBe(1000)
    expect(breaker.consecutiveFailures).toBe(3)
  })

  it('throwIfOpen refuses while open without taking the probe', () => {
    const { breaker, clock } = breakerAt(1, 1000)
    breaker.throwIfOpen(URL_)
    fail(breaker, 1)
    expect(() => breaker.throwIfOpen(URL_)).toThrow(CaUnavailableError)
    clock.now = 1000
    breaker.throwIfOpen(URL_)
    expect(breaker.state).toBe('half-open')
  })
})
