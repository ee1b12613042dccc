/**
 * A minimal DNS message codec (RFC 1035 §4) for DNS-over-HTTPS: encodes one question, decodes a response's
 * header and answer section, following name compression pointers (§4.1.4) and decoding CNAME and TXT data.
 */

/** Record types the codec knows by name (RFC 1035 §3.2.2, RFC 3596, RFC 8659). */
export const DNS_TYPES: Readonly<Record<'A' | 'NS' | 'CNAME' | 'SOA' | 'TXT' | 'AAAA' | 'CAA', number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  TXT: 16,
  AAAA: 28,
  CAA: 257,
}

/** RCODE names (RFC 1035 §4.1.1, RFC 2136 §2.2, RFC 6895 §2.3). */
const RCODES = [
  'NOERROR',
  'FORMERR',
  'SERVFAIL',
  'NXDOMAIN',
  'NOTIMP',
  'REFUSED',
  'YXDOMAIN',
  'YXRRSET',
  'NXRRSET',
  'NOTAUTH',
  'NOTZONE',
] as const

/** The name of an RCODE (`SERVFAIL`), or `RCODE<n>` for the others. */
export function rcodeName(rcode: number): string {
  return RCODES[rcode] ?? `RCODE${rcode}`
}

/** One resource record of a decoded message. */
export interface DnsRecord {
  /** Owner name, canonical (lower case, no trailing dot). */
  name: string
  type: number
  class: number
  ttl: number
  /** CNAME/NS: the target name (canonical); TXT: the character-strings, decoded; others: raw RDATA. */
  data: string | string[] | Uint8Array
}

/** A decoded DNS message: header fields and the answer section. */
export interface DnsMessage {
  id: number
  /** QR bit: this is a response. */
  response: boolean
  /** TC bit: truncated. */
  truncated: boolean
  rcode: number
  answers: DnsRecord[]
}

/** Thrown for a message that cannot be decoded. */
export class DnsMessageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DnsMessageError'
  }
}

/**
 * A query for `name`/`type` with ID 0 (RFC 8484 §4.1: DoH clients SHOULD use 0, so that equal queries are
 * equal HTTP requests and cache well) and RD set, one question of class IN, no EDNS.
 */
export function encodeDnsQuery(name: string, type: number): Uint8Array {
  const labels = name.replace(/\.$/, '').split('.').filter(Boolean)
  const encoded = labels.map((label) => new TextEncoder().encode(label))
  const length = 12 + encoded.reduce((sum, l) => sum + 1 + l.length, 0) + 1 + 4
  const out = new Uint8Array(length)
  const view = new DataView(out.buffer)
  view.setUint16(0, 0) // ID
  view.setUint16(2, 0x0100) // flags: RD
  view.setUint16(4, 1) // QDCOUNT
  let offset = 12
  for (const label of encoded) {
    if (label.length === 0 || label.length > 63) throw new DnsMessageError(`bad label in ${name}`)
    out[offset++] = label.length
    out.set(label, offset)
    offset += label.length
  }
  out[offset++] = 0
  view.setUint16(offset, type)
  view.setUint16(offset + 2, 1) // class IN
  return out
}

/** Decodes a DNS message's header and answer section (authority and additional are skipped). */
export function decodeDnsMessage(bytes: Uint8Array): DnsMessage {
  if (bytes.length < 12) throw new DnsMessageError('DNS message shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const flags = view.getUint16(2)
  const qdcount = view.getUint16(4)
  const ancount = view.getUint16(6)
  let offset = 12
  for (let i = 0; i < qdcount; i++) {
    offset = readName(bytes, offset).end + 4
    if (offset > bytes.length) throw new DnsMessageError('DNS question runs past the message')
  }
  const answers: DnsRecord[] = []
  for (let i = 0; i < ancount; i++) {
    const owner = readName(bytes, offset)
    offset = owner.end
    if (offset + 10 > bytes.length) throw new DnsMessageError('DNS record header runs past the message')
    const type = view.getUint16(offset)
    const klass = view.getUint16(offset + 2)
    const ttl = view.getUint32(offset + 4)
    const rdlength = view.getUint16(offset + 8)
    const start = offset + 10
    const end = start + rdlength
    if (end > bytes.length) throw new DnsMessageError('DNS record data runs past the message')
    answers.push({ name: owner.name, type, class: klass, ttl, data: decodeData(bytes, type, start, end) })
    offset = end
  }
  return {
    id: view.getUint16(0),
    response: (flags & 0x8000) !== 0,
    truncated: (flags & 0x0200) !== 0,
    rcode: flags & 0x000f,
    answers,
  }
}

function decodeData(bytes: Uint8Array, type: number, start: number, end: number): DnsRecord['data'] {
  if (type === DNS_TYPES.CNAME || type === DNS_TYPES.NS) {
    const target = readName(bytes, start)
    if (target.end !== end) throw new DnsMessageError('DNS name in RDATA does not fill it')
    return target.name
  }
  if (type === DNS_TYPES.TXT) {
    // RFC 1035 §3.3.14: one or more <character-string>s, each a length byte and that many bytes.
    const strings: string[] = []
    for (let at = start; at < end; ) {
      const length = bytes[at]!
      if (at + 1 + length > end) throw new DnsMessageError('TXT character-string runs past its record')
      strings.push(new TextDecoder().decode(bytes.subarray(at + 1, at + 1 + length)))
      at += 1 + length
    }
    return strings
  }
  return bytes.slice(start, end)
}

/** Reads a (possibly compressed) name at `offset`; `end` is where the name ends in place (after a pointer). */
export function readName(bytes: Uint8Array, offset: number): { name: string; end: number } {
  const labels: string[] = []
  let at = offset
  let end: number | undefined
  // A pointer always points backwards in well-formed messages; bounding the jumps stops loops regardless.
  for (let jumps = 0; ; ) {
    if (at >= bytes.length) throw new DnsMessageError('DNS name runs past the message')
    const length = bytes[at]!
    if (length === 0) {
      end ??= at + 1
      break
    }
    if ((length & 0xc0) === 0xc0) {
      if (at + 1 >= bytes.length) throw new DnsMessageError('DNS compression pointer runs past the message')
      if (++jumps > 64) throw new DnsMessageError('DNS compression pointers loop')
      end ??= at + 2
      at = ((length & 0x3f) << 8) | bytes[at + 1]!
      continue
    }
    if ((length & 0xc0) !== 0) throw new DnsMessageError('unknown DNS label type')
    if (at + 1 + length > bytes.length) throw new DnsMessageError('DNS label runs past the message')
    labels.push(new TextDecoder().decode(bytes.subarray(at + 1, at + 1 + length)).toLowerCase())
    at += 1 + length
  }
  return { name: labels.join('.'), end }
}
