/**
 * State that outlives one client, against a real Pebble: a nonce pool handed to several transports
 * (`TransportOptions.nonces`) and a polling pacer carried from one client to the next (`AcmeClientOptions.pacer`,
 * `FirstReadPacer.toJSON()`). A Worker keeps both in a Durable Object between invocations.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ChallengeSolver } from '../../src/challenges/solver.ts'
import { AcmeClient } from '../../src/client.ts'
import { issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { FirstReadPacer } from '../../src/protocol/poll.ts'
import type { HttpEvent, NoncePool } from '../../src/protocol/transport.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'

let pebble: Pebble
const RUN = Date.now().toString(36)

const http01: ChallengeSolver = {
  type: 'http-01',
  present: (c) => pebble.challtest!.addHttp01(c.challenge.token!, c.keyAuthorization!),
  cleanup: (c) => pebble.challtest!.delHttp01(c.challenge.token!),
}

beforeAll(async () => {
  pebble = await startPebble({ nonceRejectPercent: 0, authzReusePercent: 0 })
})
afterAll(() => pebble?.stop())

/** A pool that records what went in and out. */
function recordingPool(): NoncePool & { nonces: string[]; taken: string[] } {
  const nonces: string[] = []
  const taken: string[] = []
  return {
    nonces,
    taken,
    take() {
      const nonce = nonces.pop()
      if (nonce) taken.push(nonce)
      return nonce
    },
    add: (nonce) => void nonces.push(nonce),
  }
}

describe('shared nonce pool', () => {
  it('lets a second client sign its first request with a nonce the first one left, with no HEAD newNonce', async () => {
    const pool = recordingPool()
    const accountKey = await generateKeyPair('ES256')
    const firstEvents: HttpEvent[] = []
    const first = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey,
      nonces: pool,
      onHttp: (e) => firstEvents.push(e),
    })
    await first.createAccount({ termsOfServiceAgreed: true })
    const { newNonce } = await first.directory()
    const kind = (e: HttpEvent) =>
      e.url === pebble.directoryUrl ? 'directory' : e.url === newNonce ? 'newNonce' : e.method
    // The account response's nonce went to the shared pool, not into the client.
    expect(firstEvents.map(kind)).toEqual(['directory', 'newNonce', 'POST'])
    expect(pool.nonces).toHaveLength(1)
    const left = pool.nonces[0]!

    const secondEvents: HttpEvent[] = []
    const second = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey,
      accountUrl: first.accountUrl!,
      nonces: pool,
      onHttp: (e) => secondEvents.push(e),
    })
    await second.getAccount()
    expect(secondEvents.map(kind)).toEqual(['directory', 'POST'])
    expect(pool.taken.at(-1)).toBe(left)
    // And its response's nonce is back in the pool for the next one.
    expect(pool.nonces).toHaveLength(1)
    expect(pool.nonces[0]).not.toBe(left)
  })

  it('recovers from a stale nonce in the pool with the nonce of the badNonce answer', async () => {
    const pool = recordingPool()
    const accountKey = await generateKeyPair('ES256')
    const client = new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey, nonces: pool })
    await client.createAccount({ termsOfServiceAgreed: true })
    pool.nonces.length = 0
    pool.add('c3RhbGUtbm9uY2U') // base64url, never issued by this Pebble
    const events: HttpEvent[] = []
    const next = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey,
      accountUrl: client.accountUrl!,
      nonces: pool,
      onHttp: (e) => events.push(e),
    })
    await next.getAccount()
    // The stale nonce is refused (badNonce), and the refusal's own nonce is used: no newNonce request.
    expect(
      events.map((e) => `${e.url === pebble.directoryUrl ? 'directory' : e.method} ${e.status}`),
    ).toEqual(['directory 200', 'POST 400', 'POST 200'])
  })
})

describe('pacer carried between clients', () => {
  it('a client given a pacer learns into it, and a new client built from its JSON starts where it left off', async () => {
    const pacer = new FirstReadPacer()
    const client = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey: await generateKeyPair('ES256'),
      pacer,
    })
    expect(client.pacer).toBe(pacer)
    await issueCertificate({
      client,
      account: { termsOfServiceAgreed: true },
      identifiers: [`pacer-${RUN}.webacme.test`],
      solvers: [http01],
    })
    const learned = pacer.toJSON()
    expect(Object.keys(learned).sort()).toEqual(['authorization', 'order'])
    const carried = new AcmeClient({
      directoryUrl: pebble.directoryUrl,
      accountKey: client.accountKey,
      accountUrl: client.accountUrl!,
      pacer: new FirstReadPacer(JSON.parse(JSON.stringify(learned))),
    })
    for (const kind of ['authorization', 'order']) {
      expect(carried.pacer.delay(kind, 500)).toBe(pacer.delay(kind, 500))
    }
    // A fresh client starts from the interval instead.
    expect(
      new AcmeClient({ directoryUrl: pebble.directoryUrl, accountKey: client.accountKey }).pacer.delay(
        'order',
        500,
      ),
    ).toBe(500)
  })
})
