/**
 * On-demand TLS (`webacme/tls`) end to end against Pebble, with real TLS clients (`node:tls` `connect` with
 * `servername`, verifying the chain against Pebble's root and the name):
 *
 * - the first handshake for a new name waits for its certificate; Pebble validates over tls-alpn-01 on the very
 *   listener the client connected to (Pebble's VA dials `tlsPort`; challtestsrv resolves every name to 127.0.0.1);
 * - three processes sharing one FsStorage, asked for the same 20 new names at once, place exactly 20 orders
 *   (counted by Pebble's log and by each process's client on the wire) and all 60 handshakes succeed;
 * - 1,000 refused names place no order and keep memory bounded;
 * - a restarted manager serves every stored name with no request to the CA;
 * - renewal swaps the certificate under a client that loops over handshakes, with no failed handshake;
 * - with the CA stopped, new names fail and the client's circuit breaker (`AcmeClientOptions.breaker`) opens
 *   after `threshold` unanswered attempts (counted, not timed), while cached names keep being served.
 */
import * as fs from 'node:fs/promises'
import { createServer as createHttpServer, get as httpGet, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer, type Server } from 'node:tls'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AcmeClient } from '../../src/client.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import type { CertificateManagerEvent } from '../../src/ondemand/types.ts'
import { CircuitBreaker } from '../../src/protocol/circuit-breaker.ts'
import type { HttpEvent } from '../../src/protocol/transport.ts'
import { FsStorage } from '../../src/storage/fs.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { type CertificateManager, createCertificateManager } from '../../src/tls/index.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'
import {
  childTotals,
  closeChildren,
  comparableSerial,
  handshake,
  handshakeEvery,
  oneCertificatePerName,
  type Peer,
  pebbleNewOrders,
  startChild,
} from './ondemand/helpers.ts'

const RUN = Date.now().toString(36)
const DOMAIN = `od-${RUN}.webacme.test`

/** A `node:tls` server using the manager, reached through the manager's listener on `port`. */
async function serve(
  manager: CertificateManager,
  port = 0,
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer({ SNICallback: manager.SNICallback }, (socket) => socket.end('ok\n'))
  server.on('tlsClientError', () => {})
  const net = manager.listener(server)
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject)
    net.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve())
  })
  return {
    port: (net.address() as AddressInfo).port,
    close: () => new Promise((resolve) => net.close(() => resolve())),
  }
}

function countingClient(pebble: Pebble, http: HttpEvent[], breaker?: CircuitBreaker): Promise<AcmeClient> {
  return generateKeyPair('ES256').then(
    (accountKey) =>
      new AcmeClient({
        directoryUrl: pebble.directoryUrl,
        accountKey,
        onHttp: (e) => http.push(e),
        ...(breaker && { breaker }),
      }),
  )
}

describe('on-demand TLS against Pebble (Node)', () => {
  let pebble: Pebble
  let root: string
  let storageDir: string
  let front: { port: number; close(): Promise<void> }
  let frontManager: CertificateManager
  const frontHttp: HttpEvent[] = []
  const frontEvents: CertificateManagerEvent[] = []
  const cachedNames: string[] = []

  beforeAll(async () => {
    pebble = await startPebble({ http01: 'self', authzReusePercent: 0 })
    root = await pebble.roots(0)
    storageDir = await fs.mkdtemp(join(tmpdir(), 'webacme-ondemand-'))
    frontManager = createCertificateManager({
      client: await countingClient(pebble, frontHttp),
      account: { termsOfServiceAgreed: true },
      storage: new FsStorage(storageDir, { fs }),
      allow: [`*.${DOMAIN}`],
      challenges: { http01: false },
      limits: { issuancesPerMinute: 1000, issuancesPerMinutePerClient: 1000 },
      onEvent: (e) => frontEvents.push(e),
    })
    // The listener Pebble's VA dials for tls-alpn-01: it answers for every process sharing the storage.
    front = await serve(frontManager, pebble.tlsPort)
  })

  afterAll(async () => {
    await front?.close()
    await frontManager?.close()
    await pebble?.stop()
    if (storageDir) await fs.rm(storageDir, { recursive: true, force: true })
  })

  it('issues at the first handshake for a new name, validated over tls-alpn-01 on the same listener', async () => {
    const name = `first.${DOMAIN}`
    const before = pebbleNewOrders(pebble)
    let peer: Peer
    try {
      peer = await handshake(front.port, name, root)
    } catch (err) {
      ;(err as Error).message +=
        `\n${JSON.stringify(frontEvents)}\n--- pebble ---\n${pebble.logs().slice(-3000)}`
      throw err
    }
    expect(peer.authorized).toBe(true)
    expect(peer.subjectAltName).toBe(`DNS:${name}`)
    expect((await pebble.certStatus(peer.serialNumber)).status).toBe('valid')
    expect(pebbleNewOrders(pebble) - before).toBe(1)
    // Pebble validated over tls-alpn-01 on this listener (http-01 is off: tls-alpn-01 is the only solver).
    expect(frontManager.stats().tlsAlpn01Answered).toBeGreaterThanOrEqual(1)
    expect(frontEvents.filter((e) => e.type === 'issued').map((e) => e.name)).toEqual([name])
    // The next handshake is served from memory.
    const again = await handshake(front.port, name, root)
    expect(again.serialNumber).toBe(peer.serialNumber)
    expect(frontManager.stats().servedFromMemory).toBeGreaterThanOrEqual(1)
    cachedNames.push(name)
  })

  it('issues over http-01 answered by httpHandler, which redirects everything else to https', async () => {
    const manager = createCertificateManager({
      client: await countingClient(pebble, []),
      account: { termsOfServiceAgreed: true },
      storage: new MemoryStorage(),
      allow: [`*.${DOMAIN}`],
      challenges: { tlsAlpn01: false },
    })
    const http = createHttpServer(manager.httpHandler)
    await new Promise<void>((resolve) => http.listen(pebble.httpPort, '127.0.0.1', resolve))
    try {
      const name = `http01.${DOMAIN}`
      const certificate = await manager.getCertificate(name)
      // Pebble's VA validates from several perspectives: one request each.
      expect(manager.stats()).toMatchObject({ issued: 1, tlsAlpn01Answered: 0 })
      expect(manager.stats().http01Answered).toBeGreaterThanOrEqual(1)
      expect(certificate.cert).toMatch(/^-----BEGIN CERTIFICATE-----/)
      // node:http, not fetch: fetch does not let a caller set Host.
      const response = await new Promise<IncomingMessage>((resolve, reject) =>
        httpGet(
          { host: '127.0.0.1', port: pebble.httpPort, path: '/path?q=1', headers: { host: name } },
          resolve,
        ).once('error', reject),
      )
      response.resume()
      expect(response.statusCode).toBe(308)
      expect(response.headers.location).toBe(`https://${name}/path?q=1`)
    } finally {
      await new Promise((resolve) => http.close(resolve))
      await manager.close()
    }
  })

  it('issues a wildcard ahead with ensure() over dns-01 and serves its names from it with no new order', async () => {
    const challtest = pebble.challtest!
    const manager = createCertificateManager({
      client: await countingClient(pebble, []),
      account: { termsOfServiceAgreed: true },
      storage: new MemoryStorage(),
      allow: [`*.wild.${DOMAIN}`],
      // A DNS adapter over challtestsrv, the DNS server Pebble's VA asks.
      challenges: {
        dns01: {
          name: 'challtestsrv',
          createTxt: (name, value) => challtest.setTxt(`${name}.`, value),
          removeTxt: (name) => challtest.clearTxt(`${name}.`),
        },
      },
    })
    const server = await serve(manager)
    try {
      const wildcard = `*.wild.${DOMAIN}`
      const [result] = await manager.ensure([wildcard])
      expect(result, String((result as { error?: unknown })?.error)).toMatchObject({
        name: wildcard,
        ok: true,
      })
      const peer = await handshake(server.port, `a.wild.${DOMAIN}`, root)
      expect(peer).toMatchObject({ authorized: true, subjectAltName: `DNS:${wildcard}` })
      expect(manager.stats()).toMatchObject({ ordersPlaced: 1, issued: 1 })
    } finally {
      await server.close()
      await manager.close()
    }
  })

  it('3 processes sharing one FsStorage, asked for the same 20 new names at once, place exactly 20 orders', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `multi-${i}.${DOMAIN}`)
    const children = [0, 1, 2].map(() =>
      startChild({ STORAGE_DIR: storageDir, DIRECTORY_URL: pebble.directoryUrl, ALLOW: `*.${DOMAIN}` }),
    )
    try {
      const ports = await Promise.all(children.map((c) => c.next('READY').then(Number)))
      const before = pebbleNewOrders(pebble)
      const { failures, ok } = await handshakeEvery(ports, names, root)
      expect(failures, children.map((c) => c.output).join('\n---\n')).toEqual([])
      expect(ok).toHaveLength(60)
      oneCertificatePerName(ok, names)
      expect(pebbleNewOrders(pebble) - before).toBe(20)
      expect(await childTotals(children)).toMatchObject({ ordersPlaced: 20, newOrderPosts: 20, issued: 20 })
      // The CA dialled only the front listener: it answered for the orders the three children placed.
      expect(frontManager.stats().tlsAlpn01Answered).toBeGreaterThanOrEqual(21)
      expect(frontManager.stats().ordersPlaced).toBe(1)
      cachedNames.push(...names)
    } finally {
      await closeChildren(children)
    }
  })

  it('places no order for 1,000 refused names and keeps its memory bounded', async () => {
    const before = pebbleNewOrders(pebble)
    const http: HttpEvent[] = []
    const refused: CertificateManagerEvent[] = []
    const manager = createCertificateManager({
      client: await countingClient(pebble, http),
      account: { termsOfServiceAgreed: true },
      storage: new FsStorage(storageDir, { fs }),
      allow: (name) => name.endsWith(`.${DOMAIN}`) && !name.startsWith('random-'),
      limits: { maxRemembered: 100 },
    })
    manager.on('refused', (e) => refused.push(e))
    const server = await serve(manager)
    try {
      const names = Array.from(
        { length: 1000 },
        (_, i) => `random-${i}-${Math.random().toString(36).slice(2)}.${DOMAIN}`,
      )
      const results = await Promise.allSettled(names.map((name) => handshake(server.port, name, root)))
      expect(results.every((r) => r.status === 'rejected')).toBe(true)
      // An SNI that is not a host name is refused before the policy is asked.
      await expect(manager.getCertificate('1.2.3.4')).rejects.toMatchObject({ code: 'ERR_NAME_REFUSED' })
      expect(http).toEqual([]) // not a single request to the CA
      expect(pebbleNewOrders(pebble)).toBe(before)
      expect(refused.length).toBe(1001)
      const stats = manager.stats()
      expect(stats.ordersPlaced).toBe(0)
      expect(stats.refused).toBe(1001)
      expect(stats.refusalsRemembered).toBeLessThanOrEqual(100)
      expect(stats.cached).toBe(0)
    } finally {
      await server.close()
      await manager.close()
    }
  })

  it('after a restart, serves every stored name with no request to the CA', async () => {
    expect(cachedNames).toHaveLength(21)
    const http: HttpEvent[] = []
    const manager = createCertificateManager({
      client: await countingClient(pebble, http),
      account: { termsOfServiceAgreed: true },
      storage: new FsStorage(storageDir, { fs }),
      allow: [`*.${DOMAIN}`],
    })
    const server = await serve(manager)
    try {
      const peers = await Promise.all(cachedNames.map((name) => handshake(server.port, name, root)))
      expect(peers.every((p) => p.authorized)).toBe(true)
      expect(http).toEqual([])
      expect(manager.stats()).toMatchObject({ ordersPlaced: 0, loadedFromStorage: 21, cached: 21 })
    } finally {
      await server.close()
      await manager.close()
    }
  })
})

describe('on-demand TLS: renewal, a CA that goes down, a fallback CA (Node)', () => {
  let pebble: Pebble
  let fallback: Pebble
  let root: string
  let storage: MemoryStorage
  let manager: CertificateManager
  let server: { port: number; close(): Promise<void> }
  const http: HttpEvent[] = []
  const events: CertificateManagerEvent[] = []
  const name = `renew.${DOMAIN}`

  beforeAll(async () => {
    pebble = await startPebble({ http01: 'self', authzReusePercent: 0 })
    // A second CA whose VA dials the same tls-alpn-01 port, to fall back to.
    fallback = await startPebble({ http01: 'self', authzReusePercent: 0, tlsPort: pebble.tlsPort })
    root = await pebble.roots(0)
    storage = new MemoryStorage()
    manager = createCertificateManager({
      // The breaker is the client's: 3 unanswered attempts open it, and no probe goes during the test.
      client: await countingClient(pebble, http, new CircuitBreaker({ threshold: 3, coolDown: 3_600_000 })),
      account: { termsOfServiceAgreed: true },
      storage,
      allow: [`*.${DOMAIN}`],
      challenges: { http01: false },
      // Everything stored falls due at once (lifetime rule with a lookahead of ten years); renewNow() runs it.
      renewal: { lookahead: 10 * 365 * 86_400_000 },
      onEvent: (e) => events.push(e),
    })
    server = await serve(manager, pebble.tlsPort)
  })

  afterAll(async () => {
    await server?.close()
    await manager?.close()
    await pebble?.stop()
    await fallback?.stop()
  })

  it('renews in the background and swaps the certificate under a client looping over handshakes', async () => {
    const first = await handshake(server.port, name, root)
    let failures = 0
    let handshakes = 0
    let latest = first.serialNumber
    let renewedSerial: string | undefined
    manager.on('renewed', (e) => {
      // The event has the record's whole-byte hex; once in 16 renewals it starts with a 0 the handshake drops.
      renewedSerial = comparableSerial(e.serialNumber)
    })
    // The client loops until it sees the renewed certificate, or until the renewal pass ended without one: every
    // handshake must succeed, before and after.
    let passEnded = false
    const loop = (async () => {
      while (renewedSerial === undefined ? !passEnded : latest !== renewedSerial) {
        try {
          latest = (await handshake(server.port, name, root)).serialNumber
        } catch {
          failures++
          if (failures > 100) break // reported below
        }
        handshakes++
      }
    })()
    const started = performance.now()
    await manager.renewNow().finally(() => {
      passEnded = true
    })
    await loop
    // A pass that ended without renewing says why (its events, the CA's log) instead of waiting for a timeout.
    if (renewedSerial === undefined) {
      throw new Error(
        `the renewal pass ended after ${Math.round(performance.now() - started)} ms without renewing ` +
          `${name}\n${JSON.stringify(events)}\n--- pebble ---\n${pebble.logs().slice(-4000)}`,
      )
    }
    expect(failures).toBe(0)
    expect(handshakes).toBeGreaterThan(1)
    expect(latest).not.toBe(first.serialNumber)
    expect(latest).toBe(renewedSerial)
    expect((await pebble.certStatus(latest)).status).toBe('valid')
    expect(events.filter((e) => e.type === 'renewed')).toMatchObject([{ name, byThisProcess: true }])
    console.log(
      `renewal: ${handshakes} handshakes by the looping client, ${failures} failed, ${first.serialNumber} -> ${latest}`,
    )
  })

  it("with the CA stopped, the client's breaker opens after 3 unanswered attempts and it keeps serving what it holds", async () => {
    await pebble.stop()
    const outcomes: Array<{ code: unknown; ms: number; requests: number }> = []
    for (let i = 0; i < 3; i++) {
      const before = http.length
      const started = performance.now()
      const error = await manager.getCertificate(`down-${i}.${DOMAIN}`).then(
        () => undefined,
        (err: unknown) => err,
      )
      outcomes.push({
        code: (error as { code?: unknown })?.code,
        ms: performance.now() - started,
        requests: http.length - before,
      })
    }
    // One order that failed at the CA: its request and the transport's two quick retries of a refused connection
    // are the 3 unanswered attempts that open the client's breaker...
    expect(outcomes[0]).toMatchObject({ code: 'ERR_ISSUANCE_FAILED', requests: 3 })
    // ...then the breaker is open: the next new names fail at once, with no request at all.
    expect(outcomes.slice(1)).toMatchObject([
      { code: 'ERR_CIRCUIT_OPEN', requests: 0 },
      { code: 'ERR_CIRCUIT_OPEN', requests: 0 },
    ])
    expect(manager.stats().breakers[0]).toMatchObject({ state: 'open', consecutiveFailures: 3 })
    expect(events.filter((e) => e.type === 'failed' && e.fastFail).length).toBeGreaterThanOrEqual(1)
    // A name it holds is still served.
    const peer = await handshake(server.port, name, root)
    expect(peer.authorized).toBe(true)
    console.log(`CA down: ${outcomes.map((o) => `${o.code} in ${Math.round(o.ms)} ms`).join(', ')}`)
  })

  it('falls back to the next issuer when the first cannot issue', async () => {
    const fallbackHttp: HttpEvent[] = []
    const fallbackEvents: CertificateManagerEvent[] = []
    // A second manager on the same storage (the first one's listener answers tls-alpn-01 for both).
    const second = createCertificateManager({
      client: await countingClient(pebble, []),
      account: { termsOfServiceAgreed: true },
      storage,
      allow: [`*.${DOMAIN}`],
      challenges: { http01: false },
      issuers: [
        { client: await countingClient(fallback, fallbackHttp), account: { termsOfServiceAgreed: true } },
      ],
      onEvent: (e) => fallbackEvents.push(e),
    })
    try {
      const fallbackName = `fallback.${DOMAIN}`
      const certificate = await second.getCertificate(fallbackName)
      expect(fallbackEvents.map((e) => [e.type, 'issuer' in e ? e.issuer : undefined])).toEqual([
        ['failed', 0],
        ['issued', 1],
      ])
      expect(fallbackHttp.length).toBeGreaterThan(0)
      const peer = await handshake(server.port, fallbackName, await fallback.roots(0))
      expect(peer.authorized).toBe(true)
      expect(peer.serialNumber).toBe(comparableSerial(certificate.serialNumber))
    } finally {
      await second.close()
    }
  })
})
