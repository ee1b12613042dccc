/**
 * `issueCertificateForCsr()`: {@link issueCertificate} for a certificate request made elsewhere (`openssl req`, a
 * key management system, an HSM). The order is finalized with the request byte for byte, so its private key never
 * reaches the caller of webacme; the certificate is checked against the request's public key. Kept apart from
 * issue.ts because reading a request needs the ASN.1 parser that the issuance path otherwise does without.
 *
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.4
 * @see https://www.rfc-editor.org/rfc/rfc2986
 */
import { InvalidArgumentError } from './errors.ts'
import {
  checkOptions,
  type IssueCertificateOptions,
  type IssuedCertificate,
  type IssueHooks,
  runIssuance,
} from './issue.ts'
import { type ParsedCsr, parseCsr, verifyCsrSignature } from './pkix/csr-parse.ts'
import type { Identifier } from './protocol/resources.ts'

/** Input of {@link issueCertificateForCsr}. */
export interface IssueCertificateForCsrOptions
  extends Omit<IssueCertificateOptions, 'certificateKey' | 'identifiers' | 'hooks'> {
  /** The certificate request, PEM (`CERTIFICATE REQUEST`) or DER. */
  csr: string | Uint8Array
  /**
   * What to order (default: the request's identifiers, {@link ParsedCsr.identifiers}). When given, it must name
   * exactly the request's identifiers: the CA refuses a request that asks for anything else (RFC 8555 §7.4).
   */
  identifiers?: Array<string | Identifier>
  /** As {@link IssueHooks}, without `finalize`: the caller already holds the request and its key. */
  hooks?: Omit<IssueHooks, 'finalize'>
}

/** The result of {@link issueCertificateForCsr}: an issued certificate without a key (its owner has it). */
export interface IssuedCertificateForCsr extends Omit<IssuedCertificate, 'certificateKey'> {
  /** The request the order was finalized with. */
  csr: ParsedCsr
}

/**
 * Gets a certificate for a certificate request made elsewhere: the identifiers come from the request, the order is
 * finalized with the request as it is, and the certificate is checked to carry the request's public key (its
 * SubjectPublicKeyInfo, byte for byte) and exactly the ordered identifiers (`ERR_INVALID_RESPONSE` otherwise).
 * A resumed order (`orderUrl`) that is already finalized needs nothing more: the request is the caller's.
 *
 * @throws {InvalidArgumentError} When the request cannot be read, names no identifier, names other identifiers
 *   than `identifiers`, or its signature does not verify with its own public key ({@link verifyCsrSignature});
 *   each before any request. And as {@link issueCertificate}.
 * @example
 * ```ts
 * import { AcmeClient, directories, generateKeyPair, http01Solver, issueCertificateForCsr } from 'webacme'
 *
 * declare const csrPem: string // from `openssl req -new -key server.key -subj /CN=example.com`
 * const client = new AcmeClient({ directoryUrl: directories.letsencrypt.staging, accountKey: await generateKeyPair() })
 * const { certificate } = await issueCertificateForCsr({
 *   client,
 *   account: { termsOfServiceAgreed: true },
 *   csr: csrPem,
 *   solvers: [http01Solver()],
 * })
 * console.log(certificate)
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-7.4 RFC 8555 §7.4}
 */
export async function issueCertificateForCsr(
  options: IssueCertificateForCsrOptions,
): Promise<IssuedCertificateForCsr> {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options are required')
  const csr = parseCsr(options.csr)
  if (csr.identifiers.length === 0) {
    throw new InvalidArgumentError('the certificate request names no DNS name or IP address')
  }
  // RFC 2986 §4.2: Let's Encrypt refuses it at finalization (badCSR "invalid signature on CSR"), after the order and
  // its validations; Pebble 2.4 does not check and issues. Refused here, before any request.
  if ((await verifyCsrSignature(csr)) === false) {
    throw new InvalidArgumentError(
      "the certificate request's signature does not verify with its own public key: it was altered or signed with another key",
    )
  }
  const { csr: _, ...rest } = options
  const flowOptions: IssueCertificateOptions = {
    ...rest,
    identifiers: options.identifiers ?? csr.identifiers,
  }
  const identifiers = checkOptions(flowOptions)
  const key = (i: { type: string; value: string }) => `${i.type}:${i.value}`
  const wanted = identifiers.map(key).sort().join()
  const requested = [...csr.identifiers].map(key).sort().join()
  if (wanted !== requested) {
    throw new InvalidArgumentError(
      `the certificate request names ${requested.replaceAll(',', ', ')}, not ${wanted.replaceAll(',', ', ')}`,
    )
  }
  const issued = await runIssuance(flowOptions, identifiers, {
    der: csr.der,
    subjectPublicKeyInfo: csr.subjectPublicKeyInfo,
  })
  const { certificateKey: __, ...result } = issued
  return { ...result, csr }
}
