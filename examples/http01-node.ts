/**
 * Issue a certificate with http-01, answered by a Node HTTP server.
 *
 *   DOMAINS=example.com,www.example.com HTTP_PORT=80 node --import tsx examples/http01-node.ts
 *
 * Environment: DOMAINS (required, comma-separated), ACME_DIRECTORY (default: Let's Encrypt staging),
 * HTTP_PORT (default 80: the CA connects to port 80 of every name), OUT_DIR (default ./certs), ACME_EMAIL.
 * Running it means agreeing to the CA's terms of service (printed below).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { join } from 'node:path'
import {
  AcmeClient,
  directories,
  exportPrivateKeyPem,
  generateKeyPair,
  http01Solver,
  issueCertificate,
} from 'webacme'

const domains = (process.env.DOMAINS ?? '').split(',').filter(Boolean)
if (domains.length === 0) throw new Error('set DOMAINS=example.com[,www.example.com]')
const directoryUrl = process.env.ACME_DIRECTORY ?? directories.letsencrypt.staging
const outDir = process.env.OUT_DIR ?? 'certs'

// The solver keeps the tokens; the server hands them to the CA.
const http01 = http01Solver()
const server = createServer(async (req, res) => {
  const body = await http01.lookup(req.url ?? '/')
  res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain' }).end(body ?? 'not found')
})
await new Promise<void>((resolve) => server.listen(Number(process.env.HTTP_PORT ?? 80), resolve))

try {
  const client = new AcmeClient({ directoryUrl, accountKey: await generateKeyPair('ES256') })
  const { meta } = await client.directory()
  console.log(`terms of service: ${meta?.termsOfService ?? '(none)'}`)
  const { certificate, certificateKey, parsed } = await issueCertificate({
    client,
    account: {
      termsOfServiceAgreed: true,
      ...(process.env.ACME_EMAIL && { contact: [process.env.ACME_EMAIL] }),
    },
    identifiers: domains,
    solvers: [http01],
    onEvent: (event) => console.log(event.type, 'identifier' in event ? event.identifier.value : ''),
  })
  await mkdir(outDir, { recursive: true, mode: 0o700 })
  await writeFile(join(outDir, 'fullchain.pem'), certificate, { mode: 0o600 })
  await writeFile(join(outDir, 'privkey.pem'), await exportPrivateKeyPem(certificateKey.privateKey), {
    mode: 0o600,
  })
  console.log(
    `issued serial ${parsed.serialNumber} for ${parsed.dnsNames.join(', ')}, valid until ${parsed.notAfter.toISOString()}`,
  )
} finally {
  server.close()
}
