import { execFileSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { systemBinary } from '../../test/harness/system.ts'
import { InvalidArgumentError } from '../errors.ts'
import { decodePem, decodePemAll, encodePem } from './pem.ts'

const bytes = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff)

function expectInvalid(fn: () => unknown, message: RegExp) {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect(err).toBeInstanceOf(InvalidArgumentError)
    expect((err as InvalidArgumentError).code).toBe('ERR_INVALID_ARGUMENT')
    expect((err as Error).message).toMatch(message)
    return
  }
  throw new Error('expected an InvalidArgumentError')
}

describe('encodePem', () => {
  it('writes 64-character lines between the boundaries, with a final newline', () => {
    const pem = encodePem('CERTIFICATE', bytes(100))
    const lines = pem.split('\n')
    expect(lines[0]).toBe('-----BEGIN CERTIFICATE-----')
    expect(lines[1]).toHaveLength(64)
    // 100 octets are 136 base64 characters: 64 + 64 + 8.
    expect(lines[2]).toHaveLength(64)
    expect(lines[3]).toHaveLength(8)
    expect(lines.at(-2)).toBe('-----END CERTIFICATE-----')
    expect(lines.at(-1)).toBe('')
  })

  it('matches openssl byte for byte', () => {
    const der = bytes(301)
    const ours = encodePem('CERTIFICATE', der)
    // `openssl base64 -e` also wraps at 64 characters.
    const body = execFileSync(systemBinary('openssl'), ['base64', '-e'], { input: der, encoding: 'utf8' })
    expect(ours).toBe(`-----BEGIN CERTIFICATE-----\n${body}-----END CERTIFICATE-----\n`)
  })

  it('round trips every length around the line boundary', () => {
    for (const n of [1, 2, 3, 47, 48, 49, 95, 96, 97, 1000]) {
      const der = bytes(n)
      expect(decodePem(encodePem('X', der), 'X').der).toEqual(der)
    }
  })

  it('rejects labels RFC 7468 does not allow', () => {
    expectInvalid(() => encodePem('BAD-----LABEL', bytes(3)), /invalid PEM label/)
    expectInvalid(() => encodePem(' LEADING', bytes(3)), /invalid PEM label/)
    expectInvalid(() => encodePem('A\nB', bytes(3)), /invalid PEM label/)
  })
})

describe('decodePem / decodePemAll', () => {
  const der = bytes(200)
  const pem = encodePem('PRIVATE KEY', der)

  it('tolerates CRLF, leading text, indentation and blank lines', () => {
    const messy = `Bag Attributes\r\n  friendlyName: x\r\n\r\n${pem.replace(/\n/g, '\r\n').replace(/\r\n(?=[A-Za-z0-9+/])/g, '\r\n   ')}\r\ntrailing words`
    expect(decodePem(messy)).toEqual({ label: 'PRIVATE KEY', der })
  })

  it('accepts a body on one line or with missing padding', () => {
    const body = btoa(String.fromCharCode(...bytes(10)))
    expect(decodePem(`-----BEGIN A-----\n${body}\n-----END A-----`).der).toEqual(bytes(10))
    expect(decodePem(`-----BEGIN A-----\n${body.replace(/=+$/, '')}\n-----END A-----`).der).toEqual(bytes(10))
  })

  it('returns every block in order', () => {
    const text = `${encodePem('EC PARAMETERS', bytes(10))}junk\n${pem}${encodePem('CERTIFICATE', bytes(5))}`
    expect(decodePemAll(text).map((b) => b.label)).toEqual(['EC PARAMETERS', 'PRIVATE KEY', 'CERTIFICATE'])
  })

  it('finds the block with the expected label, skipping others', () => {
    const text = `${encodePem('EC PARAMETERS', bytes(10))}${pem}`
    expect(decodePem(text, 'PRIVATE KEY').der).toEqual(der)
    expect(decodePem(text).label).toBe('EC PARAMETERS')
  })

  it('rejects a wrong label', () => {
    expectInvalid(
      () => decodePem(pem, 'CERTIFICATE'),
      /expected a PEM "CERTIFICATE" block, found: PRIVATE KEY/,
    )
  })

  it('rejects text without PEM', () => {
    expectInvalid(() => decodePemAll('hello world'), /no PEM block/)
    expectInvalid(() => decodePemAll(''), /no PEM block/)
    expectInvalid(() => decodePemAll(42 as unknown as string), /must be a string/)
  })

  it('rejects malformed blocks', () => {
    expectInvalid(() => decodePem('-----BEGIN A-----\nAAAA\n'), /no "-----END A-----"/)
    expectInvalid(() => decodePem('-----BEGIN A-----\nAAAA\n-----END B-----\n'), /closed by "END B"/)
    expectInvalid(() => decodePem('-----BEGIN A\nAAAA\n-----END A-----\n'), /does not end with/)
    expectInvalid(() => decodePem('-----BEGIN A-----\n-----END A-----\n'), /empty/)
    expectInvalid(() => decodePem('-----BEGIN A-----\nAA*A\n-----END A-----\n'), /not valid base64/)
    expectInvalid(() => decodePem('-----BEGIN A-----\nAAAAA\n-----END A-----\n'), /not valid base64/)
    expectInvalid(() => decodePem('-----BEGIN A-----\nAA=A\n-----END A-----\n'), /not valid base64/)
    expectInvalid(
      () => decodePem('-----BEGIN A-----\nAAAA\n-----BEGIN B-----\nAAAA\n-----END B-----\n'),
      /no "-----END A-----"/,
    )
  })

  it('rejects legacy encrypted PEM with a hint', () => {
    const text =
      '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\nAAAA\n-----END RSA PRIVATE KEY-----\n'
    expectInvalid(() => decodePem(text), /legacy encrypted PEM/)
  })
})
