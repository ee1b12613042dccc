/**
 * The DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of a public key, exported once per key: issuance puts it in
 * the CSR and compares it with the certificate's, and each export is a WebCrypto call (a thread-pool job in Node).
 */
import type { CryptoKey } from '../lib/web-types.ts'

const exported = new WeakMap<CryptoKey, Promise<Uint8Array>>()

/**
 * `crypto.subtle.exportKey('spki', publicKey)` as bytes, the same promise for the same key. The bytes are
 * shared: callers read them and never write.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5280#section-4.1.2.7
 */
export function exportSpki(publicKey: CryptoKey): Promise<Uint8Array> {
  let spki = exported.get(publicKey)
  if (!spki) {
    spki = crypto.subtle.exportKey('spki', publicKey).then((buffer) => new Uint8Array(buffer as ArrayBuffer))
    exported.set(publicKey, spki)
    // A failed export is not kept: the caller sees the error, the next call tries again.
    spki.catch(() => exported.delete(publicKey))
  }
  return spki
}
