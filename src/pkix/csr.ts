/**
 * Certificate signing requests for ACME finalization (RFC 8555 §7.4), and the identifier rules they share with
 * orders: DNS names (with wildcards) and IP addresses (RFC 8738).
 *
 * @see https://www.rfc-editor.org/rfc/rfc2986 PKCS#10
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.4
 */

import { InvalidArgumentError } from '../errors.ts'
import { utf8 } from '../lib/bytes.ts'
import type { CryptoKeyPair } from '../lib/web-types.ts'
import {
  formatIpAddress,
  type OrderIdentifier,
  parseIpAddress,
  toIdentifiers,
  tryParseIpAddress,
} from '../protocol/identifiers.ts'
import type { Identifier } from '../protocol/resources.ts'
import {
  derBoolean,
  derContext,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derUtf8String,
  encodeTlv,
} from './der.ts'
import { encodePem } from './pem.ts'
import { signedDer, x509SignatureAlgorithm } from './signature.ts'
import { exportSpki } from './spki.ts'

/** An identifier a certificate is requested for (RFC 8555 §9.7.7, RFC 8738 §3). */
export type CsrIdentifier = OrderIdentifier

/** Input of {@link createCsr}. */
export interface CreateCsrOptions {
  /** The certificate key pair: the CSR carries the public key and is signed with the private key. */
  keys: CryptoKeyPair
  /**
   * The identifiers of the order (`order.identifiers`, or strings as for `createOrder`), in the order they
   * should appear in the subjectAltName extension.
   */
  identifiers: ReadonlyArray<string | Identifier>
  /**
   * Subject common name. By default the first DNS identifier when it fits the 64-character limit; a string
   * must be one of the identifiers; `false` leaves the subject empty.
   */
  commonName?: string | false
}

const OID_COMMON_NAME = '2.5.4.3'
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14'
const OID_SUBJECT_ALT_NAME = '2.5.29.17'
// RFC 5280 Appendix A.1: ub-common-name INTEGER ::= 64.
const MAX_COMMON_NAME = 64

/**
 * Creates a DER-encoded PKCS#10 certificate request: the identifiers go in a subjectAltName extension carried
 * in an extensionRequest attribute (RFC 2985 §5.4.2), the subject holds at most a common name. Signed with
 * ECDSA (SHA-256/384/512 for P-256/384/521), RSASSA-PKCS1-v1_5 (the key's hash) or Ed25519.
 *
 * @throws {InvalidArgumentError} On invalid identifiers, a common name that is not one of them, or keys that do
 *   not form a pair.
 * @throws {UnsupportedError} For other key algorithms.
 * @see https://www.rfc-editor.org/rfc/rfc2986#section-4
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.4
 */
export async function createCsr(options: CreateCsrOptions): Promise<Uint8Array> {
  const { keys } = options
  if (keys?.privateKey?.type !== 'private' || keys.publicKey?.type !== 'public') {
    throw new InvalidArgumentError('createCsr needs keys: { privateKey, publicKey } (a CryptoKeyPair)')
  }
  if (!Array.isArray(options.identifiers) || options.identifiers.length === 0) {
    throw new InvalidArgumentError('createCsr needs at least one identifier')
  }
  const identifiers = toIdentifiers(options.identifiers)
  const commonName = pickCommonName(identifiers, options.commonName)
  const signature = x509SignatureAlgorithm(keys.privateKey)

  // RFC 5280 §4.1.2.4 Name: an RDNSequence, here empty or one RDN holding one commonName as UTF8String.
  const subject =
    commonName === undefined
      ? derSequence()
      : derSequence(derSet(derSequence(derOid(OID_COMMON_NAME), derUtf8String(commonName))))
  // RFC 5280 §4.2.1.6: with an empty subject the subjectAltName MUST be critical; request it that way.
  // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE (so left out when false), extnValue }.
  const san = derSequence(
    derOid(OID_SUBJECT_ALT_NAME),
    ...(commonName === undefined ? [derBoolean(true)] : []),
    derOctetString(encodeGeneralNames(identifiers)),
  )
  const spki = await exportSpki(keys.publicKey)
  // RFC 2986 §4.1: CertificationRequestInfo ::= SEQUENCE { version INTEGER { v1(0) }, subject Name,
  // subjectPKInfo, attributes [0] IMPLICIT SET OF Attribute }; RFC 2985 §5.4.2: the extensionRequest
  // attribute's single value is the Extensions SEQUENCE.
  const extensionRequest = derSequence(derOid(OID_EXTENSION_REQUEST), derSet(derSequence(san)))
  const info = derSequence(derInteger(0), subject, spki, derContext(0, extensionRequest))
  // A mismatched pair fails in signX509 rather than as a badCSR from the server.
  return signedDer(keys, signature, info)
}

/**
 * PEM `CERTIFICATE REQUEST` text of a DER CSR (RFC 7468 §7).
 *
 * @see https://www.rfc-editor.org/rfc/rfc7468#section-7
 */
export function csrToPem(der: Uint8Array): string {
  return encodePem('CERTIFICATE REQUEST', der)
}

function pickCommonName(
  identifiers: CsrIdentifier[],
  requested: string | false | undefined,
): string | undefined {
  if (requested === false) return undefined
  if (requested === undefined) {
    const first = identifiers.find((id) => id.type === 'dns')
    return first && first.value.length <= MAX_COMMON_NAME ? first.value : undefined
  }
  if (typeof requested !== 'string') throw new InvalidArgumentError('commonName must be a string or false')
  // RFC 8555 §7.4: the CSR must request exactly the order's identifiers, and the CN counts as one.
  const wanted = requested.toLowerCase()
  const match = identifiers.find(
    (id) => id.value === wanted || (id.type === 'ip' && id.value === canonicalIpOrUndefined(requested)),
  )
  if (!match) {
    throw new InvalidArgumentError(`commonName ${JSON.stringify(requested)} is not one of the identifiers`)
  }
  if (match.value.length > MAX_COMMON_NAME) {
    throw new InvalidArgumentError(
      `commonName is longer than ${MAX_COMMON_NAME} characters (RFC 5280 ub-common-name)`,
    )
  }
  return match.value
}

function canonicalIpOrUndefined(text: string): string | undefined {
  const bytes = tryParseIpAddress(text)
  return bytes && formatIpAddress(bytes)
}

/** GeneralNames (RFC 5280 §4.2.1.6) written directly, so IP octets come from our parser and nobody else's. */
function encodeGeneralNames(identifiers: CsrIdentifier[]): Uint8Array {
  const names = identifiers.map((id) =>
    // dNSName [2] IA5String and iPAddress [7] OCTET STRING, both IMPLICIT.
    id.type === 'dns' ? encodeTlv(0x82, utf8.encode(id.value)) : encodeTlv(0x87, parseIpAddress(id.value)),
  )
  return derSequence(...names)
}
