/**
 * The RFC 9773 certificate identifier (CertID): what names a certificate in a renewalInfo URL and in an order's
 * `replaces` field.
 *
 * @see https://www.rfc-editor.org/rfc/rfc9773#section-4.1
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { decodeBase64Url, encodeBase64Url } from '../lib/base64url.ts'
import { type ParsedCertificate, parseCertificate } from '../pkix/certificate.ts'

/** The two halves of a CertID. */
export interface CertIdParts {
  /** keyIdentifier of the certificate's authorityKeyIdentifier extension. */
  authorityKeyIdentifier: Uint8Array
  /** Content octets of the DER serialNumber INTEGER (a leading `00` included when DER has one). */
  serialNumber: Uint8Array
}

/**
 * The CertID of a certificate (PEM, DER or parsed): `base64url(AKI keyIdentifier) '.' base64url(serial)`,
 * without padding.
 *
 * @throws {UnsupportedError} When the certificate has no authorityKeyIdentifier keyIdentifier (RFC 9773 assumes
 * one, as RFC 5280 §4.2.1.1 requires of CA-issued certificates).
 * @example
 * ```ts
 * import { certId } from 'webacme'
 *
 * declare const certificatePem: string
 * console.log(certId(certificatePem)) // e.g. "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc9773#section-4.1 RFC 9773 §4.1}
 */
export function certId(certificate: string | Uint8Array | ParsedCertificate): string {
  const parsed =
    typeof certificate === 'string' || certificate instanceof Uint8Array
      ? parseCertificate(certificate)
      : certificate
  if (!parsed.authorityKeyIdentifier || parsed.authorityKeyIdentifier.length === 0) {
    throw new UnsupportedError(
      `certificate ${parsed.serialNumber} has no authority key identifier, so it has no RFC 9773 CertID`,
    )
  }
  return formatCertId({
    authorityKeyIdentifier: parsed.authorityKeyIdentifier,
    serialNumber: parsed.serialNumberBytes,
  })
}

/** Joins the two halves into a CertID (RFC 9773 §4.1). */
export function formatCertId(parts: CertIdParts): string {
  if (parts.authorityKeyIdentifier.length === 0 || parts.serialNumber.length === 0) {
    throw new InvalidArgumentError('a CertID needs a non-empty key identifier and serial number')
  }
  return `${encodeBase64Url(parts.authorityKeyIdentifier)}.${encodeBase64Url(parts.serialNumber)}`
}

/**
 * Splits and checks a CertID: two non-empty, unpadded, canonical base64url parts, the second a minimally encoded
 * DER INTEGER (RFC 9773 §4.1: "DER-encoded Serial Number field (without the tag and length bytes)").
 *
 * @throws {InvalidArgumentError} When `id` is not a well-formed CertID.
 * @see {@link https://www.rfc-editor.org/rfc/rfc9773#section-4.1 RFC 9773 §4.1}
 */
export function parseCertId(id: string): CertIdParts {
  const fail = (why: string): never => {
    throw new InvalidArgumentError(`not an RFC 9773 CertID (${why}): ${JSON.stringify(id)}`)
  }
  if (typeof id !== 'string') return fail('not a string')
  const parts = id.split('.')
  if (parts.length !== 2) return fail('expected exactly one "."')
  const [aki, serial] = parts.map((part, i) => {
    if (!/^[A-Za-z0-9_-]+$/.test(part)) return fail(`part ${i + 1} is not unpadded base64url`)
    const bytes = decodeBase64Url(part)
    // Reject encodings with stray low bits (e.g. "AB" vs "AA"): only one spelling names a certificate.
    if (encodeBase64Url(bytes) !== part) return fail(`part ${i + 1} is not canonical base64url`)
    return bytes
  }) as [Uint8Array, Uint8Array]
  const [first, second] = [serial[0]!, serial[1]]
  if (
    serial.length > 1 &&
    second !== undefined &&
    ((first === 0x00 && second < 0x80) || (first === 0xff && second >= 0x80))
  ) {
    return fail('the serial number is not minimally DER-encoded')
  }
  return { authorityKeyIdentifier: aki, serialNumber: serial }
}
