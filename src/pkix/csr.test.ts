import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import { generateKeyPair, isGeneratedPair } from '../jose/algorithms.ts'
import { toHex } from '../lib/bytes.ts'
import { type CsrIdentifier, createCsr, csrToPem } from './csr.ts'
import { parseCsr } from './csr-parse.ts'
import { DerTag, decodeOid, readChildren, readDer } from './der.ts'

let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webacme-csr-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** Runs openssl on a CSR and returns stdout + stderr (req -verify reports on stderr). */
function opensslReq(der: Uint8Array, ...args: string[]): string {
  writeFileSync(join(dir, 'req.pem'), csrToPem(der))
  const result = spawnSync('openssl', ['req', '-in', 'req.pem', ...args], { cwd: dir, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`openssl req failed: ${result.stderr}`)
  return result.stdout + result.stderr
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (err: unknown) => err,
  )
}

/** signatureAlgorithm of a CSR: OID and the raw parameters element, if any. */
function signatureAlgorithmOf(der: Uint8Array): { oid: string; parameters: string | undefined } {
  const [, algorithm] = readChildren(readDer(der, DerTag.SEQUENCE).value)
  const [oid, parameters] = readChildren(algorithm!.value)
  return { oid: decodeOid(oid!.value), parameters: parameters && toHex(parameters.raw) }
}

const identifiers: CsrIdentifier[] = [
  { type: 'dns', value: 'Example.COM' },
  { type: 'dns', value: '*.example.com' },
  { type: 'ip', value: '192.0.2.1' },
  { type: 'ip', value: '2001:DB8::0:1' },
  { type: 'ip', value: '::ffff:198.51.100.7' },
]

const keyTypes = [
  {
    name: 'ES256',
    params: { name: 'ECDSA', namedCurve: 'P-256' },
    text: 'ecdsa-with-SHA256',
    oid: '1.2.840.10045.4.3.2',
    parameters: undefined,
  },
  {
    name: 'ES384',
    params: { name: 'ECDSA', namedCurve: 'P-384' },
    text: 'ecdsa-with-SHA384',
    oid: '1.2.840.10045.4.3.3',
    parameters: undefined,
  },
  {
    name: 'ES512',
    params: { name: 'ECDSA', namedCurve: 'P-521' },
    text: 'ecdsa-with-SHA512',
    oid: '1.2.840.10045.4.3.4',
    parameters: undefined,
  },
  {
    name: 'RS256',
    params: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    text: 'sha256WithRSAEncryption',
    oid: '1.2.840.113549.1.1.11',
    parameters: '0500',
  },
  {
    name: 'RS512',
    params: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-512',
    },
    text: 'sha512WithRSAEncryption',
    oid: '1.2.840.113549.1.1.13',
    parameters: '0500',
  },
  {
    name: 'Ed25519',
    params: { name: 'Ed25519' },
    text: 'ED25519',
    oid: '1.3.101.112',
    parameters: undefined,
  },
] as const

describe.each(keyTypes)('createCsr with $name', (keyType) => {
  let keys: CryptoKeyPair
  beforeAll(async () => {
    keys = (await crypto.subtle.generateKey(keyType.params, true, ['sign', 'verify'])) as CryptoKeyPair
  })

  it('is accepted by openssl req -verify, with the SANs and CN read back', async () => {
    const der = await createCsr({ keys, identifiers })
    expect(opensslReq(der, '-verify', '-noout')).toMatch(/verify OK/)
    const text = opensslReq(der, '-noout', '-text')
    expect(text).toMatch(/Subject: CN ?= ?example\.com\n/)
    expect(text).toContain(`Signature Algorithm: ${keyType.text}`)
    expect(text).toContain('Requested Extensions:')
    const san = /X509v3 Subject Alternative Name: ?(critical)?\s*\n\s*(.+)\n/.exec(text)
    expect(san?.[1]).toBeUndefined() // a CN is present, so the extension need not be critical
    expect(san?.[2]?.split(', ')).toEqual([
      'DNS:example.com',
      'DNS:*.example.com',
      'IP Address:192.0.2.1',
      'IP Address:2001:DB8:0:0:0:0:0:1',
      'IP Address:0:0:0:0:0:FFFF:C633:6407',
    ])
    expect(signatureAlgorithmOf(der)).toEqual({ oid: keyType.oid, parameters: keyType.parameters })
  })

  it('leaves the subject empty with commonName: false and marks the SAN critical', async () => {
    const der = await createCsr({
      keys,
      identifiers: [{ type: 'dns', value: 'a.example' }],
      commonName: false,
    })
    expect(opensslReq(der, '-verify', '-noout')).toMatch(/verify OK/)
    const text = opensslReq(der, '-noout', '-text')
    expect(text).toMatch(/Subject: ?\n/)
    expect(text).toMatch(/X509v3 Subject Alternative Name: critical\s*\n\s*DNS:a\.example\n/)
  })
})

describe('createCsr subject and identifiers', () => {
  let keys: CryptoKeyPair
  beforeAll(async () => {
    keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  })

  it('omits the CN when there is no DNS identifier or the first one is longer than 64', async () => {
    const ipOnly = opensslReq(
      await createCsr({ keys, identifiers: [{ type: 'ip', value: '10.0.0.1' }] }),
      '-noout',
      '-subject',
    )
    expect(ipOnly.trim()).toMatch(/^subject=\s*$/)
    const long = `${'a'.repeat(60)}.example.com`
    const text = opensslReq(
      await createCsr({
        keys,
        identifiers: [
          { type: 'dns', value: long },
          { type: 'dns', value: 'short.example' },
        ],
      }),
      '-noout',
      '-text',
    )
    expect(text).toMatch(/Subject: ?\n/)
    expect(text).toContain(`DNS:${long}, DNS:short.example`)
  })

  it('uses an explicit commonName that is one of the identifiers', async () => {
    const der = await createCsr({ keys, identifiers, commonName: '*.EXAMPLE.com' })
    expect(opensslReq(der, '-noout', '-subject')).toMatch(/CN ?= ?\*\.example\.com/)
    const ip = await createCsr({ keys, identifiers, commonName: '2001:db8:0::1' })
    expect(opensslReq(ip, '-noout', '-subject')).toMatch(/CN ?= ?2001:db8::1/)
  })

  it('removes duplicate identifiers after normalisation', async () => {
    const der = await createCsr({
      keys,
      identifiers: [
        { type: 'dns', value: 'A.example' },
        { type: 'dns', value: 'a.example' },
        { type: 'ip', value: '::1' },
        { type: 'ip', value: '0:0:0:0:0:0:0:1' },
      ],
    })
    expect(opensslReq(der, '-noout', '-text')).toContain('DNS:a.example, IP Address:0:0:0:0:0:0:0:1\n')
  })

  it('rejects a commonName that is not an identifier or too long', async () => {
    const err = await rejection(createCsr({ keys, identifiers, commonName: 'other.example' }))
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as Error).message).toMatch(/not one of the identifiers/)
    const long = `${'a'.repeat(60)}.example.com`
    const tooLong = await rejection(
      createCsr({ keys, identifiers: [{ type: 'dns', value: long }], commonName: long }),
    )
    expect((tooLong as Error).message).toMatch(/longer than 64/)
  })

  it('rejects missing identifiers, bad keys and mismatched pairs', async () => {
    const noIds = await rejection(createCsr({ keys, identifiers: [] }))
    expect(noIds).toBeInstanceOf(InvalidArgumentError)
    const noKeys = await rejection(createCsr({ keys: {} as CryptoKeyPair, identifiers }))
    expect((noKeys as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
    const other = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])
    const mismatch = await rejection(
      createCsr({ keys: { privateKey: keys.privateKey, publicKey: other.publicKey }, identifiers }),
    )
    expect(mismatch).toBeInstanceOf(InvalidArgumentError)
    expect((mismatch as Error).message).toMatch(/does not belong/)
    const badId = await rejection(
      createCsr({ keys, identifiers: [{ type: 'dns', value: 'bad_name.example' }] }),
    )
    expect(badId).toBeInstanceOf(InvalidArgumentError)
  })

  it('still refuses a mismatched pair whose private key generateKeyPair made (it skips the check only for its own pairs)', async () => {
    const generated = await generateKeyPair('ES256')
    const other = await generateKeyPair('ES256')
    expect(isGeneratedPair(generated)).toBe(true)
    expect(isGeneratedPair({ privateKey: generated.privateKey, publicKey: other.publicKey })).toBe(false)
    const csr = await createCsr({ keys: generated, identifiers })
    expect(parseCsr(csr).identifiers).toHaveLength(identifiers.length)
    const mismatch = await rejection(
      createCsr({ keys: { privateKey: generated.privateKey, publicKey: other.publicKey }, identifiers }),
    )
    expect((mismatch as Error).message).toMatch(/does not belong/)
  })

  it('rejects key algorithms it cannot sign CSRs with', async () => {
    const pss = await crypto.subtle.generateKey(
      { name: 'RSA-PSS', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
      true,
      ['sign', 'verify'],
    )
    const err = await rejection(createCsr({ keys: pss, identifiers }))
    expect(err).toBeInstanceOf(UnsupportedError)
    expect((err as UnsupportedError).code).toBe('ERR_UNSUPPORTED')
  })
})
