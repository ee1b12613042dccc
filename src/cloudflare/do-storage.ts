/**
 * A {@link Storage} on a Durable Object's own storage (`ctx.storage`): strongly consistent, and
 * `compareAndSwap` is atomic, because a Durable Object runs one event at a time around storage operations (input
 * gates) and the records of one key are compared and written here one at a time.
 */
import { type KeyedQueue, keyedQueue } from '../dns/queue.ts'
import {
  canonicalJson,
  checkStorageKey,
  type Storage,
  StorageError,
  storageCall,
  toJsonText,
} from '../storage/storage.ts'
import type { DurableObjectStorageLike } from './types.ts'

/** How storage failures name this backend. */
const BACKEND = 'Durable Object storage'

/** Options of {@link DurableObjectRecords}. */
export interface DurableObjectRecordsOptions {
  /** Prefix of every storage key inside the object, e.g. `records/` (default none). */
  prefix?: string
}

/**
 * Storage in a Durable Object. Records are kept as JSON text (what comes back is a copy; what is not JSON is
 * refused, as elsewhere).
 *
 * @example
 * ```ts
 * import { saveAccount, type AcmeClient } from 'webacme'
 * import { DurableObjectRecords, type DurableObjectStorageLike } from 'webacme/cloudflare'
 *
 * declare const ctx: { storage: DurableObjectStorageLike } // inside a Durable Object
 * declare const client: AcmeClient
 * await saveAccount(new DurableObjectRecords(ctx.storage, { prefix: 'records/' }), 'main', client)
 * ```
 */
export class DurableObjectRecords implements Storage {
  readonly #storage: DurableObjectStorageLike
  readonly #prefix: string
  readonly #serial: KeyedQueue = keyedQueue()

  constructor(storage: DurableObjectStorageLike, options: DurableObjectRecordsOptions = {}) {
    this.#storage = storage
    this.#prefix = options.prefix ?? ''
  }

  async get(key: string): Promise<unknown> {
    const full = this.#key(key)
    return this.#read(key, await storageCall(BACKEND, key, () => this.#storage.get(full)))
  }

  async put(key: string, value: unknown): Promise<void> {
    const full = this.#key(key)
    const text = toJsonText(key, value)
    await this.#serial(key, () => storageCall(BACKEND, key, () => this.#storage.put(full, text)))
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = []
    const start = this.#prefix + prefix
    let after: string | undefined
    for (;;) {
      const page = await storageCall(BACKEND, prefix, () =>
        this.#storage.list({ prefix: start, limit: 1000, ...(after !== undefined && { startAfter: after }) }),
      )
      for (const key of page.keys()) keys.push(key.slice(this.#prefix.length))
      if (page.size < 1000) break
      after = [...page.keys()].at(-1)
    }
    return keys.sort()
  }

  async delete(key: string): Promise<void> {
    const full = this.#key(key)
    await this.#serial(key, () => storageCall(BACKEND, key, () => this.#storage.delete(full)))
  }

  compareAndSwap(key: string, expected: unknown, value: unknown): Promise<boolean> {
    const full = this.#key(key)
    const next = value === undefined ? undefined : toJsonText(key, value)
    return this.#serial(key, async () => {
      const current = this.#read(key, await storageCall(BACKEND, key, () => this.#storage.get(full)))
      const same =
        current === undefined
          ? expected === undefined
          : expected !== undefined && canonicalJson(current) === canonicalJson(expected)
      if (!same) return false
      if (next === undefined) await storageCall(BACKEND, key, () => this.#storage.delete(full))
      else await storageCall(BACKEND, key, () => this.#storage.put(full, next))
      return true
    })
  }

  #key(key: string): string {
    return this.#prefix + checkStorageKey(key)
  }

  #read(key: string, stored: unknown): unknown {
    if (stored === undefined) return undefined
    if (typeof stored !== 'string') {
      throw new StorageError('ERR_STORAGE_CORRUPT', key, `${key} is not a record written by webacme`)
    }
    try {
      return JSON.parse(stored)
    } catch (cause) {
      throw new StorageError('ERR_STORAGE_CORRUPT', key, `${key} is not JSON`, { cause })
    }
  }
}
