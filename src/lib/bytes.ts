/** Byte helpers shared by the JOSE and PKIX layers. */

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  return joinBytes(parts)
}

/** {@link concatBytes} for a list of any length (a body read in many chunks: no spread into arguments). */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  let length = 0
  for (const part of parts) length += part.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }
  return out
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

export function toHex(bytes: Uint8Array): string {
  let out = ''
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0')
  return out
}

/**
 * A fresh `ArrayBuffer` holding exactly `bytes`: WebCrypto and `fetch` bodies reject views on shared buffers in some
 * runtimes. Not `bytes.slice().buffer`: a Node `Buffer`'s `slice` is a view into its pool (8 KiB of other data).
 */
export function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return copy.buffer
}

export const utf8: { encode(text: string): Uint8Array<ArrayBuffer>; decode(bytes: Uint8Array): string } = {
  encode: (text) => new TextEncoder().encode(text),
  decode: (bytes) => new TextDecoder().decode(bytes),
}
