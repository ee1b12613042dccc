/**
 * The Storage contract (as src/storage/storage.test.ts states it for memory and files) for the Workers backends, in
 * workerd with real local KV, R2 and Durable Object storage: R2Storage, KvStorage (with and without its Durable
 * Object coordinator), DurableObjectRecords, and sealedStorage over each.
 */
import { env, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import type { TestRecords } from '../../test/cloudflare/worker.ts'
import { storageContract } from '../../test/storage-contract.ts'
import type { Storage } from '../storage/storage.ts'
import type { DurableObjectRecords } from './do-storage.ts'
import { isSealedValue, keyRing } from './keyring.ts'
import { KvStorage } from './kv-storage.ts'
import { R2Storage } from './r2-storage.ts'
import { sealedStorage } from './sealed-storage.ts'

const SECRET = 'storage-test-secret-0123456789abcdefghijklmnop'
let unique = 0
const fresh = () => `t${Date.now().toString(36)}-${++unique}/`

type Backend = { storage: Storage; raw: (key: string) => Promise<unknown> }

/** Each backend under a fresh prefix, with a way to read what it really stored. */
const backends: Array<[string, () => Promise<Backend>]> = [
  [
    'R2Storage',
    async () => {
      const prefix = fresh()
      return {
        storage: new R2Storage(env.BUCKET, { prefix }),
        raw: async (key) => JSON.parse((await (await env.BUCKET.get(prefix + key))?.text()) ?? 'null'),
      }
    },
  ],
  [
    'KvStorage + coordinator',
    async () => {
      const prefix = fresh()
      return {
        storage: new KvStorage(env.KV, { prefix, coordinator: env.COORDINATOR.getByName(prefix) }),
        raw: async (key) => JSON.parse((await env.KV.get(prefix + key, 'text')) ?? 'null'),
      }
    },
  ],
  [
    'DurableObjectRecords',
    async () => {
      const stub = env.RECORDS.getByName(fresh())
      // The storage object lives in the Durable Object: every call runs inside it.
      const inside = <T>(fn: (s: DurableObjectRecords) => Promise<T>) =>
        runInDurableObject(stub, (instance: TestRecords) => fn(instance.records()))
      const storage: Storage = {
        get: (k) => inside((s) => s.get(k)),
        put: (k, v) => inside((s) => s.put(k, v)),
        list: (p) => inside((s) => s.list(p)),
        delete: (k) => inside((s) => s.delete(k)),
        compareAndSwap: (k, e, v) => inside((s) => s.compareAndSwap(k, e, v)),
      }
      return {
        storage,
        raw: (key) =>
          runInDurableObject(stub, async (_i, state) =>
            JSON.parse(((await state.storage.get(`records/${key}`)) as string) ?? 'null'),
          ),
      }
    },
  ],
]

const sealedBackends: Array<[string, () => Promise<Backend>]> = backends.map(([name, make]) => [
  `sealedStorage(${name})`,
  async () => {
    const inner = await make()
    return { storage: sealedStorage(inner.storage, await keyRing(SECRET)), raw: inner.raw }
  },
])

describe.each([...backends, ...sealedBackends])('%s (Storage contract)', (_name, make) => {
  storageContract(async () => (await make()).storage, { concurrentSwaps: 12 })

  it('lists more than one page', async () => {
    const { storage: s } = await make()
    const keys = Array.from({ length: 1100 }, (_, i) => `renewal/n${String(i).padStart(4, '0')}`)
    // R2 and KV pages hold 1000 keys; the Durable Object lister asks for 1000 at a time.
    for (let i = 0; i < keys.length; i += 100)
      await Promise.all(keys.slice(i, i + 100).map((k) => s.put(k, 1)))
    expect(await s.list('renewal/')).toEqual(keys)
  })
})

describe.each(backends)('sealedStorage over %s', (_name, make) => {
  it('stores no plaintext, refuses plaintext records, and reseals after a rotation', async () => {
    const inner = await make()
    const oldRing = await keyRing(SECRET)
    const sealed = sealedStorage(inner.storage, oldRing)
    await sealed.put('accounts/main', { privateKey: '-----BEGIN PRIVATE KEY-----\nsecret' })
    const stored = await inner.raw('accounts/main')
    expect(isSealedValue(stored)).toBe(true)
    expect(JSON.stringify(stored)).not.toContain('PRIVATE KEY')
    // A record copied to another key does not open there.
    await inner.storage.put('accounts/copy', stored)
    await expect(sealed.get('accounts/copy')).rejects.toMatchObject({ code: 'ERR_STORAGE_CORRUPT' })
    // Plaintext in the backend is never trusted.
    await inner.storage.put('accounts/plain', { privateKey: 'x' })
    await expect(sealed.get('accounts/plain')).rejects.toThrow(/never stored in plaintext/)

    const rotated = sealedStorage(inner.storage, await keyRing([`${SECRET}-new`, SECRET]))
    expect(await rotated.get('accounts/main')).toEqual({ privateKey: '-----BEGIN PRIVATE KEY-----\nsecret' })
    await inner.storage.delete('accounts/copy')
    await inner.storage.delete('accounts/plain')
    expect(await rotated.reseal('accounts/')).toBe(1)
    expect(((await inner.raw('accounts/main')) as { kid: string }).kid).toBe(
      (await keyRing(`${SECRET}-new`)).kids[0],
    )
    expect(await rotated.reseal('accounts/')).toBe(0)
    // The old secret alone no longer opens it: it can be dropped.
    await expect(sealed.get('accounts/main')).rejects.toThrow(/not in the key ring/)
  })
})

describe('KvStorage', () => {
  it('has no compareAndSwap without a coordinator', () => {
    expect(new KvStorage(env.KV).compareAndSwap).toBeUndefined()
  })

  it('compares against the coordinator’s copy, not a stale KV read', async () => {
    const prefix = fresh()
    const storage = new KvStorage(env.KV, { prefix, coordinator: env.COORDINATOR.getByName(prefix) })
    await storage.put('certificates/x', { serial: 'a' })
    // Another location may still read an old value from KV; the coordinator's copy decides.
    await env.KV.put(`${prefix}certificates/x`, JSON.stringify({ serial: 'stale' }))
    expect(await storage.compareAndSwap!('certificates/x', { serial: 'stale' }, { serial: 'b' })).toBe(false)
    expect(await storage.compareAndSwap!('certificates/x', { serial: 'a' }, { serial: 'b' })).toBe(true)
    expect(await storage.get('certificates/x')).toEqual({ serial: 'b' })
  })
})
