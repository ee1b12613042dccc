/**
 * dns-account-01 (draft-ietf-acme-dns-account-label): dns-01 with an account-specific label in front of
 * `_acme-challenge`, so several ACME accounts (regions, clouds, migration setups) can each delegate their own
 * validation name with a CNAME and validate the same domain concurrently. The TXT value is dns-01's.
 *
 * Experimental: the draft may still change, and few CAs offer the type (Pebble 2.4 does not).
 */
import { InvalidArgumentError } from '../errors.ts'
import { utf8 } from '../lib/bytes.ts'
import type { Identifier } from '../protocol/resources.ts'
import type { Dns01SolverOptions } from './dns-01.ts'
import { dns01RecordName, dns01TxtValue } from './key-authorization.ts'
import type { ChallengeSolver } from './solver.ts'
import { txtChallengeSolver } from './txt-solver.ts'

/** Options of {@link dnsAccount01Solver}: those of `dns01Solver` (CNAME following, propagation check). */
export type DnsAccount01SolverOptions = Dns01SolverOptions

// RFC 4648 §6, lowercased: DNS names are case-insensitive and the draft writes the label in lowercase.
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

/**
 * The account label: `base32(SHA-256(account URL)[0:10])`, lowercase. Ten octets are 80 bits, exactly 16
 * base32 characters, so there is no padding. Depends only on the account URL, not on the key, so a CNAME made
 * for it survives key rollover.
 *
 * @throws {InvalidArgumentError} When `accountUrl` is empty.
 * @see {@link https://datatracker.ietf.org/doc/draft-ietf-acme-dns-account-label/ draft-ietf-acme-dns-account-label}
 */
export async function dnsAccount01Label(accountUrl: string): Promise<string> {
  if (typeof accountUrl !== 'string' || accountUrl === '') {
    throw new InvalidArgumentError('dns-account-01 needs the account URL')
  }
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', utf8.encode(accountUrl) as BufferSource),
  )
  return base32(digest.subarray(0, 10))
}

/**
 * The dns-account-01 TXT record name, `_<label>._acme-challenge.<domain>`. As for dns-01, a wildcard
 * `*.example.com` is validated at its base name (the authorization's identifier is `example.com`, RFC 8555
 * §7.1.3). The value to publish is {@link dns01TxtValue} of the key authorization.
 *
 * @example
 * ```ts
 * import { dnsAccount01RecordName } from 'webacme'
 *
 * // "_ujmmovf2vn55tgye._acme-challenge.example.org", the draft's example
 * console.log(await dnsAccount01RecordName('example.org', 'https://example.com/acme/acct/ExampleAccount'))
 * ```
 * @throws {InvalidArgumentError} When `accountUrl` is empty.
 * @see {@link https://datatracker.ietf.org/doc/draft-ietf-acme-dns-account-label/ draft-ietf-acme-dns-account-label}
 */
export async function dnsAccount01RecordName(
  identifier: Identifier | string,
  accountUrl: string,
): Promise<string> {
  return `_${await dnsAccount01Label(accountUrl)}.${dns01RecordName(identifier)}`
}

/**
 * Creates a dns-account-01 solver on a `DnsAdapter`: publishes the dns-01 value at
 * `_<label>._acme-challenge.<domain>` for the context's account, waits for it like `dns01Solver`, and removes
 * exactly that value on cleanup.
 *
 * @see {@link https://datatracker.ietf.org/doc/draft-ietf-acme-dns-account-label/ draft-ietf-acme-dns-account-label}
 */
export function dnsAccount01Solver(options: DnsAccount01SolverOptions): ChallengeSolver {
  return txtChallengeSolver(
    {
      type: 'dns-account-01',
      canSolve: (identifier) => identifier.type === 'dns',
      async record(context) {
        if (!context.keyAuthorization)
          throw new InvalidArgumentError('dns-account-01 needs a key authorization')
        return {
          name: await dnsAccount01RecordName(context.identifier, context.accountUrl),
          value: await dns01TxtValue(context.keyAuthorization),
        }
      },
    },
    options,
  )
}

/** RFC 4648 §6 base32 without padding, lowercase. */
function base32(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31]
  return out
}
