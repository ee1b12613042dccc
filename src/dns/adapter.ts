/**
 * The DNS-01 adapter interface: the few operations a DNS provider must offer for RFC 8555 §8.4. Providers
 * (PowerDNS, Cloudflare, Route53, ...) implement it behind their own subpath exports.
 */

import type { AbortSignalLike } from '../lib/web-types.ts'

/** Per-call options of a DNS adapter. */
export interface DnsCallOptions {
  signal?: AbortSignalLike
}

/**
 * A DNS provider as dns-01 needs it. Names are fully qualified without the trailing dot
 * (`_acme-challenge.example.com`). Values are the TXT strings without quotes.
 *
 * - `createTxt` ADDS a value: other TXT values at the same name stay (an apex and its wildcard need two
 *   values at one name at the same time). Creating a value that already exists succeeds.
 * - `removeTxt` removes exactly that value and leaves the others; removing a missing value succeeds.
 * - `waitForChange`, when the provider can tell, resolves once the change is live on its authoritative
 *   servers (Route53 `INSYNC`, for instance).
 */
export interface DnsAdapter {
  /** A short name for messages, e.g. `powerdns`, `cloudflare`. */
  readonly name: string
  createTxt(name: string, value: string, options?: DnsCallOptions): Promise<void>
  removeTxt(name: string, value: string, options?: DnsCallOptions): Promise<void>
  waitForChange?(name: string, value: string, options?: DnsCallOptions): Promise<void>
}
