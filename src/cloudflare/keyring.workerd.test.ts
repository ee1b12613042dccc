import { describe, expect, it } from 'vitest'
import { generateKeyPair } from '../jose/algorithms.ts'
import { exportPrivateKeyPem } from '../pkix/private-key.ts'
import { StorageError } from '../storage/storage.ts'
import { isSealedValue, keyRing, openPrivateKey, sealPrivateKey } from './keyring.ts'

const A = 'secret-A-0123456789abcdefghijklmnopqrstuvwxyz'
const B = 'secret-B-0123456789abcdefghijklmnopqrstuvwxyz'

describe('keyRing', () => {
  it('seals with AES-256-GCM bound to the label, and opens only for that label', async () => {
    const ring = await keyRing(A)
    const sealed = await ring.seal('hello', 'accounts/main')
    expect(isSealedValue(sealed)).toBe(true)
    expect(sealed.kid).toBe(ring.kids[0])
    expect(JSON.stringify(sealed)).not.toContain('hello')
    expect(await ring.open(sealed, 'accounts/main')).toBe('hello')
    await expect(ring.open(sealed, 'accounts/other')).rejects.toMatchObject({ code: 'ERR_STORAGE_CORRUPT' })
    // A fresh IV each time.
    expect((await ring.seal('hello', 'accounts/main')).iv).not.toBe(sealed.iv)
  })

  it('refuses what is not sealed, altered data, and secrets not in the ring', async () => {
    const ring = await keyRing(A)
    await expect(ring.open({ privateKey: 'plain' }, 'x')).rejects.toBeInstanceOf(StorageError)
    const sealed = await ring.seal('hello', 'x')
    const flipped = { ...sealed, data: sealed.data.slice(0, -2) + (sealed.data.endsWith('A') ? 'BA' : 'AA') }
    await expect(ring.open(flipped, 'x')).rejects.toThrow(/does not open/)
    const other = await keyRing(B)
    await expect(other.open(sealed, 'x')).rejects.toThrow(/not in the key ring/)
  })

  it('rotates: the first secret seals, every secret of the ring opens', async () => {
    const old = await keyRing(A)
    const sealedOld = await old.seal('v1', 'k')
    const rotated = await keyRing([B, A])
    expect(rotated.kids).toEqual([(await keyRing(B)).kids[0], old.kids[0]])
    expect(await rotated.open(sealedOld, 'k')).toBe('v1')
    expect((await rotated.seal('v2', 'k')).kid).toBe(rotated.kids[0])
  })

  it('needs secrets of at least 32 characters', async () => {
    await expect(keyRing('short')).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(keyRing([])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
    await expect(keyRing([undefined, ''])).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' })
  })

  it('seals a private key and opens it as the same key pair', async () => {
    const ring = await keyRing(A)
    const key = await generateKeyPair('ES256')
    const sealed = await sealPrivateKey(ring, key.privateKey, 'jobs/a/certificate-key')
    expect(JSON.stringify(sealed)).not.toContain('PRIVATE KEY')
    const opened = await openPrivateKey(ring, sealed, 'jobs/a/certificate-key')
    expect(await exportPrivateKeyPem(opened.privateKey)).toBe(await exportPrivateKeyPem(key.privateKey))
  })
})
