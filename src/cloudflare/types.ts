/**
 * Structural types for the Cloudflare bindings the building blocks use: just the members they call, so that
 * `webacme/cloudflare` imports nothing from `cloudflare:*` or `@cloudflare/workers-types`, and the real bindings
 * (`KVNamespace`, `R2Bucket`, `DurableObjectStorage`, `Message`, `Queue`) fit them as they are. Tests can hand in
 * their own objects of the same shape.
 */

/** The members of a Workers KV namespace (`KVNamespace`) used here. */
export interface KvNamespaceLike {
  get(key: string, type: 'text'): Promise<string | null>
  put(key: string, value: string, options?: { expirationTtl?: number }): Promise<void>
  delete(key: string): Promise<void>
  list(options?: { prefix?: string | null; cursor?: string | null; limit?: number }): Promise<{
    keys: Array<{ name: string }>
    list_complete: boolean
    cursor?: string
  }>
}

/** An R2 object's metadata as `put`, `head` and `get` return it. */
export interface R2ObjectLike {
  readonly key: string
  readonly etag: string
}

/** An R2 object with its body, as `get` returns it. */
export interface R2ObjectBodyLike extends R2ObjectLike {
  text(): Promise<string>
}

/** The members of an R2 bucket (`R2Bucket`) used here. */
export interface R2BucketLike {
  get(key: string): Promise<R2ObjectBodyLike | null>
  put(
    key: string,
    value: string,
    options?: {
      onlyIf?: { etagMatches?: string; etagDoesNotMatch?: string }
      httpMetadata?: { contentType?: string }
    },
  ): Promise<R2ObjectLike | null>
  delete(keys: string | string[]): Promise<void>
  list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<{
    objects: Array<{ key: string }>
    truncated: boolean
    cursor?: string
  }>
}

/** Options of a Durable Object storage `list`. */
export interface DurableObjectListOptions {
  prefix?: string
  start?: string
  startAfter?: string
  end?: string
  limit?: number
  reverse?: boolean
}

/**
 * The members of a Durable Object's storage (`ctx.storage`, the key-value API; SQLite-backed objects have it too)
 * used here. Values are structured-cloned, so plain JSON goes in and comes out as it went in.
 */
export interface DurableObjectStorageLike {
  get(key: string): Promise<unknown>
  put(key: string, value: unknown): Promise<void>
  delete(key: string): Promise<boolean>
  list(options?: DurableObjectListOptions): Promise<Map<string, unknown>>
  getAlarm(): Promise<number | null>
  setAlarm(scheduledTime: number | Date): Promise<void>
}

/** A queue message (`Message<Body>`) as a consumer gets it. */
export interface QueueMessageLike<Body = unknown> {
  readonly id: string
  readonly body: Body
  /** Deliveries so far, this one included (starts at 1). */
  readonly attempts: number
  ack(): void
  retry(options?: { delaySeconds?: number }): void
}

/** A batch of queue messages (`MessageBatch<Body>`). */
export interface MessageBatchLike<Body = unknown> {
  readonly queue: string
  readonly messages: readonly QueueMessageLike<Body>[]
}

/** A queue producer binding (`Queue<Body>`). */
export interface QueueProducerLike<Body = unknown> {
  send(body: Body, options?: { delaySeconds?: number }): Promise<unknown>
  sendBatch(messages: Iterable<{ body: Body; delaySeconds?: number }>): Promise<unknown>
}
