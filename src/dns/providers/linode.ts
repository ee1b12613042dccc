/**
 * dns-01 adapter for Linode (Akamai) DNS Manager (API v4, domains and domain records). Linode keeps one record
 * per TXT value: a value is added with one `POST /v4/domains/{id}/records` and removed by deleting exactly the
 * records that carry it. Linode publishes zone changes to its name servers every few minutes (up to a quarter
 * of an hour), so pair the adapter with a propagation check (`dohResolver()`) and patience.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/linode.ts), not against Linode.
 *
 * @see {@link https://techdocs.akamai.com/linode-api/reference/post-domain-record Linode API: create a domain record}
 *
 * @module webacme/dns/linode
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter } from '../adapter.ts'
import type { DnsProviderError } from '../errors.ts'
import { relativeName, zoneFinder } from '../zone.ts'
import { jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'
import { recordPerValueAdapter } from './record-per-value.ts'

/** Options of {@link linodeAdapter}. */
export interface LinodeAdapterOptions extends ProviderHttpOptions {
  /** A personal access token with the `domains:read_write` scope. */
  token: string
  /** API base (default `https://api.linode.com`). */
  baseUrl?: string
  /**
   * TTL of created records (default 300). Linode takes 30, 120, 300, 3600, 7200, ... and rounds any other
   * value up to the next of those; the adapter does the same before sending.
   */
  ttl?: number
}

const PROVIDER = 'linode'
const PAGE_SIZE = 500
/** The TTLs Linode keeps; any other is rounded up to the next one. */
const TTLS = [30, 120, 300, 3600, 7200, 14400, 28800, 57600, 86400, 172800, 345600, 604800, 1209600, 2419200]

const page = <T extends v.GenericSchema>(item: T) =>
  v.looseObject({ data: v.array(item), page: v.number(), pages: v.number(), results: v.optional(v.number()) })
const domainsSchema = page(
  v.looseObject({ id: v.number(), domain: v.string(), type: v.optional(v.string()) }),
)
const recordsSchema = page(
  v.looseObject({ id: v.number(), type: v.string(), name: v.string(), target: v.string() }),
)
const createdSchema = v.looseObject({ id: v.number() })

/**
 * Creates a Linode adapter. Zones are found by listing the account's domains once (`GET /v4/domains`, every
 * page), then walking up the labels of each name; only `master` domains can be written.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { linodeAdapter } from 'webacme/dns/linode'
 *
 * declare const env: { LINODE_TOKEN: string }
 * const solver = dns01Solver({ adapter: linodeAdapter({ token: env.LINODE_TOKEN }), resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function linodeAdapter(options: LinodeAdapterOptions): DnsAdapter {
  if (!options?.token) throw new InvalidArgumentError('linodeAdapter needs a token')
  const base = `${(options.baseUrl ?? 'https://api.linode.com').replace(/\/+$/, '')}/v4`
  const wanted = options.ttl ?? 300
  const ttl = TTLS.find((t) => t >= wanted) ?? TTLS[TTLS.length - 1]!
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: () => ({ authorization: `Bearer ${options.token}`, accept: 'application/json' }),
    toError,
  })

  /** Every item of a paged list (`page`, `pages`). */
  const all = async <T>(
    url: string,
    schema: v.GenericSchema<unknown, { data: T[]; pages: number }>,
    signal: AbortSignalLike | undefined,
  ): Promise<T[]> => {
    const items: T[] = []
    for (let n = 1; n <= 1000; n++) {
      const body = await http.json(
        { method: 'GET', url: `${url}?page=${n}&page_size=${PAGE_SIZE}`, signal },
        schema,
      )
      items.push(...body.data)
      if (n >= body.pages) break
    }
    return items
  }

  let domainList: Promise<Map<string, number>> | undefined
  const domains = () => {
    domainList ??= all(`${base}/domains`, domainsSchema, undefined).then(
      (list) => new Map(list.filter((d) => d.type !== 'slave').map((d) => [d.domain.toLowerCase(), d.id])),
    )
    domainList.catch(() => {
      domainList = undefined // a failed listing is asked again next time
    })
    return domainList
  }
  const findZone = zoneFinder(PROVIDER, async (candidate) => {
    const id = (await domains()).get(candidate)
    return id === undefined ? undefined : { name: candidate, id }
  })

  /** Ids of the TXT records at `fqdn` that carry `value`. */
  const matching = async (
    zone: { name: string; id: number },
    fqdn: string,
    value: string,
    signal?: AbortSignalLike,
  ) => {
    const relative = relativeName(fqdn, zone.name)
    const records = await all(`${base}/domains/${zone.id}/records`, recordsSchema, signal)
    return records
      .filter((r) => r.type === 'TXT' && r.name.toLowerCase() === relative && r.target === value)
      .map((r) => r.id)
  }

  return recordPerValueAdapter(PROVIDER, {
    findZone,
    matching,
    async create(zone, fqdn, value, signal) {
      await http.json(
        {
          method: 'POST',
          url: `${base}/domains/${zone.id}/records`,
          json: { type: 'TXT', name: relativeName(fqdn, zone.name), target: value, ttl_sec: ttl },
          signal,
        },
        createdSchema,
      )
    },
    async delete(zone, id, signal) {
      await http.request({ method: 'DELETE', url: `${base}/domains/${zone.id}/records/${id}`, signal })
    },
  })
}

/**
 * Linode answers `{"errors": [{"reason": "Invalid Token"}]}`, with `field` when a request field was refused; a
 * 429 carries `X-RateLimit-Reset` (Unix seconds) when it has no `Retry-After`.
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { errors?: Array<{ field?: unknown; reason?: unknown }> } | undefined
  const errors = Array.isArray(body?.errors) ? body.errors : []
  const message = errors
    .map((e) =>
      typeof e?.reason === 'string'
        ? typeof e.field === 'string'
          ? `${e.field}: ${e.reason}`
          : e.reason
        : '',
    )
    .filter(Boolean)
    .join('; ')
  const reset = Number(res.headers.get('x-ratelimit-reset'))
  const retryAfter =
    res.status === 429 && !res.headers.has('retry-after') && Number.isFinite(reset) && reset > 0
      ? new Date(reset * 1000)
      : undefined
  const first = errors[0]
  return responseError(PROVIDER, res, {
    ...(message && { message }),
    providerCode: typeof first?.field === 'string' ? first.field : undefined,
    ...(retryAfter && { retryAfter }),
  })
}
