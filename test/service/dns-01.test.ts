/**
 * dns-01 through the service: the Worker writes TXT records with the PowerDNS adapter (credentials passed as its
 * secrets), checks propagation through dnsdist's DoH front, and Pebble validates against that PowerDNS. An apex with
 * its wildcard (two values at one name) and a plain name; the records are gone afterwards. The API refuses a
 * wildcard over http-01.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { getTestCa } from '../harness/ca.ts'
import type { Pebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { type PowerDns, startPebbleOnPowerDns } from '../harness/powerdns.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const ZONE = 'dns01.webacme.test'
let pdns: PowerDns
let pebble: Pebble
let service: ServiceProcess
let persist: string

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-dns-'))
  ;({ pdns, pebble } = await startPebbleOnPowerDns([ZONE], { httpPort: port }))
  service = await startService({
    port,
    persist,
    directory: pebble.directoryUrl,
    token: 'token-dns-01-0123456789',
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      DNS_PROVIDER: 'powerdns',
      PDNS_API_URL: pdns.apiUrl,
      PDNS_API_KEY: pdns.apiKey,
      DNS_RESOLVER_URL: pdns.dohUrl!,
    },
  })
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  await pdns?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('dns-01 through the service', () => {
  it('issues an apex with its wildcard and a plain name, and removes every TXT record', async () => {
    const requests = [
      { identifiers: [ZONE, `*.${ZONE}`], challenge: 'dns-01' },
      { identifiers: [`www.${ZONE}`], challenge: 'dns-01' },
    ]
    for (const body of requests) {
      const res = await service.api('/api/certificates', { method: 'POST', body: JSON.stringify(body) })
      expect(res.status, await res.clone().text()).toBe(202)
    }
    await allValid(service, [ZONE, `www.${ZONE}`], { deadline: Date.now() + 120_000 })
    const apex = parseCertificate(await (await service.api(`/api/certificates/${ZONE}/chain`)).text())
    expect([...apex.dnsNames].sort()).toEqual([`*.${ZONE}`, ZONE])
    const txt = (await pdns.rrsets(ZONE)).filter((r) => r.type === 'TXT')
    expect(txt).toEqual([])
    expect(await pdns.dohQueries()).toBeGreaterThan(0)
  })

  it('names a wildcard-only certificate _wildcard.<domain>, and refuses a wildcard over http-01', async () => {
    const res = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [`*.sub.${ZONE}`], challenge: 'dns-01' }),
    })
    expect(await res.json()).toEqual({ name: `_wildcard.sub.${ZONE}`, status: 'pending' })
    const refused = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [`*.other.${ZONE}`], challenge: 'http-01' }),
    })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({ error: { code: 'ERR_NO_SOLVER' } })
    await allValid(service, [`_wildcard.sub.${ZONE}`], { deadline: Date.now() + 120_000 })
  })
})
