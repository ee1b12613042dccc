/**
 * State that survives (issue 16, item 8): the service's jobs live in one Durable Object found by a fixed name, not by
 * the CA's directory URL.
 *
 * 1. The service as it was before (commit e610c45, an object per directory URL: its build is kept in
 *    test/fixtures/service-legacy/, as a clone without history cannot check it out) issues three certificates from
 *    Pebble A; this version is started on the same state and moves them into its object (nothing dropped, each
 *    certificate marked as Pebble A's), then takes a fourth job.
 * 2. Restarted against Pebble B (a new port: a new directory URL and a new CA), every job is still there and its
 *    certificate still served; the cron pass re-issues each from Pebble B (a new account there), the old
 *    certificate served until the new one replaces it.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseCertificate } from '../../src/pkix/certificate.ts'
import { getTestCa } from '../harness/ca.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import { freePort } from '../harness/ports.ts'
import { root } from '../runtimes/paths.ts'
import { allValid, listAll, type ServiceProcess, startService } from './service-process.ts'

/** The last version whose service kept one Durable Object per directory URL, built (its README says how). */
const LEGACY = {
  worker: join(root, 'test/fixtures/service-legacy/worker.js'),
  config: join(root, 'test/fixtures/service-legacy/wrangler.toml'),
}
const RUN = Date.now().toString(36)
const token = `token-${RUN}-state`
const first = [0, 1, 2].map((i) => `s${i}-${RUN}.webacme.test`)
const fourth = `s3-${RUN}.webacme.test`
const all = [...first, fourth]

let pebbleA: Pebble
let pebbleB: Pebble | undefined
let service: ServiceProcess | undefined
let persist: string
let port: number
let caFile: string

const serialOf = (pem: string) => parseCertificate(pem).serialNumber

async function chains(s: ServiceProcess): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const name of all) {
    const res = await s.api(`/api/certificates/${name}/chain`)
    if (res.status === 200) out.set(name, await res.text())
    else out.set(name, `HTTP ${res.status}`)
  }
  return out
}

const start = (directory: string, extra: { build?: typeof LEGACY; vars?: Record<string, string> } = {}) =>
  startService({
    port,
    persist,
    directory,
    token,
    caFile,
    ...(extra.build && { build: extra.build }),
    vars: { ACME_TERMS_OF_SERVICE_AGREED: 'true', LIMIT_REQUESTS_PER_SECOND: '1000', ...extra.vars },
  })

beforeAll(async () => {
  const ca = await getTestCa()
  caFile = ca.caCertPath
  port = await freePort()
  persist = await mkdtemp(join(tmpdir(), 'webacme-service-state-'))
  pebbleA = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
}, 120_000)

afterAll(async () => {
  await service?.stop()
  await pebbleA?.stop()
  await pebbleB?.stop()
  if (persist) await rm(persist, { recursive: true, force: true })
})

describe('state across versions and CAs', () => {
  const before = new Map<string, string>()

  it('moves the jobs of the earlier version (an object per directory URL) into the service object', async () => {
    const legacy = await start(pebbleA.directoryUrl, { build: LEGACY })
    service = legacy
    for (const name of first) {
      const res = await legacy.api('/api/certificates', {
        method: 'POST',
        body: JSON.stringify({ identifiers: [name] }),
      })
      expect(res.status, await res.clone().text()).toBe(202)
    }
    await allValid(legacy, first, { deadline: Date.now() + 120_000 })
    for (const [name, chain] of await chains(legacy)) if (first.includes(name)) before.set(name, chain)
    await legacy.stop()

    service = await start(pebbleA.directoryUrl)
    const jobs = await listAll(service)
    expect(jobs.map((j) => j.name).sort()).toEqual([...first].sort())
    for (const job of jobs) {
      expect(job.status).toBe('valid')
      expect((job as unknown as { ca?: string }).ca).toBe(pebbleA.directoryUrl)
    }
    const served = await chains(service)
    for (const name of first) expect(served.get(name)).toBe(before.get(name))
    // One hostname, one job: the index was built from the moved jobs.
    const taken = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [first[0]], name: `other-${RUN}` }),
    })
    expect(taken.status).toBe(409)
    expect(((await taken.json()) as { error: { code: string } }).error.code).toBe('ERR_HOSTNAME_TAKEN')
    const res = await service.api('/api/certificates', {
      method: 'POST',
      body: JSON.stringify({ identifiers: [fourth] }),
    })
    expect(res.status).toBe(202)
    await allValid(service, all, { deadline: Date.now() + 120_000 })
    before.set(fourth, (await chains(service)).get(fourth)!)
    await service.stop()
  }, 300_000)

  it('keeps every job through a restart with a new CA, serves the old certificates, then re-issues from the new CA', async () => {
    pebbleB = await startPebble({ http01: 'self', httpPort: port, authzReusePercent: 0 })
    expect(pebbleB.directoryUrl).not.toBe(pebbleA.directoryUrl)
    service = await start(pebbleB.directoryUrl)
    // Every job is there at once, each still with a certificate served (the old one, or already the new one).
    const jobs = await listAll(service)
    expect(jobs.map((j) => j.name).sort()).toEqual([...all].sort())
    for (const job of jobs) expect(job.status).toBe('valid')
    for (const [name, chain] of await chains(service)) {
      expect(chain, name).toMatch(/^-----BEGIN CERTIFICATE-----/)
    }
    // The pass at start enqueued the re-issues; wait for each to come from Pebble B.
    const deadline = Date.now() + 180_000
    for (;;) {
      const now = await listAll(service)
      const moved = now.filter((j) => (j as unknown as { ca?: string }).ca === pebbleB!.directoryUrl)
      for (const job of now) expect(job.status, JSON.stringify(job)).toBe('valid')
      if (moved.length === all.length) break
      if (Date.now() > deadline)
        throw new Error(`not re-issued: ${JSON.stringify(now)}\n${service.output().slice(-3000)}`)
      // Served all along: every chain is a certificate, never a 404.
      for (const [name, chain] of await chains(service)) expect(chain, name).toMatch(/^-----BEGIN/)
      await new Promise((r) => setTimeout(r, 500))
    }
    const after = await chains(service)
    for (const name of all) {
      const serial = serialOf(after.get(name)!)
      expect(serial).not.toBe(serialOf(before.get(name)!))
      expect((await pebbleB!.certStatus(serial)).status, name).toBe('valid')
      expect((await pebbleA.certStatus(serial)).status, name).toBe('unknown')
    }
    const views = await listAll(service)
    for (const view of views) expect(view.renewals).toBe(1)
    // A later pass finds nothing left to re-issue.
    await service.cron()
    const status = (await (await service.api('/api/status')).json()) as { lastPass: { reissues: number } }
    expect(status.lastPass.reissues).toBe(0)
  }, 300_000)
})
