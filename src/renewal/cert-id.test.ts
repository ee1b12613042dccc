import { describe, expect, it } from 'vitest'
import { RFC9773_EXAMPLE } from '../../test/fixtures/certificates.ts'
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { toHex } from '../lib/bytes.ts'
import { parseCertificate } from '../pkix/certificate.ts'
import { decodePem } from '../pkix/pem.ts'
import { certId, formatCertId, parseCertId } from './cert-id.ts'

describe('certId (RFC 9773 §4.1)', () => {
  it('reproduces the RFC example from the Appendix A certificate', () => {
    const parsed = parseCertificate(RFC9773_EXAMPLE)
    // The values §4.1 walks through.
    expect(toHex(parsed.authorityKeyIdentifier!)).toBe('69885b6b87464041e1b37b847ba0ae2cde01c8d4')
    expect(toHex(parsed.serialNumberBytes)).toBe('0087654321')
    expect(certId(RFC9773_EXAMPLE)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
    expect(certId(decodePem(RFC9773_EXAMPLE, 'CERTIFICATE').der)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
    expect(certId(parsed)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
  })

  it('round-trips through parseCertId and formatCertId', () => {
    const parts = parseCertId('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
    expect(toHex(parts.authorityKeyIdentifier)).toBe('69885b6b87464041e1b37b847ba0ae2cde01c8d4')
    expect(toHex(parts.serialNumber)).toBe('0087654321')
    expect(formatCertId(parts)).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE')
  })

  it('rejects malformed CertIDs', () => {
    for (const bad of [
      '',
      'nodot',
      'a.b.c',
      '.AIdlQyE',
      'aYhba4dGQEHhs3uEe6CuLN4ByNQ.',
      'aYhba4dGQEHhs3uEe6CuLN4ByNQ=.AIdlQyE=', // padding must be stripped
      'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdl+yE', // not base64url
      'aYhba4dGQEHhs3uEe6CuLN4ByNR.AIdlQyE', // non-canonical trailing bits
      'aYhba4dGQEHhs3uEe6CuLN4ByNQ.AAE', // 00 01: not minimal DER
    ]) {
      expect(() => parseCertId(bad), bad).toThrow(InvalidArgumentError)
    }
  })

  it('needs an authority key identifier', () => {
    const parsed = parseCertificate(RFC9773_EXAMPLE)
    const { authorityKeyIdentifier: _aki, ...withoutAki } = parsed
    expect(() => certId(withoutAki)).toThrow(UnsupportedError)
  })
})
