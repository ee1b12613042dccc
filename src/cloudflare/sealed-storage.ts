/**
 * A {@link Storage} whose records are sealed at rest ({@link KeyRing}): what webacme stores holds private keys
 * (`accounts/*`, `certificates/*`, `orders/*`), and KV, R2 and Durable Object storage are readable by anyone with
 * access to the account's dashboard or API. Each record is sealed as a whole, bound to its key.
 */
import { canonicalJson, checkStorageKey, type Storage, StorageError, toJsonText } from '../storage/storage.ts'
import { isSealedValue, type KeyRing } from './keyring.ts'

/** A sealed storage, with the pass that moves every record to the ring's first secret. */
export interface SealedStorage extends Storage {
  /**
   * Re-seals with the ring's first secret every record under `prefix` (default all) that another secret sealed, each
   * with a compare-and-swap where the backend has one. Returns how many were re-sealed. Run it after putting a new
   * secret first in the ring, before removing the old one.
   */
  reseal(prefix?: string): Promise<number>
}

/**
 * Wraps `inner` so that every record is sealed with `ring` before it is stored and opened when it is read. A record
 * that is not sealed, or does not open, is an `ERR_STORAGE_CORRUPT` `StorageError`: a plaintext record in the
 * backend is never trusted. `compareAndSwap` is offered when `inner` has one; it compares the opened records and
 * swaps the sealed ones atomically.
 *
 * @example
 * ```ts
 * import { saveAccount, type AcmeClient } from 'webacme'
 * import { keyRing, R2Storage, sealedStorage, type R2BucketLike } from 'webacme/cloudflare'
 *
 * declare const env: { CERTIFICATES: R2BucketLike; STORAGE_KEY: string }
 * declare const client: AcmeClient
 * const storage = sealedStorage(new R2Storage(env.CERTIFICATES), await keyRing(env.STORAGE_KEY))
 * await saveAccount(storage, 'main', client) // the account key is stored sealed
 * ```
 */
export function sealedStorage(inner: Storage, ring: KeyRing): SealedStorage {
  const open = async (key: string, raw: unknown): Promise<unknown> => {
    if (raw === undefined) return undefined
    const text = await ring.open(raw, key)
    try {
      return JSON.parse(text)
    } catch (cause) {
      throw new StorageError('ERR_STORAGE_CORRUPT', key, `${key}: the opened record is not JSON`, { cause })
    }
  }
  const seal = (key: string, value: unknown) => ring.seal(toJsonText(key, value), key)

  const storage: SealedStorage = {
    async get(key) {
      checkStorageKey(key)
      return open(key, await inner.get(key))
    },
    async put(key, value) {
      checkStorageKey(key)
      await inner.put(key, await seal(key, value))
    },
    list: (prefix) => inner.list(prefix),
    delete: (key) => inner.delete(key),
    async reseal(prefix = '') {
      let count = 0
      for (const key of await inner.list(prefix)) {
        const raw = await inner.get(key)
        if (!isSealedValue(raw) || raw.kid === ring.kids[0]) continue
        const next = await ring.seal(await ring.open(raw, key), key)
        if (inner.compareAndSwap) {
          if (await inner.compareAndSwap(key, raw, next)) count++
        } else {
          await inner.put(key, next)
          count++
        }
      }
      return count
    },
  }
  if (inner.compareAndSwap) {
    const cas = inner.compareAndSwap.bind(inner)
    storage.compareAndSwap = async (key, expected, value) => {
      checkStorageKey(key)
      const raw = await inner.get(key)
      const current = await open(key, raw)
      const same =
        current === undefined
          ? expected === undefined
          : expected !== undefined && canonicalJson(current) === canonicalJson(expected)
      if (!same) return false
      // The sealed bytes differ on every seal (random IV): swapping against the raw record read above makes the
      // whole comparison atomic in the backend.
      return cas(key, raw, value === undefined ? undefined : await seal(key, value))
    }
  }
  return storage
}
