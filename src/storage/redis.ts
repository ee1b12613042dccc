/**
 * A Redis {@link Storage} for a fleet: certificates, keys, challenge answers and locks that every machine reaches,
 * with a lock that holds across them (a lease that expires, so a crashed holder blocks nothing for longer than its
 * lease, and a fencing token that only grows).
 *
 * The Redis client is the caller's: node-redis (v4 and later, `createClient()`), ioredis (`new Redis()`, `Cluster`)
 * or any function that sends one command. This module imports neither; it sends raw commands (`GET`, `SET`, `DEL`,
 * `SCAN`, `EVAL`), so it runs wherever the client does.
 *
 * Layout under the key prefix (default `webacme:`): a record `certificates/example.com` is the string key
 * `webacme:certificates/example.com` holding the record's JSON; its lock is `webacme:.lock/certificates/example.com`
 * (the holder's fencing token, with a `PX` expiry) and its fencing counter `webacme:.fence/certificates/example.com`
 * (`INCR`, never expires). Storage keys never start with a dot, so the two never meet.
 *
 * The lock is the library's {@link Locker} (src/storage/lock.ts), done natively: the on-demand certificate manager
 * (`webacme/tls`) uses it instead of its compare-and-swap leases, so exactly one machine of the fleet orders a name.
 *
 * Durability is Redis's: run it with `appendonly yes` and `appendfsync always`. Then Redis writes and fsyncs the
 * append-only file before it replies, so a `put` that resolved survives a crash of Redis or of the machine, and the
 * fencing counters survive with it. Certificates are written rarely, so the fsync per write costs little. With the
 * default `appendfsync everysec` a crash of the Redis process alone can lose the last two seconds of acknowledged
 * writes (Redis postpones the write while a slow fsync runs, and still replies); without persistence a restart loses
 * every record and resets the fencing counters.
 *
 * @see https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (single-instance lock; fencing tokens)
 * @see https://redis.io/docs/latest/operate/oss_and_stack/management/persistence/
 * @module webacme/storage/redis
 */

import { InvalidArgumentError } from '../errors.ts'
import type { Lease, Locker } from './lock.ts'
import {
  canonicalJson,
  checkStorageKey,
  type Storage,
  StorageError,
  storageCall,
  toJsonText,
} from './storage.ts'

/** A node-redis client (v4 and later): raw commands go through `sendCommand([...])`. */
export interface NodeRedisClientLike {
  sendCommand(args: string[]): Promise<unknown>
}

/** An ioredis client (`Redis` or `Cluster`): raw commands go through `call(command, ...args)`. */
export interface IoredisClientLike {
  call(command: string, ...args: string[]): Promise<unknown>
}

/** Any other client: sends one command (`['SET', key, value]`) and resolves to the reply. */
export type RedisCommandFunction = (args: string[]) => Promise<unknown>

/** What {@link RedisStorage} accepts as its client. */
export type RedisClientLike = NodeRedisClientLike | IoredisClientLike | RedisCommandFunction

/** Options of {@link RedisStorage}. */
export interface RedisStorageOptions {
  /** The caller's Redis client (node-redis, ioredis) or a command function. */
  client: RedisClientLike
  /** Prefix of every Redis key (default `webacme:`), so that several users can share one database. */
  prefix?: string
  /** Keys per `SCAN` step in `list` (default 1000). */
  scanCount?: number
}

// Every script touches only the keys it is given (KEYS[]), so they also run on a Redis Cluster: a record, its lock
// and its fencing counter differ only after the prefix, so a prefix with a hash tag (`{webacme}:`) keeps them on one
// slot.

// KEYS[1] record. ARGV[1] the exact text read before (absent: ARGV[1] is empty and ARGV[3] '0'), ARGV[2] the new
// text ('' deletes), ARGV[3] '1' when a current text is expected. Swaps only if the record is still that text.
const SWAP = `
local current = redis.call('GET', KEYS[1])
if ARGV[3] == '1' then
  if current ~= ARGV[1] then return 0 end
elseif current then
  return 0
end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
`

// KEYS[1] lock, KEYS[2] fencing counter. ARGV[1] lease ms, ARGV[2] holder id. The token, or nil when someone
// holds the lock. The lock's value is '<token> <holder>'.
const TAKE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return nil end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ' ' .. ARGV[2], 'PX', ARGV[1])
return token
`

// KEYS[1] lock. ARGV[1] '<token> <holder>', ARGV[2] lease ms. 1 when the caller still held the lock and it was extended.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
`

// KEYS[1] lock. ARGV[1] '<token> <holder>'. Deletes the lock only if the caller still holds it (a lapsed holder must not
// release its successor's lock).
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`

// KEYS[1] lock, KEYS[2] record. ARGV[1] '<token> <holder>', ARGV[2] text. Writes only while the caller holds the lock.
const FENCED_PUT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1
`

/** How many times `compareAndSwap` re-reads a record that others keep rewriting to an equal value. */
const SWAP_ATTEMPTS = 50

function commandOf(client: RedisClientLike): RedisCommandFunction {
  if (typeof client === 'function') return client
  if (client !== null && typeof client === 'object') {
    // ioredis has a `sendCommand` too, but it takes a Command object: look for `call` first.
    if (typeof (client as IoredisClientLike).call === 'function') {
      const io = client as IoredisClientLike
      return ([command, ...args]) => io.call(command!, ...args)
    }
    if (typeof (client as NodeRedisClientLike).sendCommand === 'function') {
      const nr = client as NodeRedisClientLike
      return (args) => nr.sendCommand(args)
    }
  }
  throw new InvalidArgumentError(
    'RedisStorage needs a node-redis client (sendCommand), an ioredis client (call) or a command function',
  )
}

function checkTtl(ttlMs: number): string {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) {
    throw new InvalidArgumentError(`a lease must last a positive whole number of milliseconds, not ${ttlMs}`)
  }
  return String(ttlMs)
}

const lockValue = (lease: Lease) => `${lease.token} ${lease.holder}`

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  )
}

// Glob metacharacters of SCAN MATCH, escaped with a backslash.
const escapeGlob = (text: string) => text.replace(/[*?[\]\\^]/g, (c) => `\\${c}`)

/**
 * A {@link Storage} in Redis, with `compareAndSwap` and a lease lock with fencing tokens
 * ({@link RedisStorage.tryLock}), atomic on one Redis (Lua scripts).
 *
 * @example
 * ```ts
 * import { createClient } from 'redis'
 * import { RedisStorage } from 'webacme/storage/redis'
 *
 * const client = await createClient({ url: 'redis://127.0.0.1:6379' }).connect()
 * const storage = new RedisStorage({ client })
 * const lease = await storage.tryLock('certificates/example.com', 60_000)
 * if (lease) {
 *   try {
 *     // ... order the certificate; storage.renew(lease, 60_000) while it takes long ...
 *     await storage.putFenced(lease, 'certificates/example.com', { pem: '...' })
 *   } finally {
 *     await storage.unlock(lease)
 *   }
 * }
 * ```
 */
export class RedisStorage implements Storage, Locker {
  /** The prefix of every Redis key this storage uses. */
  readonly prefix: string
  readonly #send: RedisCommandFunction
  readonly #scanCount: string

  constructor(options: RedisStorageOptions) {
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('RedisStorage needs options with a client')
    }
    this.#send = commandOf(options.client)
    this.prefix = options.prefix ?? 'webacme:'
    if (typeof this.prefix !== 'string')
      throw new InvalidArgumentError('the Redis key prefix must be a string')
    const count = options.scanCount ?? 1000
    if (!Number.isSafeInteger(count) || count <= 0) {
      throw new InvalidArgumentError(`scanCount must be a positive whole number, not ${count}`)
    }
    this.#scanCount = String(count)
  }

  #record(key: string): string {
    return this.prefix + checkStorageKey(key)
  }

  #lockKeys(key: string): [lock: string, fence: string] {
    checkStorageKey(key)
    return [`${this.prefix}.lock/${key}`, `${this.prefix}.fence/${key}`]
  }

  #call(key: string, args: string[]): Promise<unknown> {
    return storageCall('Redis', key, () => this.#send(args))
  }

  #eval(key: string, script: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#call(key, ['EVAL', script, String(keys.length), ...keys, ...args])
  }

  async #getText(key: string): Promise<string | undefined> {
    const reply = await this.#call(key, ['GET', this.#record(key)])
    if (reply === null || reply === undefined) return undefined
    if (typeof reply !== 'string') {
      throw new StorageError(
        'ERR_STORAGE_CORRUPT',
        key,
        `Redis returned a ${typeof reply} for ${key}, not a string`,
      )
    }
    return reply
  }

  #parse(key: string, text: string): unknown {
    try {
      return JSON.parse(text)
    } catch (cause) {
      throw new StorageError('ERR_STORAGE_CORRUPT', key, `the Redis value of ${key} is not JSON`, { cause })
    }
  }

  async get(key: string): Promise<unknown> {
    const text = await this.#getText(key)
    return text === undefined ? undefined : this.#parse(key, text)
  }

  async put(key: string, value: unknown): Promise<void> {
    const record = this.#record(key)
    await this.#call(key, ['SET', record, toJsonText(key, value)])
  }

  /** Every record key starting with `prefix`, sorted (one `SCAN` walk; locks and counters are not records). */
  async list(prefix: string): Promise<string[]> {
    if (typeof prefix !== 'string') throw new InvalidArgumentError('the list prefix must be a string')
    const match = `${escapeGlob(this.prefix + prefix)}*`
    const keys = new Set<string>()
    let cursor = '0'
    do {
      const reply = await this.#call(prefix, ['SCAN', cursor, 'MATCH', match, 'COUNT', this.#scanCount])
      if (!Array.isArray(reply) || typeof reply[0] !== 'string' || !Array.isArray(reply[1])) {
        throw new StorageError(
          'ERR_STORAGE',
          prefix,
          'Redis answered SCAN with something other than [cursor, keys]',
        )
      }
      cursor = reply[0]
      // SCAN may return a key more than once (the set dedupes); it ends when the cursor is back to 0.
      for (const name of reply[1] as unknown[]) {
        if (typeof name !== 'string') continue
        const key = name.slice(this.prefix.length)
        if (!key.startsWith('.')) keys.add(key)
      }
    } while (cursor !== '0')
    return [...keys].sort()
  }

  async delete(key: string): Promise<void> {
    await this.#call(key, ['DEL', this.#record(key)])
  }

  /**
   * Reads the record, compares it with `expected` as JSON here, and writes only if Redis still holds the very text
   * that was read (one Lua script). When the text changed in between but still equals `expected`, it reads again.
   */
  async compareAndSwap(key: string, expected: unknown, value: unknown): Promise<boolean> {
    const record = this.#record(key)
    const next = value === undefined ? '' : toJsonText(key, value)
    const want = expected === undefined ? undefined : canonicalJson(expected)
    for (let attempt = 0; attempt < SWAP_ATTEMPTS; attempt++) {
      const current = await this.#getText(key)
      if (current === undefined) {
        if (want !== undefined) return false
      } else if (want === undefined || canonicalJson(this.#parse(key, current)) !== want) {
        return false
      }
      const swapped = await this.#eval(
        key,
        SWAP,
        [record],
        [current ?? '', next, current === undefined ? '0' : '1'],
      )
      if (swapped === 1) return true
    }
    throw new StorageError(
      'ERR_STORAGE_CONFLICT',
      key,
      `${key} changed under ${SWAP_ATTEMPTS} compare-and-swap attempts in a row`,
    )
  }

  /**
   * Takes the lock on `key` for `ttlMs` milliseconds if nobody holds it: resolves to the lease, or `undefined` when
   * another holder's lease is still running. The lock lapses by itself after `ttlMs` (Redis `PX`), so a holder that
   * crashed blocks the key for at most one lease.
   */
  async tryLock(key: string, ttlMs: number): Promise<Lease | undefined> {
    const ttl = checkTtl(ttlMs)
    const [lock, fence] = this.#lockKeys(key)
    const holder = randomId()
    const start = Date.now()
    const token = await this.#eval(key, TAKE, [lock, fence], [ttl, holder])
    if (token === null || token === undefined) return undefined
    if (typeof token !== 'number' || !Number.isSafeInteger(token)) {
      throw new StorageError(
        'ERR_STORAGE',
        key,
        `Redis returned ${String(token)} as a fencing token for ${key}`,
      )
    }
    return { key, token, holder, expiresAt: start + ttlMs }
  }

  /**
   * Extends a held lease to `ttlMs` from now. Resolves `false` when the lease had already lapsed (someone else may
   * hold the lock now): the holder must stop writing.
   */
  async renew(lease: Lease, ttlMs: number): Promise<boolean> {
    const ttl = checkTtl(ttlMs)
    const [lock] = this.#lockKeys(lease.key)
    const start = Date.now()
    const renewed = (await this.#eval(lease.key, RENEW, [lock], [lockValue(lease), ttl])) === 1
    if (renewed) lease.expiresAt = start + ttlMs
    return renewed
  }

  /** Releases the lock if `lease` still holds it; a lapsed lease releases nothing (not an error). */
  async unlock(lease: Lease): Promise<void> {
    const [lock] = this.#lockKeys(lease.key)
    await this.#eval(lease.key, RELEASE, [lock], [lockValue(lease)])
  }

  /**
   * `put`, fenced: writes `value` under `key` only while `lease` still holds its lock, atomically. Resolves `false`
   * (and writes nothing) when the lease lapsed, so a holder that stalled past its lease cannot overwrite what its
   * successor wrote.
   */
  async putFenced(lease: Lease, key: string, value: unknown): Promise<boolean> {
    const record = this.#record(key)
    const [lock] = this.#lockKeys(lease.key)
    const text = toJsonText(key, value)
    return (await this.#eval(key, FENCED_PUT, [lock, record], [lockValue(lease), text])) === 1
  }
}
