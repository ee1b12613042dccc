/**
 * dns-01 adapter for deSEC (desec.io, API v1). deSEC keeps one RRset per name and type whose `records` are
 * presentation-format strings (TXT quoted), so a value is added by reading the RRset and writing it back merged
 * (`PATCH .../rrsets/{subname}/TXT/`), or by creating it (`POST .../rrsets/`); writing an empty record list
 * deletes the RRset. Writes to one name are queued so that an apex and its wildcard do not overwrite each other.
 * deSEC throttles hard (429 with `Retry-After`); the shared retry policy waits as it asks.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/desec.ts), not against deSEC.
 *
 * @see {@link https://desec.readthedocs.io/en/latest/dns/rrsets.html deSEC: Manage RRsets}
 * @see {@link https://desec.readthedocs.io/en/latest/dns/domains.html#identifying-the-responsible-domain-for-a-dns-name deSEC: the responsible domain}
 * @see {@link https://desec.readthedocs.io/en/latest/rate-limits.html deSEC: rate limits}
 *
 * @module webacme/dns/desec
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { parseTxt, quoteTxt } from '../txt.ts'
import { canonicalName, relativeName, zoneFinder } from '../zone.ts'
import { jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'

/** Options of {@link desecAdapter}. */
export interface DesecAdapterOptions extends ProviderHttpOptions {
  /** A deSEC API token (sent as `Authorization: Token …`). */
  token: string
  /** The domain (zone) to write to, e.g. `example.com`, skipping discovery. */
  domain?: string
  /** API base (default `https://desec.io/api/v1`). */
  baseUrl?: string
  /** TTL of a created RRset in seconds (default 3600, raised to the domain's `minimum_ttl` when that is higher). */
  ttl?: number
}

const PROVIDER = 'desec'

const domainsSchema = v.array(v.looseObject({ name: v.string(), minimum_ttl: v.optional(v.number()) }))
const rrsetSchema = v.looseObject({ ttl: v.number(), records: v.array(v.string()) })

interface Zone {
  name: string
  minimumTtl: number
}

/**
 * Creates a deSEC adapter. The domain holding a name is asked for once with
 * `GET /domains/?owns_qname=<name>`.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { desecAdapter } from 'webacme/dns/desec'
 *
 * declare const env: { DESEC_TOKEN: string }
 * const solver = dns01Solver({ adapter: desecAdapter({ token: env.DESEC_TOKEN }), resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function desecAdapter(options: DesecAdapterOptions): DnsAdapter {
  if (!options?.token) throw new InvalidArgumentError('desecAdapter needs a token')
  const base = (options.baseUrl ?? 'https://desec.io/api/v1').replace(/\/+$/, '')
  const ttl = options.ttl ?? 3600
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: () => ({ authorization: `Token ${options.token}`, accept: 'application/json' }),
    toError,
  })
  const queue = keyedQueue()

  // owns_qname answers the responsible domain for any name below it, so the first candidate (the name itself)
  // settles the lookup in one request; the finder remembers it.
  const lookup = zoneFinder<Zone>(PROVIDER, async (candidate) => {
    const url = `${base}/domains/?owns_qname=${encodeURIComponent(candidate)}`
    const [domain] = await http.json({ method: 'GET', url }, domainsSchema)
    return domain ? { name: domain.name.toLowerCase(), minimumTtl: domain.minimum_ttl ?? 0 } : undefined
  })
  const findZone = options.domain
    ? async (): Promise<Zone> => ({ name: canonicalName(options.domain!), minimumTtl: 0 })
    : lookup

  const rrsetUrl = (zone: Zone, fqdn: string) => {
    const subname = relativeName(fqdn, zone.name)
    // The apex is `@` in URLs; deSEC URLs end with a slash.
    return `${base}/domains/${encodeURIComponent(zone.name)}/rrsets/${subname ? encodeURIComponent(subname) : '@'}/TXT/`
  }

  /** The stored records of the TXT RRset, or `undefined` when there is none. */
  const read = async (url: string, signal: AbortSignalLike | undefined) => {
    try {
      return (await http.json({ method: 'GET', url, signal }, rrsetSchema)).records
    } catch (err) {
      if (err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND') return undefined
      throw err
    }
  }
  /** Writes the whole record list (an empty list deletes the RRset: 204). */
  const write = (url: string, records: string[], signal: AbortSignalLike | undefined) =>
    http.request({
      method: 'PATCH',
      url,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records }),
      signal,
    })

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const fqdn = canonicalName(name)
      const zone = await findZone(fqdn, call.signal)
      const url = rrsetUrl(zone, fqdn)
      const record = quoteTxt(value)
      await queue(
        fqdn,
        async () => {
          const records = await read(url, call.signal)
          if (records?.some((r) => parseTxt(r) === value)) return
          if (records !== undefined) return void (await write(url, [...records, record], call.signal))
          try {
            await http.request({
              method: 'POST',
              url: `${base}/domains/${encodeURIComponent(zone.name)}/rrsets/`,
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({
                subname: relativeName(fqdn, zone.name),
                type: 'TXT',
                ttl: Math.max(ttl, zone.minimumTtl),
                records: [record],
              }),
              signal: call.signal,
            })
          } catch (err) {
            // 400 "Another RRset with the same subdomain and type exists": someone created it meanwhile.
            if (!(err instanceof DnsProviderError && err.providerCode === 'non_field_errors')) throw err
            const now = await read(url, call.signal)
            if (now === undefined) throw err
            if (!now.some((r) => parseTxt(r) === value)) await write(url, [...now, record], call.signal)
          }
        },
        call.signal,
      )
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const fqdn = canonicalName(name)
      const zone = await findZone(fqdn, call.signal)
      const url = rrsetUrl(zone, fqdn)
      await queue(
        fqdn,
        async () => {
          const records = await read(url, call.signal)
          if (records === undefined) return
          const rest = records.filter((r) => parseTxt(r) !== value)
          if (rest.length === records.length) return
          try {
            await write(url, rest, call.signal)
          } catch (err) {
            if (!(err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND')) throw err
          }
        },
        call.signal,
      )
    },
  }
}

/**
 * deSEC answers `{ "detail": "..." }` (401, 403, 404, 429 "Request was throttled. Expected available in N
 * seconds.", with `Retry-After`), or for a refused write (400) the fields and their messages:
 * `{ "ttl": ["..."] }`, `{ "non_field_errors": ["..."] }` (the first field becomes `providerCode`).
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res)
  let message: string | undefined
  let field: string | undefined
  if (body && typeof body === 'object' && !Array.isArray(body)) {
    const fields = body as Record<string, unknown>
    if (typeof fields.detail === 'string') message = fields.detail
    else {
      const parts = Object.entries(fields).map(
        ([field, problems]) =>
          `${field}: ${Array.isArray(problems) ? problems.filter((p) => typeof p === 'string').join(' ') : JSON.stringify(problems)}`,
      )
      if (parts.length > 0) message = parts.join('; ')
      field = Object.keys(fields)[0]
    }
  }
  return responseError(PROVIDER, res, { ...(message !== undefined && { message }), providerCode: field })
}
