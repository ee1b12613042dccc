import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemBinary } from '../../test/harness/system.ts'
import { InvalidArgumentError } from '../errors.ts'
import { toHex } from '../lib/bytes.ts'
import { formatIpAddress, parseIpAddress } from '../protocol/identifiers.ts'
import { certificateMatchesKey, type ParsedCertificate, parseCertificate } from './certificate.ts'
import { decodePem, encodePem } from './pem.ts'
import { importPrivateKeyPem } from './private-key.ts'

let dir = ''
const openssl = (...args: string[]) =>
  execFileSync(systemBinary('openssl'), args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
const read = (name: string) => readFileSync(join(dir, name), 'utf8')

const CONFIG = `
[req]
distinguished_name = dn
[dn]
[ca_ext]
basicConstraints = critical,CA:TRUE
subjectKeyIdentifier = hash
keyUsage = critical,keyCertSign,cRLSign
[leaf_ext]
basicConstraints = critical,CA:FALSE
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:example.com,DNS:*.example.com,email:x@example.com,IP:192.0.2.1,IP:2001:db8::1,IP:::ffff:1.2.3.4,IP:fe80:0:0:1::
[plain_ext]
subjectAltName = DNS:plain.example
subjectKeyIdentifier = none
authorityKeyIdentifier = none
`

/** One line of `openssl x509 -noout -<field>` without the `field=` prefix. */
const field = (cert: string, name: string, ...extra: string[]) =>
  openssl('x509', '-in', cert, '-noout', `-${name}`, ...extra)
    .trim()
    .replace(/^[^=]+=/, '')

/** Colon-separated hex of an extension from `openssl x509 -ext`, as lowercase hex. */
const extensionHex = (cert: string, ext: string) => {
  const text = openssl('x509', '-in', cert, '-noout', '-ext', ext)
  return /\n\s*((?:[0-9A-F]{2}:)*[0-9A-F]{2})\s*$/.exec(text)![1]!.replace(/:/g, '').toLowerCase()
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webacme-cert-'))
  writeFileSync(join(dir, 'o.cnf'), CONFIG)
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384', '-out', 'ca.key')
  openssl(
    'req',
    '-config',
    'o.cnf',
    '-x509',
    '-new',
    '-key',
    'ca.key',
    '-subj',
    '/C=US/O=Test, Inc./CN=Test Root CA',
    '-days',
    '30',
    '-extensions',
    'ca_ext',
    '-set_serial',
    '1',
    '-out',
    'ca.pem',
  )
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'leaf.key')
  openssl(
    'req',
    '-config',
    'o.cnf',
    '-new',
    '-key',
    'leaf.key',
    '-subj',
    '/CN=example.com/O=a\\+b "q" <x>;y\\\\z,w/OU=#lead /DC=dc',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-set_serial',
    '0x8f0102030405060708',
    '-days',
    '30000',
    '-extensions',
    'leaf_ext',
    '-out',
    'leaf.pem',
  )
  openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'rsa.key')
  openssl(
    'req',
    '-config',
    'o.cnf',
    '-x509',
    '-new',
    '-key',
    'rsa.key',
    '-subj',
    '/O=No CN',
    '-days',
    '1',
    '-extensions',
    'plain_ext',
    '-set_serial',
    '0x7f',
    '-out',
    'rsa.pem',
  )
  openssl('genpkey', '-algorithm', 'ED25519', '-out', 'ed.key')
  openssl(
    'req',
    '-config',
    'o.cnf',
    '-x509',
    '-new',
    '-key',
    'ed.key',
    '-subj',
    '/CN=ed.example',
    '-days',
    '1',
    '-extensions',
    'plain_ext',
    '-out',
    'ed.pem',
  )
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('parseCertificate', () => {
  it('reads every field of an openssl leaf like openssl does', () => {
    const cert = parseCertificate(read('leaf.pem'))
    expect(cert.der).toEqual(decodePem(read('leaf.pem'), 'CERTIFICATE').der)

    expect(cert.serialNumber).toBe(field('leaf.pem', 'serial').toLowerCase())
    expect(cert.serialNumber).toBe('8f0102030405060708')
    // The high bit forces a 0x00 sign octet, which RFC 9773 CertIDs keep.
    expect(toHex(cert.serialNumberBytes)).toBe('008f0102030405060708')

    expect(cert.subject.dn).toBe(field('leaf.pem', 'subject', '-nameopt', 'RFC2253'))
    expect(cert.subject.dn).toBe('DC=dc,OU=\\#lead\\ ,O=a\\+b \\"q\\" \\<x\\>\\;y\\\\z\\,w,CN=example.com')
    expect(cert.subject.commonName).toBe('example.com')
    expect(cert.issuer.dn).toBe(field('leaf.pem', 'issuer', '-nameopt', 'RFC2253'))
    expect(cert.issuer).toEqual({ commonName: 'Test Root CA', dn: 'CN=Test Root CA,O=Test\\, Inc.,C=US' })

    const iso = (text: string) => new Date(text.replace(' ', 'T')).toISOString()
    expect(cert.notBefore.toISOString()).toBe(iso(field('leaf.pem', 'startdate', '-dateopt', 'iso_8601')))
    // 30000 days out is past 2049, so notAfter is a GeneralizedTime (RFC 5280 §4.1.2.5).
    expect(cert.notAfter.toISOString()).toBe(iso(field('leaf.pem', 'enddate', '-dateopt', 'iso_8601')))
    expect(cert.notAfter.getUTCFullYear()).toBeGreaterThan(2100)

    const san = openssl('x509', '-in', 'leaf.pem', '-noout', '-ext', 'subjectAltName')
      .split('\n')[1]!
      .trim()
      .split(', ')
    expect(cert.dnsNames).toEqual(san.filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)))
    expect(cert.ipAddresses).toEqual(
      san.filter((n) => n.startsWith('IP Address:')).map((n) => formatIpAddress(parseIpAddress(n.slice(11)))),
    )
    expect(cert.dnsNames).toEqual(['example.com', '*.example.com'])
    expect(cert.ipAddresses).toEqual(['192.0.2.1', '2001:db8::1', '::ffff:102:304', 'fe80:0:0:1::'])

    expect(toHex(cert.authorityKeyIdentifier!)).toBe(extensionHex('leaf.pem', 'authorityKeyIdentifier'))
    expect(toHex(cert.subjectKeyIdentifier!)).toBe(extensionHex('leaf.pem', 'subjectKeyIdentifier'))
    expect(cert.authorityKeyIdentifier).toEqual(parseCertificate(read('ca.pem')).subjectKeyIdentifier)

    const spki = decodePem(openssl('x509', '-in', 'leaf.pem', '-noout', '-pubkey'), 'PUBLIC KEY').der
    expect(cert.subjectPublicKeyInfo).toEqual(spki)
    expect(cert.isCA).toBe(false)
  })

  it('reads a CA certificate and DER input', () => {
    const der = decodePem(read('ca.pem'), 'CERTIFICATE').der
    const cert = parseCertificate(der)
    expect(cert.isCA).toBe(true)
    expect(cert.serialNumber).toBe('01')
    expect(toHex(cert.serialNumberBytes)).toBe('01')
    expect(cert.subject).toEqual(cert.issuer)
    expect(cert.authorityKeyIdentifier).toBeUndefined()
    expect(cert.dnsNames).toEqual([])
    expect(cert.ipAddresses).toEqual([])
    expect(cert.notAfter.getTime() - cert.notBefore.getTime()).toBe(30 * 86400_000)
  })

  it('leaves out what a certificate does not have', () => {
    const cert = parseCertificate(read('rsa.pem'))
    expect(cert.subject).toEqual({ dn: 'O=No CN' })
    expect('commonName' in cert.subject).toBe(false)
    expect('isCA' in cert).toBe(false)
    expect('subjectKeyIdentifier' in cert).toBe(false)
    expect('authorityKeyIdentifier' in cert).toBe(false)
    expect(cert.serialNumber).toBe('7f')
    expect(cert.dnsNames).toEqual(['plain.example'])
  })

  it('takes the first CERTIFICATE block of a PEM chain, skipping other blocks', () => {
    const text = `${read('leaf.key')}\n${read('leaf.pem')}${read('ca.pem')}`
    expect(parseCertificate(text).subject.commonName).toBe('example.com')
  })

  it('rejects what is not a certificate', () => {
    for (const input of [
      'garbage',
      read('leaf.key'),
      encodePem('CERTIFICATE', new Uint8Array([0x30, 0x03, 1, 2, 3])),
    ]) {
      let err: unknown
      try {
        parseCertificate(input)
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
    }
    expect(() => parseCertificate(new Uint8Array([1, 2, 3]))).toThrow(InvalidArgumentError)
    expect(() => parseCertificate(42 as unknown as Uint8Array)).toThrow(InvalidArgumentError)
  })
})

describe('certificateMatchesKey', () => {
  it.each([
    ['P-256', 'leaf'],
    ['RSA', 'rsa'],
    ['Ed25519', 'ed'],
  ])('%s: matches its own key in every form, not another key', async (_, name) => {
    const keys = await importPrivateKeyPem(read(`${name}.key`))
    const pem = read(`${name}.pem`)
    const parsed: ParsedCertificate = parseCertificate(pem)
    expect(await certificateMatchesKey(pem, keys)).toBe(true)
    expect(await certificateMatchesKey(parsed.der, keys.publicKey)).toBe(true)
    expect(await certificateMatchesKey(parsed, keys.privateKey)).toBe(true)
    const other = await importPrivateKeyPem(read('ca.key'))
    expect(await certificateMatchesKey(parsed, other)).toBe(false)
  })

  it('explains why a non-extractable private key alone cannot be checked', async () => {
    const keys = await importPrivateKeyPem(read('leaf.key'), { extractable: false })
    expect(await certificateMatchesKey(read('leaf.pem'), keys)).toBe(true)
    const err = await certificateMatchesKey(read('leaf.pem'), keys.privateKey).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toMatch(/not extractable/)
  })
})
