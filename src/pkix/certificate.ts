/**
 * Reading the X.509 certificates an ACME server issues: names, validity, identifiers, key identifiers and the
 * serial number that renewal information (RFC 9773) needs, as one plain object.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1
 */

import { AsnConvert } from '@peculiar/asn1-schema'
import {
  type AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  type Name,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509'
import { InvalidArgumentError } from '../errors.ts'
import { equalBytes, toHex, utf8 } from '../lib/bytes.ts'
import type { CryptoKey, CryptoKeyPair } from '../lib/web-types.ts'
import { formatIpAddress } from '../protocol/identifiers.ts'
import { DerTag, readChildren, readDer } from './der.ts'
import { decodePem } from './pem.ts'
import { derivePublicKey } from './private-key.ts'

/** A subject or issuer name. */
export interface DistinguishedName {
  /** The first commonName attribute, when there is one. */
  commonName?: string
  /** RFC 4514 string form: most specific RDN first, e.g. `CN=R11,O=Let's Encrypt,C=US`. */
  dn: string
}

/** The fields of a certificate an ACME client works with. */
export interface ParsedCertificate {
  /** The certificate's DER encoding. */
  der: Uint8Array
  /** Serial number as lowercase hex, without the leading `00` octet DER adds to keep it positive. */
  serialNumber: string
  /** Content octets of the serial number INTEGER exactly as encoded (leading `00` included), as RFC 9773 wants. */
  serialNumberBytes: Uint8Array
  subject: DistinguishedName
  issuer: DistinguishedName
  notBefore: Date
  notAfter: Date
  /** dNSName entries of the subjectAltName extension, in order. */
  dnsNames: string[]
  /** iPAddress entries of the subjectAltName extension as canonical text (IPv6 per RFC 5952). */
  ipAddresses: string[]
  /** keyIdentifier of the authorityKeyIdentifier extension (RFC 5280 §4.2.1.1). */
  authorityKeyIdentifier?: Uint8Array
  /** The subjectKeyIdentifier extension (RFC 5280 §4.2.1.2). */
  subjectKeyIdentifier?: Uint8Array
  /** DER SubjectPublicKeyInfo, byte for byte as in the certificate. */
  subjectPublicKeyInfo: Uint8Array
  /** The cA flag of the basicConstraints extension, when the extension is present. */
  isCA?: boolean
}

// RFC 4514 §3 attribute type short names; other types are written as dotted OIDs.
const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.6': 'C',
  '2.5.4.9': 'STREET',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
}
const OID_COMMON_NAME = '2.5.4.3'

/**
 * Parses a certificate given as PEM (the first `CERTIFICATE` block) or DER.
 *
 * @throws {InvalidArgumentError} When the input is not a certificate.
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1
 */
export function parseCertificate(pemOrDer: string | Uint8Array): ParsedCertificate {
  const der = typeof pemOrDer === 'string' ? decodePem(pemOrDer, 'CERTIFICATE').der : pemOrDer
  if (!(der instanceof Uint8Array)) {
    throw new InvalidArgumentError('certificate must be PEM text or DER bytes')
  }
  try {
    return readCertificate(der)
  } catch (cause) {
    if (cause instanceof InvalidArgumentError) throw cause
    throw new InvalidArgumentError('not a DER X.509 certificate', { cause })
  }
}

function readCertificate(der: Uint8Array): ParsedCertificate {
  const certificate = AsnConvert.parse(der, Certificate)
  const tbs = certificate.tbsCertificate
  const raw = rawTbsFields(der)

  const parsed: ParsedCertificate = {
    der,
    serialNumber: serialHex(raw.serialNumber),
    serialNumberBytes: raw.serialNumber.slice(),
    subject: distinguishedName(tbs.subject),
    issuer: distinguishedName(tbs.issuer),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    dnsNames: [],
    ipAddresses: [],
    subjectPublicKeyInfo: raw.subjectPublicKeyInfo.slice(),
  }
  for (const extension of tbs.extensions ?? []) {
    const value = new Uint8Array(extension.extnValue.buffer)
    if (extension.extnID === id_ce_subjectAltName) {
      readSubjectAltName(value, parsed)
    } else if (extension.extnID === id_ce_authorityKeyIdentifier) {
      const keyIdentifier = AsnConvert.parse(value, AuthorityKeyIdentifier).keyIdentifier
      if (keyIdentifier) parsed.authorityKeyIdentifier = new Uint8Array(keyIdentifier.buffer)
    } else if (extension.extnID === id_ce_subjectKeyIdentifier) {
      parsed.subjectKeyIdentifier = new Uint8Array(AsnConvert.parse(value, SubjectKeyIdentifier).buffer)
    } else if (extension.extnID === id_ce_basicConstraints) {
      parsed.isCA = AsnConvert.parse(value, BasicConstraints).cA
    }
  }
  return parsed
}

/**
 * Whether a certificate is for a key: compares its SubjectPublicKeyInfo with the key's. A private key on its
 * own must be extractable, since WebCrypto can only reach its public key through a JWK export.
 *
 * @throws {InvalidArgumentError} When the certificate cannot be parsed or the key's public part cannot be exported.
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.7
 */
export async function certificateMatchesKey(
  cert: string | Uint8Array | ParsedCertificate,
  key: CryptoKey | CryptoKeyPair,
): Promise<boolean> {
  if (typeof key !== 'object' || key === null) {
    throw new InvalidArgumentError('key must be a CryptoKey or CryptoKeyPair')
  }
  const parsed = typeof cert === 'string' || cert instanceof Uint8Array ? parseCertificate(cert) : cert
  const publicKey = 'publicKey' in key ? key.publicKey : await derivePublicKey(key)
  if (!publicKey.extractable) {
    throw new InvalidArgumentError(
      'the public key is not extractable, so it cannot be compared with the certificate',
    )
  }
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', publicKey))
  return equalBytes(spki, parsed.subjectPublicKeyInfo)
}

/** The serial number and SubjectPublicKeyInfo exactly as encoded, which a schema-based parse does not keep. */
function rawTbsFields(der: Uint8Array): { serialNumber: Uint8Array; subjectPublicKeyInfo: Uint8Array } {
  const [tbs] = readChildren(readDer(der, DerTag.SEQUENCE).value)
  const fields = readChildren(tbs?.value ?? new Uint8Array())
  // RFC 5280 §4.1: [0] version (optional), serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo.
  const first = fields[0]?.tag === 0xa0 ? 1 : 0
  const serialNumber = fields[first]
  const subjectPublicKeyInfo = fields[first + 5]
  if (serialNumber?.tag !== DerTag.INTEGER || subjectPublicKeyInfo?.tag !== DerTag.SEQUENCE) {
    throw new InvalidArgumentError('malformed TBSCertificate')
  }
  return { serialNumber: serialNumber.value, subjectPublicKeyInfo: subjectPublicKeyInfo.raw }
}

function serialHex(content: Uint8Array): string {
  let start = 0
  while (start < content.length - 1 && content[start] === 0) start++
  return toHex(content.subarray(start))
}

/** Collects dNSName [2] and iPAddress [7] entries of GeneralNames (RFC 5280 §4.2.1.6); other forms are skipped. */
function readSubjectAltName(value: Uint8Array, into: ParsedCertificate): void {
  for (const name of readChildren(readDer(value, DerTag.SEQUENCE).value)) {
    if (name.tag === 0x82) {
      into.dnsNames.push(utf8.decode(name.value))
    } else if (name.tag === 0x87 && (name.value.length === 4 || name.value.length === 16)) {
      into.ipAddresses.push(formatIpAddress(name.value))
    }
  }
}

function distinguishedName(name: Name): DistinguishedName {
  let commonName: string | undefined
  const rdns: string[] = []
  for (const rdn of name) {
    const parts: string[] = []
    for (const attribute of rdn) {
      const text = attributeText(attribute.value)
      if (attribute.type === OID_COMMON_NAME && commonName === undefined && text !== undefined) {
        commonName = text
      }
      const type = SHORT_NAMES[attribute.type] ?? attribute.type
      parts.push(
        `${type}=${text === undefined ? `#${toHex(new Uint8Array(attribute.value.anyValue!))}` : escapeDn(text)}`,
      )
    }
    rdns.push(parts.join('+'))
  }
  // RFC 4514 §2.1: the RDNSequence is written last element first.
  const dn = rdns.reverse().join(',')
  return commonName === undefined ? { dn } : { commonName, dn }
}

function attributeText(value: AttributeValue): string | undefined {
  if (value.anyValue) return undefined
  return (
    value.utf8String ??
    value.printableString ??
    value.ia5String ??
    value.bmpString ??
    value.universalString ??
    value.teletexString ??
    ''
  )
}

/** RFC 4514 §2.4 escaping. */
function escapeDn(text: string): string {
  const chars = [...text]
  return chars
    .map((ch, index) => {
      if (ch === '\0') return '\\00'
      const edge = (index === 0 && (ch === ' ' || ch === '#')) || (index === chars.length - 1 && ch === ' ')
      return edge || '"+,;<>\\'.includes(ch) ? `\\${ch}` : ch
    })
    .join('')
}
