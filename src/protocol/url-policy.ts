/**
 * Where signed requests may go. RFC 8555 §6.1: ACME runs over HTTPS only. And a client must not let a server
 * (or whoever can change its responses) send it elsewhere: a JWS signed by the account key, sent to another
 * origin, is a replayable request in a stranger's hands. So every URL the client requests must be `https:`
 * (unless the caller allowed `http:` for a local test server) and on an origin the directory itself names, or
 * one the caller listed in `allowedOrigins` for a CA that spreads over several hosts.
 */
import { AcmeResponseError, InvalidArgumentError } from '../errors.ts'
import type { Directory } from './resources.ts'

/**
 * The directory entries that are URLs the client requests: RFC 8555 §7.1.1 and RFC 9773 §4.1 (`renewalInfo`). Any
 * other key is an extension the client does not use.
 */
const DIRECTORY_RESOURCES = [
  'newNonce',
  'newAccount',
  'newOrder',
  'newAuthz',
  'revokeCert',
  'keyChange',
  'renewalInfo',
] as const satisfies readonly (keyof Directory)[]

/**
 * What a request does with a URL: `signed` (a JWS POST, or any request on the CA's own origins) or `read` (an
 * unauthenticated GET or HEAD, which may also go to a `renewalInfo` host of the CA's).
 */
export type UrlAccess = 'signed' | 'read'

/** The origins a transport may talk to. */
export class UrlPolicy {
  readonly #allowInsecure: boolean
  readonly #origins = new Set<string>()
  /** Origins of resources the client only reads with unauthenticated GETs (a `renewalInfo` on its own host). */
  readonly #readOrigins = new Set<string>()
  readonly #checked = new Map<string, string>()

  constructor(directoryUrl: string, options: { allowInsecure?: boolean; allowedOrigins?: string[] } = {}) {
    this.#allowInsecure = options.allowInsecure === true
    this.#origins.add(new URL(directoryUrl).origin)
    for (const origin of options.allowedOrigins ?? []) {
      let parsed: URL
      try {
        parsed = new URL(origin)
      } catch {
        throw new InvalidArgumentError(`allowedOrigins entry is not a URL: ${JSON.stringify(origin)}`)
      }
      this.#checkScheme(
        parsed,
        () => new InvalidArgumentError(`allowedOrigins entry must be https: ${origin}`),
      )
      this.#origins.add(parsed.origin)
    }
  }

  /**
   * Learns the CA's resources from its directory (RFC 8555 §7.1.1, RFC 9773 §4.1), each checked first: every
   * resource a signed request goes to must be on the CA's origins. `renewalInfo` is only ever read with an
   * unauthenticated GET (RFC 9773 §4.1), so it may live on a host of its own (ZeroSSL's is on
   * `ari.trust-provider.com`): its origin is trusted for GETs, never for a signed request.
   *
   * Every other entry is data the client never requests: `meta`, and the random key Boulder (Let's Encrypt),
   * acme2certifier and django-ca add on every response, whose value is a URL on another host, so that clients
   * cannot hard-code the directory's keys. Such entries are kept in the directory and never refuse it.
   */
  learn(directory: Directory): void {
    for (const name of DIRECTORY_RESOURCES) {
      const value = directory[name]
      if (value === undefined) continue
      if (name === 'renewalInfo') {
        // The scheme is still checked below; an origin that fails it refuses the whole directory.
        try {
          this.#readOrigins.add(new URL(value).origin)
        } catch {} // not a URL: check() below names it
        this.check(value, `directory.${name}`, 0, 'read')
        continue
      }
      this.check(value, `directory.${name}`)
    }
  }

  /**
   * The URL, absolute and normalised, when the client may request it; otherwise an `AcmeResponseError` with code
   * `ERR_UNTRUSTED_URL` naming it and where it came from.
   */
  check(url: string, what: string, status = 0, access: UrlAccess = 'signed'): string {
    // Polls check the same few URLs again and again: remember the answers (origins are only ever added).
    const known = this.#checked.get(url)
    if (known !== undefined) return known
    const checked = this.#check(url, what, status, access)
    if (this.#origins.has(new URL(checked).origin)) {
      if (this.#checked.size >= 1024) this.#checked.clear()
      this.#checked.set(url, checked)
    }
    return checked
  }

  #check(url: string, what: string, status: number, access: UrlAccess): string {
    let parsed: URL
    try {
      parsed = new URL(url)
    } catch {
      throw new AcmeResponseError(`${what} is not a URL: ${JSON.stringify(url)}`, {
        url: String(url),
        status,
        code: 'ERR_UNTRUSTED_URL',
      })
    }
    const refuse = (why: string) =>
      new AcmeResponseError(`refusing ${what} ${parsed.href}: ${why}`, {
        url: parsed.href,
        status,
        code: 'ERR_UNTRUSTED_URL',
      })
    this.#checkScheme(parsed, () =>
      refuse(
        parsed.protocol === 'http:'
          ? 'ACME runs over HTTPS only (RFC 8555 §6.1); allowInsecure permits http: for local test servers'
          : `unsupported scheme ${parsed.protocol}`,
      ),
    )
    if (!this.#origins.has(parsed.origin) && !(access === 'read' && this.#readOrigins.has(parsed.origin))) {
      throw refuse(
        `its origin is not the CA's (${[...this.#origins].join(', ')}); list it in allowedOrigins if this CA spreads over several hosts`,
      )
    }
    return parsed.href
  }

  #checkScheme(url: URL, error: () => Error): void {
    // RFC 8555 §6.1: all ACME communication MUST use HTTPS.
    if (url.protocol === 'https:' || (url.protocol === 'http:' && this.#allowInsecure)) return
    throw error()
  }
}
