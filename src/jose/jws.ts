/**
 * Flattened JWS JSON serialization (RFC 7515 §7.2.2), the only form ACME accepts (RFC 8555 §6.2).
 * ECDSA signatures from WebCrypto are already the fixed-size `r || s` that JWS wants (RFC 7518 §3.4).
 */
import { encodeBase64Url } from '../lib/base64url.ts'
import { utf8 } from '../lib/bytes.ts'
import type { CryptoKey } from '../lib/web-types.ts'
import { type JwsAlgorithm, jwsAlgorithm, type MacAlgorithm, macParams, signParams } from './algorithms.ts'
import type { PublicJwk } from './jwk.ts'

/** A flattened JWS as sent in an ACME request body. */
export interface FlattenedJws {
  protected: string
  payload: string
  signature: string
}

/** The protected header of an ACME request (RFC 8555 §6.2): exactly one of `jwk` and `kid`. */
export type AcmeProtectedHeader = {
  alg: JwsAlgorithm | MacAlgorithm
  url: string
  nonce?: string
} & ({ jwk: PublicJwk; kid?: never } | { kid: string; jwk?: never })

/**
 * Signs `payload` with `privateKey`. A payload of `""` is POST-as-GET (RFC 8555 §6.3): the encoded payload is
 * the empty string, not `""` in quotes.
 *
 * @see {@link https://www.rfc-editor.org/rfc/rfc8555#section-6.2 RFC 8555 §6.2}
 */
export async function signJws(
  header: Omit<AcmeProtectedHeader, 'alg'>,
  payload: unknown,
  privateKey: CryptoKey,
): Promise<FlattenedJws> {
  const alg = jwsAlgorithm(privateKey)
  const { protectedB64, payloadB64, input } = signingInput({ ...header, alg } as AcmeProtectedHeader, payload)
  const signature = await crypto.subtle.sign(signParams(alg), privateKey, input as BufferSource)
  return {
    protected: protectedB64,
    payload: payloadB64,
    signature: encodeBase64Url(new Uint8Array(signature)),
  }
}

/**
 * Signs with an HMAC key (external account binding, RFC 8555 §7.3.4). `macKey` is the raw key bytes.
 */
export async function signMacJws(
  header: Omit<AcmeProtectedHeader, 'alg'>,
  payload: unknown,
  macKey: Uint8Array,
  alg: MacAlgorithm,
): Promise<FlattenedJws> {
  const key = await crypto.subtle.importKey('raw', macKey as BufferSource, macParams(alg), false, ['sign'])
  const { protectedB64, payloadB64, input } = signingInput({ ...header, alg } as AcmeProtectedHeader, payload)
  const signature = await crypto.subtle.sign('HMAC', key, input as BufferSource)
  return {
    protected: protectedB64,
    payload: payloadB64,
    signature: encodeBase64Url(new Uint8Array(signature)),
  }
}

function signingInput(header: AcmeProtectedHeader, payload: unknown) {
  const protectedB64 = encodeBase64Url(JSON.stringify(header))
  const payloadB64 = payload === '' ? '' : encodeBase64Url(JSON.stringify(payload))
  return { protectedB64, payloadB64, input: utf8.encode(`${protectedB64}.${payloadB64}`) }
}
