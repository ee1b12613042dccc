/**
 * A {@link Storage} on an R2 bucket: one object per record (JSON text), listed by prefix. R2 is strongly
 * consistent (a read or a list after a write sees it) and its conditional `put` (`onlyIf` etag) makes
 * `compareAndSwap` atomic, which `renewDue` uses for the one write that replaces a certificate.
 */
import {
  canonicalJson,
  checkStorageKey,
  type Storage,
  StorageError,
  storageCall,
  toJsonText,
} from '../storage/storage.ts'
import type { R2BucketLike } from './types.ts'

/** Options of {@link R2Storage}. */
export interface R2StorageOptions {
  /** Prefix of every object key, e.g. `webacme/` (default none). */
  prefix?: string
}

/**
 * Storage in R2. `compareAndSwap` writes atomically (`onlyIf: { etagMatches }`, or `etagDoesNotMatch: '*'` to
 * create); a compare-and-delete (`value` undefined) is a check then a delete, because R2 has no conditional delete.
 *
 * @example
 * ```ts
 * import { renewDue, type ChallengeSolver } from 'webacme'
 * import { R2Storage, type R2BucketLike } from 'webacme/cloudflare'
 *
 * declare const bucket: R2BucketLike
 * declare const http01: ChallengeSolver
 * await renewDue({ storage: new R2Storage(bucket, { prefix: 'webacme/' }), solvers: [http01] })
 * ```
 */
export class R2Storage implements Storage {
  readonly #bucket: R2BucketLike
  readonly #prefix: string

  constructor(bucket: R2BucketLike, options: R2StorageOptions = {}) {
    this.#bucket = bucket
    this.#prefix = options.prefix ?? ''
  }

  async get(key: string): Promise<unknown> {
    return (await this.#read(key))?.value
  }

  async put(key: string, value: unknown): Promise<void> {
    const objectKey = this.#key(key)
    const text = toJsonText(key, value)
    await storageCall('R2', key, () => this.#bucket.put(objectKey, text, JSON_TYPE))
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = []
    let cursor: string | undefined
    do {
      const page = await storageCall('R2', prefix, () =>
        this.#bucket.list({ prefix: this.#prefix + prefix, ...(cursor !== undefined && { cursor }) }),
      )
      for (const object of page.objects) keys.push(object.key.slice(this.#prefix.length))
      cursor = page.truncated ? page.cursor : undefined
    } while (cursor !== undefined)
    return keys.sort()
  }

  async delete(key: string): Promise<void> {
    const objectKey = this.#key(key)
    await storageCall('R2', key, () => this.#bucket.delete(objectKey))
  }

  async compareAndSwap(key: string, expected: unknown, value: unknown): Promise<boolean> {
    const objectKey = this.#key(key)
    const current = await this.#read(key)
    const same =
      current === undefined
        ? expected === undefined
        : expected !== undefined && canonicalJson(current.value) === canonicalJson(expected)
    if (!same) return false
    if (value === undefined) {
      if (current !== undefined) await storageCall('R2', key, () => this.#bucket.delete(objectKey))
      return true
    }
    const text = toJsonText(key, value)
    const onlyIf = current === undefined ? { etagDoesNotMatch: '*' } : { etagMatches: current.etag }
    const written = await storageCall('R2', key, () =>
      this.#bucket.put(objectKey, text, { ...JSON_TYPE, onlyIf }),
    )
    return written !== null
  }

  async #read(key: string): Promise<{ value: unknown; etag: string } | undefined> {
    const objectKey = this.#key(key)
    const object = await storageCall('R2', key, () => this.#bucket.get(objectKey))
    if (object === null) return undefined
    const text = await storageCall('R2', key, () => object.text())
    try {
      return { value: JSON.parse(text), etag: object.etag }
    } catch (cause) {
      throw new StorageError('ERR_STORAGE_CORRUPT', key, `R2 object ${key} is not JSON`, { cause })
    }
  }

  #key(key: string): string {
    return this.#prefix + checkStorageKey(key)
  }
}

const JSON_TYPE = { httpMetadata: { contentType: 'application/json' } }
