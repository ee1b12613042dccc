// TXT presentation format (RFC 1035 §5.1): quoting, 255-byte splitting, escapes, and reading back.
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../errors.ts'
import { parseTxt, quoteTxt } from './txt.ts'

describe('quoteTxt / parseTxt', () => {
  it('quotes a dns-01 value as one character-string', () => {
    const value = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0'
    expect(quoteTxt(value)).toBe(`"${value}"`)
    expect(parseTxt(quoteTxt(value))).toBe(value)
  })

  it('escapes quotes, backslashes and non-printable bytes, and round-trips UTF-8', () => {
    expect(quoteTxt('a"b\\c\td')).toBe('"a\\"b\\\\c\\009d"')
    for (const value of ['a"b\\c\td', 'héllo ✓ 𝄞', '', ' spaced out '])
      expect(parseTxt(quoteTxt(value))).toBe(value)
  })

  it('splits values over 255 bytes into several strings that join back', () => {
    const long = 'x'.repeat(600)
    const quoted = quoteTxt(long)
    expect(quoted.split(' ').map((s) => s.length - 2)).toEqual([255, 255, 90])
    expect(parseTxt(quoted)).toBe(long)
  })

  it('reads several strings, bare strings and \\DDD escapes as resolvers and providers write them', () => {
    expect(parseTxt('"v=spf1 " "-all"')).toBe('v=spf1 -all')
    expect(parseTxt('bare')).toBe('bare')
    expect(parseTxt('"caf\\195\\169"')).toBe('café')
    expect(() => parseTxt('"open')).toThrow(InvalidArgumentError)
  })
})
