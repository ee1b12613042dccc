import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemBinary } from '../../test/harness/system.ts'
import { InvalidArgumentError } from '../errors.ts'
import { createCsr, csrToPem } from './csr.ts'
import { parseCsr, verifyCsrSignature } from './csr-parse.ts'
import { DerTag, readChildren, readDer } from './der.ts'
import { decodePem, encodePem } from './pem.ts'

let dir = ''
const openssl = (...args: string[]) =>
  execFileSync(systemBinary('openssl'), args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
const read = (name: string) => readFileSync(join(dir, name), 'utf8')

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webacme-csr-parse-'))
  writeFileSync(join(dir, 'o.cnf'), '[req]\ndistinguished_name = dn\n[dn]\n')
  openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'k.pem')
  const req = (out: string, ...args: string[]) =>
    openssl('req', '-config', 'o.cnf', '-new', '-key', 'k.pem', '-out', out, ...args)
  req(
    'san.csr',
    '-subj',
    '/O=Example/CN=WWW.Example.com',
    '-addext',
    'subjectAltName=DNS:a.example,DNS:www.EXAMPLE.com,IP:192.0.2.1,email:x@example.com,IP:2001:DB8:0:0::1,DNS:A.example',
  )
  req('cn-only.csr', '-subj', '/CN=Only.Example')
  req('ip-cn.csr', '-subj', '/CN=2001:db8:0::2', '-addext', 'subjectAltName=DNS:b.example')
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

async function rejection(fn: () => unknown): Promise<unknown> {
  try {
    await fn()
  } catch (err) {
    return err
  }
  throw new Error('expected an error')
}

describe('parseCsr', () => {
  it.each([
    ['P-256', { name: 'ECDSA', namedCurve: 'P-256' }],
    [
      'RSA',
      {
        name: 'RSASSA-PKCS1-v1_5',
        modulusLength: 2048,
        publicExponent: new Uint8Array([1, 0, 1]),
        hash: 'SHA-256',
      },
    ],
    ['Ed25519', { name: 'Ed25519' }],
  ])('%s: reads back what createCsr writes', async (_, params) => {
    const keys = (await crypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
    const der = await createCsr({
      keys,
      identifiers: [
        'Example.COM',
        '*.example.com',
        '192.0.2.1',
        '2001:DB8::0:1',
        { type: 'dns', value: 'b.test' },
      ],
    })
    const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey))
    for (const input of [der, csrToPem(der)]) {
      const parsed = parseCsr(input)
      expect(parsed).toEqual({
        identifiers: [
          { type: 'dns', value: 'example.com' },
          { type: 'dns', value: '*.example.com' },
          { type: 'ip', value: '192.0.2.1' },
          { type: 'ip', value: '2001:db8::1' },
          { type: 'dns', value: 'b.test' },
        ],
        commonName: 'example.com',
        subjectPublicKeyInfo: spki,
        der,
      })
    }
  })

  it('reads a request with an empty subject', async () => {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, [
      'sign',
      'verify',
    ])
    const parsed = parseCsr(
      await createCsr({ keys, identifiers: ['10.0.0.1', 'x.example'], commonName: false }),
    )
    expect(parsed.identifiers).toEqual([
      { type: 'ip', value: '10.0.0.1' },
      { type: 'dns', value: 'x.example' },
    ])
    expect('commonName' in parsed).toBe(false)
  })

  it('reads an openssl request: SANs in order, normalised and deduplicated, email left out', () => {
    const parsed = parseCsr(read('san.csr'))
    expect(parsed.identifiers).toEqual([
      { type: 'dns', value: 'a.example' },
      { type: 'dns', value: 'www.example.com' },
      { type: 'ip', value: '192.0.2.1' },
      { type: 'ip', value: '2001:db8::1' },
    ])
    expect(parsed.commonName).toBe('WWW.Example.com')
    expect(parsed.der).toEqual(decodePem(read('san.csr'), 'CERTIFICATE REQUEST').der)
    const spki = decodePem(openssl('req', '-in', 'san.csr', '-noout', '-pubkey'), 'PUBLIC KEY').der
    expect(parsed.subjectPublicKeyInfo).toEqual(spki)
  })

  it('counts a common name that is not among the SANs as an identifier (RFC 8555 §7.4)', () => {
    expect(parseCsr(read('cn-only.csr'))).toMatchObject({
      identifiers: [{ type: 'dns', value: 'only.example' }],
      commonName: 'Only.Example',
    })
    expect(parseCsr(read('ip-cn.csr')).identifiers).toEqual([
      { type: 'dns', value: 'b.example' },
      { type: 'ip', value: '2001:db8::2' },
    ])
  })

  it('finds the request among other PEM blocks and accepts the legacy label', () => {
    const der = decodePem(read('san.csr'), 'CERTIFICATE REQUEST').der
    expect(parseCsr(`${read('k.pem')}\n${read('san.csr')}`).der).toEqual(der)
    expect(parseCsr(encodePem('NEW CERTIFICATE REQUEST', der)).der).toEqual(der)
  })

  it('rejects what is not a certificate request', async () => {
    const der = decodePem(read('san.csr'), 'CERTIFICATE REQUEST').der
    const withTrailing = new Uint8Array(der.length + 1)
    withTrailing.set(der)
    for (const input of [
      'garbage',
      read('k.pem'),
      encodePem('CERTIFICATE REQUEST', Uint8Array.of(0x30, 0x03, 1, 2, 3)),
      Uint8Array.of(1, 2, 3),
      der.subarray(0, der.length - 10),
      withTrailing,
      new Uint8Array(),
      42 as unknown as Uint8Array,
    ]) {
      const err = await rejection(() => parseCsr(input))
      expect(err).toBeInstanceOf(InvalidArgumentError)
      expect((err as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
    }
    const err = await rejection(() => parseCsr(Uint8Array.of(0x30, 0x03, 1, 2, 3)))
    expect((err as Error).message).toMatch(/^not a DER PKCS#10 certificate request/)
  })
})

describe('verifyCsrSignature', () => {
  /** openssl's request for `name` with a new key made by `genpkey ...keyArgs`, signed with `reqArgs`. */
  const opensslRequest = (file: string, keyArgs: string[], ...reqArgs: string[]) => {
    openssl('genpkey', ...keyArgs, '-out', `${file}.key`)
    openssl(
      'req',
      '-config',
      'o.cnf',
      '-new',
      '-key',
      `${file}.key`,
      '-subj',
      '/CN=v.example',
      '-out',
      file,
      ...reqArgs,
    )
    return parseCsr(read(file))
  }

  it.each([
    ['P-256, SHA-256', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'], ['-sha256']],
    ['P-384, SHA-384', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384'], ['-sha384']],
    ['P-521, SHA-512', ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'], ['-sha512']],
    ['RSA 2048, SHA-256', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha256']],
    ['RSA 2048, SHA-384', ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'], ['-sha384']],
    ['Ed25519', ['-algorithm', 'ED25519'], []],
  ])(
    '%s: an openssl request verifies, and fails once a byte it signs is changed',
    async (label, keyArgs, reqArgs) => {
      const csr = opensslRequest(`v-${label.replace(/\W+/g, '-')}.csr`, keyArgs, ...reqArgs)
      expect(await verifyCsrSignature(csr)).toBe(true)
      // Given as a Node Buffer: a small one is a view into Node's shared 8 KiB pool, and still verifies.
      const pooled = Buffer.from(csr.der)
      expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength)
      expect(await verifyCsrSignature(parseCsr(pooled))).toBe(true)
      // Same length, still a well-formed request: v.example becomes w.example inside certificationRequestInfo.
      const der = csr.der.slice()
      const at = Buffer.from(der).indexOf('v.example')
      der[at] = 'w'.charCodeAt(0)
      const altered = parseCsr(der)
      expect(altered.identifiers).toEqual([{ type: 'dns', value: 'w.example' }])
      expect(await verifyCsrSignature(altered)).toBe(false)
    },
  )

  it('fails a request carrying another key than the one that signed it, and one whose ECDSA signature is no Ecdsa-Sig-Value', async () => {
    const signer = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])
    const other = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])
    const good = parseCsr(await createCsr({ keys: signer, identifiers: ['k.example'] }))
    expect(await verifyCsrSignature(good)).toBe(true)
    const otherSpki = new Uint8Array(await crypto.subtle.exportKey('spki', other.publicKey))
    expect(await verifyCsrSignature({ ...good, subjectPublicKeyInfo: otherSpki })).toBe(false)
    // The signature BIT STRING ends the request: its bits (after the unused-bits octet) become zeros.
    const der = good.der.slice()
    const signature = readChildren(readDer(der, DerTag.SEQUENCE).value)[2]!
    der.fill(0, der.length - signature.value.length + 1)
    expect(await verifyCsrSignature(parseCsr(der))).toBe(false)
  })

  it('leaves to the CA what WebCrypto cannot check: RSASSA-PSS and SHA-1', async () => {
    const rsa = ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
    const pss = opensslRequest('pss.csr', rsa, '-sha256', '-sigopt', 'rsa_padding_mode:pss')
    expect(await verifyCsrSignature(pss)).toBeUndefined()
    const sha1 = opensslRequest('sha1.csr', rsa, '-sha1')
    expect(await verifyCsrSignature(sha1)).toBeUndefined()
  })
})
