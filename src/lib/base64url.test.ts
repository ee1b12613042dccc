import { describe, expect, it } from 'vitest'
import {
  decodeBase64,
  decodeBase64Url,
  encodeBase64,
  encodeBase64Fallback,
  encodeBase64Url,
} from './base64url.ts'

describe('base64url (RFC 4648 §5)', () => {
  it('matches the RFC 4648 §10 vectors without padding', () => {
    const vectors: Array<[string, string]> = [
      ['', ''],
      ['f', 'Zg'],
      ['fo', 'Zm8'],
      ['foo', 'Zm9v'],
      ['foob', 'Zm9vYg'],
      ['fooba', 'Zm9vYmE'],
      ['foobar', 'Zm9vYmFy'],
    ]
    for (const [text, encoded] of vectors) {
      expect(encodeBase64Url(text)).toBe(encoded)
      expect(new TextDecoder().decode(decodeBase64Url(encoded))).toBe(text)
    }
  })

  it('uses - and _ and round-trips large inputs', () => {
    expect(encodeBase64Url(new Uint8Array([0xfb, 0xff]))).toBe('-_8')
    const big = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 256)
    expect(decodeBase64Url(encodeBase64Url(big))).toEqual(big)
    expect(() => decodeBase64Url('a+b/')).toThrow(TypeError)
  })

  it('encodes standard base64 with padding, the same with the runtime encoder and the fallback', () => {
    for (let length = 0; length < 70; length++) {
      const bytes = Uint8Array.from({ length }, (_, i) => (i * 151 + length) % 256)
      expect(encodeBase64Fallback(bytes)).toBe(encodeBase64(bytes))
      expect(decodeBase64(encodeBase64(bytes))).toEqual(bytes)
      expect(encodeBase64(bytes).length % 4).toBe(0)
    }
    expect(encodeBase64(new Uint8Array([0xfb, 0xff]))).toBe('+/8=')
  })
})
