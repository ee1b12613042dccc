/**
 * dns-01 adapter for Porkbun DNS (API v3, `api.porkbun.com/api/json/v3`). Every call is a `POST` whose JSON
 * body carries the key pair (`apikey`, `secretapikey`). Porkbun keeps one record per TXT value: a value is added
 * with `dns/create/{domain}` and removed by deleting exactly the records that carry it
 * (`dns/retrieveByNameType` then `dns/delete/{domain}/{id}`). The domain must have "API access" switched on.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/porkbun.ts), not against Porkbun.
 *
 * @see {@link https://porkbun.com/api/json/v3/documentation Porkbun API v3 documentation}
 *
 * @module webacme/dns/porkbun
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import { raceSignal, throwIfAborted } from '../../lib/abort.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { parseTxt } from '../txt.ts'
import { canonicalName, relativeName, zoneCandidates } from '../zone.ts'
import { codeForStatus, jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'
import { recordPerValueAdapter } from './record-per-value.ts'

/** Options of {@link porkbunAdapter}. */
export interface PorkbunAdapterOptions extends ProviderHttpOptions {
  /** The API key (`pk1_…`). */
  apiKey: string
  /** The secret API key (`sk1_…`). */
  secretApiKey: string
  /** The domain to write to, e.g. `example.com`, skipping discovery. */
  domain?: string
  /** API base (default `https://api.porkbun.com/api/json/v3`). */
  baseUrl?: string
  /** TTL of created records in seconds (default 600, Porkbun's minimum). */
  ttl?: number
}

const PROVIDER = 'porkbun'

const success = v.literal('SUCCESS')
const domainsSchema = v.looseObject({
  status: success,
  domains: v.array(v.looseObject({ domain: v.string() })),
})
const recordsSchema = v.looseObject({
  status: success,
  records: v.array(
    v.looseObject({
      id: v.union([v.string(), v.number()]),
      name: v.string(),
      type: v.string(),
      content: v.string(),
    }),
  ),
})
const createdSchema = v.looseObject({ status: success, id: v.union([v.string(), v.number()]) })
const doneSchema = v.looseObject({ status: success })

/**
 * Creates a Porkbun adapter. The account's domains are listed once (`domain/listAll`, 1000 a page) and a name
 * goes to the longest domain it falls in.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { porkbunAdapter } from 'webacme/dns/porkbun'
 *
 * declare const env: { PORKBUN_API_KEY: string; PORKBUN_SECRET_API_KEY: string }
 * const solver = dns01Solver({
 *   adapter: porkbunAdapter({ apiKey: env.PORKBUN_API_KEY, secretApiKey: env.PORKBUN_SECRET_API_KEY }),
 *   resolver: dohResolver(),
 * })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function porkbunAdapter(options: PorkbunAdapterOptions): DnsAdapter {
  if (!options?.apiKey || !options.secretApiKey)
    throw new InvalidArgumentError('porkbunAdapter needs an apiKey and a secretApiKey')
  const base = (options.baseUrl ?? 'https://api.porkbun.com/api/json/v3').replace(/\/+$/, '')
  const ttl = Math.max(600, options.ttl ?? 600)
  const http = providerClient({ provider: PROVIDER, options, toError })
  const keys = { apikey: options.apiKey, secretapikey: options.secretApiKey }
  /** A POST with the keys in its body; `read` marks the calls that change nothing (retried like a GET). */
  const call = <T>(
    path: string,
    schema: v.GenericSchema<unknown, T>,
    signal: AbortSignalLike | undefined,
    extra: Record<string, unknown> = {},
    read = false,
  ) =>
    http.json({ method: 'POST', url: `${base}/${path}`, json: { ...keys, ...extra }, signal, read }, schema)

  /** Every domain of the account, lower case; listed once, again after a failure. */
  let domains: Promise<Set<string>> | undefined
  const listDomains = (): Promise<Set<string>> => {
    if (!domains) {
      domains = (async () => {
        const all = new Set<string>()
        // "increment start by 1000 until you receive an empty array" (domain/listAll).
        for (let start = 0; start <= 1_000_000; start += 1000) {
          const page = await call('domain/listAll', domainsSchema, undefined, { start: String(start) }, true)
          if (page.domains.length === 0) break
          for (const d of page.domains) all.add(d.domain.toLowerCase())
        }
        return all
      })()
      domains.catch(() => {
        domains = undefined
      })
    }
    return domains
  }
  const findZone = async (fqdn: string, signal: AbortSignalLike | undefined): Promise<string> => {
    throwIfAborted(signal) // never start the listing for a caller that is gone
    if (options.domain) return canonicalName(options.domain)
    const all = await listDomains()
    const zone = zoneCandidates(fqdn).find((candidate) => all.has(candidate))
    if (zone === undefined)
      throw new DnsProviderError('ERR_DNS_NOT_FOUND', `${PROVIDER}: no domain of the account holds ${fqdn}`, {
        provider: PROVIDER,
      })
    return zone
  }

  /** Ids of the TXT records at `fqdn` carrying `value`. */
  const matching = async (zone: string, fqdn: string, value: string, signal: AbortSignalLike | undefined) => {
    const sub = relativeName(fqdn, zone)
    const path = `dns/retrieveByNameType/${encodeURIComponent(zone)}/TXT${sub ? `/${encodeURIComponent(sub)}` : ''}`
    const body = await call(path, recordsSchema, signal, {}, true)
    // `content` is the bare text; tolerate a quoted one (records made by hand in presentation format).
    return body.records
      .filter((r) => r.type === 'TXT' && r.name.toLowerCase() === fqdn)
      .filter((r) => (r.content.startsWith('"') ? parseTxt(r.content) : r.content) === value)
      .map((r) => String(r.id))
  }

  return recordPerValueAdapter(PROVIDER, {
    findZone: (fqdn, signal) => raceSignal(findZone(fqdn, signal), signal),
    matching,
    async create(zone, fqdn, value, signal) {
      await call(`dns/create/${encodeURIComponent(zone)}`, createdSchema, signal, {
        name: relativeName(fqdn, zone),
        type: 'TXT',
        content: value,
        ttl: String(ttl),
      })
    },
    async delete(zone, id, signal) {
      await call(`dns/delete/${encodeURIComponent(zone)}/${encodeURIComponent(id)}`, doneSchema, signal)
    },
    // Porkbun answers a record that is already gone with a plain error: gone is what was asked.
    async alreadyGone(err, zone, fqdn, value, id) {
      return err instanceof DnsProviderError && !(await matching(zone, fqdn, value, undefined)).includes(id)
    },
  })
}

/**
 * Porkbun answers `{ "status": "ERROR", "message": "..." }`. Its messages are the only error codes: invalid keys
 * and a domain without API access are authorization failures, an unknown domain is not found.
 */
function toError(res: ProviderResponse): DnsProviderError {
  const body = jsonBody(res) as { status?: unknown; message?: unknown } | undefined
  const message = typeof body?.message === 'string' ? body.message : undefined
  const mapped =
    res.status === 429
      ? 'ERR_DNS_RATE_LIMITED'
      : message && /api key|not opted in to api access|authenticat/i.test(message)
        ? 'ERR_DNS_AUTH'
        : message && /invalid domain/i.test(message)
          ? 'ERR_DNS_NOT_FOUND'
          : codeForStatus(res.status)
  return responseError(PROVIDER, res, { code: mapped, ...(message !== undefined && { message }) })
}
