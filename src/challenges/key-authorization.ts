/**
 * Key authorizations (RFC 8555 §8.1) and what http-01 (§8.3) and dns-01 (§8.4) publish from them.
 */
import { InvalidArgumentError } from '../errors.ts'
import { jwkThumbprint, type PublicJwk } from '../jose/jwk.ts'
import { encodeBase64Url } from '../lib/base64url.ts'
import { utf8 } from '../lib/bytes.ts'
import type { Challenge, Identifier } from '../protocol/resources.ts'

/**
 * `token || '.' || base64url(JWK thumbprint of the account key)`.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.1 RFC 8555 §8.1}
 */
export async function keyAuthorization(token: string, accountJwk: PublicJwk): Promise<string> {
  return keyAuthorizationWith(token, await jwkThumbprint(accountJwk))
}

/** {@link keyAuthorization} with the account key's thumbprint already computed (it is constant per account). */
export function keyAuthorizationWith(token: string, thumbprint: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new InvalidArgumentError('challenge token must be base64url')
  return `${token}.${thumbprint}`
}

/** The token of a challenge, or an `InvalidArgumentError` for token-less challenge types. */
export function challengeToken(challenge: Pick<Challenge, 'type' | 'token'>): string {
  if (!challenge.token) throw new InvalidArgumentError(`${challenge.type} challenge has no token`)
  return challenge.token
}

/**
 * Where http-01 is served: `http://<domain>/.well-known/acme-challenge/<token>`, body = key authorization.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.3 RFC 8555 §8.3}
 */
export function http01Path(token: string): string {
  return `/.well-known/acme-challenge/${token}`
}

/**
 * The dns-01 TXT record name: `_acme-challenge.<domain>` (for `*.example.com`, `_acme-challenge.example.com`).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.4 RFC 8555 §8.4}
 */
export function dns01RecordName(identifier: Identifier | string): string {
  const value = typeof identifier === 'string' ? identifier : identifier.value
  return `_acme-challenge.${value.replace(/^\*\./, '').replace(/\.$/, '')}`
}

/**
 * The dns-01 TXT record value: base64url(SHA-256(key authorization)).
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-8.4 RFC 8555 §8.4}
 */
export async function dns01TxtValue(keyAuthorization: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', utf8.encode(keyAuthorization) as BufferSource)
  return encodeBase64Url(new Uint8Array(digest))
}
