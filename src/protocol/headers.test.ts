import { describe, expect, it } from 'vitest'
import { linksWithRel, parseLinks, parseRetryAfter } from './headers.ts'

describe('Link (RFC 8288)', () => {
  it('parses several links, quoted and bare rels, relative targets', () => {
    const links = parseLinks(
      '<https://ca.test/cert/1/1>;rel="alternate", </cert/1/2>; rel=alternate, <https://ca.test/dir>;rel="index", <https://ca.test/tos, v2>;rel="terms-of-service"',
      'https://ca.test/cert/1',
    )
    expect(linksWithRel(links, 'alternate')).toEqual(['https://ca.test/cert/1/1', 'https://ca.test/cert/1/2'])
    expect(linksWithRel(links, 'index')).toEqual(['https://ca.test/dir'])
    expect(linksWithRel(links, 'terms-of-service')).toEqual(['https://ca.test/tos,%20v2'])
    expect(parseLinks(null, 'https://x')).toEqual([])
  })

  it('handles multiple rel values and extra params', () => {
    const links = parseLinks('<https://a.test/p2>; title="a, b"; rel="next last"', 'https://a.test/')
    expect(linksWithRel(links, 'next')).toEqual(['https://a.test/p2'])
    expect(linksWithRel(links, 'last')).toEqual(['https://a.test/p2'])
  })
})

describe('Retry-After (RFC 9110 §10.2.3)', () => {
  it('reads delay-seconds and HTTP dates', () => {
    expect(parseRetryAfter('120', 1_000)?.getTime()).toBe(121_000)
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT')?.toISOString()).toBe('2015-10-21T07:28:00.000Z')
    expect(parseRetryAfter('soon')).toBeUndefined()
    expect(parseRetryAfter(null)).toBeUndefined()
  })
})
