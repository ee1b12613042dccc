import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import { generateKeyPair } from './algorithms.ts'
import { exportPrivateJwk, exportPublicJwk, importJwkPair, jwkThumbprint, toPublicJwk } from './jwk.ts'

describe('RFC 7638 thumbprint', () => {
  it('matches the RFC 7638 §3.1 example', async () => {
    const jwk = {
      kty: 'RSA',
      n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
      e: 'AQAB',
      alg: 'RS256',
      kid: '2011-04-29',
    }
    expect(await jwkThumbprint(jwk)).toBe('NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  })

  it('ignores private and optional members (same thumbprint for the private JWK)', async () => {
    const pair = await generateKeyPair('ES256')
    const priv = await exportPrivateJwk(pair.privateKey)
    expect(await jwkThumbprint(priv)).toBe(await jwkThumbprint(await exportPublicJwk(pair.publicKey)))
  })
})

describe('JWK import/export', () => {
  for (const alg of ['ES256', 'ES384', 'ES512', 'RS256', 'EdDSA'] as const) {
    it(`round-trips a ${alg} key pair`, async () => {
      const pair = await generateKeyPair(alg)
      const jwk = await exportPrivateJwk(pair.privateKey)
      expect(jwk.d).toBeTypeOf('string')
      expect(jwk).not.toHaveProperty('key_ops')
      const back = await importJwkPair(jwk)
      expect(await exportPublicJwk(back.publicKey)).toEqual(await exportPublicJwk(pair.publicKey))
      const data = new Uint8Array([1, 2, 3])
      const params =
        alg === 'EdDSA'
          ? 'Ed25519'
          : alg.startsWith('ES')
            ? { name: 'ECDSA', hash: `SHA-${alg.slice(2)}` }
            : 'RSASSA-PKCS1-v1_5'
      const sig = await crypto.subtle.sign(params, back.privateKey, data)
      expect(await crypto.subtle.verify(params, pair.publicKey, sig, data)).toBe(true)
    })
  }

  it('exports only required public members', async () => {
    const pair = await generateKeyPair('ES256')
    expect(Object.keys(await exportPublicJwk(pair.publicKey)).sort()).toEqual(['crv', 'kty', 'x', 'y'])
  })

  it('rejects public JWKs, unknown curves and private keys passed as public', async () => {
    const pair = await generateKeyPair('ES256')
    const pub = await exportPublicJwk(pair.publicKey)
    await expect(importJwkPair(pub as JsonWebKey)).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(
      importJwkPair({ kty: 'EC', crv: 'secp256k1', x: 'a', y: 'b', d: 'c' }),
    ).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
    })
    await expect(exportPublicJwk(pair.privateKey)).rejects.toBeInstanceOf(InvalidArgumentError)
    expect(() => toPublicJwk({ kty: 'EC', crv: 'P-256' })).toThrow(InvalidArgumentError)
  })

  it('refuses to export a non-extractable private key with a clear error', async () => {
    const pair = await generateKeyPair('ES256', { extractable: false })
    await expect(exportPrivateJwk(pair.privateKey)).rejects.toThrow(/not extractable/)
  })
})
