/**
 * Where signed requests may go. RFC 8555 §6.1: ACME runs over HTTPS only. And a client must not let a server
 * (or whoever can change its responses) send it elsewhere: a JWS signed by the account key, sent to another
 * origin, is a replayable request in a stranger's hands. So every URL the client requests must be `https:`
 * (unless the caller allowed `http:` for a local test server) and on an origin the directory itself names, or
 * one the caller listed in `allowedOrigins` for a CA that spreads over several hosts.
 */
import { AcmeResponseError, InvalidArgumentError } from '../errors.ts'
import type { Directory } from './resources.ts'

/** The origins a transport may talk to. */
export class UrlPolicy {
  readonly #allowInsecure: boolean
  readonly #origins = new Set<string>()
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

  /** Adds the origins of every URL the directory names (RFC 8555 §7.1.1). */
  learn(directory: Directory): void {
    for (const [name, value] of Object.entries(directory)) {
      if (name === 'meta' || typeof value !== 'string') continue
      const url = this.check(value, `directory.${name}`)
      this.#origins.add(new URL(url).origin)
    }
  }

  /**
   * The URL, absolute and normalised, when the client may request it; otherwise an `AcmeResponseError` with code
   * `ERR_UNTRUSTED_URL` naming it and where it came from.
   */
  check(url: string, what: string, status = 0): string {
    // Polls check the same few URLs again and again: remember the answers (origins are only ever added).
    const known = this.#checked.get(url)
    if (known !== undefined) return known
    const checked = this.#check(url, what, status)
    if (this.#checked.size >= 1024) this.#checked.clear()
    this.#checked.set(url, checked)
    return checked
  }

  #check(url: string, what: string, status: number): string {
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
    if (!this.#origins.has(parsed.origin)) {
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
