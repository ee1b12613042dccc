import { describe, expect, it } from 'vitest'
import { freePort } from '../../test/harness/ports.ts'
import { AcmeClient } from '../client.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { MemoryStorage } from '../storage/memory.ts'
import { createCertificateManager } from './manager.ts'

// A CA nobody listens on: these tests must never reach it.
const client = async () =>
  new AcmeClient({ directoryUrl: 'https://127.0.0.1:9/dir', accountKey: await generateKeyPair('ES256') })

describe('createCertificateManager', () => {
  it('needs allow, storage and the agreement to the terms of service', async () => {
    const c = await client()
    const storage = new MemoryStorage()
    const account = { termsOfServiceAgreed: true as const }
    // @ts-expect-error allow is required
    expect(() => createCertificateManager({ client: c, account, storage })).toThrow(/needs `allow`/)
    // @ts-expect-error storage is required
    expect(() => createCertificateManager({ client: c, account, allow: [] })).toThrow(/storage/)
    expect(() =>
      // @ts-expect-error termsOfServiceAgreed must be true
      createCertificateManager({ client: c, account: { termsOfServiceAgreed: false }, storage, allow: [] }),
    ).toThrow(expect.objectContaining({ code: 'ERR_TERMS_NOT_AGREED' }))
  })

  it('answers http-01 from the storage and redirects everything else to https', async () => {
    const storage = new MemoryStorage()
    const manager = createCertificateManager({
      client: await client(),
      account: { termsOfServiceAgreed: true },
      storage,
      allow: ['example.com'],
    })
    try {
      await storage.put('challenges/http-01/tok_en-1', { keyAuthorization: 'tok_en-1.thumb' })
      const answer = await manager.fetchHandler(
        new Request('http://example.com/.well-known/acme-challenge/tok_en-1'),
      )
      expect(answer.status).toBe(200)
      expect(await answer.text()).toBe('tok_en-1.thumb')
      const redirect = await manager.fetchHandler(new Request('http://example.com:80/a/b?c=d'))
      expect(redirect.status).toBe(308)
      expect(redirect.headers.get('location')).toBe('https://example.com/a/b?c=d')
      const unknown = await manager.fetchHandler(
        new Request('http://example.com/.well-known/acme-challenge/nope'),
      )
      expect(unknown.status).toBe(308)
      expect(manager.stats().http01Answered).toBe(1)
    } finally {
      await manager.close()
    }
  })

  it('refuses a name outside the policy without a request, and remembers the refusal', async () => {
    const requests: string[] = []
    const manager = createCertificateManager({
      client: new AcmeClient({
        directoryUrl: 'https://127.0.0.1:9/dir',
        accountKey: await generateKeyPair('ES256'),
        onHttp: (e) => requests.push(e.url),
      }),
      account: { termsOfServiceAgreed: true },
      storage: new MemoryStorage(),
      allow: ['example.com'],
    })
    const refused: boolean[] = []
    manager.on('refused', (e) => refused.push(e.cached))
    try {
      await expect(manager.getCertificate('other.example')).rejects.toMatchObject({
        code: 'ERR_NAME_REFUSED',
        reason: 'not-allowed',
      })
      await expect(manager.getCertificate('OTHER.example.')).rejects.toMatchObject({
        code: 'ERR_NAME_REFUSED',
      })
      expect(refused).toEqual([false, true])
      expect(requests).toEqual([])
    } finally {
      await manager.close()
    }
  })

  it('shares a failed issuance with the managers waiting on the same storage lease: one of them tries', async () => {
    const storage = new MemoryStorage()
    const requests = [0, 0]
    // A free port: nothing listens, so every request is refused at once (fetch refuses port 9 itself, slowly).
    const port = await freePort()
    const managers = await Promise.all(
      [0, 1].map(async (i) =>
        createCertificateManager({
          client: new AcmeClient({
            directoryUrl: `https://127.0.0.1:${port}/dir`,
            accountKey: await generateKeyPair('ES256'),
            onHttp: () => void requests[i]!++,
          }),
          account: { termsOfServiceAgreed: true },
          storage,
          allow: ['shared.example'],
        }),
      ),
    )
    try {
      const results = await Promise.allSettled(managers.map((m) => m.getCertificate('shared.example')))
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
      for (const r of results) {
        expect((r as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_ISSUANCE_FAILED' })
      }
      // Exactly one manager sent anything: the other found the failure in the storage when it got the lease.
      expect(requests.filter((n) => n > 0)).toHaveLength(1)
      expect(await storage.list('failures/')).toEqual(['failures/shared.example'])
    } finally {
      await Promise.all(managers.map((m) => m.close()))
    }
  })
})
