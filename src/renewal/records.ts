/**
 * The JSON records webacme keeps in a {@link Storage} (layout in `storage/storage.ts`): accounts, certificates,
 * renewals in progress and renewal state, with their checks on the way back in (a record may be hand-edited or
 * written by an older version) and helpers to create them.
 */
import * as v from 'valibot'
import type { PresentedChallenge } from '../challenges/presented.ts'
import { AcmeClient, type AcmeClientOptions } from '../client.ts'
import { InvalidArgumentError } from '../errors.ts'
import type { IssuedCertificate } from '../issue.ts'
import { validate } from '../lib/validate.ts'
import { type ParsedCertificate, parseCertificate } from '../pkix/certificate.ts'
import { exportPrivateKeyPem, importPrivateKeyPem } from '../pkix/private-key.ts'
import type { Identifier } from '../protocol/resources.ts'
import { type Storage, StorageError, storageKeys } from '../storage/storage.ts'
import { certId } from './cert-id.ts'

/** `accounts/<id>`: an ACME account. Holds the account private key. */
export interface AccountRecord {
  directoryUrl: string
  accountUrl: string
  /** The account key, PKCS#8 PEM. */
  privateKey: string
}

/** `certificates/<name>`: a certificate and its key. Holds the certificate private key. */
export interface CertificateRecord {
  name: string
  /** What to order on renewal. */
  identifiers: Identifier[]
  /** PEM chain, end-entity certificate first. */
  certificate: string
  /** The certificate key, PKCS#8 PEM. */
  privateKey: string
  /** RFC 9773 CertID, when the certificate has an authority key identifier. */
  certId?: string
  /** Serial number, lowercase hex. */
  serialNumber: string
  notBefore: string
  notAfter: string
  /** When webacme stored it. */
  issuedAt: string
  /** The `accounts/<id>` that renews it (used when no client is given to `renewDue`). */
  account?: string
  /** Certificate profile to ask for on renewal (draft-ietf-acme-profiles). */
  profile?: string
}

/** `orders/<name>`: a renewal in progress, kept until the new certificate is stored. Holds the new private key. */
export interface PendingOrderRecord {
  name: string
  /** Serial number (hex) of the certificate being replaced. */
  replacesSerial: string
  /** CertID of the certificate being replaced, when it has one. */
  replaces?: string
  /** The new certificate key, PKCS#8 PEM: a resumed order must be finalized and checked with the same key. */
  privateKey: string
  /** The order, once placed. */
  orderUrl?: string
  /** Challenges presented and not yet cleaned up: a run that resumes takes them down first. */
  presented?: PresentedChallenge[]
  startedAt: string
}

/** What is kept of an error in a record. */
export interface ErrorNote {
  code?: string
  message: string
  /** When it happened (RFC 3339). */
  at: string
}

/** `renewal/<name>`: the renewal schedule of the certificate with serial `serialNumber`. */
export interface RenewalStateRecord {
  /** Serial (hex) of the certificate this state is about; a state for another serial is stale. */
  serialNumber: string
  certId?: string
  /** Where `renewAt` comes from: the CA's window (ARI) or the lifetime rule. */
  source: 'ari' | 'lifetime'
  renewAt: string
  /** The window `renewAt` was picked in (ARI only); a new window means a new pick. */
  window?: { start: string; end: string }
  explanationURL?: string
  /** When to fetch renewalInfo again. */
  nextCheckAt?: string
  lastCheckedAt?: string
  /** The last failed renewalInfo check (a long-term error: the next check is six hours later). */
  checkError?: ErrorNote
  /** The last failed renewal. */
  lastError?: ErrorNote
  /** Failed renewals in a row. */
  failures: number
  /** No renewal attempt before this (backoff, or a rate limit's Retry-After). */
  retryAt?: string
}

const iso = v.pipe(v.string(), v.isoTimestamp())
const identifier = v.looseObject({ type: v.string(), value: v.string() })

const certificateSchema: v.GenericSchema<unknown, CertificateRecord> = v.looseObject({
  name: v.string(),
  identifiers: v.pipe(v.array(identifier), v.minLength(1)),
  certificate: v.string(),
  privateKey: v.string(),
  certId: v.exactOptional(v.string()),
  serialNumber: v.string(),
  notBefore: iso,
  notAfter: iso,
  issuedAt: iso,
  account: v.exactOptional(v.string()),
  profile: v.exactOptional(v.string()),
})

// What webacme itself wrote (issueCertificate's PresentedChallenge); checked for the fields cleanup relies on.
const presentedSchema = v.array(
  v.looseObject({
    type: v.string(),
    context: v.looseObject({
      identifier: v.looseObject({ type: v.string(), value: v.string() }),
      challenge: v.looseObject({ type: v.string(), url: v.string() }),
      authorization: v.looseObject({ url: v.string() }),
      accountUrl: v.string(),
    }),
  }),
) as unknown as v.GenericSchema<unknown, PresentedChallenge[]>

const pendingSchema: v.GenericSchema<unknown, PendingOrderRecord> = v.looseObject({
  name: v.string(),
  replacesSerial: v.string(),
  replaces: v.exactOptional(v.string()),
  privateKey: v.string(),
  orderUrl: v.exactOptional(v.string()),
  presented: v.exactOptional(presentedSchema),
  startedAt: iso,
})

const errorNote = v.looseObject({ code: v.exactOptional(v.string()), message: v.string(), at: v.string() })

const stateSchema: v.GenericSchema<unknown, RenewalStateRecord> = v.looseObject({
  serialNumber: v.string(),
  certId: v.exactOptional(v.string()),
  source: v.picklist(['ari', 'lifetime']),
  renewAt: iso,
  window: v.exactOptional(v.looseObject({ start: iso, end: iso })),
  explanationURL: v.exactOptional(v.string()),
  nextCheckAt: v.exactOptional(iso),
  lastCheckedAt: v.exactOptional(iso),
  checkError: v.exactOptional(errorNote),
  lastError: v.exactOptional(errorNote),
  failures: v.number(),
  retryAt: v.exactOptional(iso),
})

const accountSchema: v.GenericSchema<unknown, AccountRecord> = v.looseObject({
  directoryUrl: v.string(),
  accountUrl: v.string(),
  privateKey: v.string(),
})

function check<T>(schema: v.GenericSchema<unknown, T>, value: unknown, key: string): T {
  return validate(schema, value, ({ message }) => {
    throw new StorageError('ERR_STORAGE_CORRUPT', key, `record ${key} is invalid: ${message}`)
  })
}

async function read<T>(
  storage: Storage,
  key: string,
  schema: v.GenericSchema<unknown, T>,
): Promise<T | undefined> {
  const value = await storage.get(key)
  return value === undefined ? undefined : check(schema, value, key)
}

/** Checks a value read from `key` as a certificate record; `StorageError` `ERR_STORAGE_CORRUPT` names the bad field. */
export function parseCertificateRecord(value: unknown, key: string): CertificateRecord {
  return check(certificateSchema, value, key)
}

/** Reads `certificates/<name>`. */
export function readCertificateRecord(
  storage: Storage,
  name: string,
): Promise<CertificateRecord | undefined> {
  return read(storage, storageKeys.certificate(name), certificateSchema)
}

/** Reads `orders/<name>`. */
export function readPendingOrder(storage: Storage, name: string): Promise<PendingOrderRecord | undefined> {
  return read(storage, storageKeys.order(name), pendingSchema)
}

/** Reads `renewal/<name>`. */
export function readRenewalState(storage: Storage, name: string): Promise<RenewalStateRecord | undefined> {
  return read(storage, storageKeys.renewal(name), stateSchema)
}

/** Reads `accounts/<id>`. */
export function readAccountRecord(storage: Storage, id: string): Promise<AccountRecord | undefined> {
  return read(storage, storageKeys.account(id), accountSchema)
}

/** Options of {@link certificateRecord} and {@link saveCertificate}. */
export interface CertificateRecordOptions {
  /** What to renew (default: the certificate's SANs). */
  identifiers?: Identifier[]
  account?: string
  profile?: string
  /** Clock for `issuedAt` (default: now). */
  now?: Date | number
}

/**
 * A certificate record from an issued certificate (or a PEM chain and its key pair). The key must be extractable.
 */
export async function certificateRecord(
  name: string,
  issued: Pick<IssuedCertificate, 'certificate' | 'certificateKey'> & { parsed?: ParsedCertificate },
  options: CertificateRecordOptions = {},
): Promise<CertificateRecord> {
  storageKeys.certificate(name) // checks the name
  const parsed = issued.parsed ?? parseCertificate(issued.certificate)
  const identifiers: Identifier[] = options.identifiers ?? [
    ...parsed.dnsNames.map((value) => ({ type: 'dns', value })),
    ...parsed.ipAddresses.map((value) => ({ type: 'ip', value })),
  ]
  if (identifiers.length === 0)
    throw new InvalidArgumentError(`certificate ${name} names no DNS name or IP address`)
  let id: string | undefined
  try {
    id = certId(parsed)
  } catch {
    id = undefined // no AKI: renewed by the lifetime rule
  }
  return {
    name,
    identifiers,
    certificate: issued.certificate,
    privateKey: await exportPrivateKeyPem(issued.certificateKey.privateKey),
    ...(id !== undefined && { certId: id }),
    serialNumber: parsed.serialNumber,
    notBefore: parsed.notBefore.toISOString(),
    notAfter: parsed.notAfter.toISOString(),
    issuedAt: new Date(options.now ?? Date.now()).toISOString(),
    ...(options.account !== undefined && { account: options.account }),
    ...(options.profile !== undefined && { profile: options.profile }),
  }
}

/**
 * Stores a certificate under `certificates/<name>` so that `renewDue` renews it. Returns the record.
 *
 * @example
 * ```ts
 * import { type AcmeClient, issueCertificate, MemoryStorage, saveAccount, saveCertificate } from 'webacme'
 * import type { ChallengeSolver } from 'webacme'
 *
 * declare const client: AcmeClient
 * declare const http01: ChallengeSolver
 * const storage = new MemoryStorage()
 * await saveAccount(storage, 'main', client)
 * const issued = await issueCertificate({ client, identifiers: ['example.com'], solvers: [http01] })
 * await saveCertificate(storage, 'example.com', issued, { account: 'main' })
 * ```
 */
export async function saveCertificate(
  storage: Storage,
  name: string,
  issued: Pick<IssuedCertificate, 'certificate' | 'certificateKey'> & { parsed?: ParsedCertificate },
  options: CertificateRecordOptions = {},
): Promise<CertificateRecord> {
  const record = await certificateRecord(name, issued, options)
  await storage.put(storageKeys.certificate(name), record)
  return record
}

/** Stores the client's account (directory, account URL, key) under `accounts/<id>`. The key must be extractable. */
export async function saveAccount(storage: Storage, id: string, client: AcmeClient): Promise<AccountRecord> {
  if (!client.accountUrl)
    throw new InvalidArgumentError('the client has no account yet: call createAccount() first')
  const record: AccountRecord = {
    directoryUrl: client.transport.directoryUrl,
    accountUrl: client.accountUrl,
    privateKey: await exportPrivateKeyPem(client.accountKey.privateKey),
  }
  await storage.put(storageKeys.account(id), record)
  return record
}

/** A client for the account stored under `accounts/<id>`. */
export async function loadAccount(
  storage: Storage,
  id: string,
  options: Omit<AcmeClientOptions, 'directoryUrl' | 'accountKey' | 'accountUrl'> = {},
): Promise<AcmeClient> {
  const record = await readAccountRecord(storage, id)
  if (!record) throw new InvalidArgumentError(`no account ${storageKeys.account(id)} in storage`)
  return new AcmeClient({
    ...options,
    directoryUrl: record.directoryUrl,
    accountUrl: record.accountUrl,
    accountKey: await importPrivateKeyPem(record.privateKey),
  })
}
