/** base64url in workerd, whose V8 has `Uint8Array.prototype.toBase64`: the native path and the fallback agree. */
import { describe, expect, it } from 'vitest'
import { decodeBase64Url, encodeBase64, encodeBase64Fallback, encodeBase64Url } from './base64url.ts'

describe('base64url in workerd', () => {
  it('uses the native encoder, which agrees with the JavaScript fallback', () => {
    expect(typeof (Uint8Array.prototype as { toBase64?: unknown }).toBase64).toBe('function')
    for (let length = 0; length < 70; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 151 + length) % 256)
      expect(encodeBase64(bytes)).toBe(encodeBase64Fallback(bytes))
      const url = encodeBase64Fallback(bytes).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
      expect(encodeBase64Url(bytes)).toBe(url)
      expect(decodeBase64Url(encodeBase64Url(bytes))).toEqual(bytes)
    }
    expect(encodeBase64Url('foobar')).toBe('Zm9vYmFy')
    expect(encodeBase64Url(new Uint8Array([0xfb, 0xff]))).toBe('-_8')
  })
})
