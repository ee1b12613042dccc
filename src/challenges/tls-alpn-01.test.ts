import { spawnSync } from 'node:child_process'
import { createHash, X509Certificate } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createSecureContext, createServer } from 'node:tls'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { Certificate, SubjectAlternativeName } from '@peculiar/asn1-x509'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import type { Authorization, Challenge, Identifier } from '../protocol/resources.ts'
import type { ChallengeContext } from './solver.ts'
import {
  ACME_TLS_ALPN_PROTOCOL,
  createTlsAlpn01Certificate,
  ID_PE_ACME_IDENTIFIER,
  tlsAlpn01ServerName,
  tlsAlpn01Solver,
} from './tls-alpn-01.ts'

const KEY_AUTHORIZATION =
  'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA.NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs'
const DIGEST = createHash('sha256').update(KEY_AUTHORIZATION).digest()

let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webacme-tls-alpn-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function openssl(pem: string, ...args: string[]): { status: number | null; output: string } {
  writeFileSync(join(dir, 'cert.pem'), pem)
  const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
  return { status: result.status, output: result.stdout + result.stderr }
}

function extensionsOf(der: Uint8Array) {
  const certificate = AsnConvert.parse(der, Certificate)
  return certificate.tbsCertificate.extensions ?? []
}

describe('createTlsAlpn01Certificate (RFC 8737 §3)', () => {
  it('carries the critical acmeIdentifier = OCTET STRING(SHA-256(key authorization)) and one dNSName', async () => {
    const { certificatePem, privateKeyPem, der, keys } = await createTlsAlpn01Certificate({
      identifier: 'Example.COM',
      keyAuthorization: KEY_AUTHORIZATION,
    })
    expect(keys.privateKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' })
    expect(privateKeyPem).toMatch(/^-----BEGIN PRIVATE KEY-----/)

    // What openssl makes of it.
    const text = openssl(certificatePem, 'x509', '-in', 'cert.pem', '-noout', '-text')
    expect(text.status).toBe(0)
    expect(text.output).toContain('Version: 3 (0x2)')
    expect(text.output).toContain('Signature Algorithm: ecdsa-with-SHA256')
    expect(text.output).toMatch(/X509v3 Subject Alternative Name:\s*\n\s*DNS:example\.com\n/)
    expect(text.output).toMatch(/1\.3\.6\.1\.5\.5\.7\.1\.31: critical\n/)
    // asn1parse shows the extension as OID, critical = TRUE, extnValue = 04 20 || digest.
    const parsed = openssl(certificatePem, 'asn1parse', '-in', 'cert.pem').output
    const wrapped = Buffer.concat([Buffer.of(0x04, 0x20), DIGEST])
      .toString('hex')
      .toUpperCase()
    expect(parsed).toMatch(
      new RegExp(
        `:1\\.3\\.6\\.1\\.5\\.5\\.7\\.1\\.31\\s*\\n.*BOOLEAN\\s*:255\\s*\\n.*OCTET STRING\\s*\\[HEX DUMP\\]:${wrapped}\\n`,
      ),
    )

    // What an ASN.1 parser makes of it: extnValue is the DER of Authorization ::= OCTET STRING (SIZE (32)).
    const extensions = extensionsOf(der)
    const acme = extensions.find((e) => e.extnID === ID_PE_ACME_IDENTIFIER)
    expect(ID_PE_ACME_IDENTIFIER).toBe('1.3.6.1.5.5.7.1.31')
    expect(acme?.critical).toBe(true)
    const extnValue = new Uint8Array(acme!.extnValue.buffer)
    expect(Buffer.from(extnValue)).toEqual(Buffer.concat([Buffer.of(0x04, 0x20), DIGEST]))
    expect(Buffer.from(AsnConvert.parse(extnValue, OctetString).buffer)).toEqual(DIGEST)
    const sanExtension = extensions.find((e) => e.extnID === '2.5.29.17')
    const san = AsnConvert.parse(sanExtension!.extnValue.buffer, SubjectAlternativeName)
    expect(san.map((name) => name.dNSName)).toEqual(['example.com'])
  })

  it('is a self-signed certificate whose signature verifies (openssl verify, node X509Certificate)', async () => {
    const { certificatePem } = await createTlsAlpn01Certificate({
      identifier: { type: 'dns', value: 'www.example.org' },
      keyAuthorization: KEY_AUTHORIZATION,
    })
    // openssl refuses unknown critical extensions, which is exactly the point of making it critical.
    const strict = openssl(certificatePem, 'verify', '-CAfile', 'cert.pem', 'cert.pem')
    expect(strict.status).not.toBe(0)
    expect(strict.output).toMatch(/unsupported certificate extension|unhandled critical extension/i)
    const verified = openssl(certificatePem, 'verify', '-ignore_critical', '-CAfile', 'cert.pem', 'cert.pem')
    expect(verified.output).toContain('cert.pem: OK')
    const x509 = new X509Certificate(certificatePem)
    expect(x509.verify(x509.publicKey)).toBe(true)
    expect(x509.checkIssued(x509)).toBe(true)
    expect(x509.subject).toBe('CN=www.example.org')
  })

  it('uses an iPAddress SAN for IP identifiers (RFC 8738 §6)', async () => {
    const v4 = await createTlsAlpn01Certificate({
      identifier: '127.0.0.1',
      keyAuthorization: KEY_AUTHORIZATION,
    })
    const v6 = await createTlsAlpn01Certificate({
      identifier: { type: 'ip', value: '2001:DB8::0:1' },
      keyAuthorization: KEY_AUTHORIZATION,
    })
    expect(
      openssl(v4.certificatePem, 'x509', '-in', 'cert.pem', '-noout', '-ext', 'subjectAltName').output,
    ).toMatch(/IP Address:127\.0\.0\.1\n/)
    for (const [cert, ip] of [
      [v4, '127.0.0.1'],
      [v6, '2001:db8::1'],
    ] as const) {
      const extensions = extensionsOf(cert.der)
      const san = AsnConvert.parse(
        extensions.find((e) => e.extnID === '2.5.29.17')!.extnValue.buffer,
        SubjectAlternativeName,
      )
      expect(san).toHaveLength(1)
      expect(san[0]?.dNSName).toBeUndefined()
      expect(new X509Certificate(cert.certificatePem).subjectAltName).toBe(
        `IP Address:${ip === '2001:db8::1' ? '2001:DB8:0:0:0:0:0:1' : ip}`,
      )
    }
  })

  it.each([
    [
      'RSASSA-PKCS1-v1_5',
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
      'sha256WithRSAEncryption',
    ],
    ['ECDSA P-384', { name: 'ECDSA', namedCurve: 'P-384' }, 'ecdsa-with-SHA384'],
    ['Ed25519', { name: 'Ed25519' }, 'ED25519'],
  ] as const)('signs with %s keys', async (_name, params, text) => {
    const keys = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
    const { certificatePem, keys: used } = await createTlsAlpn01Certificate({
      identifier: 'example.net',
      keyAuthorization: KEY_AUTHORIZATION,
      keys,
    })
    expect(used).toBe(keys)
    expect(openssl(certificatePem, 'x509', '-in', 'cert.pem', '-noout', '-text').output).toContain(
      `Signature Algorithm: ${text}`,
    )
    expect(
      openssl(certificatePem, 'verify', '-ignore_critical', '-CAfile', 'cert.pem', 'cert.pem').output,
    ).toContain('cert.pem: OK')
  })

  it('omits privateKeyPem for a non-extractable key and honours validityDays', async () => {
    const keys = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
      'sign',
      'verify',
    ])) as CryptoKeyPair
    const before = Date.now()
    const result = await createTlsAlpn01Certificate({
      identifier: 'example.com',
      keyAuthorization: KEY_AUTHORIZATION,
      keys,
      validityDays: 2,
    })
    const after = Date.now()
    expect(result.privateKeyPem).toBeUndefined()
    const x509 = new X509Certificate(result.certificatePem)
    // Issued between `before` and `after` (however long that took), to the second (X.509 times have no ms).
    const second = (ms: number) => Math.floor(ms / 1000) * 1000
    expect(Date.parse(x509.validTo)).toBeGreaterThanOrEqual(second(before + 2 * 86_400_000))
    expect(Date.parse(x509.validTo)).toBeLessThanOrEqual(after + 2 * 86_400_000)
    expect(Date.parse(x509.validFrom)).toBeLessThan(before)
  })

  it('refuses wildcards, an empty key authorization and keys that are not a pair', async () => {
    await expect(
      createTlsAlpn01Certificate({ identifier: '*.example.com', keyAuthorization: KEY_AUTHORIZATION }),
    ).rejects.toBeInstanceOf(InvalidArgumentError)
    await expect(
      createTlsAlpn01Certificate({ identifier: 'example.com', keyAuthorization: '' }),
    ).rejects.toThrow(/key authorization/)
    const a = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair
    const b = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair
    await expect(
      createTlsAlpn01Certificate({
        identifier: 'example.com',
        keyAuthorization: KEY_AUTHORIZATION,
        keys: { privateKey: a.privateKey, publicKey: b.publicKey },
      }),
    ).rejects.toThrow(/does not belong/)
  })
})

describe('tlsAlpn01ServerName (RFC 8738 §6)', () => {
  it('is the name itself for DNS and the reverse-mapping name for IP addresses', () => {
    expect(ACME_TLS_ALPN_PROTOCOL).toBe('acme-tls/1')
    expect(tlsAlpn01ServerName('WWW.Example.com')).toBe('www.example.com')
    expect(tlsAlpn01ServerName({ type: 'ip', value: '192.0.2.5' })).toBe('5.2.0.192.in-addr.arpa')
    // RFC 3596 §2.5's example, without the trailing dot SNI does not carry.
    expect(tlsAlpn01ServerName('4321:0:1:2:3:4:567:89ab')).toBe(
      'b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa',
    )
    expect(() => tlsAlpn01ServerName('*.example.com')).toThrow(InvalidArgumentError)
  })
})

function context(
  identifier: Identifier,
  url: string,
  keyAuthorization = KEY_AUTHORIZATION,
): ChallengeContext {
  const challenge: Challenge = {
    type: 'tls-alpn-01',
    url,
    status: 'pending',
    token: 'evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA',
  }
  const authorization: Authorization = {
    url: `${url}/authz`,
    identifier,
    status: 'pending',
    challenges: [challenge],
  }
  return { authorization, challenge, identifier, keyAuthorization, accountUrl: 'https://ca.example/acct/1' }
}

describe('tlsAlpn01Solver', () => {
  it('keeps one certificate per SNI name from present() to cleanup()', async () => {
    const solver = tlsAlpn01Solver()
    expect(solver.type).toBe('tls-alpn-01')
    expect(solver.canSolve?.({ type: 'dns', value: '*.example.com' })).toBe(false)
    expect(solver.canSolve?.({ type: 'ip', value: '127.0.0.1' })).toBe(true)

    const dns = context({ type: 'dns', value: 'example.com' }, 'https://ca.example/chall/1')
    const ip = context({ type: 'ip', value: '127.0.0.1' }, 'https://ca.example/chall/2')
    await solver.present(dns)
    await solver.present(ip)
    const forDns = solver.certificateFor('EXAMPLE.com.')
    expect(forDns?.privateKeyPem).toMatch(/PRIVATE KEY/)
    expect(new X509Certificate(forDns!.certificatePem).subjectAltName).toBe('DNS:example.com')
    expect(
      new X509Certificate(solver.certificateFor('1.0.0.127.in-addr.arpa')!.certificatePem).subjectAltName,
    ).toBe('IP Address:127.0.0.1')
    expect(solver.certificateFor('other.example')).toBeUndefined()

    // A newer challenge for the same name replaces the certificate; the older one's cleanup leaves it.
    const newer = context({ type: 'dns', value: 'example.com' }, 'https://ca.example/chall/3')
    await solver.present(newer)
    await solver.cleanup(dns)
    expect(solver.certificateFor('example.com')).toBeDefined()
    await solver.cleanup(newer)
    await solver.cleanup(ip)
    expect(solver.certificateFor('example.com')).toBeUndefined()
    expect(solver.certificateFor('1.0.0.127.in-addr.arpa')).toBeUndefined()
    // Cleanup tolerates what present() never stored.
    await solver.cleanup(context({ type: 'dns', value: '*.example.com' }, 'https://ca.example/chall/4'))
  })

  it('answers a real acme-tls/1 handshake through SNICallback', async () => {
    const solver = tlsAlpn01Solver()
    await solver.present(context({ type: 'dns', value: 'example.com' }, 'https://ca.example/chall/1'))
    const server = createServer({
      ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
      SNICallback(serverName, done) {
        const credentials = solver.certificateFor(serverName)
        if (!credentials) return done(new Error(`no challenge for ${serverName}`))
        done(null, createSecureContext({ cert: credentials.certificatePem, key: credentials.privateKeyPem }))
      },
    })
    server.on('secureConnection', (socket) => socket.end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const { alpn, raw } = await new Promise<{ alpn: string | false; raw: Buffer }>((resolve, reject) => {
        const socket = connect({
          host: '127.0.0.1',
          port,
          servername: 'example.com',
          ALPNProtocols: [ACME_TLS_ALPN_PROTOCOL],
          rejectUnauthorized: false, // acme-tls/1 does not authenticate (RFC 8737 §4); the test checks the cert
        })
        socket.once('secureConnect', () => {
          resolve({ alpn: socket.alpnProtocol ?? false, raw: socket.getPeerCertificate().raw })
          socket.destroy()
        })
        socket.once('error', reject)
      })
      expect(alpn).toBe(ACME_TLS_ALPN_PROTOCOL)
      const acme = extensionsOf(new Uint8Array(raw)).find((e) => e.extnID === ID_PE_ACME_IDENTIFIER)
      expect(Buffer.from(AsnConvert.parse(acme!.extnValue.buffer, OctetString).buffer)).toEqual(DIGEST)
    } finally {
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
