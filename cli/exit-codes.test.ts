import { describe, expect, it } from 'vitest'
import { CircuitBreaker } from 'webacme'
import { EXIT, exitCodeFor } from './exit-codes.ts'
import { describeError } from './output.ts'

describe('exit codes', () => {
  it('maps an open circuit breaker (ERR_CA_UNAVAILABLE) to the network exit code, with retryAfter in --json', () => {
    let now = 0
    const breaker = new CircuitBreaker({ threshold: 1, coolDown: 60_000, now: () => now })
    const done = breaker.admit('https://ca.example/directory')
    done(Object.assign(new Error('fetch failed'), { name: 'AcmeNetworkError' }))
    // A plain Error says nothing about the CA: the breaker stays closed until the CA really leaves one unanswered.
    expect(breaker.state).toBe('closed')
    breaker.record('unanswered', new Error('connect ECONNREFUSED'))
    now = 1
    let err: unknown
    try {
      breaker.admit('https://ca.example/acme/new-order')
    } catch (e) {
      err = e
    }
    expect(exitCodeFor(err)).toBe(EXIT.network)
    expect(describeError(err)).toMatchObject({
      name: 'CaUnavailableError',
      code: 'ERR_CA_UNAVAILABLE',
      retryAfter: new Date(60_000).toISOString(),
    })
  })
})
