/**
 * A {@link Storage} on Workers KV, with compare-and-swap through a Durable Object. KV alone cannot
 * compare-and-swap (a read may be up to a minute stale in another location, and there is no conditional write),
 * so writes may go through a {@link KvCasCoordinator} living in one Durable Object: it keeps the authoritative
 * copy of each record it has written and serialises the writes, and KV stays the fast, global read path.
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
import type { DurableObjectStorageLike, KvNamespaceLike } from './types.ts'

/**
 * What {@link KvStorage} asks of its coordinator: plain strings in and out, so a Durable Object stub's RPC
 * methods fit as they are. Keys are full KV keys; `null` means absent.
 */
export interface KvWriteCoordinator {
  /** Writes `value` (JSON text, or `null` to delete) under `key` when the record is still `expected`. */
  compareAndSwap(key: string, expected: string | null, value: string | null): Promise<boolean>
  /** Writes unconditionally, keeping the coordinator's copy in step. */
  write(key: string, value: string | null): Promise<void>
}

/** Options of {@link KvStorage}. */
export interface KvStorageOptions {
  /** Prefix of every KV key, e.g. `webacme/` (default none). */
  prefix?: string
  /**
   * Where writes go, for `compareAndSwap`: a Durable Object stub whose class serves a {@link KvCasCoordinator}.
   * Without it the storage has no `compareAndSwap`, and `renewDue` writes certificates with a plain `put`.
   */
  coordinator?: KvWriteCoordinator
}

/**
 * Storage in Workers KV. Reads and lists go to KV (eventually consistent: another location may see a write up to
 * a minute late, and `list` may lag the same way); writes go to KV, or through the coordinator when one is given.
 * KV accepts one write per second per key.
 *
 * @example
 * ```ts
 * import { KvStorage, type KvNamespaceLike, type KvWriteCoordinator } from 'webacme/cloudflare'
 *
 * declare const env: { RECORDS: KvNamespaceLike; COORDINATOR: { getByName(name: string): KvWriteCoordinator } }
 * const storage = new KvStorage(env.RECORDS, { coordinator: env.COORDINATOR.getByName('kv') })
 * await storage.compareAndSwap?.('renewal/example.com', undefined, { renewAt: '2030-01-01T00:00:00Z' })
 * ```
 */
export class KvStorage implements Storage {
  readonly #kv: KvNamespaceLike
  readonly #prefix: string
  readonly #coordinator: KvWriteCoordinator | undefined
  /** Present only with a coordinator. */
  readonly compareAndSwap?: (key: string, expected: unknown, value: unknown) => Promise<boolean>

  constructor(kv: KvNamespaceLike, options: KvStorageOptions = {}) {
    this.#kv = kv
    this.#prefix = options.prefix ?? ''
    this.#coordinator = options.coordinator
    const coordinator = options.coordinator
    if (coordinator) {
      this.compareAndSwap = async (key, expected, value) => {
        const full = this.#key(key)
        const want = expected === undefined ? null : canonicalJson(expected)
        const next = value === undefined ? null : toJsonText(key, value)
        return storageCall('KV', key, () => coordinator.compareAndSwap(full, want, next))
      }
    }
  }

  async get(key: string): Promise<unknown> {
    const full = this.#key(key)
    const text = await storageCall('KV', key, () => this.#kv.get(full, 'text'))
    return text === null ? undefined : parse(key, text)
  }

  async put(key: string, value: unknown): Promise<void> {
    const full = this.#key(key)
    const text = toJsonText(key, value)
    const coordinator = this.#coordinator
    await storageCall('KV', key, () =>
      coordinator ? coordinator.write(full, text) : this.#kv.put(full, text),
    )
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = []
    let cursor: string | undefined
    do {
      const page = await storageCall('KV', prefix, () =>
        this.#kv.list({ prefix: this.#prefix + prefix, ...(cursor !== undefined && { cursor }) }),
      )
      for (const { name } of page.keys) keys.push(name.slice(this.#prefix.length))
      cursor = page.list_complete ? undefined : page.cursor
    } while (cursor !== undefined)
    return keys.sort()
  }

  async delete(key: string): Promise<void> {
    const full = this.#key(key)
    const coordinator = this.#coordinator
    await storageCall('KV', key, () => (coordinator ? coordinator.write(full, null) : this.#kv.delete(full)))
  }

  #key(key: string): string {
    return this.#prefix + checkStorageKey(key)
  }
}

function parse(key: string, text: string): unknown {
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new StorageError('ERR_STORAGE_CORRUPT', key, `KV record ${key} is not JSON`, { cause })
  }
}

/** Where a coordinator keeps its authoritative copies in the Durable Object's storage. */
const AUTHORITY = 'kv-cas/'

/**
 * The Durable Object side of {@link KvStorage}'s compare-and-swap: build one in a Durable Object with the object's
 * storage and the KV namespace, and expose `compareAndSwap` and `write` as RPC methods. Writes to one key run one at
 * a time; the object's storage holds the authoritative copy of every record written through it, so a comparison
 * never trusts a stale KV read. A record the coordinator has never written is read from KV once.
 *
 * @example
 * ```ts
 * import { KvCasCoordinator, type DurableObjectStorageLike, type KvNamespaceLike } from 'webacme/cloudflare'
 *
 * // In the Worker: export class KvCoordinator extends DurableObject { ... } delegating to this.
 * declare const storage: DurableObjectStorageLike
 * declare const kv: KvNamespaceLike
 * const coordinator = new KvCasCoordinator(storage, kv)
 * await coordinator.write('renewal/example.com', '{"renewAt":"2030-01-01T00:00:00Z"}')
 * ```
 */
export class KvCasCoordinator implements KvWriteCoordinator {
  readonly #storage: DurableObjectStorageLike
  readonly #kv: KvNamespaceLike
  readonly #serial: KeyedQueue = keyedQueue()

  constructor(storage: DurableObjectStorageLike, kv: KvNamespaceLike) {
    this.#storage = storage
    this.#kv = kv
  }

  compareAndSwap(key: string, expected: string | null, value: string | null): Promise<boolean> {
    return this.#serial(key, async () => {
      const stored = (await this.#storage.get(AUTHORITY + key)) as { text: string | null } | undefined
      const current = stored ? stored.text : await this.#kv.get(key, 'text')
      const same =
        current === null
          ? expected === null
          : expected !== null && canonicalJson(parse(key, current)) === canonicalJson(parse(key, expected))
      if (!same) return false
      await this.#commit(key, value)
      return true
    })
  }

  write(key: string, value: string | null): Promise<void> {
    return this.#serial(key, () => this.#commit(key, value))
  }

  async #commit(key: string, value: string | null): Promise<void> {
    await this.#storage.put(AUTHORITY + key, { text: value })
    try {
      if (value === null) await this.#kv.delete(key)
      else await this.#kv.put(key, value)
    } catch (error) {
      // KV did not take it: KV is the truth again for this key.
      await this.#storage.delete(AUTHORITY + key)
      throw error
    }
  }
}
