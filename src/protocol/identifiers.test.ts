import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import { formatIpAddress, isDnsName, parseIpAddress, toIdentifier } from './identifiers.ts'

describe('identifiers', () => {
  it('detects IP vs DNS and normalises', () => {
    expect(toIdentifier('Example.COM.')).toEqual({ type: 'dns', value: 'example.com' })
    expect(toIdentifier('*.example.com')).toEqual({ type: 'dns', value: '*.example.com' })
    expect(toIdentifier('192.0.2.1')).toEqual({ type: 'ip', value: '192.0.2.1' })
    expect(toIdentifier('2001:DB8:0:0:0:0:0:1')).toEqual({ type: 'ip', value: '2001:db8::1' })
    expect(toIdentifier({ type: 'ip', value: '::ffff:192.0.2.1' })).toEqual({
      type: 'ip',
      value: '::ffff:c000:201',
    })
  })

  it('rejects malformed identifiers before anything is sent', () => {
    for (const bad of [
      '',
      'foo',
      'a..b',
      '-a.com',
      'a-.com',
      'foo.*.com',
      '*.*.com',
      'exa mple.com',
      '1.2.3.999',
      `${'a'.repeat(64)}.com`,
    ]) {
      expect(() => toIdentifier(bad), bad).toThrow(InvalidArgumentError)
    }
    expect(() => toIdentifier({ type: 'email', value: 'a@b.c' })).toThrow(/unsupported identifier type/)
    expect(() => toIdentifier({ type: 'ip', value: 'example.com' })).toThrow(/not an IP/)
  })

  it('parses and formats IPv6 per RFC 5952', () => {
    const cases: Array<[string, string]> = [
      ['::', '::'],
      ['::1', '::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['fe80::1:2', 'fe80::1:2'],
      ['[2001:db8::5]', '2001:db8::5'],
    ]
    for (const [input, canonical] of cases) expect(formatIpAddress(parseIpAddress(input)!)).toBe(canonical)
    for (const bad of [':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', '1.2.3', '01.2.3.4']) {
      expect(parseIpAddress(bad), bad).toBeUndefined()
    }
    expect(isDnsName('xn--bcher-kva.example')).toBe(true)
  })
})
