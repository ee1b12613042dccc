/**
 * base64url without padding (RFC 4648 §5), the encoding of every JWS part and JWK member (RFC 7515 §2).
 * Written against `btoa`/`atob` so it runs on every Web runtime; no `Buffer`.
 */

const CHUNK = 0x8000

export function encodeBase64(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i += CHUNK) {
    binary += String.fromCharCode(...bytes.subarray(i, i + CHUNK))
  }
  return btoa(binary)
}

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

export function encodeBase64Url(input: Uint8Array | string): string {
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input
  return encodeBase64(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Decodes base64url (padding tolerated). Throws `TypeError` on characters outside the alphabet. */
export function decodeBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new TypeError('not base64url')
  const b64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/')
  return decodeBase64(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
}
