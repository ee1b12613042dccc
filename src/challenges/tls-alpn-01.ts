/**
 * tls-alpn-01 (RFC 8737): the CA opens a TLS connection to port 443 of the identifier, offers only the ALPN
 * protocol `acme-tls/1` and expects a self-signed certificate for the identifier carrying the critical
 * id-pe-acmeIdentifier extension with SHA-256 of the key authorization. IP identifiers (RFC 8738 §6) use the
 * reverse-DNS name as SNI and an iPAddress SAN.
 *
 * This module builds that certificate with WebCrypto and the DER writer of ../pkix/der.ts; serving it is the
 * caller's TLS server's job (there is no TLS server API common to Workers, Deno, Bun and browsers).
 */
import { InvalidArgumentError } from '../errors.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { utf8 } from '../lib/bytes.ts'
import type { CryptoKeyPair } from '../lib/web-types.ts'
import {
  derBoolean,
  derContext,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUtf8String,
  encodeTlv,
} from '../pkix/der.ts'
import { encodePem } from '../pkix/pem.ts'
import { exportPrivateKeyPem } from '../pkix/private-key.ts'
import { signedDer, x509SignatureAlgorithm } from '../pkix/signature.ts'
import { type OrderIdentifier, parseIpAddress, toIdentifier } from '../protocol/identifiers.ts'
import type { Identifier } from '../protocol/resources.ts'
import type { ChallengeContext, ChallengeSolver } from './solver.ts'

/**
 * The ALPN protocol name the CA offers, and the only one the validation server may negotiate.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8737#section-6.2 RFC 8737 §6.2}
 */
export const ACME_TLS_ALPN_PROTOCOL = 'acme-tls/1'

/**
 * id-pe-acmeIdentifier, `{ id-pe 31 }`.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8737#section-6.1 RFC 8737 §6.1}
 */
export const ID_PE_ACME_IDENTIFIER = '1.3.6.1.5.5.7.1.31'

const OID_SUBJECT_ALT_NAME = '2.5.29.17'
const OID_COMMON_NAME = '2.5.4.3'
// RFC 5280 Appendix A.1: ub-common-name INTEGER ::= 64.
const MAX_COMMON_NAME = 64
const DAY_MS = 86_400_000

/** Input of {@link createTlsAlpn01Certificate}. */
export interface TlsAlpn01CertificateOptions {
  /** The identifier being validated: a DNS name (no wildcard) or an IP address (RFC 8738). */
  identifier: Identifier | string
  /** The challenge's key authorization, `token.thumbprint` (RFC 8555 §8.1). */
  keyAuthorization: string
  /** The certificate's key pair (default: a new extractable ECDSA P-256 pair). */
  keys?: CryptoKeyPair
  /** Validity in days from now (default 7). The CA ignores it; it only needs to parse. */
  validityDays?: number
}

/** A tls-alpn-01 validation certificate. */
export interface TlsAlpn01Certificate {
  /** The certificate, PEM. */
  certificatePem: string
  /** PKCS#8 PEM of the private key, when the key is extractable (a generated one always is). */
  privateKeyPem?: string
  /** The certificate's key pair. */
  keys: CryptoKeyPair
  /** The certificate, DER. */
  der: Uint8Array
}

/**
 * Creates the self-signed certificate a TLS server presents for a tls-alpn-01 challenge: subjectAltName with
 * exactly the identifier (dNSName, or iPAddress for IP identifiers), and the critical id-pe-acmeIdentifier
 * extension whose value is `Authorization ::= OCTET STRING (SIZE (32))` = SHA-256(key authorization).
 * Signed with ECDSA, RSASSA-PKCS1-v1_5 or Ed25519 according to `keys`.
 *
 * @throws {InvalidArgumentError} For a wildcard or invalid identifier, an empty key authorization, or keys
 *   that do not form a pair.
 * @throws {UnsupportedError} For key algorithms other than ECDSA P-256/384/521, RSASSA-PKCS1-v1_5, Ed25519.
 * @see {@link https://www.rfc-editor.org/rfc/rfc8737#section-3 RFC 8737 §3}
 * @see {@link https://www.rfc-editor.org/rfc/rfc8738#section-6 RFC 8738 §6}
 */
export async function createTlsAlpn01Certificate(
  options: TlsAlpn01CertificateOptions,
): Promise<TlsAlpn01Certificate> {
  const identifier = validationIdentifier(options.identifier)
  const { keyAuthorization } = options
  if (typeof keyAuthorization !== 'string' || keyAuthorization === '') {
    throw new InvalidArgumentError('createTlsAlpn01Certificate needs the key authorization')
  }
  const validityDays = options.validityDays ?? 7
  if (!Number.isFinite(validityDays) || validityDays <= 0) {
    throw new InvalidArgumentError('validityDays must be a positive number')
  }
  const keys = options.keys ?? (await generateKeyPair('ES256'))
  if (keys?.privateKey?.type !== 'private' || keys.publicKey?.type !== 'public') {
    throw new InvalidArgumentError('keys must be a CryptoKeyPair ({ privateKey, publicKey })')
  }
  const signature = x509SignatureAlgorithm(keys.privateKey)

  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', utf8.encode(keyAuthorization) as BufferSource),
  )
  // RFC 8737 §3: the SAN holds a single entry, the identifier. dNSName [2] and iPAddress [7] are IMPLICIT
  // IA5String and OCTET STRING (RFC 5280 §4.2.1.6); written directly so IP octets come from our own parser.
  const generalName =
    identifier.type === 'dns'
      ? encodeTlv(0x82, utf8.encode(identifier.value))
      : encodeTlv(0x87, parseIpAddress(identifier.value))
  // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE (left out when false), extnValue }.
  const extensions = derSequence(
    derSequence(derOid(OID_SUBJECT_ALT_NAME), derOctetString(derSequence(generalName))),
    // RFC 8737 §3: "The acmeIdentifier extension MUST be critical so that the certificate isn't
    // inadvertently used by non-ACME software." Its extnValue is the DER of the Authorization OCTET STRING.
    derSequence(derOid(ID_PE_ACME_IDENTIFIER), derBoolean(true), derOctetString(derOctetString(digest))),
  )
  // RFC 5280 §4.1.2.4: the issuer of a self-signed certificate must be a non-empty name, so subject = issuer
  // = a common name.
  const commonName =
    identifier.value.length <= MAX_COMMON_NAME ? identifier.value : 'ACME tls-alpn-01 challenge'
  const name = derSequence(derSet(derSequence(derOid(OID_COMMON_NAME), derUtf8String(commonName))))
  const now = Date.now()
  // RFC 5280 §4.1: TBSCertificate ::= SEQUENCE { version [0] EXPLICIT (v3 = 2), serialNumber, signature,
  // issuer, validity, subject, subjectPublicKeyInfo, extensions [3] EXPLICIT }.
  const tbsCertificate = derSequence(
    derContext(0, derInteger(2)),
    derInteger(randomSerial()),
    signature.identifier,
    name,
    // An hour back absorbs clock skew between this host and the CA's validators.
    derSequence(derTime(new Date(now - 3_600_000)), derTime(new Date(now + validityDays * DAY_MS))),
    name,
    new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey)),
    derContext(3, extensions),
  )
  const der = await signedDer(keys, signature, tbsCertificate)
  const result: TlsAlpn01Certificate = { certificatePem: encodePem('CERTIFICATE', der), keys, der }
  if (keys.privateKey.extractable) result.privateKeyPem = await exportPrivateKeyPem(keys.privateKey)
  return result
}

/**
 * The TLS server name (SNI) the CA sends for an identifier: the DNS name itself, or for an IP address its
 * reverse-mapping name, `d.c.b.a.in-addr.arpa` or the 32 nibbles of an IPv6 address under `ip6.arpa` (without
 * the trailing dot, as SNI carries it).
 *
 * @throws {InvalidArgumentError} For a wildcard or invalid identifier.
 * @see {@link https://www.rfc-editor.org/rfc/rfc8738#section-6 RFC 8738 §6}
 */
export function tlsAlpn01ServerName(identifier: Identifier | string): string {
  const id = validationIdentifier(identifier)
  if (id.type === 'dns') return id.value
  const bytes = parseIpAddress(id.value)
  if (bytes.length === 4) return `${Array.from(bytes).reverse().join('.')}.in-addr.arpa`
  // RFC 3596 §2.5: nibbles, least significant first.
  const nibbles: string[] = []
  for (let i = bytes.length - 1; i >= 0; i--) {
    nibbles.push((bytes[i]! & 0x0f).toString(16), (bytes[i]! >> 4).toString(16))
  }
  return `${nibbles.join('.')}.ip6.arpa`
}

/** What a TLS server needs to answer one tls-alpn-01 handshake. */
export interface TlsAlpn01Credentials {
  certificatePem: string
  privateKeyPem: string
}

/** A tls-alpn-01 solver that also hands the certificates to the caller's TLS server. */
export interface TlsAlpn01Solver extends ChallengeSolver {
  readonly type: 'tls-alpn-01'
  /**
   * The certificate and key to present for a handshake with this SNI (case-insensitive, trailing dot
   * ignored), or `undefined` when no challenge for it is being presented. Present them only when the
   * handshake negotiated {@link ACME_TLS_ALPN_PROTOCOL}: that protocol is for validation only (RFC 8737 §4).
   */
  certificateFor(serverName: string): TlsAlpn01Credentials | undefined
}

/** Options of {@link tlsAlpn01Solver}. */
export interface TlsAlpn01SolverOptions {
  /** Validity of each challenge certificate in days (default 7). */
  validityDays?: number
}

/**
 * Creates a tls-alpn-01 solver: `present` makes a challenge certificate (new ECDSA P-256 key each time) and
 * keeps it in memory under the identifier's SNI name; `cleanup` forgets it. Wire `certificateFor` into a TLS
 * server on port 443 that speaks only `acme-tls/1`.
 *
 * Serve it from a TLS server of your runtime: the README's tls-alpn-01 section has a Node `tls` example.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8737#section-3 RFC 8737 §3}
 */
export function tlsAlpn01Solver(options: TlsAlpn01SolverOptions = {}): TlsAlpn01Solver {
  // serverName -> the certificate and the challenge it answers (so a late cleanup of an older challenge for
  // the same name does not remove a newer one).
  const certificates = new Map<string, TlsAlpn01Credentials & { challengeUrl: string }>()
  return {
    type: 'tls-alpn-01',
    // A wildcard has no single host to connect to; RFC 8737 gives it no validation form.
    canSolve: (identifier: Identifier) =>
      (identifier.type === 'dns' || identifier.type === 'ip') && !identifier.value.startsWith('*.'),
    async present({ identifier, challenge, keyAuthorization }: ChallengeContext) {
      if (!keyAuthorization) throw new InvalidArgumentError('tls-alpn-01 needs a key authorization')
      const certificate = await createTlsAlpn01Certificate({
        identifier,
        keyAuthorization,
        ...(options.validityDays !== undefined && { validityDays: options.validityDays }),
      })
      certificates.set(tlsAlpn01ServerName(identifier), {
        certificatePem: certificate.certificatePem,
        privateKeyPem: certificate.privateKeyPem!,
        challengeUrl: challenge.url,
      })
    },
    async cleanup({ identifier, challenge }: ChallengeContext) {
      let serverName: string
      try {
        serverName = tlsAlpn01ServerName(identifier)
      } catch {
        return // present() refused this identifier, so nothing was stored
      }
      if (certificates.get(serverName)?.challengeUrl === challenge.url) certificates.delete(serverName)
    },
    certificateFor(serverName: string) {
      const entry = certificates.get(serverName.toLowerCase().replace(/\.$/, ''))
      return entry && { certificatePem: entry.certificatePem, privateKeyPem: entry.privateKeyPem }
    },
  }
}

/** The identifier in canonical form; wildcards are refused (RFC 8737 validates a single host). */
function validationIdentifier(identifier: Identifier | string): OrderIdentifier {
  const id = toIdentifier(identifier)
  if (id.type === 'dns' && id.value.startsWith('*.')) {
    throw new InvalidArgumentError(`tls-alpn-01 cannot validate the wildcard ${id.value}`)
  }
  return id
}

/** A positive 127-bit serial (RFC 5280 §4.1.2.2: at most 20 octets, positive, unique per issuer). */
function randomSerial(): Uint8Array {
  const serial = crypto.getRandomValues(new Uint8Array(16))
  serial[0] = (serial[0]! & 0x7f) | 0x40 // positive, and no leading zero octet to strip
  return serial
}
