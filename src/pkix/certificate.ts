/**
 * Reading the X.509 certificates an ACME server issues: names, validity, identifiers, key identifiers and the
 * serial number that renewal information (RFC 9773) needs, as one plain object.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1
 */

import { InvalidArgumentError } from '../errors.ts'
import { equalBytes, toHex, utf8 } from '../lib/bytes.ts'
import type { CryptoKey, CryptoKeyPair } from '../lib/web-types.ts'
import { formatIpAddress } from '../protocol/identifiers.ts'
import {
  DerReader,
  DerTag,
  decodeBitString,
  decodeBoolean,
  decodeOid,
  decodeString,
  decodeTime,
  readChildren,
  readDer,
  type Tlv,
} from './der.ts'
import { decodePem } from './pem.ts'
import { derivePublicKey } from './private-key.ts'
import { exportSpki } from './spki.ts'

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
// RFC 5280 §4.2.1: the extensions read here.
const OID_SUBJECT_ALT_NAME = '2.5.29.17'
const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35'
const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14'
const OID_BASIC_CONSTRAINTS = '2.5.29.19'

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
    const reason = cause instanceof InvalidArgumentError ? `: ${cause.message}` : ''
    throw new InvalidArgumentError(`not a DER X.509 certificate${reason}`, { cause })
  }
}

/**
 * RFC 5280 §4.1, read field by field: every length is checked against its input (./der.ts) and every
 * structure must be complete with nothing after it.
 */
function readCertificate(der: Uint8Array): ParsedCertificate {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue BIT STRING }
  const certificate = new DerReader(readDer(der, DerTag.SEQUENCE).value)
  const tbsCertificate = certificate.next('tbsCertificate', DerTag.SEQUENCE)
  readAlgorithmIdentifier(certificate.next('signatureAlgorithm', DerTag.SEQUENCE), 'signatureAlgorithm')
  decodeBitString(certificate.next('signatureValue', DerTag.BIT_STRING).value)
  certificate.end('Certificate')

  const tbs = new DerReader(tbsCertificate.value)
  // version [0] EXPLICIT Version DEFAULT v1, where v1(0), v2(1), v3(2).
  const version = tbs.optional(0xa0, 'version')
  if (version) {
    const value = readDer(version.value, DerTag.INTEGER).value
    if (value.length !== 1 || value[0]! > 2) throw new InvalidArgumentError('version must be v1, v2 or v3')
  }
  // CertificateSerialNumber ::= INTEGER, kept byte for byte (RFC 9773 CertIDs use the encoded octets).
  const serialNumber = tbs.next('serialNumber', DerTag.INTEGER).value
  if (serialNumber.length === 0) throw new InvalidArgumentError('empty serialNumber')
  readAlgorithmIdentifier(tbs.next('signature', DerTag.SEQUENCE), 'signature')
  const issuer = readName(tbs.next('issuer', DerTag.SEQUENCE))
  const validity = new DerReader(tbs.next('validity', DerTag.SEQUENCE).value)
  const notBefore = decodeTime(validity.next('notBefore'))
  const notAfter = decodeTime(validity.next('notAfter'))
  validity.end('Validity')
  const subject = readName(tbs.next('subject', DerTag.SEQUENCE))
  const subjectPublicKeyInfo = tbs.next('subjectPublicKeyInfo', DerTag.SEQUENCE)
  // SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const spki = new DerReader(subjectPublicKeyInfo.value)
  readAlgorithmIdentifier(
    spki.next('subjectPublicKeyInfo.algorithm', DerTag.SEQUENCE),
    'subjectPublicKeyInfo',
  )
  decodeBitString(spki.next('subjectPublicKey', DerTag.BIT_STRING).value)
  spki.end('SubjectPublicKeyInfo')
  // issuerUniqueID [1] IMPLICIT and subjectUniqueID [2] IMPLICIT BIT STRING (skipped), extensions [3] EXPLICIT.
  tbs.optional(0x81, 'issuerUniqueID')
  tbs.optional(0x82, 'subjectUniqueID')
  const extensions = tbs.optional(0xa3, 'extensions')
  tbs.end('TBSCertificate')

  const parsed: ParsedCertificate = {
    der,
    serialNumber: serialHex(serialNumber),
    serialNumberBytes: serialNumber.slice(),
    subject,
    issuer,
    notBefore,
    notAfter,
    dnsNames: [],
    ipAddresses: [],
    subjectPublicKeyInfo: subjectPublicKeyInfo.raw.slice(),
  }
  if (extensions) readExtensions(readDer(extensions.value, DerTag.SEQUENCE).value, parsed)
  return parsed
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OBJECT IDENTIFIER, parameters ANY OPTIONAL } (checked, not kept). */
function readAlgorithmIdentifier(tlv: Tlv, field: string): void {
  const algorithm = new DerReader(tlv.value)
  decodeOid(algorithm.next(`${field}.algorithm`, DerTag.OID).value)
  if (!algorithm.done) algorithm.next(`${field}.parameters`)
  algorithm.end(`${field} AlgorithmIdentifier`)
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
  const spki = await exportSpki(publicKey)
  return equalBytes(spki, parsed.subjectPublicKeyInfo)
}

function serialHex(content: Uint8Array): string {
  let start = 0
  while (start < content.length - 1 && content[start] === 0) start++
  return toHex(content.subarray(start))
}

/**
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, where Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER,
 * critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }. Reads the extensions ParsedCertificate has and checks
 * the form of all; a certificate must not carry an extension twice (RFC 5280 §4.2).
 */
function readExtensions(content: Uint8Array, into: ParsedCertificate): void {
  const seen = new Set<string>()
  const list = new DerReader(content)
  if (list.done) throw new InvalidArgumentError('empty extensions')
  while (!list.done) {
    const extension = new DerReader(list.next('Extension', DerTag.SEQUENCE).value)
    const id = decodeOid(extension.next('extnID', DerTag.OID).value)
    const critical = extension.optional(DerTag.BOOLEAN, 'critical')
    if (critical) decodeBoolean(critical.value)
    const value = extension.next('extnValue', DerTag.OCTET_STRING).value
    extension.end('Extension')
    if (seen.has(id)) throw new InvalidArgumentError(`extension ${id} appears more than once`)
    seen.add(id)
    if (id === OID_SUBJECT_ALT_NAME) {
      readSubjectAltName(value, into)
    } else if (id === OID_AUTHORITY_KEY_IDENTIFIER) {
      // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL,
      //   authorityCertIssuer [1] GeneralNames OPTIONAL, authorityCertSerialNumber [2] INTEGER OPTIONAL }
      const aki = new DerReader(readDer(value, DerTag.SEQUENCE).value)
      const keyIdentifier = aki.optional(0x80, 'keyIdentifier')
      aki.optional(0xa1, 'authorityCertIssuer')
      aki.optional(0x82, 'authorityCertSerialNumber')
      aki.end('AuthorityKeyIdentifier')
      if (keyIdentifier) into.authorityKeyIdentifier = keyIdentifier.value.slice()
    } else if (id === OID_SUBJECT_KEY_IDENTIFIER) {
      // SubjectKeyIdentifier ::= KeyIdentifier ::= OCTET STRING
      into.subjectKeyIdentifier = readDer(value, DerTag.OCTET_STRING).value.slice()
    } else if (id === OID_BASIC_CONSTRAINTS) {
      // BasicConstraints ::= SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }
      const constraints = new DerReader(readDer(value, DerTag.SEQUENCE).value)
      const cA = constraints.optional(DerTag.BOOLEAN, 'cA')
      constraints.optional(DerTag.INTEGER, 'pathLenConstraint')
      constraints.end('BasicConstraints')
      into.isCA = cA ? decodeBoolean(cA.value) : false
    }
  }
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

/**
 * Name ::= RDNSequence ::= SEQUENCE OF RelativeDistinguishedName ::= SET SIZE (1..MAX) OF
 * AttributeTypeAndValue ::= SEQUENCE { type OBJECT IDENTIFIER, value ANY }, as RFC 4514 text. Values that are
 * not character strings are written as `#` and the hex of their DER (RFC 4514 §2.4).
 */
function readName(name: Tlv): DistinguishedName {
  let commonName: string | undefined
  const rdns: string[] = []
  for (const rdn of readChildren(name.value)) {
    if (rdn.tag !== DerTag.SET) throw new InvalidArgumentError('a Name must be a SEQUENCE of SETs')
    const parts: string[] = []
    for (const attribute of readChildren(rdn.value)) {
      if (attribute.tag !== DerTag.SEQUENCE) {
        throw new InvalidArgumentError('AttributeTypeAndValue must be a SEQUENCE')
      }
      const fields = new DerReader(attribute.value)
      const type = decodeOid(fields.next('AttributeTypeAndValue.type', DerTag.OID).value)
      const value = fields.next('AttributeTypeAndValue.value')
      fields.end('AttributeTypeAndValue')
      const text = decodeString(value)
      if (type === OID_COMMON_NAME && commonName === undefined && text !== undefined) commonName = text
      parts.push(
        `${SHORT_NAMES[type] ?? type}=${text === undefined ? `#${toHex(value.raw)}` : escapeDn(text)}`,
      )
    }
    if (parts.length === 0) throw new InvalidArgumentError('empty RelativeDistinguishedName')
    rdns.push(parts.join('+'))
  }
  // RFC 4514 §2.1: the RDNSequence is written last element first.
  const dn = rdns.reverse().join(',')
  return commonName === undefined ? { dn } : { commonName, dn }
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
