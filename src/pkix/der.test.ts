import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemBinary } from '../../test/harness/system.ts'
import { InvalidArgumentError } from '../errors.ts'
import { toArrayBuffer, toHex } from '../lib/bytes.ts'
import {
  DerTag,
  decodeOid,
  derBitString,
  derContext,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  ecdsaDerToRaw,
  ecdsaRawToDer,
  encodeTlv,
  integerMagnitude,
  readChildren,
  readDer,
  readTlv,
} from './der.ts'
import { encodePem } from './pem.ts'

const hex = (text: string) =>
  Uint8Array.from(text.replace(/\s/g, '').match(/../g) ?? [], (h) => Number.parseInt(h, 16))

function expectInvalid(fn: () => unknown, message: RegExp) {
  expect(fn).toThrow(InvalidArgumentError)
  try {
    fn()
  } catch (err) {
    expect((err as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
    expect((err as Error).message).toMatch(message)
  }
}

describe('TLV reading and writing', () => {
  it('encodes short and long lengths minimally', () => {
    expect(toHex(encodeTlv(0x04, new Uint8Array(3)))).toBe('0403000000')
    expect(toHex(encodeTlv(0x04, new Uint8Array(127)).subarray(0, 2))).toBe('047f')
    expect(toHex(encodeTlv(0x04, new Uint8Array(128)).subarray(0, 3))).toBe('048180')
    expect(toHex(encodeTlv(0x04, new Uint8Array(256)).subarray(0, 4))).toBe('04820100')
    expect(toHex(encodeTlv(0x04, new Uint8Array(70000)).subarray(0, 5))).toBe('0483011170')
  })

  it('reads back what it writes', () => {
    for (const n of [0, 1, 127, 128, 255, 256, 70000]) {
      const content = Uint8Array.from({ length: n }, (_, i) => i & 0xff)
      const tlv = readTlv(encodeTlv(0x30, content))
      expect(tlv.tag).toBe(0x30)
      expect(tlv.value).toEqual(content)
      expect(tlv.end).toBe(tlv.raw.length)
    }
  })

  it('reads children and offsets', () => {
    const seq = derSequence(derInteger(5), derNull(), derOctetString(hex('aabb')))
    const children = readChildren(readDer(seq, DerTag.SEQUENCE).value)
    expect(children.map((c) => c.tag)).toEqual([DerTag.INTEGER, DerTag.NULL, DerTag.OCTET_STRING])
    expect(toHex(children[2]!.raw)).toBe('0402aabb')
  })

  it('writes BIT STRING, NULL and context tags', () => {
    expect(toHex(derBitString(hex('0102')))).toBe('0303000102')
    expect(toHex(derNull())).toBe('0500')
    expect(toHex(derContext(0, derNull()))).toBe('a0020500')
    expect(toHex(derContext(1, hex('ff'), false))).toBe('8101ff')
    expect(() => derContext(31, hex('ff'))).toThrow(InvalidArgumentError)
  })

  it('rejects malformed input', () => {
    expectInvalid(() => readTlv(hex('30')), /truncated/)
    expectInvalid(() => readTlv(hex('3080')), /indefinite/)
    expectInvalid(() => readTlv(hex('3085ffffffffff')), /too large/)
    expectInvalid(() => readTlv(hex('300301')), /longer than its input/)
    expectInvalid(() => readTlv(hex('1f0100')), /high tag/)
    expectInvalid(() => readTlv(hex('3082')), /truncated length/)
    expectInvalid(() => readDer(hex('0500'), DerTag.SEQUENCE), /expected tag 0x30, found 0x05/)
    expectInvalid(() => readDer(hex('050000'), DerTag.NULL), /trailing bytes/)
  })
})

describe('INTEGER', () => {
  it.each([
    [0, '020100'],
    [1, '020101'],
    [127, '02017f'],
    [128, '02020080'],
    [255, '020200ff'],
    [256, '02020100'],
    [65537, '0203010001'],
  ])('encodes %i', (n, expected) => {
    expect(toHex(derInteger(n))).toBe(expected)
  })

  it('drops leading zeros of magnitudes and adds one for a high bit', () => {
    expect(toHex(derInteger(hex('00000001')))).toBe('020101')
    expect(toHex(derInteger(hex('0080')))).toBe('02020080')
    expect(toHex(derInteger(hex('8000')))).toBe('0203008000')
    expect(toHex(derInteger(hex('0000')))).toBe('020100')
    expect(toHex(derInteger(new Uint8Array()))).toBe('020100')
  })

  it('rejects negative and unsafe numbers', () => {
    expect(() => derInteger(-1)).toThrow(InvalidArgumentError)
    expect(() => derInteger(2 ** 53)).toThrow(InvalidArgumentError)
  })

  it('reads magnitudes', () => {
    expect(toHex(integerMagnitude(hex('0080')))).toBe('80')
    expect(toHex(integerMagnitude(hex('00')))).toBe('00')
    expectInvalid(() => integerMagnitude(hex('80')), /negative/)
    expectInvalid(() => integerMagnitude(new Uint8Array()), /empty/)
  })
})

describe('OBJECT IDENTIFIER', () => {
  it.each([
    ['1.2.840.113549.1.1.1', '06092a864886f70d010101'],
    ['1.2.840.10045.3.1.7', '06082a8648ce3d030107'],
    ['1.3.132.0.35', '06052b81040023'],
    ['1.3.101.112', '06032b6570'],
    ['2.999.3', '0603883703'],
    ['0.9.2342.19200300.100.1.25', '060a0992268993f22c640119'],
  ])('%s', (dotted, encoded) => {
    expect(toHex(derOid(dotted))).toBe(encoded)
    expect(decodeOid(readTlv(hex(encoded)).value)).toBe(dotted)
  })

  it('rejects invalid OIDs', () => {
    for (const bad of ['', '1', '3.1', '1.40', '1.2.x', '1..2'])
      expect(() => derOid(bad)).toThrow(InvalidArgumentError)
    expectInvalid(() => decodeOid(hex('2a86')), /truncated/)
    expectInvalid(() => decodeOid(hex('2a8001')), /not minimal/)
    expectInvalid(() => decodeOid(new Uint8Array()), /empty/)
  })
})

describe('ECDSA signature conversion (RFC 3279 §2.2.3)', () => {
  it('encodes r and s minimally, adding 0x00 for a high bit', () => {
    const raw = new Uint8Array(64)
    raw[0] = 0x80 // r = 0x80 << 248: needs a leading 0x00
    raw[63] = 0x01 // s = 1: 31 leading zero octets dropped
    const der = ecdsaRawToDer(raw)
    expect(toHex(der)).toBe(`3026022100${'80'}${'00'.repeat(31)}020101`)
    expect(ecdsaDerToRaw(der, 32)).toEqual(raw)
  })

  it('handles a value of zero and P-521 sizes', () => {
    const raw = new Uint8Array(132)
    raw[0] = 0x80
    raw[66] = 0x80
    const der = ecdsaRawToDer(raw)
    // Two 69-octet INTEGERs (0x00 sign octet + 66) make 138 content octets: a long-form length.
    expect(toHex(der.subarray(0, 7))).toBe('30818a02430080')
    expect(ecdsaDerToRaw(der, 66)).toEqual(raw)
    expect(toHex(ecdsaRawToDer(new Uint8Array(4)))).toBe('3006020100020100')
  })

  it('accepts non-minimal input integers but rejects oversize and malformed ones', () => {
    expect(toHex(ecdsaDerToRaw(hex('3008 0202 0001 0202 0002'), 2))).toBe('00010002')
    expectInvalid(() => ecdsaDerToRaw(hex('3008 0203 010000 020101'), 2), /larger than the curve/)
    expectInvalid(() => ecdsaDerToRaw(hex('3006 020101 040101'), 2), /two INTEGERs/)
    expectInvalid(() => ecdsaDerToRaw(hex('3003 020101'), 2), /two INTEGERs/)
    expectInvalid(() => ecdsaDerToRaw(hex('3006 020181 020101'), 2), /negative/)
    expectInvalid(() => ecdsaDerToRaw(hex('3006 020101 020101 00'), 2), /trailing/)
    expectInvalid(() => ecdsaRawToDer(new Uint8Array(3)), /equal, non-zero/)
    expectInvalid(() => ecdsaRawToDer(new Uint8Array()), /equal, non-zero/)
    expectInvalid(() => ecdsaDerToRaw(hex('3006020101020101'), 0), /coordinateLength/)
  })

  describe('against openssl', () => {
    let dir = ''
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'webacme-der-'))
    })
    afterAll(() => rmSync(dir, { recursive: true, force: true }))

    it.each([
      ['P-256', 'SHA-256', 32, 'sha256'],
      ['P-384', 'SHA-384', 48, 'sha384'],
      ['P-521', 'SHA-512', 66, 'sha512'],
    ] as const)(
      '%s: WebCrypto → DER verifies in openssl, openssl DER → raw verifies in WebCrypto',
      async (curve, hash, size, digest) => {
        const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, [
          'sign',
          'verify',
        ])
        const data = new TextEncoder().encode('webacme ecdsa conversion')
        writeFileSync(join(dir, 'data'), data)
        const spki = new Uint8Array(await crypto.subtle.exportKey('spki', keys.publicKey))
        writeFileSync(join(dir, `${curve}.pub`), encodePem('PUBLIC KEY', spki))
        const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', keys.privateKey))
        writeFileSync(join(dir, `${curve}.key`), encodePem('PRIVATE KEY', pkcs8))

        // Many signatures so that r or s with a high bit or a short value both occur.
        for (let i = 0; i < 8; i++) {
          const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash }, keys.privateKey, data))
          expect(raw).toHaveLength(2 * size)
          writeFileSync(join(dir, 'sig.der'), ecdsaRawToDer(raw))
          const out = execFileSync(
            systemBinary('openssl'),
            ['dgst', `-${digest}`, '-verify', `${curve}.pub`, '-signature', 'sig.der', 'data'],
            {
              cwd: dir,
              encoding: 'utf8',
            },
          )
          expect(out).toMatch(/Verified OK/)

          const der = execFileSync(
            systemBinary('openssl'),
            ['dgst', `-${digest}`, '-sign', `${curve}.key`, 'data'],
            {
              cwd: dir,
            },
          )
          const converted = ecdsaDerToRaw(new Uint8Array(der), size)
          expect(ecdsaRawToDer(converted)).toEqual(new Uint8Array(der))
          const ok = await crypto.subtle.verify(
            { name: 'ECDSA', hash },
            keys.publicKey,
            toArrayBuffer(converted),
            data,
          )
          expect(ok).toBe(true)
        }
      },
    )
  })
})
