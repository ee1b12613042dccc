/**
 * dns-01 adapter for Azure DNS (Azure Resource Manager REST API, `Microsoft.Network/dnsZones`, api-version
 * 2018-05-01), authorized as a service principal: an OAuth 2.0 client-credentials token from Microsoft Entra ID
 * (RFC 6749 §4.4), cached until shortly before it expires. A value is added by reading the TXT record set and
 * `PUT`ting the merged set back with `If-Match: <etag>` (or `If-None-Match: *` for a new set), so a change made
 * meanwhile by someone else is a 412 that makes the adapter read again instead of overwriting it. The last value
 * removed deletes the set, again under `If-Match`.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/azure.ts), not against Azure.
 *
 * @see {@link https://learn.microsoft.com/en-us/rest/api/dns/record-sets/create-or-update Azure DNS: Record Sets - Create Or Update}
 * @see {@link https://learn.microsoft.com/en-us/entra/identity-platform/v2-oauth2-client-creds-grant-flow Microsoft identity platform: client credentials flow}
 *
 * @module webacme/dns/azure
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { canonicalName, relativeName, zoneFinder } from '../zone.ts'
import {
  codeForStatus,
  jsonBody,
  type ProviderResponse,
  providerClient,
  rereadOnConflict,
  responseError,
} from './http.ts'
import type { ProviderHttpOptions } from './options.ts'

/** Options of {@link azureDnsAdapter}. */
export interface AzureDnsAdapterOptions extends ProviderHttpOptions {
  /** Directory (tenant) id of the service principal. */
  tenantId?: string
  /** Application (client) id of the service principal. */
  clientId?: string
  /** A client secret of the service principal (it needs the "DNS Zone Contributor" role on the zone). */
  clientSecret?: string
  /** Instead of a service principal: returns a valid ARM access token (managed identity, workload identity). */
  accessToken?: (signal?: AbortSignalLike) => Promise<string>
  /** The subscription that holds the zones. */
  subscriptionId: string
  /** The resource group of the zones (default: every zone of the subscription is considered). */
  resourceGroup?: string
  /** The zone to write to, e.g. `example.com`, skipping discovery (needs `resourceGroup`). */
  zone?: string
  /** Resource Manager endpoint (default `https://management.azure.com`; sovereign clouds differ). */
  resourceManager?: string
  /** Entra ID authority (default `https://login.microsoftonline.com`). */
  authority?: string
  /** TTL of a new TXT set (default 60). An existing set keeps its TTL. */
  ttl?: number
}

const PROVIDER = 'azure'
const API_VERSION = '2018-05-01'
/** Azure takes TXT strings of at most 255 characters in one record's `value` list; longer text is split. */
const MAX_STRING = 255

const tokenSchema = v.looseObject({ access_token: v.string(), expires_in: v.optional(v.number()) })
const zonesSchema = v.looseObject({
  value: v.array(v.looseObject({ id: v.string(), name: v.string() })),
  nextLink: v.optional(v.nullable(v.string())),
})
const recordSetSchema = v.looseObject({
  etag: v.optional(v.string()),
  properties: v.looseObject({
    TTL: v.optional(v.number()),
    TXTRecords: v.optional(v.array(v.looseObject({ value: v.array(v.string()) })), []),
  }),
})

interface Zone {
  name: string
  resourceGroup: string
}

interface TxtSet {
  etag: string | undefined
  ttl: number
  /** The text of each TXT record (its strings joined). */
  values: string[]
}

/**
 * Creates an Azure DNS adapter. Zones are found by listing the DNS zones of the resource group (or of the whole
 * subscription) once, then walking up the labels of each name.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { azureDnsAdapter } from 'webacme/dns/azure'
 *
 * declare const env: Record<'AZURE_TENANT_ID' | 'AZURE_CLIENT_ID' | 'AZURE_CLIENT_SECRET' | 'AZURE_SUBSCRIPTION_ID', string>
 * const adapter = azureDnsAdapter({
 *   tenantId: env.AZURE_TENANT_ID,
 *   clientId: env.AZURE_CLIENT_ID,
 *   clientSecret: env.AZURE_CLIENT_SECRET,
 *   subscriptionId: env.AZURE_SUBSCRIPTION_ID,
 *   resourceGroup: 'dns',
 * })
 * const solver = dns01Solver({ adapter, resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function azureDnsAdapter(options: AzureDnsAdapterOptions): DnsAdapter {
  if (!options?.subscriptionId) throw new InvalidArgumentError('azureDnsAdapter needs a subscriptionId')
  if (!options.accessToken && !(options.tenantId && options.clientId && options.clientSecret)) {
    throw new InvalidArgumentError(
      'azureDnsAdapter needs tenantId, clientId and clientSecret, or an accessToken function',
    )
  }
  if (options.zone && !options.resourceGroup) {
    throw new InvalidArgumentError('azureDnsAdapter: a given zone needs its resourceGroup')
  }
  const arm = (options.resourceManager ?? 'https://management.azure.com').replace(/\/+$/, '')
  const subscription = `${arm}/subscriptions/${encodeURIComponent(options.subscriptionId)}`
  const ttl = options.ttl ?? 60
  const credentials = options.accessToken ? undefined : clientCredentials(options, `${arm}/.default`)
  const accessToken = options.accessToken ?? credentials!.getToken
  const client = providerClient({
    provider: PROVIDER,
    options,
    authorize: async (call) => ({
      authorization: `Bearer ${await accessToken(call.signal)}`,
      accept: 'application/json',
    }),
    toError,
  })
  /**
   * A 401 means ARM refused the token before doing anything (revoked, rotated secret, clock skew): with a
   * client secret, the cached token is dropped and the call sent once more with a fresh one.
   */
  const retryingAuth =
    <A extends unknown[], R>(send: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await send(...args)
      } catch (err) {
        if (!credentials || !(err instanceof DnsProviderError) || err.status !== 401) throw err
        credentials.forget()
        return send(...args)
      }
    }
  const http = { json: retryingAuth(client.json), request: retryingAuth(client.request) }
  const queue = keyedQueue()

  /** Every zone of the scope, across `nextLink` pages. Only links on the Resource Manager origin are followed. */
  const listZones = async (): Promise<Map<string, Zone>> => {
    const scope = options.resourceGroup
      ? `${subscription}/resourceGroups/${encodeURIComponent(options.resourceGroup)}`
      : subscription
    let url: string | undefined = `${scope}/providers/Microsoft.Network/dnszones?api-version=${API_VERSION}`
    const zones = new Map<string, Zone>()
    for (let page = 0; url && page < 1000; page++) {
      const body: v.InferOutput<typeof zonesSchema> = await http.json({ method: 'GET', url }, zonesSchema)
      for (const zone of body.value) {
        const group = /\/resourceGroups\/([^/]+)\//i.exec(zone.id)?.[1]
        if (group) zones.set(zone.name.toLowerCase(), { name: zone.name.toLowerCase(), resourceGroup: group })
      }
      url = body.nextLink ?? undefined
      if (url && new URL(url).origin !== new URL(arm).origin) {
        throw new DnsProviderError('ERR_DNS_PROVIDER', `azure: refusing a nextLink off ${arm}: ${url}`, {
          provider: PROVIDER,
        })
      }
    }
    return zones
  }
  let zoneList: Promise<Map<string, Zone>> | undefined
  const zones = () => {
    zoneList ??= listZones()
    zoneList.catch(() => {
      zoneList = undefined // a failed listing is asked again next time
    })
    return zoneList
  }

  const findZone = options.zone
    ? async () => ({ name: canonicalName(options.zone!), resourceGroup: options.resourceGroup! })
    : zoneFinder(PROVIDER, async (candidate) => (await zones()).get(candidate))

  const recordUrl = (zone: Zone, fqdn: string) =>
    `${subscription}/resourceGroups/${encodeURIComponent(zone.resourceGroup)}/providers/Microsoft.Network/dnsZones/${encodeURIComponent(zone.name)}/TXT/${encodeURIComponent(relativeName(fqdn, zone.name) || '@')}?api-version=${API_VERSION}`

  const readSet = async (url: string, signal: AbortSignalLike | undefined): Promise<TxtSet | undefined> => {
    try {
      const body = await http.json({ method: 'GET', url, signal }, recordSetSchema)
      return {
        etag: body.etag,
        ttl: body.properties.TTL ?? ttl,
        values: body.properties.TXTRecords.map((r) => r.value.join('')),
      }
    } catch (err) {
      // Only a missing record set is "empty"; a missing zone or resource group stays an error.
      if (err instanceof DnsProviderError && err.status === 404 && err.providerCode === 'NotFound')
        return undefined
      throw err
    }
  }

  /** Read-modify-write under the set's etag; read again when the set moved meanwhile (412). */
  const update = async (
    name: string,
    signal: AbortSignalLike | undefined,
    edit: (values: string[]) => string[] | undefined,
  ) => {
    const fqdn = canonicalName(name)
    const zone = await findZone(fqdn, signal)
    const url = recordUrl(zone, fqdn)
    await queue(
      fqdn,
      () =>
        rereadOnConflict(async () => {
          const current = await readSet(url, signal)
          const next = edit(current?.values ?? [])
          if (!next) return
          const condition: Record<string, string> = current?.etag
            ? { 'if-match': current.etag }
            : current
              ? {}
              : { 'if-none-match': '*' }
          if (next.length === 0) {
            await http.request({ method: 'DELETE', url, headers: condition, signal })
            return
          }
          const body = {
            properties: {
              TTL: current?.ttl ?? ttl,
              TXTRecords: next.map((text) => ({ value: split(text) })),
            },
          }
          await http.request({
            method: 'PUT',
            url,
            headers: { ...condition, 'content-type': 'application/json' },
            body: JSON.stringify(body),
            signal,
          })
        }),
      signal,
    )
  }

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(name, call.signal, (values) => (values.includes(value) ? undefined : [...values, value]))
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(name, call.signal, (values) =>
        values.includes(value) ? values.filter((v) => v !== value) : undefined,
      )
    },
  }
}

/** `text` as the strings of one TXT record, each at most {@link MAX_STRING} characters. */
function split(text: string): string[] {
  const strings: string[] = []
  for (let at = 0; at < text.length || strings.length === 0; at += MAX_STRING) {
    strings.push(text.slice(at, at + MAX_STRING))
  }
  return strings
}

/**
 * The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) against the Entra ID v2.0 token endpoint. The token is
 * kept until a minute before `expires_in` runs out; concurrent callers share one exchange.
 */
function clientCredentials(
  options: AzureDnsAdapterOptions,
  scope: string,
): { getToken: (signal?: AbortSignalLike) => Promise<string>; forget: () => void } {
  const authority = (options.authority ?? 'https://login.microsoftonline.com').replace(/\/+$/, '')
  const url = `${authority}/${encodeURIComponent(options.tenantId!)}/oauth2/v2.0/token`
  const http = providerClient({ provider: PROVIDER, options, toError: tokenError })
  let cached: { token: string; expires: number } | undefined
  let pending: Promise<string> | undefined
  const exchange = async (signal: AbortSignalLike | undefined) => {
    const started = Date.now()
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: options.clientId!,
      client_secret: options.clientSecret!,
      scope,
    })
    const token = await http.json(
      {
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
        signal,
      },
      tokenSchema,
    )
    cached = { token: token.access_token, expires: started + (token.expires_in ?? 3600) * 1000 - 60_000 }
    return token.access_token
  }
  return {
    getToken(signal) {
      if (cached && Date.now() < cached.expires) return Promise.resolve(cached.token)
      pending ??= exchange(signal).finally(() => {
        pending = undefined
      })
      return pending
    },
    forget() {
      cached = undefined
    },
  }
}

/** Entra ID answers `{"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret ..."}`. */
function tokenError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { error?: unknown; error_description?: unknown } | undefined
  const error = typeof body?.error === 'string' ? body.error : undefined
  const description = typeof body?.error_description === 'string' ? body.error_description : undefined
  const auth =
    error === 'invalid_client' ||
    error === 'unauthorized_client' ||
    error === 'invalid_grant' ||
    /^AADSTS90002\b/.test(description ?? '') // tenant not found
  return responseError(PROVIDER, res, {
    ...(auth && { code: 'ERR_DNS_AUTH' as const }),
    ...(error !== undefined && { message: `${error}${description ? `: ${description}` : ''}` }),
    providerCode: error,
  })
}

const AUTH = new Set([
  'InvalidAuthenticationToken',
  'ExpiredAuthenticationToken',
  'AuthenticationFailed',
  'AuthorizationFailed',
  'InvalidAuthenticationTokenTenant',
  'LinkedAuthorizationFailed',
])

/**
 * Resource Manager errors are `{"error": {"code": "PreconditionFailed", "message": "..."}}`; throttling is a 429
 * with `Retry-After`.
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { error?: { code?: unknown; message?: unknown } } | undefined
  const code = typeof body?.error?.code === 'string' ? body.error.code : undefined
  const message = typeof body?.error?.message === 'string' ? body.error.message : undefined
  const mapped =
    res.status === 429 || code === 'TooManyRequests'
      ? 'ERR_DNS_RATE_LIMITED'
      : code && AUTH.has(code)
        ? 'ERR_DNS_AUTH'
        : code === 'PreconditionFailed'
          ? 'ERR_DNS_CONFLICT'
          : codeForStatus(res.status)
  return responseError(PROVIDER, res, {
    code: mapped,
    ...(message !== undefined && { message: code ? `${code}: ${message}` : message }),
    providerCode: code,
  })
}
