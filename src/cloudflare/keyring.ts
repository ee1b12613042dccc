/**
 * Private keys at rest, sealed with a key from a Worker secret: AES-256-GCM through WebCrypto, the key derived
 * from the secret with HKDF-SHA-256, the storage key (or any label) bound in as additional authenticated data so
 * that a sealed value copied to another key does not open. Several secrets make a ring: the first seals, every
 * one opens, which is how the secret is rotated (see {@link keyRing}).
 */
import { InvalidArgumentError } from '../errors.ts'
import { decodeBase64Url, encodeBase64Url } from '../lib/base64url.ts'
import { utf8 } from '../lib/bytes.ts'
import type { CryptoKey, CryptoKeyPair } from '../lib/web-types.ts'
import { exportPrivateKeyPem, importPrivateKeyPem } from '../pkix/private-key.ts'
import { StorageError } from '../storage/storage.ts'

/** A sealed value as stored: JSON, with the id of the secret that sealed it. */
export interface SealedValue {
  /** The format: AES-256-GCM, 96-bit IV, 128-bit tag, key from HKDF-SHA-256 of the secret. */
  sealed: 'A256GCM'
  /** Which secret of the ring sealed it ({@link KeyRing.kids}). */
  kid: string
  /** base64url IV. */
  iv: string
  /** base64url ciphertext with its tag. */
  data: string
}

/** Secrets that seal and open values; the first one seals. */
export interface KeyRing {
  /** The id of each secret, the sealing one first: a short hash, safe to log. */
  readonly kids: readonly string[]
  /** Seals `plaintext` for the place named `label` (the storage key). */
  seal(plaintext: string, label: string): Promise<SealedValue>
  /**
   * Opens a value sealed for `label`. A `StorageError` `ERR_STORAGE_CORRUPT` when it is not a sealed value, was
   * sealed for another label, was altered, or was sealed with a secret the ring does not have.
   */
  open(sealed: unknown, label: string): Promise<string>
}

const INFO = utf8.encode('webacme sealed storage v1')
const SALT = utf8.encode('webacme')
const MIN_SECRET = 32

/** True when `value` has the shape of a {@link SealedValue}. */
export function isSealedValue(value: unknown): value is SealedValue {
  const v = value as Partial<SealedValue> | null
  return (
    typeof v === 'object' &&
    v !== null &&
    v.sealed === 'A256GCM' &&
    typeof v.kid === 'string' &&
    typeof v.iv === 'string' &&
    typeof v.data === 'string'
  )
}

async function kidOf(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', utf8.encode(`webacme key id\0${secret}`))
  return encodeBase64Url(new Uint8Array(digest).slice(0, 9))
}

// The return type is inferred: the global CryptoKey of whichever lib compiles this (DOM, workers-types).
async function aesKey(secret: string) {
  const material = await crypto.subtle.importKey('raw', utf8.encode(secret), 'HKDF', false, ['deriveKey'])
  return crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: SALT, info: INFO },
    material,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  )
}

/**
 * A ring of secrets (Worker secrets, at least 32 characters each, e.g. `openssl rand -base64 32`). The first
 * seals; all of them open. To rotate: put the new secret first and the old one second (`STORAGE_KEY` and
 * `STORAGE_KEY_PREVIOUS`), reseal what is stored ({@link sealedStorage}'s `reseal`), then drop the old one.
 *
 * @example
 * ```ts
 * import { keyRing } from 'webacme/cloudflare'
 *
 * const ring = await keyRing(['a new secret of at least 32 characters!!', 'the previous secret, 32+ characters....'])
 * const sealed = await ring.seal('-----BEGIN PRIVATE KEY-----...', 'accounts/main')
 * console.log(sealed.kid === ring.kids[0], await ring.open(sealed, 'accounts/main'))
 * ```
 */
export async function keyRing(secrets: string | readonly (string | undefined)[]): Promise<KeyRing> {
  const list = (typeof secrets === 'string' ? [secrets] : secrets).filter(
    (s): s is string => typeof s === 'string' && s !== '',
  )
  if (list.length === 0) throw new InvalidArgumentError('keyRing needs at least one secret')
  for (const secret of list) {
    if (secret.length < MIN_SECRET) {
      throw new InvalidArgumentError(`a sealing secret must have at least ${MIN_SECRET} characters`)
    }
  }
  const entries = await Promise.all(list.map(async (s) => ({ kid: await kidOf(s), key: await aesKey(s) })))
  const byKid = new Map(entries.map((e) => [e.kid, e.key]))
  const sealing = entries[0]!
  const corrupt = (label: string, why: string, cause?: unknown) =>
    new StorageError('ERR_STORAGE_CORRUPT', label, `${label}: ${why}`, cause === undefined ? {} : { cause })
  return {
    kids: entries.map((e) => e.kid),
    async seal(plaintext, label) {
      const iv = crypto.getRandomValues(new Uint8Array(12))
      const data = await crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: utf8.encode(label) },
        sealing.key,
        utf8.encode(plaintext),
      )
      return {
        sealed: 'A256GCM',
        kid: sealing.kid,
        iv: encodeBase64Url(iv),
        data: encodeBase64Url(new Uint8Array(data)),
      }
    },
    async open(sealed, label) {
      if (!isSealedValue(sealed))
        throw corrupt(label, 'not a sealed value (private keys are never stored in plaintext)')
      const key = byKid.get(sealed.kid)
      if (!key) throw corrupt(label, `sealed with secret ${sealed.kid}, which is not in the key ring`)
      try {
        const plain = await crypto.subtle.decrypt(
          { name: 'AES-GCM', iv: decodeBase64Url(sealed.iv), additionalData: utf8.encode(label) },
          key,
          decodeBase64Url(sealed.data),
        )
        return utf8.decode(new Uint8Array(plain))
      } catch (cause) {
        throw corrupt(label, 'the sealed value does not open (altered, or sealed for another key)', cause)
      }
    },
  }
}

/** Seals a private key (PKCS#8 PEM inside) for `label`. The key must be extractable. */
export async function sealPrivateKey(ring: KeyRing, key: CryptoKey, label: string): Promise<SealedValue> {
  return ring.seal(await exportPrivateKeyPem(key), label)
}

/** Opens a private key sealed by {@link sealPrivateKey}, as an extractable key pair. */
export async function openPrivateKey(ring: KeyRing, sealed: unknown, label: string): Promise<CryptoKeyPair> {
  return importPrivateKeyPem(await ring.open(sealed, label))
}
