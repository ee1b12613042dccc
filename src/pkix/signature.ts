/**
 * X.509 signatures made with WebCrypto, shared by CSRs (RFC 2986) and self-signed certificates (RFC 8737):
 * the DER AlgorithmIdentifier for a key, and a signature over DER that is checked with the public key before
 * use. DER only (./der.ts), so the issuance path carries no ASN.1 library.
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { isGeneratedPair } from '../jose/algorithms.ts'
import { toArrayBuffer } from '../lib/bytes.ts'
import type { AlgorithmLike, CryptoKey, CryptoKeyPair } from '../lib/web-types.ts'
import { derBitString, derNull, derOid, derSequence, ecdsaRawToDer } from './der.ts'

// Signature AlgorithmIdentifiers: RFC 5758 §3.2 (ECDSA, parameters absent), RFC 4055 §5 (RSA, parameters NULL),
// RFC 8410 §3 (Ed25519, parameters absent).
const ECDSA_SIGNATURES = {
  'P-256': { hash: 'SHA-256', oid: '1.2.840.10045.4.3.2' },
  'P-384': { hash: 'SHA-384', oid: '1.2.840.10045.4.3.3' },
  'P-521': { hash: 'SHA-512', oid: '1.2.840.10045.4.3.4' },
} as const
const RSA_SIGNATURES = {
  'SHA-256': '1.2.840.113549.1.1.11',
  'SHA-384': '1.2.840.113549.1.1.12',
  'SHA-512': '1.2.840.113549.1.1.13',
} as const
const OID_ED25519 = '1.3.101.112'

/** How a key signs X.509 structures: WebCrypto parameters and the AlgorithmIdentifier to record. */
export interface X509SignatureAlgorithm {
  /** Parameters of `crypto.subtle.sign` and `verify`. */
  sign: Algorithm | AlgorithmLike
  /** DER `AlgorithmIdentifier` (RFC 5280 §4.1.1.2) of the signature. */
  identifier: Uint8Array
}

/** The signature algorithm for a private key; `UnsupportedError` for keys X.509 signing here does not cover. */
export function x509SignatureAlgorithm(privateKey: CryptoKey): X509SignatureAlgorithm {
  const algorithm = privateKey.algorithm as Partial<RsaHashedKeyAlgorithm & EcKeyAlgorithm> & KeyAlgorithm
  if (algorithm.name === 'ECDSA') {
    const entry = ECDSA_SIGNATURES[algorithm.namedCurve as keyof typeof ECDSA_SIGNATURES]
    if (!entry) throw new UnsupportedError(`ECDSA curve ${String(algorithm.namedCurve)} is not supported`)
    return { sign: { name: 'ECDSA', hash: entry.hash }, identifier: derSequence(derOid(entry.oid)) }
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5') {
    const oid = RSA_SIGNATURES[algorithm.hash?.name as keyof typeof RSA_SIGNATURES]
    if (!oid) throw new UnsupportedError(`RSA with ${String(algorithm.hash?.name)} is not supported`)
    return { sign: { name: algorithm.name }, identifier: derSequence(derOid(oid), derNull()) }
  }
  if (algorithm.name === 'Ed25519') {
    return { sign: { name: 'Ed25519' }, identifier: derSequence(derOid(OID_ED25519)) }
  }
  throw new UnsupportedError(`X.509 signing with ${algorithm.name} keys is not supported`)
}

/**
 * Signs `tbs` (the DER to be signed) with `keys.privateKey` and returns the X.509 signature value. The signature
 * is verified with `keys.publicKey` first (unless `generateKeyPair` made the pair), so a mismatched pair
 * fails here instead of at the CA. ECDSA comes
 * out as DER Ecdsa-Sig-Value (RFC 5758 §3.2), not WebCrypto's `r || s`.
 *
 * @throws {InvalidArgumentError} When `keys.publicKey` does not verify the signature.
 */
export async function signX509(
  keys: CryptoKeyPair,
  algorithm: X509SignatureAlgorithm,
  tbs: Uint8Array,
): Promise<Uint8Array> {
  const data = toArrayBuffer(tbs)
  const raw = await crypto.subtle.sign(algorithm.sign, keys.privateKey, data)
  // A pair generateKeyPair made belongs together; only a pair the caller assembled is worth the check (one
  // WebCrypto call less per certificate).
  if (!isGeneratedPair(keys) && !(await crypto.subtle.verify(algorithm.sign, keys.publicKey, raw, data))) {
    throw new InvalidArgumentError('keys.publicKey does not belong to keys.privateKey')
  }
  return algorithm.sign.name === 'ECDSA' ? ecdsaRawToDer(new Uint8Array(raw)) : new Uint8Array(raw)
}

/**
 * The SIGNED{} structure X.509 certificates and PKCS#10 requests share: `SEQUENCE { tbs, signatureAlgorithm,
 * signature BIT STRING }`, signed with {@link signX509}.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1.1
 * @see https://www.rfc-editor.org/rfc/rfc2986#section-4.2
 */
export async function signedDer(
  keys: CryptoKeyPair,
  algorithm: X509SignatureAlgorithm,
  tbs: Uint8Array,
): Promise<Uint8Array> {
  return derSequence(tbs, algorithm.identifier, derBitString(await signX509(keys, algorithm, tbs)))
}
