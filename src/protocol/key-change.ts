/**
 * Account key rollover (RFC 8555 §7.3.5): an inner JWS signed by the NEW key, carried as the payload of an
 * outer JWS signed by the old key.
 */
import { exportPublicJwk, type PublicJwk } from '../jose/jwk.ts'
import { type FlattenedJws, signJws } from '../jose/jws.ts'
import type { CryptoKeyPair } from '../lib/web-types.ts'

/**
 * The inner JWS of a keyChange request. RFC 8555 §7.3.5: its header has `jwk` = the new key and `url` = the
 * keyChange URL, and MUST NOT have a `nonce`; its payload is `{account, oldKey}`.
 */
export async function keyChangeInnerJws(
  newKey: CryptoKeyPair,
  accountUrl: string,
  oldJwk: PublicJwk,
  keyChangeUrl: string,
): Promise<FlattenedJws> {
  const jwk = await exportPublicJwk(newKey.publicKey)
  return signJws({ jwk, url: keyChangeUrl }, { account: accountUrl, oldKey: oldJwk }, newKey.privateKey)
}
