/**
 * Reading a PKCS#10 certificate request someone else made (`openssl req`, a key management system, an HSM), to
 * order exactly the identifiers it requests. Built on `@peculiar/asn1-csr`, so it stays off the issuance path:
 * createCsr and parseCertificate need only the small DER code of ./der.ts.
 *
 * @see https://www.rfc-editor.org/rfc/rfc2986
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.4
 */

import { CertificationRequest } from '@peculiar/asn1-csr'
import { AsnConvert } from '@peculiar/asn1-schema'
import { type AttributeValue, Extensions, type Name, SubjectAlternativeName } from '@peculiar/asn1-x509'
import { InvalidArgumentError } from '../errors.ts'
import { toArrayBuffer } from '../lib/bytes.ts'
import type { CryptoKey } from '../lib/web-types.ts'
import { formatIpAddress, tryParseIpAddress } from '../protocol/identifiers.ts'
import type { CsrIdentifier } from './csr.ts'
import { DerTag, decodeBitString, decodeOid, ecdsaDerToRaw, readChildren, readDer } from './der.ts'
import { decodePemAll } from './pem.ts'
import { coordinateLength, importAlgorithm, type RsaHash } from './private-key.ts'

/** What {@link parseCsr} reads from a certificate request. */
export interface ParsedCsr {
  /**
   * The identifiers the request is for, as an order must list them (RFC 8555 §7.4): the dNSName and iPAddress
   * entries of its subjectAltName extension in order, then the subject common name when it is not among them.
   * DNS names are lowercased and IP addresses in canonical text (IPv6 per RFC 5952), duplicates removed.
   */
  identifiers: CsrIdentifier[]
  /** The first commonName of the subject, when there is one. */
  commonName?: string
  /** DER SubjectPublicKeyInfo, byte for byte as in the request. */
  subjectPublicKeyInfo: Uint8Array
  /** The request's DER encoding. */
  der: Uint8Array
}

const OID_COMMON_NAME = '2.5.4.3'
// RFC 2985 §5.4.2 extensionRequest; RFC 5280 §4.2.1.6 subjectAltName.
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14'
const OID_SUBJECT_ALT_NAME = '2.5.29.17'
const PEM_LABELS = ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST']

/**
 * Parses a certificate request given as PEM (the first `CERTIFICATE REQUEST` block, or the legacy `NEW
 * CERTIFICATE REQUEST` label) or DER. The signature is not checked here; the CA checks it at finalization.
 * subjectAltName forms other than dNSName and iPAddress (email, URI, ...) are not identifiers and are left out.
 *
 * @throws {InvalidArgumentError} When the input is not a PKCS#10 request, or its extensionRequest or
 *   subjectAltName is malformed or repeated.
 * @see https://www.rfc-editor.org/rfc/rfc2986#section-4
 * @see https://www.rfc-editor.org/rfc/rfc7468#section-7
 */
export function parseCsr(pemOrDer: string | Uint8Array): ParsedCsr {
  const der = typeof pemOrDer === 'string' ? csrPem(pemOrDer) : pemOrDer
  if (!(der instanceof Uint8Array)) {
    throw new InvalidArgumentError('certificate request must be PEM text or DER bytes')
  }
  try {
    return readCsr(der)
  } catch (cause) {
    const reason = cause instanceof Error ? `: ${cause.message}` : ''
    throw new InvalidArgumentError(`not a DER PKCS#10 certificate request${reason}`, { cause })
  }
}

function csrPem(text: string): Uint8Array {
  const block = decodePemAll(text).find((b) => PEM_LABELS.includes(b.label))
  if (!block) throw new InvalidArgumentError('expected a PEM "CERTIFICATE REQUEST" block')
  return block.der
}

function readCsr(der: Uint8Array): ParsedCsr {
  // The ASN.1 parser tolerates trailing bytes; a request is exactly one SEQUENCE.
  const [info] = readChildren(readDer(der, DerTag.SEQUENCE).value)
  const request = AsnConvert.parse(der, CertificationRequest)
  const { version, subject, attributes } = request.certificationRequestInfo
  if (version !== 0) throw new Error(`unknown version ${version} (PKCS#10 v1 is 0)`)
  // CertificationRequestInfo ::= SEQUENCE { version, subject, subjectPKInfo, attributes [0] }; the
  // SubjectPublicKeyInfo is kept as encoded rather than re-encoded.
  const subjectPublicKeyInfo = readChildren(info?.value ?? new Uint8Array())[2]
  if (subjectPublicKeyInfo?.tag !== DerTag.SEQUENCE) throw new Error('malformed subjectPKInfo')

  const identifiers: CsrIdentifier[] = []
  const seen = new Set<string>()
  const add = (id: CsrIdentifier) => {
    const key = `${id.type}:${id.value}`
    if (!seen.has(key)) identifiers.push(id)
    seen.add(key)
  }
  const requests = (attributes ?? []).filter((attribute) => attribute.type === OID_EXTENSION_REQUEST)
  if (requests.length > 1 || (requests[0] && requests[0].values.length !== 1)) {
    throw new Error('more than one extensionRequest')
  }
  const extensions = requests[0] ? AsnConvert.parse(requests[0].values[0]!, Extensions) : []
  const sans = extensions.filter((extension) => extension.extnID === OID_SUBJECT_ALT_NAME)
  if (sans.length > 1) throw new Error('more than one subjectAltName extension')
  for (const name of sans[0] ? AsnConvert.parse(sans[0].extnValue.buffer, SubjectAlternativeName) : []) {
    if (name.dNSName !== undefined) {
      add({ type: 'dns', value: name.dNSName.toLowerCase() })
    } else if (name.iPAddress !== undefined) {
      const bytes = tryParseIpAddress(name.iPAddress)
      if (!bytes) throw new Error(`subjectAltName iPAddress ${name.iPAddress} is not 4 or 16 octets`)
      add({ type: 'ip', value: formatIpAddress(bytes) })
    }
  }
  const commonName = firstCommonName(subject)
  if (commonName !== undefined) {
    // RFC 8555 §7.4: identifiers appear in the common name, the subjectAltName, or both.
    const ip = tryParseIpAddress(commonName)
    add(ip ? { type: 'ip', value: formatIpAddress(ip) } : { type: 'dns', value: commonName.toLowerCase() })
  }
  const parsed: ParsedCsr = { identifiers, subjectPublicKeyInfo: subjectPublicKeyInfo.raw.slice(), der }
  if (commonName !== undefined) parsed.commonName = commonName
  return parsed
}

function firstCommonName(subject: Name): string | undefined {
  for (const rdn of subject) {
    for (const attribute of rdn) {
      if (attribute.type !== OID_COMMON_NAME) continue
      const text = directoryString(attribute.value)
      if (text !== undefined) return text
    }
  }
  return undefined
}

function directoryString(value: AttributeValue): string | undefined {
  return (
    value.utf8String ??
    value.printableString ??
    value.ia5String ??
    value.bmpString ??
    value.universalString ??
    value.teletexString
  )
}

/** The signature algorithms a request is checked with (RFC 4055 §5, RFC 5758 §3.2, RFC 8410 §3): OID → scheme. */
const SIGNATURES: Record<string, { name: 'RSASSA-PKCS1-v1_5' | 'ECDSA' | 'Ed25519'; hash: RsaHash }> = {
  '1.2.840.113549.1.1.11': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
  '1.2.840.113549.1.1.12': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-384' },
  '1.2.840.113549.1.1.13': { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-512' },
  '1.2.840.10045.4.3.2': { name: 'ECDSA', hash: 'SHA-256' },
  '1.2.840.10045.4.3.3': { name: 'ECDSA', hash: 'SHA-384' },
  '1.2.840.10045.4.3.4': { name: 'ECDSA', hash: 'SHA-512' },
  '1.3.101.112': { name: 'Ed25519', hash: 'SHA-256' },
}

/**
 * Checks a certificate request's signature with the public key it carries: the requester's proof that it holds the
 * private key (RFC 2986 §3, §4.2). Let's Encrypt refuses a request whose signature fails (`badCSR`, RFC 8555 §7.4)
 * only at finalization, after the order was placed and its authorizations validated; Pebble 2.4 does not check it at
 * all and issues. Checking first spares those. Uses WebCrypto only, over the request's bytes as they are (as Go's
 * `CheckSignature`, which Boulder uses, does).
 *
 * @returns `true` or `false`; `undefined` when the request's algorithm or key is one this runtime's WebCrypto
 *   cannot check (RSASSA-PSS, SHA-1, a curve other than P-256/384/521, Ed25519 where it is missing): the CA decides.
 * @example
 * ```ts
 * import { parseCsr, verifyCsrSignature } from 'webacme'
 *
 * declare const csrPem: string
 * if ((await verifyCsrSignature(parseCsr(csrPem))) === false) throw new Error('the request was altered')
 * ```
 * @see https://www.rfc-editor.org/rfc/rfc2986#section-4.2
 */
export async function verifyCsrSignature(csr: ParsedCsr): Promise<boolean | undefined> {
  // CertificationRequest ::= SEQUENCE { certificationRequestInfo, signatureAlgorithm, signature BIT STRING }
  const [info, algorithm, signature] = readChildren(readDer(csr.der, DerTag.SEQUENCE).value)
  const [oid] = readChildren(algorithm?.value ?? new Uint8Array())
  if (!info || signature?.tag !== DerTag.BIT_STRING || oid?.tag !== DerTag.OID) return false
  const scheme = SIGNATURES[decodeOid(oid.value)]
  if (!scheme) return undefined
  const [keyAlgorithm] = readChildren(readDer(csr.subjectPublicKeyInfo, DerTag.SEQUENCE).value)
  let key: CryptoKey
  let imported: ReturnType<typeof importAlgorithm>
  try {
    imported = importAlgorithm(keyAlgorithm!, scheme.hash)
    // A key of another kind than the signature says (an RSA key under ecdsa-with-SHA256): the request is wrong.
    if (imported.name !== scheme.name) return false
    key = await crypto.subtle.importKey('spki', toArrayBuffer(csr.subjectPublicKeyInfo), imported, false, [
      'verify',
    ])
  } catch {
    return undefined // a key type or curve this runtime does not import
  }
  let bytes = decodeBitString(signature.value)
  if (scheme.name === 'ECDSA') {
    try {
      bytes = ecdsaDerToRaw(bytes, coordinateLength(imported.namedCurve ?? '') ?? 0)
    } catch {
      return false // not an Ecdsa-Sig-Value
    }
  }
  const params = scheme.name === 'ECDSA' ? { name: 'ECDSA', hash: scheme.hash } : { name: scheme.name }
  return crypto.subtle.verify(params, key, toArrayBuffer(bytes), toArrayBuffer(info.raw))
}
