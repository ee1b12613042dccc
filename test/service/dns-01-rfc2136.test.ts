/**
 * dns-01 through the service with DNS_PROVIDER=rfc2136: the Worker sends RFC 2136 updates signed with TSIG to a real
 * BIND over the Workers socket API (`cloudflare:sockets` in workerd), checks propagation through dnsdist's DoH front
 * of that BIND, and Pebble validates against it. An apex with its wildcard; the TXT values are gone afterwards.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { type AuthoritativeServer, startPebbleOn } from '../harness/authoritative.ts'
import { startBind } from '../harness/bind.ts'
import { getTestCa } from '../harness/ca.ts'
import { type DohFront, startDohFront } from '../harness/dnsdist.ts'
import type { Pebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const ZONE = 'rfc2136.webacme.test'
let dns: AuthoritativeServer
let doh: DohFront
let pebble: Pebble
let service: ServiceProcess
let persist: string

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-rfc2136-'))
  ;({ dns, pebble } = await startPebbleOn(() => startBind({ zones: [ZONE] }), { httpPort: port }))
  doh = await startDohFront({ upstream: dns.dnsServer })
  const key = dns.keys['hmac-sha256']
  service = await startService({
    port,
    persist,
    directory: pebble.directoryUrl,
    token: 'token-dns-01-rfc2136-0123456789',
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      DNS_PROVIDER: 'rfc2136',
      RFC2136_NAMESERVER: dns.dnsServer,
      RFC2136_TSIG_KEY: key.name,
      RFC2136_TSIG_SECRET: key.secret,
      RFC2136_TSIG_ALGORITHM: key.algorithm,
      DNS_RESOLVER_URL: doh.url,
    },
  })
}, 300_000)

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  await doh?.stop()
  await dns?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('dns-01 through the service over RFC 2136 (BIND, TSIG, Workers sockets)', () => {
  it('issues an apex with its wildcard and removes both TXT values', async () => {
    const res = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [ZONE, `*.${ZONE}`], challenge: 'dns-01' }),
    })
    expect(res.status, await res.clone().text()).toBe(202)
    await allValid(service, [ZONE], { deadline: Date.now() + 240_000 })
    const apex = parseCertificate(await (await service.api(`/api/certificates/${ZONE}/chain`)).text())
    expect([...apex.dnsNames].sort()).toEqual([`*.${ZONE}`, ZONE])
    expect(await dns.txt(`_acme-challenge.${ZONE}`)).toEqual([])
  })
})
