import { env } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { ChallengeContext } from '../challenges/solver.ts'
import { acmeChallengeResponse, kvHttp01Solver, kvHttp01Store } from './http01.ts'

let unique = 0
const prefix = () => `acme-challenge-${Date.now().toString(36)}-${++unique}/`

function context(token: string, keyAuthorization: string): ChallengeContext {
  return {
    authorization: {
      url: 'https://ca.test/authz/1',
      status: 'pending',
      identifier: { type: 'dns', value: 'a.example.com' },
      challenges: [],
    },
    challenge: { url: 'https://ca.test/chall/1', type: 'http-01', status: 'pending', token },
    identifier: { type: 'dns', value: 'a.example.com' },
    keyAuthorization,
    accountUrl: 'https://ca.test/acct/1',
  } as ChallengeContext
}

describe('http-01 on KV', () => {
  it('presents into KV with an expiry, answers the CA from KV, and cleans up', async () => {
    const p = prefix()
    const solver = kvHttp01Solver(env.KV, { prefix: p })
    await solver.present(context('tok-1', 'tok-1.thumb'))
    const listed = await env.KV.list({ prefix: p })
    expect(listed.keys.map((k) => k.name)).toEqual([`${p}tok-1`])
    expect(listed.keys[0]!.expiration).toBeGreaterThan(Date.now() / 1000 + 3000)
    const store = kvHttp01Store(env.KV, { prefix: p })
    const res = await acmeChallengeResponse(
      new Request('http://a.example.com/.well-known/acme-challenge/tok-1'),
      store,
    )
    expect(res?.status).toBe(200)
    expect(res?.headers.get('content-type')).toBe('text/plain')
    expect(await res?.text()).toBe('tok-1.thumb')
    const head = await acmeChallengeResponse(
      new Request('http://a.example.com/.well-known/acme-challenge/tok-1', { method: 'HEAD' }),
      store,
    )
    expect(head?.status).toBe(200)
    await solver.cleanup(context('tok-1', 'tok-1.thumb'))
    expect((await env.KV.list({ prefix: p })).keys).toEqual([])
    const gone = await acmeChallengeResponse(
      new Request('http://a.example.com/.well-known/acme-challenge/tok-1'),
      store,
    )
    expect(gone?.status).toBe(404)
  })

  it('leaves other paths to the caller, refuses other methods and bad tokens', async () => {
    const store = kvHttp01Store(env.KV, { prefix: prefix() })
    expect(await acmeChallengeResponse(new Request('http://x.test/api/certificates'), store)).toBeUndefined()
    const post = await acmeChallengeResponse(
      new Request('http://x.test/.well-known/acme-challenge/t', { method: 'POST' }),
      store,
    )
    expect(post?.status).toBe(405)
    expect(post?.headers.get('allow')).toBe('GET, HEAD')
    const bad = await acmeChallengeResponse(
      new Request('http://x.test/.well-known/acme-challenge/a%2Fb'),
      store,
    )
    expect(bad?.status).toBe(404)
  })

  it('waits for KV to propagate only when asked, and stops waiting on abort', async () => {
    expect(kvHttp01Solver(env.KV).ready).toBeUndefined()
    const solver = kvHttp01Solver(env.KV, { propagationDelay: 3_600_000 })
    const controller = new AbortController()
    const waiting = solver.ready!({ ...context('t', 't.x'), signal: controller.signal })
    controller.abort(new Error('stop'))
    await expect(waiting).rejects.toThrow('stop')
  })

  it('refuses wildcards (RFC 8555 §7.1.3)', () => {
    const solver = kvHttp01Solver(env.KV)
    expect(solver.canSolve?.({ type: 'dns', value: '*.example.com' })).toBe(false)
    expect(solver.canSolve?.({ type: 'dns', value: 'example.com' })).toBe(true)
  })
})
