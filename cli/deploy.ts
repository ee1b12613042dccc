/**
 * `--out DIR` and `--deploy-hook CMD`, shared by `issue`, `renew` and `export`: one layout,
 * `DIR/<name>/{privkey,cert,chain,fullchain}.pem` (0600, written atomically), and one hook run through the shell
 * after the files are in place, told where they are through `WEBACME_*` variables.
 */
import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { splitPemChain } from 'webacme'
import type { OptionSpecs } from './args.ts'
import { DeployHookError, LocalError } from './exit-codes.ts'
import { writeFilesAtomic } from './files.ts'
import type { Reporter } from './output.ts'

export const DEPLOY_HOOK_OPTION: OptionSpecs = {
  'deploy-hook': {
    type: 'string',
    value: 'CMD',
    help: 'run CMD through /bin/sh after the files are written (WEBACME_CERT_PATH, WEBACME_KEY_PATH, ...; needs --out)',
  },
}

/** The file names of one certificate under `--out DIR/<name>/`. */
export const PEM_FILE_NAMES = ['privkey.pem', 'cert.pem', 'chain.pem', 'fullchain.pem'] as const

/** The PEM files of a certificate, from its PEM chain (leaf first) and its private key's PEM. */
export function pemFiles(certificate: string, privateKeyPem: string): Record<string, string> {
  const [leaf, ...chain] = splitPemChain(certificate)
  if (!leaf) throw new LocalError('the certificate holds no PEM block')
  const join = (blocks: string[]) => blocks.map((b) => `${b.trim()}\n`).join('')
  return {
    'privkey.pem': privateKeyPem,
    'cert.pem': join([leaf]),
    'chain.pem': join(chain),
    'fullchain.pem': join([leaf, ...chain]),
  }
}

/** Where `--out DIR` puts certificate `name`. */
export function outDir(out: string, name: string): string {
  return resolve(join(out, name))
}

/** Writes the four files into `DIR/<name>/`; returns their paths in {@link PEM_FILE_NAMES} order. */
export async function writeCertificateFiles(
  out: string,
  name: string,
  certificate: string,
  privateKeyPem: string,
): Promise<string[]> {
  const files = pemFiles(certificate, privateKeyPem)
  await writeFilesAtomic(outDir(out, name), files)
  return PEM_FILE_NAMES.map((f) => join(outDir(out, name), f))
}

export interface DeployInfo {
  name: string
  /** The certificate's names (DNS names and IP addresses). */
  domains: string[]
  /** The directory holding the four files. */
  dir: string
  renewed: boolean
}

/** The environment a deploy hook gets (on top of the command's own). */
export function deployEnv(info: DeployInfo): Record<string, string> {
  return {
    WEBACME_CERT_PATH: join(info.dir, 'cert.pem'),
    WEBACME_KEY_PATH: join(info.dir, 'privkey.pem'),
    WEBACME_CHAIN_PATH: join(info.dir, 'chain.pem'),
    WEBACME_FULLCHAIN_PATH: join(info.dir, 'fullchain.pem'),
    WEBACME_DOMAINS: info.domains.join(' '),
    WEBACME_NAME: info.name,
    ...(info.renewed && { WEBACME_RENEWED: '1' }),
  }
}

/**
 * Runs `command` through `/bin/sh -c` with {@link deployEnv}; its output goes to stderr (stdout is the command's
 * result). A non-zero status is a {@link DeployHookError}; an abort (Ctrl-C) stops the hook.
 */
export async function runDeployHook(
  command: string,
  info: DeployInfo,
  options: { env: Record<string, string | undefined>; reporter: Reporter; signal: AbortSignal },
): Promise<void> {
  const { reporter, signal } = options
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries({ ...options.env, ...deployEnv(info) })) if (v !== undefined) env[k] = v
  reporter.step(`${info.name}: running the deploy hook`)
  const status = await new Promise<number | string>((resolvePromise, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['ignore', 'pipe', 'pipe'], signal })
    child.stdout?.on('data', (chunk: Uint8Array) => process.stderr.write(chunk))
    child.stderr?.on('data', (chunk: Uint8Array) => process.stderr.write(chunk))
    child.once('error', (err) => {
      if (signal.aborted) reject(signal.reason)
      else
        reject(new DeployHookError(`the deploy hook could not be run: ${err.message}`, 127, { cause: err }))
    })
    child.once('close', (code, sig) => resolvePromise(code ?? String(sig)))
  })
  if (signal.aborted) throw signal.reason
  if (status !== 0) {
    throw new DeployHookError(
      `the deploy hook for ${info.name} ${typeof status === 'number' ? `exited with status ${status}` : `was killed by ${status}`}; the certificate files are in ${info.dir}`,
      status,
    )
  }
  reporter.step(`${info.name}: deploy hook done`)
}
