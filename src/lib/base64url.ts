/**
 * base64url without padding (RFC 4648 §5), the encoding of every JWS part and JWK member (RFC 7515 §2).
 * Written against `btoa`/`atob` so it runs on every Web runtime; no `Buffer`.
 */

/** `Uint8Array.prototype.toBase64` (TC39 "Uint8Array to/from base64"), where the runtime has it. */
type NativeToBase64 = (
  this: Uint8Array,
  options?: { alphabet?: 'base64' | 'base64url'; omitPadding?: boolean },
) => string
const nativeToBase64 = (Uint8Array.prototype as { toBase64?: NativeToBase64 }).toBase64

/**
 * Standard base64 with padding. The runtime's own `toBase64` where it has one (workerd, Chromium, Bun, Deno: every
 * JWS part goes through here, and the native encoder is an order of magnitude faster); else `btoa` over a binary
 * string built byte by byte (spreading a typed array into `String.fromCharCode` is several times slower in V8).
 */
export function encodeBase64(bytes: Uint8Array): string {
  if (nativeToBase64) return nativeToBase64.call(bytes)
  return btoa(binaryString(bytes))
}

/** Encodes with the JavaScript fallback, whatever the runtime has (for tests that compare the two). */
export function encodeBase64Fallback(bytes: Uint8Array): string {
  return btoa(binaryString(bytes))
}

function binaryString(bytes: Uint8Array): string {
  let binary = ''
  for (let i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]!)
  return binary
}

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text)
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes
}

export function encodeBase64Url(input: Uint8Array | string): string {
  // ASCII text (every JWS header, most payloads) is its own binary string: no UTF-8 encoding, no byte loop.
  if (!nativeToBase64 && typeof input === 'string' && ASCII.test(input)) return toBase64Url(btoa(input))
  const bytes = typeof input === 'string' ? new TextEncoder().encode(input) : input
  if (nativeToBase64) return nativeToBase64.call(bytes, { alphabet: 'base64url', omitPadding: true })
  return toBase64Url(encodeBase64(bytes))
}

const ASCII = /^[^\u0080-\uffff]*$/

function toBase64Url(base64: string): string {
  return base64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Decodes base64url (padding tolerated). Throws `TypeError` on characters outside the alphabet. */
export function decodeBase64Url(text: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*={0,2}$/.test(text)) throw new TypeError('not base64url')
  const b64 = text.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/')
  return decodeBase64(b64 + '='.repeat((4 - (b64.length % 4)) % 4))
}
