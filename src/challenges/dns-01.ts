/**
 * dns-01 (RFC 8555 §8.4) on top of a {@link DnsAdapter}: publishes `base64url(SHA-256(key authorization))`
 * as a TXT record at `_acme-challenge.<domain>`, following an `_acme-challenge` CNAME delegation when a
 * resolver is given, and waits until the value is visible before the CA is asked to look.
 */
import type { DnsAdapter } from '../dns/adapter.ts'
import type { DnsResolver } from '../dns/resolver.ts'
import { InvalidArgumentError } from '../errors.ts'
import { dns01RecordName, dns01TxtValue } from './key-authorization.ts'
import type { ChallengeSolver } from './solver.ts'
import { txtChallengeSolver } from './txt-solver.ts'

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

/**
 * Creates a dns-01 solver. An apex and its wildcard publish two values at one name; the adapter keeps both,
 * and cleanup removes exactly the value each challenge published.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.4 RFC 8555 §8.4}
 */
export function dns01Solver(options: Dns01SolverOptions): ChallengeSolver {
  return txtChallengeSolver(
    {
      type: 'dns-01',
      async record(context) {
        if (!context.keyAuthorization) throw new InvalidArgumentError('dns-01 needs a key authorization')
        return {
          name: dns01RecordName(context.identifier),
          value: await dns01TxtValue(context.keyAuthorization),
        }
      },
    },
    options,
  )
}
