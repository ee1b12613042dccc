/**
 * Deno side of ../ondemand-runtimes.test.ts. `Deno.serve` takes a certificate when it starts and has no
 * per-handshake hook (denoland/deno#23233), and Deno's `node:tls` server has no SNICallback: so the manager
 * issues ahead (`ensure`, http-01 answered by `fetchHandler` on Pebble's http port), `Deno.serve` serves the
 * certificate, and on `renewed` the TLS server is shut down and started again with the new one.
 * Prints `READY <port>`, then `RESTARTED <port> <serial>` after `renew` on stdin.
 */
import { AcmeClient } from '../../../src/client.ts'
import { generateKeyPair } from '../../../src/jose/algorithms.ts'
import { MemoryStorage } from '../../../src/storage/memory.ts'
import { createCertificateManager } from '../../../src/tls/index.ts'

declare const Deno: {
  env: { get(name: string): string | undefined }
  stdin: { readable: AsyncIterable<Uint8Array> }
  exit(code: number): never
  serve(
    options: {
      port: number
      hostname: string
      cert?: string
      key?: string
      onListen?: (addr: { port: number }) => void
    },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void>; finished: Promise<void> }
}

const get = (name: string) => Deno.env.get(name)!
const manager = createCertificateManager({
  client: new AcmeClient({ directoryUrl: get('DIRECTORY_URL'), accountKey: await generateKeyPair('ES256') }),
  account: { termsOfServiceAgreed: true },
  storage: new MemoryStorage(),
  allow: [`*.${get('DOMAIN')}`],
  challenges: { tlsAlpn01: false },
  renewal: { lookahead: 10 * 365 * 86_400_000 },
})
// Port 80's job: http-01 answers, everything else redirected to https.
Deno.serve({ port: Number(get('HTTP_PORT')), hostname: '127.0.0.1', onListen() {} }, manager.fetchHandler)

const name = `deno.${get('DOMAIN')}`
const [result] = await manager.ensure([name])
if (!result?.ok) throw result?.error
const start = (cert: string, key: string, port: number) =>
  new Promise<{ server: ReturnType<typeof Deno.serve>; port: number }>((resolve) => {
    const server = Deno.serve(
      {
        port,
        hostname: '127.0.0.1',
        cert,
        key,
        onListen: (addr) => queueMicrotask(() => resolve({ server, port: addr.port })),
      },
      () => new Response('deno ok\n'),
    )
  })
let current = await start(result.certificate.cert, result.certificate.key, 0)
console.log(`READY ${current.port}`)
manager.on('renewed', async (event) => {
  const renewed = await manager.getCertificate(name)
  await current.server.shutdown()
  current = await start(renewed.cert, renewed.key, current.port)
  console.log(`RESTARTED ${current.port} ${event.serialNumber}`)
})

const decoder = new TextDecoder()
for await (const chunk of Deno.stdin.readable) {
  const text = decoder.decode(chunk)
  if (text.includes('renew')) await manager.renewNow()
  if (text.includes('close')) break
}
await manager.close()
Deno.exit(0)
