/**
 * dns-01 end to end against REAL DNS: PowerDNS Authoritative (gsqlite3, HTTP API) is Pebble's `-dnsserver`,
 * and dnsdist in front of it serves RFC 8484 DoH over plain HTTP. issueCertificate() publishes through
 * powerDnsAdapter() and checks propagation through dohResolver({ format: 'wire' }) pointed at dnsdist:
 * an apex + wildcard (two values at one name), a name whose `_acme-challenge` is a CNAME into another zone,
 * and aborts in the middle, after which no TXT record is left on PowerDNS. Every adapter call and every DoH
 * query is logged in order, to show that no TXT name is queried before its value was created.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { dns01Solver } from '../../src/challenges/dns-01.ts'
import { AcmeClient } from '../../src/client.ts'
import type { DnsAdapter } from '../../src/dns/adapter.ts'
import { dohResolver } from '../../src/dns/doh.ts'
import { powerDnsAdapter } from '../../src/dns/providers/powerdns.ts'
import { type IssueEvent, issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import type { Pebble } from '../harness/pebble.ts'
import { type PowerDns, startPebbleOnPowerDns } from '../harness/powerdns.ts'

const RUN = Date.now().toString(36)

let pdns: PowerDns
let pebble: Pebble
let client: AcmeClient

/** The order of things: `create|created|remove|removed <name>` from the adapter, `query <TYPE> <name>` from DoH. */
let log: string[] = []
/** DoH requests our wrapping fetch sent (each one a request to dnsdist). */
let dohRequests = 0

const TYPES: Record<number, string> = { 5: 'CNAME', 16: 'TXT' }

/** A fetch for the resolver that logs the question of each RFC 8484 GET before sending it to dnsdist. */
const loggingDohFetch: typeof fetch = async (input, init) => {
  const url = new URL(String(input))
  const query = Buffer.from(url.searchParams.get('dns') ?? '', 'base64url')
  const labels: string[] = []
  let at = 12
  while (query[at]) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]!).toString())
    at += 1 + query[at]!
  }
  const type = query.readUInt16BE(at + 1)
  log.push(`query ${TYPES[type] ?? type} ${labels.join('.').toLowerCase()}`)
  dohRequests++
  return fetch(input, init)
}

/** The adapter, with every call logged. */
function loggedAdapter(inner: DnsAdapter): DnsAdapter {
  return {
    name: inner.name,
    async createTxt(name, value, options) {
      log.push(`create ${name}`)
      await inner.createTxt(name, value, options)
      log.push(`created ${name}`)
    },
    async removeTxt(name, value, options) {
      log.push(`remove ${name}`)
      await inner.removeTxt(name, value, options)
      log.push(`removed ${name}`)
    },
  }
}

function solver(adapter: DnsAdapter = powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey })) {
  return dns01Solver({
    adapter: loggedAdapter(adapter),
    resolver: dohResolver({ url: pdns.dohUrl!, format: 'wire', fetch: loggingDohFetch }),
    propagation: { interval: 200, timeout: 20_000 },
  })
}

/** TXT rrsets left anywhere on PowerDNS. */
async function leftoverTxt(): Promise<string[]> {
  const zones = ['example.test', 'delegated.test']
  const sets = await Promise.all(zones.map((zone) => pdns.rrsets(zone)))
  return sets
    .flat()
    .filter((r) => r.type === 'TXT')
    .map((r) => `${r.name} ${r.records.map((x) => x.content).join(' ')}`)
}

/** Every TXT name queried over DoH was created first (its first TXT query comes after `created <name>`). */
function expectNoTxtQueryBeforeCreate(): void {
  const queried = new Set(
    log.filter((l) => l.startsWith('query TXT ')).map((l) => l.slice('query TXT '.length)),
  )
  expect(queried.size).toBeGreaterThan(0)
  for (const name of queried) {
    const created = log.indexOf(`created ${name}`)
    expect(created, `${name} was queried but never created`).toBeGreaterThanOrEqual(0)
    expect(log.indexOf(`query TXT ${name}`), `${name} was queried before it was created`).toBeGreaterThan(
      created,
    )
  }
}

beforeAll(async () => {
  ;({ pdns, pebble } = await startPebbleOnPowerDns(['example.test', 'delegated.test']))
  client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: await generateKeyPair() })
  await client.createAccount({ termsOfServiceAgreed: true })
})

afterAll(async () => {
  await pebble?.stop()
  await pdns?.stop()
})

describe('dns-01 with PowerDNS (Pebble validates against it) and DoH through dnsdist', () => {
  it('issues for an apex and its wildcard: two values at one name, checked over DoH, then removed', async () => {
    log = []
    const requestsBefore = dohRequests
    const servedBefore = await pdns.dohQueries()
    const zoneName = 'example.test'
    const { parsed } = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [zoneName, `*.${zoneName}`],
      solvers: [solver()],
      poll: { interval: 200 },
    })
    expect([...parsed.dnsNames].sort()).toEqual([`*.${zoneName}`, zoneName])

    // Both challenges wrote `_acme-challenge.example.test`; both values existed together, then both went.
    expect(log.filter((l) => l === `created _acme-challenge.${zoneName}`)).toHaveLength(2)
    expect(log.filter((l) => l === `removed _acme-challenge.${zoneName}`)).toHaveLength(2)
    expect(await leftoverTxt()).toEqual([])
    expectNoTxtQueryBeforeCreate()

    // The propagation check went through the DoH front: dnsdist counted every request we sent.
    expect(dohRequests - requestsBefore).toBeGreaterThanOrEqual(2)
    expect((await pdns.dohQueries()) - servedBefore).toBe(dohRequests - requestsBefore)
  })

  it('follows an _acme-challenge CNAME into another zone and writes the TXT there', async () => {
    log = []
    const name = `www-${RUN}.example.test`
    const target = `www-${RUN}.acme.delegated.test`
    await pdns.setRecords('example.test', `_acme-challenge.${name}`, 'CNAME', [`${target}.`])
    const { parsed } = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [name],
      solvers: [solver()],
      poll: { interval: 200 },
    })
    expect(parsed.dnsNames).toEqual([name])

    expect(log).toContain(`query CNAME _acme-challenge.${name}`)
    expect(log).toContain(`created ${target}`)
    expect(log).toContain(`query TXT ${target}`)
    expect(log.some((l) => l === `create _acme-challenge.${name}`)).toBe(false)
    expectNoTxtQueryBeforeCreate()
    expect(await leftoverTxt()).toEqual([])
    // The delegation itself is left alone.
    const cname = (await pdns.rrsets('example.test')).find((r) => r.type === 'CNAME')
    expect(cname?.records.map((r) => r.content)).toEqual([`${target}.`])
  })

  it('aborted when the first authorization is validating: rejects with the reason, no TXT left on PowerDNS', async () => {
    log = []
    const controller = new AbortController()
    const reason = new Error('operator stopped the run')
    const events: IssueEvent[] = []
    const base = `abort-${RUN}.example.test`
    const err = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [base, `*.${base}`, `other-${RUN}.delegated.test`],
      solvers: [solver()],
      poll: { interval: 200 },
      signal: controller.signal,
      onEvent(event) {
        events.push(event)
        if (event.type === 'authorization' && event.status === 'validating') controller.abort(reason)
      },
    }).catch((e: unknown) => e)
    expect(err).toBe(reason)
    expect(events.some((e) => e.type === 'cleanup-error')).toBe(false)
    expect(log.some((l) => l.startsWith('created '))).toBe(true)
    expect(await leftoverTxt()).toEqual([])
  })

  it('aborted while a PowerDNS write is in flight: cleanup waits for it and still removes the value', async () => {
    log = []
    const controller = new AbortController()
    const reason = new Error('stopped mid-write')
    const abortOnFirstWrite: typeof fetch = async (input, init) => {
      if (init?.method === 'PATCH' && !controller.signal.aborted) {
        const sent = fetch(input, init) // the write reaches PowerDNS...
        controller.abort(reason) // ...while the caller gives up
        return sent
      }
      return fetch(input, init)
    }
    const name = `inflight-${RUN}.delegated.test`
    const err = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [name, `*.${name}`],
      solvers: [solver(powerDnsAdapter({ url: pdns.apiUrl, apiKey: pdns.apiKey, fetch: abortOnFirstWrite }))],
      signal: controller.signal,
    }).catch((e: unknown) => e)
    expect(err).toBe(reason)
    expect(log).toContain(`remove _acme-challenge.${name}`)
    expect(await leftoverTxt()).toEqual([])
  })
})
