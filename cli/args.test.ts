import { describe, expect, it } from 'vitest'
import { list, type OptionSpecs, parse, str } from './args.ts'
import { UsageError } from './exit-codes.ts'

const SPECS: OptionSpecs = {
  out: { type: 'string', value: 'DIR', help: 'x' },
  domain: { type: 'string', multiple: true, short: 'd', value: 'NAME', help: 'x' },
  force: { type: 'boolean', help: 'x' },
}

describe('parse', () => {
  it('a single-valued option given twice is a usage error naming both values', () => {
    expect(() => parse(['--out', 'a', '--out', 'b'], SPECS)).toThrow(UsageError)
    expect(() => parse(['--out=a', '--out', 'b'], SPECS)).toThrow('--out was given 2 times ("a", "b")')
  })

  it('a single-valued option given once is a string; a repeatable one collects', () => {
    const { values } = parse(['--out', 'a', '-d', 'x', '--domain', 'y', '--force'], SPECS)
    expect(values.out).toBe('a')
    expect(str(values, 'out')).toBe('a')
    expect(list(values, 'domain')).toEqual(['x', 'y'])
    expect(values.force).toBe(true)
    expect(parse([], SPECS).values.out).toBeUndefined()
  })

  it('an empty value and an unknown option are usage errors', () => {
    expect(() => parse(['--out='], SPECS)).toThrow('--out needs a value')
    expect(() => parse(['--bogus'], SPECS)).toThrow(/Unknown option '--bogus'/)
  })
})
