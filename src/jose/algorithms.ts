/**
 * JWS algorithms (RFC 7518 §3, RFC 8037 §3.1) and the WebCrypto parameters behind them. webacme signs with
 * `crypto.subtle` only, so the key's own `algorithm` decides the JWS `alg`.
 */
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import type { AlgorithmLike, CryptoKey, CryptoKeyPair } from '../lib/web-types.ts'

/** JWS algorithms webacme signs with. `EdDSA` is Ed25519 (RFC 8037); Let's Encrypt does not accept it. */
export type JwsAlgorithm = 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'RS384' | 'RS512' | 'EdDSA'

/** MAC algorithms for external account binding (RFC 8555 §7.3.4). */
export type MacAlgorithm = 'HS256' | 'HS384' | 'HS512'

const CURVE_ALG = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const
const ALG_CURVE = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as const
const RSA_HASH = { RS256: 'SHA-256', RS384: 'SHA-384', RS512: 'SHA-512' } as const
const HASH_RSA = { 'SHA-256': 'RS256', 'SHA-384': 'RS384', 'SHA-512': 'RS512' } as const
const MAC_HASH = { HS256: 'SHA-256', HS384: 'SHA-384', HS512: 'SHA-512' } as const

/**
 * Checks, before any request, that `key` can sign what ACME needs (JWS, CSRs): a private key with the `sign`
 * usage and an algorithm of {@link jwsAlgorithm}; RSA of at least 2048 bits (CAs refuse less). An ECDH or
 * encryption key is an `InvalidArgumentError` naming `name`.
 */
export function checkSigningKey(key: CryptoKey, name: string): void {
  const algorithm = key.algorithm as { name?: string; modulusLength?: number }
  let supported = true
  try {
    jwsAlgorithm(key)
  } catch {
    supported = false
  }
  if (!supported || key.type !== 'private' || !key.usages.includes('sign')) {
    throw new InvalidArgumentError(
      `${name} cannot sign: a ${key.type} ${algorithm.name ?? 'unknown'} key with usages [${key.usages.join(', ')}]; use generateKeyPair() (ECDSA, RSA or Ed25519)`,
    )
  }
  if (algorithm.modulusLength !== undefined && algorithm.modulusLength < 2048) {
    throw new InvalidArgumentError(
      `${name} is a ${algorithm.modulusLength}-bit RSA key; CAs require at least 2048 bits`,
    )
  }
}

/** The JWS `alg` for a WebCrypto key; `InvalidArgumentError` for keys ACME cannot sign with. */
export function jwsAlgorithm(key: CryptoKey): JwsAlgorithm {
  // Some runtimes (workerd) build `key.algorithm` anew on every read; a key's algorithm never changes.
  const known = algorithms.get(key)
  if (known) return known
  const alg = readJwsAlgorithm(key)
  algorithms.set(key, alg)
  return alg
}

const algorithms = new WeakMap<CryptoKey, JwsAlgorithm>()

function readJwsAlgorithm(key: CryptoKey): JwsAlgorithm {
  const algorithm = key.algorithm as { name: string; namedCurve?: string; hash?: { name: string } }
  switch (algorithm.name) {
    case 'ECDSA': {
      const alg = CURVE_ALG[algorithm.namedCurve as keyof typeof CURVE_ALG]
      if (alg) return alg
      break
    }
    case 'RSASSA-PKCS1-v1_5': {
      const alg = HASH_RSA[algorithm.hash?.name as keyof typeof HASH_RSA]
      if (alg) return alg
      break
    }
    case 'Ed25519':
      return 'EdDSA'
  }
  throw new InvalidArgumentError(
    `unsupported key algorithm ${JSON.stringify(key.algorithm)}: use ECDSA P-256/P-384/P-521, RSASSA-PKCS1-v1_5 (SHA-256/384/512) or Ed25519`,
  )
}

/** Parameters for `crypto.subtle.sign` with a key of the given JWS algorithm. */
export function signParams(alg: JwsAlgorithm): AlgorithmLike | AlgorithmLike {
  if (alg in ALG_CURVE) return { name: 'ECDSA', hash: `SHA-${alg.slice(2)}` }
  if (alg === 'EdDSA') return { name: 'Ed25519' }
  return { name: 'RSASSA-PKCS1-v1_5' }
}

/** Options of {@link generateKeyPair}. */
export interface GenerateKeyPairOptions {
  /** RSA modulus length: 2048, 3072 or 4096 (default 2048). */
  modulusLength?: 2048 | 3072 | 4096
  /** Whether the private key can be exported (default `true`: account and certificate keys are usually stored). */
  extractable?: boolean
}

/**
 * Generates a key pair for a JWS algorithm with `crypto.subtle.generateKey`.
 *
 * `EdDSA` needs Ed25519 in WebCrypto (Node >= 20, Deno, Bun, workerd, Chromium >= 137); where it is missing
 * this throws an `UnsupportedError`. Let's Encrypt refuses EdDSA account keys.
 *
 * @example
 * ```ts
 * import { generateKeyPair } from 'webacme'
 * const accountKey = await generateKeyPair('ES256')
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc7518#section-3.1 RFC 7518 §3.1}
 */
export async function generateKeyPair(
  alg: JwsAlgorithm = 'ES256',
  options: GenerateKeyPairOptions = {},
): Promise<CryptoKeyPair> {
  const extractable = options.extractable ?? true
  const usages: KeyUsage[] = ['sign', 'verify']
  if (alg in ALG_CURVE) {
    return subtleGenerate(
      { name: 'ECDSA', namedCurve: ALG_CURVE[alg as keyof typeof ALG_CURVE] },
      extractable,
      usages,
    )
  }
  if (alg in RSA_HASH) {
    const modulusLength = options.modulusLength ?? 2048
    if (![2048, 3072, 4096].includes(modulusLength)) {
      throw new InvalidArgumentError(`RSA modulusLength must be 2048, 3072 or 4096, got ${modulusLength}`)
    }
    return subtleGenerate(
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: RSA_HASH[alg as keyof typeof RSA_HASH],
      },
      extractable,
      usages,
    )
  }
  if (alg === 'EdDSA') return subtleGenerate({ name: 'Ed25519' }, extractable, usages)
  throw new InvalidArgumentError(`unknown JWS algorithm ${JSON.stringify(alg)}`)
}

/** The public half of each private key {@link generateKeyPair} made: a pair known to belong together. */
const generatedPublicKey = new WeakMap<CryptoKey, CryptoKey>()

/**
 * True when `keys` is a pair as {@link generateKeyPair} made it (its private key with its own public key), so a
 * signature need not be checked against the public key to know they match.
 */
export function isGeneratedPair(keys: CryptoKeyPair): boolean {
  return generatedPublicKey.get(keys.privateKey) === keys.publicKey
}

async function subtleGenerate(
  params: AlgorithmLike | AlgorithmLike | AlgorithmLike,
  extractable: boolean,
  usages: KeyUsage[],
): Promise<CryptoKeyPair> {
  try {
    const pair = (await crypto.subtle.generateKey(params, extractable, usages)) as CryptoKeyPair
    generatedPublicKey.set(pair.privateKey, pair.publicKey)
    return pair
  } catch (cause) {
    const name = typeof params === 'string' ? params : params.name
    throw new UnsupportedError(`this runtime's WebCrypto cannot generate ${name} keys`, { cause })
  }
}

/** HMAC import parameters for a MAC algorithm. */
export function macParams(alg: MacAlgorithm): AlgorithmLike {
  const hash = MAC_HASH[alg]
  if (!hash)
    throw new InvalidArgumentError(`unknown MAC algorithm ${JSON.stringify(alg)}: use HS256, HS384 or HS512`)
  return { name: 'HMAC', hash }
}
