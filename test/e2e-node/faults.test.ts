/**
 * Issuance under injected faults (issue #8), the bounded run of `npm run bench:faults`: one account, 10
 * certificates, 5 at a time, http-01, `issueCertificate` with its defaults, through the fault proxy
 * (test/fixtures/fault-proxy.ts) in front of the real Pebble, with 30 % of the requests faulted and every kind
 * of fault injected. Every certificate must be issued and no request may come back sooner than the
 * `Retry-After` the proxy gave for it. The proxy's own counts are asserted too, so the test cannot pass with a
 * proxy that injects nothing.
 *
 * Diagnosis: `WEBACME_FAULT_KINDS=reset-before,delay node scripts/test.mjs test/e2e-node/faults` runs the same
 * scenario with only those kinds, to see which a library version survives. `WEBACME_FAULT_FETCH=node` runs it with
 * webacme/fetch/node (`nodeFetch`) in place of Node's built-in fetch.
 */

import { afterAll, beforeAll, expect, it } from 'vitest'
import type { ChallengeSolver } from '../../src/challenges/solver.ts'
import { AcmeClient } from '../../src/client.ts'
import { nodeFetch } from '../../src/fetch/node-fetch.ts'
import { issueCertificate } from '../../src/issue.ts'
import { generateKeyPair } from '../../src/jose/algorithms.ts'
import { FAULT_KINDS, type FaultKind, type FaultProxy, startFaultProxy } from '../fixtures/fault-proxy.ts'
import { type Pebble, startPebble } from '../harness/pebble.ts'

const CERTIFICATES = 10
const AT_ONCE = 5
const PERCENT = 30
const SEED = 8
const FETCH: typeof fetch =
  process.env.WEBACME_FAULT_FETCH === 'node' ? nodeFetch : (input, init) => fetch(input, init)
const KINDS = (process.env.WEBACME_FAULT_KINDS?.split(',') ?? FAULT_KINDS) as FaultKind[]
for (const kind of KINDS) if (!FAULT_KINDS.includes(kind)) throw new Error(`unknown fault kind ${kind}`)

let pebble: Pebble
let proxy: FaultProxy

beforeAll(async () => {
  // Pebble's own badNonce rejections off: every failure here comes from the proxy.
  pebble = await startPebble({ nonceRejectPercent: 0, http01: 'challtestsrv' })
  proxy = await startFaultProxy({ pebble, percent: PERCENT, seed: SEED, kinds: KINDS })
})

afterAll(async () => {
  await proxy?.close()
  await pebble?.stop()
})

const http01: ChallengeSolver = {
  type: 'http-01',
  present: (c) => pebble.challtest!.addHttp01(c.challenge.token!, c.keyAuthorization!),
  cleanup: (c) => pebble.challtest!.delHttp01(c.challenge.token!),
}

/** `code` (and the problem type, when there is one) of an error, for a readable failure message. */
function describeError(err: unknown): string {
  const e = err as { code?: unknown; type?: unknown; message?: unknown }
  const code = typeof e?.code === 'string' ? e.code : (err as Error)?.name
  const type = typeof e?.type === 'string' ? ` ${e.type.replace('urn:ietf:params:acme:error:', '')}` : ''
  return `${code}${type}: ${String(e?.message ?? err).slice(0, 200)}`
}

it(`issues ${CERTIFICATES} of ${CERTIFICATES} certificates with ${PERCENT} % of requests faulted (${KINDS.join(', ')})`, async () => {
  const run = Date.now().toString(36)
  const requested: string[] = []
  const client = new AcmeClient({
    directoryUrl: proxy.directoryUrl,
    accountKey: await generateKeyPair('ES256'),
    fetch: (input, init) => {
      requested.push(String(input))
      return FETCH(input, init)
    },
  })
  const results: Array<{ name: string; ok: true } | { name: string; ok: false; error: string }> = []
  let next = 0
  const worker = async () => {
    while (next < CERTIFICATES) {
      const name = `f${next++}-${run}.webacme.test`
      try {
        const issued = await issueCertificate({
          client,
          account: { termsOfServiceAgreed: true },
          identifiers: [name],
          solvers: [http01],
        })
        expect(issued.parsed.dnsNames).toEqual([name])
        results.push({ name, ok: true })
      } catch (err) {
        results.push({ name, ok: false, error: describeError(err) })
      }
    }
  }
  await Promise.all(Array.from({ length: AT_ONCE }, worker))

  const stats = proxy.stats()
  const failures = results.filter((r) => !r.ok)
  expect(
    { issued: results.length - failures.length, failures },
    `faults injected: ${JSON.stringify(stats.faults)}`,
  ).toEqual({ issued: CERTIFICATES, failures: [] })
  expect(
    stats.violations.map((v) => `${v.method} ${v.resource} ${v.earlyMs} ms early after ${v.after}`),
  ).toEqual([])
  // The proxy really was in the path of every request (Pebble named the proxy in every URL it handed out), and
  // really injected every kind asked for, at about the rate asked for.
  expect(requested.filter((url) => new URL(url).origin !== proxy.origin)).toEqual([])
  expect(stats.requests).toBe(requested.length)
  expect(stats.upstreamErrors, 'requests the proxy failed to forward').toBe(0)
  for (const kind of KINDS) expect(stats.faults[kind], `faults of kind ${kind}`).toBeGreaterThan(0)
  expect(stats.faultsTotal).toBeGreaterThanOrEqual(Math.floor((stats.requests * PERCENT) / 200))
}, 300_000)
