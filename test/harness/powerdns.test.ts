// Proves the PowerDNS harness: pdns_server (gsqlite3) and dnsdist start on free ports, zones made through
// the API answer over DNS (SOA, NS, TXT, CNAME) and over RFC 8484 DoH, and everything goes away on stop().
import { Resolver } from 'node:dns/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isPortFree } from './ports.ts'
import { type PowerDns, startPowerDns } from './powerdns.ts'

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A minimal RFC 8484 GET: ID 0, RD, one question. */
function dohQuery(name: string, type: number): string {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)])
  return Buffer.from([0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, type, 0, 1]).toString('base64url')
}

describe('startPowerDns', () => {
  let pdns: PowerDns
  let resolver: Resolver

  beforeAll(async () => {
    pdns = await startPowerDns()
    // The timeout only bounds a failure: large, so a loaded machine cannot turn an answer into ETIMEOUT.
    resolver = new Resolver({ timeout: 20_000, tries: 2 })
    resolver.setServers([pdns.dnsServer])
  })
  afterAll(async () => {
    await pdns?.stop()
  })

  it('serves zones created through the API: SOA and NS from PowerDNS, records set through the API', async () => {
    await pdns.createZone('harness.test')
    const soa = await resolver.resolveSoa('harness.test')
    expect(soa.minttl).toBeGreaterThan(0)
    expect(await resolver.resolveNs('harness.test')).toEqual(['ns1.harness.test'])

    await pdns.setRecords('harness.test', '_acme-challenge.harness.test', 'TXT', ['"one"', '"two"'])
    expect((await resolver.resolveTxt('_acme-challenge.harness.test')).map((r) => r.join('')).sort()).toEqual(
      ['one', 'two'],
    )
    await pdns.setRecords('harness.test', 'alias.harness.test', 'CNAME', ['_acme-challenge.harness.test.'])
    expect(await resolver.resolveCname('alias.harness.test')).toEqual(['_acme-challenge.harness.test'])

    const rrsets = await pdns.rrsets('harness.test')
    expect(rrsets.map((r) => `${r.name} ${r.type}`).sort()).toEqual([
      '_acme-challenge.harness.test. TXT',
      'alias.harness.test. CNAME',
      'harness.test. NS',
      'harness.test. SOA',
    ])
    await pdns.setRecords('harness.test', '_acme-challenge.harness.test', 'TXT', [])
    await expect(resolver.resolveTxt('_acme-challenge.harness.test')).rejects.toMatchObject({
      code: expect.stringMatching(/ENODATA|ENOTFOUND/),
    })
  })

  it('refuses API calls without the key (401 text/plain)', async () => {
    const res = await fetch(`${pdns.apiUrl}/api/v1/servers/localhost/zones`, {
      headers: { 'x-api-key': 'wrong' },
    })
    expect(res.status).toBe(401)
    expect(await res.text()).toBe('Unauthorized')
  })

  it('answers RFC 8484 DoH through dnsdist and counts the queries', async () => {
    await pdns.createZone('doh.test')
    await pdns.setRecords('doh.test', 'x.doh.test', 'TXT', ['"via-doh"'])
    const before = await pdns.dohQueries()
    const res = await fetch(`${pdns.dohUrl}?dns=${dohQuery('x.doh.test', 16)}`, {
      headers: { accept: 'application/dns-message' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/dns-message')
    const body = Buffer.from(await res.arrayBuffer())
    expect(body.readUInt16BE(6)).toBe(1) // ANCOUNT
    expect(body.toString('latin1')).toContain('via-doh')
    expect(await pdns.dohQueries()).toBe(before + 1)
  })

  it('stops both processes and frees the ports', async () => {
    const other = await startPowerDns()
    const port = Number(new URL(other.apiUrl).port)
    expect(isAlive(other.pid)).toBe(true)
    await other.stop()
    await other.stop() // idempotent
    expect(isAlive(other.pid)).toBe(false)
    expect(isAlive(other.dohPid!)).toBe(false)
    expect(await isPortFree(port)).toBe(true)
  })

  it('runs without the DoH front', async () => {
    const plain = await startPowerDns({ doh: false })
    try {
      expect(plain.dohUrl).toBeUndefined()
      expect(plain.dohPid).toBeUndefined()
      expect(await plain.dohQueries()).toBe(0)
    } finally {
      await plain.stop()
    }
  })
})
