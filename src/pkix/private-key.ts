/**
 * PEM import and export of account and certificate keys on WebCrypto alone.
 *
 * WebCrypto only speaks PKCS#8 and SubjectPublicKeyInfo, while keys in the wild also come as PKCS#1
 * (`openssl genrsa -traditional`) and SEC1 (`openssl ecparam -genkey`); those are rewrapped into PKCS#8 with the
 * small DER helpers of `der.ts`, so importing a key never pulls a general ASN.1 library into the bundle.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5208 PKCS#8
 * @see https://www.rfc-editor.org/rfc/rfc8017#appendix-A.1 PKCS#1 RSA keys
 * @see https://www.rfc-editor.org/rfc/rfc5915 SEC1 EC private keys
 * @see https://www.rfc-editor.org/rfc/rfc5480 SubjectPublicKeyInfo for EC keys
 */

import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { decodeBase64Url } from '../lib/base64url.ts'
import { concatBytes, toArrayBuffer } from '../lib/bytes.ts'
import type { AlgorithmLike, CryptoKey, CryptoKeyPair, JsonWebKey } from '../lib/web-types.ts'
import {
  DerTag,
  decodeOid,
  derBitString,
  derContext,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  readChildren,
  readDer,
  type Tlv,
} from './der.ts'
import { decodePemAll, encodePem, type PemBlock } from './pem.ts'

/** Hash bound to an imported RSA key (RSASSA-PKCS1-v1_5 keys carry their hash in WebCrypto). */
export type RsaHash = 'SHA-256' | 'SHA-384' | 'SHA-512'

/** Options of {@link importPrivateKeyPem} and {@link importPublicKeyPem}. */
export interface ImportKeyOptions {
  /** Hash for RSA keys, which are imported as RSASSA-PKCS1-v1_5 (RS256/RS384/RS512). Default `SHA-256`. */
  hash?: RsaHash
  /** Whether the imported key can be exported again. Default `true`. Public keys are always extractable. */
  extractable?: boolean
}

/** PEM encodings {@link exportPrivateKeyPem} can write. */
export type PrivateKeyFormat = 'pkcs8' | 'pkcs1' | 'sec1'

type KeyImportAlgorithm = AlgorithmLike

const OID_RSA_ENCRYPTION = '1.2.840.113549.1.1.1'
const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1'
const OID_ED25519 = '1.3.101.112'

// RFC 5480 §2.1.1.1 named curves, with the coordinate size SEC1 and JWK use (RFC 7518 §6.2.1.2).
const CURVES = [
  { name: 'P-256', oid: '1.2.840.10045.3.1.7', size: 32 },
  { name: 'P-384', oid: '1.3.132.0.34', size: 48 },
  { name: 'P-521', oid: '1.3.132.0.35', size: 66 },
] as const

/** Bytes of one coordinate of a named curve's points, and of `r` and `s` in its ECDSA signatures (IEEE P1363). */
export function coordinateLength(namedCurve: string): number | undefined {
  return CURVES.find((curve) => curve.name === namedCurve)?.size
}

const UNSUPPORTED_OIDS: Record<string, string> = {
  '1.2.840.113549.1.1.10': 'RSASSA-PSS keys',
  '1.3.101.110': 'X25519 keys (not a signature algorithm)',
  '1.3.101.111': 'X448 keys (not a signature algorithm)',
  '1.3.101.113': 'Ed448 keys',
}

const PRIVATE_LABELS = ['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']
const PUBLIC_LABELS = ['PUBLIC KEY', 'RSA PUBLIC KEY']

/**
 * Imports a PEM private key and returns it with its public key: PKCS#8 `PRIVATE KEY`, PKCS#1
 * `RSA PRIVATE KEY` or SEC1 `EC PRIVATE KEY`. RSA keys become RSASSA-PKCS1-v1_5 with `options.hash`; EC keys
 * ECDSA on P-256, P-384 or P-521; Ed25519 keys Ed25519. Other blocks in the text are skipped.
 *
 * @throws {InvalidArgumentError} On malformed or encrypted PEM, or a SEC1 key without its curve.
 * @throws {UnsupportedError} For other key types, or Ed25519 on a runtime whose WebCrypto lacks it.
 * @see https://www.rfc-editor.org/rfc/rfc5208#section-5
 */
export async function importPrivateKeyPem(
  pem: string,
  options: ImportKeyOptions = {},
): Promise<CryptoKeyPair> {
  const block = findBlock(pem, PRIVATE_LABELS)
  const pkcs8 = toPkcs8(block)
  const [, algorithmId] = readChildren(readDer(pkcs8, DerTag.SEQUENCE).value)
  if (!algorithmId) throw new InvalidArgumentError('malformed PKCS#8 PrivateKeyInfo')
  const algorithm = importAlgorithm(algorithmId, options.hash ?? 'SHA-256')
  // Import extractable first: WebCrypto has no "public key of" operation, the JWK export is the way to it.
  const extractablePrivate = await importKey('pkcs8', pkcs8, algorithm, true, ['sign'])
  const publicKey = await derivePublicKey(extractablePrivate)
  const privateKey =
    options.extractable === false
      ? await importKey('pkcs8', pkcs8, algorithm, false, ['sign'])
      : extractablePrivate
  return { privateKey, publicKey }
}

/**
 * Imports a PEM public key: SubjectPublicKeyInfo `PUBLIC KEY` or PKCS#1 `RSA PUBLIC KEY`, for verification.
 *
 * @throws {InvalidArgumentError} On malformed PEM or DER.
 * @throws {UnsupportedError} For key types other than RSA, ECDSA P-256/384/521 and Ed25519.
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.7
 */
export async function importPublicKeyPem(pem: string, options: ImportKeyOptions = {}): Promise<CryptoKey> {
  const block = findBlock(pem, PUBLIC_LABELS)
  const spki =
    block.label === 'RSA PUBLIC KEY'
      ? derSequence(
          derSequence(derOid(OID_RSA_ENCRYPTION), derNull()),
          derBitString(readDer(block.der, DerTag.SEQUENCE).raw),
        )
      : block.der
  const [algorithmId] = readChildren(readDer(spki, DerTag.SEQUENCE).value)
  if (!algorithmId) throw new InvalidArgumentError('malformed SubjectPublicKeyInfo')
  return importKey('spki', spki, importAlgorithm(algorithmId, options.hash ?? 'SHA-256'), true, ['verify'])
}

/**
 * Exports an extractable private key as PEM: `pkcs8` (`PRIVATE KEY`, any key), `pkcs1` (`RSA PRIVATE KEY`,
 * RSA only) or `sec1` (`EC PRIVATE KEY`, EC only, with the curve and the public key so `openssl ec` reads it).
 *
 * @throws {InvalidArgumentError} When the key is not an extractable private key or the format does not fit it.
 * @see https://www.rfc-editor.org/rfc/rfc5915#section-3
 */
export async function exportPrivateKeyPem(
  privateKey: CryptoKey,
  format: PrivateKeyFormat = 'pkcs8',
): Promise<string> {
  if (!isCryptoKey(privateKey) || privateKey.type !== 'private') {
    throw new InvalidArgumentError('exportPrivateKeyPem needs a private CryptoKey')
  }
  if (!privateKey.extractable) {
    throw new InvalidArgumentError('the private key is not extractable, it cannot be exported')
  }
  const name = privateKey.algorithm.name
  if (format === 'pkcs8') {
    return encodePem('PRIVATE KEY', new Uint8Array(await crypto.subtle.exportKey('pkcs8', privateKey)))
  }
  if (format === 'pkcs1') {
    if (!name.startsWith('RSA')) throw new InvalidArgumentError(`pkcs1 export is for RSA keys, not ${name}`)
    // RFC 5208 §5: the privateKey OCTET STRING of an rsaEncryption PrivateKeyInfo is the PKCS#1 RSAPrivateKey.
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', privateKey))
    const [, , inner] = readChildren(readDer(pkcs8, DerTag.SEQUENCE).value)
    if (inner?.tag !== DerTag.OCTET_STRING) throw new InvalidArgumentError('unexpected PKCS#8 from WebCrypto')
    return encodePem('RSA PRIVATE KEY', inner.value)
  }
  if (format === 'sec1') {
    if (name !== 'ECDSA' && name !== 'ECDH') {
      throw new InvalidArgumentError(`sec1 export is for EC keys, not ${name}`)
    }
    return encodePem('EC PRIVATE KEY', await encodeSec1(privateKey))
  }
  throw new InvalidArgumentError(`unknown private key format ${JSON.stringify(format)}`)
}

/**
 * Exports a public key as a SubjectPublicKeyInfo `PUBLIC KEY` PEM. Given an extractable private key, exports
 * its public key.
 *
 * @throws {InvalidArgumentError} When given a private key that is not extractable.
 * @see https://www.rfc-editor.org/rfc/rfc7468#section-13
 */
export async function exportPublicKeyPem(key: CryptoKey): Promise<string> {
  const publicKey = await derivePublicKey(key)
  return encodePem('PUBLIC KEY', new Uint8Array(await crypto.subtle.exportKey('spki', publicKey)))
}

/**
 * The public key of a private key (a public key is returned as is). WebCrypto cannot compute it directly, so
 * the private key is exported as JWK and its public members (RFC 7518 §6) imported again; the private key must
 * therefore be extractable.
 *
 * @throws {InvalidArgumentError} When the private key is not extractable.
 * @see https://www.rfc-editor.org/rfc/rfc7518#section-6
 */
export async function derivePublicKey(key: CryptoKey): Promise<CryptoKey> {
  if (!isCryptoKey(key)) throw new InvalidArgumentError('expected a CryptoKey')
  if (key.type === 'public') return key
  if (!key.extractable) {
    throw new InvalidArgumentError(
      'the private key is not extractable, so its public key cannot be derived; pass the CryptoKeyPair instead',
    )
  }
  const jwk = await crypto.subtle.exportKey('jwk', key)
  const algorithm = algorithmOfKey(key)
  const usages: KeyUsage[] =
    key.algorithm.name === 'ECDH' || key.algorithm.name === 'X25519' ? [] : ['verify']
  return importKey('jwk', publicJwk(jwk), algorithm, true, usages)
}

function findBlock(pem: string, labels: string[]): PemBlock {
  const blocks = decodePemAll(pem)
  const block = blocks.find((b) => labels.includes(b.label))
  if (block) return block
  if (blocks.some((b) => b.label === 'ENCRYPTED PRIVATE KEY')) {
    throw new InvalidArgumentError(
      'encrypted PKCS#8 keys are not supported; decrypt first, e.g. "openssl pkey -in key.pem -out plain.pem"',
    )
  }
  const found = blocks.map((b) => b.label).join(', ')
  throw new InvalidArgumentError(
    `expected a PEM ${labels.map((l) => `"${l}"`).join(' or ')} block, found: ${found}`,
  )
}

/** Rewraps PKCS#1 and SEC1 keys as PKCS#8 PrivateKeyInfo, the one private format WebCrypto imports. */
function toPkcs8(block: PemBlock): Uint8Array {
  if (block.label === 'PRIVATE KEY') return block.der
  if (block.label === 'RSA PRIVATE KEY') {
    // RFC 8017 §A.1: rsaEncryption with NULL parameters identifies a PKCS#1 RSAPrivateKey.
    const rsaPrivateKey = readDer(block.der, DerTag.SEQUENCE).raw
    return privateKeyInfo(derSequence(derOid(OID_RSA_ENCRYPTION), derNull()), rsaPrivateKey)
  }
  // RFC 5915 §3: ECPrivateKey ::= SEQUENCE { version(1), privateKey OCTET STRING, [0] parameters, [1] publicKey }.
  const ecPrivateKey = readDer(block.der, DerTag.SEQUENCE)
  const fields = readChildren(ecPrivateKey.value)
  if (fields[0]?.tag !== DerTag.INTEGER || fields[1]?.tag !== DerTag.OCTET_STRING) {
    throw new InvalidArgumentError('malformed SEC1 ECPrivateKey')
  }
  const parameters = fields.find((field) => field.tag === 0xa0)
  // PKCS#8 needs the curve in its AlgorithmIdentifier; RFC 5915 §3 makes [0] optional only when the curve
  // is known from elsewhere, which a lone PEM file never is.
  if (!parameters) {
    throw new InvalidArgumentError(
      'SEC1 "EC PRIVATE KEY" has no curve parameters ([0]); cannot tell its curve',
    )
  }
  const [curve] = readChildren(parameters.value)
  if (!curve) throw new InvalidArgumentError('malformed SEC1 ECPrivateKey parameters')
  if (curve.tag !== DerTag.OID) {
    throw new UnsupportedError('EC keys with explicit curve parameters are not supported; use a named curve')
  }
  return privateKeyInfo(derSequence(derOid(OID_EC_PUBLIC_KEY), curve.raw), ecPrivateKey.raw)
}

function privateKeyInfo(algorithmIdentifier: Uint8Array, privateKey: Uint8Array): Uint8Array {
  // RFC 5208 §5: PrivateKeyInfo ::= SEQUENCE { version(0), privateKeyAlgorithm, privateKey OCTET STRING }.
  return derSequence(derInteger(0), algorithmIdentifier, derOctetString(privateKey))
}

/** WebCrypto import parameters for an AlgorithmIdentifier of PKCS#8 or SubjectPublicKeyInfo. */
export function importAlgorithm(algorithmId: Tlv, hash: RsaHash): KeyImportAlgorithm {
  if (algorithmId.tag !== DerTag.SEQUENCE) throw new InvalidArgumentError('malformed AlgorithmIdentifier')
  const [oidTlv, parameters] = readChildren(algorithmId.value)
  if (oidTlv?.tag !== DerTag.OID) throw new InvalidArgumentError('malformed AlgorithmIdentifier')
  const oid = decodeOid(oidTlv.value)
  if (oid === OID_RSA_ENCRYPTION) {
    if (!['SHA-256', 'SHA-384', 'SHA-512'].includes(hash)) {
      throw new InvalidArgumentError(`unsupported RSA hash ${hash}`)
    }
    return { name: 'RSASSA-PKCS1-v1_5', hash }
  }
  if (oid === OID_ED25519) return { name: 'Ed25519' }
  if (oid === OID_EC_PUBLIC_KEY) {
    if (parameters?.tag !== DerTag.OID) {
      throw new UnsupportedError(
        'EC keys with explicit curve parameters are not supported; use a named curve',
      )
    }
    const curveOid = decodeOid(parameters.value)
    const curve = CURVES.find((c) => c.oid === curveOid)
    if (!curve) {
      throw new UnsupportedError(`EC curve ${curveOid} is not supported (use P-256, P-384 or P-521)`)
    }
    return { name: 'ECDSA', namedCurve: curve.name }
  }
  throw new UnsupportedError(`${UNSUPPORTED_OIDS[oid] ?? `keys of algorithm ${oid}`} are not supported`)
}

function algorithmOfKey(key: CryptoKey): KeyImportAlgorithm {
  const algorithm = key.algorithm as Partial<RsaHashedKeyAlgorithm & EcKeyAlgorithm> & KeyAlgorithm
  if (algorithm.hash) return { name: algorithm.name, hash: algorithm.hash.name }
  if (algorithm.namedCurve) return { name: algorithm.name, namedCurve: algorithm.namedCurve }
  return { name: algorithm.name }
}

/** The public members of a private JWK (RFC 7518 §6.2.1, §6.3.1; RFC 8037 §2). */
function publicJwk(jwk: JsonWebKey): JsonWebKey {
  const required = (member: 'n' | 'e' | 'crv' | 'x' | 'y'): string => {
    const value = jwk[member]
    if (typeof value !== 'string') throw new InvalidArgumentError(`exported JWK lacks "${member}"`)
    return value
  }
  switch (jwk.kty) {
    case 'RSA':
      return { kty: 'RSA', n: required('n'), e: required('e') }
    case 'EC':
      return { kty: 'EC', crv: required('crv'), x: required('x'), y: required('y') }
    case 'OKP':
      return { kty: 'OKP', crv: required('crv'), x: required('x') }
    default:
      throw new UnsupportedError(`keys of JWK type ${String(jwk.kty)} are not supported`)
  }
}

async function encodeSec1(privateKey: CryptoKey): Promise<Uint8Array> {
  const jwk = await crypto.subtle.exportKey('jwk', privateKey)
  const curve = CURVES.find((c) => c.name === jwk.crv)
  if (!curve || !jwk.d || !jwk.x || !jwk.y) {
    throw new UnsupportedError(`EC curve ${String(jwk.crv)} is not supported`)
  }
  // RFC 5915 §3: privateKey is the scalar as an octet string of the curve size, which JWK "d" already is
  // (RFC 7518 §6.2.2.1); [0] names the curve and [1] is the uncompressed point (SEC 1 §2.3.3).
  const point = concatBytes(Uint8Array.of(0x04), decodeBase64Url(jwk.x), decodeBase64Url(jwk.y))
  return derSequence(
    derInteger(1),
    derOctetString(decodeBase64Url(jwk.d)),
    derContext(0, derOid(curve.oid)),
    derContext(1, derBitString(point)),
  )
}

async function importKey(
  format: 'pkcs8' | 'spki' | 'jwk',
  data: Uint8Array | JsonWebKey,
  algorithm: KeyImportAlgorithm,
  extractable: boolean,
  usages: KeyUsage[],
): Promise<CryptoKey> {
  try {
    return format === 'jwk'
      ? await crypto.subtle.importKey(format, data as JsonWebKey, algorithm, extractable, usages)
      : await crypto.subtle.importKey(
          format,
          toArrayBuffer(data as Uint8Array),
          algorithm,
          extractable,
          usages,
        )
  } catch (cause) {
    if (errorName(cause) === 'NotSupportedError') {
      throw new UnsupportedError(`this runtime's WebCrypto does not support ${algorithm.name} keys`, {
        cause,
      })
    }
    throw new InvalidArgumentError(`could not import the ${algorithm.name} key: ${errorMessage(cause)}`, {
      cause,
    })
  }
}

function isCryptoKey(key: unknown): key is CryptoKey {
  return (
    typeof key === 'object' && key !== null && 'type' in key && 'algorithm' in key && 'extractable' in key
  )
}

function errorName(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'name' in error ? String(error.name) : undefined
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
