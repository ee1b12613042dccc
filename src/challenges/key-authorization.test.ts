import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import type { PublicJwk } from '../jose/jwk.ts'
import {
  challengeToken,
  dns01RecordName,
  dns01TxtValue,
  http01Path,
  keyAuthorization,
} from './key-authorization.ts'

// The RSA key of RFC 7638 §3.1, whose thumbprint is NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs.
const RFC7638_JWK: PublicJwk = {
  kty: 'RSA',
  e: 'AQAB',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
}

describe('key authorization (RFC 8555 §8.1)', () => {
  it('is token.thumbprint', async () => {
    expect(await keyAuthorization('evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA', RFC7638_JWK)).toBe(
      'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs',
    )
    await expect(keyAuthorization('bad token!', RFC7638_JWK)).rejects.toBeInstanceOf(InvalidArgumentError)
  })

  it('dns-01 value is base64url(SHA-256(key authorization)), name drops the wildcard (§8.4)', async () => {
    const ka = 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
    expect(await dns01TxtValue(ka)).toBe(createHash('sha256').update(ka).digest('base64url'))
    expect(dns01RecordName('*.example.org')).toBe('_acme-challenge.example.org')
    expect(dns01RecordName({ type: 'dns', value: 'www.example.org.' })).toBe(
      '_acme-challenge.www.example.org',
    )
  })

  it('http-01 path (§8.3) and token-less challenges', () => {
    expect(http01Path('abc')).toBe('/.well-known/acme-challenge/abc')
    expect(() => challengeToken({ type: 'dns-persist-01' })).toThrow(/has no token/)
  })
})
