/**
 * Bun side of ../ondemand-runtimes.test.ts. Two ways to serve with webacme/tls in Bun:
 *
 * 1. `node:tls` `createServer({ SNICallback })` behind `manager.listener(server)` on Pebble's tls-alpn-01 port:
 *    on-demand issuance at the first handshake, tls-alpn-01 answered on the same port (`READY-TLS <port>`).
 * 2. `Bun.serve` with a static certificate from `manager.ensure` (Bun.serve has no per-handshake hook), stopped
 *    and started again on the same port with the new certificate when the manager says `renewed`
 *    (`READY-BUN <port>`, then `RELOADED <serial>` after `renew` on stdin). `server.reload({ tls })` is not
 *    enough: in Bun 1.4.5 it keeps serving the old certificate (this test saw the old serial after it).
 */
import { createServer } from 'node:tls'
import { AcmeClient } from '../../../src/client.ts'
import { generateKeyPair } from '../../../src/jose/algorithms.ts'
import { MemoryStorage } from '../../../src/storage/memory.ts'
import { createCertificateManager } from '../../../src/tls/index.ts'

declare const Bun: {
  serve(options: {
    port: number
    hostname: string
    tls: { cert: string; key: string; serverName?: string }
    fetch(request: Request): Response
  }): {
    port: number
    stop(closeActiveConnections?: boolean): Promise<void>
  }
}

const env = process.env
const manager = createCertificateManager({
  client: new AcmeClient({ directoryUrl: env.DIRECTORY_URL!, accountKey: await generateKeyPair('ES256') }),
  account: { termsOfServiceAgreed: true },
  storage: new MemoryStorage(),
  allow: [`*.${env.DOMAIN}`],
  challenges: { http01: false },
  renewal: { lookahead: 10 * 365 * 86_400_000 },
})

const server = createServer({ SNICallback: manager.SNICallback }, (socket) => socket.end('bun ok\n'))
server.on('tlsClientError', () => {})
const listener = manager.listener(server)
listener.listen(Number(env.TLS_PORT), '127.0.0.1', () => console.log(`READY-TLS ${env.TLS_PORT}`))

const staticName = `bun-static.${env.DOMAIN}`
const [first] = await manager.ensure([staticName])
if (!first?.ok) throw first?.error
const fetch = () => new Response('bun serve ok\n')
const serve = (cert: string, key: string, port: number) =>
  Bun.serve({ port, hostname: '127.0.0.1', tls: { cert, key, serverName: staticName }, fetch })
let bunServer = serve(first.certificate.cert, first.certificate.key, 0)
manager.on('renewed', async (event) => {
  if (event.name !== staticName) return
  const current = await manager.getCertificate(staticName)
  const port = bunServer.port
  await bunServer.stop()
  bunServer = serve(current.cert, current.key, port)
  console.log(`RELOADED ${event.serialNumber}`)
})
console.log(`READY-BUN ${bunServer.port}`)

for await (const chunk of process.stdin) {
  const text = String(chunk)
  if (text.includes('renew')) await manager.renewNow()
  if (text.includes('close')) break
}
await manager.close()
process.exit(0)
