/**
 * Typed errors of DNS providers (the adapters behind `webacme/dns/*`) and of DNS-over-HTTPS resolvers. Each
 * provider maps its own failure shapes (HTTP status, Cloudflare error codes, Route53 XML error codes, Google
 * error reasons, ...) onto one small code union, so callers `switch (err.code)` without knowing the provider.
 */
import { AcmeError } from '../acme-error.ts'
import type { DnsErrorCode } from '../error-codes.ts'
import type { ResponseLike } from '../lib/web-types.ts'

/** Every `code` a {@link DnsProviderError} can have (declared with every other code in `src/error-codes.ts`). */
export type { DnsErrorCode }

/** A DNS provider or resolver failed. The `Response`, when there was one, is kept non-enumerable. */
export class DnsProviderError extends AcmeError {
  declare readonly code: DnsErrorCode
  /**
   * Which adapter or resolver: `powerdns`, `cloudflare`, `route53`, `acme-dns`, `digitalocean`, `hetzner`, `desec`,
   * `porkbun`, `ovh`, `google`, `azure`, `gandi`, `linode`, `namecheap`, `doh`.
   */
  readonly provider: string
  /** HTTP status of the failed response, when there was a response. */
  readonly status: number | undefined
  /** When the provider asked to retry (`Retry-After`, DigitalOcean's `ratelimit-reset`), if it did. */
  readonly retryAfter: Date | undefined
  /**
   * The provider's own error code, as a string: Cloudflare `81058`, Route53 `Throttling`, Google `alreadyExists`,
   * acme-dns `bad_txt`, Azure `PreconditionFailed`, Namecheap `1011150`, a DNS RCODE name (`SERVFAIL`) for resolvers.
   */
  readonly providerCode: string | undefined
  /** URL of the request that failed, when known. */
  readonly url: string | undefined
  declare readonly response: ResponseLike | undefined

  constructor(
    code: DnsErrorCode,
    message: string,
    init: {
      provider: string
      status?: number | undefined
      retryAfter?: Date | undefined
      providerCode?: string | undefined
      url?: string | undefined
      response?: ResponseLike | undefined
      cause?: unknown
    },
  ) {
    super(code, message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = 'DnsProviderError'
    this.provider = init.provider
    this.status = init.status
    this.retryAfter = init.retryAfter
    this.providerCode = init.providerCode
    this.url = init.url
    // Non-enumerable so that logging the error does not dump a whole Response.
    Object.defineProperty(this, 'response', { value: init.response, enumerable: false })
  }
}

/** True when `err` is a {@link DnsProviderError}, optionally of one code. */
export function isDnsProviderError(err: unknown, code?: DnsErrorCode): err is DnsProviderError {
  return err instanceof DnsProviderError && (code === undefined || err.code === code)
}

/** The DNS provider throttled the call; see `err.retryAfter`. */
export function isDnsRateLimited(err: unknown): err is DnsProviderError {
  return isDnsProviderError(err, 'ERR_DNS_RATE_LIMITED')
}
