/** issueCertificate() end to end: solvers, mixed challenge types, failures, cleanup, abort, resume, round trips. */
import {
  AcmeClient,
  type ChallengeSolver,
  dns01Solver,
  generateKeyPair,
  http01Solver,
  type IssueEvent,
  issueCertificate,
  parseCertificate,
  splitPemChain,
} from '../../../src/index.ts'
import { assert, equal, rejectsWith } from '../assert.ts'
import { challtestAdapter } from '../challtest-adapter.ts'
import type { E2EContext, Scenario } from '../context.ts'
import { countingFetch, ONE_REQUEST_PER_STEP, stepSequence } from '../flow.ts'

/** An http-01 solver whose tokens are served by the runner's responder. */
function runnerHttp01(ctx: E2EContext) {
  return http01Solver({ store: { get: () => undefined, set: ctx.http01.set, delete: ctx.http01.delete } })
}

async function newClient(ctx: E2EContext, fetch = ctx.fetch) {
  return new AcmeClient({
    directoryUrl: ctx.directoryUrl,
    accountKey: await generateKeyPair('ES256'),
    fetch,
    poll: { interval: 100, maxInterval: 500, timeout: 60_000 },
  })
}

export const issueFlowScenarios: Scenario[] = [
  {
    name: 'issueCertificate: http-01 + dns-01 solvers in one order (wildcard goes to dns-01), account created on the fly',
    server: 'default',
    async run(ctx) {
      const c = await newClient(ctx)
      const adapter = challtestAdapter(ctx)
      const events: IssueEvent[] = []
      const names = [`flow.${ctx.domain}`, `*.flow.${ctx.domain}`, `www.flow.${ctx.domain}`]
      const result = await issueCertificate({
        client: c,
        account: { termsOfServiceAgreed: true },
        identifiers: names,
        solvers: [runnerHttp01(ctx), dns01Solver({ adapter })],
        onEvent: (e) => events.push(e),
      })
      assert(c.accountUrl, 'account created on the fly')
      equal([...result.parsed.dnsNames].sort(), [...names].sort(), 'SANs are the ordered names')
      equal(result.order.status, 'valid', 'order valid')
      equal(adapter.live.size, 0, 'every TXT record removed')
      const presented = events.filter((e) => e.type === 'authorization' && e.status === 'presenting').length
      const reused = events.filter((e) => e.type === 'authorization' && e.status === 'reused').length
      equal(presented + reused, 3, 'three authorizations handled')
      assert(
        events.some((e) => e.type === 'certificate'),
        'certificate event',
      )
    },
  },
  {
    name: 'issueCertificate: a failed validation names identifier, challenge and problem; cleanup still runs',
    server: 'default',
    async run(ctx) {
      const adapter = challtestAdapter(ctx)
      const wrong: ChallengeSolver = {
        type: 'dns-01',
        present: (context) => adapter.createTxt(`_acme-challenge.${context.identifier.value}`, 'wrong-value'),
        cleanup: (context) => adapter.removeTxt(`_acme-challenge.${context.identifier.value}`, 'wrong-value'),
      }
      const name = `fail.${ctx.domain}`
      const err = await rejectsWith<{ message: string; problem?: { type: string } }>(
        issueCertificate({
          client: await newClient(ctx),
          account: { termsOfServiceAgreed: true },
          identifiers: [name],
          solvers: [wrong],
        }),
        'ERR_AUTHORIZATION_INVALID',
        'validation fails',
      )
      assert(err.message.includes(name) && err.message.includes('dns-01'), `message: ${err.message}`)
      assert(
        err.problem?.type.startsWith('urn:ietf:params:acme:error:'),
        `problem attached: ${err.problem?.type}`,
      )
      equal(adapter.live.size, 0, 'cleanup removed the record')
    },
  },
  {
    name: 'issueCertificate: a failed order deactivates the authorizations it left pending (RFC 8555 §7.5.2)',
    server: 'default',
    async run(ctx) {
      const adapter = challtestAdapter(ctx)
      const wrong: ChallengeSolver = {
        type: 'dns-01',
        present: (context) => adapter.createTxt(`_acme-challenge.${context.identifier.value}`, 'wrong-value'),
        cleanup: (context) => adapter.removeTxt(`_acme-challenge.${context.identifier.value}`, 'wrong-value'),
      }
      const c = await newClient(ctx)
      const events: IssueEvent[] = []
      let order: { authorizations: string[] } | undefined
      await rejectsWith(
        issueCertificate({
          client: c,
          account: { termsOfServiceAgreed: true },
          identifiers: [
            `first.deact.${ctx.domain}`,
            `second.deact.${ctx.domain}`,
            `third.deact.${ctx.domain}`,
          ],
          solvers: [wrong],
          concurrency: 1, // the first fails; the others are never started
          onEvent: (e) => {
            events.push(e)
            if (e.type === 'order') order = e.order
          },
        }),
        'ERR_AUTHORIZATION_INVALID',
        'the first validation fails',
      )
      assert(order, 'the order was seen')
      const statuses = await Promise.all(
        order.authorizations.map(async (u) => (await c.getAuthorization(u)).status),
      )
      equal(statuses.filter((s) => s === 'invalid').length, 1, `one invalid authorization (${statuses})`)
      equal(
        statuses.filter((s) => s === 'deactivated').length,
        2,
        `the two left pending are deactivated (${statuses})`,
      )
      equal(
        events.filter((e) => e.type === 'authorization-deactivated').length,
        2,
        'one event per deactivation',
      )
    },
  },
  {
    name: 'issueCertificate: a cleanup failure never hides the original error',
    server: 'default',
    async run(ctx) {
      const events: IssueEvent[] = []
      const broken: ChallengeSolver = {
        type: 'dns-01',
        present: async () => {},
        cleanup: async () => {
          throw new Error('cleanup exploded')
        },
      }
      await rejectsWith(
        issueCertificate({
          client: await newClient(ctx),
          account: { termsOfServiceAgreed: true },
          identifiers: [`cleanup.${ctx.domain}`],
          solvers: [broken],
          onEvent: (e) => events.push(e),
        }),
        'ERR_AUTHORIZATION_INVALID',
        'original error surfaces',
      )
      const cleanupErrors = events.filter((e) => e.type === 'cleanup-error')
      equal(cleanupErrors.length, 1, 'cleanup failure reported as an event')
    },
  },
  {
    name: 'issueCertificate: abort mid-validation rejects with the reason and cleans up; the order resumes by URL',
    server: 'default',
    async run(ctx) {
      const adapter = challtestAdapter(ctx)
      const controller = new AbortController()
      let orderUrl = ''
      const c = await newClient(ctx)
      const solver = dns01Solver({ adapter })
      const name = `resume.${ctx.domain}`
      let message = ''
      try {
        await issueCertificate({
          client: c,
          account: { termsOfServiceAgreed: true },
          identifiers: [name],
          solvers: [
            {
              ...solver,
              type: 'dns-01',
              present: async (context) => {
                await solver.present(context)
                controller.abort(new Error('operator cancelled'))
              },
            },
          ],
          signal: controller.signal,
          onEvent: (e) => {
            if (e.type === 'order') orderUrl = e.order.url
          },
        })
      } catch (err) {
        message = (err as Error).message
      }
      equal(message, 'operator cancelled', 'rejects with the abort reason')
      equal(adapter.live.size, 0, 'no TXT record left behind')
      assert(orderUrl, 'order URL seen before the abort')
      const result = await issueCertificate({
        client: c,
        account: { termsOfServiceAgreed: true },
        identifiers: [name],
        solvers: [dns01Solver({ adapter })],
        orderUrl,
      })
      equal(result.order.url, orderUrl, 'the crashed order was resumed, not replaced')
      await rejectsWith(
        issueCertificate({
          client: c,
          account: { termsOfServiceAgreed: true },
          identifiers: [`other.${ctx.domain}`],
          solvers: [solver],
          orderUrl,
        }),
        'ERR_INVALID_ARGUMENT',
        'resuming an order for other names is refused',
      )
    },
  },
  {
    name: 'issueCertificate: an abort settles the call even when a solver ignores the signal; cleanup runs, nothing is deactivated',
    server: 'default',
    async run(ctx) {
      const fetch = countingFetch(ctx.fetch)
      const c = await newClient(ctx, fetch)
      await c.createAccount({ termsOfServiceAgreed: true })
      const controller = new AbortController()
      const reason = new Error('deadline')
      let cleaned = 0
      let requestsAtAbort = -1
      const stuck: ChallengeSolver = {
        type: 'http-01',
        // Never settles and never looks at the signal: a caller's buggy solver.
        present: () => {
          requestsAtAbort = fetch.requests.length
          controller.abort(reason)
          return new Promise<void>(() => {})
        },
        cleanup: async () => {
          cleaned++
        },
      }
      const events: IssueEvent[] = []
      const settled = await issueCertificate({
        client: c,
        identifiers: [`stuck.${ctx.domain}`],
        solvers: [stuck],
        signal: controller.signal,
        onEvent: (e) => events.push(e),
      }).then(
        () => 'resolved',
        (err: unknown) => err,
      )
      equal(settled, reason, 'rejects with the signal reason')
      equal(cleaned, 1, 'the presented challenge was cleaned up')
      equal(fetch.requests.length, requestsAtAbort, 'no request after the abort (no deactivation, no poll)')
      equal(
        events.filter((e) => e.type === 'authorization-deactivated').length,
        0,
        'an abort deactivates nothing (the order stays resumable)',
      )
    },
  },
  {
    name: 'issueCertificate: deactivateOnAbort deactivates the pending authorization after an abort (what Ctrl-C in the CLI does)',
    server: 'default',
    async run(ctx) {
      const c = await newClient(ctx)
      await c.createAccount({ termsOfServiceAgreed: true })
      const controller = new AbortController()
      const stuck: ChallengeSolver = {
        type: 'http-01',
        present: () => {
          controller.abort(new Error('interrupted'))
          return new Promise<void>(() => {})
        },
        cleanup: async () => {},
      }
      const events: IssueEvent[] = []
      await issueCertificate({
        client: c,
        identifiers: [`interrupted.${ctx.domain}`],
        solvers: [stuck],
        signal: controller.signal,
        deactivateOnAbort: true,
        onEvent: (e) => events.push(e),
      }).catch(() => {})
      const deactivated = events.filter((e) => e.type === 'authorization-deactivated')
      equal(deactivated.length, 1, 'one authorization deactivated')
      const url = (deactivated[0] as { url: string }).url
      equal((await c.getAuthorization(url)).status, 'deactivated', 'the CA has it deactivated')
    },
  },
  {
    name: 'issueCertificate: caller mistakes fail before the first request (no solver, ECDH key, weak RSA, no agreement)',
    server: 'default',
    async run(ctx) {
      const fetch = countingFetch(ctx.fetch)
      const c = await newClient(ctx, fetch)
      const base = {
        client: c,
        account: { termsOfServiceAgreed: true as const },
        solvers: [runnerHttp01(ctx)],
      }
      await rejectsWith(
        issueCertificate({ ...base, identifiers: [`a.${ctx.domain}`, `*.nosolver.${ctx.domain}`] }),
        'ERR_NO_SOLVER',
        'a wildcard with only http-01',
      )
      const ecdh = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, [
        'deriveBits',
      ])) as CryptoKeyPair
      await rejectsWith(
        issueCertificate({ ...base, identifiers: [`a.${ctx.domain}`], certificateKey: ecdh }),
        'ERR_INVALID_ARGUMENT',
        'a certificate key that cannot sign',
      )
      await rejectsWith(
        // @ts-expect-error: the agreement is required, and only `true` is an agreement
        issueCertificate({ ...base, account: {}, identifiers: [`a.${ctx.domain}`] }),
        'ERR_TERMS_NOT_AGREED',
        'no account without agreement to the terms of service',
      )
      const weak = (await crypto.subtle.generateKey(
        {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: 1024,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        },
        true,
        ['sign', 'verify'],
      )) as CryptoKeyPair
      let code = ''
      try {
        new AcmeClient({ directoryUrl: ctx.directoryUrl, accountKey: weak, fetch })
      } catch (err) {
        code = (err as { code: string }).code
      }
      equal(code, 'ERR_INVALID_ARGUMENT', 'a 1024-bit RSA account key is refused')
      equal(fetch.requests.length, 0, 'not one request was sent')
    },
  },
  {
    name: 'issueCertificate: concurrent calls share one account creation and run at most maxConcurrentIssuances at once',
    server: 'counting',
    async run(ctx) {
      let active = 0
      let most = 0
      let newAccounts = 0
      const watching: typeof fetch = async (input, init) => {
        const path = new URL(String(input)).pathname
        if (init?.method === 'POST' && path.startsWith('/sign-me-up')) newAccounts++
        if (init?.method === 'POST' && path.startsWith('/order-plz')) most = Math.max(most, ++active)
        const response = await ctx.fetch(input, init)
        if (init?.method === 'POST' && path.startsWith('/certZ/')) active--
        return response
      }
      const c = new AcmeClient({
        directoryUrl: ctx.directoryUrl,
        accountKey: await generateKeyPair('ES256'),
        fetch: watching,
        maxConcurrentIssuances: 2,
        poll: { interval: 50, maxInterval: 200, timeout: 60_000 },
      })
      const names = Array.from({ length: 6 }, (_, i) => `par${i}.${ctx.domain}`)
      const issued = await Promise.all(
        names.map((name) =>
          issueCertificate({
            client: c,
            account: { termsOfServiceAgreed: true },
            identifiers: [name],
            solvers: [runnerHttp01(ctx)],
          }),
        ),
      )
      equal(issued.length, 6, 'all six issued')
      equal(newAccounts, 1, 'one newAccount for six concurrent calls')
      equal(most, 2, 'never more than two issuances between newOrder and download')
    },
  },
  {
    name: 'issueCertificate: requests per certificate (one name, http-01, after account creation)',
    server: 'counting',
    async run(ctx) {
      const fetch = countingFetch(ctx.fetch)
      const c = await newClient(ctx, fetch)
      await c.createAccount({ termsOfServiceAgreed: true })
      const before = fetch.requests.length
      const result = await issueCertificate({
        client: c,
        account: { termsOfServiceAgreed: true },
        identifiers: [`rt.${ctx.domain}`],
        solvers: [runnerHttp01(ctx)],
      })
      const requests = fetch.requests.slice(before)
      const steps = stepSequence(requests)
      ctx.report('issueCertificate requests per certificate', requests.length)
      ctx.report('issueCertificate requests', steps)
      assert(ONE_REQUEST_PER_STEP.test(steps), `one request per protocol step, no newNonce: ${steps}`)
      equal(result.chains.length, 1, 'one chain (no alternates on this profile)')
    },
  },
  {
    name: 'issueCertificate: alternate chains are downloaded only to pick a preferred chain',
    server: 'chains',
    async run(ctx) {
      const c = await newClient(ctx)
      const plain = await issueCertificate({
        client: c,
        account: { termsOfServiceAgreed: true },
        identifiers: [`alt.${ctx.domain}`],
        solvers: [runnerHttp01(ctx)],
      })
      equal(plain.chains.length, 1, 'only the default chain downloaded')
      equal(plain.chains[0]!.alternates.length, 2, 'the two alternates are listed')
      const defaultTop = parseCertificate(splitPemChain(plain.certificate).at(-1)!).issuer.commonName
      const alternate = await c.getCertificate(plain.chains[0]!.alternates[1]!)
      const wanted = parseCertificate(splitPemChain(alternate.pem).at(-1)!).issuer.commonName!
      assert(wanted !== defaultTop, 'the alternate has another root')
      const picked = await issueCertificate({
        client: c,
        account: { termsOfServiceAgreed: true },
        identifiers: [`alt2.${ctx.domain}`],
        solvers: [runnerHttp01(ctx)],
        preferredChain: wanted,
      })
      equal(picked.chains.length, 3, 'default + 2 alternates downloaded to choose')
      equal(
        parseCertificate(splitPemChain(picked.certificate).at(-1)!).issuer.commonName,
        wanted,
        'preferred chain returned',
      )
    },
  },
]
