/**
 * A {@link DnsResolver} over DNS-over-HTTPS: RFC 8484 wire format (`application/dns-message`) or the JSON API
 * that Cloudflare and Google serve (`application/dns-json`). It is what the dns-01 solver uses to follow an
 * `_acme-challenge` CNAME and to wait until a TXT value is visible.
 *
 * It queries only what it is asked, when it is asked: the solver asks for a TXT name only after the adapter
 * created the value, so no resolver caches a negative answer for it first.
 */
import { InvalidArgumentError } from '../errors.ts'
import { anySignal } from '../lib/abort.ts'
import { encodeBase64Url } from '../lib/base64url.ts'
import type { AbortSignalLike, FetchLike, ResponseLike } from '../lib/web-types.ts'
import { parseRetryAfter } from '../protocol/headers.ts'
import type { DnsCallOptions } from './adapter.ts'
import { DnsProviderError } from './errors.ts'
import { DNS_TYPES, type DnsRecord, decodeDnsMessage, encodeDnsQuery, rcodeName } from './message.ts'
import type { DnsResolver } from './resolver.ts'
import { parseTxt } from './txt.ts'

/** Public RFC 8484 (wire format) endpoints used when no `url` is given. */
export const DEFAULT_DOH_RESOLVERS: readonly string[] = [
  'https://cloudflare-dns.com/dns-query',
  'https://dns.google/dns-query',
]

/** Public JSON API endpoints used when `format: 'json'` and no `url` is given. */
export const DEFAULT_DOH_JSON_RESOLVERS: readonly string[] = [
  'https://cloudflare-dns.com/dns-query',
  'https://dns.google/resolve',
]

/** Options of {@link dohResolver}. */
export interface DohResolverOptions {
  /** One DoH endpoint (e.g. `https://dns.google/dns-query`). */
  url?: string
  /** Several endpoints: see `mode`. Defaults to {@link DEFAULT_DOH_RESOLVERS} (or the JSON ones). */
  urls?: readonly string[]
  /** `wire` (RFC 8484, default) or `json` (`application/dns-json`, Cloudflare/Google style). */
  format?: 'wire' | 'json'
  /**
   * With several endpoints: `failover` (default) asks them in order until one answers; `all` asks every one and
   * reports only TXT values all of them see (a propagation check that waits for the slowest), and the CNAME
   * the first answering one gives.
   */
  mode?: 'failover' | 'all'
  /** Wire format only: `GET` with `?dns=` (default, cache-friendly per RFC 8484 §4.1) or `POST`. */
  method?: 'GET' | 'POST'
  /** `fetch` to use instead of the global one. */
  fetch?: FetchLike
  /** Extra request headers (an API key of a private resolver, say). */
  headers?: Record<string, string>
  /** Milliseconds one query may take (default 10 000); a timed-out endpoint counts as failed. */
  timeout?: number
}

const PROVIDER = 'doh'

/**
 * Creates a resolver that asks DNS-over-HTTPS endpoints.
 *
 * @example
 * ```ts
 * import { dns01Solver, dohResolver, type DnsAdapter } from 'webacme'
 *
 * declare const adapter: DnsAdapter // e.g. cloudflareAdapter({ apiToken }) from 'webacme/dns/cloudflare'
 * const solver = dns01Solver({
 *   adapter,
 *   resolver: dohResolver({ urls: ['https://dns.google/dns-query', 'https://cloudflare-dns.com/dns-query'] }),
 * })
 * console.log(solver.type) // "dns-01"
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc8484 RFC 8484}
 */
/* @__NO_SIDE_EFFECTS__ */
export function dohResolver(options: DohResolverOptions = {}): DnsResolver {
  const format = options.format ?? 'wire'
  const urls = options.url
    ? [options.url]
    : [...(options.urls ?? (format === 'json' ? DEFAULT_DOH_JSON_RESOLVERS : DEFAULT_DOH_RESOLVERS))]
  if (urls.length === 0) throw new InvalidArgumentError('dohResolver needs at least one URL')
  // A bad URL is a caller mistake: say so now, not on the first query.
  for (const url of urls) {
    try {
      new URL(url)
    } catch (cause) {
      throw new InvalidArgumentError(`dohResolver: not a URL: ${url}`, { cause })
    }
  }
  const mode = options.mode ?? 'failover'
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  const timeout = options.timeout ?? 10_000

  const queryOne = async (url: string, name: string, type: number, call: DnsCallOptions) => {
    const timer = timeout > 0 ? AbortSignal.timeout(timeout) : undefined
    const signal = anySignal([call.signal, timer])
    try {
      return format === 'json'
        ? await queryJson(doFetch, url, name, type, options.headers, signal)
        : await queryWire(doFetch, url, name, type, options, signal)
    } catch (err) {
      if (call.signal?.aborted) throw call.signal.reason
      if (err instanceof DnsProviderError) throw err
      const reason = timer?.aborted
        ? `timed out after ${timeout} ms`
        : err instanceof Error
          ? err.message
          : String(err)
      throw new DnsProviderError('ERR_DNS_QUERY', `doh: ${url} failed for ${name}: ${reason}`, {
        provider: PROVIDER,
        url,
        cause: err,
      })
    }
  }

  /** Answers of the first endpoint that answers (failover), or of every endpoint (all). */
  const query = async (name: string, type: number, call: DnsCallOptions): Promise<DnsRecord[][]> => {
    const bare = name.replace(/\.$/, '').toLowerCase()
    if (mode === 'all') return Promise.all(urls.map((url) => queryOne(url, bare, type, call)))
    let last: unknown
    for (const url of urls) {
      try {
        return [await queryOne(url, bare, type, call)]
      } catch (err) {
        if (call.signal?.aborted) throw call.signal.reason
        last = err
      }
    }
    throw last
  }

  return {
    async resolveCname(name, call = {}) {
      const bare = name.replace(/\.$/, '').toLowerCase()
      const [answers = []] = await query(bare, DNS_TYPES.CNAME, call)
      const cname = answers.find((r) => r.type === DNS_TYPES.CNAME && r.name === bare)
      return typeof cname?.data === 'string' ? cname.data : undefined
    },
    async resolveTxt(name, call = {}) {
      const bare = name.replace(/\.$/, '').toLowerCase()
      const seen = (await query(bare, DNS_TYPES.TXT, call)).map((answers) => txtAt(bare, answers))
      const [first = [], ...rest] = seen
      return first.filter((value) => rest.every((other) => other.includes(value)))
    },
  }
}

/** TXT strings at `name`, following the CNAME chain the answer section carries (RFC 1034 §3.6.2). */
function txtAt(name: string, answers: DnsRecord[]): string[] {
  const owners = new Set([name])
  for (let current = name, hops = 0; hops < 16; hops++) {
    const cname = answers.find((r) => r.type === DNS_TYPES.CNAME && r.name === current)
    if (typeof cname?.data !== 'string' || owners.has(cname.data)) break
    current = cname.data
    owners.add(current)
  }
  const values: string[] = []
  for (const record of answers) {
    if (record.type === DNS_TYPES.TXT && owners.has(record.name) && Array.isArray(record.data)) {
      values.push(record.data.join(''))
    }
  }
  return values
}

async function queryWire(
  doFetch: FetchLike,
  url: string,
  name: string,
  type: number,
  options: DohResolverOptions,
  signal: AbortSignalLike | undefined,
): Promise<DnsRecord[]> {
  const query = encodeDnsQuery(name, type)
  const headers = { accept: 'application/dns-message', ...options.headers }
  let response: ResponseLike
  if (options.method === 'POST') {
    response = await doFetch(url, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/dns-message' },
      body: query.slice().buffer as ArrayBuffer,
      ...(signal && { signal }),
    })
  } else {
    const target = new URL(url)
    target.searchParams.set('dns', encodeBase64Url(query)) // RFC 8484 §4.1: base64url without padding
    response = await doFetch(target.href, { headers, ...(signal && { signal }) })
  }
  await checkHttp(response, url, name)
  const type_ = response.headers.get('content-type') ?? ''
  if (!type_.toLowerCase().startsWith('application/dns-message')) {
    throw queryError(
      `${url} answered ${type_ || 'no content type'}, not application/dns-message`,
      url,
      response,
    )
  }
  let message: ReturnType<typeof decodeDnsMessage>
  try {
    message = decodeDnsMessage(new Uint8Array(await response.arrayBuffer()))
  } catch (cause) {
    throw queryError(
      `${url} sent a malformed DNS message for ${name}: ${(cause as Error).message}`,
      url,
      response,
    )
  }
  if (!message.response) throw queryError(`${url} sent a DNS message that is not a response`, url, response)
  checkRcode(message.rcode, url, name, response)
  return message.answers
}

interface JsonAnswer {
  name?: unknown
  type?: unknown
  TTL?: unknown
  data?: unknown
}

async function queryJson(
  doFetch: FetchLike,
  url: string,
  name: string,
  type: number,
  extra: Record<string, string> | undefined,
  signal: AbortSignalLike | undefined,
): Promise<DnsRecord[]> {
  const target = new URL(url)
  target.searchParams.set('name', name)
  target.searchParams.set('type', String(type))
  const response = await doFetch(target.href, {
    headers: { accept: 'application/dns-json', ...extra },
    ...(signal && { signal }),
  })
  await checkHttp(response, url, name)
  let body: { Status?: unknown; Answer?: unknown }
  try {
    body = (await response.json()) as typeof body
  } catch (cause) {
    throw queryError(
      `${url} sent a body that is not JSON for ${name}: ${(cause as Error).message}`,
      url,
      response,
    )
  }
  if (typeof body !== 'object' || body === null || typeof body.Status !== 'number') {
    throw queryError(`${url} sent a JSON answer without a numeric Status for ${name}`, url, response)
  }
  checkRcode(body.Status, url, name, response)
  const answers = Array.isArray(body.Answer) ? (body.Answer as JsonAnswer[]) : []
  const records: DnsRecord[] = []
  for (const answer of answers) {
    if (
      typeof answer?.name !== 'string' ||
      typeof answer.type !== 'number' ||
      typeof answer.data !== 'string'
    ) {
      throw queryError(`${url} sent a malformed Answer entry for ${name}`, url, response)
    }
    const owner = answer.name.replace(/\.$/, '').toLowerCase()
    const ttl = typeof answer.TTL === 'number' ? answer.TTL : 0
    let data: DnsRecord['data'] = answer.data
    if (answer.type === DNS_TYPES.CNAME) data = answer.data.replace(/\.$/, '').toLowerCase()
    // Cloudflare sends TXT data in presentation format ("\"abc\""); Google sends the bare text.
    else if (answer.type === DNS_TYPES.TXT)
      data = [answer.data.startsWith('"') ? parseTxt(answer.data) : answer.data]
    records.push({ name: owner, type: answer.type, class: 1, ttl, data })
  }
  return records
}

async function checkHttp(response: ResponseLike, url: string, name: string): Promise<void> {
  if (response.status === 200) return
  const detail = (await response.text().catch(() => '')).trim().slice(0, 200)
  throw new DnsProviderError(
    response.status === 429 ? 'ERR_DNS_RATE_LIMITED' : 'ERR_DNS_QUERY',
    `doh: ${url} answered HTTP ${response.status} for ${name}${detail ? `: ${detail}` : ''}`,
    {
      provider: PROVIDER,
      status: response.status,
      retryAfter: parseRetryAfter(response.headers.get('retry-after')),
      url,
      response,
    },
  )
}

/** NOERROR and NXDOMAIN are answers; anything else (SERVFAIL, REFUSED, ...) is a failed query. */
function checkRcode(rcode: number, url: string, name: string, response: ResponseLike): void {
  if (rcode === 0 || rcode === 3) return
  throw new DnsProviderError('ERR_DNS_QUERY', `doh: ${url} answered ${rcodeName(rcode)} for ${name}`, {
    provider: PROVIDER,
    status: response.status,
    providerCode: rcodeName(rcode),
    url,
    response,
  })
}

function queryError(message: string, url: string, response: ResponseLike): DnsProviderError {
  return new DnsProviderError('ERR_DNS_QUERY', `doh: ${message}`, {
    provider: PROVIDER,
    status: response.status,
    url,
    response,
  })
}
