/**
 * What the dns-01 solver asks of a DNS resolver: follow an `_acme-challenge` CNAME and see a TXT value once
 * it is live. `dohResolver()` (RFC 8484) implements it with `fetch`.
 */
import type { DnsCallOptions } from './adapter.ts'

export interface DnsResolver {
  /** The CNAME target of `name` (no trailing dot), or `undefined` when `name` has no CNAME. */
  resolveCname(name: string, options?: DnsCallOptions): Promise<string | undefined>
  /** The TXT strings at `name` (each record's character-strings joined), `[]` when there are none. */
  resolveTxt(name: string, options?: DnsCallOptions): Promise<string[]>
}
