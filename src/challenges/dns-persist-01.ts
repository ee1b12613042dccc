/**
 * dns-persist-01 (draft-ietf-acme-dns-persist): one long-lived TXT record at `_validation-persist.<domain>`
 * names the CA (an issuer domain name from the challenge) and the ACME account allowed to validate, so a
 * domain can be validated again and again without touching DNS. There is no token and no key authorization.
 *
 * Record value (RFC 8659 issue-value syntax):
 * `<issuer-domain-name>; accounturi=<account URI>[; policy=wildcard][; persistUntil=<unix seconds>]`.
 *
 * Experimental: the draft is still changing (the WG's editor's copy renames the challenge field
 * `issuerDomainNames` and moves to a hashed account URI), and few CAs offer the type (Pebble 2.4 does not).
 */
import { AcmeResponseError, InvalidArgumentError } from '../errors.ts'
import { toIdentifier } from '../protocol/identifiers.ts'
import type { Challenge, Identifier } from '../protocol/resources.ts'
import type { Dns01SolverOptions } from './dns-01.ts'
import type { ChallengeSolver } from './solver.ts'
import { type TxtRecord, txtChallengeSolver } from './txt-solver.ts'

/** The label in front of the validated name (draft-ietf-acme-dns-persist §2, "Validation Domain Name"). */
const LABEL = '_validation-persist'
// draft-ietf-acme-dns-persist §3.1: at most 10 issuer domain names, each at most 253 octets.
const MAX_ISSUERS = 10
// Lowercase A-labels, no trailing dot (draft-ietf-acme-dns-persist §3.1).
const ISSUER_NAME =
  /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/
// RFC 8659 §4.2: value = *(%x21-3A / %x3C-7E), i.e. visible ASCII without ";".
const PARAMETER_VALUE = /^[\x21-\x3a\x3c-\x7e]+$/

/** Input of {@link dnsPersist01Record}. */
export interface DnsPersist01RecordOptions {
  /** The DNS name to validate; `*.example.com` publishes at `example.com` with `policy=wildcard`. */
  identifier: Identifier | string
  /**
   * The dns-persist-01 challenge: its `issuer-domain-names` are the names the CA accepts, and its
   * `accounturi`, when present, is the URI the CA expects in the record (it then wins over `accountUrl`).
   * Leave it out to pre-provision a record before any order exists.
   */
  challenge?: Challenge
  /**
   * The issuer domain name to publish, or several in order of preference. With a challenge, the first one the
   * challenge offers is used (default: the challenge's first); without one, this is required.
   */
  issuerDomainName?: string | readonly string[]
  /** The ACME account URL (`client.accountUrl`), used when the challenge carries no `accounturi`. */
  accountUrl: string
  /**
   * Add `policy=wildcard`, which also authorizes subdomains and wildcards of the name (default: only for a
   * wildcard identifier, which needs it).
   */
  wildcard?: boolean
  /** Add `persistUntil`: the time after which the CA must not use the record (a Date or Unix seconds). */
  persistUntil?: Date | number
}

/**
 * The dns-persist-01 TXT record for an identifier: name `_validation-persist.<domain>` (the base name for a
 * wildcard) and the issue-value the draft defines.
 *
 * @example
 * ```ts
 * import { dnsPersist01Record } from 'webacme'
 *
 * const { name, value } = dnsPersist01Record({
 *   identifier: '*.example.com',
 *   issuerDomainName: 'authority.example',
 *   accountUrl: 'https://ca.example/acct/123',
 * })
 * // _validation-persist.example.com  "authority.example; accounturi=https://ca.example/acct/123; policy=wildcard"
 * console.log(name, value)
 * ```
 * @throws {AcmeResponseError} When the challenge's issuer domain names are missing or malformed (§3.1 makes the
 *   client reject such a challenge).
 * @throws {InvalidArgumentError} For a non-DNS identifier, an issuer domain name the challenge does not offer,
 *   `wildcard: false` with a wildcard identifier, or an account URI or `persistUntil` that cannot be written.
 * @see {@link https://datatracker.ietf.org/doc/draft-ietf-acme-dns-persist/ draft-ietf-acme-dns-persist §4.1}
 */
export function dnsPersist01Record(options: DnsPersist01RecordOptions): TxtRecord {
  const { identifier, challenge } = options
  const input = typeof identifier === 'string' ? { type: 'dns', value: identifier } : identifier
  if (input?.type !== 'dns') throw new InvalidArgumentError('dns-persist-01 validates DNS identifiers only')
  const { value } = toIdentifier({ type: 'dns', value: String(input.value).replace(/\.$/, '') })
  const isWildcard = value.startsWith('*.')
  const domain = value.replace(/^\*\./, '')
  const wildcard = options.wildcard ?? isWildcard
  if (isWildcard && !wildcard) {
    throw new InvalidArgumentError(`${value} needs policy=wildcard; do not pass wildcard: false`)
  }

  const issuer = chooseIssuer(options.issuerDomainName, challenge)
  const challengeUri = challenge?.accounturi
  const accountUri = typeof challengeUri === 'string' ? challengeUri : options.accountUrl
  if (typeof accountUri !== 'string' || !PARAMETER_VALUE.test(accountUri)) {
    throw new InvalidArgumentError(
      `dns-persist-01 needs an account URI of visible ASCII without ";", got ${JSON.stringify(accountUri)}`,
    )
  }
  const parts = [issuer, `accounturi=${accountUri}`]
  // §4.1 item 4: only "wildcard" is defined; anything else would be read as no policy at all.
  if (wildcard) parts.push('policy=wildcard')
  if (options.persistUntil !== undefined) parts.push(`persistUntil=${unixSeconds(options.persistUntil)}`)
  return { name: `${LABEL}.${domain}`, value: parts.join('; ') }
}

/**
 * The issuer domain names a dns-persist-01 challenge offers, checked as §3.1 requires of clients: 1 to 10
 * lowercase A-label names without a trailing dot. Reads `issuer-domain-names` (drafts -00, -01) or
 * `issuerDomainNames` (the WG's later editor's copies).
 *
 * @throws {AcmeResponseError} When the list is missing, empty, longer than 10 or holds a malformed name.
 * @see {@link https://datatracker.ietf.org/doc/draft-ietf-acme-dns-persist/ draft-ietf-acme-dns-persist §3.1}
 */
export function dnsPersist01IssuerDomainNames(challenge: Challenge): string[] {
  const field = 'issuer-domain-names' in challenge ? 'issuer-domain-names' : 'issuerDomainNames'
  const names = challenge[field]
  const malformed = (why: string) =>
    new AcmeResponseError(`dns-persist-01 challenge ${challenge.url}: ${field} ${why}`, {
      url: challenge.url,
      status: 200,
      field,
    })
  if (!Array.isArray(names)) throw malformed('is missing or not an array')
  if (names.length === 0 || names.length > MAX_ISSUERS) {
    throw malformed(`must hold 1 to ${MAX_ISSUERS} names, not ${names.length}`)
  }
  for (const name of names) {
    if (typeof name !== 'string' || !ISSUER_NAME.test(name)) {
      throw malformed(`holds ${JSON.stringify(name)}, not a lowercase A-label name without a trailing dot`)
    }
  }
  return names as string[]
}

/** Options of {@link dnsPersist01Solver}. */
export interface DnsPersist01SolverOptions extends Dns01SolverOptions {
  /** Issuer domain name(s) to prefer among those the challenge offers (default: the challenge's first). */
  issuerDomainName?: string | readonly string[]
  /** Add `policy=wildcard` for every name, not only wildcards (it then also covers subdomains). */
  wildcard?: boolean
  /** Add `persistUntil` (a Date or Unix seconds); must be in the future. */
  persistUntil?: Date | number
  /**
   * Remove the record on cleanup (default `false`: the record is meant to stay for later validations). Note
   * that removal also takes away an identical record that existed before.
   */
  removeOnCleanup?: boolean
}

/**
 * Creates a dns-persist-01 solver on a `DnsAdapter`: publishes {@link dnsPersist01Record} for the
 * challenge and the context's account (adding a value that already exists succeeds, so a pre-provisioned
 * record is simply confirmed), waits for it like `dns01Solver`, and leaves it in place unless
 * `removeOnCleanup`.
 *
 * @see {@link https://datatracker.ietf.org/doc/draft-ietf-acme-dns-persist/ draft-ietf-acme-dns-persist §4}
 */
export function dnsPersist01Solver(options: DnsPersist01SolverOptions): ChallengeSolver {
  return txtChallengeSolver(
    {
      type: 'dns-persist-01',
      canSolve: (identifier) => identifier.type === 'dns',
      removeOnCleanup: options.removeOnCleanup ?? false,
      record(context) {
        // §4.1 item 5: the CA rejects a record whose persistUntil has passed; say so before publishing it.
        if (options.persistUntil !== undefined && unixSeconds(options.persistUntil) * 1000 <= Date.now()) {
          throw new InvalidArgumentError('dns-persist-01 persistUntil is in the past')
        }
        return dnsPersist01Record({
          identifier: context.identifier,
          challenge: context.challenge,
          accountUrl: context.accountUrl,
          ...(options.issuerDomainName !== undefined && { issuerDomainName: options.issuerDomainName }),
          ...(options.wildcard === true && { wildcard: true }),
          ...(options.persistUntil !== undefined && { persistUntil: options.persistUntil }),
        })
      },
    },
    options,
  )
}

function chooseIssuer(preferred: string | readonly string[] | undefined, challenge: Challenge | undefined) {
  const wanted = (typeof preferred === 'string' ? [preferred] : (preferred ?? [])).map((name) =>
    String(name).toLowerCase().replace(/\.$/, ''),
  )
  if (!challenge) {
    const issuer = wanted[0]
    if (issuer === undefined || !ISSUER_NAME.test(issuer)) {
      throw new InvalidArgumentError(
        'dns-persist-01 needs an issuer domain name (a lowercase A-label name) or the challenge offering one',
      )
    }
    return issuer
  }
  const offered = dnsPersist01IssuerDomainNames(challenge)
  if (wanted.length === 0) return offered[0]!
  const issuer = wanted.find((name) => offered.includes(name))
  if (issuer === undefined) {
    throw new InvalidArgumentError(
      `the CA accepts ${offered.join(', ')} as issuer domain names, not ${wanted.join(', ')}`,
    )
  }
  return issuer
}

function unixSeconds(time: Date | number): number {
  const seconds = time instanceof Date ? Math.floor(time.getTime() / 1000) : time
  // §4.1 item 5: a base-10 integer; anything else makes the CA reject the record as malformed.
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new InvalidArgumentError(
      `persistUntil must be a Date or non-negative integer Unix seconds, got ${time}`,
    )
  }
  return seconds
}
