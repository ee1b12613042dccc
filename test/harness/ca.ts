// A throw-away certificate authority for the test servers' TLS listeners (Pebble's ACME and management
// ports). Made with openssl: EC P-256 keys, a CA certificate and a server certificate for `localhost`
// and `127.0.0.1`. Runtimes are made to trust it for real (NODE_EXTRA_CA_CERTS and friends); nothing
// here turns verification off.

import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { systemBinary } from './system.ts'

const run = promisify(execFile)

/** Environment variable holding the directory of the CA shared by one test run. */
export const CA_DIR_ENV = 'WEBACME_TEST_CA_DIR'

export interface TestCa {
  /** Directory holding every file below. */
  readonly dir: string
  /** CA certificate (PEM file): the one thing a client must trust. */
  readonly caCertPath: string
  readonly caKeyPath: string
  /** Server certificate for `localhost` + `IP:127.0.0.1`, signed by the CA. */
  readonly certPath: string
  readonly keyPath: string
  readonly caPem: string
  readonly certPem: string
  readonly keyPem: string
}

const FILES = { caCert: 'ca.pem', caKey: 'ca.key', cert: 'cert.pem', key: 'key.pem' } as const

async function openssl(args: readonly string[], cwd: string): Promise<void> {
  try {
    await run(systemBinary('openssl'), args, { cwd })
  } catch (err) {
    const e = err as { stderr?: string; message: string }
    throw new Error(`openssl ${args[0]} failed: ${e.stderr?.trim() || e.message}`)
  }
}

/**
 * Creates a new CA and a server certificate in `dir` (a new temporary directory when omitted).
 * The caller owns the directory; remove it with {@link removeTestCa}.
 */
export async function createTestCa(dir?: string): Promise<TestCa> {
  const target = dir ?? (await mkdtemp(join(tmpdir(), 'webacme-ca-')))
  const ecKey = ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']
  const days = '30'
  await openssl([...ecKey, '-out', FILES.caKey], target)
  await openssl(
    [
      'req',
      '-x509',
      '-new',
      '-key',
      FILES.caKey,
      '-sha256',
      '-days',
      days,
      '-subj',
      `/CN=webacme test CA ${randomBytes(3).toString('hex')}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-out',
      FILES.caCert,
    ],
    target,
  )
  await openssl([...ecKey, '-out', FILES.key], target)
  await openssl(['req', '-new', '-key', FILES.key, '-subj', '/CN=localhost', '-out', 'server.csr'], target)
  await writeFile(
    join(target, 'server.ext'),
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature',
      'extendedKeyUsage=serverAuth',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  )
  await openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      FILES.caCert,
      '-CAkey',
      FILES.caKey,
      // Random positive serial, so no serial file is written.
      '-set_serial',
      `0x${(randomBytes(8)[0]! & 0x7f).toString(16).padStart(2, '0')}${randomBytes(7).toString('hex')}`,
      '-days',
      days,
      '-sha256',
      '-extfile',
      'server.ext',
      '-out',
      FILES.cert,
    ],
    target,
  )
  await Promise.all([rm(join(target, 'server.csr')), rm(join(target, 'server.ext'))])
  return loadTestCa(target)
}

/** Reads a CA made by {@link createTestCa}. */
export async function loadTestCa(dir: string): Promise<TestCa> {
  const paths = {
    caCertPath: join(dir, FILES.caCert),
    caKeyPath: join(dir, FILES.caKey),
    certPath: join(dir, FILES.cert),
    keyPath: join(dir, FILES.key),
  }
  const [caPem, certPem, keyPem] = await Promise.all([
    readFile(paths.caCertPath, 'utf8'),
    readFile(paths.certPath, 'utf8'),
    readFile(paths.keyPath, 'utf8'),
  ])
  return { dir, ...paths, caPem, certPem, keyPem }
}

/** True when `dir` holds a complete CA made by {@link createTestCa}. */
export function isTestCaDir(dir: string): boolean {
  return Object.values(FILES).every((f) => existsSync(join(dir, f)))
}

export async function removeTestCa(ca: Pick<TestCa, 'dir'>): Promise<void> {
  await rm(ca.dir, { recursive: true, force: true })
}

let processCa: Promise<TestCa> | undefined
let processCaDir: string | undefined

/**
 * The CA of this test run: the one in `$WEBACME_TEST_CA_DIR` (set by the vitest global setup or
 * scripts/test.mjs), else one made for this process and removed when it exits. In the latter case the
 * process's own `fetch` does not trust it (NODE_EXTRA_CA_CERTS is read at start): see {@link caEnv}.
 */
export function getTestCa(): Promise<TestCa> {
  processCa ??= (async () => {
    const dir = process.env[CA_DIR_ENV]
    if (dir && isTestCaDir(dir)) return loadTestCa(dir)
    const ca = await createTestCa()
    processCaDir = ca.dir
    process.once('exit', removeProcessCaSync)
    return ca
  })()
  return processCa
}

/**
 * Removes the CA that {@link getTestCa} made for this process, if any. Synchronous, for 'exit' and
 * signal handlers (pebble.ts calls it when a signal ends the process).
 */
export function removeProcessCaSync(): void {
  if (processCaDir === undefined) return
  rmSync(processCaDir, { recursive: true, force: true })
  processCaDir = undefined
}

/**
 * Environment for a child process (Node, Bun, workerd through miniflare) that must trust the CA:
 * `NODE_EXTRA_CA_CERTS` plus `WEBACME_TEST_CA_DIR` so harness code in the child reuses the same CA.
 */
export function caEnv(ca: Pick<TestCa, 'dir' | 'caCertPath'>): Record<string, string> {
  return { [CA_DIR_ENV]: ca.dir, NODE_EXTRA_CA_CERTS: ca.caCertPath }
}
