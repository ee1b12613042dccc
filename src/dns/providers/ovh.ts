/**
 * dns-01 adapter for OVHcloud DNS (API 1.0, `/domain/zone/{zone}/record`). OVH keeps one record per TXT value:
 * a value is added with `POST .../record` and removed by deleting exactly the records that carry it, and each
 * change is published with `POST /domain/zone/{zone}/refresh`.
 *
 * Requests are signed the OVH way (application key, application secret, consumer key): `X-Ovh-Signature` is
 * `"$1$" + SHA1_HEX(AS + "+" + CK + "+" + METHOD + "+" + URL + "+" + BODY + "+" + TIMESTAMP)`, with the
 * timestamp taken from the server's clock (`GET /auth/time`, once). OAuth2 client credentials (a service
 * account's client id and secret) work instead of the three keys.
 *
 * Tested against a fixture that follows the documented API and checks every signature with its own code
 * (test/fixtures/dns/ovh.ts), not against OVH.
 *
 * @see {@link https://help.ovhcloud.com/csm/en-gb-api-getting-started-ovhcloud-api OVHcloud API: first steps (signing)}
 * @see {@link https://eu.api.ovh.com/console/?section=%2Fdomain&branch=v1 OVHcloud API console: /domain/zone}
 * @see {@link https://help.ovhcloud.com/csm/en-gb-api-authentication-service-account OVHcloud API: service accounts (OAuth2)}
 *
 * @module webacme/dns/ovh
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { parseTxt } from '../txt.ts'
import { canonicalName, relativeName, zoneFinder } from '../zone.ts'
import {
  codeForStatus,
  jsonBody,
  type ProviderCall,
  type ProviderResponse,
  providerClient,
  responseError,
} from './http.ts'
import type { ProviderHttpOptions } from './options.ts'
import { recordPerValueAdapter } from './record-per-value.ts'

/** The API regions OVH's own clients know by name, and their API bases. */
export const OVH_ENDPOINTS = {
  'ovh-eu': 'https://eu.api.ovh.com/1.0',
  'ovh-ca': 'https://ca.api.ovh.com/1.0',
  'ovh-us': 'https://api.us.ovhcloud.com/1.0',
  'kimsufi-eu': 'https://eu.api.kimsufi.com/1.0',
  'kimsufi-ca': 'https://ca.api.kimsufi.com/1.0',
  'soyoustart-eu': 'https://eu.api.soyoustart.com/1.0',
  'soyoustart-ca': 'https://ca.api.soyoustart.com/1.0',
} as const

/** The OAuth2 token endpoints of the regions that have one. */
const TOKEN_URLS: Record<string, string> = {
  'ovh-eu': 'https://www.ovh.com/auth/oauth2/token',
  'ovh-ca': 'https://ca.ovh.com/auth/oauth2/token',
  'ovh-us': 'https://us.ovhcloud.com/auth/oauth2/token',
}

/** Signed-request credentials: an application and a consumer key granted `/domain/zone/*`. */
export interface OvhApplicationCredentials {
  applicationKey: string
  applicationSecret: string
  consumerKey: string
}

/** OAuth2 client credentials of an OVH service account. */
export interface OvhOAuth2Credentials {
  clientId: string
  clientSecret: string
  /** Token endpoint; default the region's (`https://www.ovh.com/auth/oauth2/token` for `ovh-eu`). */
  tokenUrl?: string
}

/** Options of {@link ovhAdapter}. */
export interface OvhAdapterOptions extends ProviderHttpOptions {
  /** `ovh-eu`, `ovh-ca`, `ovh-us` (see {@link OVH_ENDPOINTS}) or an API base URL such as `https://eu.api.ovh.com/1.0`. */
  endpoint: keyof typeof OVH_ENDPOINTS | (string & {})
  /** Application key, secret and consumer key, or OAuth2 client credentials. */
  credentials: OvhApplicationCredentials | OvhOAuth2Credentials
  /** The zone to write to, e.g. `example.com`, skipping discovery. */
  zone?: string
  /** TTL of created records in seconds (default 60). */
  ttl?: number
}

const PROVIDER = 'ovh'

const zoneSchema = v.looseObject({ name: v.string() })
const idsSchema = v.array(v.number())
const recordSchema = v.looseObject({
  id: v.number(),
  fieldType: v.string(),
  subDomain: v.string(),
  target: v.string(),
})
const tokenSchema = v.looseObject({ access_token: v.string(), expires_in: v.optional(v.number()) })

/**
 * Creates an OVH adapter. Zones are found with `GET /domain/zone/<candidate>`, walking up the labels.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { ovhAdapter } from 'webacme/dns/ovh'
 *
 * declare const env: { OVH_APPLICATION_KEY: string; OVH_APPLICATION_SECRET: string; OVH_CONSUMER_KEY: string }
 * const adapter = ovhAdapter({
 *   endpoint: 'ovh-eu',
 *   credentials: {
 *     applicationKey: env.OVH_APPLICATION_KEY,
 *     applicationSecret: env.OVH_APPLICATION_SECRET,
 *     consumerKey: env.OVH_CONSUMER_KEY,
 *   },
 * })
 * const solver = dns01Solver({ adapter, resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function ovhAdapter(options: OvhAdapterOptions): DnsAdapter {
  const base = apiBase(options?.endpoint)
  const credentials = options.credentials
  const app = credentials && 'applicationKey' in credentials ? credentials : undefined
  const oauth = credentials && 'clientId' in credentials ? credentials : undefined
  if (app && !(app.applicationKey && app.applicationSecret && app.consumerKey))
    throw new InvalidArgumentError('ovhAdapter needs applicationKey, applicationSecret and consumerKey')
  if (oauth && !(oauth.clientId && oauth.clientSecret))
    throw new InvalidArgumentError('ovhAdapter needs clientId and clientSecret')
  if (!app && !oauth) throw new InvalidArgumentError('ovhAdapter needs credentials')
  const tokenUrl = oauth ? (oauth.tokenUrl ?? TOKEN_URLS[options.endpoint]) : undefined
  if (oauth && !tokenUrl)
    throw new InvalidArgumentError(
      `ovhAdapter: no OAuth2 token URL known for ${options.endpoint}; pass tokenUrl`,
    )
  const ttl = options.ttl ?? 60

  // Unsigned calls: the server clock and the OAuth2 token endpoint.
  const plain = providerClient({ provider: PROVIDER, options, toError })

  /** Server time minus local time, in seconds: asked once, again after a failure. */
  let skew: Promise<number> | undefined
  const serverSkew = (signal: AbortSignalLike | undefined): Promise<number> => {
    if (!skew) {
      skew = plain
        .json({ method: 'GET', url: `${base}/auth/time`, signal }, v.number())
        .then((time) => time - Math.floor(Date.now() / 1000))
      skew.catch(() => {
        skew = undefined
      })
    }
    return skew
  }

  let token: { value: Promise<string>; expires: number } | undefined
  const accessToken = (signal: AbortSignalLike | undefined): Promise<string> => {
    if (!token || Date.now() >= token.expires) {
      const entry = {
        expires: Number.POSITIVE_INFINITY,
        value: plain
          .json(
            {
              method: 'POST',
              url: tokenUrl!,
              headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
              body: new URLSearchParams({
                grant_type: 'client_credentials',
                client_id: oauth!.clientId,
                client_secret: oauth!.clientSecret,
                scope: 'all',
              }).toString(),
              signal,
            },
            tokenSchema,
          )
          .then((body) => {
            // Renewed a minute early so that a token never expires between its check and its use.
            entry.expires = Date.now() + Math.max(0, (body.expires_in ?? 3600) - 60) * 1000
            return body.access_token
          }),
      }
      token = entry
      entry.value.catch(() => {
        if (token === entry) token = undefined
      })
    }
    return token.value
  }

  const authorize = async (call: ProviderCall): Promise<Record<string, string>> => {
    if (oauth)
      return { authorization: `Bearer ${await accessToken(call.signal)}`, accept: 'application/json' }
    const timestamp = String(Math.floor(Date.now() / 1000) + (await serverSkew(call.signal)))
    const signed = [
      app!.applicationSecret,
      app!.consumerKey,
      call.method,
      call.url,
      call.body ?? '',
      timestamp,
    ]
    return {
      accept: 'application/json',
      'x-ovh-application': app!.applicationKey,
      'x-ovh-consumer': app!.consumerKey,
      'x-ovh-timestamp': timestamp,
      'x-ovh-signature': `$1$${await sha1Hex(signed.join('+'))}`,
    }
  }
  const http = providerClient({ provider: PROVIDER, options, authorize, toError })

  const findZone = options.zone
    ? async () => canonicalName(options.zone!)
    : zoneFinder(PROVIDER, async (candidate) => {
        try {
          const url = `${base}/domain/zone/${encodeURIComponent(candidate)}`
          return (await http.json({ method: 'GET', url }, zoneSchema)).name.toLowerCase()
        } catch (err) {
          if (err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND') return undefined
          throw err
        }
      })

  const zoneUrl = (zone: string) => `${base}/domain/zone/${encodeURIComponent(zone)}`

  /** Ids of the TXT records at `fqdn` carrying `value` (the list gives ids; each record is read for its target). */
  const matching = async (zone: string, fqdn: string, value: string, signal: AbortSignalLike | undefined) => {
    const sub = relativeName(fqdn, zone)
    const url = `${zoneUrl(zone)}/record?fieldType=TXT&subDomain=${encodeURIComponent(sub)}`
    const found: number[] = []
    for (const id of await http.json({ method: 'GET', url, signal }, idsSchema)) {
      let record: v.InferOutput<typeof recordSchema>
      try {
        record = await http.json(
          { method: 'GET', url: `${zoneUrl(zone)}/record/${id}`, signal },
          recordSchema,
        )
      } catch (err) {
        if (err instanceof DnsProviderError && err.code === 'ERR_DNS_NOT_FOUND') continue // deleted meanwhile
        throw err
      }
      // The target may come back bare or quoted (presentation format); an empty filter lists the whole zone.
      const text = record.target.startsWith('"') ? parseTxt(record.target) : record.target
      if (record.fieldType === 'TXT' && record.subDomain.toLowerCase() === sub && text === value)
        found.push(id)
    }
    return found
  }

  return recordPerValueAdapter(PROVIDER, {
    findZone,
    matching,
    async create(zone, fqdn, value, signal) {
      await http.json(
        {
          method: 'POST',
          url: `${zoneUrl(zone)}/record`,
          json: { fieldType: 'TXT', subDomain: relativeName(fqdn, zone), target: value, ttl },
          signal,
        },
        recordSchema,
      )
    },
    async delete(zone, id, signal) {
      await http.request({ method: 'DELETE', url: `${zoneUrl(zone)}/record/${id}`, signal })
    },
    // A record is in the zone's database at once; only a refresh puts it on OVH's name servers.
    async changed(zone, signal) {
      await http.request({ method: 'POST', url: `${zoneUrl(zone)}/refresh`, signal })
    },
  })
}

function apiBase(endpoint: string | undefined): string {
  if (!endpoint)
    throw new InvalidArgumentError('ovhAdapter needs an endpoint (ovh-eu, ovh-ca, ovh-us or a URL)')
  const known = (OVH_ENDPOINTS as Record<string, string>)[endpoint]
  if (known) return known
  if (!/^https?:\/\//.test(endpoint))
    throw new InvalidArgumentError(
      `ovhAdapter: endpoint must be one of ${Object.keys(OVH_ENDPOINTS).join(', ')} or a URL, got ${endpoint}`,
    )
  return endpoint.replace(/\/+$/, '')
}

async function sha1Hex(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text)))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

// Error codes OVH puts in `errorCode` (and the older `class` names) that mean the credentials are refused.
const AUTH_CODES = new Set([
  'INVALID_KEY',
  'INVALID_CREDENTIAL',
  'NOT_CREDENTIAL',
  'NOT_GRANTED_CALL',
  'INVALID_SIGNATURE',
  'QUERY_TIME_OUT',
  'invalid_client',
  'unauthorized_client',
])

/**
 * OVH answers `{ "errorCode": "INVALID_SIGNATURE", "httpCode": "400 Bad Request", "message": "..." }` or
 * `{ "class": "Client::NotFound", "message": "..." }`; the OAuth2 endpoint `{ "error": "invalid_client", ... }`.
 * A bad signature or a timestamp out of range is a 400, mapped to `ERR_DNS_AUTH` with the other credential errors.
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as
    | {
        errorCode?: unknown
        class?: unknown
        message?: unknown
        error?: unknown
        error_description?: unknown
      }
    | undefined
  const providerCode =
    typeof body?.errorCode === 'string'
      ? body.errorCode
      : typeof body?.class === 'string'
        ? body.class
        : typeof body?.error === 'string'
          ? body.error
          : undefined
  const message =
    typeof body?.message === 'string'
      ? body.message
      : typeof body?.error_description === 'string'
        ? body.error_description
        : undefined
  const mapped =
    res.status === 429
      ? 'ERR_DNS_RATE_LIMITED'
      : providerCode !== undefined && AUTH_CODES.has(providerCode)
        ? 'ERR_DNS_AUTH'
        : codeForStatus(res.status)
  return responseError(PROVIDER, res, {
    code: mapped,
    ...(message !== undefined && { message: providerCode ? `${providerCode}: ${message}` : message }),
    providerCode,
  })
}
