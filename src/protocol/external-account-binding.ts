/**
 * External account binding (RFC 8555 §7.3.4): a JWS over the account's public JWK, MACed with a key the CA
 * handed out (ZeroSSL, Google Trust Services, SSL.com, step-ca, ...).
 */
import { InvalidArgumentError } from '../errors.ts'
import type { MacAlgorithm } from '../jose/algorithms.ts'
import type { PublicJwk } from '../jose/jwk.ts'
import { type FlattenedJws, signMacJws } from '../jose/jws.ts'
import { decodeBase64Url } from '../lib/base64url.ts'

/** The EAB credentials a CA gives out. */
export interface ExternalAccountBinding {
  /** The key identifier the CA gave. */
  kid: string
  /** The MAC key: base64url text as CAs publish it, or raw bytes. */
  hmacKey: string | Uint8Array
  /** MAC algorithm (default `HS256`). */
  algorithm?: MacAlgorithm
}

/**
 * The `externalAccountBinding` member of a newAccount payload. RFC 8555 §7.3.4: the inner JWS header has
 * `alg` (a MAC algorithm), `kid` (the EAB key id) and `url` (the newAccount URL) and MUST NOT have a `nonce`;
 * its payload is the account's public JWK.
 */
export async function externalAccountBinding(
  eab: ExternalAccountBinding,
  accountJwk: PublicJwk,
  newAccountUrl: string,
): Promise<FlattenedJws> {
  if (typeof eab.kid !== 'string' || eab.kid === '')
    throw new InvalidArgumentError('externalAccountBinding.kid is required')
  let key: Uint8Array
  if (typeof eab.hmacKey === 'string') {
    try {
      key = decodeBase64Url(eab.hmacKey.trim())
    } catch {
      throw new InvalidArgumentError('externalAccountBinding.hmacKey must be base64url')
    }
  } else {
    key = eab.hmacKey
  }
  if (key.length === 0) throw new InvalidArgumentError('externalAccountBinding.hmacKey is empty')
  return signMacJws({ kid: eab.kid, url: newAccountUrl }, accountJwk, key, eab.algorithm ?? 'HS256')
}
