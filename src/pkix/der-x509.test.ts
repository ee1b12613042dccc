/**
 * The DER pieces X.509 reading and writing are built from (./der.ts), and parseCertificate on hostile input:
 * whatever the bytes, it returns or throws InvalidArgumentError, never anything else.
 */
import { describe, expect, it } from 'vitest'
import { RFC9773_EXAMPLE } from '../../test/fixtures/certificates.ts'
import { InvalidArgumentError } from '../errors.ts'
import { toHex } from '../lib/bytes.ts'
import { parseCertificate } from './certificate.ts'
import {
  DerReader,
  DerTag,
  decodeBitString,
  decodeBoolean,
  decodeString,
  decodeTime,
  derBitString,
  derBoolean,
  derContext,
  derInteger,
  derNull,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derUtf8String,
  encodeTlv,
  readTlv,
} from './der.ts'
import { decodePem } from './pem.ts'

const hex = (text: string) =>
  Uint8Array.from(text.replace(/\s/g, '').match(/../g) ?? [], (h) => Number.parseInt(h, 16))
const ascii = (text: string) => new TextEncoder().encode(text)
const time = (tag: number, text: string) => decodeTime(readTlv(encodeTlv(tag, ascii(text))))

function expectInvalid(fn: () => unknown, message: RegExp) {
  let error: unknown
  try {
    fn()
  } catch (err) {
    error = err
  }
  expect(error).toBeInstanceOf(InvalidArgumentError)
  expect((error as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
  expect((error as Error).message).toMatch(message)
}

describe('times (RFC 5280 §4.1.2.5)', () => {
  it('reads UTCTime with the 1950-2049 window', () => {
    expect(time(DerTag.UTC_TIME, '491231235959Z').toISOString()).toBe('2049-12-31T23:59:59.000Z')
    expect(time(DerTag.UTC_TIME, '500101000000Z').toISOString()).toBe('1950-01-01T00:00:00.000Z')
    expect(time(DerTag.UTC_TIME, '000229120000Z').toISOString()).toBe('2000-02-29T12:00:00.000Z')
  })

  it('reads GeneralizedTime, including years before 100 and fractional seconds', () => {
    const first = time(DerTag.GENERALIZED_TIME, '00010101000000Z')
    expect(first.getUTCFullYear()).toBe(1)
    expect(first.toISOString()).toBe('0001-01-01T00:00:00.000Z')
    expect(time(DerTag.GENERALIZED_TIME, '99991231235959Z').toISOString()).toBe('9999-12-31T23:59:59.000Z')
    expect(time(DerTag.GENERALIZED_TIME, '20500101000000.5Z').toISOString()).toBe('2050-01-01T00:00:00.500Z')
    expect(time(DerTag.GENERALIZED_TIME, '20500101000000.123456Z').getUTCMilliseconds()).toBe(123)
  })

  it('rejects other forms and dates that do not exist', () => {
    for (const text of [
      '4912312359Z',
      '491231235959',
      '491231235959+0100',
      '4912312359590Z',
      '49123123595Z',
    ]) {
      expectInvalid(() => time(DerTag.UTC_TIME, text), /UTCTime must be/)
    }
    for (const text of ['2050010100000Z', '20500101000000', '20500101000000+0000', '20500101000000.Z']) {
      expectInvalid(() => time(DerTag.GENERALIZED_TIME, text), /GeneralizedTime must be/)
    }
    for (const text of [
      '491301000000Z',
      '490001000000Z',
      '490230000000Z',
      '490431000000Z',
      '490101240000Z',
    ]) {
      expectInvalid(() => time(DerTag.UTC_TIME, text), /does not exist/)
    }
    expectInvalid(() => time(DerTag.GENERALIZED_TIME, '21000229000000Z'), /does not exist/)
    expectInvalid(() => time(DerTag.UTC_TIME, '490101006000Z'), /does not exist/)
    expectInvalid(() => time(DerTag.UTC_TIME, '４90101000000Z'), /UTCTime must be/)
    expectInvalid(() => time(DerTag.OCTET_STRING, '490101000000Z'), /expected UTCTime or GeneralizedTime/)
  })

  it('writes UTCTime through 2049 and GeneralizedTime outside, to the second', () => {
    expect(new TextDecoder().decode(derTime(new Date('2049-12-31T23:59:59.999Z')))).toBe(
      '\x17\x0d491231235959Z',
    )
    expect(toHex(derTime(new Date('2050-01-01T00:00:00Z')))).toBe(
      toHex(encodeTlv(0x18, ascii('20500101000000Z'))),
    )
    expect(toHex(derTime(new Date('1949-12-31T23:59:59Z')))).toBe(
      toHex(encodeTlv(0x18, ascii('19491231235959Z'))),
    )
    for (const date of [
      new Date('1950-01-01T00:00:00Z'),
      new Date('2024-02-29T01:02:03Z'),
      new Date(-62135596800000),
    ]) {
      expect(decodeTime(readTlv(derTime(date))).getTime()).toBe(date.getTime())
    }
    expect(() => derTime(new Date(Number.NaN))).toThrow(InvalidArgumentError)
    expect(() => derTime(new Date('+010000-01-01T00:00:00Z'))).toThrow(InvalidArgumentError)
  })
})

describe('strings, BOOLEAN, BIT STRING, SET', () => {
  it('decodes the directory string types', () => {
    const str = (tag: number, bytes: Uint8Array) => decodeString(readTlv(encodeTlv(tag, bytes)))
    expect(str(DerTag.UTF8_STRING, ascii('Zoë 😀'))).toBe('Zoë 😀')
    expect(str(DerTag.UTF8_STRING, hex('efbbbf41'))).toBe('\ufeffA')
    expect(str(DerTag.UTF8_STRING, hex('41ff'))).toBe('A\xff') // not UTF-8: one character per octet
    expect(str(DerTag.PRINTABLE_STRING, ascii('Test, Inc.'))).toBe('Test, Inc.')
    expect(str(DerTag.IA5_STRING, ascii('a@b.example'))).toBe('a@b.example')
    expect(str(DerTag.TELETEX_STRING, hex('41e9'))).toBe('Aé')
    expect(str(DerTag.BMP_STRING, hex('005a00eb65e5'))).toBe('Zë日')
    expect(str(DerTag.UNIVERSAL_STRING, hex('0000005a0001f600'))).toBe('Z😀')
    expect(str(DerTag.OCTET_STRING, ascii('x'))).toBeUndefined()
    expect(str(0x12, ascii('123'))).toBeUndefined()
    expectInvalid(() => str(DerTag.BMP_STRING, hex('005a00')), /odd number/)
    expectInvalid(() => str(DerTag.UNIVERSAL_STRING, hex('0000005a00')), /multiple of 4/)
    expectInvalid(() => str(DerTag.UNIVERSAL_STRING, hex('00110000')), /beyond U\+10FFFF/)
    expect(str(DerTag.UTF8_STRING, new Uint8Array(100_000).fill(0x41))).toHaveLength(100_000)
  })

  it('reads and writes BOOLEAN as DER does', () => {
    expect(toHex(derBoolean(true))).toBe('0101ff')
    expect(toHex(derBoolean(false))).toBe('010100')
    expect(decodeBoolean(hex('ff'))).toBe(true)
    expect(decodeBoolean(hex('00'))).toBe(false)
    for (const bad of ['01', '', 'ff00']) expectInvalid(() => decodeBoolean(hex(bad)), /BOOLEAN/)
  })

  it('reads whole-octet BIT STRINGs only', () => {
    expect(toHex(decodeBitString(readTlv(derBitString(hex('0102'))).value))).toBe('0102')
    expectInvalid(() => decodeBitString(new Uint8Array()), /empty BIT STRING/)
    expectInvalid(() => decodeBitString(hex('0180')), /unused bits/)
  })

  it('writes SET OF sorted by encoding (X.690 §11.6) and UTF8String', () => {
    expect(toHex(derSet(hex('0401ff'), hex('020101'), hex('0400')))).toBe(
      '3108020101040004 01ff'.replace(' ', ''),
    )
    expect(toHex(derUtf8String('é'))).toBe('0c02c3a9')
  })

  it('refuses the end-of-contents tag', () => {
    expectInvalid(() => readTlv(hex('0000')), /end-of-contents/)
  })
})

describe('DerReader', () => {
  const content = derSequence(derInteger(1), derNull(), derOctetString(hex('aa'))).subarray(2)

  it('reads fields in order, optional ones by tag', () => {
    const reader = new DerReader(content)
    expect(reader.next('a', DerTag.INTEGER).value).toEqual(hex('01'))
    expect(reader.optional(DerTag.BOOLEAN, 'b')).toBeUndefined()
    expect(reader.optional(DerTag.NULL, 'c')?.tag).toBe(DerTag.NULL)
    expect(reader.next('d').tag).toBe(DerTag.OCTET_STRING)
    expect(reader.done).toBe(true)
    expect(reader.optional(DerTag.NULL, 'e')).toBeUndefined()
    reader.end('X')
  })

  it('names the field that is missing, mistagged or extra', () => {
    expectInvalid(
      () => new DerReader(content).next('version', DerTag.SEQUENCE),
      /version: expected tag 0x30, found 0x02/,
    )
    expectInvalid(() => new DerReader(new Uint8Array()).next('serialNumber'), /serialNumber is missing/)
    const reader = new DerReader(content)
    reader.next('a')
    expectInvalid(() => reader.end('Thing'), /unexpected element at the end of Thing/)
  })
})

/** A certificate built field by field, with any field replaceable, and a dummy signature (never verified). */
function certificate(
  fields: {
    version?: Uint8Array | null | undefined
    validity?: Uint8Array
    name?: Uint8Array
    extensions?: Uint8Array[]
  } = {},
) {
  const name =
    fields.name ?? derSequence(derSet(derSequence(derOid('2.5.4.3'), derUtf8String('test.example'))))
  const algorithm = derSequence(derOid('1.2.840.10045.4.3.2'))
  const spki = derSequence(
    derSequence(derOid('1.2.840.10045.2.1'), derOid('1.2.840.10045.3.1.7')),
    derBitString(new Uint8Array(65).fill(4)),
  )
  const tbs = derSequence(
    ...(fields.version === null ? [] : [fields.version ?? derContext(0, derInteger(2))]),
    derInteger(hex('00a1')),
    algorithm,
    name,
    fields.validity ??
      derSequence(derTime(new Date('2025-01-01T00:00:00Z')), derTime(new Date('2060-01-01T00:00:00Z'))),
    name,
    spki,
    ...(fields.extensions ? [derContext(3, derSequence(...fields.extensions))] : []),
  )
  return derSequence(tbs, algorithm, derBitString(hex('3000')))
}
const extension = (oid: string, value: Uint8Array, critical?: Uint8Array) =>
  derSequence(derOid(oid), ...(critical ? [critical] : []), derOctetString(value))

describe('parseCertificate on built and hostile input', () => {
  it('reads a minimal certificate, with and without version and extensions', () => {
    for (const version of [undefined, null]) {
      const cert = parseCertificate(certificate({ version }))
      expect(cert.subject).toEqual({ commonName: 'test.example', dn: 'CN=test.example' })
      expect(toHex(cert.serialNumberBytes)).toBe('00a1')
      expect(cert.serialNumber).toBe('a1')
      expect(cert.notAfter.toISOString()).toBe('2060-01-01T00:00:00.000Z')
      expect('isCA' in cert).toBe(false)
    }
  })

  it('reads year 0001 as year 1 (the RFC 9773 example)', () => {
    const cert = parseCertificate(RFC9773_EXAMPLE)
    expect(cert.notBefore.toISOString()).toBe('0001-01-01T00:00:00.000Z')
    expect(cert.notAfter.getUTCFullYear()).toBe(1)
  })

  it('writes values that are not character strings as # and hex (RFC 4514 §2.4)', () => {
    const name = derSequence(
      derSet(derSequence(derOid('2.5.4.3'), derNull())),
      derSet(
        derSequence(derOid('2.5.4.5'), encodeTlv(0x12, ascii('42'))),
        derSequence(derOid('2.5.4.3'), derUtf8String('x')),
      ),
    )
    expect(parseCertificate(certificate({ name })).subject).toEqual({
      commonName: 'x',
      dn: 'CN=x+2.5.4.5=#12023432,CN=#0500', // derSet sorts the RDN's members by encoding
    })
  })

  it('reads the extensions it knows and checks the form of all', () => {
    const cert = parseCertificate(
      certificate({
        extensions: [
          extension('2.5.29.19', derSequence(derBoolean(true), derInteger(0)), derBoolean(true)),
          extension(
            '2.5.29.35',
            derSequence(
              encodeTlv(0x80, hex('0102')),
              derContext(1, derSequence()),
              encodeTlv(0x82, hex('05')),
            ),
          ),
          extension('2.5.29.14', derOctetString(hex('0304'))),
          extension(
            '2.5.29.17',
            derSequence(
              encodeTlv(0x82, ascii('a.example')),
              encodeTlv(0x87, hex('7f000001')),
              encodeTlv(0x87, hex('0a000000ff000000')),
            ),
          ),
          extension('1.2.3.4', hex('ffff'), derBoolean(false)),
        ],
      }),
    )
    expect(cert).toMatchObject({ isCA: true, dnsNames: ['a.example'], ipAddresses: ['127.0.0.1'] })
    expect(toHex(cert.authorityKeyIdentifier!)).toBe('0102')
    expect(toHex(cert.subjectKeyIdentifier!)).toBe('0304')
    expect(parseCertificate(certificate({ extensions: [extension('2.5.29.19', derSequence())] })).isCA).toBe(
      false,
    )
  })

  it.each([
    [
      'a repeated extension',
      {
        extensions: [
          extension('2.5.29.14', derOctetString(hex('01'))),
          extension('2.5.29.14', derOctetString(hex('01'))),
        ],
      },
      /appears more than once/,
    ],
    ['an empty extension list', { extensions: [] }, /empty extensions/],
    [
      'a BOOLEAN that is not 00 or FF',
      { extensions: [extension('2.5.29.19', derSequence(hex('010101')))] },
      /BOOLEAN/,
    ],
    [
      'an AKI with trailing fields',
      { extensions: [extension('2.5.29.35', derSequence(encodeTlv(0x80, hex('01')), derNull()))] },
      /AuthorityKeyIdentifier/,
    ],
    [
      'a SKI that is not an OCTET STRING',
      { extensions: [extension('2.5.29.14', derNull())] },
      /expected tag 0x04/,
    ],
    ['version 4', { version: derContext(0, derInteger(3)) }, /version must be/],
    [
      'a garbled notAfter',
      { validity: derSequence(derTime(new Date(0)), encodeTlv(0x17, ascii('2501011200Z'))) },
      /UTCTime must be/,
    ],
    [
      'a third validity time',
      { validity: derSequence(derTime(new Date(0)), derTime(new Date(0)), derTime(new Date(0))) },
      /end of Validity/,
    ],
    ['an empty RDN', { name: derSequence(derSet()) }, /empty RelativeDistinguishedName/],
    ['an RDN that is not a SET', { name: derSequence(derSequence()) }, /SEQUENCE of SETs/],
  ])('rejects %s with a reason', (_, fields, reason) => {
    let error: unknown
    try {
      parseCertificate(certificate(fields))
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(InvalidArgumentError)
    expect((error as Error).message).toMatch(/^not a DER X\.509 certificate: /)
    expect((error as Error).message).toMatch(reason)
  })

  it('throws only InvalidArgumentError for every truncation and many corruptions of real certificates', () => {
    const samples = [
      decodePem(RFC9773_EXAMPLE, 'CERTIFICATE').der,
      certificate({ extensions: [extension('2.5.29.14', derOctetString(hex('01')))] }),
    ]
    let seed = 1
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      return seed % n
    }
    const check = (der: Uint8Array) => {
      try {
        parseCertificate(der)
      } catch (err) {
        if (!(err instanceof InvalidArgumentError)) throw err
      }
    }
    for (const der of samples) {
      for (let length = 0; length < der.length; length++) {
        expect(() => parseCertificate(der.subarray(0, length))).toThrow(InvalidArgumentError)
      }
      for (let i = 0; i < 3000; i++) {
        const copy = der.slice()
        copy[random(copy.length)] = random(256)
        if (i % 2) copy[random(copy.length)] = 0x80 | random(8)
        check(copy)
      }
    }
    // A length far beyond the input, and the largest length the reader accepts.
    expectInvalid(() => parseCertificate(hex('3084ffffffff00')), /longer than its input/)
    expectInvalid(() => parseCertificate(hex('30850100000000')), /length too large/)
  })
})
