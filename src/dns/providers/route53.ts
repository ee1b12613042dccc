/**
 * dns-01 adapter for Amazon Route 53 (REST API 2013-04-01, XML), signed with SigV4 on WebCrypto. A value is
 * added by reading the TXT record set and `UPSERT`ing the merged set; removal `UPSERT`s the rest, or `DELETE`s
 * the set (with its exact current values and TTL, as Route53 requires) when none is left. `waitForChange`
 * polls `GetChange` until the change that wrote the value is `INSYNC` on every Route53 name server.
 *
 * Tested against a fixture that follows the documented API (test/fixtures/dns/route53.ts), not against AWS.
 *
 * @see {@link https://docs.aws.amazon.com/Route53/latest/APIReference/API_ChangeResourceRecordSets.html ChangeResourceRecordSets}
 *
 * @module webacme/dns/route53
 */
import { InvalidArgumentError } from '../../errors.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import { poll } from '../../protocol/poll.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { keyedQueue } from '../queue.ts'
import { parseTxt, quoteTxt } from '../txt.ts'
import { canonicalName, toFqdn, zoneFinder } from '../zone.ts'
import { type AwsCredentials, signAwsRequest } from './aws-sigv4.ts'
import {
  codeForStatus,
  type ProviderResponse,
  providerClient,
  rereadOnConflict,
  responseError,
} from './http.ts'
import type { ProviderHttpOptions } from './options.ts'
import { children, escapeXml, parseXml, textAt, type XmlElement } from './xml.ts'

export type { AwsCredentials } from './aws-sigv4.ts'

/** Options of {@link route53Adapter}. */
export interface Route53AdapterOptions extends ProviderHttpOptions {
  /** An access key pair (with `sessionToken` for temporary credentials), or a function that returns fresh ones. */
  credentials: AwsCredentials | (() => Promise<AwsCredentials>)
  /** The hosted zone to write to (`Z1D633PJN98FT9` or `/hostedzone/Z1D633PJN98FT9`), skipping discovery. */
  hostedZoneId?: string
  /** API endpoint (default `https://route53.amazonaws.com`). */
  endpoint?: string
  /** Signing region (default `us-east-1`, Route53's global region). */
  region?: string
  /** TTL of a new TXT set (default 60). An existing set keeps its TTL. */
  ttl?: number
  /** Consider private hosted zones during discovery (default false: public zones only). */
  privateZones?: boolean
  /** Milliseconds between `GetChange` polls in `waitForChange` (default 2 000). */
  changePollInterval?: number
  /** Give up waiting for `INSYNC` after this many milliseconds (default 300 000). */
  changeTimeout?: number
}

const PROVIDER = 'route53'
const NS = 'https://route53.amazonaws.com/doc/2013-04-01/'

interface RecordSet {
  ttl: number
  values: string[]
}

/**
 * Creates a Route53 adapter. The credentials need `route53:ListHostedZonesByName` (discovery),
 * `route53:ListResourceRecordSets`, `route53:ChangeResourceRecordSets` and `route53:GetChange`.
 *
 * @example
 * ```ts
 * import { dns01Solver } from 'webacme'
 * import { route53Adapter } from 'webacme/dns/route53'
 *
 * declare const env: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string }
 * const adapter = route53Adapter({
 *   credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
 * })
 * const solver = dns01Solver({ adapter }) // waits for INSYNC before the CA looks
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function route53Adapter(options: Route53AdapterOptions): DnsAdapter {
  if (!options?.credentials) throw new InvalidArgumentError('route53Adapter needs credentials')
  const endpoint = (options.endpoint ?? 'https://route53.amazonaws.com').replace(/\/+$/, '')
  const api = `${endpoint}/2013-04-01`
  const ttl = options.ttl ?? 60
  const credentials = options.credentials
  const http = providerClient({
    provider: PROVIDER,
    options,
    async authorize(call) {
      const signed = await signAwsRequest(
        { method: call.method, url: call.url, headers: call.headers ?? {}, body: call.body ?? '' },
        {
          credentials: typeof credentials === 'function' ? await credentials() : credentials,
          region: options.region ?? 'us-east-1',
          service: 'route53',
        },
      )
      return signed.headers
    },
    toError,
  })
  const queue = keyedQueue()
  const changes = new Map<string, string>() // `${fqdn} ${value}` -> change id that published it

  const xml = async (call: Parameters<typeof http.request>[0]): Promise<XmlElement> => {
    const res = await http.request(call)
    try {
      return parseXml(res.text)
    } catch (cause) {
      throw responseError(PROVIDER, res, { code: 'ERR_DNS_PROVIDER', message: `malformed XML: ${cause}` })
    }
  }

  const findZone = options.hostedZoneId
    ? async () => options.hostedZoneId!.replace(/^\/?hostedzone\//, '')
    : zoneFinder(PROVIDER, async (candidate) => {
        const fqdn = `${candidate}.`
        let query = `dnsname=${encodeURIComponent(fqdn)}&maxitems=10`
        // Zones come sorted by name; several zones may share one (public + private): page while they do.
        for (let page = 0; page < 10; page++) {
          const body = await xml({ method: 'GET', url: `${api}/hostedzonesbyname?${query}` })
          const zones = children(children(body, 'HostedZones')[0], 'HostedZone')
          for (const zone of zones) {
            const name = unescapeName(textAt(zone, 'Name') ?? '')
            if (name !== fqdn) return undefined
            const isPrivate = textAt(zone, 'Config', 'PrivateZone') === 'true'
            if (isPrivate && !options.privateZones) continue
            const id = textAt(zone, 'Id')
            if (id) return id.replace(/^\/hostedzone\//, '')
          }
          const nextName = textAt(body, 'NextDNSName')
          const nextId = textAt(body, 'NextHostedZoneId')
          if (textAt(body, 'IsTruncated') !== 'true' || !nextName || !nextId) return undefined
          if (unescapeName(nextName) !== fqdn) return undefined
          query = `dnsname=${encodeURIComponent(nextName)}&hostedzoneid=${encodeURIComponent(nextId)}&maxitems=10`
        }
        return undefined
      })

  const readSet = async (zoneId: string, fqdn: string, signal: AbortSignalLike | undefined) => {
    const url = `${api}/hostedzone/${encodeURIComponent(zoneId)}/rrset?name=${encodeURIComponent(fqdn)}&type=TXT&maxitems=1`
    const body = await xml({ method: 'GET', url, signal })
    // The list starts AT name/type in Route53's order: the first set may be another name's.
    const [set] = children(children(body, 'ResourceRecordSets')[0], 'ResourceRecordSet')
    if (!set || unescapeName(textAt(set, 'Name') ?? '') !== fqdn || textAt(set, 'Type') !== 'TXT')
      return undefined
    if (textAt(set, 'SetIdentifier') !== undefined) {
      throw new DnsProviderError(
        'ERR_DNS_CONFLICT',
        `route53: ${fqdn} TXT uses a routing policy; refusing to change it`,
        {
          provider: PROVIDER,
        },
      )
    }
    const values = children(children(set, 'ResourceRecords')[0], 'ResourceRecord').map(
      (r) => textAt(r, 'Value') ?? '',
    )
    return { ttl: Number(textAt(set, 'TTL') ?? ttl), values } satisfies RecordSet
  }

  const change = async (zoneId: string, action: 'UPSERT' | 'DELETE', fqdn: string, set: RecordSet) => {
    const records = set.values
      .map((value) => `<ResourceRecord><Value>${escapeXml(value)}</Value></ResourceRecord>`)
      .join('')
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<ChangeResourceRecordSetsRequest xmlns="${NS}"><ChangeBatch><Comment>webacme dns-01</Comment><Changes><Change>` +
      `<Action>${action}</Action><ResourceRecordSet><Name>${escapeXml(fqdn)}</Name><Type>TXT</Type>` +
      `<TTL>${set.ttl}</TTL><ResourceRecords>${records}</ResourceRecords></ResourceRecordSet>` +
      '</Change></Changes></ChangeBatch></ChangeResourceRecordSetsRequest>'
    const res = await xml({
      method: 'POST',
      url: `${api}/hostedzone/${encodeURIComponent(zoneId)}/rrset/`,
      headers: { 'content-type': 'text/xml' },
      body,
    })
    return textAt(res, 'ChangeInfo', 'Id')?.replace(/^\/change\//, '')
  }

  /** Read-modify-write, retried when the set changed between the read and the write (DELETE mismatch). */
  const update = async (
    name: string,
    signal: AbortSignalLike | undefined,
    edit: (
      set: RecordSet | undefined,
      fqdn: string,
    ) => { action: 'UPSERT' | 'DELETE'; set: RecordSet } | undefined,
  ) => {
    const fqdn = toFqdn(name)
    const zoneId = await findZone(canonicalName(name), signal)
    return queue(
      fqdn,
      () =>
        rereadOnConflict(async () => {
          const next = edit(await readSet(zoneId, fqdn, signal), fqdn)
          return next ? change(zoneId, next.action, fqdn, next.set) : undefined
        }),
      signal,
    )
  }

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      const key = `${toFqdn(name)} ${value}`
      const id = await update(name, call.signal, (set) => {
        const current = set ?? { ttl, values: [] }
        if (current.values.some((v) => parseTxt(v, 'octal') === value)) return undefined
        return {
          action: 'UPSERT',
          set: { ttl: current.ttl, values: [...current.values, quoteTxt(value, 'octal')] },
        }
      })
      if (id) changes.set(key, id)
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      changes.delete(`${toFqdn(name)} ${value}`)
      await update(name, call.signal, (set) => {
        if (!set) return undefined
        const values = set.values.filter((v) => parseTxt(v, 'octal') !== value)
        if (values.length === set.values.length) return undefined
        return values.length === 0
          ? { action: 'DELETE', set }
          : { action: 'UPSERT', set: { ttl: set.ttl, values } }
      })
    },
    async waitForChange(name: string, value: string, call: DnsCallOptions = {}) {
      const id = changes.get(`${toFqdn(name)} ${value}`)
      if (!id) return // nothing was written by this adapter (the value was already there)
      const url = `${api}/change/${encodeURIComponent(id)}`
      const interval = options.changePollInterval ?? 2_000
      await poll(
        {
          kind: 'route53 change',
          url,
          timeoutError: () =>
            new DnsProviderError(
              'ERR_DNS_PROVIDER',
              `route53: change ${id} for ${name} is not INSYNC in time`,
              {
                provider: PROVIDER,
              },
            ),
        },
        async () => ({
          value: textAt(await xml({ method: 'GET', url, signal: call.signal }), 'ChangeInfo', 'Status'),
          retryAfter: undefined,
        }),
        (status) => status === 'INSYNC',
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

/** Route53 writes characters outside `a-z0-9-_.` of names as `\ooo` octal escapes (`*` is `\052`). */
function unescapeName(name: string): string {
  return name
    .replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
    .toLowerCase()
}

const THROTTLED = new Set([
  'Throttling',
  'ThrottlingException',
  'PriorRequestNotComplete',
  'TooManyRequestsException',
])
const AUTH = new Set([
  'SignatureDoesNotMatch',
  'InvalidClientTokenId',
  'IncompleteSignature',
  'MissingAuthenticationToken',
  'ExpiredToken',
  'AccessDenied',
  'AccessDeniedException',
  'UnrecognizedClientException',
])
const NOT_FOUND = new Set(['NoSuchHostedZone', 'NoSuchChange'])

/**
 * Route53 errors are XML: `<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message>`, or,
 * for a rejected batch, `<InvalidChangeBatch><Messages><Message>Tried to create ... but it already exists`.
 */
function toError(res: ProviderResponse): DnsProviderError {
  let root: XmlElement | undefined
  try {
    root = parseXml(res.text)
  } catch {}
  if (root?.name === 'InvalidChangeBatch') {
    const messages = children(children(root, 'Messages')[0], 'Message').map((m) => m.text.trim())
    const message = messages.join('; ') || textAt(root, 'Message') || 'InvalidChangeBatch'
    // "already exists", "not found", "values provided do not match": the set changed under us.
    const conflict = /already exists|not found|do not match/i.test(message)
    return responseError(PROVIDER, res, {
      code: conflict ? 'ERR_DNS_CONFLICT' : 'ERR_DNS_PROVIDER',
      message,
      providerCode: 'InvalidChangeBatch',
    })
  }
  const code = textAt(root, 'Error', 'Code')
  const message = textAt(root, 'Error', 'Message')
  const mapped = !code
    ? codeForStatus(res.status)
    : THROTTLED.has(code)
      ? 'ERR_DNS_RATE_LIMITED'
      : AUTH.has(code)
        ? 'ERR_DNS_AUTH'
        : NOT_FOUND.has(code)
          ? 'ERR_DNS_NOT_FOUND'
          : codeForStatus(res.status)
  return responseError(PROVIDER, res, {
    code: mapped,
    ...(message !== undefined && { message: code ? `${code}: ${message}` : message }),
    providerCode: code,
  })
}
