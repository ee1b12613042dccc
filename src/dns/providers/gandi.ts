/**
 * dns-01 adapter for Gandi LiveDNS (API v5, `https://api.gandi.net/v5/livedns`), authorized with a personal
 * access token (`Authorization: Bearer`) or a legacy API key (`Authorization: Apikey`). A value is added by reading
 * the name's TXT record set and `PUT`ting the merged set back; the last value removed deletes the set. LiveDNS
 * has no conditional writes, so writes to one name are serialized within the adapter.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/gandi.ts), not against Gandi.
 *
 * @see {@link https://api.gandi.net/docs/livedns/ Gandi LiveDNS API}
 * @see {@link https://api.gandi.net/docs/authentication/ Gandi API authentication}
 *
 * @module webacme/dns/gandi
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

/** Options of {@link gandiAdapter}. */
export interface GandiAdapterOptions extends ProviderHttpOptions {
  /** A personal access token with the "Manage domain name technical configurations" permission. */
  personalAccessToken?: string
  /** A legacy API key (deprecated by Gandi), when there is no personal access token. */
  apiKey?: string
  /** The domain (zone) to write to, e.g. `example.com`, skipping discovery. */
  domain?: string
  /** API base (default `https://api.gandi.net`). */
  baseUrl?: string
  /** TTL of a new TXT set (default 300, LiveDNS's minimum). An existing set keeps its TTL. */
  ttl?: number
}

const PROVIDER = 'gandi'
const MIN_TTL = 300

const PER_PAGE = 100

const domainsSchema = v.array(v.looseObject({ fqdn: v.string() }))
const rrsetSchema = v.looseObject({
  rrset_ttl: v.optional(v.number()),
  rrset_values: v.array(v.string()),
})

/**
 * Creates a Gandi LiveDNS adapter. Zones are found by listing the account's LiveDNS domains once
 * (`GET /v5/livedns/domains`), then walking up the labels of each name.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { gandiAdapter } from 'webacme/dns/gandi'
 *
 * declare const env: { GANDIV5_PERSONAL_ACCESS_TOKEN: string }
 * const adapter = gandiAdapter({ personalAccessToken: env.GANDIV5_PERSONAL_ACCESS_TOKEN })
 * const solver = dns01Solver({ adapter, resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function gandiAdapter(options: GandiAdapterOptions): DnsAdapter {
  if (!options?.personalAccessToken && !options?.apiKey) {
    throw new InvalidArgumentError('gandiAdapter needs a personalAccessToken (or a legacy apiKey)')
  }
  const base = `${(options.baseUrl ?? 'https://api.gandi.net').replace(/\/+$/, '')}/v5/livedns`
  const ttl = Math.max(MIN_TTL, options.ttl ?? MIN_TTL)
  const authorization = options.personalAccessToken
    ? `Bearer ${options.personalAccessToken}`
    : `Apikey ${options.apiKey}`
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: () => ({ authorization, accept: 'application/json' }),
    toError,
  })
  const queue = keyedQueue()

  /** The account's LiveDNS domains, listed once across pages (`page`, `per_page`). */
  const listDomains = async (): Promise<Set<string>> => {
    const domains = new Set<string>()
    for (let page = 1; page <= 1000; page++) {
      const url = `${base}/domains?page=${page}&per_page=${PER_PAGE}`
      const body = await http.json({ method: 'GET', url }, domainsSchema)
      for (const domain of body) domains.add(domain.fqdn.toLowerCase())
      if (body.length < PER_PAGE) break
    }
    return domains
  }
  let domainList: Promise<Set<string>> | undefined
  const domains = () => {
    domainList ??= listDomains()
    domainList.catch(() => {
      domainList = undefined // a failed listing is asked again next time
    })
    return domainList
  }

  const findZone = options.domain
    ? async () => canonicalName(options.domain!)
    : zoneFinder(PROVIDER, async (candidate) => ((await domains()).has(candidate) ? candidate : undefined))

  const setUrl = (zone: string, fqdn: string) =>
    `${base}/domains/${encodeURIComponent(zone)}/records/${encodeURIComponent(relativeName(fqdn, zone) || '@')}/TXT`

  const readSet = async (url: string, signal: AbortSignalLike | undefined) => {
    try {
      return await http.json({ method: 'GET', url, signal }, rrsetSchema)
    } catch (err) {
      if (err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND') return undefined
      throw err
    }
  }

  const update = async (
    name: string,
    signal: AbortSignalLike | undefined,
    edit: (values: string[]) => string[] | undefined,
  ) => {
    const fqdn = canonicalName(name)
    const zone = await findZone(fqdn, signal)
    const url = setUrl(zone, fqdn)
    await queue(
      fqdn,
      async () => {
        const current = await readSet(url, signal)
        const next = edit(current?.rrset_values ?? [])
        if (!next) return
        if (next.length === 0) {
          try {
            await http.request({ method: 'DELETE', url, signal })
          } catch (err) {
            if (!(err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND')) throw err
          }
          return
        }
        await http.json(
          {
            method: 'PUT',
            url,
            json: { rrset_ttl: Math.max(MIN_TTL, current?.rrset_ttl ?? ttl), rrset_values: next },
            signal,
          },
          v.unknown(),
        )
      },
      signal,
    )
  }

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      // LiveDNS keeps TXT values in presentation format (`"..."`); it quotes bare ones itself.
      await update(name, call.signal, (values) =>
        values.some((d) => parseTxt(d) === value) ? undefined : [...values, quoteTxt(value)],
      )
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(name, call.signal, (values) => {
        const rest = values.filter((d) => parseTxt(d) !== value)
        return rest.length === values.length ? undefined : rest
      })
    },
  }
}

/**
 * LiveDNS answers `{"code": 404, "message": "...", "object": "HTTPNotFound", "cause": "Not Found"}`; a
 * validation failure adds `errors: [{location, name, description}]`.
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as
    | {
        message?: unknown
        object?: unknown
        cause?: unknown
        errors?: Array<{ name?: unknown; description?: unknown }>
      }
    | undefined
  const object = typeof body?.object === 'string' ? body.object : undefined
  const message = typeof body?.message === 'string' ? body.message : undefined
  const details = Array.isArray(body?.errors)
    ? body.errors
        .map((e) => [e?.name, e?.description].filter((x) => typeof x === 'string').join(': '))
        .filter(Boolean)
        .join('; ')
    : ''
  return responseError(PROVIDER, res, {
    ...(message !== undefined && { message: details ? `${message} (${details})` : message }),
    providerCode: object,
  })
}
