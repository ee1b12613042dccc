/**
 * dns-01 adapter for Namecheap (the XML API at `https://api.namecheap.com/xml.response`). Namecheap has no call
 * that adds or removes one record: `namecheap.domains.dns.setHosts` REPLACES every host record of the domain.
 * So a change reads the whole list with `getHosts`, edits it, and writes all of it back, keeping every other
 * record as it was (type, address, MX preference, TTL) and the domain's `EmailType` (without which Namecheap
 * drops MX records). Writes to one domain run one after another within the adapter; a change made meanwhile by
 * someone else (the dashboard, another client) can still be lost, as with any client of this API.
 *
 * Every call carries `ApiUser`, `ApiKey`, `UserName` and `ClientIp`, the address Namecheap has allow-listed for
 * the key. Without `clientIp` the adapter asks Namecheap's own echo service once, as lego does.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/namecheap.ts), not against
 * Namecheap.
 *
 * @see {@link https://www.namecheap.com/support/api/methods/domains-dns/set-hosts/ namecheap.domains.dns.setHosts}
 * @see {@link https://www.namecheap.com/support/api/methods/domains-dns/get-hosts/ namecheap.domains.dns.getHosts}
 *
 * @module webacme/dns/namecheap
 */
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { type DnsErrorCode, DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { canonicalName, relativeName, zoneFinder } from '../zone.ts'
import { type ProviderResponse, providerClient, responseError } from './http.ts'
import type { ProviderHttpOptions } from './options.ts'
import { child, children, parseXml, type XmlElement } from './xml.ts'

/** Options of {@link namecheapAdapter}. */
export interface NamecheapAdapterOptions extends ProviderHttpOptions {
  /** The API user (`ApiUser`). */
  apiUser: string
  /** The API key (`ApiKey`). */
  apiKey: string
  /** The account the domains belong to (`UserName`; default: `apiUser`). */
  userName?: string
  /** The allow-listed IPv4 address the calls come from (`ClientIp`). Default: asked from `clientIpUrl` once. */
  clientIp?: string
  /** Where to learn the client's public address (default `https://dynamicdns.park-your-domain.com/getip`). */
  clientIpUrl?: string
  /** Use Namecheap's sandbox (`https://api.sandbox.namecheap.com/xml.response`). */
  sandbox?: boolean
  /** API endpoint, overriding `sandbox`. */
  endpoint?: string
  /** The registered domain to write to, e.g. `example.co.uk`, skipping the domain list. */
  domain?: string
  /** TTL of created records (default 60, Namecheap's minimum; at most 60000). */
  ttl?: number
}

const PROVIDER = 'namecheap'
const PAGE_SIZE = 100

/** One host record as `getHosts` reports it and `setHosts` takes it back. */
interface Host {
  name: string
  type: string
  address: string
  mxPref: string | undefined
  ttl: string | undefined
}

interface Zone {
  domain: string
  sld: string
  tld: string
}

/**
 * Creates a Namecheap adapter. The zone of a name is the longest domain of the account
 * (`namecheap.domains.getList`, listed once) that the name is in or equal to, so multi-label suffixes
 * (`example.co.uk`: SLD `example`, TLD `co.uk`) come out right without a public-suffix list.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver } from 'webacme'
 * import { namecheapAdapter } from 'webacme/dns/namecheap'
 *
 * declare const env: { NAMECHEAP_API_USER: string; NAMECHEAP_API_KEY: string; NAMECHEAP_CLIENT_IP: string }
 * const adapter = namecheapAdapter({
 *   apiUser: env.NAMECHEAP_API_USER,
 *   apiKey: env.NAMECHEAP_API_KEY,
 *   clientIp: env.NAMECHEAP_CLIENT_IP,
 * })
 * const solver = dns01Solver({ adapter, resolver: dohResolver() })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function namecheapAdapter(options: NamecheapAdapterOptions): DnsAdapter {
  if (!options?.apiUser || !options.apiKey) {
    throw new InvalidArgumentError('namecheapAdapter needs an apiUser and an apiKey')
  }
  if (options.clientIp !== undefined && !isIp(options.clientIp)) {
    throw new InvalidArgumentError(`namecheapAdapter: clientIp ${options.clientIp} is not an IP address`)
  }
  const endpoint =
    options.endpoint ??
    (options.sandbox
      ? 'https://api.sandbox.namecheap.com/xml.response'
      : 'https://api.namecheap.com/xml.response')
  const ttl = Math.min(60_000, Math.max(60, options.ttl ?? 60))
  const http = providerClient({ provider: PROVIDER, options, toError: httpError })
  const queue = keyedQueue()

  let clientIp: Promise<string> | undefined = options.clientIp ? Promise.resolve(options.clientIp) : undefined
  const ip = (signal: AbortSignalLike | undefined) => {
    clientIp ??= (async () => {
      const url = options.clientIpUrl ?? 'https://dynamicdns.park-your-domain.com/getip'
      const res = await http.request({ method: 'GET', url, signal })
      const text = res.text.trim()
      if (!isIp(text)) {
        throw responseError(PROVIDER, res, {
          code: 'ERR_DNS_PROVIDER',
          message: `not an IP address: ${text.slice(0, 60)}`,
        })
      }
      return text
    })()
    clientIp.catch(() => {
      clientIp = undefined
    })
    return clientIp
  }

  /**
   * Runs one command; resolves to its `CommandResponse`, rejects with the API's own `<Error>`. Every command is
   * a form POST, so the API key never sits in a URL (error messages, request logs).
   */
  const command = async (
    name: string,
    params: Record<string, string>,
    signal: AbortSignalLike | undefined,
  ): Promise<XmlElement> => {
    const form = new URLSearchParams({
      ApiUser: options.apiUser,
      ApiKey: options.apiKey,
      UserName: options.userName ?? options.apiUser,
      ClientIp: await ip(signal),
      Command: name,
      ...params,
    })
    const res = await http.request({
      method: 'POST',
      url: endpoint,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form.toString(),
      signal,
      read: name !== 'namecheap.domains.dns.setHosts',
    })
    let root: XmlElement
    try {
      root = parseXml(res.text)
    } catch (cause) {
      throw responseError(PROVIDER, res, { code: 'ERR_DNS_PROVIDER', message: `malformed XML: ${cause}` })
    }
    const status = root.attributes.Status
    if (root.name !== 'ApiResponse' || (status !== 'OK' && status !== 'ERROR')) {
      throw responseError(PROVIDER, res, { code: 'ERR_DNS_PROVIDER', message: 'not a Namecheap ApiResponse' })
    }
    if (status === 'ERROR') throw apiError(res, root, name)
    const response = child(root, 'CommandResponse')
    if (!response)
      throw responseError(PROVIDER, res, { code: 'ERR_DNS_PROVIDER', message: 'no CommandResponse' })
    return response
  }

  const listDomains = async (): Promise<Map<string, Zone>> => {
    const zones = new Map<string, Zone>()
    for (let page = 1; page <= 1000; page++) {
      const response = await command(
        'namecheap.domains.getList',
        { ListType: 'ALL', Page: String(page), PageSize: String(PAGE_SIZE) },
        undefined,
      )
      const listed = children(child(response, 'DomainGetListResult'), 'Domain')
      for (const domain of listed) {
        const name = domain.attributes.Name?.toLowerCase()
        if (name) zones.set(name, splitDomain(name))
      }
      const paging = child(response, 'Paging')
      const total = Number(child(paging, 'TotalItems')?.text.trim())
      if (listed.length === 0 || !(page * PAGE_SIZE < total)) break
    }
    return zones
  }
  let domainList: Promise<Map<string, Zone>> | undefined
  const domains = () => {
    domainList ??= listDomains()
    domainList.catch(() => {
      domainList = undefined // a failed listing is asked again next time
    })
    return domainList
  }

  const findZone = options.domain
    ? async () => splitDomain(canonicalName(options.domain!))
    : zoneFinder(PROVIDER, async (candidate) => (await domains()).get(candidate))

  const getHosts = async (zone: Zone, signal: AbortSignalLike | undefined) => {
    const response = await command('namecheap.domains.dns.getHosts', { SLD: zone.sld, TLD: zone.tld }, signal)
    const result = child(response, 'DomainDNSGetHostsResult')
    if (!result)
      throw new DnsProviderError(
        'ERR_DNS_PROVIDER',
        'namecheap: getHosts answered no DomainDNSGetHostsResult',
        { provider: PROVIDER },
      )
    const hosts: Host[] = result.children
      .filter((e) => e.name.toLowerCase() === 'host')
      .map((e) => ({
        name: e.attributes.Name ?? '',
        type: e.attributes.Type ?? '',
        address: e.attributes.Address ?? '',
        mxPref: e.attributes.MXPref,
        ttl: e.attributes.TTL,
      }))
    return { hosts, emailType: result.attributes.EmailType }
  }

  const setHosts = async (
    zone: Zone,
    hosts: Host[],
    emailType: string | undefined,
    signal: AbortSignalLike | undefined,
  ) => {
    const params: Record<string, string> = { SLD: zone.sld, TLD: zone.tld }
    hosts.forEach((host, i) => {
      const n = i + 1
      params[`HostName${n}`] = host.name
      params[`RecordType${n}`] = host.type
      params[`Address${n}`] = host.address
      if (host.mxPref !== undefined) params[`MXPref${n}`] = host.mxPref
      if (host.ttl !== undefined) params[`TTL${n}`] = host.ttl
    })
    // Namecheap keeps MX records only under EmailType=MX (MXE under MXE): say again what the domain had.
    const email =
      emailType ??
      (hosts.some((h) => h.type === 'MX') ? 'MX' : hosts.some((h) => h.type === 'MXE') ? 'MXE' : undefined)
    if (email) params.EmailType = email
    const response = await command('namecheap.domains.dns.setHosts', params, signal)
    if (child(response, 'DomainDNSSetHostsResult')?.attributes.IsSuccess !== 'true') {
      throw new DnsProviderError(
        'ERR_DNS_PROVIDER',
        `namecheap: setHosts for ${zone.domain} did not succeed`,
        {
          provider: PROVIDER,
        },
      )
    }
  }

  /** Read-modify-write of the domain's whole host list, one domain at a time. */
  const update = async (
    name: string,
    signal: AbortSignalLike | undefined,
    edit: (hosts: Host[], host: string) => Host[] | undefined,
  ) => {
    const fqdn = canonicalName(name)
    const zone = await findZone(fqdn, signal)
    const host = relativeName(fqdn, zone.domain) || '@'
    await queue(
      zone.domain,
      async () => {
        const { hosts, emailType } = await getHosts(zone, signal)
        const next = edit(hosts, host)
        if (next) await setHosts(zone, next, emailType, signal)
      },
      signal,
    )
  }

  const isValue = (h: Host, host: string, value: string) =>
    h.type === 'TXT' && h.name.toLowerCase() === host && h.address === value

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(name, call.signal, (hosts, host) =>
        hosts.some((h) => isValue(h, host, value))
          ? undefined
          : [...hosts, { name: host, type: 'TXT', address: value, mxPref: undefined, ttl: String(ttl) }],
      )
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(name, call.signal, (hosts, host) => {
        const rest = hosts.filter((h) => !isValue(h, host, value))
        return rest.length === hosts.length ? undefined : rest
      })
    },
  }
}

/** A registered domain's SLD (its first label) and TLD (the rest, `co.uk` included). */
function splitDomain(domain: string): Zone {
  const dot = domain.indexOf('.')
  if (dot <= 0) throw new InvalidArgumentError(`namecheap: ${domain} is not a registered domain (no TLD)`)
  return { domain, sld: domain.slice(0, dot), tld: domain.slice(dot + 1) }
}

function isIp(text: string): boolean {
  return /^(\d{1,3})(\.\d{1,3}){3}$/.test(text) || (/^[0-9a-f:]+$/i.test(text) && text.includes(':'))
}

/**
 * Namecheap's error numbers: 101xxxx are the global parameters (API user, key, allow-listed client IP),
 * 2019166/2016166 a domain not found or not in the account.
 */
function codeFor(number: string | undefined, message: string): DnsErrorCode {
  if (number?.startsWith('101')) return 'ERR_DNS_AUTH'
  if (number === '2019166' || number === '2016166') return 'ERR_DNS_NOT_FOUND'
  if (/too many requests/i.test(message)) return 'ERR_DNS_RATE_LIMITED'
  return 'ERR_DNS_PROVIDER'
}

/** The first `<Errors><Error Number="...">message</Error></Errors>` of an `ApiResponse Status="ERROR"`. */
function apiError(res: ProviderResponse, root: XmlElement, command: string): DnsProviderError {
  const [first] = children(child(root, 'Errors'), 'Error')
  const number = first?.attributes.Number
  const message = first?.text.trim() || 'unknown error'
  return new DnsProviderError(
    codeFor(number, message),
    `namecheap: ${command} failed: ${message}${number ? ` [${number}]` : ''}`,
    {
      provider: PROVIDER,
      status: res.status,
      providerCode: number,
      url: res.url,
      response: res.response,
    },
  )
}

/** Outside 2xx (a throttling 429, a proxy's 5xx), the body may still be an ApiResponse. */
function httpError(res: ProviderResponse): DnsProviderError {
  let root: XmlElement | undefined
  try {
    root = parseXml(res.text)
  } catch {}
  const [first] = children(child(root, 'Errors'), 'Error')
  const message = first?.text.trim()
  const number = first?.attributes.Number
  return responseError(PROVIDER, res, {
    ...(res.status !== 429 && message !== undefined && { code: codeFor(number, message) }),
    ...(message !== undefined && { message }),
    providerCode: number,
  })
}
