/**
 * A deliberately tiny DER reader and writer (ITU-T X.690 §8, §10) for the few structures key import and export
 * need: PKCS#8, PKCS#1, SEC1, SubjectPublicKeyInfo and ECDSA signatures. It exists so that the account and JWS
 * core can handle PEM keys without bundling a general ASN.1 library; certificates and CSRs use
 * `@peculiar/asn1-*` instead.
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
  IA5_STRING: 0x16,
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
 * @throws {InvalidArgumentError} On truncated input, high tag numbers or indefinite lengths (not DER, X.690 §10.1).
 * @see https://www.itu.int/rec/T-REC-X.690 §8.1
 */
export function readTlv(bytes: Uint8Array, offset = 0): Tlv {
  const tag = bytes[offset]
  let lengthByte = bytes[offset + 1]
  if (tag === undefined || lengthByte === undefined) throw malformed('truncated element')
  if ((tag & 0x1f) === 0x1f) throw malformed('high tag numbers are not supported')
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

function malformed(reason: string): InvalidArgumentError {
  return new InvalidArgumentError(`malformed DER: ${reason}`)
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0')
}
