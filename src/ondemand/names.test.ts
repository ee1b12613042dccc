import { describe, expect, it } from 'vitest'
import { compileAllow, coveringWildcard, normalizeServerName, storageName } from './names.ts'

describe('server names', () => {
  it('normalises host names and refuses what SNI must not carry', () => {
    expect(normalizeServerName('WWW.Example.COM.')).toBe('www.example.com')
    for (const bad of [
      '',
      '127.0.0.1',
      '::1',
      '*.example.com',
      'localhost',
      'a..b',
      'x'.repeat(300),
      'a b.com',
    ]) {
      expect(normalizeServerName(bad), bad).toBeUndefined()
    }
  })

  it('maps wildcards to storage names and finds the covering wildcard', () => {
    expect(storageName('*.example.com')).toBe('wildcard_.example.com')
    expect(storageName('a.example.com')).toBe('a.example.com')
    expect(coveringWildcard('a.example.com')).toBe('*.example.com')
    expect(coveringWildcard('example.com')).toBeUndefined()
  })
})

describe('compileAllow', () => {
  it('has no allow-all default', () => {
    expect(() => compileAllow(undefined)).toThrow(/needs `allow`/)
  })

  it('matches exact names and one-label *. patterns', () => {
    const allow = compileAllow(['Example.com', '*.apps.example.com'])
    expect(allow('example.com', {})).toBe(true)
    expect(allow('a.apps.example.com', {})).toBe(true)
    expect(allow('apps.example.com', {})).toBe(false)
    expect(allow('a.b.apps.example.com', {})).toBe(false)
    expect(allow('evil-example.com', {})).toBe(false)
  })

  it('passes a function through', async () => {
    const allow = compileAllow(
      async (name, { remoteAddress }) => name === 'x.test' && remoteAddress === '10.0.0.1',
    )
    expect(await allow('x.test', { remoteAddress: '10.0.0.1' })).toBe(true)
    expect(await allow('x.test', {})).toBe(false)
  })
})
