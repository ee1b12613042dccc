/**
 * dns-01 adapter for Hetzner DNS through the Hetzner Cloud API (`api.hetzner.cloud/v1`, zones and RRSets; the
 * older `dns.hetzner.com` API is shut down). A value is added with the RRSet action `add_records` and removed
 * with `remove_records`, so other values at the name are never rewritten; both actions run asynchronously and
 * the adapter waits for each to finish (`GET /zones/actions/{id}`) before it resolves.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/hetzner.ts), not against Hetzner.
 *
 * @see {@link https://docs.hetzner.cloud/reference/cloud#zone-rrsets Hetzner Cloud API: Zone RRSets}
 * @see {@link https://docs.hetzner.cloud/reference/cloud#zone-rrset-actions Hetzner Cloud API: Zone RRSet Actions}
 *
 * @module webacme/dns/hetzner
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import { sleep } from '../../lib/abort.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { parseTxt, quoteTxt } from '../txt.ts'
import { canonicalName, relativeName, zoneFinder } from '../zone.ts'
import { codeForStatus, jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'

/** Options of {@link hetznerAdapter}. */
export interface HetznerAdapterOptions extends ProviderHttpOptions {
  /** A Hetzner Cloud API token (Console → project → Security → API tokens) with read & write permission. */
  apiToken: string
  /** The zone (its id or name, e.g. `example.com`) to write to, skipping discovery. */
  zone?: string
  /** API base (default `https://api.hetzner.cloud/v1`). */
  baseUrl?: string
  /** TTL of an RRSet the adapter creates, in seconds (default 60). An existing RRSet keeps its TTL. */
  ttl?: number
  /** Milliseconds between two polls of a running action (default 500). */
  actionPollInterval?: number
  /** Most polls of one action before giving up with `ERR_DNS_PROVIDER` (default 240). */
  actionPolls?: number
}

const PROVIDER = 'hetzner'

const zonesSchema = v.looseObject({
  zones: v.array(v.looseObject({ name: v.string() })),
})
const rrsetSchema = v.looseObject({
  rrset: v.looseObject({
    type: v.string(),
    records: v.array(v.looseObject({ value: v.string() })),
  }),
})
const actionSchema = v.looseObject({
  action: v.looseObject({
    id: v.number(),
    status: v.picklist(['running', 'success', 'error']),
    error: v.nullish(v.looseObject({ code: v.optional(v.string()), message: v.optional(v.string()) })),
  }),
})
type Action = v.InferOutput<typeof actionSchema>['action']

/**
 * Creates a Hetzner adapter. Zones are found with `GET /zones?name=<candidate>`, walking up the labels; the
 * zone must be in primary mode (Hetzner refuses RRSet changes in secondary zones).
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { hetznerAdapter } from 'webacme/dns/hetzner'
 *
 * declare const env: { HETZNER_API_TOKEN: string }
 * const solver = dns01Solver({ adapter: hetznerAdapter({ apiToken: env.HETZNER_API_TOKEN }), resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function hetznerAdapter(options: HetznerAdapterOptions): DnsAdapter {
  if (!options?.apiToken) throw new InvalidArgumentError('hetznerAdapter needs an apiToken')
  const base = (options.baseUrl ?? 'https://api.hetzner.cloud/v1').replace(/\/+$/, '')
  const ttl = options.ttl ?? 60
  const pollInterval = Math.max(0, options.actionPollInterval ?? 500)
  const maxPolls = Math.max(1, options.actionPolls ?? 240)
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: () => ({ authorization: `Bearer ${options.apiToken}`, accept: 'application/json' }),
    toError,
  })
  const queue = keyedQueue()

  /** A zone given by id is looked up once for its name (RRSet names are relative to it). */
  let given: Promise<string> | undefined
  const givenZone = (zone: string, signal: AbortSignalLike | undefined): Promise<string> => {
    if (!/^\d+$/.test(zone)) return Promise.resolve(canonicalName(zone))
    if (!given) {
      const schema = v.looseObject({ zone: v.looseObject({ name: v.string() }) })
      given = http
        .json({ method: 'GET', url: `${base}/zones/${zone}`, signal }, schema)
        .then((body) => canonicalName(body.zone.name))
      given.catch(() => {
        given = undefined
      })
    }
    return given
  }

  /** The zone's name; the API takes a zone's id or its name wherever it wants a zone. */
  const findZone = options.zone
    ? (_: string, signal?: AbortSignalLike) => givenZone(options.zone!, signal)
    : zoneFinder(PROVIDER, async (candidate) => {
        const url = `${base}/zones?name=${encodeURIComponent(candidate)}`
        try {
          const body = await http.json({ method: 'GET', url }, zonesSchema)
          return body.zones.find((z) => z.name.toLowerCase() === candidate)?.name.toLowerCase()
        } catch (err) {
          // A candidate that cannot be a zone name (`_acme-challenge...`) may be refused as input: not a zone.
          if (err instanceof DnsProviderError && err.providerCode === 'invalid_input') return undefined
          throw err
        }
      })

  /** `/zones/{zone}/rrsets/{name}/TXT`; the RRSet name is relative to the zone, `@` at the apex. */
  const rrsetPath = (zone: string, fqdn: string) => {
    const rr = relativeName(fqdn, zone)
    return `${base}/zones/${encodeURIComponent(zone)}/rrsets/${rr ? encodeURIComponent(rr) : '@'}/TXT`
  }

  /** The record values of the TXT RRSet at the path, as stored (quoted); none when the RRSet does not exist. */
  const stored = async (path: string, signal: AbortSignalLike | undefined): Promise<string[] | undefined> => {
    try {
      const body = await http.json({ method: 'GET', url: path, signal }, rrsetSchema)
      return body.rrset.records.map((r) => r.value)
    } catch (err) {
      if (err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND') return undefined
      throw err
    }
  }

  /** Polls the action until it is no longer `running`; an action that ended in `error` is thrown. */
  const settle = async (action: Action, signal: AbortSignalLike | undefined): Promise<void> => {
    for (let poll = 0; action.status === 'running'; poll++) {
      if (poll >= maxPolls) {
        throw new DnsProviderError(
          'ERR_DNS_PROVIDER',
          `${PROVIDER}: action ${action.id} still running after ${maxPolls} polls`,
          { provider: PROVIDER, url: `${base}/zones/actions/${action.id}` },
        )
      }
      await sleep(pollInterval, signal)
      action = (
        await http.json({ method: 'GET', url: `${base}/zones/actions/${action.id}`, signal }, actionSchema)
      ).action
    }
    if (action.status === 'error') {
      const code = action.error?.code
      throw new DnsProviderError(
        'ERR_DNS_PROVIDER',
        `${PROVIDER}: action ${action.id} failed${code ? `: ${code}` : ''}${action.error?.message ? `: ${action.error.message}` : ''}`,
        { provider: PROVIDER, providerCode: code, url: `${base}/zones/actions/${action.id}` },
      )
    }
  }

  const act = async (
    path: string,
    name: 'add_records' | 'remove_records',
    json: unknown,
    signal: AbortSignalLike | undefined,
  ) => {
    const body = await http.json(
      { method: 'POST', url: `${path}/actions/${name}`, json, signal },
      actionSchema,
    )
    await settle(body.action, signal)
  }

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const fqdn = canonicalName(name)
      const path = rrsetPath(await findZone(fqdn, call.signal), fqdn)
      await queue(
        fqdn,
        async () => {
          const records = await stored(path, call.signal)
          if (records?.some((r) => parseTxt(r) === value)) return
          // TXT values are quoted character-strings of at most 255 bytes (Hetzner refuses bare text).
          await act(
            path,
            'add_records',
            {
              ...(records === undefined && { ttl }),
              records: [{ value: quoteTxt(value), comment: 'webacme dns-01' }],
            },
            call.signal,
          )
        },
        call.signal,
      )
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const fqdn = canonicalName(name)
      const path = rrsetPath(await findZone(fqdn, call.signal), fqdn)
      await queue(
        fqdn,
        async () => {
          // Removed as stored (the same text), so a value written by hand in another quoting goes too.
          const gone = (await stored(path, call.signal))?.filter((r) => parseTxt(r) === value) ?? []
          if (gone.length === 0) return
          try {
            await act(path, 'remove_records', { records: gone.map((r) => ({ value: r })) }, call.signal)
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
 * Hetzner answers `{ "error": { "code": "not_found", "message": "...", "details": {...} } }`; a 429
 * (`rate_limit_exceeded`) carries `RateLimit-Reset` (Unix seconds).
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { error?: { code?: unknown; message?: unknown } } | undefined
  const code = typeof body?.error?.code === 'string' ? body.error.code : undefined
  const message = typeof body?.error?.message === 'string' ? body.error.message : undefined
  const reset = Number(res.headers.get('ratelimit-reset'))
  const retryAfter =
    res.status === 429 && !res.headers.has('retry-after') && Number.isFinite(reset) && reset > 0
      ? new Date(reset * 1000)
      : undefined
  const mapped =
    code === 'rate_limit_exceeded'
      ? 'ERR_DNS_RATE_LIMITED'
      : code === 'unauthorized' || code === 'forbidden' || code === 'token_readonly'
        ? 'ERR_DNS_AUTH'
        : code === 'not_found'
          ? 'ERR_DNS_NOT_FOUND'
          : code === 'conflict' || code === 'uniqueness_error' || code === 'locked'
            ? 'ERR_DNS_CONFLICT'
            : codeForStatus(res.status)
  return responseError(PROVIDER, res, {
    code: mapped,
    ...(message !== undefined && { message: code ? `${code}: ${message}` : message }),
    providerCode: code,
    ...(retryAfter && { retryAfter }),
  })
}
