/**
 * The webacme side of `npm run bench:ondemand` (../ondemand.ts), in a process of its own so that its memory is its
 * own: a `node:tls` server with `createCertificateManager`'s SNICallback, behind the manager's listener (tls-alpn-01
 * on the same port), over an FsStorage. Prints `READY <port>`; answers `stats` on stdin with `STATS <json>`; exits on
 * `close`. Environment: DIRECTORY_URL, STORAGE_DIR, PORT, ALLOW (comma-separated names and *.patterns).
 */
import * as fs from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { createServer } from 'node:tls'
import { AcmeClient, generateKeyPair } from 'webacme'
import { FsStorage } from 'webacme/storage/fs'
import { createCertificateManager } from 'webacme/tls'

const client = new AcmeClient({
  directoryUrl: process.env.DIRECTORY_URL!,
  accountKey: await generateKeyPair('ES256'),
})
const manager = createCertificateManager({
  client,
  account: { termsOfServiceAgreed: true },
  storage: new FsStorage(process.env.STORAGE_DIR!, { fs }),
  allow: process.env.ALLOW!.split(','),
  challenges: { http01: false },
  // The bench asks for 100 new names at once and loads 10,000 from storage: the defaults are for production.
  limits: {
    issuancesPerMinute: 10_000,
    issuancesPerMinutePerClient: 10_000,
    maxCertificates: 20_000,
  },
})
const server = createServer({ SNICallback: manager.SNICallback }, (socket) => socket.end('ok\n'))
server.on('tlsClientError', () => {})
const net = manager.listener(server)
net.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const address = net.address()
  process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`)
})

for await (const line of createInterface({ input: process.stdin })) {
  if (line === 'stats') process.stdout.write(`STATS ${JSON.stringify(manager.stats())}\n`)
  if (line === 'close') break
}
await manager.close()
net.close()
process.exit(0)
