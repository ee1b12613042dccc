// webacme/storage/redis against a real redis-server (Debian's, started by test/harness/redis.ts), through both
// clients users have: node-redis and ioredis.
import { Redis as IoRedis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RedisServer, startRedis } from '../../test/harness/redis.ts'
import { storageContract } from '../../test/storage-contract.ts'
import { InvalidArgumentError } from '../errors.ts'
import { type RedisClientLike, RedisStorage } from './redis.ts'
import { StorageError } from './storage.ts'

let server: RedisServer
const closers: Array<() => Promise<unknown>> = []
let database = 0

beforeAll(async () => {
  server = await startRedis()
})

afterAll(async () => {
  for (const close of closers.splice(0)) await close().catch(() => {})
  await server?.stop()
})

async function nodeRedis() {
  const client = createClient({ url: server.url })
  client.on('error', () => {}) // reconnects are expected in the restart test
  await client.connect()
  closers.push(() => client.close())
  return client
}

function ioredis() {
  const client = new IoRedis({ host: server.host, port: server.port, lazyConnect: false })
  client.on('error', () => {})
  closers.push(async () => client.disconnect())
  return client
}

/** Polls `probe` until it gives a value (a hang guard of ~30 s, not a timing assertion) and returns that value. */
async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
): Promise<T> {
  for (let i = 0; i < 3000; i++) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    await new Promise((r) => setTimeout(r, 10))
  }
  throw new Error('gave up waiting')
}

const clients: Array<[string, () => Promise<RedisClientLike>]> = [
  ['node-redis', nodeRedis],
  ['ioredis', async () => ioredis()],
]

// Each storage gets a prefix of its own: the contract wants a fresh, empty storage per test.
const fresh = async (client: () => Promise<RedisClientLike>) =>
  new RedisStorage({ client: await client(), prefix: `t${++database}:` })

describe.each(clients)('RedisStorage with %s (Storage contract)', (_name, client) =>
  storageContract(() => fresh(client), { concurrentSwaps: 16 }),
)

describe('RedisStorage', () => {
  it('keeps its locks and counters out of list() and other prefixes out of its own', async () => {
    const client = await nodeRedis()
    const a = new RedisStorage({ client, prefix: 'iso:a:' })
    const b = new RedisStorage({ client, prefix: 'iso:a:b' }) // a prefix of a's keys with its own namespace
    await a.put('certificates/x.test', { x: 1 })
    const lease = await a.tryLock('certificates/x.test', 60_000)
    expect(lease).toBeDefined()
    await b.put('y', { y: 1 })
    expect(await a.list('')).toEqual(['by', 'certificates/x.test'])
    expect(await b.list('')).toEqual(['y'])
    // A glob character in the prefix matches only itself.
    const star = new RedisStorage({ client, prefix: 'iso:*:' })
    expect(await star.list('')).toEqual([])
    await star.put('z', 1)
    expect(await star.list('')).toEqual(['z'])
  })

  it('lists many keys over several SCAN steps, each once', async () => {
    const s = new RedisStorage({ client: await nodeRedis(), prefix: 'scan:', scanCount: 7 })
    const keys = Array.from({ length: 120 }, (_, i) => `certificates/n${String(i).padStart(3, '0')}.test`)
    await Promise.all(keys.map((k) => s.put(k, { k })))
    expect(await s.list('certificates/')).toEqual(keys)
  })

  it('reports a value that is not JSON as ERR_STORAGE_CORRUPT and a dead server as ERR_STORAGE', async () => {
    const client = await nodeRedis()
    await client.set('bad:certificates/x.test', '{not json')
    const s = new RedisStorage({ client, prefix: 'bad:' })
    await expect(s.get('certificates/x.test')).rejects.toMatchObject({ code: 'ERR_STORAGE_CORRUPT' })
    await expect(s.compareAndSwap('certificates/x.test', { a: 1 }, 2)).rejects.toBeInstanceOf(StorageError)
    const failing = new RedisStorage({
      client: async () => {
        throw new Error('connection refused')
      },
    })
    await expect(failing.get('certificates/x.test')).rejects.toMatchObject({
      code: 'ERR_STORAGE',
      key: 'certificates/x.test',
    })
  })

  it('refuses a client it cannot drive and a lease that is not a positive duration', async () => {
    expect(() => new RedisStorage({ client: {} as RedisClientLike })).toThrow(InvalidArgumentError)
    const s = await fresh(nodeRedis)
    for (const ttl of [0, -1, 1.5, Number.NaN]) {
      await expect(s.tryLock('certificates/x.test', ttl)).rejects.toBeInstanceOf(InvalidArgumentError)
    }
    await expect(s.tryLock('../x', 1000)).rejects.toBeInstanceOf(InvalidArgumentError)
  })
})

describe.each(clients)('RedisStorage lock with %s', (_name, client) => {
  it('is exclusive across clients, and fencing tokens grow with each holder', async () => {
    const prefix = `lock${++database}:`
    // Two connections stand for two machines of a fleet.
    const one = new RedisStorage({ client: await client(), prefix })
    const two = new RedisStorage({ client: await client(), prefix })
    const attempts = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? one : two).tryLock('certificates/a.test', 60_000)),
    )
    const held = attempts.filter((l) => l !== undefined)
    expect(held).toHaveLength(1)
    const first = held[0]!
    expect(await two.tryLock('certificates/a.test', 60_000)).toBeUndefined()
    // Another key is not blocked.
    expect(await two.tryLock('certificates/b.test', 60_000)).toBeDefined()
    await one.unlock(first)
    const second = await two.tryLock('certificates/a.test', 60_000)
    expect(second).toBeDefined()
    expect(second!.token).toBeGreaterThan(first.token)
    // The first holder's lease is gone: it can neither renew, nor release, nor write under the lock.
    expect(await one.renew(first, 60_000)).toBe(false)
    await one.unlock(first)
    expect(await one.tryLock('certificates/a.test', 60_000)).toBeUndefined()
    expect(await one.putFenced(first, 'certificates/a.test', { by: 'first' })).toBe(false)
    expect(await two.putFenced(second!, 'certificates/a.test', { by: 'second' })).toBe(true)
    expect(await one.get('certificates/a.test')).toEqual({ by: 'second' })
  })

  it('lapses after its lease: a crashed holder blocks nothing, and its renewal is refused afterwards', async () => {
    const prefix = `lapse${++database}:`
    const crashed = new RedisStorage({ client: await client(), prefix })
    const other = new RedisStorage({ client: await client(), prefix })
    const lost = await crashed.tryLock('certificates/a.test', 50)
    expect(lost).toBeDefined()
    // Redis expires the key; poll for it (the loop is a hang guard, not a timing assertion).
    const next = await eventually(() => other.tryLock('certificates/a.test', 60_000))
    expect(next.token).toBeGreaterThan(lost!.token)
    expect(await crashed.renew(lost!, 60_000)).toBe(false)
    expect(await crashed.putFenced(lost!, 'certificates/a.test', { stale: true })).toBe(false)
    expect(await other.renew(next, 60_000)).toBe(true)
    expect(next.expiresAt).toBeGreaterThan(Date.now())
  })

  it('keeps a renewed lease past its first expiry', async () => {
    const s = new RedisStorage({ client: await client(), prefix: `renew${++database}:` })
    const lease = await s.tryLock('certificates/a.test', 60_000)
    expect(await s.renew(lease!, 120_000)).toBe(true)
    const raw = (await (await nodeRedis()).pTTL(`${s.prefix}.lock/certificates/a.test`)) as number
    expect(raw).toBeGreaterThan(60_000)
  })
})

describe('RedisStorage across a Redis crash (kill -9, restart on the same port and directory; appendonly yes, appendfsync always)', () => {
  it('loses no acknowledged record and leaves no lock that blocks a name', async () => {
    const crashing = await startRedis()
    try {
      const nodeClient = createClient({ url: crashing.url })
      nodeClient.on('error', () => {})
      await nodeClient.connect()
      closers.push(() => nodeClient.close())
      const ioClient = new IoRedis({ host: crashing.host, port: crashing.port })
      ioClient.on('error', () => {})
      closers.push(async () => ioClient.disconnect())
      const a = new RedisStorage({ client: nodeClient }) // the process in the middle of an issuance
      const b = new RedisStorage({ client: ioClient }) // another process of the fleet

      // Certificates issued earlier, and two issuances in flight: a's (it survives the crash) and one whose
      // holder dies with Redis (short lease).
      const issued = Array.from({ length: 20 }, (_, i) => `certificates/old${i}.test`)
      for (const key of issued) await a.put(key, { pem: `-----BEGIN CERTIFICATE-----\n${key}` })
      const inFlight = await a.tryLock('certificates/new.test', 600_000)
      const orphan = await b.tryLock('certificates/orphan.test', 300)
      expect(inFlight && orphan).toBeTruthy()

      // A writer keeps storing while Redis is killed; every put that resolved must be there afterwards.
      const acknowledged: string[] = []
      let writing = true
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const key = `certificates/w${i}.test`
          try {
            await a.put(key, { i })
            acknowledged.push(key)
          } catch {}
        }
      })()
      await eventually(() => acknowledged.length >= 50)
      await crashing.kill()
      const beforeRestart = acknowledged.length
      await crashing.restart()
      await eventually(() => acknowledged.length >= beforeRestart + 50)
      writing = false
      await writer

      const stored = new Set(await b.list('certificates/'))
      const missing = [...issued, ...acknowledged].filter((k) => !stored.has(k))
      expect(missing, `lost after the restart:\n${crashing.logs()}`).toEqual([])
      expect(await b.get('certificates/old7.test')).toEqual({
        pem: '-----BEGIN CERTIFICATE-----\ncertificates/old7.test',
      })

      // The issuance in flight keeps its lock through the crash, finishes and releases it.
      expect(await b.tryLock('certificates/new.test', 60_000)).toBeUndefined()
      expect(await a.renew(inFlight!, 600_000)).toBe(true)
      expect(await a.putFenced(inFlight!, 'certificates/new.test', { pem: 'new' })).toBe(true)
      await a.unlock(inFlight!)
      const after = await b.tryLock('certificates/new.test', 60_000)
      expect(after!.token).toBeGreaterThan(inFlight!.token) // the fencing counter survived too

      // The holder that died with Redis blocks its name for one lease at most.
      const taken = await eventually(() => a.tryLock('certificates/orphan.test', 60_000))
      expect(taken.token).toBeGreaterThan(orphan!.token)
      expect(crashing.logs()).toMatch(/DB loaded from append only file|Reading the remaining AOF tail/)
    } finally {
      await crashing.stop()
    }
  })
})
