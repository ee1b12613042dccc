import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import { decodeBase64Url } from '../lib/base64url.ts'
import { utf8 } from '../lib/bytes.ts'
import { generateKeyPair, type JwsAlgorithm, jwsAlgorithm, signParams } from './algorithms.ts'
import { exportPublicJwk } from './jwk.ts'
import { signJws, signMacJws } from './jws.ts'

const decodeJson = (part: string) => JSON.parse(utf8.decode(decodeBase64Url(part)))

describe('flattened JWS', () => {
  const cases: Array<[JwsAlgorithm, number | undefined]> = [
    ['ES256', 64],
    ['ES384', 96],
    ['ES512', 132],
    ['RS256', 256],
    ['RS384', 256],
    ['RS512', 256],
    ['EdDSA', 64],
  ]
  for (const [alg, sigLength] of cases) {
    it(`signs with ${alg} and crypto.subtle.verify accepts it`, async () => {
      const pair = await generateKeyPair(alg)
      expect(jwsAlgorithm(pair.privateKey)).toBe(alg)
      const jws = await signJws(
        { url: 'https://ca.test/new-order', nonce: 'abc', kid: 'https://ca.test/acct/1' },
        { a: 1 },
        pair.privateKey,
      )
      expect(decodeJson(jws.protected)).toEqual({
        url: 'https://ca.test/new-order',
        nonce: 'abc',
        kid: 'https://ca.test/acct/1',
        alg,
      })
      expect(decodeJson(jws.payload)).toEqual({ a: 1 })
      const signature = decodeBase64Url(jws.signature)
      // JWS ECDSA signatures are the fixed-size r||s, not DER (RFC 7518 §3.4).
      expect(signature.length).toBe(sigLength)
      const ok = await crypto.subtle.verify(
        signParams(alg),
        pair.publicKey,
        signature,
        utf8.encode(`${jws.protected}.${jws.payload}`),
      )
      expect(ok).toBe(true)
    })
  }

  it('encodes POST-as-GET as an empty payload (RFC 8555 §6.3)', async () => {
    const pair = await generateKeyPair('ES256')
    const jws = await signJws({ url: 'https://ca.test/o/1', nonce: 'n', kid: 'k' }, '', pair.privateKey)
    expect(jws.payload).toBe('')
  })

  it('puts the jwk header for new-account style requests', async () => {
    const pair = await generateKeyPair('ES256')
    const jwk = await exportPublicJwk(pair.publicKey)
    const jws = await signJws({ url: 'https://ca.test/new-acct', nonce: 'n', jwk }, {}, pair.privateKey)
    const header = decodeJson(jws.protected)
    expect(header.jwk).toEqual(jwk)
    expect(header).not.toHaveProperty('kid')
  })

  it('MACs with HS256/384/512 and the key verifies', async () => {
    for (const [alg, hash] of [
      ['HS256', 'SHA-256'],
      ['HS384', 'SHA-384'],
      ['HS512', 'SHA-512'],
    ] as const) {
      const raw = crypto.getRandomValues(new Uint8Array(32))
      const jws = await signMacJws({ kid: 'eab', url: 'https://ca.test/new-acct' }, { x: 1 }, raw, alg)
      expect(decodeJson(jws.protected)).toEqual({ kid: 'eab', url: 'https://ca.test/new-acct', alg })
      const key = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash }, false, ['verify'])
      const ok = await crypto.subtle.verify(
        'HMAC',
        key,
        decodeBase64Url(jws.signature),
        utf8.encode(`${jws.protected}.${jws.payload}`),
      )
      expect(ok).toBe(true)
    }
  })

  it('rejects keys ACME cannot sign with', async () => {
    const pss = (await crypto.subtle.generateKey(
      { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    )) as CryptoKeyPair
    expect(() => jwsAlgorithm(pss.privateKey)).toThrow(InvalidArgumentError)
    await expect(generateKeyPair('RS256', { modulusLength: 1024 as 2048 })).rejects.toBeInstanceOf(
      InvalidArgumentError,
    )
    await expect(generateKeyPair('XX' as JwsAlgorithm)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
  })

  it('generates RSA 3072 and 4096 keys', async () => {
    for (const modulusLength of [3072, 4096] as const) {
      const pair = await generateKeyPair('RS256', { modulusLength })
      expect((pair.publicKey.algorithm as RsaHashedKeyAlgorithm).modulusLength).toBe(modulusLength)
    }
  })
})
