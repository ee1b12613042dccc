// The DNS message codec: queries byte for byte (RFC 1035 §4.1), responses with compression pointers,
// and malformed input.
import { describe, expect, it } from 'vitest'
import { DNS_TYPES, DnsMessageError, decodeDnsMessage, encodeDnsQuery, rcodeName } from './message.ts'

const hex = (text: string) => new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'))

describe('encodeDnsQuery', () => {
  it('encodes ID 0, RD, one IN question', () => {
    expect(Buffer.from(encodeDnsQuery('example.com.', DNS_TYPES.TXT)).toString('hex')).toBe(
      '0000 0100 0001 0000 0000 0000 076578616d706c6503636f6d00 0010 0001'.replace(/\s/g, ''),
    )
  })
  it('refuses a label over 63 bytes', () => {
    expect(() => encodeDnsQuery(`${'a'.repeat(64)}.com`, 16)).toThrow(DnsMessageError)
  })
})

describe('decodeDnsMessage', () => {
  // A real answer from dnsdist in front of PowerDNS (captured while writing the e2e test): QR AA RD,
  // two TXT records whose owner is a pointer to the question (c00c).
  const captured = hex(
    '0000850000010002000000000f5f61636d652d6368616c6c656e6765076578616d706c6504746573740000100001' +
      'c00c001000010000003c0003027632c00c001000010000003c0003027631',
  )

  it('reads header flags and TXT answers with compressed owners', () => {
    const message = decodeDnsMessage(captured)
    expect(message).toMatchObject({ id: 0, response: true, truncated: false, rcode: 0 })
    expect(message.answers).toEqual([
      { name: '_acme-challenge.example.test', type: 16, class: 1, ttl: 60, data: ['v2'] },
      { name: '_acme-challenge.example.test', type: 16, class: 1, ttl: 60, data: ['v1'] },
    ])
  })

  it('reads a CNAME whose target is partly compressed', () => {
    // Question www.example.com CNAME; answer: c00c CNAME "cdn" + pointer to "example.com" (offset 16).
    const message = decodeDnsMessage(
      hex(
        '0000 8180 0001 0001 0000 0000 03777777076578616d706c6503636f6d00 0005 0001' +
          'c00c 0005 0001 0000012c 0006 0363646e c010',
      ),
    )
    expect(message.answers[0]).toMatchObject({ name: 'www.example.com', type: 5, data: 'cdn.example.com' })
  })

  it('names RCODEs and rejects truncated or looping messages', () => {
    expect(rcodeName(2)).toBe('SERVFAIL')
    expect(rcodeName(9)).toBe('NOTAUTH')
    expect(rcodeName(12)).toBe('RCODE12')
    expect(() => decodeDnsMessage(captured.subarray(0, 8))).toThrow(DnsMessageError)
    expect(() => decodeDnsMessage(captured.subarray(0, captured.length - 2))).toThrow(/runs past/)
    const loop = hex('0000 8180 0000 0001 0000 0000 c00c 0010 0001 00000000 0000')
    expect(() => decodeDnsMessage(loop)).toThrow(/loop/)
  })
})
