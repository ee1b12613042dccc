/**
 * Certificate chains as ACME servers deliver them: `application/pem-certificate-chain` (RFC 8555 §9.1), the
 * end-entity certificate first, and alternative chains behind `Link: rel="alternate"` (RFC 8555 §7.4.2).
 *
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2
 */

import { InvalidArgumentError } from '../errors.ts'
import { parseCertificate } from './certificate.ts'
import { decodePemAll, encodePem } from './pem.ts'

/**
 * Splits a PEM chain into one normalised PEM text per certificate, in order. Blocks with other labels and
 * text between blocks are dropped.
 *
 * @throws {InvalidArgumentError} When the text holds no `CERTIFICATE` block or is malformed PEM.
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-9.1
 */
export function splitPemChain(pem: string): string[] {
  const certificates = decodePemAll(pem)
    .filter((block) => block.label === 'CERTIFICATE')
    .map((block) => encodePem('CERTIFICATE', block.der))
  if (certificates.length === 0) throw new InvalidArgumentError('the PEM text holds no CERTIFICATE block')
  return certificates
}

/**
 * Picks a chain by issuer common name, as certbot's `--preferred-chain` does: the first chain whose topmost
 * certificate was issued by `preferredIssuer`; failing that the first chain with any certificate issued by it;
 * failing that the first (default) chain.
 *
 * @param chains Full PEM chains, the server's default chain first.
 * @param preferredIssuer The issuer common name to look for, e.g. `ISRG Root X1`.
 * @throws {InvalidArgumentError} When `chains` is empty or a chain cannot be parsed.
 * @see https://www.rfc-editor.org/rfc/rfc8555#section-7.4.2
 */
export function selectPreferredChain(chains: string[], preferredIssuer: string): string {
  const [first] = chains
  if (first === undefined) throw new InvalidArgumentError('selectPreferredChain needs at least one chain')
  const issuers = chains.map((chain) =>
    splitPemChain(chain).map((pem) => parseCertificate(pem).issuer.commonName),
  )
  const topmost = issuers.findIndex((names) => names[names.length - 1] === preferredIssuer)
  if (topmost !== -1) return chains[topmost]!
  const anywhere = issuers.findIndex((names) => names.includes(preferredIssuer))
  return anywhere === -1 ? first : chains[anywhere]!
}
