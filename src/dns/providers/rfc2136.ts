/**
 * dns-01 adapter for any authoritative server that takes dynamic updates (RFC 2136) signed with TSIG (RFC 8945):
 * BIND, Knot DNS, PowerDNS, Windows DNS, ... A value is added with one UPDATE "add to an RRset" (§2.5.1) and removed
 * with one "delete an RR from an RRset" (§2.5.4); the server applies each atomically, so concurrent calls at one
 * name (an apex and its wildcard) need no lock, and both are idempotent on the server's side (§3.4.2.2, §3.4.2.4).
 * The zone is found by SOA queries up the labels, or given.
 *
 * Web APIs have no sockets: the caller passes a {@link DnsTransport}. `nodeTcpTransport()` from
 * `webacme/dns/rfc2136/node` serves Node, Deno and Bun; {@link streamTransport} wraps Cloudflare Workers'
 * `connect()`. Tested against real BIND 9.18 and Knot DNS 3.2 in this repository.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc2136 RFC 2136: Dynamic Updates in the DNS}
 * @see {@link https://www.rfc-editor.org/rfc/rfc8945 RFC 8945: TSIG}
 *
 * @module webacme/dns/rfc2136
 */
import { InvalidArgumentError } from '../../errors.ts'
import { throwIfAborted } from '../../lib/abort.ts'
import type { AbortSignalLike } from '../../lib/web-types.ts'
import type { DnsAdapter, DnsCallOptions } from '../adapter.ts'
import { DnsProviderError } from '../errors.ts'
import { DNS_TYPES, DnsMessageError, decodeDnsMessage, rcodeName } from '../message.ts'
import { DnsUpdateError } from '../rfc2136/errors.ts'
import type { DnsTransport } from '../rfc2136/transport.ts'
import {
  checkAnswer,
  importTsigKey,
  type PreparedTsigKey,
  parseTsigKey,
  signMessage,
  type TsigKey,
  tsigErrorName,
} from '../rfc2136/tsig.ts'
import {
  DNS_CLASS,
  encodeQuery,
  encodeUpdate,
  scanResponse,
  txtRdata,
  type UpdateRecord,
} from '../rfc2136/wire.ts'
import { canonicalName, zoneFinder } from '../zone.ts'

export { DnsUpdateError } from '../rfc2136/errors.ts'
export {
  type DnsTransport,
  type DnsTransportOptions,
  type StreamSocketLike,
  type StreamTransportOptions,
  streamTransport,
} from '../rfc2136/transport.ts'
export type { TsigAlgorithm, TsigKey } from '../rfc2136/tsig.ts'

/** Options of {@link rfc2136Adapter}. */
export interface Rfc2136AdapterOptions {
  /** How to reach the server: `nodeTcpTransport()` (`webacme/dns/rfc2136/node`) or `streamTransport()`. */
  transport: DnsTransport
  /** The TSIG key the server's update policy allows (BIND `allow-update`/`update-policy`, Knot `acl`). */
  tsig: TsigKey
  /** The zone to update (e.g. `example.com`), skipping the SOA queries that find it. */
  zone?: string
  /** TTL of added TXT records (default 60). */
  ttl?: number
  /** Seconds of clock difference the server may allow for our signature (TSIG fudge, default 300; RFC 8945 §10). */
  fudge?: number
  /** The clock TSIG times are taken from, in milliseconds since the epoch (default `Date.now`). */
  clock?: () => number
}

const PROVIDER = 'rfc2136'

/** RCODEs by number (RFC 1035 §4.1.1, RFC 2136 §2.2). */
const RCODE = {
  NOERROR: 0,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
} as const

/**
 * Creates an RFC 2136 adapter. Every message, the zone-finding SOA queries included, is signed with `tsig`, and
 * every answer's TSIG is checked; a failure is a {@link DnsUpdateError} naming the RCODE and the TSIG error:
 * `ERR_DNS_AUTH` for a key the server rejects (`NOTAUTH` with `BADKEY`/`BADSIG`/`BADTIME`) or a policy that
 * refuses the change (`REFUSED`), `ERR_DNS_NOT_FOUND` for a zone the server does not serve (`NOTAUTH`, `NOTZONE`,
 * or no SOA up the labels), `ERR_DNS_CONFLICT` for a CNAME at the name, `ERR_DNS_PROVIDER` for the rest.
 *
 * @example
 * ```ts
 * import { dns01Solver } from 'webacme'
 * import { rfc2136Adapter } from 'webacme/dns/rfc2136'
 * import { nodeTcpTransport } from 'webacme/dns/rfc2136/node'
 *
 * const solver = dns01Solver({
 *   adapter: rfc2136Adapter({
 *     transport: nodeTcpTransport({ host: '192.0.2.53', port: 53 }),
 *     tsig: { name: 'acme-update', secret: 'c2VjcmV0IGtleSBieXRlcyBmb3IgdGhlIGV4YW1wbGUh', algorithm: 'hmac-sha256' },
 *   }),
 * })
 * console.log(solver.type)
 * ```
 */
/* @__NO_SIDE_EFFECTS__ */
export function rfc2136Adapter(options: Rfc2136AdapterOptions): DnsAdapter {
  if (typeof options?.transport !== 'function')
    throw new InvalidArgumentError('rfc2136Adapter needs a transport')
  const parsed = parseTsigKey(options.tsig)
  const ttl = options.ttl ?? 60
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) {
    throw new InvalidArgumentError(`rfc2136Adapter: ttl must be an integer 0-2147483647, got ${ttl}`)
  }
  const fudge = options.fudge ?? 300
  if (!Number.isInteger(fudge) || fudge < 0 || fudge > 0xffff) {
    throw new InvalidArgumentError(`rfc2136Adapter: fudge must be an integer 0-65535, got ${fudge}`)
  }
  const fixedZone = options.zone === undefined ? undefined : canonicalName(options.zone)
  const { transport } = options
  const clock = options.clock ?? Date.now
  const server = transport.server
  const at = server ? ` at ${server}` : ''
  let key: Promise<PreparedTsigKey> | undefined

  const fail = (
    code: ConstructorParameters<typeof DnsUpdateError>[0],
    message: string,
    init: { rcode?: string; tsigError?: string; cause?: unknown } = {},
  ) => new DnsUpdateError(code, `${PROVIDER}: ${message}`, { server, ...init })

  /** Signs `message`, sends it, checks the answer's ID and TSIG; resolves to the answer and its RCODE. */
  const exchange = async (message: Uint8Array, what: string, signal: AbortSignalLike | undefined) => {
    key ??= importTsigKey(parsed)
    const k = await key
    const signed = await signMessage(message, k, Math.floor(clock() / 1000), fudge)
    throwIfAborted(signal)
    let answer: Uint8Array
    try {
      answer = await transport(signed.message, { signal })
    } catch (err) {
      if ((signal?.aborted && err === signal.reason) || err instanceof DnsProviderError) throw err
      throw fail('ERR_DNS_PROVIDER', `${what}${at} failed: ${err instanceof Error ? err.message : err}`, {
        cause: err,
      })
    }
    const id = (message[0]! << 8) | message[1]!
    const opcode = (message[2]! >>> 3) & 0x0f
    let layout: ReturnType<typeof scanResponse>
    try {
      layout = scanResponse(answer)
    } catch (err) {
      throw fail('ERR_DNS_PROVIDER', `malformed answer to ${what}${at}: ${(err as Error).message}`, {
        cause: err,
      })
    }
    if (!layout.response || layout.id !== id || layout.opcode !== opcode) {
      throw fail(
        'ERR_DNS_PROVIDER',
        `the answer to ${what}${at} is not for our request (ID, QR or opcode differ)`,
      )
    }
    const rcode = rcodeName(layout.rcode)
    let check: Awaited<ReturnType<typeof checkAnswer>>
    try {
      check = await checkAnswer(answer, layout, k, signed.mac, Math.floor(clock() / 1000))
    } catch (err) {
      if (!(err instanceof DnsMessageError)) throw err
      throw fail('ERR_DNS_PROVIDER', `malformed TSIG in the answer to ${what}${at}: ${err.message}`, {
        cause: err,
      })
    }
    const keyText = `TSIG key "${k.name}" (${k.algorithm})`
    if (check.ok === false && check.reason === 'server-error') {
      const tsigError = tsigErrorName(check.error)
      const why =
        tsigError === 'BADKEY'
          ? `the server does not know the ${keyText}, or not for this zone`
          : tsigError === 'BADSIG'
            ? `the server could not verify our signature with the ${keyText}: wrong secret?`
            : tsigError === 'BADTIME' && check.serverTime !== undefined
              ? `the server's clock (${check.serverTime}) and ours (${Math.floor(clock() / 1000)}) differ by more than the fudge (${fudge} s)`
              : `the server rejected the ${keyText}`
      throw fail('ERR_DNS_AUTH', `${why} (${rcode}, TSIG error ${tsigError}) for ${what}${at}`, {
        rcode,
        tsigError,
      })
    }
    if (check.ok === false && check.reason === 'client-error') {
      const tsigError = tsigErrorName(check.error)
      throw fail(
        'ERR_DNS_AUTH',
        `the answer to ${what}${at} fails its TSIG check (${tsigError}): ${check.detail}`,
        {
          rcode,
          tsigError,
        },
      )
    }
    if (check.ok === false && layout.rcode === RCODE.NOERROR) {
      // RFC 8945 §5.4: the answer to a signed request must be signed; an unsigned success proves nothing.
      throw fail('ERR_DNS_AUTH', `the answer to ${what}${at} is not signed (sent with the ${keyText})`, {
        rcode,
      })
    }
    return { answer, rcode: layout.rcode }
  }

  const nextId = () => crypto.getRandomValues(new Uint16Array(1))[0]!

  const findZone = zoneFinder(PROVIDER, async (candidate) => {
    const { answer, rcode } = await exchange(
      encodeQuery(nextId(), candidate, DNS_TYPES.SOA),
      `the SOA query for ${candidate}`,
      undefined,
    )
    if (rcode === RCODE.NOERROR) {
      const soa = decodeDnsMessage(answer).answers.some(
        (r) => r.type === DNS_TYPES.SOA && r.name === candidate,
      )
      return soa ? candidate : undefined
    }
    // Not a zone of this server (REFUSED, NOTAUTH) or no such name (NXDOMAIN): try the parent.
    if (rcode === RCODE.NXDOMAIN || rcode === RCODE.REFUSED || rcode === RCODE.NOTAUTH) return undefined
    throw fail('ERR_DNS_PROVIDER', `the SOA query for ${candidate}${at} failed: ${rcodeName(rcode)}`, {
      rcode: rcodeName(rcode),
    })
  })

  const update = async (
    name: string,
    value: string,
    signal: AbortSignalLike | undefined,
    records: (fqdn: string, rdata: Uint8Array) => { prerequisites: UpdateRecord[]; updates: UpdateRecord[] },
    verb: string,
  ) => {
    throwIfAborted(signal)
    const fqdn = canonicalName(name)
    if (typeof value !== 'string') throw new InvalidArgumentError('a TXT value must be a string')
    let rdata: Uint8Array
    try {
      rdata = txtRdata(value)
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message)
    }
    const zone = fixedZone ?? (await findZone(fqdn, signal))
    const { prerequisites, updates } = records(fqdn, rdata)
    const what = `the UPDATE that ${verb} a TXT value at ${fqdn} in zone ${zone}`
    const message = encodeUpdate(nextId(), zone, prerequisites, updates)
    const { rcode } = await exchange(message, what, signal)
    if (rcode === RCODE.NOERROR) return
    throw updateError(rcode, what, fqdn, zone)
  }

  const updateError = (rcode: number, what: string, fqdn: string, zone: string) => {
    const name = rcodeName(rcode)
    const text = (reason: string) => `${what}${at} failed with ${name}: ${reason}`
    switch (rcode) {
      case RCODE.NOTAUTH:
        return fail('ERR_DNS_NOT_FOUND', text(`the server is not authoritative for ${zone}`), { rcode: name })
      case RCODE.NOTZONE:
        return fail('ERR_DNS_NOT_FOUND', text(`${fqdn} is not inside the zone ${zone}`), { rcode: name })
      case RCODE.REFUSED:
        return fail(
          'ERR_DNS_AUTH',
          text(`the update policy does not let the key ${parsed.name} change ${fqdn}`),
          {
            rcode: name,
          },
        )
      case RCODE.YXRRSET:
        return fail('ERR_DNS_CONFLICT', text(`${fqdn} is a CNAME: a TXT record cannot be added beside it`), {
          rcode: name,
        })
      case RCODE.YXDOMAIN:
      case RCODE.NXRRSET:
      case RCODE.NXDOMAIN:
        return fail('ERR_DNS_CONFLICT', text('a prerequisite did not hold'), { rcode: name })
      default:
        return fail('ERR_DNS_PROVIDER', text('the server could not apply it'), { rcode: name })
    }
  }

  return {
    name: PROVIDER,
    async createTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(
        name,
        value,
        call.signal,
        (fqdn, rdata) => ({
          // §2.4.3 "RRset does not exist" for CNAME: a server silently ignores a TXT added beside a CNAME
          // (§3.4.2.2), which would look like success; with this prerequisite it answers YXRRSET instead.
          prerequisites: [
            { name: fqdn, type: DNS_TYPES.CNAME, class: DNS_CLASS.NONE, ttl: 0, rdata: new Uint8Array(0) },
          ],
          // §2.5.1 "Add to an RRset": an RR already there is ignored (§3.4.2.2), so this is idempotent.
          updates: [{ name: fqdn, type: DNS_TYPES.TXT, class: DNS_CLASS.IN, ttl, rdata }],
        }),
        'adds',
      )
    },
    async removeTxt(name: string, value: string, call: DnsCallOptions = {}) {
      await update(
        name,
        value,
        call.signal,
        (fqdn, rdata) => ({
          prerequisites: [],
          // §2.5.4 "Delete an RR from an RRset": CLASS NONE, TTL 0; deleting an absent RR is a no-op (§3.4.2.4).
          updates: [{ name: fqdn, type: DNS_TYPES.TXT, class: DNS_CLASS.NONE, ttl: 0, rdata }],
        }),
        'removes',
      )
    },
  }
}
