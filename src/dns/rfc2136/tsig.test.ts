// TSIG signing against requests signed by BIND's own tools (captured from the wire, one UDP datagram each):
//   dig -y hmac-sha256:acme-update:<S256> @127.0.0.1 -p PORT example.test SOA           (BIND 9.18.49 dig)
//   nsupdate -y hmac-sha512:acme-update.example.test:<S512>, with "zone example.test", "update add
//     _acme-challenge.example.test 60 TXT ...", "update delete _acme-challenge.example.test TXT stale", "send"
// Our signer, given the same message (TSIG removed) and the same Time Signed, must produce the same bytes: the same
// MAC (RFC 8945 §4.3) and the same TSIG record (§4.2). The answers' side is checked against real BIND and Knot in
// src/dns/providers/rfc2136.test.ts.
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../errors.ts'
import { importTsigKey, parseTsigKey, signMessage, tsigErrorName } from './tsig.ts'
import { scanResponse } from './wire.ts'

const S256 = 'YWNtZS10ZXN0LXZlY3Rvci1zZWNyZXQtMzItYnl0ZXMhIQ=='
const S512 = 'd2ViYWNtZSB0ZXN0IHZlY3RvcjogYSA2NC1ieXRlIHNlY3JldCBmb3IgaG1hYy1zaGE1MTIgb25seSwgbm90IHJlYWw='

const DIG_SHA256 =
  '816a01200001000000000002076578616d706c650474657374000006000100002904d000000000000c000a0008b5dcfb572923289e0b61636d652d7570646174650000fa00ff00000000003d0b686d61632d7368613235360000006b1719ce012c002097c5c33fbee6e7163763ca87db443d7a860672e5be4bec6ac11d6d883254fcf5816a00000000'
const NSUPDATE_SHA512 =
  '536728000001000000020001076578616d706c65047465737400000600010f5f61636d652d6368616c6c656e6765c00c001000010000003c002c2b4c6f71586359563871354f4e624a5178626d52375343544e6f337469415844666f77796a78416a45755830c01e001000fe000000000006057374616c650b61636d652d757064617465076578616d706c6504746573740000fa00ff00000000005d0b686d61632d7368613531320000006b1719ce012c0040779613cd72e2e108a3144358b9d5870d82b1e327a6c82294380521257168380ef3437a69dc4f1ca47ba4d6a3ee7344a41cca3b9db9a353df3625953cf943b60c536700000000'

const hex = (h: string) => new Uint8Array(h.match(/../g)!.map((b) => Number.parseInt(b, 16)))
const toHex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')

/** The message as it was before TSIG was added, and the Time Signed and Fudge of its TSIG. */
function unsign(signed: Uint8Array): { message: Uint8Array; time: number; fudge: number } {
  const tsig = scanResponse(signed).lastAdditional!
  expect(tsig.type).toBe(250)
  const message = signed.slice(0, tsig.offset)
  message[11] = message[11]! - 1
  // RDATA: algorithm name, then Time Signed (48 bits) and Fudge.
  let at = tsig.rdataOffset
  while (signed[at] !== 0) at += 1 + signed[at]!
  at++
  const view = new DataView(signed.buffer, signed.byteOffset)
  return {
    message,
    time: view.getUint16(at) * 2 ** 32 + view.getUint32(at + 2),
    fudge: view.getUint16(at + 6),
  }
}

describe('TSIG signing (RFC 8945) matches BIND', () => {
  it('hmac-sha256: a query signed by dig (EDNS cookie before the TSIG)', async () => {
    const captured = hex(DIG_SHA256)
    const { message, time, fudge } = unsign(captured)
    expect([time, fudge]).toEqual([0x6b1719ce, 300])
    const key = await importTsigKey(
      parseTsigKey({ name: 'acme-update', secret: S256, algorithm: 'hmac-sha256' }),
    )
    const signed = await signMessage(message, key, time, fudge)
    expect(toHex(signed.message)).toBe(DIG_SHA256)
    expect(toHex(signed.mac)).toBe('97c5c33fbee6e7163763ca87db443d7a860672e5be4bec6ac11d6d883254fcf5')
  })

  it('hmac-sha512: an UPDATE signed by nsupdate (compressed names, add and delete-RR)', async () => {
    const { message, time, fudge } = unsign(hex(NSUPDATE_SHA512))
    const key = await importTsigKey(
      parseTsigKey({ name: 'ACME-Update.Example.Test.', secret: S512, algorithm: 'HMAC-SHA512.' }),
    )
    const signed = await signMessage(message, key, time, fudge)
    expect(toHex(signed.message)).toBe(NSUPDATE_SHA512)
    expect(signed.mac).toHaveLength(64)
  })

  it('another secret, time or algorithm gives another MAC', async () => {
    const { message, time, fudge } = unsign(hex(DIG_SHA256))
    const other = await importTsigKey(parseTsigKey({ name: 'acme-update', secret: S512 }))
    expect(toHex((await signMessage(message, other, time, fudge)).message)).not.toBe(DIG_SHA256)
    const key = await importTsigKey(parseTsigKey({ name: 'acme-update', secret: S256 }))
    expect(toHex((await signMessage(message, key, time + 1, fudge)).message)).not.toBe(DIG_SHA256)
  })

  it('rejects unknown algorithms, empty or non-base64 secrets and bad key names with InvalidArgumentError', () => {
    for (const bad of [
      { name: 'k', secret: S256, algorithm: 'hmac-md5.sig-alg.reg.int' },
      { name: 'k', secret: '' },
      { name: 'k', secret: 'not base64!' },
      { name: 'k', secret: new Uint8Array(0) },
      { name: '', secret: S256 },
      { name: 'a..b', secret: S256 },
    ]) {
      expect(() => parseTsigKey(bad), JSON.stringify(bad)).toThrow(InvalidArgumentError)
    }
  })

  it('names TSIG errors', () => {
    expect([16, 17, 18, 22, 99].map(tsigErrorName)).toEqual([
      'BADSIG',
      'BADKEY',
      'BADTIME',
      'BADTRUNC',
      'TSIG99',
    ])
  })
})
