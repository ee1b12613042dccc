// The UPDATE layout of RFC 2136 §2, written out by hand; and the checks of an answer's layout.
import { describe, expect, it } from 'vitest'
import { DnsMessageError } from '../message.ts'
import { DNS_CLASS, encodeName, encodeQuery, encodeUpdate, scanResponse, txtRdata } from './wire.ts'

const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')

describe('RFC 2136 wire format', () => {
  it('encodes an UPDATE: header, zone, prerequisite, update (uncompressed, lower-case names)', () => {
    const message = encodeUpdate(
      0x1234,
      'Example.Test.',
      [{ name: 'a.example.test', type: 5, class: DNS_CLASS.NONE, ttl: 0, rdata: new Uint8Array(0) }],
      [{ name: 'a.example.test', type: 16, class: DNS_CLASS.IN, ttl: 60, rdata: txtRdata('xy') }],
    )
    expect(toHex(message)).toBe(
      [
        '1234', // ID
        '2800', // QR 0, opcode 5 (UPDATE)
        '0001 0001 0001 0000', // ZOCOUNT, PRCOUNT, UPCOUNT, ADCOUNT
        '076578616d706c65 0474657374 00 0006 0001', // zone example.test, SOA, IN
        '01 61 076578616d706c65 0474657374 00 0005 00fe 00000000 0000', // a.example.test CNAME NONE: RRset does not exist
        '01 61 076578616d706c65 0474657374 00 0010 0001 0000003c 0003 02 7879', // a.example.test TXT IN 60 "xy"
      ]
        .join('')
        .replace(/ /g, ''),
    )
    expect(scanResponse(message)).toMatchObject({ id: 0x1234, response: false, opcode: 5, arcount: 0 })
  })

  it('encodes a query with RD clear', () => {
    expect(toHex(encodeQuery(7, 'example.test', 6))).toBe(
      '000700000001000000000000076578616d706c6504746573740000060001',
    )
  })

  it('cuts TXT values into 255-byte character-strings and rejects what cannot be a name', () => {
    const rdata = txtRdata('x'.repeat(300))
    expect([rdata[0], rdata[256], rdata.length]).toEqual([255, 45, 302])
    expect(toHex(txtRdata(''))).toBe('00')
    expect(() => encodeName(`${'a'.repeat(64)}.test`)).toThrow(DnsMessageError)
    expect(() => encodeName(Array(130).fill('ab').join('.'))).toThrow(DnsMessageError)
  })

  it('rejects truncated answers and trailing bytes', () => {
    const query = encodeQuery(7, 'example.test', 6)
    expect(() => scanResponse(query.subarray(0, 20))).toThrow(DnsMessageError)
    expect(() => scanResponse(new Uint8Array([...query, 0]))).toThrow(/left after/)
    const oneAnswer = new Uint8Array([...query, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60, 0, 9, 1])
    oneAnswer[7] = 1
    expect(() => scanResponse(oneAnswer)).toThrow(/runs past/)
  })
})
