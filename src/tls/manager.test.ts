import { describe, expect, it } from 'vitest'
import { makeCertificate } from '../../test/fixtures/certificates.ts'
import { freePort } from '../../test/harness/ports.ts'
import { AcmeClient } from '../client.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { saveCertificate } from '../renewal/records.ts'
import type { Lease } from '../storage/lock.ts'
import { MemoryStorage } from '../storage/memory.ts'
import { StorageError } from '../storage/storage.ts'
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

  it('keeps waiting for the lease another process holds through a storage error, then serves what it stored', async () => {
    const name = 'waited.example'
    let waiting = false
    let failures = 0
    let failed!: () => void
    const failedOnce = new Promise<void>((resolve) => (failed = resolve))
    // Fails one read of the certificate while the manager waits for the lease (Redis restarting under a fleet).
    class FlakyStorage extends MemoryStorage {
      override async tryLock(key: string, ttlMs: number): Promise<Lease | undefined> {
        const lease = await super.tryLock(key, ttlMs)
        if (key === name && !lease) waiting = true
        return lease
      }
      override async get(key: string): Promise<unknown> {
        if (waiting && key === `certificates/${name}` && failures === 0) {
          failures++
          failed()
          throw new StorageError('ERR_STORAGE', key, 'the connection to the storage was lost')
        }
        return super.get(key)
      }
    }
    const storage = new FlakyStorage()
    const other = await storage.tryLock(name, 60_000) // the other process, mid-issuance
    const manager = createCertificateManager({
      client: await client(),
      account: { termsOfServiceAgreed: true },
      storage,
      allow: [name],
    })
    try {
      const served = manager.getCertificate(name)
      await failedOnce
      const { pem, key } = await makeCertificate({
        names: [name],
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 86_400_000),
      })
      const record = await saveCertificate(storage, name, { certificate: pem, certificateKey: key })
      await storage.unlock(other!)
      expect((await served).serialNumber).toBe(record.serialNumber)
      expect(failures).toBe(1)
      expect(manager.stats()).toMatchObject({ ordersPlaced: 0, waitedForOtherProcess: 1 })
    } finally {
      await manager.close()
    }
  })
})
