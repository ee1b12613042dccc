/**
 * A CA that stops answering (issue #19 item 5), on a real socket: a loopback HTTP server that serves an ACME
 * directory and nonces while alive, and once "dead" resets every connection it accepts. What is counted is the
 * HTTP attempts that reach it, never time:
 *
 * - `renewDue` over 1,000 due certificates: the client's circuit breaker opens after `threshold` unanswered
 *   attempts and every renewal fails with `ERR_CA_UNAVAILABLE`; the CA sees `threshold` attempts, not
 *   1,000 × (1 + retries);
 * - 1,000 concurrent `issueCertificate` calls on one client: at most `threshold` + the requests already in flight
 *   (`maxConcurrentRequests`) reach the dead CA;
 * - two clients sharing one breaker: the second sends nothing once the first opened it;
 * - after the cool-down (an injected clock), one probe goes; an answer closes the breaker.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { AcmeClient } from '../../src/client.ts'
import { isAcmeError } from '../../src/errors.ts'
import { issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { CircuitBreaker } from '../../src/protocol/circuit-breaker.ts'
import { saveCertificate } from '../../src/renewal/records.ts'
import { renewDue } from '../../src/renewal/renew.ts'
import { MemoryStorage } from '../../src/storage/memory.ts'
import { makeCertificate } from '../fixtures/certificates.ts'

const N = 1000

interface DeadCa {
  url: string
  /** Requests that reached the CA since it died (each one an HTTP attempt of the client). */
  attemptsWhileDead: number
  dead: boolean
  close(): Promise<void>
}

const servers: Server[] = []
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))))
})

/** A CA that answers the directory and newNonce while alive; dead, it resets every request's connection. */
async function startCa(): Promise<DeadCa> {
  let nonce = 0
  const ca: DeadCa = {
    url: '',
    attemptsWhileDead: 0,
    dead: false,
    close: async () => {},
  }
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (ca.dead) {
      ca.attemptsWhileDead++
      req.socket.resetAndDestroy()
      return
    }
    const base = ca.url
    res.setHeader('replay-nonce', `nonce${++nonce}`)
    if (req.url === '/directory') {
      res.setHeader('content-type', 'application/json')
      res.end(
        JSON.stringify({
          newNonce: `${base}/nonce`,
          newAccount: `${base}/account`,
          newOrder: `${base}/order`,
          revokeCert: `${base}/revoke`,
          keyChange: `${base}/key-change`,
        }),
      )
    } else if (req.url === '/nonce') {
      res.writeHead(204).end()
    } else {
      res.setHeader('content-type', 'application/problem+json')
      res
        .writeHead(403)
        .end(JSON.stringify({ type: 'urn:ietf:params:acme:error:unauthorized', detail: 'no' }))
    }
  })
  server.keepAliveTimeout = 1
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  servers.push(server)
  ca.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return ca
}

async function clientOf(ca: DeadCa, breaker: CircuitBreaker | false): Promise<AcmeClient> {
  return new AcmeClient({
    directoryUrl: `${ca.url}/directory`,
    allowInsecure: true,
    accountKey: await generateKeyPair('ES256'),
    accountUrl: `${ca.url}/account/1`,
    breaker,
    // A request already retrying when the breaker opens waits for the probe only within this budget.
    retry: { maxWait: 20_000 },
  })
}

const noSolver = {
  type: 'http-01' as const,
  present: async () => {},
  cleanup: async () => {},
}

describe('a CA that stops answering', () => {
  it(`renewDue over ${N} due certificates: the breaker stops the run after ${3} attempts`, async () => {
    const ca = await startCa()
    ca.dead = true
    const threshold = 3
    const breaker = new CircuitBreaker({ threshold, coolDown: 3_600_000 })
    const client = await clientOf(ca, breaker)
    const storage = new MemoryStorage()
    const made = await makeCertificate({
      names: ['dead-ca.example'],
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 30 * 86_400_000),
    })
    for (let i = 0; i < N; i++) {
      await saveCertificate(storage, `n${i}.dead-ca.example`, {
        certificate: made.pem,
        certificateKey: made.key,
      })
    }
    const result = await renewDue({
      storage,
      client,
      solvers: [noSolver],
      ari: false,
      lookahead: 365 * 86_400_000, // everything is due
    })
    expect(result.renewed).toEqual([])
    expect(result.failed).toHaveLength(N)
    const codes = new Set(result.failed.map((f) => (isAcmeError(f.error) ? f.error.code : String(f.error))))
    expect([...codes]).toEqual(['ERR_CA_UNAVAILABLE'])
    // The first renewal's request and its retries opened the breaker; nothing else reached the CA.
    expect(ca.attemptsWhileDead).toBe(threshold)
    expect(breaker.state).toBe('open')
    // Only the first renewal got as far as storing its new key; the others never started.
    expect(await storage.list('orders/')).toHaveLength(1)
    console.log(`renewDue, ${N} due certificates, dead CA: ${ca.attemptsWhileDead} attempts reached it`)
  })

  it(`${N} concurrent issuances on one client: threshold + requests in flight reach the dead CA`, async () => {
    const ca = await startCa()
    const threshold = 10
    const maxConcurrentRequests = 16
    const breaker = new CircuitBreaker({ threshold, coolDown: 3_600_000 })
    const client = new AcmeClient({
      directoryUrl: `${ca.url}/directory`,
      allowInsecure: true,
      accountKey: await generateKeyPair('ES256'),
      accountUrl: `${ca.url}/account/1`,
      breaker,
      maxConcurrentRequests,
      maxConcurrentIssuances: N,
    })
    await client.directory() // the CA was alive once
    ca.dead = true
    const outcomes = await Promise.allSettled(
      Array.from({ length: N }, (_, i) =>
        issueCertificate({ client, identifiers: [`n${i}.dead-ca.example`], solvers: [noSolver] }),
      ),
    )
    const codes = outcomes.map((o) =>
      o.status === 'rejected' && isAcmeError(o.reason) ? o.reason.code : String(o.status),
    )
    expect(codes.filter((c) => c === 'ERR_CA_UNAVAILABLE').length).toBe(N)
    expect(ca.attemptsWhileDead).toBeGreaterThanOrEqual(threshold)
    expect(ca.attemptsWhileDead).toBeLessThan(threshold + maxConcurrentRequests)
    console.log(`issueCertificate × ${N} at once, dead CA: ${ca.attemptsWhileDead} attempts reached it`)
  })

  it('clients that share a breaker stop together, and a probe after the cool-down closes it', async () => {
    const ca = await startCa()
    let now = 0
    const breaker = new CircuitBreaker({ threshold: 3, coolDown: 60_000, now: () => now })
    const first = await clientOf(ca, breaker)
    const second = await clientOf(ca, breaker)
    await first.directory()
    await second.directory()
    ca.dead = true
    await expect(first.getOrder(`${ca.url}/order/1`)).rejects.toMatchObject({ code: 'ERR_CA_UNAVAILABLE' })
    expect(ca.attemptsWhileDead).toBe(3)
    const refused = await second.getOrder(`${ca.url}/order/2`).catch((err: unknown) => err)
    expect(refused).toMatchObject({ code: 'ERR_CA_UNAVAILABLE', consecutiveFailures: 3 })
    expect((refused as { retryAfter: Date }).retryAfter.getTime()).toBe(60_000)
    expect(ca.attemptsWhileDead).toBe(3) // the second client sent nothing

    // The CA comes back; after the cool-down, the next request is the probe, and its answer closes the breaker.
    ca.dead = false
    now = 60_000
    expect(breaker.state).toBe('half-open')
    await expect(second.getOrder(`${ca.url}/order/2`)).rejects.toMatchObject({
      code: 'ERR_ACME_UNAUTHORIZED',
    })
    expect(breaker.state).toBe('closed')
    await expect(first.getOrder(`${ca.url}/order/1`)).rejects.toMatchObject({ code: 'ERR_ACME_UNAUTHORIZED' })
  })

  it('without a breaker (breaker: false) every request pays its own attempts', async () => {
    const ca = await startCa()
    // No retries here, so the count is exact and the test quick: one attempt per request, none refused.
    const quick = new AcmeClient({
      directoryUrl: `${ca.url}/directory`,
      allowInsecure: true,
      accountKey: await generateKeyPair('ES256'),
      accountUrl: `${ca.url}/account/1`,
      breaker: false,
      retry: false,
    })
    await quick.directory()
    ca.dead = true
    const errors = await Promise.all(
      Array.from({ length: 20 }, (_, i) => quick.getOrder(`${ca.url}/order/${i}`).catch((e: unknown) => e)),
    )
    expect(errors.every((e) => isAcmeError(e, 'ERR_NETWORK'))).toBe(true)
    expect(ca.attemptsWhileDead).toBe(20)
  })
})
