/**
 * dns-01 adapter for Cloudflare DNS (API v4). Cloudflare keeps one record per TXT value, so a value is added
 * with one `POST .../dns_records` and removed by deleting exactly the records that carry it; other values at
 * the name are never touched.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/cloudflare.ts), not against
 * Cloudflare.
 *
 * @see {@link https://developers.cloudflare.com/api/resources/dns/subresources/records/ Cloudflare DNS records API}
 *
 * @module webacme/dns/cloudflare
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { parseTxt, quoteTxt } from '../txt.ts'
import { zoneFinder } from '../zone.ts'
import { codeForStatus, jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'
import { recordPerValueAdapter } from './record-per-value.ts'

/** Options of {@link cloudflareAdapter}. */
export interface CloudflareAdapterOptions extends ProviderHttpOptions {
  /** An API token with `Zone:Read` and `DNS:Edit` on the zones concerned. */
  apiToken: string
  /** The zone id to write to, skipping discovery. */
  zoneId?: string
  /** API base (default `https://api.cloudflare.com/client/v4`). */
  baseUrl?: string
  /** TTL of created records in seconds (default 60; 1 means "automatic"). */
  ttl?: number
}

const PROVIDER = 'cloudflare'
const PER_PAGE = 100

const envelope = <T extends v.GenericSchema>(result: T) =>
  v.looseObject({
    success: v.literal(true),
    result,
    result_info: v.optional(
      v.looseObject({ page: v.optional(v.number()), total_pages: v.optional(v.number()) }),
    ),
  })
const zonesSchema = envelope(v.array(v.looseObject({ id: v.string(), name: v.string() })))
const recordsSchema = envelope(
  v.array(v.looseObject({ id: v.string(), name: v.string(), type: v.string(), content: v.string() })),
)
const recordSchema = envelope(v.looseObject({ id: v.string() }))

/**
 * Creates a Cloudflare adapter. Zones are found with `GET /zones?name=<candidate>`, walking up the labels.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { cloudflareAdapter } from 'webacme/dns/cloudflare'
 *
 * declare const env: { CLOUDFLARE_API_TOKEN: string }
 * const solver = dns01Solver({
 *   adapter: cloudflareAdapter({ apiToken: env.CLOUDFLARE_API_TOKEN }),
 *   resolver: dohResolver(),
 * })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function cloudflareAdapter(options: CloudflareAdapterOptions): DnsAdapter {
  if (!options?.apiToken) throw new InvalidArgumentError('cloudflareAdapter needs an apiToken')
  const base = (options.baseUrl ?? 'https://api.cloudflare.com/client/v4').replace(/\/+$/, '')
  const ttl = options.ttl ?? 60
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: () => ({ authorization: `Bearer ${options.apiToken}`, accept: 'application/json' }),
    toError,
  })

  const findZone = options.zoneId
    ? async () => options.zoneId!
    : zoneFinder(PROVIDER, async (candidate) => {
        const url = `${base}/zones?name=${encodeURIComponent(candidate)}&per_page=50`
        const body = await http.json({ method: 'GET', url }, zonesSchema)
        return body.result.find((z) => z.name.toLowerCase() === candidate)?.id
      })

  /** Every TXT record at `name`, across pages. */
  const list = async (zoneId: string, name: string, signal: AbortSignalLike | undefined) => {
    const records: v.InferOutput<typeof recordsSchema>['result'] = []
    for (let page = 1; ; page++) {
      const url = `${base}/zones/${encodeURIComponent(zoneId)}/dns_records?type=TXT&name=${encodeURIComponent(name)}&page=${page}&per_page=${PER_PAGE}`
      const body = await http.json({ method: 'GET', url, signal }, recordsSchema)
      records.push(...body.result.filter((r) => r.type === 'TXT' && r.name.toLowerCase() === name))
      const pages = body.result_info?.total_pages ?? 1
      if (page >= pages || body.result.length === 0) return records
    }
  }
  /** Ids of the TXT records at `fqdn` that carry `value`. */
  const matching = async (zoneId: string, fqdn: string, value: string, signal: AbortSignalLike | undefined) =>
    (await list(zoneId, fqdn, signal)).filter((r) => parseTxt(r.content) === value).map((r) => r.id)

  return recordPerValueAdapter(PROVIDER, {
    findZone,
    matching,
    async create(zoneId, fqdn, value) {
      try {
        await http.json(
          {
            method: 'POST',
            url: `${base}/zones/${encodeURIComponent(zoneId)}/dns_records`,
            json: { type: 'TXT', name: fqdn, content: quoteTxt(value), ttl, comment: 'webacme dns-01' },
          },
          recordSchema,
        )
      } catch (err) {
        // 81057 "Record already exists." / 81058 "An identical record already exists.": fine when it is
        // this very value (published meanwhile by someone else); anything else is a real conflict.
        const exists = err instanceof DnsProviderError && ['81057', '81058'].includes(err.providerCode ?? '')
        if (!exists || (await matching(zoneId, fqdn, value, undefined)).length === 0) throw err
      }
    },
    async delete(zoneId, id) {
      await http.request({
        method: 'DELETE',
        url: `${base}/zones/${encodeURIComponent(zoneId)}/dns_records/${encodeURIComponent(id)}`,
      })
    },
  })
}

// Cloudflare error codes (https://developers.cloudflare.com/api/ and the DNS records docs).
const AUTH_CODES = new Set([6003, 6111, 9103, 9106, 9109, 10000, 10001])
const RATE_CODES = new Set([971, 10100])
const CONFLICT_CODES = new Set([81053, 81054, 81057, 81058])
const NOT_FOUND_CODES = new Set([7003, 81044, 1001])

/** Cloudflare answers `{ "success": false, "errors": [{ "code": 81058, "message": "..." }], ... }`. */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { errors?: Array<{ code?: unknown; message?: unknown }> } | undefined
  const errors = Array.isArray(body?.errors) ? body.errors : []
  const first = errors.find((e) => typeof e?.code === 'number')
  const code = typeof first?.code === 'number' ? first.code : undefined
  const message = errors
    .map((e) =>
      `${typeof e?.code === 'number' ? `${e.code} ` : ''}${typeof e?.message === 'string' ? e.message : ''}`.trim(),
    )
    .filter(Boolean)
    .join('; ')
  const mapped =
    res.status === 429 || (code !== undefined && RATE_CODES.has(code))
      ? 'ERR_DNS_RATE_LIMITED'
      : code !== undefined && AUTH_CODES.has(code)
        ? 'ERR_DNS_AUTH'
        : code !== undefined && CONFLICT_CODES.has(code)
          ? 'ERR_DNS_CONFLICT'
          : code !== undefined && NOT_FOUND_CODES.has(code)
            ? 'ERR_DNS_NOT_FOUND'
            : codeForStatus(res.status)
  return responseError(PROVIDER, res, {
    code: mapped,
    ...(message && { message }),
    providerCode: code === undefined ? undefined : String(code),
  })
}
