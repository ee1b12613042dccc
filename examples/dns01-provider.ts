/**
 * Issue a certificate (wildcards included) with dns-01 through a DNS provider's API: PowerDNS here; swap the
 * adapter for `cloudflareAdapter({ apiToken })` from 'webacme/dns/cloudflare', `route53Adapter(...)` from
 * 'webacme/dns/route53', and so on.
 *
 *   DOMAINS=example.com,*.example.com PDNS_API_URL=http://127.0.0.1:8081 PDNS_API_KEY=secret \
 *     node --import tsx examples/dns01-provider.ts
 *
 * Environment: DOMAINS (required), PDNS_API_URL and PDNS_API_KEY (required), ACME_DIRECTORY (default: Let's
 * Encrypt staging), DOH_URL (the DNS-over-HTTPS resolver that checks the TXT record is visible before the CA is
 * asked to look; default: public resolvers), OUT_DIR (default ./certs).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  AcmeClient,
  directories,
  dns01Solver,
  dohResolver,
  exportPrivateKeyPem,
  generateKeyPair,
  issueCertificate,
} from 'webacme'
import { powerDnsAdapter } from 'webacme/dns/powerdns'

const domains = (process.env.DOMAINS ?? '').split(',').filter(Boolean)
const { PDNS_API_URL, PDNS_API_KEY } = process.env
if (domains.length === 0 || !PDNS_API_URL || !PDNS_API_KEY) {
  throw new Error('set DOMAINS, PDNS_API_URL and PDNS_API_KEY')
}

const dns01 = dns01Solver({
  adapter: powerDnsAdapter({ url: PDNS_API_URL, apiKey: PDNS_API_KEY }), // the zone is found by walking up
  resolver: dohResolver(process.env.DOH_URL ? { url: process.env.DOH_URL } : {}),
})
const client = new AcmeClient({
  directoryUrl: process.env.ACME_DIRECTORY ?? directories.letsencrypt.staging,
  accountKey: await generateKeyPair('ES256'),
})
const { certificate, certificateKey, parsed } = await issueCertificate({
  client,
  account: { termsOfServiceAgreed: true }, // running this means agreeing to the CA's terms of service
  identifiers: domains,
  solvers: [dns01],
})
const outDir = process.env.OUT_DIR ?? 'certs'
await mkdir(outDir, { recursive: true, mode: 0o700 })
await writeFile(join(outDir, 'fullchain.pem'), certificate, { mode: 0o600 })
await writeFile(join(outDir, 'privkey.pem'), await exportPrivateKeyPem(certificateKey.privateKey), {
  mode: 0o600,
})
console.log(`issued serial ${parsed.serialNumber} for ${parsed.dnsNames.join(', ')}`)
