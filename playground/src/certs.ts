/**
 * What the page does with the library offline: CSRs, and reading certificates and chains. No request is sent
 * from here, so the CSR tool and the inspector work without a CA (and without a network).
 */
import {
  certId,
  createCsr,
  csrToPem,
  exportPrivateKeyPem,
  importPrivateKeyPem,
  lifetimeRenewalTime,
  type ParsedCertificate,
  parseCertificate,
  splitPemChain,
  toIdentifier,
} from 'webacme'
import { describeError, generateCertificateKey, keyAlgorithm, spkiAlgorithm, strongEnough } from './acme.ts'

/** Names from free text: one per line, or separated by spaces or commas; duplicates dropped. */
export function parseNames(text: string): string[] {
  const names = text
    .split(/[\s,]+/)
    .map((n) => n.trim())
    .filter(Boolean)
  return [...new Set(names)]
}

/** A CSR, and the key it was made for when the page made the key. */
export interface CsrResult {
  csrPem: string
  keyPem?: string
  keyAlgorithm: string
  identifiers: string[]
}

/** A CSR for `names`, for a new key of `keyType` or for the private key the user pasted. */
export async function makeCsr(names: string[], key: { type: string } | { pem: string }): Promise<CsrResult> {
  const identifiers = names.map((n) => toIdentifier(n)) // checks every name before any key is made
  const keys =
    'pem' in key
      ? strongEnough(await importPrivateKeyPem(key.pem, { extractable: false }))
      : await generateCertificateKey(key.type)
  const csr = await createCsr({ keys, identifiers })
  return {
    csrPem: csrToPem(csr),
    // A key made here is extractable, to be downloaded; the user's own key is not shown again.
    ...(!('pem' in key) && { keyPem: await exportPrivateKeyPem(keys.privateKey) }),
    keyAlgorithm: keyAlgorithm(keys.publicKey),
    identifiers: names,
  }
}

/** One certificate of a chain, as the inspector shows it. */
export interface CertificateReport {
  pem: string
  parsed: ParsedCertificate
  keyAlgorithm: string
  /** The RFC 9773 CertID, or why there is none. */
  certId: { value: string } | { error: string }
}

/** One link of the chain: does certificate `index` name certificate `index + 1` as its issuer? */
export interface ChainLink {
  index: number
  nameMatches: boolean
  /** AKI of `index` equals SKI of `index + 1` (undefined when either is missing). */
  keyIdMatches: boolean | undefined
}

export interface ChainReport {
  certificates: CertificateReport[]
  links: ChainLink[]
  /** Every certificate is issued by the next one. */
  inOrder: boolean
  /** The last certificate is self-signed by name (a root was included). */
  endsWithRoot: boolean
  /** One-third-of-lifetime renewal time of the first certificate (RFC 9773 §4.2 fallback). */
  renewAt: Date
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i])

/** Reads a PEM certificate or chain, leaf first. */
export async function inspectChain(text: string): Promise<ChainReport> {
  const pems = splitPemChain(text)
  const certificates = await Promise.all(
    pems.map(async (pem): Promise<CertificateReport> => {
      const parsed = parseCertificate(pem)
      let id: CertificateReport['certId']
      try {
        id = { value: certId(parsed) }
      } catch (err) {
        id = { error: describeError(err).message }
      }
      return { pem, parsed, keyAlgorithm: await spkiAlgorithm(parsed.subjectPublicKeyInfo), certId: id }
    }),
  )
  const links: ChainLink[] = []
  for (let i = 0; i + 1 < certificates.length; i++) {
    const child = certificates[i]!.parsed
    const parent = certificates[i + 1]!.parsed
    links.push({
      index: i,
      nameMatches: child.issuer.dn === parent.subject.dn,
      keyIdMatches:
        child.authorityKeyIdentifier && parent.subjectKeyIdentifier
          ? sameBytes(child.authorityKeyIdentifier, parent.subjectKeyIdentifier)
          : undefined,
    })
  }
  const last = certificates[certificates.length - 1]!.parsed
  const leaf = certificates[0]!.parsed
  return {
    certificates,
    links,
    inOrder: links.every((l) => l.nameMatches && l.keyIdMatches !== false),
    endsWithRoot: last.issuer.dn === last.subject.dn,
    renewAt: lifetimeRenewalTime(leaf.notBefore, leaf.notAfter),
  }
}
