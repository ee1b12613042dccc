/**
 * dns-01 (RFC 8555 §8.4) on top of a {@link DnsAdapter}: publishes `base64url(SHA-256(key authorization))`
 * as a TXT record at `_acme-challenge.<domain>`, following an `_acme-challenge` CNAME delegation when a
 * resolver is given, and waits until the value is visible before the CA is asked to look.
 */
import { InvalidArgumentError } from '../errors.ts'
import { dns01RecordName, dns01TxtValue } from './key-authorization.ts'
import type { ChallengeSolver } from './solver.ts'
import { type Dns01SolverOptions, txtChallengeSolver } from './txt-solver.ts'

/** Options of {@link dns01Solver} (shared by every TXT-based solver, so declared with their common cycle). */
export type { Dns01SolverOptions }

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
