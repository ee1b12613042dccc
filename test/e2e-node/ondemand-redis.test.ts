/**
 * On-demand TLS (`webacme/tls`) over `webacme/storage/redis` against Pebble and a real redis-server:
 *
 * - three managers, each with its own ACME client and its own Redis connection (node-redis, ioredis, node-redis),
 *   asked for the same 10 new names at once, place exactly 10 orders and all 30 handshakes succeed (the lease
 *   is RedisStorage's native lock; whichever manager Pebble reaches answers tls-alpn-01 from the storage);
 * - Redis killed (-9) and restarted in the middle of an issuance (at the newOrder request): the handshake still
 *   gets its certificate, the certificate is in Redis afterwards, another manager serves it with no order, and no
 *   lock is left on the name.
 */
import type { AddressInfo } from 'node:net'
import { createServer, type Server } from 'node:tls'
import { Redis as IoRedis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AcmeClient } from '../../src/client.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import type { HttpEvent } from '../../src/protocol/transport.ts'
import { type RedisClientLike, RedisStorage } from '../../src/storage/redis.ts'
import { type CertificateManager, createCertificateManager } from '../../src/tls/index.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { type RedisServer, startRedis } from '../harness/redis.ts'
import { handshake, pebbleNewOrders } from './ondemand/helpers.ts'

const RUN = Date.now().toString(36)
const DOMAIN = `redis-${RUN}.webacme.test`

describe('on-demand TLS over RedisStorage (Node, Pebble, redis-server)', () => {
  let pebble: Pebble
  let redis: RedisServer
  let root: string
  const cleanups: Array<() => Promise<unknown>> = []

  beforeAll(async () => {
    ;[pebble, redis] = await Promise.all([startPebble({ nonceRejectPercent: 0 }), startRedis()])
    root = await pebble.roots(0)
  })
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {})
    await Promise.all([pebble?.stop(), redis?.stop()])
  })

  async function nodeRedis(): Promise<RedisClientLike> {
    const client = createClient({ url: redis.url })
    client.on('error', () => {}) // reconnects are expected while Redis restarts
    await client.connect()
    cleanups.push(() => client.close())
    return client
  }
  function ioredis(): RedisClientLike {
    const client = new IoRedis({ host: redis.host, port: redis.port })
    client.on('error', () => {})
    cleanups.push(async () => client.disconnect())
    return client
  }

  async function manager(
    client: RedisClientLike,
    port: number,
    onHttp?: (event: HttpEvent) => void,
  ): Promise<{ manager: CertificateManager; port: number }> {
    const acme = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey: await generateKeyPair('ES256'),
      ...(onHttp && { onHttp }),
    })
    const m = createCertificateManager({
      client: acme,
      account: { termsOfServiceAgreed: true },
      storage: new RedisStorage({ client, prefix: `${RUN}:` }),
      allow: [`*.${DOMAIN}`],
      challenges: { http01: false },
      limits: { issuancesPerMinute: 1000, issuancesPerMinutePerClient: 1000 },
    })
    const server: Server = createServer({ SNICallback: m.SNICallback }, (socket) => socket.end('ok\n'))
    server.on('tlsClientError', () => {})
    const net = m.listener(server)
    await new Promise<void>((resolve, reject) => {
      net.once('error', reject)
      net.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve())
    })
    cleanups.push(async () => {
      await m.close()
      await new Promise((r) => net.close(r))
    })
    return { manager: m, port: (net.address() as AddressInfo).port }
  }

  it('three managers sharing Redis, the same 10 new names at once: exactly 10 orders, 30 handshakes', async () => {
    // The first listens where Pebble's VA connects for tls-alpn-01; the others answer from the shared storage.
    const servers = [
      await manager(await nodeRedis(), pebble.tlsPort),
      await manager(ioredis(), 0),
      await manager(await nodeRedis(), 0),
    ]
    const names = Array.from({ length: 10 }, (_, i) => `n${i}.${DOMAIN}`)
    const before = pebbleNewOrders(pebble)
    const results = await Promise.allSettled(
      servers.flatMap((s) => names.map((name) => handshake(s.port, name, root))),
    )
    const failed = results.filter((r) => r.status === 'rejected')
    expect(failed.map((r) => String((r as PromiseRejectedResult).reason))).toEqual([])
    for (const [i, r] of results.entries()) {
      const peer = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof handshake>>>).value
      expect(peer.authorized).toBe(true)
      expect(peer.subjectAltName).toBe(`DNS:${names[i % names.length]}`)
    }
    expect(pebbleNewOrders(pebble) - before).toBe(10)
    const ordered = servers.reduce((n, s) => n + s.manager.stats().ordersPlaced, 0)
    expect(ordered).toBe(10)
  })

  it('Redis killed and restarted mid-issuance: the certificate is issued and kept, no lock blocks the name', async () => {
    const name = `crash.${DOMAIN}`
    let restarted: Promise<void> | undefined
    const crashing = await manager(await nodeRedis(), 0, (event) => {
      // At the first newOrder, the manager holds the name's lease in Redis and is about to write challenge answers.
      if (restarted === undefined && event.method === 'POST' && /\/order-plz$/.test(event.url))
        restarted = redis.restart()
    })
    // Pebble's VA dials tlsPort: the first manager of the previous test listens there and answers from Redis.
    const before = pebbleNewOrders(pebble)
    const peer = await handshake(crashing.port, name, root)
    expect(restarted).toBeDefined()
    await restarted
    expect(peer.authorized).toBe(true)
    expect(peer.subjectAltName).toBe(`DNS:${name}`)
    expect(pebbleNewOrders(pebble) - before).toBe(1)
    expect(redis.logs()).toMatch(/DB loaded from append only file/)

    // After the crash: the certificate is in Redis, no lock is held on the name.
    const storage = new RedisStorage({ client: ioredis(), prefix: `${RUN}:` })
    expect(await storage.list('certificates/')).toContain(`certificates/${name}`)
    const lease = await storage.tryLock(name, 10_000)
    expect(lease).toBeDefined()
    await storage.unlock(lease!)

    // A manager that never saw the name serves it from Redis, with no order.
    const fresh = await manager(await nodeRedis(), 0)
    const again = await handshake(fresh.port, name, root)
    expect(again.serialNumber).toBe(peer.serialNumber)
    expect(fresh.manager.stats().ordersPlaced).toBe(0)
    expect(pebbleNewOrders(pebble) - before).toBe(1)
  })
})
