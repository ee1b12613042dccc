/**
 * Delegated dns-01 through the service (issue #16, item 6): one PowerDNS serves the customer's zone and the service's
 * delegation zone, Pebble validates against it. A wildcard + apex job shows the one CNAME its customer must create
 * and waits on it (`waitingFor.reason === 'cname'`); the test creates the CNAME through PowerDNS's API, the next cron
 * pass issues. The service reaches PowerDNS's API through a forwarder in this test that records every change it
 * asks for: the TXT records were written in the delegation zone only, the customer's zone holds only the CNAME, and
 * a renewal (Pebble's one-hour certificates, the cron pass's time as the clock) does not touch it either.
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { getTestCa } from '../harness/ca.ts'
import type { Pebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { type PdnsRrset, type PowerDns, startPebbleOnPowerDns } from '../harness/powerdns.ts'
import { allValid, type ServiceProcess, startService } from './service-process.ts'

const CUSTOMER = 'shop.customer.test'
const DELEGATION = 'dcv.service.test'
const CUSTOMER_ZONE = 'customer.test'

let pdns: PowerDns
let pebble: Pebble
let service: ServiceProcess
let persist: string
let forwarder: Server
/** Every write the service sent to PowerDNS's API: method, path and the rrsets of a PATCH. */
const writes: Array<{ method: string; path: string; rrsets: Array<{ name: string; type: string }> }> = []

/** A plain HTTP forwarder to PowerDNS's API that records each request that changes something. */
async function startForwarder(target: string): Promise<{ server: Server; url: string }> {
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks)
    if (req.method !== 'GET') {
      let rrsets: Array<{ name: string; type: string }> = []
      try {
        rrsets = (JSON.parse(body.toString('utf8')) as { rrsets?: typeof rrsets }).rrsets ?? []
      } catch {}
      writes.push({ method: req.method ?? '', path: req.url ?? '', rrsets })
    }
    const headers: Record<string, string> = {}
    for (const [name, value] of Object.entries(req.headers)) {
      if (typeof value === 'string' && name !== 'host' && name !== 'content-length') headers[name] = value
    }
    const answer = await fetch(`${target}${req.url}`, {
      method: req.method ?? 'GET',
      headers,
      ...(body.length > 0 && { body }),
    })
    const back = Object.fromEntries(answer.headers)
    for (const hop of ['content-length', 'content-encoding', 'transfer-encoding', 'connection'])
      delete back[hop]
    res.writeHead(answer.status, back)
    res.end(Buffer.from(await answer.arrayBuffer()))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

interface JobView {
  name: string
  status: string
  method?: string
  renewals: number
  renewAt?: string
  notAfter?: string
  verification?: { type: string; name: string; target: string }
  verifications?: Array<{ name: string; target: string; status: string; found?: string }>
  waitingFor?: { reason?: string; name?: string; target?: string; found?: string }
}

async function job(name: string): Promise<JobView> {
  const res = await service.api(`/api/certificates/${name}`)
  expect(res.status).toBe(200)
  return (await res.json()) as JobView
}

/** Polls the job view until `done` holds (the deadline only guards against a hang). */
async function until(name: string, done: (view: JobView) => boolean, what: string): Promise<JobView> {
  const deadline = Date.now() + 120_000
  for (;;) {
    const view = await job(name)
    if (done(view)) return view
    if (view.status === 'failed') throw new Error(`${name} failed: ${JSON.stringify(view)}`)
    if (Date.now() > deadline) {
      throw new Error(
        `${name}: no ${what} by the deadline: ${JSON.stringify(view)}\n${service.output().slice(-3000)}`,
      )
    }
    await new Promise((r) => setTimeout(r, 200))
  }
}

const summary = (rrsets: PdnsRrset[]) =>
  rrsets.map((r) => `${r.name} ${r.type} ${r.records.map((x) => x.content).join(',')}`).sort()

beforeAll(async () => {
  const ca = await getTestCa()
  const port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-delegation-'))
  ;({ pdns, pebble } = await startPebbleOnPowerDns([CUSTOMER_ZONE, DELEGATION], {
    httpPort: port,
    certificateValidityPeriod: 3600,
  }))
  const forwarded = await startForwarder(pdns.apiUrl)
  forwarder = forwarded.server
  service = await startService({
    port,
    persist,
    directory: pebble.directoryUrl,
    token: 'token-delegation-0123456789',
    caFile: ca.caCertPath,
    vars: {
      ACME_TERMS_OF_SERVICE_AGREED: 'true',
      DNS_PROVIDER: 'powerdns',
      PDNS_API_URL: forwarded.url,
      PDNS_API_KEY: pdns.apiKey,
      DNS_RESOLVER_URL: pdns.dohUrl!,
      DNS_DELEGATION_ZONE: DELEGATION,
    },
  })
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await pebble?.stop()
  await pdns?.stop()
  await new Promise((r) => (forwarder ? forwarder.close(r) : r(undefined)))
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('delegated dns-01 through the service', () => {
  it('waits on the CNAME, issues a wildcard + apex once it is in place, and renews, all in the delegation zone', async () => {
    const res = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [`*.${CUSTOMER}`, CUSTOMER], challenge: 'dns-01' }),
    })
    expect(res.status, await res.clone().text()).toBe(202)
    const { name } = (await res.json()) as { name: string }

    // One record for the apex and its wildcard, and the job waits on it.
    const waiting = await until(name, (v) => v.waitingFor?.reason === 'cname', 'wait on the CNAME')
    expect(waiting.status).toBe('pending')
    expect(waiting.method).toBe('dns-01-delegated')
    const record = waiting.verification!
    expect(record).toEqual({
      type: 'cname',
      name: `_acme-challenge.${CUSTOMER}`,
      target: expect.stringMatching(new RegExp(`^[0-9a-f]{32}\\.${DELEGATION.replaceAll('.', '\\.')}$`)),
    })
    expect(waiting.verifications).toEqual([{ ...record, status: 'pending' }])
    expect(waiting.waitingFor).toMatchObject({ reason: 'cname', name: record.name, target: record.target })
    // Nothing was ordered or written while the CNAME is missing.
    expect(writes).toEqual([])
    // A cron pass with the CNAME still missing: still waiting, still nothing written.
    await service.cron()
    expect((await job(name)).waitingFor?.reason).toBe('cname')
    expect(writes).toEqual([])

    // A CNAME to somewhere else is named in the view, and still waited on.
    await pdns.setRecords(CUSTOMER_ZONE, record.name, 'CNAME', [`elsewhere.${DELEGATION}.`])
    await service.cron()
    await until(name, (v) => v.verifications?.[0]?.found === `elsewhere.${DELEGATION}`, 'wrong CNAME seen')
    expect((await job(name)).waitingFor).toMatchObject({ reason: 'cname', found: `elsewhere.${DELEGATION}` })
    expect(writes).toEqual([])

    // The customer creates the CNAME once; the next pass issues.
    await pdns.setRecords(CUSTOMER_ZONE, record.name, 'CNAME', [`${record.target}.`])
    const customerZone = summary(await pdns.rrsets(CUSTOMER_ZONE))
    await service.cron()
    await allValid(service, [name], { deadline: Date.now() + 120_000 })
    const issued = await job(name)
    expect(issued.waitingFor).toBeUndefined()
    expect(issued.verifications).toEqual([{ ...record, status: 'active' }])
    const chain = parseCertificate(await (await service.api(`/api/certificates/${name}/chain`)).text())
    expect([...chain.dnsNames].sort()).toEqual([`*.${CUSTOMER}`, CUSTOMER])

    // Every write went to the delegation zone, at the target: two TXT values (apex, wildcard) and their removal.
    const written = writes.flatMap((w) => w.rrsets.map((r) => ({ path: w.path, ...r })))
    expect(written.length).toBeGreaterThan(0)
    for (const w of written) {
      expect(w.path).toMatch(new RegExp(`/zones/${DELEGATION.replaceAll('.', '\\.')}\\.?$`))
      expect(w).toMatchObject({ name: `${record.target}.`, type: 'TXT' })
    }
    expect(summary(await pdns.rrsets(CUSTOMER_ZONE))).toEqual(customerZone)
    expect(customerZone.filter((r) => r.includes(' TXT '))).toEqual([])
    expect((await pdns.rrsets(DELEGATION)).filter((r) => r.type === 'TXT')).toEqual([])

    // A renewal (due at renewAt: the cron pass's time) writes in the delegation zone again, never the customer's.
    const before = writes.length
    await service.cron(Date.parse(issued.renewAt!) + 1000)
    await until(name, (v) => v.renewals === 1 && v.status === 'valid', 'renewal')
    const again = writes.slice(before).flatMap((w) => w.rrsets.map((r) => ({ path: w.path, ...r })))
    expect(again.length).toBeGreaterThan(0)
    for (const w of again) expect(w).toMatchObject({ name: `${record.target}.`, type: 'TXT' })
    expect(summary(await pdns.rrsets(CUSTOMER_ZONE))).toEqual(customerZone)
    expect(
      parseCertificate(await (await service.api(`/api/certificates/${name}/chain`)).text()).serialNumber,
    ).not.toBe(chain.serialNumber)
  })
})
