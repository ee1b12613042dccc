/**
 * On-demand TLS (`webacme/tls`) over `webacme/storage/redis` against Pebble and a real redis-server, with three
 * separate OS processes (./ondemand/child.ts), each with its own Redis connection (node-redis, ioredis, node-redis),
 * its own ACME client, manager and listener. The lease is RedisStorage's native lock; the process listening where
 * Pebble's VA dials answers tls-alpn-01 from the storage for the orders of all three.
 *
 * - asked for the same 20 new names at once, the three place exactly 20 orders (counted by Pebble's log and by each
 *   process's client on the wire) and all 60 handshakes succeed;
 * - Redis killed (-9) and restarted in the middle of issuance (every newOrder request is held until Redis is back;
 *   Redis dies once each of the 5 names has a lease holder at its newOrder and the two other processes wait for
 *   that lease, 5 + 10, counted by the processes): all 15 handshakes still succeed
 *   with one order per name, every certificate is in Redis afterwards, a manager that never saw the names serves
 *   them with no order, and no lock is left on any name.
 */

import type { AddressInfo } from 'node:net'
import { createServer, type Server } from 'node:tls'
import { Redis as IoRedis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AcmeClient } from '../../src/client.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import type { HttpEvent } from '../../src/protocol/transport.ts'
import { RedisStorage } from '../../src/storage/redis.ts'
import { createCertificateManager } from '../../src/tls/index.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { type RedisServer, startRedis } from '../harness/redis.ts'
import {
  type Child,
  childTotals,
  closeChildren,
  handshake,
  handshakeEvery,
  oneCertificatePerName,
  pebbleNewOrders,
  startChild,
} from './ondemand/helpers.ts'

const RUN = Date.now().toString(36)
const DOMAIN = `redis-${RUN}.webacme.test`
const PREFIX = `${RUN}:`
const CLIENTS = ['node-redis', 'ioredis', 'node-redis'] as const

describe('on-demand TLS over RedisStorage, three processes (Node, Pebble, redis-server)', () => {
  let pebble: Pebble
  let redis: RedisServer
  let root: string
  let reader: IoRedis

  beforeAll(async () => {
    ;[pebble, redis] = await Promise.all([startPebble(), startRedis()])
    root = await pebble.roots(0)
    reader = new IoRedis({ host: redis.host, port: redis.port })
    reader.on('error', () => {}) // reconnects are expected while Redis restarts
  })
  afterAll(async () => {
    reader?.disconnect()
    await Promise.all([pebble?.stop(), redis?.stop()])
  })

  /** Three processes over Redis; the first listens where Pebble's VA dials for tls-alpn-01. */
  async function startThree(
    hold: boolean,
  ): Promise<{ children: Child[]; ports: number[]; output: () => string }> {
    const children = CLIENTS.map((client, i) =>
      startChild({
        REDIS_URL: redis.url,
        REDIS_PREFIX: PREFIX,
        REDIS_CLIENT: client,
        DIRECTORY_URL: pebble.directoryUrl,
        ALLOW: `*.${DOMAIN}`,
        PORT: String(i === 0 ? pebble.tlsPort : 0),
        HOLD_ORDERS: hold ? '1' : '0',
      }),
    )
    const output = () => children.map((c) => c.output).join('\n---\n')
    try {
      const ports = await Promise.all(children.map((c) => c.next('READY').then(Number)))
      return { children, ports, output }
    } catch (error) {
      await closeChildren(children)
      throw error
    }
  }

  it('3 processes sharing Redis, the same 20 new names at once: exactly 20 orders, 60 handshakes', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `n${i}.${DOMAIN}`)
    const { children, ports, output } = await startThree(false)
    try {
      const before = pebbleNewOrders(pebble)
      const { failures, ok } = await handshakeEvery(ports, names, root)
      expect(failures, output()).toEqual([])
      expect(ok).toHaveLength(60)
      oneCertificatePerName(ok, names)
      expect(pebbleNewOrders(pebble) - before).toBe(20)
      expect(await childTotals(children)).toMatchObject({ ordersPlaced: 20, newOrderPosts: 20, issued: 20 })
      console.log(`redis, 3 processes: ${ok.length} handshakes, ${pebbleNewOrders(pebble) - before} orders`)
    } finally {
      await closeChildren(children)
    }
  })

  it('Redis killed and restarted mid-issuance under 3 processes: no certificate lost, no lock left', async () => {
    const names = Array.from({ length: 5 }, (_, i) => `crash${i}.${DOMAIN}`)
    const { children, ports, output } = await startThree(true)
    try {
      const before = pebbleNewOrders(pebble)
      const asked = handshakeEvery(ports, names, root)
      // Until every process is past its first look at Redis for every name: either it holds the name's lease and
      // its newOrder waits (mid-issuance), or it waits for the process that holds it. (Asked again after each
      // answer, paced by a short pause; the test's timeout is the hang guard.)
      for (;;) {
        const totals = await childTotals(children)
        if (totals.heldOrders === names.length && totals.waitedForOtherProcess === 2 * names.length) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const pidBefore = redis.pid()
      await redis.restart()
      expect(redis.pid()).not.toBe(pidBefore)
      for (const c of children) c.process.stdin.write('resume\n')
      const { failures, ok } = await asked
      expect(failures, output()).toEqual([])
      expect(ok).toHaveLength(15)
      const serials = oneCertificatePerName(ok, names)
      expect(redis.logs()).toMatch(/DB loaded from append only file/)
      expect(pebbleNewOrders(pebble) - before).toBe(5)
      expect(await childTotals(children)).toMatchObject({
        ordersPlaced: 5,
        newOrderPosts: 5,
        issued: 5,
        heldOrders: 0,
      })

      // Every certificate is in Redis, and no lock is left (the three are still running, idle): each name's lease
      // is free to take.
      const storage = new RedisStorage({ client: reader, prefix: PREFIX })
      const stored = await storage.list('certificates/')
      expect(await reader.keys(`${PREFIX}.lock/*`)).toEqual([])
      for (const name of names) {
        expect(stored).toContain(`certificates/${name}`)
        const lease = await storage.tryLock(name, 10_000)
        expect(lease, name).toBeDefined()
        await storage.unlock(lease!)
      }

      // A manager that never saw the names serves them from Redis, with no request to the CA.
      const http: HttpEvent[] = []
      const fresh = createCertificateManager({
        client: new AcmeClient({
          directoryUrl: pebble.directoryUrl,
          accountKey: await generateKeyPair('ES256'),
          onHttp: (e) => http.push(e),
        }),
        account: { termsOfServiceAgreed: true },
        storage,
        allow: [`*.${DOMAIN}`],
      })
      const server: Server = createServer({ SNICallback: fresh.SNICallback }, (socket) => socket.end('ok\n'))
      server.on('tlsClientError', () => {})
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const port = (server.address() as AddressInfo).port
        for (const name of names) {
          expect((await handshake(port, name, root)).serialNumber).toBe(serials.get(name))
        }
        expect(http).toEqual([])
        expect(fresh.stats()).toMatchObject({ ordersPlaced: 0, loadedFromStorage: 5 })
      } finally {
        await new Promise((resolve) => server.close(resolve))
        await fresh.close()
      }
      console.log(
        `redis restart, 3 processes: ${ok.length} handshakes, 5 names, ${pebbleNewOrders(pebble) - before} orders`,
      )
    } finally {
      await closeChildren(children)
    }
  })
})
