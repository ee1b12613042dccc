/**
 * The ACME account a command acts with: from `--account-key FILE` (created when missing), from a storage
 * directory's `accounts/<name>` record (`--storage DIR [--account NAME]`), or a throw-away key. The account is
 * found at the CA by its key, or created when the user passed `--agree-tos`.
 */

import * as fsPromises from 'node:fs/promises'
import {
  AcmeClient,
  type ExternalAccountBinding,
  isProblem,
  loadAccount,
  readAccountRecord,
  saveAccount,
} from 'webacme'
import { FsStorage } from 'webacme/storage/fs'
import { int, list, type OptionSpecs, str } from './args.ts'
import type { Context } from './context.ts'
import { UsageError } from './exit-codes.ts'
import { exists } from './files.ts'
import { keySpec, newKey, readKey, writeKeyFile } from './keys.ts'
import type { Reporter } from './output.ts'
import { resolveDirectory } from './presets.ts'

export const RETRIES_OPTION: OptionSpecs = {
  retries: {
    type: 'string',
    value: 'N',
    help: 'retries of a request after a network failure, 429 or 5xx (default 10, within 3 minutes)',
  },
}

export const DIRECTORY_OPTION: OptionSpecs = {
  directory: {
    type: 'string',
    value: 'URL|PRESET',
    help: 'ACME directory URL or preset (letsencrypt, letsencrypt-staging, zerossl, google, google-staging, buypass, ...)',
  },
  ...RETRIES_OPTION,
}

/**
 * What every AcmeClient of a command gets: the request log, `--retries`, and Ctrl-C client-wide unless
 * `perCall` (issue and renew pass the signal to each call instead, so that after a Ctrl-C the client can still
 * deactivate the pending authorizations).
 */
export function clientOptions(
  ctx: Pick<Context, 'values' | 'reporter' | 'signal'>,
  perCall = false,
): {
  onHttp: Reporter['onHttp']
  signal?: AbortSignal
  retry?: { retries: number }
} {
  const retries = int(ctx.values, 'retries', 0, 100)
  return {
    onHttp: ctx.reporter.onHttp,
    ...(!perCall && { signal: ctx.signal }),
    ...(retries !== undefined && { retry: { retries } }),
  }
}

export const ACCOUNT_OPTIONS: OptionSpecs = {
  'account-key': { type: 'string', value: 'FILE', help: 'account private key (PEM); created when missing' },
  'account-key-type': { type: 'string', value: 'TYPE', help: 'type of a new account key (default ec256)' },
  storage: {
    type: 'string',
    value: 'DIR',
    help: 'storage directory for accounts and certificates (renew reads it)',
  },
  account: { type: 'string', value: 'NAME', help: 'account record name in --storage (default "default")' },
  email: { type: 'string', multiple: true, value: 'ADDRESS', help: 'account contact' },
  'agree-tos': { type: 'boolean', help: "agree to the CA's terms of service (needed to create an account)" },
  'eab-kid': {
    type: 'string',
    value: 'KID',
    help: 'external account binding key id (or env WEBACME_EAB_KID)',
  },
  'eab-hmac': {
    type: 'string',
    value: 'KEY',
    help: 'external account binding MAC key, base64url (or env WEBACME_EAB_HMAC)',
  },
}

export interface OpenedAccount {
  client: AcmeClient
  storage: FsStorage | undefined
  /** The account record name in storage. */
  accountName: string
  /** Where the key came from, for messages. */
  keySource: string
  /** A new key was generated for this run. */
  newKey: boolean
  /**
   * With `deferKeyWrite`: writes the new `--account-key` file (a no-op otherwise). Called once the command's
   * local checks have passed, so that a refused run leaves no key file behind.
   */
  writeNewKey(): Promise<void>
}

/** A storage directory; node:fs/promises is FsStorage's file system in Node, Deno and Bun alike. */
export function openStorage(dir: string): FsStorage {
  return new FsStorage(dir, { fs: fsPromises })
}

/**
 * The certificate names stored in `storage`; `wanted` names that are not there are a usage error naming what is
 * (a `renew --name` typo would otherwise renew nothing and exit 0).
 */
export async function storedCertificateNames(
  storage: FsStorage,
  wanted: string[],
): Promise<{ stored: string[]; names: string[] }> {
  const prefix = 'certificates/'
  const stored = (await storage.list(prefix))
    .map((k) => k.slice(prefix.length))
    .filter((n) => !n.includes('/'))
  const unknown = wanted.filter((n) => !stored.includes(n))
  if (unknown.length) {
    throw new UsageError(
      `--name ${unknown.join(', ')}: no such certificate in ${storage.directory} (${stored.length ? `it holds ${stored.join(', ')}` : 'it holds none'})`,
    )
  }
  return { stored, names: wanted.length ? wanted : stored }
}

/**
 * Opens the account's client; no request is sent yet. `createKey`: a missing `--account-key` file gets a new key
 * (otherwise it is an error: revoking or showing an account needs the key that exists).
 */
export async function openAccount(
  ctx: Context,
  options: { createKey: boolean; deferKeyWrite?: boolean; perCallSignal?: boolean },
): Promise<OpenedAccount> {
  const { values, reporter } = ctx
  const keyPath = str(values, 'account-key')
  const storageDir = str(values, 'storage')
  const accountName = str(values, 'account') ?? 'default'
  const directoryFlag = str(values, 'directory')
  const directoryUrl = directoryFlag === undefined ? undefined : resolveDirectory(directoryFlag)
  const storage = storageDir === undefined ? undefined : openStorage(storageDir)
  const clientOpts = clientOptions(ctx, options.perCallSignal)
  const noWrite = async () => {}

  if (keyPath === undefined && storage) {
    const record = await readAccountRecord(storage, accountName)
    if (record) {
      if (directoryUrl !== undefined && record.directoryUrl !== directoryUrl) {
        throw new UsageError(
          `account "${accountName}" in ${storageDir} belongs to ${record.directoryUrl}, not ${directoryUrl}: pass --account NAME for another account`,
        )
      }
      return {
        client: await loadAccount(storage, accountName, clientOpts),
        storage,
        accountName,
        keySource: `${storageDir} (account "${accountName}")`,
        newKey: false,
        writeNewKey: noWrite,
      }
    }
  }
  if (directoryUrl === undefined) throw new UsageError('--directory is required')
  const spec = keySpec(str(values, 'account-key-type'), 'account-key-type')
  let accountKey: CryptoKeyPair
  let created = true
  let writeNewKey = noWrite
  if (keyPath !== undefined) {
    if (!options.createKey || (await exists(keyPath))) {
      accountKey = await readKey(keyPath, 'account key')
      created = false
    } else {
      const keys = await newKey(spec)
      accountKey = keys
      let written = false
      writeNewKey = async () => {
        if (written) return
        written = true
        await writeKeyFile(keyPath, keys)
        reporter.step(`new account key written to ${keyPath}`)
      }
      if (!options.deferKeyWrite) await writeNewKey()
    }
  } else {
    accountKey = await newKey(spec)
    if (!storage) reporter.warn('no --account-key or --storage: the new account key is not kept anywhere')
  }
  return {
    client: new AcmeClient({ directoryUrl, accountKey, ...clientOpts }),
    storage,
    accountName,
    keySource: keyPath ?? (storage ? `${storageDir} (account "${accountName}")` : 'a throw-away key'),
    newKey: created,
    writeNewKey,
  }
}

/** EAB credentials from the flags or the environment; both parts or none. */
export function externalAccountBinding(ctx: Context): ExternalAccountBinding | undefined {
  const kid = str(ctx.values, 'eab-kid') ?? ctx.env.WEBACME_EAB_KID
  const hmacKey = str(ctx.values, 'eab-hmac') ?? ctx.env.WEBACME_EAB_HMAC
  if (kid === undefined && hmacKey === undefined) return undefined
  if (kid === undefined || hmacKey === undefined) {
    throw new UsageError(
      'external account binding needs both --eab-kid and --eab-hmac (or WEBACME_EAB_KID and WEBACME_EAB_HMAC)',
    )
  }
  return { kid, hmacKey }
}

/**
 * Makes sure the client has its account URL: found by key, or created with `--agree-tos`. A new key without
 * `--agree-tos` is refused before any request.
 */
export async function ensureAccount(
  ctx: Context,
  opened: OpenedAccount,
): Promise<{ url: string; created: boolean }> {
  const { client } = opened
  const { values, reporter, signal } = ctx
  if (client.accountUrl) return { url: client.accountUrl, created: false }
  const agreed = values['agree-tos'] === true
  const contact = list(values, 'email')
  const eab = externalAccountBinding(ctx)
  if (!agreed && opened.newKey) {
    throw new UsageError(
      "creating an account needs your agreement to the CA's terms of service: pass --agree-tos (see the terms with `webacme account show --directory ...`)",
    )
  }
  if (agreed) {
    const directory = await client.directory({ signal })
    const terms = directory.meta?.termsOfService
    reporter.step(`account: agreeing to the terms of service${terms ? ` ${terms}` : ''}`)
    const account = await client.createAccount({
      termsOfServiceAgreed: true,
      ...(contact.length && { contact }),
      ...(eab && { externalAccountBinding: eab }),
      signal,
    })
    reporter.step(`account: ${account.url} (${account.status})`)
    await persistAccount(ctx, opened)
    return { url: account.url, created: true }
  }
  try {
    const account = await client.findAccount({ signal })
    reporter.step(`account: ${account.url} (${account.status})`)
    await persistAccount(ctx, opened)
    return { url: account.url, created: false }
  } catch (err) {
    if (isProblem(err, 'accountDoesNotExist')) {
      throw new UsageError(
        `the CA has no account for ${opened.keySource}: pass --agree-tos to create one (you agree to the CA's terms of service)`,
      )
    }
    throw err
  }
}

/** Keeps the account in --storage, so that `renew` finds it. */
async function persistAccount(ctx: Context, opened: OpenedAccount): Promise<void> {
  if (!opened.storage) return
  const existing = await readAccountRecord(opened.storage, opened.accountName)
  if (existing?.accountUrl === opened.client.accountUrl) return
  await saveAccount(opened.storage, opened.accountName, opened.client)
  ctx.reporter.step(`account saved in ${opened.storage.directory} as "${opened.accountName}"`)
}
