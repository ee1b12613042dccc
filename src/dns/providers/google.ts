/**
 * dns-01 adapter for Google Cloud DNS (API v1), authorized as a service account (RS256 JWT exchanged for an
 * OAuth token, all with WebCrypto) or with a caller-supplied access token. Record sets change through
 * `changes.create` with the exact current set in `deletions` and the merged set in `additions`, which Cloud
 * DNS applies atomically; when the set changed meanwhile (409/412) the change is recomputed and retried.
 * `waitForChange` polls `changes.get` until the change is `done`.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/google.ts), not against Google.
 *
 * @see {@link https://cloud.google.com/dns/docs/reference/rest/v1/changes/create changes.create}
 *
 * @module webacme/dns/google
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import { poll } from '../../protocol/poll.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { parseTxt, quoteTxt } from '../txt.ts'
import { canonicalName, toFqdn, zoneFinder } from '../zone.ts'
import { type GoogleServiceAccount, parseServiceAccount, serviceAccountTokenSource } from './google-jwt.ts'
import {
  codeForStatus,
  jsonBody,
  type ProviderResponse,
  providerClient,
  rereadOnConflict,
  responseError,
} from './http.ts'
import type { ProviderHttpOptions } from './options.ts'

export type { GoogleServiceAccount } from './google-jwt.ts'

/** Options of {@link googleCloudDnsAdapter}. */
export interface GoogleCloudDnsAdapterOptions extends ProviderHttpOptions {
  /** A service-account key (the JSON file's text or parsed object) with the DNS Administrator role. */
  serviceAccount?: GoogleServiceAccount | string
  /** Instead of a service account: returns a valid OAuth access token (metadata server, workload identity). */
  accessToken?: (signal?: AbortSignalLike) => Promise<string>
  /** Project id (default: the service account's `project_id`). */
  project?: string
  /** Managed zone name or id to write to, skipping discovery. */
  managedZone?: string
  /** API base (default `https://dns.googleapis.com/dns/v1`). */
  baseUrl?: string
  /** TTL of a new TXT set (default 60). An existing set keeps its TTL. */
  ttl?: number
  /** Consider private zones during discovery (default false). */
  privateZones?: boolean
  /** Milliseconds between `changes.get` polls (default 2 000). */
  changePollInterval?: number
  /** Give up waiting for `done` after this many milliseconds (default 300 000). */
  changeTimeout?: number
}

const PROVIDER = 'google'
const SCOPE = 'https://www.googleapis.com/auth/ndev.clouddns.readwrite'

const rrsetSchema = v.looseObject({
  name: v.string(),
  type: v.string(),
  ttl: v.optional(v.number()),
  rrdatas: v.optional(v.array(v.string()), []),
})
type RrSet = v.InferOutput<typeof rrsetSchema>
const zonesSchema = v.looseObject({
  managedZones: v.optional(
    v.array(v.looseObject({ name: v.string(), dnsName: v.string(), visibility: v.optional(v.string()) })),
    [],
  ),
  nextPageToken: v.optional(v.string()),
})
const rrsetsSchema = v.looseObject({ rrsets: v.optional(v.array(rrsetSchema), []) })
const changeSchema = v.looseObject({ id: v.string(), status: v.optional(v.string()) })

/**
 * Creates a Google Cloud DNS adapter. Zones are found with `managedZones.list?dnsName=<candidate>.`.
 *
 * @example
 * ```ts
 * import { dns01Solver } from 'webacme'
 * import { googleCloudDnsAdapter } from 'webacme/dns/google'
 *
 * declare const env: { GOOGLE_SERVICE_ACCOUNT_JSON: string }
 * const adapter = googleCloudDnsAdapter({ serviceAccount: env.GOOGLE_SERVICE_ACCOUNT_JSON })
 * const solver = dns01Solver({ adapter }) // waits for the change to be done before the CA looks
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function googleCloudDnsAdapter(options: GoogleCloudDnsAdapterOptions): DnsAdapter {
  if (!options?.serviceAccount && !options?.accessToken) {
    throw new InvalidArgumentError('googleCloudDnsAdapter needs serviceAccount or accessToken')
  }
  const account = options.serviceAccount ? parseServiceAccount(options.serviceAccount) : undefined
  const project = options.project ?? account?.project_id
  if (!project)
    throw new InvalidArgumentError('googleCloudDnsAdapter needs a project (none in the service account)')
  const tokens = account ? serviceAccountTokenSource(account, { ...options, scope: SCOPE }) : undefined
  const accessToken = options.accessToken ?? ((signal?: AbortSignalLike) => tokens!.getToken(signal))
  const base = `${(options.baseUrl ?? 'https://dns.googleapis.com/dns/v1').replace(/\/+$/, '')}/projects/${encodeURIComponent(project)}`
  const ttl = options.ttl ?? 60
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: async (call) => ({
      authorization: `Bearer ${await accessToken(call.signal)}`,
      accept: 'application/json',
    }),
    toError,
  })
  const queue = keyedQueue()
  const changes = new Map<string, { zone: string; id: string }>()

  const findZone = options.managedZone
    ? async () => options.managedZone!
    : zoneFinder(PROVIDER, async (candidate) => {
        let pageToken: string | undefined
        for (let page = 0; page < 100; page++) {
          const url = `${base}/managedZones?dnsName=${encodeURIComponent(`${candidate}.`)}${pageToken ? `&pageToken=${encodeURIComponent(pageToken)}` : ''}`
          const body = await http.json({ method: 'GET', url }, zonesSchema)
          const zone = body.managedZones.find(
            (z) =>
              z.dnsName.toLowerCase() === `${candidate}.` &&
              (options.privateZones || z.visibility !== 'private'),
          )
          if (zone) return zone.name
          if (!body.nextPageToken) return undefined
          pageToken = body.nextPageToken
        }
        return undefined
      })

  const readSet = async (zone: string, fqdn: string, signal: AbortSignalLike | undefined) => {
    const url = `${base}/managedZones/${encodeURIComponent(zone)}/rrsets?name=${encodeURIComponent(fqdn)}&type=TXT`
    const body = await http.json({ method: 'GET', url, signal }, rrsetsSchema)
    return body.rrsets.find((r) => r.type === 'TXT' && r.name.toLowerCase() === fqdn)
  }

  /** Applies `edit` to the current set as one change; recomputed when the set moved meanwhile (409/412). */
  const update = async (
    name: string,
    signal: AbortSignalLike | undefined,
    edit: (set: RrSet | undefined, fqdn: string) => RrSet | null | undefined,
  ) => {
    const fqdn = toFqdn(name)
    const zone = await findZone(canonicalName(name), signal)
    return queue(
      fqdn,
      () =>
        rereadOnConflict(async () => {
          const current = await readSet(zone, fqdn, signal)
          const next = edit(current, fqdn)
          if (next === undefined) return undefined // nothing to change
          const body = {
            kind: 'dns#change',
            ...(next && { additions: [next] }),
            ...(current && { deletions: [current] }),
          }
          const change = await http.json(
            { method: 'POST', url: `${base}/managedZones/${encodeURIComponent(zone)}/changes`, json: body },
            changeSchema,
          )
          return { zone, id: change.id }
        }),
      signal,
    )
  }

  const key = (name: string, value: string) => `${toFqdn(name)} ${value}`

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const change = await update(name, call.signal, (set, fqdn) => {
        if (set?.rrdatas.some((d) => parseTxt(d) === value)) return undefined
        return {
          name: fqdn,
          type: 'TXT',
          ttl: set?.ttl ?? ttl,
          rrdatas: [...(set?.rrdatas ?? []), quoteTxt(value)],
        }
      })
      if (change) changes.set(key(name, value), change)
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      changes.delete(key(name, value))
      await update(name, call.signal, (set) => {
        if (!set) return undefined
        const rrdatas = set.rrdatas.filter((d) => parseTxt(d) !== value)
        if (rrdatas.length === set.rrdatas.length) return undefined
        return rrdatas.length === 0 ? null : { ...set, rrdatas }
      })
    },
    async waitForChange(name: string, value: string, call: DnsCallOptions = {}) {
      const change = changes.get(key(name, value))
      if (!change) return
      const url = `${base}/managedZones/${encodeURIComponent(change.zone)}/changes/${encodeURIComponent(change.id)}`
      const interval = options.changePollInterval ?? 2_000
      await poll(
        {
          kind: 'google change',
          url,
          timeoutError: () =>
            new DnsProviderError(
              'ERR_DNS_PROVIDER',
              `google: change ${change.id} for ${name} not done in time`,
              {
                provider: PROVIDER,
              },
            ),
        },
        async () => ({
          value: (await http.json({ method: 'GET', url, signal: call.signal }, changeSchema)).status,
          retryAfter: undefined,
        }),
        (status) => status === 'done',
        {
          interval,
          maxInterval: interval,
          timeout: options.changeTimeout ?? 300_000,
          ...(call.signal && { signal: call.signal }),
        },
      )
    },
  }
}

/**
 * Google APIs answer `{"error": {"code": 409, "message": "...", "status": "ALREADY_EXISTS", "errors":
 * [{"reason": "alreadyExists", ...}]}}`.
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as
    | { error?: { message?: unknown; status?: unknown; errors?: Array<{ reason?: unknown }> } }
    | undefined
  const error = body?.error
  const reason =
    Array.isArray(error?.errors) && typeof error.errors[0]?.reason === 'string'
      ? error.errors[0].reason
      : undefined
  const status = typeof error?.status === 'string' ? error.status : undefined
  const message = typeof error?.message === 'string' ? error.message : undefined
  const code =
    res.status === 429 ||
    status === 'RESOURCE_EXHAUSTED' ||
    reason === 'rateLimitExceeded' ||
    reason === 'userRateLimitExceeded'
      ? 'ERR_DNS_RATE_LIMITED'
      : status === 'UNAUTHENTICATED' || status === 'PERMISSION_DENIED' || reason === 'forbidden'
        ? 'ERR_DNS_AUTH'
        : reason === 'alreadyExists' ||
            reason === 'conditionNotMet' ||
            status === 'ALREADY_EXISTS' ||
            status === 'FAILED_PRECONDITION'
          ? 'ERR_DNS_CONFLICT'
          : codeForStatus(res.status)
  return responseError(PROVIDER, res, {
    code,
    ...(message !== undefined && { message }),
    providerCode: reason ?? status,
  })
}
