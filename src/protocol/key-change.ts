/**
 * Account key rollover (RFC 8555 §7.3.5): an inner JWS signed by the NEW key, carried as the payload of an
 * outer JWS signed by the old key.
 */
import type { PublicJwk } from '../jose/jwk.ts'
import { type FlattenedJws, signJws } from '../jose/jws.ts'
import type { CryptoKey } from '../lib/web-types.ts'

/**
 * The inner JWS of a keyChange request. RFC 8555 §7.3.5: its header has `jwk` = the new key and `url` = the
 * keyChange URL, and MUST NOT have a `nonce`; its payload is `{account, oldKey}`.
 */
export function keyChangeInnerJws(
  newKey: { privateKey: CryptoKey; jwk: PublicJwk },
  accountUrl: string,
  oldJwk: PublicJwk,
  keyChangeUrl: string,
): Promise<FlattenedJws> {
  return signJws(
    { jwk: newKey.jwk, url: keyChangeUrl },
    { account: accountUrl, oldKey: oldJwk },
    newKey.privateKey,
  )
}
