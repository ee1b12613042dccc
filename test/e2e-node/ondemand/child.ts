/**
 * One server process of the multi-process on-demand TLS test (../ondemand-tls.test.ts): a `node:tls` server
 * with the certificate manager's SNICallback, over an FsStorage shared with the other processes. It prints
 * `READY <port>`, then answers `stats` on stdin with `STATS <json>` (the manager's stats plus the newOrder
 * requests this process's client sent, counted on the wire) and exits on `close`.
 */
import * as fs from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { createServer } from 'node:tls'
import { AcmeClient } from '../../../src/client.ts'
import { generateKeyPair } from '../../../src/jose/algorithms.ts'
import { FsStorage } from '../../../src/storage/fs.ts'
import { createCertificateManager } from '../../../src/tls/index.ts'

const storage = new FsStorage(process.env.STORAGE_DIR!, { fs })
let newOrderPosts = 0
const client = new AcmeClient({
  directoryUrl: process.env.DIRECTORY_URL!,
  accountKey: await generateKeyPair('ES256'),
  onHttp: (event) => {
    if (event.method === 'POST' && event.attempt === 1 && /\/order-plz$/.test(event.url)) newOrderPosts++
  },
})
const manager = createCertificateManager({
  client,
  account: { termsOfServiceAgreed: true },
  storage,
  allow: process.env.ALLOW!.split(','),
  challenges: { http01: false },
  limits: { issuancesPerMinute: 1000, issuancesPerMinutePerClient: 1000 },
})
const server = createServer({ SNICallback: manager.SNICallback }, (socket) => socket.end('ok\n'))
server.on('tlsClientError', () => {})
const net = manager.listener(server)
net.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = net.address()
  process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`)
})

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'stats')
    process.stdout.write(`STATS ${JSON.stringify({ ...manager.stats(), newOrderPosts })}\n`)
  if (line === 'close') break
}
await manager.close()
net.close()
process.exit(0)
