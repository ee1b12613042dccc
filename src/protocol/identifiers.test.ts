import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import { toHex } from '../lib/bytes.ts'
import { formatIpAddress, normalizeIdentifier, parseIpAddress, toIdentifier } from './identifiers.ts'
import type { Identifier } from './resources.ts'

function expectInvalid(fn: () => unknown, message: RegExp) {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
    expect((err as Error).message).toMatch(message)
    return
  }
  throw new Error('expected an InvalidArgumentError')
}

describe('toIdentifier', () => {
  it('tells IP addresses from DNS names and normalises both', () => {
    expect(toIdentifier('Example.COM')).toEqual({ type: 'dns', value: 'example.com' })
    expect(toIdentifier('*.example.com')).toEqual({ type: 'dns', value: '*.example.com' })
    expect(toIdentifier('192.0.2.1')).toEqual({ type: 'ip', value: '192.0.2.1' })
    expect(toIdentifier('2001:DB8:0:0:0:0:0:1')).toEqual({ type: 'ip', value: '2001:db8::1' })
    expect(toIdentifier({ type: 'ip', value: '::ffff:192.0.2.1' })).toEqual({
      type: 'ip',
      value: '::ffff:c000:201',
    })
  })

  it('rejects malformed input before anything is sent', () => {
    for (const bad of ['', 'a..b', '-a.com', 'foo.*.com', 'exa mple.com', '1.2.3.999']) {
      expect(() => toIdentifier(bad), bad).toThrow(InvalidArgumentError)
    }
    expect(() => toIdentifier(null as unknown as string)).toThrow(/must be a string/)
  })
})

describe('normalizeIdentifier', () => {
  it.each([
    ['Example.COM', 'example.com'],
    ['*.Example.com', '*.example.com'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    ['a-b.c0', 'a-b.c0'],
    ['localhost', 'localhost'],
    [`${'a'.repeat(63)}.example`, `${'a'.repeat(63)}.example`],
    // One trailing dot is the root, named explicitly: the same name.
    ['example.com.', 'example.com'],
    // IDNA: Unicode names become A-labels, after case folding.
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.Example', 'xn--bcher-kva.example'],
    ['*.münchen.de', '*.xn--mnchen-3ya.de'],
  ])('accepts DNS name %s', (value, expected) => {
    expect(normalizeIdentifier({ type: 'dns', value })).toEqual({ type: 'dns', value: expected })
  })

  it.each([
    ['', /empty label/],
    ['.', /empty label/],
    ['example.com..', /empty label/],
    ['a..b', /empty label/],
    ['*', /wildcard/],
    ['*.*.example.com', /wildcard/],
    ['foo.*.example.com', /wildcard/],
    ['f*o.example.com', /wildcard/],
    ['-a.example', /inner hyphens/],
    ['a-.example', /inner hyphens/],
    ['under_score.example', /inner hyphens/],
    [`${'a'.repeat(64)}.example`, /1-63/],
    [`${'a.'.repeat(127)}ab`, /253/],
    ['with space.example', /whitespace/],
    ['exa mple.test', /whitespace/],
    [' example.com', /whitespace/],
    ['a\u0000b.example', /internationalized/],
    ['bü%cher.example', /internationalized/],
    ['192.0.2.1', /all-numeric/],
    ['example.123', /all-numeric/],
  ])('rejects DNS name %j', (value, message) => {
    expectInvalid(() => normalizeIdentifier({ type: 'dns', value }), message)
  })

  it('canonicalises IP identifiers (RFC 8738 §3)', () => {
    expect(normalizeIdentifier({ type: 'ip', value: '2001:0DB8:0000::0001' })).toEqual({
      type: 'ip',
      value: '2001:db8::1',
    })
    expect(normalizeIdentifier({ type: 'ip', value: '10.1.2.3' })).toEqual({ type: 'ip', value: '10.1.2.3' })
  })

  it('rejects other types and values', () => {
    expectInvalid(
      () => normalizeIdentifier({ type: 'email', value: 'a@b' } as unknown as Identifier),
      /unsupported identifier type/,
    )
    expectInvalid(
      () => normalizeIdentifier({ type: 'dns', value: 5 } as unknown as Identifier),
      /must be a string/,
    )
    expectInvalid(() => normalizeIdentifier({ type: 'ip', value: 'example.com' }), /invalid IP address/)
  })
})

describe('IP addresses', () => {
  it.each([
    ['0.0.0.0', '00000000'],
    ['255.255.255.255', 'ffffffff'],
    ['192.0.2.1', 'c0000201'],
    ['::', '00'.repeat(16)],
    ['::1', `${'00'.repeat(15)}01`],
    ['1::', `0001${'00'.repeat(14)}`],
    ['2001:db8::1', `20010db8${'00'.repeat(11)}01`],
    ['2001:DB8:0:0:8:800:200C:417A', '20010db8000000000008080020 0c417a'.replace(' ', '')],
    ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
    ['::2:3:4:5:6:7:8', '00000002000300040005000600070008'],
    ['::ffff:192.0.2.128', `${'00'.repeat(10)}ffffc0000280`],
    ['::13.1.68.3', `${'00'.repeat(12)}0d014403`],
    ['1:2:3:4:5:6:1.2.3.4', '00010002000300040005000601020304'],
    ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
  ])('parses %s', (text, expected) => {
    expect(toHex(parseIpAddress(text))).toBe(expected)
  })

  it.each([
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.-4',
    ' 1.2.3.4',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1::2::3',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '1:::2',
    '12345::',
    'g::',
    'fe80::1%eth0',
    '1:2:3:4:5:6:7:8::',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '1:2:3:4:5:6:7:1.2.3.4',
    '::256.1.1.1',
    '[::1]',
  ])('rejects %j', (text) => {
    expectInvalid(() => parseIpAddress(text), /invalid IP address/)
  })

  it.each([
    // RFC 5952 §4: lowercase, no leading zeros, longest zero run, first on a tie, never a single group.
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:DB8::AB', '2001:db8::ab'],
    ['0:0:0:0:0:0:0:0', '::'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['::ffff:1.2.3.4', '::ffff:102:304'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
  ])('formats %s as %s', (text, expected) => {
    expect(formatIpAddress(parseIpAddress(text))).toBe(expected)
  })

  it('rejects byte lengths other than 4 and 16', () => {
    expectInvalid(() => formatIpAddress(new Uint8Array(8)), /4 or 16 octets/)
  })
})
