/**
 * One server process of the multi-process on-demand TLS tests (../ondemand-tls.test.ts over an FsStorage,
 * ../ondemand-redis.test.ts over Redis): a `node:tls` server with the certificate manager's SNICallback, over a
 * storage shared with the other processes. It prints `READY <port>`, then answers `stats` on stdin with
 * `STATS <json>` (the manager's stats plus the newOrder requests this process's client sent, counted on the wire,
 * and those held now) and exits on `close`.
 *
 * Environment: `DIRECTORY_URL`, `ALLOW` (comma-separated), `PORT` (default 0: any) and the storage:
 * `STORAGE_DIR` for an FsStorage, or `REDIS_URL` (+ `REDIS_PREFIX`, `REDIS_CLIENT` = `node-redis` | `ioredis`)
 * for a RedisStorage over this process's own connection. With `HOLD_ORDERS=1`, every newOrder request waits until
 * a `resume` line arrives on stdin (`heldOrders` counts those waiting): the parent crashes what it wants to crash
 * while the names' lease holders are mid-issuance, then resumes.
 */
import * as fs from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { createServer } from 'node:tls'
import { Redis as IoRedis } from 'ioredis'
import { createClient } from 'redis'
import { AcmeClient } from '../../../src/client.ts'
import { generateKeyPair } from '../../../src/jose/algorithms.ts'
import { FsStorage } from '../../../src/storage/fs.ts'
import { type RedisClientLike, RedisStorage } from '../../../src/storage/redis.ts'
import type { Storage } from '../../../src/storage/storage.ts'
import { createCertificateManager } from '../../../src/tls/index.ts'

const env = process.env
const closers: Array<() => Promise<unknown>> = []

async function storage(): Promise<Storage> {
  if (env.REDIS_URL === undefined) return new FsStorage(env.STORAGE_DIR!, { fs })
  // Reconnects are expected while the parent restarts Redis: both clients queue commands until then.
  let client: RedisClientLike
  if (env.REDIS_CLIENT === 'ioredis') {
    const ioredis = new IoRedis(env.REDIS_URL)
    ioredis.on('error', () => {})
    closers.push(async () => ioredis.disconnect())
    client = ioredis
  } else {
    const nodeRedis = createClient({ url: env.REDIS_URL })
    nodeRedis.on('error', () => {})
    await nodeRedis.connect()
    closers.push(() => nodeRedis.close())
    client = nodeRedis
  }
  return new RedisStorage({ client, prefix: env.REDIS_PREFIX ?? 'webacme:' })
}

const isNewOrder = (method: string | undefined, url: string) => method === 'POST' && /\/order-plz$/.test(url)
let resume: (() => void) | undefined
const held = env.HOLD_ORDERS === '1' ? new Promise<void>((resolve) => (resume = resolve)) : undefined
let heldOrders = 0

let newOrderPosts = 0
const client = new AcmeClient({
  directoryUrl: env.DIRECTORY_URL!,
  accountKey: await generateKeyPair('ES256'),
  onHttp: (event) => {
    if (event.attempt === 1 && isNewOrder(event.method, event.url)) newOrderPosts++
  },
  ...(held && {
    fetch: (async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
      if (isNewOrder(init?.method, url)) {
        heldOrders++
        await held
        heldOrders--
      }
      return fetch(input, init)
    }) satisfies typeof fetch,
  }),
})
const manager = createCertificateManager({
  client,
  account: { termsOfServiceAgreed: true },
  storage: await storage(),
  allow: env.ALLOW!.split(','),
  challenges: { http01: false },
  limits: { issuancesPerMinute: 1000, issuancesPerMinutePerClient: 1000 },
})
// A certificate the manager could not give is reported on stderr, which the parent shows when a handshake fails.
const SNICallback: typeof manager.SNICallback = (name, callback) =>
  manager.SNICallback(name, (error, context) => {
    if (error) process.stderr.write(`no certificate for ${name}: ${error.stack}\n`)
    callback(error, context)
  })
const server = createServer({ SNICallback }, (socket) => socket.end('ok\n'))
server.on('tlsClientError', () => {})
const net = manager.listener(server)
net.listen(Number(env.PORT ?? 0), '127.0.0.1', () => {
  const address = net.address()
  process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`)
})

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'stats')
    process.stdout.write(`STATS ${JSON.stringify({ ...manager.stats(), newOrderPosts, heldOrders })}\n`)
  if (line === 'resume') resume?.()
  if (line === 'close') break
}
await manager.close()
net.close()
for (const close of closers) await close()
process.exit(0)
