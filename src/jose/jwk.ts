/**
 * JSON Web Keys (RFC 7517) as ACME uses them: the account's public key in the `jwk` header, and its
 * RFC 7638 thumbprint inside every key authorization (RFC 8555 §8.1).
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { encodeBase64Url } from '../lib/base64url.ts'
import { utf8 } from '../lib/bytes.ts'
import type { AlgorithmLike, CryptoKey, CryptoKeyPair, JsonWebKey } from '../lib/web-types.ts'

/** A public JWK with only the members RFC 7638 §3.2 requires for its key type. */
export type PublicJwk =
  | { kty: 'EC'; crv: string; x: string; y: string }
  | { kty: 'RSA'; e: string; n: string }
  | { kty: 'OKP'; crv: string; x: string }

/**
 * The public JWK of a key, reduced to the required members (no `alg`, `key_ops`, `ext`): that is what goes
 * into a JWS `jwk` header and what the thumbprint is computed over.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7638#section-3.2 RFC 7638 §3.2}
 */
export async function exportPublicJwk(publicKey: CryptoKey): Promise<PublicJwk> {
  if (publicKey.type !== 'public') {
    throw new InvalidArgumentError(`expected a public key, got a ${publicKey.type} key`)
  }
  return toPublicJwk((await crypto.subtle.exportKey('jwk', publicKey)) as JsonWebKey)
}

/** The public part of a (public or private) JWK, required members only. */
export function toPublicJwk(jwk: JsonWebKey): PublicJwk {
  switch (jwk.kty) {
    case 'EC':
      if (jwk.crv && jwk.x && jwk.y) return { kty: 'EC', crv: jwk.crv, x: jwk.x, y: jwk.y }
      break
    case 'RSA':
      if (jwk.e && jwk.n) return { kty: 'RSA', e: jwk.e, n: jwk.n }
      break
    case 'OKP':
      if (jwk.crv && jwk.x) return { kty: 'OKP', crv: jwk.crv, x: jwk.x }
      break
  }
  throw new InvalidArgumentError(`unsupported or incomplete JWK (kty ${JSON.stringify(jwk.kty)})`)
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url): SHA-256 over the required members, in lexicographic order,
 * with no whitespace.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7638#section-3 RFC 7638 §3}
 */
export async function jwkThumbprint(jwk: PublicJwk | JsonWebKey): Promise<string> {
  const pub = toPublicJwk(jwk as JsonWebKey)
  // Member names sorted lexicographically (RFC 7638 §3.3); the PublicJwk shapes are built in that order.
  const ordered =
    pub.kty === 'EC'
      ? { crv: pub.crv, kty: pub.kty, x: pub.x, y: pub.y }
      : pub.kty === 'RSA'
        ? { e: pub.e, kty: pub.kty, n: pub.n }
        : { crv: pub.crv, kty: pub.kty, x: pub.x }
  const digest = await crypto.subtle.digest('SHA-256', utf8.encode(JSON.stringify(ordered)) as BufferSource)
  return encodeBase64Url(new Uint8Array(digest))
}

/**
 * Exports a key pair's private key as a JWK (it must be extractable). Store it to reuse an account key.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc7517 RFC 7517}
 */
export async function exportPrivateJwk(privateKey: CryptoKey): Promise<JsonWebKey> {
  if (privateKey.type !== 'private') throw new InvalidArgumentError('expected a private key')
  if (!privateKey.extractable) throw new InvalidArgumentError('the private key is not extractable')
  const {
    key_ops: _ops,
    ext: _ext,
    ...jwk
  } = (await crypto.subtle.exportKey('jwk', privateKey)) as JsonWebKey
  return jwk
}

/** Options of {@link importJwkPair}. */
export interface ImportJwkOptions {
  /** Whether the imported private key stays extractable (default `true`). */
  extractable?: boolean
}

/**
 * Imports a private JWK (EC P-256/384/521, RSA, OKP Ed25519) as a WebCrypto key pair; RSA keys sign with
 * the hash of their `alg` member (RS256 when absent).
 */
export async function importJwkPair(jwk: JsonWebKey, options: ImportJwkOptions = {}): Promise<CryptoKeyPair> {
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
    throw new InvalidArgumentError('expected a private JWK (with "d")')
  }
  const params = jwkImportParams(jwk)
  const pub = toPublicJwk(jwk)
  const { key_ops: _ops, ext: _ext, ...priv } = jwk
  try {
    const privateKey = await crypto.subtle.importKey('jwk', priv, params, options.extractable ?? true, [
      'sign',
    ])
    const publicKey = await crypto.subtle.importKey('jwk', pub as JsonWebKey, params, true, ['verify'])
    return { privateKey, publicKey }
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'NotSupportedError') {
      throw new UnsupportedError(`this runtime cannot import ${params.name} keys`, { cause })
    }
    throw new InvalidArgumentError(`invalid JWK: ${(cause as Error).message}`, { cause })
  }
}

function jwkImportParams(jwk: JsonWebKey): AlgorithmLike | AlgorithmLike | Algorithm {
  if (jwk.kty === 'EC' && (jwk.crv === 'P-256' || jwk.crv === 'P-384' || jwk.crv === 'P-521')) {
    return { name: 'ECDSA', namedCurve: jwk.crv }
  }
  if (jwk.kty === 'RSA') {
    const hash = { RS384: 'SHA-384', RS512: 'SHA-512' }[jwk.alg ?? ''] ?? 'SHA-256'
    return { name: 'RSASSA-PKCS1-v1_5', hash }
  }
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return { name: 'Ed25519' }
  throw new InvalidArgumentError(
    `unsupported JWK: kty ${JSON.stringify(jwk.kty)}, crv ${JSON.stringify(jwk.crv)}`,
  )
}
