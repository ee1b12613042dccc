import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { systemBinary } from '../../test/harness/system.ts'
import { InvalidArgumentError, UnsupportedError } from '../errors.ts'
import {
  DerTag,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  ecdsaRawToDer,
  readChildren,
  readDer,
} from './der.ts'
import { decodePem, encodePem } from './pem.ts'
import {
  derivePublicKey,
  exportPrivateKeyPem,
  exportPublicKeyPem,
  importPrivateKeyPem,
  importPublicKeyPem,
} from './private-key.ts'

let dir = ''
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webacme-key-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const openssl = (...args: string[]) =>
  execFileSync(systemBinary('openssl'), args, { cwd: dir, encoding: 'utf8' })
const write = (name: string, content: string | Uint8Array) => {
  writeFileSync(join(dir, name), content)
  return name
}
const data = new TextEncoder().encode('signed by webacme')

async function expectRejects(
  promise: Promise<unknown>,
  type: typeof InvalidArgumentError | typeof UnsupportedError,
  message: RegExp,
) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(type)
  expect((err as { code: string }).code).toBe(
    type === InvalidArgumentError ? 'ERR_INVALID_ARGUMENT' : 'ERR_UNSUPPORTED',
  )
  expect((err as Error).message).toMatch(message)
}

/** Signs with our key and verifies with openssl using the public key we exported. */
async function expectOpensslVerifies(keys: CryptoKeyPair, kind: 'rsa' | 'ec' | 'ed25519', hash = 'SHA-256') {
  write('ours.pub', await exportPublicKeyPem(keys.publicKey))
  write('data', data)
  if (kind === 'ed25519') {
    write('sig', new Uint8Array(await crypto.subtle.sign('Ed25519', keys.privateKey, data)))
    expect(
      openssl(
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        'ours.pub',
        '-rawin',
        '-in',
        'data',
        '-sigfile',
        'sig',
      ),
    ).toMatch(/Signature Verified Successfully/)
    return
  }
  const algorithm = kind === 'rsa' ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash }
  const signature = new Uint8Array(await crypto.subtle.sign(algorithm, keys.privateKey, data))
  write('sig', kind === 'ec' ? ecdsaRawToDer(signature) : signature)
  const digest = `-${hash.replace('-', '').toLowerCase()}`
  expect(openssl('dgst', digest, '-verify', 'ours.pub', '-signature', 'sig', 'data')).toMatch(/Verified OK/)
}

const cases = [
  {
    name: 'RSA PKCS#8',
    kind: 'rsa',
    label: 'PRIVATE KEY',
    gen: ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'],
  },
  { name: 'RSA PKCS#1', kind: 'rsa', label: 'RSA PRIVATE KEY', gen: ['genrsa', '-traditional', '2048'] },
  {
    name: 'P-256 SEC1',
    kind: 'ec',
    curve: 'P-256',
    hash: 'SHA-256',
    label: 'EC PRIVATE KEY',
    gen: ['ecparam', '-genkey', '-name', 'prime256v1'],
  },
  {
    name: 'P-384 SEC1',
    kind: 'ec',
    curve: 'P-384',
    hash: 'SHA-384',
    label: 'EC PRIVATE KEY',
    gen: ['ecparam', '-genkey', '-name', 'secp384r1'],
  },
  {
    name: 'P-521 SEC1',
    kind: 'ec',
    curve: 'P-521',
    hash: 'SHA-512',
    label: 'EC PRIVATE KEY',
    gen: ['ecparam', '-genkey', '-name', 'secp521r1', '-noout'],
  },
  {
    name: 'P-256 PKCS#8',
    kind: 'ec',
    curve: 'P-256',
    hash: 'SHA-256',
    label: 'PRIVATE KEY',
    gen: ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'],
  },
  {
    name: 'P-521 PKCS#8',
    kind: 'ec',
    curve: 'P-521',
    hash: 'SHA-512',
    label: 'PRIVATE KEY',
    gen: ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521'],
  },
  {
    name: 'Ed25519 PKCS#8',
    kind: 'ed25519',
    label: 'PRIVATE KEY',
    gen: ['genpkey', '-algorithm', 'ED25519'],
  },
] as const

describe.each(cases)('$name from openssl', (c) => {
  let pem = ''
  let keys: CryptoKeyPair
  const file = `${c.name.replace(/\W/g, '_')}.pem`

  beforeAll(async () => {
    pem = openssl(...c.gen)
    write(file, pem)
    expect(pem).toContain(`-----BEGIN ${c.label}-----`)
    keys = await importPrivateKeyPem(pem)
  })

  it('imports a usable key pair with the right algorithm', async () => {
    expect(keys.privateKey.type).toBe('private')
    expect(keys.publicKey.type).toBe('public')
    expect(keys.privateKey.extractable).toBe(true)
    expect(keys.privateKey.usages).toEqual(['sign'])
    expect(keys.publicKey.usages).toEqual(['verify'])
    const algorithm = keys.privateKey.algorithm as KeyAlgorithm & {
      namedCurve?: string
      hash?: { name: string }
    }
    if (c.kind === 'rsa') {
      expect(algorithm.name).toBe('RSASSA-PKCS1-v1_5')
      expect(algorithm.hash?.name).toBe('SHA-256')
    } else if (c.kind === 'ec') {
      expect(algorithm).toMatchObject({ name: 'ECDSA', namedCurve: c.curve })
    } else {
      expect(algorithm.name).toBe('Ed25519')
    }
    expect(keys.publicKey.algorithm).toEqual(keys.privateKey.algorithm)
    await expectOpensslVerifies(keys, c.kind, 'hash' in c ? c.hash : 'SHA-256')
  })

  it('exports the same public key as openssl', async () => {
    const expected = openssl('pkey', '-in', file, '-pubout')
    expect(await exportPublicKeyPem(keys.publicKey)).toBe(expected)
    expect(await exportPublicKeyPem(keys.privateKey)).toBe(expected)
    const imported = await importPublicKeyPem(expected)
    expect(await exportPublicKeyPem(imported)).toBe(expected)
  })

  it('exports PKCS#8 that openssl reads and that imports back', async () => {
    const exported = await exportPrivateKeyPem(keys.privateKey)
    expect(exported).toMatch(/^-----BEGIN PRIVATE KEY-----\n/)
    write('out.pem', exported)
    expect(openssl('pkey', '-in', 'out.pem', '-pubout')).toBe(openssl('pkey', '-in', file, '-pubout'))
    const again = await importPrivateKeyPem(exported)
    expect(await exportPrivateKeyPem(again.privateKey)).toBe(exported)
  })

  if (c.kind === 'rsa') {
    it('exports PKCS#1 identical to openssl -traditional', async () => {
      const exported = await exportPrivateKeyPem(keys.privateKey, 'pkcs1')
      write('out.pem', exported)
      expect(openssl('rsa', '-in', 'out.pem', '-check', '-noout')).toMatch(/RSA key ok/)
      expect(exported).toBe(openssl('rsa', '-in', file, '-traditional'))
      const again = await importPrivateKeyPem(exported)
      expect(await exportPrivateKeyPem(again.privateKey)).toBe(await exportPrivateKeyPem(keys.privateKey))
    })
  }

  if (c.kind === 'ec') {
    it('exports SEC1 identical to openssl ec, with curve and public key', async () => {
      const exported = await exportPrivateKeyPem(keys.privateKey, 'sec1')
      write('out.pem', exported)
      execFileSync(systemBinary('openssl'), ['ec', '-in', 'out.pem', '-check', '-noout'], {
        cwd: dir,
        stdio: 'pipe',
      })
      expect(exported).toBe(openssl('ec', '-in', file))
      const fields = readChildren(readDer(decodePem(exported, 'EC PRIVATE KEY').der, DerTag.SEQUENCE).value)
      expect(fields.map((f) => f.tag)).toEqual([DerTag.INTEGER, DerTag.OCTET_STRING, 0xa0, 0xa1])
      const again = await importPrivateKeyPem(exported)
      expect(await exportPrivateKeyPem(again.privateKey)).toBe(await exportPrivateKeyPem(keys.privateKey))
    })
  }

  it('refuses formats that do not fit the key', async () => {
    if (c.kind !== 'rsa') {
      await expectRejects(
        exportPrivateKeyPem(keys.privateKey, 'pkcs1'),
        InvalidArgumentError,
        /pkcs1 export is for RSA/,
      )
    }
    if (c.kind !== 'ec') {
      await expectRejects(
        exportPrivateKeyPem(keys.privateKey, 'sec1'),
        InvalidArgumentError,
        /sec1 export is for EC/,
      )
    }
  })

  it('honours extractable: false while still returning the public key', async () => {
    const locked = await importPrivateKeyPem(pem, { extractable: false })
    expect(locked.privateKey.extractable).toBe(false)
    expect(await exportPublicKeyPem(locked.publicKey)).toBe(await exportPublicKeyPem(keys.publicKey))
    await expectOpensslVerifies(locked, c.kind, 'hash' in c ? c.hash : 'SHA-256')
    await expectRejects(exportPrivateKeyPem(locked.privateKey), InvalidArgumentError, /not extractable/)
    await expectRejects(derivePublicKey(locked.privateKey), InvalidArgumentError, /not extractable/)
  })
})

describe('importPrivateKeyPem options and key sources', () => {
  it('binds the requested RSA hash', async () => {
    const pem = openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048')
    const keys = await importPrivateKeyPem(pem, { hash: 'SHA-384' })
    expect((keys.privateKey.algorithm as RsaHashedKeyAlgorithm).hash.name).toBe('SHA-384')
    expect((keys.publicKey.algorithm as RsaHashedKeyAlgorithm).hash.name).toBe('SHA-384')
    await expectOpensslVerifies(keys, 'rsa', 'SHA-384')
  })

  it('round trips keys generated by WebCrypto through every format', async () => {
    const generated = [
      await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']),
      await crypto.subtle.generateKey(
        {
          name: 'RSASSA-PKCS1-v1_5',
          modulusLength: 2048,
          publicExponent: new Uint8Array([1, 0, 1]),
          hash: 'SHA-256',
        },
        true,
        ['sign', 'verify'],
      ),
      (await crypto.subtle.generateKey('Ed25519', true, ['sign', 'verify'])) as CryptoKeyPair,
    ]
    for (const pair of generated) {
      const formats =
        pair.privateKey.algorithm.name === 'ECDSA'
          ? ['pkcs8', 'sec1']
          : pair.privateKey.algorithm.name === 'Ed25519'
            ? ['pkcs8']
            : ['pkcs8', 'pkcs1']
      for (const format of formats as Array<'pkcs8' | 'pkcs1' | 'sec1'>) {
        const imported = await importPrivateKeyPem(await exportPrivateKeyPem(pair.privateKey, format))
        expect(await exportPrivateKeyPem(imported.privateKey)).toBe(
          await exportPrivateKeyPem(pair.privateKey),
        )
        expect(await exportPublicKeyPem(imported.publicKey)).toBe(await exportPublicKeyPem(pair.publicKey))
      }
    }
  })

  it('imports an "RSA PUBLIC KEY" (PKCS#1)', async () => {
    write('rsa.pem', openssl('genrsa', '2048'))
    const rsaPublic = openssl('rsa', '-in', 'rsa.pem', '-RSAPublicKey_out')
    expect(rsaPublic).toContain('-----BEGIN RSA PUBLIC KEY-----')
    const key = await importPublicKeyPem(rsaPublic, { hash: 'SHA-512' })
    expect(key.algorithm).toMatchObject({ name: 'RSASSA-PKCS1-v1_5', hash: { name: 'SHA-512' } })
    expect(await exportPublicKeyPem(key)).toBe(openssl('pkey', '-in', 'rsa.pem', '-pubout'))
  })

  it('derivePublicKey returns a public key unchanged', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])
    expect(await derivePublicKey(pair.publicKey)).toBe(pair.publicKey)
  })
})

describe('errors', () => {
  it('garbage and wrong labels', async () => {
    await expectRejects(importPrivateKeyPem('not a key'), InvalidArgumentError, /no PEM block/)
    await expectRejects(
      importPrivateKeyPem(encodePem('CERTIFICATE', new Uint8Array([1, 2]))),
      InvalidArgumentError,
      /expected a PEM "PRIVATE KEY" or "RSA PRIVATE KEY" or "EC PRIVATE KEY" block, found: CERTIFICATE/,
    )
    await expectRejects(
      importPrivateKeyPem(encodePem('PRIVATE KEY', new Uint8Array([1, 2, 3]))),
      InvalidArgumentError,
      /malformed DER/,
    )
    await expectRejects(
      importPrivateKeyPem(encodePem('PRIVATE KEY', derSequence())),
      InvalidArgumentError,
      /malformed PKCS#8/,
    )
    await expectRejects(
      importPublicKeyPem(encodePem('PRIVATE KEY', derSequence())),
      InvalidArgumentError,
      /expected a PEM "PUBLIC KEY"/,
    )
    await expectRejects(
      exportPrivateKeyPem({} as CryptoKey),
      InvalidArgumentError,
      /needs a private CryptoKey/,
    )
  })

  it('a PKCS#8 whose inner key WebCrypto refuses', async () => {
    // A well-formed PrivateKeyInfo for P-256 whose privateKey OCTET STRING is not an ECPrivateKey.
    const pkcs8 = derSequence(
      derInteger(0),
      derSequence(derOid('1.2.840.10045.2.1'), derOid('1.2.840.10045.3.1.7')),
      derOctetString(new Uint8Array([1, 2, 3])),
    )
    await expectRejects(
      importPrivateKeyPem(encodePem('PRIVATE KEY', pkcs8)),
      InvalidArgumentError,
      /could not import the ECDSA key/,
    )
  })

  it('SEC1 without curve parameters', async () => {
    const sec1 = decodePem(
      openssl('ecparam', '-genkey', '-name', 'prime256v1', '-noout'),
      'EC PRIVATE KEY',
    ).der
    const fields = readChildren(readDer(sec1, DerTag.SEQUENCE).value).filter((f) => f.tag !== 0xa0)
    const withoutCurve = encodePem('EC PRIVATE KEY', derSequence(...fields.map((f) => f.raw)))
    await expectRejects(importPrivateKeyPem(withoutCurve), InvalidArgumentError, /no curve parameters/)
  })

  it('explicit curve parameters, X25519, Ed448', async () => {
    const explicit = openssl('ecparam', '-genkey', '-name', 'prime256v1', '-noout', '-param_enc', 'explicit')
    await expectRejects(importPrivateKeyPem(explicit), UnsupportedError, /explicit curve parameters/)
    write('explicit.pem', explicit)
    await expectRejects(
      importPrivateKeyPem(openssl('pkey', '-in', 'explicit.pem')),
      UnsupportedError,
      /explicit curve parameters/,
    )
    await expectRejects(
      importPrivateKeyPem(openssl('genpkey', '-algorithm', 'X25519')),
      UnsupportedError,
      /X25519/,
    )
    await expectRejects(
      importPrivateKeyPem(openssl('genpkey', '-algorithm', 'ED448')),
      UnsupportedError,
      /Ed448/,
    )
    await expectRejects(
      importPrivateKeyPem(openssl('ecparam', '-genkey', '-name', 'secp256k1', '-noout')),
      UnsupportedError,
      /1\.3\.132\.0\.10/,
    )
  })

  it('encrypted keys', async () => {
    write('plain.pem', openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'))
    const pkcs8 = openssl('pkey', '-in', 'plain.pem', '-aes128', '-passout', 'pass:x')
    await expectRejects(
      importPrivateKeyPem(pkcs8),
      InvalidArgumentError,
      /encrypted PKCS#8 keys are not supported/,
    )
    const legacy = openssl('ec', '-in', 'plain.pem', '-aes128', '-passout', 'pass:x')
    await expectRejects(importPrivateKeyPem(legacy), InvalidArgumentError, /legacy encrypted PEM/)
  })

  it('reports a runtime without Ed25519 as UnsupportedError', async () => {
    const spy = vi
      .spyOn(crypto.subtle, 'importKey')
      .mockRejectedValueOnce(new DOMException('Unrecognized algorithm name', 'NotSupportedError'))
    try {
      await expectRejects(
        importPrivateKeyPem(openssl('genpkey', '-algorithm', 'ED25519')),
        UnsupportedError,
        /does not support Ed25519/,
      )
    } finally {
      spy.mockRestore()
    }
  })

  it('rejects unknown export formats', async () => {
    const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])
    await expectRejects(
      exportPrivateKeyPem(pair.privateKey, 'der' as 'pkcs8'),
      InvalidArgumentError,
      /unknown private key format/,
    )
    await expectRejects(
      exportPrivateKeyPem(pair.publicKey),
      InvalidArgumentError,
      /needs a private CryptoKey/,
    )
  })
})
