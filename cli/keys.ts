/** Key types of `--key-type` / `--account-key-type`, and key files that are read or created. */
import { exportPrivateKeyPem, generateKeyPair, importPrivateKeyPem } from 'webacme'
import { LocalError, UsageError } from './exit-codes.ts'
import { exists, readText, writeFileAtomic } from './files.ts'

type KeySpec = { alg: 'ES256' | 'ES384' | 'ES512' | 'RS256' | 'EdDSA'; modulusLength?: 2048 | 3072 | 4096 }

export const KEY_TYPES: Readonly<Record<string, KeySpec>> = {
  ec256: { alg: 'ES256' },
  ec384: { alg: 'ES384' },
  ec521: { alg: 'ES512' },
  rsa2048: { alg: 'RS256', modulusLength: 2048 },
  rsa3072: { alg: 'RS256', modulusLength: 3072 },
  rsa4096: { alg: 'RS256', modulusLength: 4096 },
  ed25519: { alg: 'EdDSA' },
}

export function keySpec(name: string | undefined, option: string): KeySpec {
  const spec = KEY_TYPES[(name ?? 'ec256').toLowerCase()]
  if (!spec)
    throw new UsageError(`--${option} must be one of ${Object.keys(KEY_TYPES).join(', ')}, got ${name}`)
  return spec
}

export function newKey(spec: KeySpec): Promise<CryptoKeyPair> {
  return generateKeyPair(spec.alg, spec.modulusLength ? { modulusLength: spec.modulusLength } : {})
}

/** Reads a PEM private key file. */
export async function readKey(path: string, what: string): Promise<CryptoKeyPair> {
  const pem = await readText(path, what)
  try {
    return await importPrivateKeyPem(pem)
  } catch (err) {
    throw new LocalError(`${path} is not a usable private key (${(err as Error).message})`, { cause: err })
  }
}

/** Writes a private key file (0600, atomically). */
export async function writeKeyFile(path: string, keys: CryptoKeyPair): Promise<void> {
  await writeFileAtomic(path, await exportPrivateKeyPem(keys.privateKey))
}

/** The key in `path`, or a new one of `spec` written there (0600) when the file does not exist. */
export async function readOrCreateKey(
  path: string,
  spec: KeySpec,
  what: string,
): Promise<{ keys: CryptoKeyPair; created: boolean }> {
  if (await exists(path)) return { keys: await readKey(path, what), created: false }
  const keys = await newKey(spec)
  await writeFileAtomic(path, await exportPrivateKeyPem(keys.privateKey))
  return { keys, created: true }
}
