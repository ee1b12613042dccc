import * as nodeFs from 'node:fs/promises'
/**
 * Renewal end to end: Pebble 2.4 (real issuance) behind the ARI proxy fixture (renewalInfo, profiles, `replaces`),
 * certificates stored in MemoryStorage / FsStorage, and `renewDue` driven by a controllable clock through every
 * case of issue #5. Pebble issues certificates valid for about five years; the windows the tests set are relative to
 * the fake clock, which starts at the real time.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChallengeSolver } from '../../src/challenges/solver.ts'
import { AcmeClient } from '../../src/client.ts'
import { AcmeProblemError, InvalidArgumentError, isRateLimited } from '../../src/errors.ts'
import { issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { certificateMatchesKey, parseCertificate } from '../../src/pkix/certificate.ts'
import { importPrivateKeyPem } from '../../src/pkix/private-key.ts'
import { certId } from '../../src/renewal/cert-id.ts'
import {
  type CertificateRecord,
  type PendingOrderRecord,
  readCertificateRecord,
  readPendingOrder,
  readRenewalState,
  saveAccount,
  saveCertificate,
} from '../../src/renewal/records.ts'
import { type RenewDueOptions, renewDue } from '../../src/renewal/renew.ts'
import { FsStorage } from '../../src/storage/fs.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { type Storage, storageKeys } from '../../src/storage/storage.ts'
import { type AriProxy, LE_PROFILES, startAriProxy } from '../fixtures/ari-proxy.ts'
import { makeCertificate } from '../fixtures/certificates.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
const RUN = Date.now().toString(36)

let pebble: Pebble
let proxy: AriProxy
let plain: AriProxy
let accountKey: CryptoKeyPair
let client: AcmeClient
let plainClient: AcmeClient
let seq = 0
const tmp: string[] = []

/** http-01 through challtestsrv, where Pebble's VA looks. */
const http01: ChallengeSolver = {
  type: 'http-01',
  present: (c) => pebble.challtest!.addHttp01(c.challenge.token!, c.keyAuthorization!),
  cleanup: (c) => pebble.challtest!.delHttp01(c.challenge.token!),
}
const domain = () => `r${++seq}-${RUN}.webacme.test`

beforeAll(async () => {
  pebble = await startPebble({ http01: 'challtestsrv', authzReusePercent: 0 })
  proxy = await startAriProxy({ pebble })
  plain = await startAriProxy({ pebble, ari: false, profiles: false })
  accountKey = await generateKeyPair('ES256')
  client = new AcmeClient({ directoryUrl: proxy.directoryUrl, accountKey })
  await client.createAccount({ termsOfServiceAgreed: true })
  // The same account seen through a directory without ARI or profiles.
  plainClient = new AcmeClient({ directoryUrl: plain.directoryUrl, accountKey })
  await plainClient.createAccount({ termsOfServiceAgreed: true })
})

afterAll(async () => {
  await proxy?.close()
  await plain?.close()
  await pebble?.stop()
  await Promise.all(tmp.map((d) => rm(d, { recursive: true, force: true })))
})

/** Issues a certificate for `name` through `via` and stores it. */
async function issueStored(storage: Storage, name: string, via = client): Promise<CertificateRecord> {
  const issued = await issueCertificate({
    client: via,
    account: { termsOfServiceAgreed: true },
    identifiers: [name],
    solvers: [http01],
  })
  return saveCertificate(storage, name, issued)
}

/** A fake clock starting now, and renewDue bound to it (with `client: null`, the client comes from storage). */
function driver(
  storage: Storage,
  settings: Omit<Partial<RenewDueOptions>, 'client'> & { client?: AcmeClient | null } = {},
) {
  const { client: chosen, ...base } = settings
  const via = chosen === null ? {} : { client: chosen ?? client }
  const start = Date.now()
  let now = start
  return {
    start,
    get now() {
      return now
    },
    at(t: number) {
      now = t
    },
    run: (extra: Partial<RenewDueOptions> = {}) =>
      renewDue({ storage, ...via, solvers: [http01], now: () => now, random: () => 0.5, ...base, ...extra }),
  }
}

// Pebble rejects 5 % of nonces; the client retries those newOrder attempts by design, so they are not orders.
const ordersFor = (p: AriProxy, name: string) =>
  p.newOrders.filter(
    (o) => JSON.stringify(o.identifiers).includes(`"${name}"`) && !o.outcome.endsWith(':badNonce'),
  )

describe('renewDue with ARI (Pebble behind the ARI proxy)', () => {
  it('is not due before the picked instant, renews with replaces after it, and checks the new certificate at once', async () => {
    const storage = new MemoryStorage()
    await saveAccount(storage, 'main', client)
    const name = domain()
    const issued = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [name],
      solvers: [http01],
    })
    const old = await saveCertificate(storage, name, issued, { account: 'main' })
    expect(old.certId).toBe(certId(issued.certificate))
    expect(proxy.issued.has(old.certId!)).toBe(true) // the fixture computed the same CertID on its own
    const d = driver(storage, { client: null }) // the client comes from accounts/main
    proxy.setRenewalInfo(old.certId!, {
      start: new Date(d.start + DAY),
      end: new Date(d.start + 2 * DAY),
      retryAfter: 3600,
      explanationURL: 'https://ca.example/why',
    })

    let result = await d.run()
    expect(result.renewed).toEqual([])
    expect(result.skipped[0]).toMatchObject({
      name,
      source: 'ari',
      reason: 'not-due',
      explanationURL: 'https://ca.example/why',
    })
    expect(result.skipped[0]?.renewAt.getTime()).toBe(d.start + 1.5 * DAY)
    expect(result.nextRunAt.getTime()).toBe(d.start + HOUR)

    d.at(d.start + 1.5 * DAY - MINUTE)
    result = await d.run()
    expect(result.skipped[0]?.renewAt.getTime()).toBe(d.start + 1.5 * DAY) // re-checked, same window, same pick
    expect(proxy.renewalInfoRequests.filter((id) => id === old.certId)).toHaveLength(2)

    d.at(d.start + 1.5 * DAY)
    result = await d.run()
    expect(result.renewed).toHaveLength(1)
    const renewed = result.renewed[0]!
    expect(renewed.replaced).toEqual({ serialNumber: old.serialNumber, certId: old.certId })
    expect(renewed.replacesDropped).toBe(false)
    expect(ordersFor(proxy, name).at(-1)).toMatchObject({ replaces: old.certId, outcome: 'created' })
    const stored = (await readCertificateRecord(storage, name))!
    expect(stored.serialNumber).not.toBe(old.serialNumber)
    expect(stored.account).toBe('main')
    expect(stored.privateKey).not.toBe(old.privateKey)
    expect(
      await certificateMatchesKey(stored.certificate, await importPrivateKeyPem(stored.privateKey)),
    ).toBe(true)
    expect(await readPendingOrder(storage, name)).toBeUndefined()
    // RFC 9773 §4.3: the new certificate's renewalInfo was fetched right after issuance (the fixture's default window).
    expect(proxy.renewalInfoRequests.at(-1)).toBe(stored.certId)
    const state = (await readRenewalState(storage, name))!
    expect(state).toMatchObject({ serialNumber: stored.serialNumber, source: 'ari', failures: 0 })
    expect(state.nextCheckAt).toBe(new Date(d.now + 6 * HOUR).toISOString())
  })

  it('renews at once when the window is already past', async () => {
    const storage = new MemoryStorage()
    const name = domain()
    const old = await issueStored(storage, name)
    const d = driver(storage)
    proxy.setRenewalInfo(old.certId!, { start: new Date(d.start - 2 * DAY), end: new Date(d.start - DAY) })
    const result = await d.run()
    expect(result.renewed.map((r) => r.name)).toEqual([name])
  })

  it('falls back to the lifetime rule on an invalid window, re-checking every 6 hours', async () => {
    const storage = new MemoryStorage()
    const name = domain()
    const old = await issueStored(storage, name)
    const d = driver(storage)
    proxy.setRenewalInfo(old.certId!, { start: new Date(d.start + DAY), end: new Date(d.start + DAY) })
    const lifetimeDue = Math.floor(
      Date.parse(old.notAfter) - (Date.parse(old.notAfter) - Date.parse(old.notBefore)) / 3,
    )

    let result = await d.run()
    expect(result.skipped[0]).toMatchObject({ source: 'lifetime', reason: 'not-due' })
    expect(result.skipped[0]?.renewAt.getTime()).toBe(lifetimeDue)
    expect(result.nextRunAt.getTime()).toBe(d.start + 6 * HOUR)
    expect((await readRenewalState(storage, name))?.checkError?.code).toBe('ERR_INVALID_RESPONSE')

    d.at(lifetimeDue - MINUTE)
    expect((await d.run()).skipped).toHaveLength(1)
    d.at(lifetimeDue)
    result = await d.run()
    expect(result.renewed.map((r) => r.name)).toEqual([name])
  })

  it('clamps Retry-After both ways and does not ask again before it', async () => {
    for (const [retryAfter, wait] of [
      [5, MINUTE],
      [3 * 86_400, DAY],
    ] as const) {
      const storage = new MemoryStorage()
      const name = domain()
      const old = await issueStored(storage, name)
      const d = driver(storage)
      proxy.setRenewalInfo(old.certId!, {
        start: new Date(d.start + 10 * DAY),
        end: new Date(d.start + 20 * DAY),
        retryAfter,
      })
      const result = await d.run()
      expect(result.skipped[0]?.nextCheckAt?.getTime()).toBe(d.start + wait)
      expect(result.nextRunAt.getTime()).toBe(d.start + wait)
      d.at(d.start + wait - 1)
      await d.run()
      expect(proxy.renewalInfoRequests.filter((id) => id === old.certId)).toHaveLength(1)
      d.at(d.start + wait)
      await d.run()
      expect(proxy.renewalInfoRequests.filter((id) => id === old.certId)).toHaveLength(2)
    }
  })

  it('drops replaces and retries once on 409 alreadyReplaced (scripted, and because another order replaced it)', async () => {
    const storage = new MemoryStorage()
    const [a, b] = [domain(), domain()]
    const oldA = await issueStored(storage, a)
    const oldB = await issueStored(storage, b)
    const d = driver(storage)
    for (const old of [oldA, oldB]) {
      proxy.setRenewalInfo(old.certId!, { start: new Date(d.start - DAY), end: new Date(d.start - HOUR) })
    }
    // b: an earlier order (left pending) already claims it. a: the CA answers alreadyReplaced on demand.
    const claim = await client.createOrder({ identifiers: [b], replaces: oldB.certId! })
    expect(claim.replaces).toBe(oldB.certId) // the fixture echoes it, as RFC 9773 §5 requires
    proxy.failNextOrder({ status: 409, type: 'alreadyReplaced' })

    const events: string[] = []
    const result = await d.run({
      names: [a, b],
      onEvent: (e) => e.type === 'issue' && events.push(e.event.type),
    })
    expect(result.renewed.map((r) => [r.name, r.replacesDropped])).toEqual([
      [a, true],
      [b, true],
    ])
    expect(events.filter((e) => e === 'replaces-dropped')).toHaveLength(2)
    for (const [name, old] of [
      [a, oldA],
      [b, oldB],
    ] as const) {
      const seen = ordersFor(proxy, name).slice(-2)
      expect(seen[0]).toMatchObject({ replaces: old.certId, outcome: 'alreadyReplaced' })
      expect(seen[1]?.replaces).toBeUndefined()
      expect(seen[1]?.outcome).toBe('created')
    }
  })

  it('reschedules a rate-limited renewal at its Retry-After while the rest of the batch renews', async () => {
    const storage = new MemoryStorage()
    const [a, b] = [`a-${domain()}`, `b-${domain()}`]
    const oldA = await issueStored(storage, a)
    const oldB = await issueStored(storage, b)
    const d = driver(storage)
    for (const old of [oldA, oldB]) {
      proxy.setRenewalInfo(old.certId!, { start: new Date(d.start - DAY), end: new Date(d.start - HOUR) })
    }
    proxy.failNextOrder({
      status: 429,
      type: 'rateLimited',
      detail: 'too many certificates',
      retryAfter: 7200,
    })
    let result = await d.run()
    expect(result.failed).toEqual([])
    expect(result.rescheduled.map((r) => r.name)).toEqual([a])
    expect(isRateLimited(result.rescheduled[0]!.error)).toBe(true)
    expect(result.rescheduled[0]!.retryAt.getTime()).toBe(d.start + 2 * HOUR)
    expect(result.renewed.map((r) => r.name)).toEqual([b])
    expect(result.nextRunAt.getTime()).toBeLessThanOrEqual(d.start + 2 * HOUR)

    d.at(d.start + HOUR)
    result = await d.run({ names: [a] })
    expect(result.skipped[0]).toMatchObject({ name: a, reason: 'backoff' })
    d.at(d.start + 2 * HOUR)
    result = await d.run({ names: [a] })
    expect(result.renewed.map((r) => r.name)).toEqual([a])
    expect((await readRenewalState(storage, a))?.failures).toBe(0)
  })

  it('survives a crash between issuance and store: the old certificate stays, the next run resumes the order', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'webacme-renewal-'))
    tmp.push(dir)
    const files = new FsStorage(join(dir, 'state'), { fs: nodeFs })
    const name = domain()
    const old = await issueStored(files, name)
    let crash = true
    // Dies on the write that would replace the certificate (FsStorage has compare-and-swap, so that is the one).
    const crashing: Storage = {
      get: (k) => files.get(k),
      put: (k, v) => files.put(k, v),
      list: (p) => files.list(p),
      delete: (k) => files.delete(k),
      compareAndSwap: async (k, e, v) => {
        if (crash && k === storageKeys.certificate(name)) throw new Error('simulated crash')
        return files.compareAndSwap(k, e, v)
      },
    }
    const d = driver(crashing)
    proxy.setRenewalInfo(old.certId!, { start: new Date(d.start - DAY), end: new Date(d.start - HOUR) })

    let result = await d.run()
    expect(result.failed.map((f) => (f.error as Error).message)).toEqual(['simulated crash'])
    expect((await readCertificateRecord(files, name))?.serialNumber).toBe(old.serialNumber)
    const pending = (await readPendingOrder(files, name)) as PendingOrderRecord
    expect(pending).toMatchObject({ replacesSerial: old.serialNumber, replaces: old.certId })
    expect(pending.orderUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/my-order\//)
    expect((await stat(join(dir, 'state/orders', `${name}.json`))).mode & 0o777).toBe(0o600)
    const ordersBefore = ordersFor(proxy, name).length

    crash = false
    d.at(result.failed[0]!.retryAt.getTime())
    result = await d.run()
    expect(result.renewed).toHaveLength(1)
    expect(result.renewed[0]!.resumed).toBe(true)
    expect(ordersFor(proxy, name)).toHaveLength(ordersBefore) // no new order: the valid one was downloaded
    const stored = (await readCertificateRecord(files, name))!
    expect(stored.serialNumber).not.toBe(old.serialNumber)
    expect(stored.privateKey).toBe(pending.privateKey)
    expect(await readPendingOrder(files, name)).toBeUndefined()
    expect((await readdir(join(dir, 'state/certificates'))).sort()).toEqual([`${name}.json`])
  })
})

describe('renewDue without ARI (the lifetime rule)', () => {
  it('renews a 6-day certificate after 4 days and a 90-day one after 60, without replaces', async () => {
    const storage = new MemoryStorage()
    const start = Math.floor(Date.now() / 1000) * 1000 // X.509 times have whole seconds
    const [short, long] = [`short-${domain()}`, `long-${domain()}`]
    // Pebble 2.4 issues ~5-year certificates only: these two are made here, with the lifetimes to test.
    for (const [name, days] of [
      [short, 6],
      [long, 90],
    ] as const) {
      const made = await makeCertificate({
        names: [name],
        notBefore: new Date(start),
        notAfter: new Date(start + days * DAY),
      })
      await saveCertificate(storage, name, { certificate: made.pem, certificateKey: made.key })
    }
    const d = driver(storage, { client: plainClient })
    d.at(start + 4 * DAY - MINUTE)
    let result = await d.run()
    expect(result.skipped.map((s) => [s.name, s.source, s.renewAt.getTime()])).toEqual([
      [long, 'lifetime', start + 60 * DAY],
      [short, 'lifetime', start + 4 * DAY],
    ])
    d.at(start + 4 * DAY)
    result = await d.run()
    expect(result.renewed.map((r) => r.name)).toEqual([short])
    d.at(start + 60 * DAY - MINUTE)
    expect((await d.run()).renewed).toEqual([])
    d.at(start + 60 * DAY)
    expect((await d.run()).renewed.map((r) => r.name)).toEqual([long])
    // The directory has no renewalInfo: no renewalInfo request, no replaces.
    expect(plain.renewalInfoRequests).toEqual([])
    for (const name of [short, long])
      expect(ordersFor(plain, name).every((o) => o.replaces === undefined)).toBe(true)
    // The renewed certificates come from Pebble: ~5 years, so the next renewal is years away.
    expect((await readRenewalState(storage, short))?.source).toBe('lifetime')
  })
})

describe('profiles (draft-ietf-acme-profiles) against the fixture', () => {
  it('refuses an unlisted profile before sending, naming the ones offered', async () => {
    const before = proxy.newOrders.length
    const err = await client
      .createOrder({ identifiers: [domain()], profile: 'nope' })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toContain(Object.keys(LE_PROFILES).join(', '))
    expect(proxy.newOrders).toHaveLength(before)
  })

  it('turns the server invalidProfile problem into ERR_ACME_INVALID_PROFILE', async () => {
    proxy.failNextOrder({ status: 400, type: 'invalidProfile', detail: 'tlsserver is closed today' })
    const err = await client
      .createOrder({ identifiers: [domain()], profile: 'tlsserver' })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AcmeProblemError)
    expect((err as AcmeProblemError).code).toBe('ERR_ACME_INVALID_PROFILE')
  })

  it('sends the profile and sees it echoed in the order', async () => {
    const order = await client.createOrder({ identifiers: [domain()], profile: 'tlsserver' })
    expect(order.profile).toBe('tlsserver')
    expect(proxy.newOrders.at(-1)?.profile).toBe('tlsserver')
  })

  it('picks shortlived for IP identifiers when offered, unless told otherwise', async () => {
    const ip = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: ['127.0.0.1'],
      solvers: [http01],
    })
    expect(ip.order.profile).toBe('shortlived')
    expect(ip.parsed.ipAddresses).toEqual(['127.0.0.1'])
    expect(proxy.newOrders.at(-1)?.profile).toBe('shortlived')
    await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: ['127.0.0.1'],
      solvers: [http01],
      profile: false,
    })
    expect(proxy.newOrders.at(-1)?.profile).toBeUndefined()
    await issueCertificate({
      client: plainClient,
      account: { termsOfServiceAgreed: true },
      identifiers: ['127.0.0.1'],
      solvers: [http01],
    })
    expect(plain.newOrders.at(-1)?.profile).toBeUndefined() // the CA offers no profiles
    const dns = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [domain()],
      solvers: [http01],
    })
    expect(dns.order.profile).toBeUndefined()
  })

  it('renews with the profile stored with the certificate', async () => {
    const storage = new MemoryStorage()
    const name = domain()
    const issued = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [name],
      solvers: [http01],
      profile: 'tlsserver',
    })
    const old = await saveCertificate(storage, name, issued, { profile: 'tlsserver' })
    const d = driver(storage)
    proxy.setRenewalInfo(old.certId!, { start: new Date(d.start - DAY), end: new Date(d.start - HOUR) })
    expect((await d.run()).renewed).toHaveLength(1)
    expect(ordersFor(proxy, name).at(-1)).toMatchObject({ profile: 'tlsserver', replaces: old.certId })
  })

  it('sends replaces only when the directory has renewalInfo', async () => {
    const name = domain()
    const issued = await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [name],
      solvers: [http01],
    })
    const id = certId(issued.certificate)
    const order = await plainClient.createOrder({ identifiers: [name], replaces: id })
    expect(order.replaces).toBeUndefined()
    expect(plain.newOrders.at(-1)?.replaces).toBeUndefined()
    expect(parseCertificate(issued.certificate).authorityKeyIdentifier).toBeDefined()
  })
})
