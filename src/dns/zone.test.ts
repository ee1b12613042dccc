// Names and zone discovery: canonical form, candidates walking up the labels, the providers' cached finder.
import { describe, expect, it } from 'vitest'
import { occurrence, turns } from '../../test/fixtures/events.ts'
import { InvalidArgumentError } from '../errors.ts'
import { isDnsProviderError } from './errors.ts'
import { canonicalName, findZone, relativeName, toFqdn, zoneCandidates, zoneFinder } from './zone.ts'

describe('names', () => {
  it('canonicalises and validates (RFC 1035 §2.3.4)', () => {
    expect(canonicalName('_ACME-Challenge.Example.COM.')).toBe('_acme-challenge.example.com')
    expect(toFqdn('example.com')).toBe('example.com.')
    for (const bad of ['', '.', 'a..b', `${'a'.repeat(64)}.com`, `${'a.'.repeat(127)}com`]) {
      expect(() => canonicalName(bad)).toThrow(InvalidArgumentError)
    }
  })

  it('gives names relative to a zone', () => {
    expect(relativeName('_acme-challenge.www.example.com', 'example.com.')).toBe('_acme-challenge.www')
    expect(relativeName('example.com', 'example.com')).toBe('')
    expect(() => relativeName('example.org', 'example.com')).toThrow(/not inside/)
    expect(() => relativeName('badexample.com', 'example.com')).toThrow(/not inside/)
  })

  it('lists the name and its ancestors, longest first, without the root', () => {
    expect(zoneCandidates('_acme-challenge.a.example.com')).toEqual([
      '_acme-challenge.a.example.com',
      'a.example.com',
      'example.com',
      'com',
    ])
  })
})

describe('findZone', () => {
  it('returns the first ancestor the lookup knows, asking from the longest name', async () => {
    const asked: string[] = []
    const zone = await findZone('_acme-challenge.www.example.com', async (candidate) => {
      asked.push(candidate)
      return candidate === 'example.com' ? { id: 'Z1' } : undefined
    })
    expect(zone).toEqual({ id: 'Z1' })
    expect(asked).toEqual(['_acme-challenge.www.example.com', 'www.example.com', 'example.com'])
    expect(await findZone('a.b', async () => undefined)).toBeUndefined()
  })
})

describe('zoneFinder', () => {
  it('remembers answers, shares lookups in flight, forgets failures, and names the provider when none', async () => {
    const asked: string[] = []
    let fail = true
    let gate = occurrence() // lookups of example.com are held until the test opens the gate
    const find = zoneFinder('test', async (candidate) => {
      asked.push(candidate)
      if (candidate === 'example.com') await gate.happened
      if (candidate === 'example.com' && fail) {
        fail = false
        throw new Error('flaky')
      }
      return candidate === 'example.com' ? 'zone-1' : undefined
    })
    const first = find('a.example.com')
    await turns()
    gate.fire()
    await expect(first).rejects.toThrow('flaky')

    gate = occurrence()
    asked.length = 0
    const both = Promise.all([find('a.example.com'), find('b.example.com')])
    await turns() // both callers have walked up to example.com while its lookup is held
    gate.fire()
    expect(await both).toEqual(['zone-1', 'zone-1'])
    expect(asked.filter((c) => c === 'example.com')).toEqual(['example.com']) // one lookup, shared; the failure forgotten
    asked.length = 0
    expect(await find('a.example.com')).toBe('zone-1')
    expect(asked).toEqual([]) // remembered
    const err = await find('nowhere.invalid').catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_NOT_FOUND')).toBe(true)
    expect((err as Error).message).toBe('test: no zone holds nowhere.invalid')
  })

  it('lets an aborted caller go without starting a lookup', async () => {
    let calls = 0
    const find = zoneFinder('test', async () => {
      calls++
      return 'z'
    })
    const reason = new Error('stop')
    await expect(find('example.com', AbortSignal.abort(reason))).rejects.toBe(reason)
    expect(calls).toBe(0)
  })
})
