/**
 * dns-01 adapter for the PowerDNS Authoritative Server HTTP API (`/api/v1`). PowerDNS changes whole record
 * sets (`changetype: REPLACE` replaces every record at a name and type), so a value is added by reading the
 * TXT rrset, merging, and writing it back; removal writes back the others (or deletes the rrset when none is
 * left). Read-modify-writes run one at a time inside the adapter.
 *
 * Tested against a real PowerDNS 4.7 (gsqlite3 backend) in this repository's end-to-end tests.
 *
 * @see {@link https://doc.powerdns.com/authoritative/http-api/zone.html PowerDNS zone API}
 *
 * @module webacme/dns/powerdns
 */
import * as v from 'valibot'
import { InvalidArgumentError } from '../../errors.ts'
import { sleep, throwIfAborted } from '../../lib/abort.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { parseTxt, quoteTxt } from '../txt.ts'
import { canonicalName, toFqdn, zoneFinder } from '../zone.ts'
import { jsonBody, type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'

/** Options of {@link powerDnsAdapter}. */
export interface PowerDnsAdapterOptions extends ProviderHttpOptions {
  /** Base URL of the API webserver, e.g. `http://127.0.0.1:8081` (a trailing `/api/v1` is accepted). */
  url: string
  /** The `api-key` from pdns.conf, sent as `X-API-Key`. */
  apiKey: string
  /** Server id in the API path (default `localhost`). */
  serverId?: string
  /** TTL of a new TXT rrset (default 60). An existing rrset keeps its TTL. */
  ttl?: number
  /** The zone to write to (e.g. `example.com`), skipping discovery. */
  zone?: string
}

const PROVIDER = 'powerdns'

const zonesSchema = v.array(v.looseObject({ id: v.string(), name: v.string() }))
const zoneSchema = v.looseObject({
  rrsets: v.optional(
    v.array(
      v.looseObject({
        name: v.string(),
        type: v.string(),
        ttl: v.optional(v.number()),
        records: v.array(v.looseObject({ content: v.string(), disabled: v.optional(v.boolean()) })),
      }),
    ),
    [],
  ),
})

interface PdnsRecord {
  content: string
  disabled: boolean
}

/**
 * Creates a PowerDNS adapter. The API key needs write access to the zones concerned; zone discovery walks up
 * the labels with `GET /servers/{id}/zones?zone=<candidate>.`.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { powerDnsAdapter } from 'webacme/dns/powerdns'
 *
 * const solver = dns01Solver({
 *   adapter: powerDnsAdapter({ url: 'http://127.0.0.1:8081', apiKey: 'secret' }),
 *   resolver: dohResolver({ url: 'https://dns.example.net/dns-query' }),
 * })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function powerDnsAdapter(options: PowerDnsAdapterOptions): DnsAdapter {
  if (!options?.url || !options.apiKey) throw new InvalidArgumentError('powerDnsAdapter needs url and apiKey')
  const base = `${options.url.replace(/\/+$/, '').replace(/\/api\/v1$/, '')}/api/v1/servers/${encodeURIComponent(options.serverId ?? 'localhost')}`
  const ttl = options.ttl ?? 60
  const http = providerClient({
    provider: PROVIDER,
    options,
    authorize: () => ({ 'x-api-key': options.apiKey, accept: 'application/json' }),
    toError,
  })
  const queue = keyedQueue()

  const findZone = options.zone
    ? async () => ({ id: toFqdn(options.zone!), name: toFqdn(options.zone!) })
    : zoneFinder(PROVIDER, async (candidate) => {
        const url = `${base}/zones?zone=${encodeURIComponent(`${candidate}.`)}`
        const zones = await http.json({ method: 'GET', url }, zonesSchema)
        return zones.find((z) => z.name.toLowerCase() === `${candidate}.`)
      })

  const zoneUrl = (zone: { id: string }) => `${base}/zones/${encodeURIComponent(zone.id)}`

  const readTxt = async (zone: { id: string }, fqdn: string, signal: AbortSignalLike | undefined) => {
    // rrset_name/rrset_type narrow the answer on PowerDNS >= 4.8 (older servers send the whole zone).
    const url = `${zoneUrl(zone)}?rrset_name=${encodeURIComponent(fqdn)}&rrset_type=TXT`
    const body = await http.json({ method: 'GET', url, signal }, zoneSchema)
    const rrset = body.rrsets.find((r) => r.type === 'TXT' && r.name.toLowerCase() === fqdn)
    return {
      ttl: rrset?.ttl ?? ttl,
      records: (rrset?.records ?? []).map(
        (r): PdnsRecord => ({ content: r.content, disabled: r.disabled ?? false }),
      ),
    }
  }

  const write = (zone: { id: string }, rrset: Record<string, unknown>) =>
    http.request({
      method: 'PATCH',
      url: zoneUrl(zone),
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rrsets: [rrset] }),
    })

  /**
   * Read, edit, write back, one at a time for the whole adapter: the gsqlite3 backend fails concurrent API
   * writes (even to different zones) with HTTP 500 "database is locked". A 5xx (another client held the lock)
   * is retried from the read, so the edit is recomputed against what is really there.
   */
  const update = (
    name: string,
    signal: AbortSignalLike | undefined,
    edit: (
      current: { ttl: number; records: PdnsRecord[] },
      fqdn: string,
    ) => Record<string, unknown> | undefined,
  ) =>
    (async () => {
      const fqdn = toFqdn(name)
      const zone = await findZone(canonicalName(name), signal)
      await queue(
        'writes',
        async () => {
          for (let attempt = 0; ; attempt++) {
            const rrset = edit(await readTxt(zone, fqdn, signal), fqdn)
            if (!rrset) return
            try {
              // No signal: an abort must not leave the caller unsure whether the write happened.
              await write(zone, rrset)
              return
            } catch (err) {
              const busy = err instanceof DnsProviderError && (err.status ?? 0) >= 500
              if (!busy || attempt >= 4) throw err
              await sleep(50 * 2 ** attempt + Math.random() * 50)
              throwIfAborted(signal)
            }
          }
        },
        signal,
      )
    })()

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(name, call.signal, (current, fqdn) => {
        const same = current.records.filter((r) => parseTxt(r.content) === value)
        if (same.some((r) => !r.disabled)) return undefined
        // A disabled copy is enabled rather than duplicated (PowerDNS refuses duplicate records).
        const records =
          same.length > 0
            ? current.records.map((r) => (same.includes(r) ? { ...r, disabled: false } : r))
            : [...current.records, { content: quoteTxt(value), disabled: false }]
        return { name: fqdn, type: 'TXT', ttl: current.ttl, changetype: 'REPLACE', records }
      })
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(name, call.signal, (current, fqdn) => {
        const records = current.records.filter((r) => parseTxt(r.content) !== value)
        if (records.length === current.records.length) return undefined
        return records.length === 0
          ? { name: fqdn, type: 'TXT', changetype: 'DELETE' }
          : { name: fqdn, type: 'TXT', ttl: current.ttl, changetype: 'REPLACE', records }
      })
    },
  }
}

/** PowerDNS answers `{"error": "..."}` (JSON) or a plain-text reason (`Unauthorized`, `Not Found`, `Conflict`). */
function toError(res: ProviderResponse) {
  const body = jsonBody(res) as { error?: unknown } | undefined
  const message = typeof body?.error === 'string' ? body.error : res.text.trim() || undefined
  // 422 "RRset x IN TXT: Conflicts with pre-existing RRset" is a CNAME (or similar) already at the name.
  const conflict = res.status === 422 && message !== undefined && /conflicts with/i.test(message)
  return responseError(PROVIDER, res, {
    ...(conflict && { code: 'ERR_DNS_CONFLICT' as const }),
    ...(message !== undefined && { message }),
  })
}
