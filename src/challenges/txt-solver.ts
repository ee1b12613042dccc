/**
 * Internal: the publish / wait / remove cycle of a solver that answers with one DNS TXT value, shared by
 * dns-01, dns-account-01 and dns-persist-01: optional CNAME following from the record name, the adapter's `waitForChange`, then a propagation check through the resolver.
 */
import type { DnsAdapter, DnsCallOptions } from '../dns/adapter.ts'
import type { DnsResolver } from '../dns/resolver.ts'
import { AcmeStateError, isAcmeError } from '../errors.ts'
import type { AbortSignalLike } from '../lib/web-types.ts'
import { poll } from '../protocol/poll.ts'
import type { Identifier } from '../protocol/resources.ts'
import type { ChallengeContext, ChallengeSolver } from './solver.ts'

/**
 * Options of the TXT-based solvers: `dns01Solver`, `dnsAccount01Solver` and (extended) `dnsPersist01Solver`.
 */
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

/** One TXT value at one name (fully qualified, no trailing dot). */
export interface TxtRecord {
  name: string
  value: string
}

/** What distinguishes one TXT-based challenge type from another. */
export interface TxtChallengeSpec {
  type: string
  /** The record a challenge needs, before CNAME following. */
  record(context: ChallengeContext): Promise<TxtRecord> | TxtRecord
  canSolve?(identifier: Identifier): boolean
  /** Whether cleanup removes the value (default `true`). */
  removeOnCleanup?: boolean
}

const MAX_CNAME_HOPS = 8

/** TXT values at `name`; a failed query (SERVFAIL, a throttled resolver) counts as "not yet" until the deadline. */
async function visibleValues(resolver: DnsResolver, name: string, call: DnsCallOptions): Promise<string[]> {
  try {
    return await resolver.resolveTxt(name, call)
  } catch (err) {
    if (isAcmeError(err, 'ERR_DNS_QUERY') || isAcmeError(err, 'ERR_DNS_RATE_LIMITED')) return []
    throw err
  }
}

/** A {@link ChallengeSolver} publishing `spec.record(context)` through `options.adapter`. */
export function txtChallengeSolver(spec: TxtChallengeSpec, options: Dns01SolverOptions): ChallengeSolver {
  const { adapter, resolver } = options
  const followCname = options.followCname ?? resolver !== undefined
  const propagation = options.propagation === false || !resolver ? undefined : (options.propagation ?? {})
  const removeOnCleanup = spec.removeOnCleanup ?? true
  // What present() wrote, per challenge, so cleanup removes exactly that.
  const written = new Map<string, TxtRecord>()

  const target = async (name: string, signal: AbortSignalLike | undefined): Promise<string> => {
    if (!followCname || !resolver) return name
    const call = signal ? { signal } : {}
    for (let hop = 0; hop < MAX_CNAME_HOPS; hop++) {
      const next = await resolver.resolveCname(name, call)
      if (!next) return name
      name = next.replace(/\.$/, '').toLowerCase()
    }
    return name
  }

  const solver: ChallengeSolver = {
    type: spec.type,
    async present(context) {
      const wanted = await spec.record(context)
      const record = { name: await target(wanted.name, context.signal), value: wanted.value }
      written.set(context.challenge.url, record)
      await adapter.createTxt(record.name, record.value, context.signal ? { signal: context.signal } : {})
    },
    async ready(context) {
      const record = written.get(context.challenge.url)
      if (!record) return
      const call = context.signal ? { signal: context.signal } : {}
      await adapter.waitForChange?.(record.name, record.value, call)
      if (!propagation || !resolver) return
      await poll(
        {
          kind: 'TXT propagation',
          url: context.challenge.url,
          timeoutError: () =>
            new AcmeStateError(
              'ERR_WAIT_TIMEOUT',
              `TXT ${record.name} did not show ${record.value} in time`,
              {
                url: context.challenge.url,
              },
            ),
        },
        async () => ({ value: await visibleValues(resolver, record.name, call), retryAfter: undefined }),
        (values) => values.includes(record.value),
        {
          interval: propagation.interval ?? 1_000,
          maxInterval: 10_000,
          timeout: propagation.timeout ?? 120_000,
          ...(context.signal && { signal: context.signal }),
        },
      )
    },
    async cleanup(context) {
      if (!removeOnCleanup) return
      // After a crash this process never saw present(): the context (kept by the caller) names the record.
      let record = written.get(context.challenge.url)
      if (!record) {
        const wanted = await spec.record(context)
        record = { name: await target(wanted.name, context.signal), value: wanted.value }
      }
      written.delete(context.challenge.url)
      await adapter.removeTxt(record.name, record.value, context.signal ? { signal: context.signal } : {})
    },
  }
  if (spec.canSolve) solver.canSolve = spec.canSolve
  return solver
}
