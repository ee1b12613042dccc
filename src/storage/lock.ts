/**
 * Leases: a lock in the storage that expires, with a fencing token. Processes that share a storage (several
 * servers on one machine over an `FsStorage`, a fleet over Redis) take the lease of a name before they order its
 * certificate, so exactly one of them orders. A holder that crashes stops renewing its lease; when the lease
 * expires the next process takes it over, with a higher token: nothing a dead process left behind blocks a name
 * (certmagic's lock files that outlived their holder, certmagic#232, are what this avoids).
 *
 * The token is a fencing number (Kleppmann, "How to do distributed locking"): it grows strictly with every lease
 * granted on a key. Records written under a lease carry its token ({@link fencedPut}), and a write from an older
 * lease (a holder that was paused past its expiry and woke up) is refused instead of overwriting the newer work.
 *
 * Any storage with an atomic `compareAndSwap` gets leases from {@link storageLocker} (the lease is a JSON record
 * under `locks/<key>`); a backend with a native lock (Redis `SET NX PX` + a counter) implements {@link Locker}
 * itself, and {@link lockerFor} picks that.
 *
 * @module
 */

import { InvalidArgumentError } from '../errors.ts'
import { checkStorageKey, type Storage, StorageError } from './storage.ts'

/** A lease held on `key`. */
export interface Lease {
  /** The key the lease is on (a storage key, e.g. `locks/example.com`). */
  readonly key: string
  /** Fencing token: strictly greater than the token of every earlier lease on `key`. */
  readonly token: number
  /** Who holds it: a random id per `tryLock` call (never reused). */
  readonly holder: string
  /** Milliseconds since the epoch when the lease lapses unless renewed (updated by a successful `renew`). */
  expiresAt: number
}

/** Takes, renews and releases leases. */
export interface Locker {
  /**
   * Takes the lease on `key` for `ttlMs` milliseconds, or resolves `undefined` when someone else holds an unexpired
   * lease on it. Never waits for the other holder.
   */
  tryLock(key: string, ttlMs: number): Promise<Lease | undefined>
  /**
   * Extends `lease` to `ttlMs` from now. Resolves `false` when the lease was lost (it expired and was taken over,
   * or was released): the holder must stop writing under it.
   */
  renew(lease: Lease, ttlMs: number): Promise<boolean>
  /** Releases `lease`; releasing a lease already lost is not an error. The token counter is kept. */
  unlock(lease: Lease): Promise<void>
}

/** The record `storageLocker` keeps under `locks/<key>`. */
export interface LeaseRecord {
  /** Token of the last lease granted. */
  token: number
  /** Its holder, or `null` once released. */
  holder: string | null
  /** When it lapses (ms since the epoch). */
  expiresAt: number
}

/** Options of {@link storageLocker}. */
export interface StorageLockerOptions {
  /** The clock (default `Date.now`). */
  now?: () => number
}

/**
 * Leases kept as records of `storage` under `locks/<key>`, taken and renewed with `compareAndSwap` (so they are
 * as safe between processes as the backend's compare-and-swap: the memory storage within one process, the file
 * storage between processes of one machine).
 *
 * @throws {InvalidArgumentError} When `storage` has no `compareAndSwap`.
 * @example
 * ```ts
 * import { MemoryStorage } from 'webacme'
 * import { storageLocker } from 'webacme/tls'
 *
 * const locker = storageLocker(new MemoryStorage())
 * const lease = await locker.tryLock('example.com', 30_000)
 * if (lease) {
 *   try {
 *     // ... order the certificate; renew the lease every 10 s while it runs ...
 *   } finally {
 *     await locker.unlock(lease)
 *   }
 * }
 * ```
 */
export function storageLocker(storage: Storage, options: StorageLockerOptions = {}): Locker {
  const cas = storage.compareAndSwap?.bind(storage)
  if (!cas) {
    throw new InvalidArgumentError(
      'leases need a storage with compareAndSwap (MemoryStorage, FsStorage, a Durable Object) or a Locker of its own',
    )
  }
  const now = options.now ?? Date.now
  const recordKey = (key: string) => checkStorageKey(`locks/${key}`)
  const read = async (key: string): Promise<LeaseRecord | undefined> => {
    const value = await storage.get(key)
    if (value === undefined) return undefined
    if (!isLeaseRecord(value))
      throw new StorageError('ERR_STORAGE_CORRUPT', key, `${key} is not a lease record`)
    return value
  }
  return {
    async tryLock(key, ttlMs) {
      checkTtl(ttlMs)
      const k = recordKey(key)
      for (let attempt = 0; attempt < 8; attempt++) {
        const current = await read(k)
        const t = now()
        if (current && current.holder !== null && current.expiresAt > t) return undefined
        const lease: Lease = {
          key,
          token: (current?.token ?? 0) + 1,
          holder: randomId(),
          expiresAt: t + ttlMs,
        }
        const next: LeaseRecord = { token: lease.token, holder: lease.holder, expiresAt: lease.expiresAt }
        if (await cas(k, current, next)) return lease
        // Someone else changed the record between our read and our swap: look again.
      }
      return undefined
    },
    async renew(lease, ttlMs) {
      checkTtl(ttlMs)
      const k = recordKey(lease.key)
      const current = await read(k)
      const t = now()
      if (
        !current ||
        current.holder !== lease.holder ||
        current.token !== lease.token ||
        current.expiresAt <= t
      ) {
        return false
      }
      const expiresAt = t + ttlMs
      if (!(await cas(k, current, { ...current, expiresAt }))) return false
      lease.expiresAt = expiresAt
      return true
    },
    async unlock(lease) {
      const k = recordKey(lease.key)
      const current = await read(k)
      if (!current || current.holder !== lease.holder || current.token !== lease.token) return
      // Keep the token, so the next lease's is higher (fencing survives a release).
      await cas(k, current, { token: current.token, holder: null, expiresAt: 0 })
    },
  }
}

/** A storage that brings its own leases (Redis, ...). */
export type LockingStorage = Storage & Locker

/** True when `storage` implements {@link Locker} itself. */
export function isLocker(storage: Storage): storage is LockingStorage {
  const s = storage as Partial<Locker>
  return typeof s.tryLock === 'function' && typeof s.renew === 'function' && typeof s.unlock === 'function'
}

/** The storage's own {@link Locker} when it has one, else {@link storageLocker} over its `compareAndSwap`. */
export function lockerFor(storage: Storage, options: StorageLockerOptions = {}): Locker {
  return isLocker(storage) ? storage : storageLocker(storage, options)
}

/**
 * Writes `value` under `key` stamped with the lease's token (`fence`), unless the record there already carries a
 * higher token: a holder whose lease was taken over cannot overwrite what the newer holder wrote. Resolves `false`
 * when it refused. Uses `compareAndSwap` where the storage has it (else a plain `put` after the check).
 */
export async function fencedPut(
  storage: Storage,
  key: string,
  value: Record<string, unknown>,
  lease: Pick<Lease, 'token'>,
): Promise<boolean> {
  for (let attempt = 0; attempt < 8; attempt++) {
    const current = await storage.get(key)
    const fence = (current as { fence?: unknown } | undefined)?.fence
    if (typeof fence === 'number' && fence > lease.token) return false
    const next = { ...value, fence: lease.token }
    if (!storage.compareAndSwap) {
      await storage.put(key, next)
      return true
    }
    if (await storage.compareAndSwap(key, current, next)) return true
  }
  throw new StorageError('ERR_STORAGE_CONFLICT', key, `${key} kept changing under a fenced write`)
}

function checkTtl(ttlMs: number): void {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new InvalidArgumentError(`lease ttl must be > 0 ms, got ${ttlMs}`)
}

function isLeaseRecord(value: unknown): value is LeaseRecord {
  const r = value as Partial<LeaseRecord> | null
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.token === 'number' &&
    Number.isSafeInteger(r.token) &&
    (r.holder === null || typeof r.holder === 'string') &&
    typeof r.expiresAt === 'number'
  )
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(12))
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')
}
