/**
 * dns-01 (RFC 8555 §8.4) on top of a {@link DnsAdapter}: publishes `base64url(SHA-256(key authorization))`
 * as a TXT record at `_acme-challenge.<domain>`, following an `_acme-challenge` CNAME delegation when a
 * resolver is given, and waits until the value is visible before the CA is asked to look.
 */
import type { DnsAdapter } from '../dns/adapter.ts'
import type { DnsResolver } from '../dns/resolver.ts'
import { AcmeStateError } from '../errors.ts'
import { sleep } from '../lib/abort.ts'
import { dns01RecordName, dns01TxtValue } from './key-authorization.ts'
import type { ChallengeContext, ChallengeSolver } from './solver.ts'

/** Options of {@link dns01Solver}. */
export interface Dns01SolverOptions {
  /** The DNS provider. */
  adapter: DnsAdapter
  /**
   * A resolver for CNAME delegation and the propagation check (e.g. `dohResolver()`). Without one, the
   * record is written at `_acme-challenge.<domain>` and only the adapter's `waitForChange` is awaited.
   */
  resolver?: DnsResolver
  /**
   * Follow a CNAME at `_acme-challenge.<domain>` and write the TXT at its target (default `true` with a
   * resolver). The lookup happens before the record exists; a resolver that caches the negative answer will
   * then delay the propagation check by up to the zone's negative TTL, so point `resolver` at one that
   * does not (or disable this when you do not delegate).
   */
  followCname?: boolean
  /** Propagation check through `resolver` (default on with a resolver): poll interval and give-up time. */
  propagation?: { interval?: number; timeout?: number } | false
}

const MAX_CNAME_HOPS = 8

/**
 * Creates a dns-01 solver. An apex and its wildcard publish two values at one name; the adapter keeps both,
 * and cleanup removes exactly the value each challenge published.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.4 RFC 8555 §8.4}
 */
export function dns01Solver(options: Dns01SolverOptions): ChallengeSolver {
  const { adapter, resolver } = options
  const followCname = options.followCname ?? resolver !== undefined
  const propagation = options.propagation === false || !resolver ? undefined : (options.propagation ?? {})
  // What present() wrote, per challenge, so cleanup removes exactly that.
  const written = new Map<string, { name: string; value: string }>()

  const target = async (context: ChallengeContext): Promise<string> => {
    let name = dns01RecordName(context.identifier)
    if (!followCname || !resolver) return name
    const call = context.signal ? { signal: context.signal } : {}
    for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
      const next = await resolver.resolveCname(name, call)
      if (!next) return name
      name = next.replace(/\.$/, '').toLowerCase()
    }
    return name
  }

  return {
    type: 'dns-01',
    async present(context) {
      if (!context.keyAuthorization) throw new TypeError('dns-01 needs a key authorization')
      const record = { name: await target(context), value: await dns01TxtValue(context.keyAuthorization) }
      written.set(context.challenge.url, record)
      await adapter.createTxt(record.name, record.value, context.signal ? { signal: context.signal } : {})
    },
    async ready(context) {
      const record = written.get(context.challenge.url)
      if (!record) return
      const call = context.signal ? { signal: context.signal } : {}
      await adapter.waitForChange?.(record.name, record.value, call)
      if (!propagation || !resolver) return
      const deadline = Date.now() + (propagation.timeout ?? 120_000)
      for (let interval = propagation.interval ?? 1_000; ; ) {
        if ((await resolver.resolveTxt(record.name, call)).includes(record.value)) return
        if (Date.now() + interval > deadline) {
          throw new AcmeStateError(
            'ERR_WAIT_TIMEOUT',
            `TXT ${record.name} did not show ${record.value} in time`,
            {
              url: context.challenge.url,
            },
          )
        }
        await sleep(interval, context.signal)
        interval = Math.min(interval * 1.5, 10_000)
      }
    },
    async cleanup(context) {
      const record = written.get(context.challenge.url)
      if (!record) return
      written.delete(context.challenge.url)
      await adapter.removeTxt(record.name, record.value)
    },
  }
}
