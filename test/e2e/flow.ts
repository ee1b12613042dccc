/**
 * The issuance steps of RFC 8555 §7.4 written out with the low-level client, for the scenarios. (The
 * library's one-call flow is tested separately; these scenarios prove each protocol operation on its own.)
 */
import {
  type AcmeClient,
  type Authorization,
  type CertificateChain,
  dns01RecordName,
  dns01TxtValue,
  generateKeyPair,
  isProblem,
  type Order,
} from '../../src/index.ts'
import { createCsr } from '../../src/pkix/csr.ts'
import type { E2EContext } from './context.ts'

export interface IssueOptions {
  challenge?: 'http-01' | 'dns-01'
  certificateKey?: CryptoKeyPair
  signal?: AbortSignal
}

export interface Issued {
  order: Order
  chain: CertificateChain
  certificateKey: CryptoKeyPair
  /** Authorizations the CA had already validated (reused) and that needed no challenge. */
  reused: number
}

export async function issue(
  ctx: E2EContext,
  client: AcmeClient,
  identifiers: string[],
  options: IssueOptions = {},
): Promise<Issued> {
  const call = options.signal ? { signal: options.signal } : {}
  const type = options.challenge ?? 'http-01'
  let order = await client.createOrder({ identifiers }, call)
  const authorizations = await Promise.all(
    order.authorizations.map((url) => client.getAuthorization(url, call)),
  )
  let reused = 0
  const cleanups: Array<() => Promise<void>> = []
  try {
    await Promise.all(
      authorizations.map(async (authz) => {
        if (authz.status === 'valid') {
          reused++
          return
        }
        await solve(ctx, client, authz, type, call, cleanups)
      }),
    )
  } finally {
    // Apex and wildcard share one TXT name: clear only when every authorization is done.
    await Promise.all(cleanups.map((cleanup) => cleanup()))
  }
  const certificateKey = options.certificateKey ?? (await generateKeyPair('ES256'))
  const csr = await createCsr({
    keys: certificateKey,
    identifiers: order.identifiers,
  })
  try {
    order = await client.finalizeOrder(order, csr, call)
  } catch (err) {
    // The order may lag behind its authorizations: wait for `ready`, then finalize.
    if (!isProblem(err, 'orderNotReady')) throw err
    order = await client.finalizeOrder(await client.waitForOrder(order, call), csr, call)
  }
  if (order.status !== 'valid') order = await client.waitForOrder(order, call)
  const chain = await client.getCertificate(order, call)
  return { order, chain, certificateKey, reused }
}

async function solve(
  ctx: E2EContext,
  client: AcmeClient,
  authz: Authorization,
  type: 'http-01' | 'dns-01',
  call: { signal?: AbortSignal },
  cleanups: Array<() => Promise<void>>,
): Promise<void> {
  const challenge = authz.challenges.find((c) => c.type === type)
  if (!challenge) throw new Error(`no ${type} challenge for ${authz.identifier.value}`)
  const keyAuthorization = await client.keyAuthorization(challenge)
  const name = `${dns01RecordName(authz.identifier)}.`
  const value = await dns01TxtValue(keyAuthorization)
  if (type === 'http-01') {
    cleanups.push(() => ctx.http01.delete(challenge.token!))
    await ctx.http01.set(challenge.token!, keyAuthorization)
  } else {
    cleanups.push(() => ctx.dns.clearTxt(name))
    await ctx.dns.addTxt(name, value)
  }
  await client.respondToChallenge(challenge, call)
  await client.waitForAuthorization(authz, call)
}

/** A `fetch` that counts requests by method (and keeps their URLs). */
export function countingFetch(
  inner: typeof fetch,
): typeof fetch & { requests: Array<{ method: string; url: string }> } {
  const requests: Array<{ method: string; url: string }> = []
  const f = (input: RequestInfo | URL, init?: RequestInit) => {
    requests.push({ method: init?.method ?? 'GET', url: String(input) })
    return inner(input, init)
  }
  return Object.assign(f as typeof fetch, { requests })
}

/**
 * The protocol steps of one Pebble issuance, as the first path segment of each request: newOrder,
 * authorization, challenge, authorization polls (repeated only while the CA is still validating), finalize,
 * order polls (only while it is processing), certificate. Anything else (a newNonce, a duplicate step)
 * breaks the match.
 */
export const ONE_REQUEST_PER_STEP = /^order-plz authZ chalZ( authZ)+ finalize-order( my-order)* certZ$/

export function stepSequence(requests: Array<{ method: string; url: string }>): string {
  return requests
    .map((r) => `${r.method === 'POST' ? '' : `${r.method}:`}${new URL(r.url).pathname.split('/')[1]}`)
    .join(' ')
}

/**
 * A `fetch` that aborts a controller on an event it sees (the `nth` request that `match`es, once it has been
 * sent or once its response has arrived) and records every request begun after that abort. `quiet()` resolves
 * when no request is in flight and the client's longest poll delay (or a longer `Retry-After` it was sent) has
 * come due after that: a poll timer the client left running was armed earlier with a delay no longer than
 * that, so timer order (not the speed of the machine) puts its request before `quiet()` resolves.
 */
export function abortingFetch(inner: typeof fetch) {
  type Trigger = {
    match: (method: string, url: string) => boolean
    nth: number
    when: 'sent' | 'answered'
    controller: AbortController
    reason: unknown
  }
  let trigger: Trigger | undefined
  let seen = 0
  let aborted: AbortSignal | undefined
  let longestRetryAfter = 0
  const afterAbort: string[] = []
  const inFlight = new Set<Promise<void>>()
  const f = async (input: RequestInfo | URL, init?: RequestInit) => {
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
    const url = input instanceof Request ? input.url : String(input)
    if (aborted?.aborted) afterAbort.push(`${method} ${url}`)
    const hit = trigger?.match(method, url) && ++seen === trigger.nth ? trigger : undefined
    if (hit) trigger = undefined
    const pending = inner(input, init)
    const settled = pending.then(
      () => undefined,
      () => undefined,
    )
    inFlight.add(settled)
    void settled.then(() => inFlight.delete(settled))
    const fire = (t: Trigger) => {
      aborted = t.controller.signal
      t.controller.abort(t.reason)
    }
    if (hit?.when === 'sent') fire(hit)
    const res = await pending
    const retryAfter = Number(res.headers.get('retry-after'))
    if (Number.isFinite(retryAfter)) longestRetryAfter = Math.max(longestRetryAfter, retryAfter * 1000)
    // After the client has this response (its continuation runs first), while it reads it or waits to poll.
    if (hit?.when === 'answered') queueMicrotask(() => fire(hit))
    return res
  }
  return {
    fetch: f as typeof fetch,
    /** Requests begun after the abort, as `METHOD url`. */
    afterAbort,
    /** Arms the trigger: abort `controller` with `reason` at the `nth` request that `match`es. */
    abortOn(t: Trigger) {
      trigger = t
      seen = 0
      aborted = undefined
      afterAbort.length = 0
    },
    get fired() {
      return aborted !== undefined
    },
    async quiet(longestPollDelay: number) {
      while (inFlight.size > 0) await Promise.all([...inFlight])
      const due = Math.max(longestPollDelay, longestRetryAfter)
      await new Promise((resolve) => setTimeout(resolve, due))
      while (inFlight.size > 0) await Promise.all([...inFlight])
    },
  }
}
