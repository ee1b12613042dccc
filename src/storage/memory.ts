/**
 * An in-memory {@link Storage}: for tests, short-lived scripts, and as the reference for other backends. Values
 * are kept as JSON text, so what comes back is a copy and what is not JSON is refused, as a real backend would.
 */
import { type Lease, type Locker, storageLocker } from './lock.ts'
import { canonicalJson, checkStorageKey, type Storage, toJsonText } from './storage.ts'

/**
 * A {@link Storage} in a `Map`. `compareAndSwap` is atomic (nothing awaits between the read and the write).
 *
 * @example
 * ```ts
 * import { MemoryStorage } from 'webacme'
 *
 * const storage = new MemoryStorage()
 * await storage.put('renewal/example.com', { renewAt: '2030-01-01T00:00:00Z' })
 * console.log(await storage.list('renewal/'))
 * ```
 */
export class MemoryStorage implements Storage, Locker {
  readonly #records = new Map<string, string>()
  readonly #locker: Locker = storageLocker(this)

  async get(key: string): Promise<unknown> {
    const text = this.#records.get(checkStorageKey(key))
    return text === undefined ? undefined : JSON.parse(text)
  }

  async put(key: string, value: unknown): Promise<void> {
    this.#records.set(checkStorageKey(key), toJsonText(key, value))
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.#records.keys()].filter((key) => key.startsWith(prefix)).sort()
  }

  async delete(key: string): Promise<void> {
    this.#records.delete(checkStorageKey(key))
  }

  /**
   * Takes a lease on `key` (a record under `locks/<key>`, taken with compareAndSwap): see {@link Locker}.
   */
  tryLock(key: string, ttlMs: number): Promise<Lease | undefined> {
    return this.#locker.tryLock(key, ttlMs)
  }

  /** Extends a lease; `false` when it was lost. */
  renew(lease: Lease, ttlMs: number): Promise<boolean> {
    return this.#locker.renew(lease, ttlMs)
  }

  /** Releases a lease (keeping the fencing counter). */
  unlock(lease: Lease): Promise<void> {
    return this.#locker.unlock(lease)
  }

  async compareAndSwap(key: string, expected: unknown, value: unknown): Promise<boolean> {
    checkStorageKey(key)
    const next = value === undefined ? undefined : toJsonText(key, value)
    const current = this.#records.get(key)
    const same =
      current === undefined
        ? expected === undefined
        : expected !== undefined && canonicalJson(JSON.parse(current)) === canonicalJson(expected)
    if (!same) return false
    if (next === undefined) this.#records.delete(key)
    else this.#records.set(key, next)
    return true
  }
}
