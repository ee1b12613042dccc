/**
 * A certificate request made by openssl, the way a user brings their own: a fresh P-256 key and a request for
 * `names`, the first also as the subject's CN. Tests give it to webacme (or to Pebble directly) to show that a
 * request webacme did not write, for a key webacme never held, is finalized as it is.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { systemBinary } from './system.ts'

const run = promisify(execFile)

/** What {@link opensslCsr} made. */
export interface OpensslCsr {
  /** The request, PEM. */
  csr: string
  /** The request, DER (what RFC 8555 §7.4 finalize carries, base64url-encoded). */
  csrDer: Buffer
  /** The private key, PKCS#8 PEM. */
  key: string
}

/** A new P-256 key and a request for `names` (at least one), made by `openssl req`. */
export async function opensslCsr(names: string[]): Promise<OpensslCsr> {
  if (names.length === 0) throw new Error('opensslCsr needs at least one name')
  const dir = await mkdtemp(join(tmpdir(), 'webacme-openssl-csr-'))
  try {
    const keyPath = join(dir, 'key.pem')
    const csrPath = join(dir, 'csr.pem')
    await run(systemBinary('openssl'), [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyPath,
      '-out',
      csrPath,
      '-subj',
      `/CN=${names[0]}`,
      '-addext',
      `subjectAltName=${names.map((name) => `DNS:${name}`).join(',')}`,
    ])
    const csr = await readFile(csrPath, 'utf8')
    const body = /-----BEGIN CERTIFICATE REQUEST-----([^-]+)-----END CERTIFICATE REQUEST-----/.exec(csr)?.[1]
    if (!body) throw new Error(`openssl wrote no certificate request: ${csr.slice(0, 200)}`)
    return {
      csr,
      csrDer: Buffer.from(body.replace(/\s+/g, ''), 'base64'),
      key: await readFile(keyPath, 'utf8'),
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
