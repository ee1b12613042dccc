/**
 * DNS wire format for dynamic updates: building an UPDATE message (RFC 2136 §2) and an SOA query, both ready to be
 * signed with TSIG, and reading a response's header and the position of its last record (where TSIG sits). Names
 * are written uncompressed and in lower case, the canonical form TSIG's MAC is computed over (RFC 8945 §4.3.3).
 */
import { DNS_TYPES, DnsMessageError, readName } from '../message.ts'

/** Record classes (RFC 1035 §3.2.4, RFC 2136 §2.4: NONE and ANY carry the meaning of an update). */
export const DNS_CLASS = { IN: 1, NONE: 254, ANY: 255 } as const

/** Opcode UPDATE (RFC 2136 §1.3). */
export const OPCODE_UPDATE = 5

const encoder = new TextEncoder()

/** A growing byte buffer with big-endian writers. */
export class WireWriter {
  #bytes = new Uint8Array(512)
  #length = 0

  get length(): number {
    return this.#length
  }

  #room(n: number): number {
    const at = this.#length
    if (at + n > this.#bytes.length) {
      const next = new Uint8Array(Math.max(this.#bytes.length * 2, at + n))
      next.set(this.#bytes.subarray(0, at))
      this.#bytes = next
    }
    this.#length += n
    return at
  }

  u8(value: number): this {
    this.#bytes[this.#room(1)] = value
    return this
  }

  u16(value: number): this {
    const at = this.#room(2)
    this.#bytes[at] = value >>> 8
    this.#bytes[at + 1] = value & 0xff
    return this
  }

  u32(value: number): this {
    return this.u16(Math.floor(value / 0x10000) & 0xffff).u16(value & 0xffff)
  }

  /** A 48-bit unsigned integer (TSIG's Time Signed, RFC 8945 §4.2). */
  u48(value: number): this {
    return this.u16(Math.floor(value / 0x100000000) & 0xffff).u32(value % 0x100000000)
  }

  bytes(data: Uint8Array): this {
    this.#bytes.set(data, this.#room(data.length))
    return this
  }

  /** A domain name, uncompressed, lower case (RFC 1035 §3.1; canonical form of RFC 4034 §6.2). */
  name(name: string): this {
    return this.bytes(encodeName(name))
  }

  /** Overwrites a 16-bit field written earlier (a count or RDLENGTH known only afterwards). */
  patch16(offset: number, value: number): this {
    this.#bytes[offset] = value >>> 8
    this.#bytes[offset + 1] = value & 0xff
    return this
  }

  finish(): Uint8Array {
    return this.#bytes.slice(0, this.#length)
  }
}

/** `name` (with or without the trailing dot) as uncompressed wire labels, lower case. The root is `.` or ``. */
export function encodeName(name: string): Uint8Array {
  const labels = name.replace(/\.$/, '').toLowerCase().split('.').filter(Boolean)
  const parts = labels.map((label) => encoder.encode(label))
  const out = new Uint8Array(parts.reduce((sum, l) => sum + 1 + l.length, 0) + 1)
  let at = 0
  for (const label of parts) {
    // RFC 1035 §2.3.4: labels of 63 octets or less, names of 255 octets or less.
    if (label.length === 0 || label.length > 63) throw new DnsMessageError(`bad label in ${name}`)
    out[at++] = label.length
    out.set(label, at)
    at += label.length
  }
  if (out.length > 255) throw new DnsMessageError(`name longer than 255 octets: ${name}`)
  return out
}

/** TXT RDATA for one value: the value's bytes cut into <character-string>s of at most 255 bytes (RFC 1035 §3.3.14). */
export function txtRdata(value: string): Uint8Array {
  const bytes = encoder.encode(value)
  const w = new WireWriter()
  if (bytes.length === 0) w.u8(0)
  for (let at = 0; at < bytes.length; at += 255) {
    const chunk = bytes.subarray(at, at + 255)
    w.u8(chunk.length).bytes(chunk)
  }
  if (w.length > 0xffff) throw new DnsMessageError('TXT value too long for one record')
  return w.finish()
}

/** One record of an UPDATE's prerequisite or update section (RFC 2136 §2.4, §2.5). */
export interface UpdateRecord {
  name: string
  type: number
  class: number
  ttl: number
  rdata: Uint8Array
}

function writeHeader(
  w: WireWriter,
  id: number,
  flags: number,
  counts: [number, number, number, number],
): void {
  w.u16(id).u16(flags)
  for (const count of counts) w.u16(count)
}

function writeRecord(w: WireWriter, r: UpdateRecord): void {
  w.name(r.name).u16(r.type).u16(r.class).u32(r.ttl).u16(r.rdata.length).bytes(r.rdata)
}

/**
 * An UPDATE message (RFC 2136 §2): header with opcode UPDATE, the zone section (ZNAME, SOA, IN; §2.3), the
 * prerequisites (§2.4) and the updates (§2.5). The additional section is left for TSIG.
 */
export function encodeUpdate(
  id: number,
  zone: string,
  prerequisites: readonly UpdateRecord[],
  updates: readonly UpdateRecord[],
): Uint8Array {
  const w = new WireWriter()
  writeHeader(w, id, OPCODE_UPDATE << 11, [1, prerequisites.length, updates.length, 0])
  w.name(zone).u16(DNS_TYPES.SOA).u16(DNS_CLASS.IN)
  for (const r of prerequisites) writeRecord(w, r)
  for (const r of updates) writeRecord(w, r)
  return w.finish()
}

/** A standard query (opcode QUERY, RD clear: the server answers from its own zones) for `name`/`type` in IN. */
export function encodeQuery(id: number, name: string, type: number): Uint8Array {
  const w = new WireWriter()
  writeHeader(w, id, 0, [1, 0, 0, 0])
  w.name(name).u16(type).u16(DNS_CLASS.IN)
  return w.finish()
}

/** A response's header, and where its last record starts (for TSIG, which must be last; RFC 8945 §5.4). */
export interface ResponseLayout {
  id: number
  response: boolean
  opcode: number
  rcode: number
  arcount: number
  /** Offset of the last record of the additional section, when that section is not empty. */
  lastAdditional: { offset: number; type: number; rdataOffset: number; rdataEnd: number } | undefined
}

/** Walks every section of `bytes`, checking lengths; throws {@link DnsMessageError} on a malformed message. */
export function scanResponse(bytes: Uint8Array): ResponseLayout {
  if (bytes.length < 12) throw new DnsMessageError('DNS message shorter than its header')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const flags = view.getUint16(2)
  const [qd, an, ns, ar] = [view.getUint16(4), view.getUint16(6), view.getUint16(8), view.getUint16(10)]
  let offset = 12
  for (let i = 0; i < qd; i++) {
    offset = readName(bytes, offset).end + 4
    if (offset > bytes.length) throw new DnsMessageError('DNS question runs past the message')
  }
  let last: ResponseLayout['lastAdditional']
  const records = an + ns + ar
  for (let i = 0; i < records; i++) {
    const start = offset
    offset = readName(bytes, offset).end
    if (offset + 10 > bytes.length) throw new DnsMessageError('DNS record header runs past the message')
    const type = view.getUint16(offset)
    const rdataOffset = offset + 10
    const rdataEnd = rdataOffset + view.getUint16(offset + 8)
    if (rdataEnd > bytes.length) throw new DnsMessageError('DNS record data runs past the message')
    if (i === records - 1 && ar > 0) last = { offset: start, type, rdataOffset, rdataEnd }
    offset = rdataEnd
  }
  if (offset !== bytes.length) throw new DnsMessageError('bytes left after the last DNS record')
  return {
    id: view.getUint16(0),
    response: (flags & 0x8000) !== 0,
    opcode: (flags >>> 11) & 0x0f,
    rcode: flags & 0x000f,
    arcount: ar,
    lastAdditional: last,
  }
}
