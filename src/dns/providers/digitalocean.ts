/**
 * dns-01 adapter for DigitalOcean DNS (API v2, domains and domain records). DigitalOcean keeps one record per
 * TXT value: a value is added with one `POST /v2/domains/{domain}/records` and removed by deleting exactly the
 * records that carry it.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/digitalocean.ts), not against
 * DigitalOcean.
 *
 * @see {@link https://docs.digitalocean.com/reference/api/reference/domain-records/ DigitalOcean domain records API}
 *
 * @module webacme/dns/digitalocean
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { parseTxt } from '../txt.ts'
import { canonicalName, relativeName, zoneFinder } from '../zone.ts'
import { jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'
import { recordPerValueAdapter } from './record-per-value.ts'

/** Options of {@link digitalOceanAdapter}. */
export interface DigitalOceanAdapterOptions extends ProviderHttpOptions {
  /** A personal access token with `domain:read` and `domain:create`/`domain:delete` (or full write) scope. */
  token: string
  /** The domain (zone) to write to, e.g. `example.com`, skipping discovery. */
  domain?: string
  /** API base (default `https://api.digitalocean.com`). */
  baseUrl?: string
  /** TTL of created records (default 30, DigitalOcean's minimum). */
  ttl?: number
}

const PROVIDER = 'digitalocean'
const PER_PAGE = 200

const domainSchema = v.looseObject({ domain: v.looseObject({ name: v.string() }) })
const recordsSchema = v.looseObject({
  domain_records: v.array(
    v.looseObject({ id: v.number(), type: v.string(), name: v.string(), data: v.string() }),
  ),
  links: v.optional(v.looseObject({ pages: v.optional(v.looseObject({ next: v.optional(v.string()) })) })),
})
const createdSchema = v.looseObject({ domain_record: v.looseObject({ id: v.number() }) })

/**
 * Creates a DigitalOcean adapter. Zones are found with `GET /v2/domains/<candidate>`, walking up the labels.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { digitalOceanAdapter } from 'webacme/dns/digitalocean'
 *
 * declare const env: { DIGITALOCEAN_TOKEN: string }
 * const solver = dns01Solver({ adapter: digitalOceanAdapter({ token: env.DIGITALOCEAN_TOKEN }), resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function digitalOceanAdapter(options: DigitalOceanAdapterOptions): DnsAdapter {
  if (!options?.token) throw new InvalidArgumentError('digitalOceanAdapter needs a token')
  const base = `${(options.baseUrl ?? 'https://api.digitalocean.com').replace(/\/+$/, '')}/v2`
  const ttl = Math.max(30, options.ttl ?? 30)
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: () => ({ authorization: `Bearer ${options.token}`, accept: 'application/json' }),
    toError,
  })

  const findZone = options.domain
    ? async () => canonicalName(options.domain!)
    : zoneFinder(PROVIDER, async (candidate) => {
        try {
          const body = await http.json(
            { method: 'GET', url: `${base}/domains/${encodeURIComponent(candidate)}` },
            domainSchema,
          )
          return body.domain.name.toLowerCase()
        } catch (err) {
          if (err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND') return undefined
          throw err
        }
      })

  /** Records of `fqdn` carrying `value`, across pages (the `name` filter takes the full name). */
  const matching = async (zone: string, fqdn: string, value: string, signal: AbortSignalLike | undefined) => {
    const found: number[] = []
    const relative = relativeName(fqdn, zone) || '@'
    for (let page = 1; page <= 1000; page++) {
      const url = `${base}/domains/${encodeURIComponent(zone)}/records?type=TXT&name=${encodeURIComponent(fqdn)}&page=${page}&per_page=${PER_PAGE}`
      const body = await http.json({ method: 'GET', url, signal }, recordsSchema)
      for (const record of body.domain_records) {
        // Names come back relative to the domain (`_acme-challenge`, `@` for the apex).
        // `data` is the bare text; tolerate a quoted one (records made by hand in presentation format).
        const data = record.data.startsWith('"') ? parseTxt(record.data) : record.data
        if (record.type === 'TXT' && record.name.toLowerCase() === relative && data === value)
          found.push(record.id)
      }
      if (!body.links?.pages?.next || body.domain_records.length === 0) break
    }
    return found
  }

  return recordPerValueAdapter(PROVIDER, {
    findZone,
    matching,
    async create(zone, fqdn, value) {
      await http.json(
        {
          method: 'POST',
          url: `${base}/domains/${encodeURIComponent(zone)}/records`,
          json: { type: 'TXT', name: relativeName(fqdn, zone) || '@', data: value, ttl },
        },
        createdSchema,
      )
    },
    async delete(zone, id) {
      await http.request({
        method: 'DELETE',
        url: `${base}/domains/${encodeURIComponent(zone)}/records/${id}`,
      })
    },
  })
}

/**
 * DigitalOcean answers `{ "id": "not_found", "message": "..." }`; a 429 carries `ratelimit-reset` (Unix
 * seconds) and, for the burst limit, `retry-after`.
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { id?: unknown; message?: unknown } | undefined
  const id = typeof body?.id === 'string' ? body.id : undefined
  const message = typeof body?.message === 'string' ? body.message : undefined
  const reset = Number(res.headers.get('ratelimit-reset'))
  const retryAfter =
    res.status === 429 && !res.headers.has('retry-after') && Number.isFinite(reset) && reset > 0
      ? new Date(reset * 1000)
      : undefined
  return responseError(PROVIDER, res, {
    ...(message !== undefined && { message: id ? `${id}: ${message}` : message }),
    providerCode: id,
    ...(retryAfter && { retryAfter }),
  })
}
