import { describe, expect, it } from 'vitest'
import type { DnsAdapter } from '../dns/adapter.ts'
import type { DnsResolver } from '../dns/resolver.ts'
import type { Authorization, Challenge } from '../protocol/resources.ts'
import { dns01Solver } from './dns-01.ts'
import { http01Solver } from './http-01.ts'
import { dns01TxtValue } from './key-authorization.ts'
import type { ChallengeContext } from './solver.ts'

function context(type: string, value: string, token = 'tok_1'): ChallengeContext {
  const challenge: Challenge = {
    type,
    url: `https://ca.test/chall/${type}/${value}`,
    status: 'pending',
    token,
  }
  const authorization: Authorization = {
    url: 'https://ca.test/authz/1',
    identifier: { type: 'dns', value: value.replace(/^\*\./, '') },
    status: 'pending',
    challenges: [challenge],
    ...(value.startsWith('*.') && { wildcard: true }),
  }
  return {
    authorization,
    challenge,
    identifier: { type: 'dns', value },
    keyAuthorization: `${token}.thumb`,
    accountUrl: 'https://ca.test/acct/1',
  }
}

/** A DNS provider double that keeps TXT sets the way the adapter contract says. */
function memoryAdapter(): DnsAdapter & { zone: Map<string, Set<string>>; calls: string[] } {
  const zone = new Map<string, Set<string>>()
  const calls: string[] = []
  return {
    name: 'memory',
    zone,
    calls,
    async createTxt(name, value) {
      calls.push(`create ${name}`)
      zone.set(name, new Set([...(zone.get(name) ?? []), value]))
    },
    async removeTxt(name, value) {
      calls.push(`remove ${name}`)
      zone.get(name)?.delete(value)
      if (zone.get(name)?.size === 0) zone.delete(name)
    },
  }
}

describe('http01Solver', () => {
  it('serves exactly the presented token, GET and HEAD, and forgets it on cleanup', async () => {
    const solver = http01Solver()
    const ctx = context('http-01', 'a.test', 'abc_DEF-1')
    await solver.present(ctx)
    const url = 'http://a.test/.well-known/acme-challenge/abc_DEF-1'
    const res = await solver.handle(new Request(url))
    expect(res?.status).toBe(200)
    expect(res?.headers.get('content-type')).toBe('text/plain')
    expect(await res?.text()).toBe('abc_DEF-1.thumb')
    expect(await (await solver.handle(new Request(url, { method: 'HEAD' })))?.text()).toBe('')
    expect(await solver.handle(new Request('http://a.test/.well-known/acme-challenge/other'))).toBeUndefined()
    expect(await solver.handle(new Request('http://a.test/.well-known/acme-challenge/../x'))).toBeUndefined()
    expect(await solver.handle(new Request(url, { method: 'POST' }))).toBeUndefined()
    await solver.cleanup(ctx)
    expect(await solver.handle(new Request(url))).toBeUndefined()
  })

  it('declines wildcard identifiers (RFC 8555 §7.1.3)', () => {
    const solver = http01Solver()
    expect(solver.canSolve?.({ type: 'dns', value: '*.a.test' })).toBe(false)
    expect(solver.canSolve?.({ type: 'dns', value: 'a.test' })).toBe(true)
  })
})

describe('dns01Solver', () => {
  it('apex and wildcard keep both values at one name; cleanup removes exactly its own', async () => {
    const adapter = memoryAdapter()
    const solver = dns01Solver({ adapter })
    const apex = context('dns-01', 'a.test', 'tok_apex')
    const wild = context('dns-01', '*.a.test', 'tok_wild')
    await solver.present(apex)
    await solver.present(wild)
    const values = [...(adapter.zone.get('_acme-challenge.a.test') ?? [])]
    expect(values.sort()).toEqual(
      [await dns01TxtValue('tok_apex.thumb'), await dns01TxtValue('tok_wild.thumb')].sort(),
    )
    await solver.cleanup(apex)
    expect([...(adapter.zone.get('_acme-challenge.a.test') ?? [])]).toEqual([
      await dns01TxtValue('tok_wild.thumb'),
    ])
    await solver.cleanup(wild)
    expect(adapter.zone.size).toBe(0)
  })

  it('follows an _acme-challenge CNAME and checks propagation only after creating the record', async () => {
    const adapter = memoryAdapter()
    const queries: string[] = []
    const resolver: DnsResolver = {
      async resolveCname(name) {
        queries.push(`CNAME ${name}`)
        return name === '_acme-challenge.a.test' ? 'a-test.acme.delegated.test.' : undefined
      },
      async resolveTxt(name) {
        queries.push(`TXT ${name}`)
        return [...(adapter.zone.get(name) ?? [])]
      },
    }
    const solver = dns01Solver({ adapter, resolver, propagation: { interval: 5 } })
    const ctx = context('dns-01', 'a.test')
    await solver.present(ctx)
    expect(adapter.calls).toEqual(['create a-test.acme.delegated.test'])
    await solver.ready?.(ctx)
    // No TXT query before the record existed.
    expect(queries).toEqual([
      'CNAME _acme-challenge.a.test',
      'CNAME a-test.acme.delegated.test',
      'TXT a-test.acme.delegated.test',
    ])
    await solver.cleanup(ctx)
    expect(adapter.zone.size).toBe(0)
  })

  it('gives up on propagation with ERR_WAIT_TIMEOUT', async () => {
    const adapter = memoryAdapter()
    const resolver: DnsResolver = { resolveCname: async () => undefined, resolveTxt: async () => [] }
    const solver = dns01Solver({ adapter, resolver, propagation: { interval: 5, timeout: 30 } })
    const ctx = context('dns-01', 'b.test')
    await solver.present(ctx)
    await expect(solver.ready?.(ctx)).rejects.toMatchObject({ code: 'ERR_WAIT_TIMEOUT' })
  })
})
