// powerDnsAdapter against a REAL PowerDNS Authoritative Server 4.7 (gsqlite3) started by the test harness.
// Only the 429 case (PowerDNS has no rate limit) goes through a wrapping fetch that injects the response.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { adapterContract } from '../../../test/fixtures/dns/adapter-contract.ts'
import { occurrence } from '../../../test/fixtures/events.ts'
import { type PowerDns, startPowerDns } from '../../../test/harness/powerdns.ts'
import { type DnsProviderError, isDnsProviderError } from '../errors.ts'
import { parseTxt } from '../txt.ts'
import { powerDnsAdapter } from './powerdns.ts'

const V1 = 'x'.repeat(43)
const V2 = 'y'.repeat(43)

let pdns: PowerDns
let zoneCounter = 0
let requests = 0

/** A fresh zone per test, so tests do not see each other's records. */
async function freshZone(): Promise<string> {
  const zone = `z${++zoneCounter}.pdns.test`
  await pdns.createZone(zone)
  return zone
}

const counting: typeof fetch = (input, init) => {
  requests++
  return fetch(input, init)
}

async function txtValues(zone: string, name: string): Promise<string[]> {
  const rrset = (await pdns.rrsets(zone)).find((r) => r.type === 'TXT' && r.name === `${name}.`)
  return (rrset?.records ?? []).map((r) => parseTxt(r.content)).sort()
}

beforeAll(async () => {
  pdns = await startPowerDns({ doh: false })
})
afterAll(async () => {
  await pdns?.stop()
})

describe('powerDnsAdapter (real PowerDNS): DnsAdapter contract', () => {
  adapterContract(async () => {
    const zone = await freshZone()
    return {
      adapter: powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey, fetch: counting }),
      zone,
      values: (name) => txtValues(zone, name),
      requestCount: () => requests,
    }
  })
})

describe('powerDnsAdapter (real PowerDNS)', () => {
  it('merges into an rrset made by someone else, keeping its records and TTL', async () => {
    const zone = await freshZone()
    const name = `_acme-challenge.${zone}`
    await pdns.setRecords(zone, name, 'TXT', ['"v=other"', '"second" "part"'], 3600)
    const adapter = powerDnsAdapter({ url: `${pdns.apiUrl}/api/v1/`, apiKey: pdns.apiKey })
    await adapter.createTxt(name, V1)
    const rrset = (await pdns.rrsets(zone)).find((r) => r.name === `${name}.` && r.type === 'TXT')!
    expect(rrset.ttl).toBe(3600)
    expect(rrset.records.map((r) => r.content).sort()).toEqual(['"second" "part"', '"v=other"', `"${V1}"`])
    await adapter.removeTxt(name, V1)
    expect(await txtValues(zone, name)).toEqual(['secondpart', 'v=other'])
  })

  it('writes a new rrset with the configured TTL into a given zone', async () => {
    const zone = await freshZone()
    const adapter = powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey, zone, ttl: 120 })
    await adapter.createTxt(`_acme-challenge.www.${zone}`, V1)
    const rrset = (await pdns.rrsets(zone)).find((r) => r.type === 'TXT')!
    expect(rrset).toMatchObject({ name: `_acme-challenge.www.${zone}.`, ttl: 120 })
  })

  it('maps a wrong API key (401 "Unauthorized", text/plain) to ERR_DNS_AUTH', async () => {
    const adapter = powerDnsAdapter({ url: pdns.apiUrl, apiKey: 'wrong' })
    const err = await adapter.createTxt('_acme-challenge.z1.pdns.test', V1).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'ERR_DNS_AUTH', provider: 'powerdns', status: 401 })
    expect((err as Error).message).toContain('Unauthorized')
  })

  it('maps a CNAME already at the name (422 "Conflicts with pre-existing RRset") to ERR_DNS_CONFLICT', async () => {
    const zone = await freshZone()
    await pdns.setRecords(zone, `_acme-challenge.${zone}`, 'CNAME', ['elsewhere.example.'])
    const adapter = powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey })
    const err = await adapter.createTxt(`_acme-challenge.${zone}`, V1).catch((e: unknown) => e)
    expect(isDnsProviderError(err, 'ERR_DNS_CONFLICT')).toBe(true)
    expect((err as DnsProviderError).status).toBe(422)
    expect((err as Error).message).toMatch(/Conflicts with pre-existing RRset/)
  })

  it('enables a disabled copy of the value instead of adding a duplicate', async () => {
    const zone = await freshZone()
    const name = `_acme-challenge.${zone}`
    const res = await fetch(`${pdns.apiUrl}/api/v1/servers/localhost/zones/${zone}.`, {
      method: 'PATCH',
      headers: { 'x-api-key': pdns.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({
        rrsets: [
          {
            name: `${name}.`,
            type: 'TXT',
            ttl: 60,
            changetype: 'REPLACE',
            records: [{ content: `"${V1}"`, disabled: true }],
          },
        ],
      }),
    })
    expect(res.status).toBe(204)
    await powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey }).createTxt(name, V1)
    const rrset = (await pdns.rrsets(zone)).find((r) => r.type === 'TXT')!
    expect(rrset.records).toEqual([{ content: `"${V1}"`, disabled: false }])
  })

  it('retries after a 429 with Retry-After (injected in front of the real server)', async () => {
    const zone = await freshZone()
    let injected = false
    const throttled: typeof fetch = async (input, init) => {
      if (!injected && init?.method === 'PATCH') {
        injected = true
        return new Response('{"error": "slow down"}', { status: 429, headers: { 'retry-after': '0' } })
      }
      return fetch(input, init)
    }
    const adapter = powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey, fetch: throttled })
    await adapter.createTxt(`_acme-challenge.${zone}`, V2)
    expect(injected).toBe(true)
    expect(await txtValues(zone, `_acme-challenge.${zone}`)).toEqual([V2])
  })

  it('retries from the read when gsqlite3 answers 500 "database is locked" to concurrent writers', async () => {
    const zones = [await freshZone(), await freshZone()]
    // Separate adapters (as separate processes would be) do not share the adapter's write queue.
    const writers = Array.from({ length: 8 }, () =>
      powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey }),
    )
    await Promise.all(
      writers.map((adapter, i) => adapter.createTxt(`_acme-challenge.n${i}.${zones[i % 2]}`, V1)),
    )
    for (const [i] of writers.entries()) {
      expect(await txtValues(zones[i % 2]!, `_acme-challenge.n${i}.${zones[i % 2]}`)).toEqual([V1])
    }
  })

  it('finishes a write already sent when the caller aborts, so that removal sees it', async () => {
    const zone = await freshZone()
    const name = `_acme-challenge.${zone}`
    const controller = new AbortController()
    const writeMayGo = occurrence()
    const heldWrites: typeof fetch = async (input, init) => {
      if (init?.method === 'PATCH' && !init.signal) {
        controller.abort(new Error('caller gave up'))
        await writeMayGo.happened // the write is still in flight while the removal is asked for
      }
      return fetch(input, init)
    }
    const adapter = powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey, fetch: heldWrites })
    await expect(adapter.createTxt(name, V1, { signal: controller.signal })).rejects.toThrow('caller gave up')
    const removal = adapter.removeTxt(name, V1) // queued behind the write in flight
    writeMayGo.fire()
    await removal
    expect(await txtValues(zone, name)).toEqual([])
  })
})
