import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { systemBinary } from '../../test/harness/system.ts'
import { InvalidArgumentError } from '../errors.ts'
import { parseCertificate } from './certificate.ts'
import { selectPreferredChain, splitPemChain } from './chain.ts'

let dir = ''
const openssl = (...args: string[]) =>
  execFileSync(systemBinary('openssl'), args, { cwd: dir, encoding: 'utf8', stdio: 'pipe' })
const read = (name: string) => readFileSync(join(dir, name), 'utf8')

/** Issues certificate `name` for key `keyName`, signed by `[issuer certificate, issuer key]` or self-signed. */
function issue(
  name: string,
  subject: string,
  extensions: 'ca' | 'leaf',
  issuer?: [string, string],
  keyName = name,
) {
  const signer = issuer ? ['-CA', `${issuer[0]}.pem`, '-CAkey', `${issuer[1]}.key`] : ['-x509']
  openssl(
    'req',
    '-config',
    'o.cnf',
    '-new',
    '-key',
    `${keyName}.key`,
    '-subj',
    subject,
    ...signer,
    '-days',
    '1',
    '-extensions',
    extensions,
    '-out',
    `${name}.pem`,
  )
}

let chainA = '' // leaf ← Int (by Root A)
let chainCross = '' // leaf ← Int (by Root A) ← Root A (cross-signed by Root B)
let chainB = '' // leaf ← Int (by Root B)

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'webacme-chain-'))
  writeFileSync(
    join(dir, 'o.cnf'),
    '[req]\ndistinguished_name = dn\n[dn]\n[ca]\nbasicConstraints = critical,CA:TRUE\n[leaf]\nsubjectAltName = DNS:leaf.example\n',
  )
  for (const key of ['rootA', 'rootB', 'int', 'leaf']) {
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${key}.key`)
  }
  issue('rootA', '/CN=Root A', 'ca')
  issue('rootB', '/CN=Root B', 'ca')
  issue('crossA', '/CN=Root A', 'ca', ['rootB', 'rootB'], 'rootA')
  issue('intA', '/CN=Int', 'ca', ['rootA', 'rootA'], 'int')
  issue('intB', '/CN=Int', 'ca', ['rootB', 'rootB'], 'int')
  issue('leaf', '/CN=leaf.example', 'leaf', ['intA', 'int'])
  chainA = read('leaf.pem') + read('intA.pem')
  chainCross = read('leaf.pem') + read('intA.pem') + read('crossA.pem')
  chainB = read('leaf.pem') + read('intB.pem')
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('splitPemChain', () => {
  it('returns one normalised PEM per certificate, dropping text and other blocks', () => {
    const messy = `subject=CN=leaf\r\n${read('leaf.key')}${chainCross.replace(/\n/g, '\r\n')}\r\ntrailer\r\n`
    const parts = splitPemChain(messy)
    expect(parts).toEqual([read('leaf.pem'), read('intA.pem'), read('crossA.pem')])
    expect(parts.map((pem) => parseCertificate(pem).subject.commonName)).toEqual([
      'leaf.example',
      'Int',
      'Root A',
    ])
  })

  it('rejects text without certificates', () => {
    expect(() => splitPemChain(read('leaf.key'))).toThrow(InvalidArgumentError)
    expect(() => splitPemChain('nothing here')).toThrow(/no PEM block/)
  })
})

describe('selectPreferredChain', () => {
  it('prefers a chain whose topmost certificate is issued by the preferred issuer', () => {
    expect(selectPreferredChain([chainA, chainCross, chainB], 'Root B')).toBe(chainCross)
    // chainCross holds a certificate issued by Root A, but its topmost issuer is Root B: chainA wins.
    expect(selectPreferredChain([chainCross, chainA], 'Root A')).toBe(chainA)
  })

  it('falls back to any certificate issued by the preferred issuer', () => {
    expect(selectPreferredChain([chainB, chainCross], 'Root A')).toBe(chainCross)
  })

  it('falls back to the first chain', () => {
    expect(selectPreferredChain([chainB, chainA], 'ISRG Root X1')).toBe(chainB)
    expect(selectPreferredChain([chainA], 'Root B')).toBe(chainA)
  })

  it('rejects an empty list and unparsable chains', () => {
    expect(() => selectPreferredChain([], 'Root A')).toThrow(InvalidArgumentError)
    expect(() => selectPreferredChain(['garbage'], 'Root A')).toThrow(InvalidArgumentError)
  })
})
