/**
 * A deliberately small DER reader and writer (ITU-T X.690 §8, §10, §11) for the structures webacme handles:
 * PKCS#8, PKCS#1, SEC1, SubjectPublicKeyInfo, ECDSA signatures, and the X.509 certificates and PKCS#10
 * requests of the issuance path. It exists so that the library needs no general ASN.1 package; each
 * structure is read field by field with {@link DerReader}, every length checked against its input.
 *
 * Only low tag numbers (< 31) and definite lengths are supported, which covers everything above.
 *
 * @see https://www.itu.int/rec/T-REC-X.690
 */

import { InvalidArgumentError } from '../errors.ts'
import { concatBytes } from '../lib/bytes.ts'

/** Universal tags (X.690 §8) used by webacme, with the constructed bit set for SEQUENCE and SET. */
export const DerTag = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  TELETEX_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const

/** One decoded tag-length-value element. */
export interface Tlv {
  /** The identifier octet (class, constructed bit and tag number), e.g. `0x30` for SEQUENCE, `0xa0` for `[0]`. */
  tag: number
  /** The content octets. */
  value: Uint8Array
  /** The whole element: identifier, length and content. */
  raw: Uint8Array
  /** Offset just past this element in the input. */
  end: number
}

/**
 * Reads the element starting at `offset`.
 *
 * @throws {InvalidArgumentError} On truncated input, high tag numbers, end-of-contents or indefinite lengths (not
 *   DER, X.690 §10.1).
 * @see https://www.itu.int/rec/T-REC-X.690 §8.1
 */
export function readTlv(bytes: Uint8Array, offset = 0): Tlv {
  const tag = bytes[offset]
  let lengthByte = bytes[offset + 1]
  if (tag === undefined || lengthByte === undefined) throw malformed('truncated element')
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag numbers are not supported')
  // X.690 §8.1.5: tag 0 is the end-of-contents marker of indefinite lengths, which DER does not use.
  if (tag === 0) throw malformed('end-of-contents (tag 0) is not DER')
  let position = offset + 2
  let length = lengthByte
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f
    // X.690 §10.1: DER uses the definite form only; 4 length octets already allow 4 GiB.
    if (count === 0) throw malformed('indefinite length is not DER')
    if (count > 4) throw malformed('length too large')
    length = 0
    for (let i = 0; i < count; i++) {
      lengthByte = bytes[position++]
      if (lengthByte === undefined) throw malformed('truncated length')
      length = length * 256 + lengthByte
    }
  }
  const end = position + length
  if (end > bytes.length) throw malformed('element longer than its input')
  return { tag, value: bytes.subarray(position, end), raw: bytes.subarray(offset, end), end }
}

/**
 * Reads an element that must be the whole input and have the given tag (no trailing bytes).
 *
 * @throws {InvalidArgumentError} When the tag differs or bytes follow the element.
 */
export function readDer(bytes: Uint8Array, tag: number): Tlv {
  const tlv = readTlv(bytes)
  if (tlv.tag !== tag) throw malformed(`expected tag 0x${hex2(tag)}, found 0x${hex2(tlv.tag)}`)
  if (tlv.end !== bytes.length) throw malformed('trailing bytes after the element')
  return tlv
}

/** Reads all elements of a constructed value's content (the children of a SEQUENCE, SET or explicit tag). */
export function readChildren(content: Uint8Array): Tlv[] {
  const children: Tlv[] = []
  for (let offset = 0; offset < content.length; ) {
    const child = readTlv(content, offset)
    children.push(child)
    offset = child.end
  }
  return children
}

/**
 * Reads the elements of a constructed value in order, the way the fields of a SEQUENCE are: required ones with
 * {@link DerReader.next}, OPTIONAL and DEFAULT ones with {@link DerReader.optional}, then {@link DerReader.end}.
 * Errors name the field, so a malformed structure says where it broke.
 */
export class DerReader {
  private readonly content: Uint8Array
  private offset = 0

  /** @param content The content octets of the constructed element (a {@link Tlv}'s `value`). */
  constructor(content: Uint8Array) {
    this.content = content
  }

  /** Whether every element has been read. */
  get done(): boolean {
    return this.offset >= this.content.length
  }

  /**
   * The next element; with `tag`, it must have that tag.
   *
   * @param field What the element is, for error messages (e.g. `tbsCertificate.serialNumber`).
   * @throws {InvalidArgumentError} When there is no next element, it is malformed or it has another tag.
   */
  next(field: string, tag?: number): Tlv {
    if (this.done) throw malformed(`${field} is missing`)
    const tlv = readTlv(this.content, this.offset)
    if (tag !== undefined && tlv.tag !== tag) {
      throw malformed(`${field}: expected tag 0x${hex2(tag)}, found 0x${hex2(tlv.tag)}`)
    }
    this.offset = tlv.end
    return tlv
  }

  /** The next element when it has `tag` (an OPTIONAL or DEFAULT field that is present); otherwise reads nothing. */
  optional(tag: number, field: string): Tlv | undefined {
    return this.content[this.offset] === tag ? this.next(field, tag) : undefined
  }

  /**
   * Checks that every element was read.
   *
   * @param structure The structure whose fields these are, for the error message.
   * @throws {InvalidArgumentError} When elements remain.
   */
  end(structure: string): void {
    if (!this.done) throw malformed(`unexpected element at the end of ${structure}`)
  }
}

/**
 * BOOLEAN content octets (X.690 §11.1: DER writes TRUE as `FF`).
 *
 * @throws {InvalidArgumentError} When the content is not one octet `00` or `FF`.
 */
export function decodeBoolean(content: Uint8Array): boolean {
  if (content.length !== 1 || (content[0] !== 0 && content[0] !== 0xff)) {
    throw malformed('BOOLEAN must be one octet, 00 or FF')
  }
  return content[0] === 0xff
}

/**
 * The octets of a BIT STRING of whole octets, as keys and signatures are (X.690 §8.6.2: the first content octet
 * counts the unused bits of the last one).
 *
 * @throws {InvalidArgumentError} When the content is empty or has unused bits.
 */
export function decodeBitString(content: Uint8Array): Uint8Array {
  if (content.length === 0) throw malformed('empty BIT STRING')
  if (content[0] !== 0) throw malformed('BIT STRING with unused bits where whole octets are expected')
  return content.subarray(1)
}

/**
 * The text of a character string element, or `undefined` for other tags: UTF8String (invalid UTF-8 is read
 * as Latin-1), PrintableString, IA5String, TeletexString (one character per octet), BMPString (UTF-16BE) and
 * UniversalString (UTF-32BE).
 *
 * @throws {InvalidArgumentError} For a BMPString or UniversalString whose length is not a whole number of
 *   characters, or a UniversalString character beyond U+10FFFF.
 * @see https://www.itu.int/rec/T-REC-X.680 §41
 */
export function decodeString(tlv: Tlv): string | undefined {
  const { tag, value } = tlv
  switch (tag) {
    case DerTag.UTF8_STRING:
      try {
        return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(value)
      } catch {
        return latin1(value)
      }
    case DerTag.PRINTABLE_STRING:
    case DerTag.TELETEX_STRING:
    case DerTag.IA5_STRING:
      return latin1(value)
    case DerTag.BMP_STRING: {
      if (value.length % 2 !== 0) throw malformed('BMPString of an odd number of octets')
      let text = ''
      for (let i = 0; i < value.length; i += 2) text += String.fromCharCode((value[i]! << 8) | value[i + 1]!)
      return text
    }
    case DerTag.UNIVERSAL_STRING: {
      if (value.length % 4 !== 0) throw malformed('UniversalString length is not a multiple of 4')
      let text = ''
      for (let i = 0; i < value.length; i += 4) {
        const code = value[i]! * 0x1000000 + ((value[i + 1]! << 16) | (value[i + 2]! << 8) | value[i + 3]!)
        if (code > 0x10ffff) throw malformed('UniversalString character beyond U+10FFFF')
        text += String.fromCodePoint(code)
      }
      return text
    }
    default:
      return undefined
  }
}

/**
 * A UTCTime or GeneralizedTime element as a Date, in the forms RFC 5280 §4.1.2.5 allows: `YYMMDDHHMMSSZ`
 * (YY ≥ 50 is 19YY, else 20YY) and `YYYYMMDDHHMMSSZ`; GeneralizedTime may carry fractional seconds (X.690
 * §11.7), kept to the millisecond. Years before 100 are read as such (0001 is year 1, not 1901).
 *
 * @throws {InvalidArgumentError} For another tag, another form, or a date or time that does not exist.
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5
 */
export function decodeTime(tlv: Tlv): Date {
  const utc = tlv.tag === DerTag.UTC_TIME
  if (!utc && tlv.tag !== DerTag.GENERALIZED_TIME) {
    throw malformed(`expected UTCTime or GeneralizedTime, found tag 0x${hex2(tlv.tag)}`)
  }
  // The longest form accepted, YYYYMMDDHHMMSS.fffffffffZ, has 25 characters.
  const text = tlv.value.length <= 25 ? latin1(tlv.value) : ''
  const match = utc
    ? /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)Z$/.exec(text)
    : /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.(\d{1,9}))?Z$/.exec(text)
  if (!match) {
    throw malformed(utc ? 'UTCTime must be YYMMDDHHMMSSZ' : 'GeneralizedTime must be YYYYMMDDHHMMSS[.fff]Z')
  }
  const [digits = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0] = match.slice(1, 7).map(Number)
  const year = utc ? digits + (digits >= 50 ? 1900 : 2000) : digits
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  const monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
  if (monthDays === undefined || day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) {
    throw malformed(`time ${JSON.stringify(text)} does not exist`)
  }
  const date = new Date(0)
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  date.setUTCFullYear(year, month - 1, day)
  date.setUTCHours(hour, minute, second, Number((match[7] ?? '').slice(0, 3).padEnd(3, '0')))
  return date
}

/** Encodes one element with a definite, minimal length (X.690 §10.1). */
export function encodeTlv(tag: number, content: Uint8Array): Uint8Array {
  const length = content.length
  let header: Uint8Array
  if (length < 0x80) {
    header = Uint8Array.of(tag, length)
  } else {
    const lengthBytes: number[] = []
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthBytes.unshift(rest % 256)
    header = Uint8Array.of(tag, 0x80 | lengthBytes.length, ...lengthBytes)
  }
  return concatBytes(header, content)
}

/** SEQUENCE of already-encoded elements. */
export function derSequence(...elements: Uint8Array[]): Uint8Array {
  return encodeTlv(DerTag.SEQUENCE, concatBytes(...elements))
}

/**
 * INTEGER from an unsigned big-endian magnitude or a small non-negative number, minimally encoded: leading
 * zero octets dropped, and one `0x00` added back when the first octet has its high bit set so that the value
 * stays positive (X.690 §8.3.2).
 */
export function derInteger(value: Uint8Array | number): Uint8Array {
  let bytes: Uint8Array
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError('INTEGER must be a non-negative safe integer')
    }
    const digits: number[] = []
    for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) digits.unshift(rest % 256)
    bytes = Uint8Array.from(digits)
  } else {
    bytes = value
  }
  let start = 0
  while (start < bytes.length && bytes[start] === 0) start++
  const magnitude = bytes.subarray(start)
  if (magnitude.length === 0) return encodeTlv(DerTag.INTEGER, Uint8Array.of(0))
  const content = magnitude[0]! & 0x80 ? concatBytes(Uint8Array.of(0), magnitude) : magnitude
  return encodeTlv(DerTag.INTEGER, content)
}

/**
 * The unsigned magnitude of INTEGER content octets (sign octet and leading zeros removed).
 *
 * @throws {InvalidArgumentError} When the integer is negative or empty.
 */
export function integerMagnitude(content: Uint8Array): Uint8Array {
  if (content.length === 0) throw malformed('empty INTEGER')
  if (content[0]! & 0x80) throw malformed('negative INTEGER')
  let start = 0
  while (start < content.length - 1 && content[start] === 0) start++
  return content.subarray(start)
}

/** OCTET STRING. */
export function derOctetString(bytes: Uint8Array): Uint8Array {
  return encodeTlv(DerTag.OCTET_STRING, bytes)
}

/** BIT STRING of whole octets (zero unused bits, X.690 §8.6.2). */
export function derBitString(bytes: Uint8Array): Uint8Array {
  return encodeTlv(DerTag.BIT_STRING, concatBytes(Uint8Array.of(0), bytes))
}

/** NULL (`05 00`), the parameters of rsaEncryption and of the sha*WithRSAEncryption signatures. */
export function derNull(): Uint8Array {
  return Uint8Array.of(DerTag.NULL, 0)
}

/**
 * Context-specific tag `[n]` around already-encoded content; constructed (EXPLICIT) by default.
 *
 * @param n The tag number, 0..30.
 */
export function derContext(n: number, content: Uint8Array, constructed = true): Uint8Array {
  if (!Number.isInteger(n) || n < 0 || n > 30) {
    throw new InvalidArgumentError('context tag number must be 0..30')
  }
  return encodeTlv(0x80 | (constructed ? 0x20 : 0) | n, content)
}

/**
 * SET OF already-encoded elements, sorted by their encodings as DER requires (X.690 §11.6).
 */
export function derSet(...elements: Uint8Array[]): Uint8Array {
  return encodeTlv(DerTag.SET, concatBytes(...elements.slice().sort(compareBytes)))
}

/** BOOLEAN, `FF` for TRUE (X.690 §11.1). */
export function derBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(DerTag.BOOLEAN, 1, value ? 0xff : 0)
}

/** UTF8String. */
export function derUtf8String(text: string): Uint8Array {
  return encodeTlv(DerTag.UTF8_STRING, new TextEncoder().encode(text))
}

/**
 * A certificate validity time (RFC 5280 §4.1.2.5): UTCTime for 1950 through 2049, GeneralizedTime otherwise,
 * both in UTC to the second (milliseconds are dropped).
 *
 * @throws {InvalidArgumentError} For an invalid date or a year outside 0..9999.
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.5
 */
export function derTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear()
  if (!Number.isFinite(date.getTime()) || year < 0 || year > 9999) {
    throw new InvalidArgumentError('time must be a valid date in years 0..9999')
  }
  const two = (n: number) => String(n).padStart(2, '0')
  const rest = [
    date.getUTCMonth() + 1,
    date.getUTCDate(),
    date.getUTCHours(),
    date.getUTCMinutes(),
    date.getUTCSeconds(),
  ]
    .map(two)
    .join('')
  const utc = year >= 1950 && year < 2050
  const text = `${utc ? two(year % 100) : String(year).padStart(4, '0')}${rest}Z`
  return encodeTlv(utc ? DerTag.UTC_TIME : DerTag.GENERALIZED_TIME, new TextEncoder().encode(text))
}

/**
 * OBJECT IDENTIFIER from dotted text (X.690 §8.19): the first two arcs share one subidentifier, each
 * subidentifier is base-128 with the high bit marking continuation.
 */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map((arc) => (/^\d+$/.test(arc) ? Number(arc) : Number.NaN))
  const [first, second, ...rest] = arcs
  if (
    first === undefined ||
    second === undefined ||
    !arcs.every(Number.isSafeInteger) ||
    first > 2 ||
    (first < 2 && second > 39)
  ) {
    throw new InvalidArgumentError(`invalid OBJECT IDENTIFIER ${JSON.stringify(dotted)}`)
  }
  const out: number[] = []
  for (const arc of [first * 40 + second, ...rest]) {
    const digits = [arc % 128]
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) digits.unshift((v % 128) | 0x80)
    out.push(...digits)
  }
  return encodeTlv(DerTag.OID, Uint8Array.from(out))
}

/**
 * Dotted text of OBJECT IDENTIFIER content octets.
 *
 * @throws {InvalidArgumentError} On truncated or oversized subidentifiers.
 */
export function decodeOid(content: Uint8Array): string {
  const arcs: number[] = []
  let value = 0
  for (let i = 0; i < content.length; i++) {
    const byte = content[i]!
    if (value === 0 && byte === 0x80) throw malformed('OBJECT IDENTIFIER subidentifier is not minimal')
    value = value * 128 + (byte & 0x7f)
    if (!Number.isSafeInteger(value)) throw malformed('OBJECT IDENTIFIER arc too large')
    if (byte & 0x80) {
      if (i === content.length - 1) throw malformed('truncated OBJECT IDENTIFIER')
      continue
    }
    if (arcs.length === 0) {
      const first = value < 80 ? Math.floor(value / 40) : 2
      arcs.push(first, value - first * 40)
    } else {
      arcs.push(value)
    }
    value = 0
  }
  if (arcs.length === 0) throw malformed('empty OBJECT IDENTIFIER')
  return arcs.join('.')
}

/**
 * Converts an ECDSA signature from the fixed-size `r || s` form WebCrypto and JWS use (RFC 7518 §3.4) to the
 * DER `Ecdsa-Sig-Value` X.509 and CSRs use.
 *
 * @throws {InvalidArgumentError} When the input is empty or of odd length.
 * @see https://www.rfc-editor.org/rfc/rfc3279#section-2.2.3
 */
export function ecdsaRawToDer(signature: Uint8Array): Uint8Array {
  if (signature.length === 0 || signature.length % 2 !== 0) {
    throw new InvalidArgumentError('raw ECDSA signature must be r || s of equal, non-zero lengths')
  }
  const half = signature.length / 2
  // RFC 3279 §2.2.3: Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }.
  return derSequence(derInteger(signature.subarray(0, half)), derInteger(signature.subarray(half)))
}

/**
 * Converts a DER `Ecdsa-Sig-Value` to fixed-size `r || s`, each left-padded to `coordinateLength` octets
 * (32 for P-256, 48 for P-384, 66 for P-521).
 *
 * @throws {InvalidArgumentError} When the DER is malformed or `r` or `s` do not fit `coordinateLength`.
 * @see https://www.rfc-editor.org/rfc/rfc3279#section-2.2.3
 */
export function ecdsaDerToRaw(der: Uint8Array, coordinateLength: number): Uint8Array {
  if (!Number.isInteger(coordinateLength) || coordinateLength <= 0) {
    throw new InvalidArgumentError('coordinateLength must be a positive integer')
  }
  const children = readChildren(readDer(der, DerTag.SEQUENCE).value)
  if (children.length !== 2 || children.some((child) => child.tag !== DerTag.INTEGER)) {
    throw malformed('Ecdsa-Sig-Value must be a SEQUENCE of two INTEGERs')
  }
  const out = new Uint8Array(coordinateLength * 2)
  children.forEach((child, index) => {
    const magnitude = integerMagnitude(child.value)
    if (magnitude.length > coordinateLength) throw malformed('ECDSA signature value larger than the curve')
    out.set(magnitude, (index + 1) * coordinateLength - magnitude.length)
  })
  return out
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/** One character per octet (ISO 8859-1), without spreading large inputs onto the stack. */
function latin1(bytes: Uint8Array): string {
  let text = ''
  for (let i = 0; i < bytes.length; i += 4096) {
    text += String.fromCharCode(...bytes.subarray(i, i + 4096))
  }
  return text
}

function malformed(reason: string): InvalidArgumentError {
  return new InvalidArgumentError(`malformed DER: ${reason}`)
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0')
}
