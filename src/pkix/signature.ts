/**
 * X.509 signatures made with WebCrypto, shared by CSRs (RFC 2986) and self-signed certificates (RFC 8737):
 * the AlgorithmIdentifier for a key, and a signature over DER that is checked with the public key before use.
 */
import { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { toArrayBuffer } from '../lib/bytes.ts'
import type { AlgorithmLike, CryptoKey, CryptoKeyPair } from '../lib/web-types.ts'
import { ecdsaRawToDer } from './der.ts'

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
  sign: Algorithm | AlgorithmLike
  identifier: AlgorithmIdentifier
}

/** The signature algorithm for a private key; `UnsupportedError` for keys X.509 signing here does not cover. */
export function x509SignatureAlgorithm(privateKey: CryptoKey): X509SignatureAlgorithm {
  const algorithm = privateKey.algorithm as Partial<RsaHashedKeyAlgorithm & EcKeyAlgorithm> & KeyAlgorithm
  if (algorithm.name === 'ECDSA') {
    const entry = ECDSA_SIGNATURES[algorithm.namedCurve as keyof typeof ECDSA_SIGNATURES]
    if (!entry) throw new UnsupportedError(`ECDSA curve ${String(algorithm.namedCurve)} is not supported`)
    return {
      sign: { name: 'ECDSA', hash: entry.hash },
      identifier: new AlgorithmIdentifier({ algorithm: entry.oid }),
    }
  }
  if (algorithm.name === 'RSASSA-PKCS1-v1_5') {
    const oid = RSA_SIGNATURES[algorithm.hash?.name as keyof typeof RSA_SIGNATURES]
    if (!oid) throw new UnsupportedError(`RSA with ${String(algorithm.hash?.name)} is not supported`)
    return {
      sign: { name: algorithm.name },
      identifier: new AlgorithmIdentifier({ algorithm: oid, parameters: null }),
    }
  }
  if (algorithm.name === 'Ed25519') {
    return { sign: { name: 'Ed25519' }, identifier: new AlgorithmIdentifier({ algorithm: OID_ED25519 }) }
  }
  throw new UnsupportedError(`X.509 signing with ${algorithm.name} keys is not supported`)
}

/**
 * Signs `tbs` (the DER to be signed) with `keys.privateKey` and returns the X.509 signature value. The signature
 * is verified with `keys.publicKey` first, so a mismatched pair fails here instead of at the CA. ECDSA comes
 * out as DER Ecdsa-Sig-Value (RFC 5758 §3.2), not WebCrypto's `r || s`.
 */
export async function signX509(
  keys: CryptoKeyPair,
  algorithm: X509SignatureAlgorithm,
  tbs: ArrayBuffer,
): Promise<ArrayBuffer> {
  const raw = new Uint8Array(await crypto.subtle.sign(algorithm.sign, keys.privateKey, tbs))
  if (!(await crypto.subtle.verify(algorithm.sign, keys.publicKey, toArrayBuffer(raw), tbs))) {
    throw new InvalidArgumentError('keys.publicKey does not belong to keys.privateKey')
  }
  return toArrayBuffer(algorithm.sign.name === 'ECDSA' ? ecdsaRawToDer(raw) : raw)
}
