/** Issuance end to end: http-01, dns-01 with wildcard + apex, IP identifiers, key types, round trips. */
import { AcmeClient, generateKeyPair, type JwsAlgorithm, toIdentifier } from '../../../src/index.ts'
import { certificateMatchesKey, parseCertificate } from '../../../src/pkix/certificate.ts'
import { splitPemChain } from '../../../src/pkix/chain.ts'
import { assert, equal, rejectsWith } from '../assert.ts'
import type { E2EContext, Scenario } from '../context.ts'
import { abortingFetch, countingFetch, issue, ONE_REQUEST_PER_STEP, stepSequence } from '../flow.ts'

export async function newAccount(
  ctx: E2EContext,
  alg: JwsAlgorithm = 'ES256',
  fetch = ctx.fetch,
): Promise<AcmeClient> {
  const client = new AcmeClient({
    directoryUrl: ctx.directoryUrl,
    accountKey: await generateKeyPair(alg),
    fetch,
    poll: { interval: 100, maxInterval: 500, timeout: 60_000 },
  })
  const account = await client.createAccount({ termsOfServiceAgreed: true, contact: [`ops@${ctx.domain}`] })
  equal(account.status, 'valid', 'new account status')
  equal(account.contact, [`mailto:ops@${ctx.domain}`], 'contact normalised to mailto:')
  assert(client.accountUrl === account.url, 'client remembers the account URL')
  return client
}

function checkIssued(pem: string, names: string[]): ReturnType<typeof parseCertificate> {
  const certs = splitPemChain(pem)
  assert(certs.length >= 2, `chain has the leaf and an issuer (got ${certs.length})`)
  const leaf = parseCertificate(certs[0]!)
  const sans = [...leaf.dnsNames, ...leaf.ipAddresses].sort()
  equal(
    sans,
    [...names].map((n) => toIdentifier(n).value).sort(),
    'certificate SANs are the ordered identifiers',
  )
  assert(leaf.notAfter > new Date(), 'certificate is not expired')
  return leaf
}

export const issuanceScenarios: Scenario[] = [
  {
    name: 'errors explain themselves: nothing listening names the cause; a non-directory URL says so',
    server: 'default',
    async run(ctx) {
      const at = (url: string) =>
        new AcmeClient({ directoryUrl: url, accountKey: keys, fetch: ctx.fetch, retry: { retries: 0 } })
      const keys = await generateKeyPair('ES256')
      // Port 2 on loopback: not a fetch "bad port", and nothing listens there.
      const closed = `https://127.0.0.1:2/dir`
      const refused = await rejectsWith<{ reason: string; url: string; message: string }>(
        at(closed).directory(),
        'ERR_NETWORK',
        'a closed port',
      )
      equal(refused.url, closed, 'the error names the URL')
      // Browsers say only "Failed to fetch"; workerd says little more. Where the runtime tells, the reason is named.
      const tells =
        typeof navigator === 'undefined' || !/^Mozilla|Cloudflare-Workers/.test(navigator.userAgent)
      assert(
        refused.reason === 'connection-refused' || (!tells && refused.reason !== 'tls'),
        `reason: ${refused.reason} (${refused.message})`,
      )
      ctx.report('connection refused reported as', refused.reason)
      const notADirectory = at(ctx.directoryUrl.replace(/\/dir$/, '/no-such-directory')).directory()
      if (typeof navigator !== 'undefined' && navigator.userAgent.startsWith('Mozilla/')) {
        // Pebble sends no CORS headers on an unknown path: a page cannot read that 404 at all.
        await rejectsWith(notADirectory, 'ERR_NETWORK', 'a URL that is not the directory (opaque to a page)')
        return
      }
      const notFound = await rejectsWith<{ message: string; status: number }>(
        notADirectory,
        'ERR_INVALID_RESPONSE',
        'a URL that is not the directory',
      )
      assert(/does not look like an ACME directory/.test(notFound.message), notFound.message)
      equal(notFound.status, 404, 'the HTTP status')
    },
  },
  {
    name: 'http-01: one name, answered by the test responder; the key matches the CSR',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const name = `www.${ctx.domain}`
      const { chain, certificateKey, order } = await issue(ctx, client, [name])
      equal(order.status, 'valid', 'order status')
      checkIssued(chain.pem, [name])
      assert(await certificateMatchesKey(chain.pem, certificateKey), 'certificate carries the CSR key')
    },
  },
  {
    name: 'dns-01: wildcard + apex share one TXT name (both values live at once)',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const names = [ctx.domain, `*.${ctx.domain}`]
      const { chain, order } = await issue(ctx, client, names, { challenge: 'dns-01' })
      equal(order.identifiers.map((i) => i.value).sort(), [...names].sort(), 'order identifiers')
      checkIssued(chain.pem, names)
    },
  },
  {
    name: 'IP identifier (RFC 8738) via http-01',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const order = await client.createOrder({ identifiers: ['127.0.0.1'] })
      equal(order.identifiers, [{ type: 'ip', value: '127.0.0.1' }], 'ip identifier sent as type ip')
      const { chain } = await issue(ctx, client, ['127.0.0.1'])
      checkIssued(chain.pem, ['127.0.0.1'])
    },
  },
  {
    name: 'RSA-2048 and ECDSA P-384 account keys; RSA and P-521 certificate keys',
    server: 'default',
    async run(ctx) {
      const rsa = await newAccount(ctx, 'RS256')
      const a = await issue(ctx, rsa, [`rsa.${ctx.domain}`], {
        certificateKey: await generateKeyPair('RS256'),
      })
      assert(await certificateMatchesKey(a.chain.pem, a.certificateKey), 'RSA certificate key matches')
      const ec = await newAccount(ctx, 'ES384')
      const b = await issue(ctx, ec, [`ec.${ctx.domain}`], { certificateKey: await generateKeyPair('ES512') })
      assert(await certificateMatchesKey(b.chain.pem, b.certificateKey), 'P-521 certificate key matches')
    },
  },
  {
    name: 'round trips: one request per protocol step, no newNonce after the first request',
    server: 'counting',
    async run(ctx) {
      const fetch = countingFetch(ctx.fetch)
      const client = await newAccount(ctx, 'ES256', fetch)
      const before = fetch.requests.length
      await issue(ctx, client, [`count.${ctx.domain}`])
      const requests = fetch.requests.slice(before)
      const steps = stepSequence(requests)
      ctx.report('requests per issuance (1 name, after account creation)', requests.length)
      ctx.report('requests', steps)
      assert(ONE_REQUEST_PER_STEP.test(steps), `one request per protocol step, no newNonce: ${steps}`)
    },
  },
  {
    name: 'a response lost after the server acted: challenge and finalize replays recover',
    server: 'default',
    async run(ctx) {
      const dropped: string[] = []
      const lossy: typeof fetch = async (input, init) => {
        const res = await ctx.fetch(input, init)
        const url = String(input)
        const drop =
          init?.method === 'POST' && /\/chalZ\/|\/finalize-order\//i.test(url) && !dropped.includes(url)
        if (drop) {
          dropped.push(url)
          await res.arrayBuffer()
          throw new TypeError('fetch failed: connection reset (simulated after the server acted)')
        }
        return res
      }
      const client = await newAccount(ctx, 'ES256', lossy)
      const { chain } = await issue(ctx, client, [`lossy.${ctx.domain}`])
      checkIssued(chain.pem, [`lossy.${ctx.domain}`])
      assert(
        dropped.some((u) => /chal/i.test(u)),
        `a challenge response was dropped (${dropped.join(', ')})`,
      )
      assert(
        dropped.some((u) => /finalize/i.test(u)),
        'a finalize response was dropped',
      )
    },
  },
  {
    name: 'reused valid authorizations are recognised (PEBBLE_AUTHZREUSE=100): no challenge answered',
    server: 'reuse',
    async run(ctx) {
      const client = await newAccount(ctx)
      const name = `reuse.${ctx.domain}`
      const first = await issue(ctx, client, [name])
      equal(first.reused, 0, 'first order needs a challenge')
      const second = await issue(ctx, client, [name])
      equal(second.reused, 1, 'second order reuses the valid authorization')
      checkIssued(second.chain.pem, [name])
    },
  },
  {
    name: 'authorization deactivation (§7.5.2) makes the order invalid',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const order = await client.createOrder({ identifiers: [`deact.${ctx.domain}`] })
      const authz = await client.deactivateAuthorization(order.authorizations[0]!)
      equal(authz.status, 'deactivated', 'authorization deactivated')
      equal(
        (await client.deactivateAuthorization(authz.url)).status,
        'deactivated',
        'deactivating again re-reads it',
      )
      await rejectsWith(
        client.waitForAuthorization(authz),
        'ERR_AUTHORIZATION_INVALID',
        'waiting on it fails',
      )
      // RFC 8555 §7.1.6 would say "invalid"; Pebble 2.4 says "deactivated". Either way the order is dead.
      await rejectsWith(
        client.waitForOrder(order),
        'ERR_ORDER_INVALID',
        'the order can no longer be finalized',
      )
    },
  },
  {
    name: "Ed25519: refused as an account key (typed badPublicKey, as Let's Encrypt does); a certificate key works",
    server: 'default',
    async run(ctx) {
      const refused = new AcmeClient({
        directoryUrl: ctx.directoryUrl,
        accountKey: await generateKeyPair('EdDSA'),
        fetch: ctx.fetch,
      })
      await rejectsWith(
        refused.createAccount({ termsOfServiceAgreed: true }),
        'ERR_ACME_BAD_PUBLIC_KEY',
        'EdDSA account key',
      )
      const client = await newAccount(ctx)
      const ed = await issue(ctx, client, [`ed.${ctx.domain}`], {
        certificateKey: await generateKeyPair('EdDSA'),
      })
      checkIssued(ed.chain.pem, [`ed.${ctx.domain}`])
      assert(await certificateMatchesKey(ed.chain.pem, ed.certificateKey), 'Ed25519 certificate key matches')
    },
  },
  {
    name: 'a failed dns-01 validation names the identifier and the server problem',
    server: 'default',
    async run(ctx) {
      const client = await newAccount(ctx)
      const name = `bad.${ctx.domain}`
      const order = await client.createOrder({ identifiers: [name] })
      const authz = await client.getAuthorization(order.authorizations[0]!)
      const challenge = authz.challenges.find((c) => c.type === 'dns-01')!
      await ctx.dns.addTxt(`_acme-challenge.${name}.`, 'not-the-right-value')
      await client.respondToChallenge(challenge)
      const err = await rejectsWith<{ message: string; problem?: { type: string } }>(
        client.waitForAuthorization(authz),
        'ERR_AUTHORIZATION_INVALID',
        'invalid authorization',
      )
      await ctx.dns.clearTxt(`_acme-challenge.${name}.`)
      assert(
        err.message.includes(name) && err.message.includes('dns-01'),
        `message names name + challenge: ${err.message}`,
      )
      assert(
        err.problem?.type.endsWith(':unauthorized') || err.problem?.type.endsWith(':incorrectResponse'),
        `problem: ${err.problem?.type}`,
      )
      await rejectsWith(client.waitForOrder(order), 'ERR_ORDER_INVALID', 'order became invalid')
    },
  },
  {
    name: 'abort during a wait rejects with the signal reason and stops polling',
    server: 'default',
    async run(ctx) {
      // Aborted on events seen through the client's fetch, never after a delay: once while a poll is in
      // flight, once when a poll has been answered (the client reads it, then would sleep before the next).
      const watch = abortingFetch(ctx.fetch)
      const client = await newAccount(ctx, 'ES256', watch.fetch) // polls every 100..500 ms
      const order = await client.createOrder({ identifiers: [`abort.${ctx.domain}`] })
      const isPoll = (method: string, url: string) => method === 'POST' && url === order.url
      for (const when of ['sent', 'answered'] as const) {
        const controller = new AbortController()
        const reason = new Error(`user gave up (${when})`)
        watch.abortOn({ match: isPoll, nth: 2, when, controller, reason })
        let outcome: unknown = 'resolved'
        try {
          await client.waitForOrder(order, { signal: controller.signal })
        } catch (err) {
          outcome = err
        }
        assert(watch.fired, `the abort fired (${when}): the wait made its second poll`)
        assert(outcome === reason, `rejects with the abort reason itself (${when}), got ${String(outcome)}`)
        await watch.quiet(500)
        equal(watch.afterAbort, [], `no request after the abort (${when})`)
      }
      // The client is still usable afterwards (its requests may include a nonce fetch and a badNonce retry).
      equal((await client.getOrder(order.url)).status, 'pending', 'order still pending')
    },
  },
  {
    name: 'bad input fails before any request',
    server: 'default',
    async run(ctx) {
      const fetch = countingFetch(ctx.fetch)
      const client = new AcmeClient({
        directoryUrl: ctx.directoryUrl,
        accountKey: await generateKeyPair('ES256'),
        fetch,
      })
      await rejectsWith(
        client.createOrder({ identifiers: ['not a name'] }),
        'ERR_INVALID_ARGUMENT',
        'bad identifier',
      )
      await rejectsWith(client.getAccount(), 'ERR_INVALID_ARGUMENT', 'no account URL yet')
      await rejectsWith(
        client.createAccount({ termsOfServiceAgreed: true, contact: ['nope'] }),
        'ERR_INVALID_ARGUMENT',
        'bad contact',
      )
      await rejectsWith(
        // @ts-expect-error: the agreement is required, and only `true` is an agreement
        client.createAccount({ contact: ['ops@example.com'] }),
        'ERR_TERMS_NOT_AGREED',
        'no account without explicit agreement to the terms of service',
      )
      equal(fetch.requests.length, 0, 'nothing was sent')
      let threw = ''
      try {
        new AcmeClient({
          directoryUrl: ctx.directoryUrl.replace('https:', 'http:'),
          accountKey: await generateKeyPair(),
        })
      } catch (err) {
        threw = (err as { code: string }).code
      }
      equal(threw, 'ERR_INVALID_ARGUMENT', 'http: directory refused without allowInsecure')
    },
  },
]
