/**
 * Everything the page asks of webacme goes through here: clients, account operations, keys, CSRs, DNS checks,
 * certificate inspection, revocation, and how an error is explained. Screens only deal with the DOM.
 */
import {
  type Account,
  AcmeClient,
  type AcmeClientOptions,
  AcmeNetworkError,
  AcmeProblemError,
  AcmeStateError,
  type Authorization,
  type Challenge,
  certificateMatchesKey,
  createCsr,
  type Directory,
  type DnsResolver,
  directories,
  dns01RecordName,
  dns01TxtValue,
  dohResolver,
  encodePem,
  exportPrivateJwk,
  exportPrivateKeyPem,
  exportPublicJwk,
  fetchRenewalInfo,
  generateKeyPair,
  http01Path,
  importJwkPair,
  importPrivateKeyPem,
  importPublicKeyPem,
  isAcmeError,
  type JwsAlgorithm,
  jwkThumbprint,
  type Order,
  type ProblemDocument,
  parseCertificate,
  type RenewalInfo,
  type RevocationReason,
} from 'webacme'
import type { CsrNames } from './csr-read.ts'
import type { AccountRecord } from './keystore.ts'

// --- Requests --------------------------------------------------------------------------------------------

/** The library's report of one HTTP attempt (`AcmeClientOptions.onHttp`). */
type LibraryHttpEvent = Parameters<NonNullable<AcmeClientOptions['onHttp']>>[0]

/** One request the page sent, for the request log. */
export interface HttpEvent {
  /** `ACME` for the CA (through the library's transport), `DoH` for the DNS check. */
  kind: 'ACME' | 'DoH'
  method: string
  url: string
  status?: number
  ms: number
  /** 2, 3, ... for the library's retries (a `badNonce`, a 503). */
  attempt?: number
  /** The library's error code, or the fetch error's name. */
  error?: string
}

const httpListeners: Array<(event: HttpEvent) => void> = []

/** Calls `listener` after every request the page sends: to the CA, or to a DNS-over-HTTPS resolver. */
export function onHttp(listener: (event: HttpEvent) => void): void {
  httpListeners.push(listener)
}

function emit(event: HttpEvent): void {
  for (const listener of httpListeners) listener(event)
}

/**
 * Retries for a person who is waiting: a few, quickly, then the error is shown (they can try again). The
 * library's defaults (10 retries within 3 minutes) suit unattended renewals; a browser cannot even tell a
 * certificate error from a dropped connection, so it would retry those for minutes.
 */
const RETRY = { retries: 3, maxWait: 20_000 }

/** What every client of the page reports through. */
const reportHttp = (event: LibraryHttpEvent) =>
  emit({
    kind: 'ACME',
    method: event.method,
    url: event.url,
    ms: Math.round(event.duration),
    attempt: event.attempt,
    ...(event.status !== undefined && { status: event.status }),
    ...(event.error && { error: event.error.code }),
  })

/** The DoH resolver has no transport of its own to report with: its fetch is wrapped instead. */
const dohFetch: typeof fetch = async (input, init) => {
  const started = performance.now()
  const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
  const url = input instanceof Request ? input.url : String(input)
  const ms = () => Math.round(performance.now() - started)
  try {
    const response = await fetch(input, init)
    emit({ kind: 'DoH', method, url, ms: ms(), status: response.status })
    return response
  } catch (err) {
    emit({ kind: 'DoH', method, url, ms: ms(), error: err instanceof Error ? err.name : String(err) })
    throw err
  }
}

// --- Clients ---------------------------------------------------------------------------------------------

let session: { client: AcmeClient; directoryUrl: string } | undefined
const anonymous = new Map<string, Promise<AcmeClient>>()
let throwawayKey: Promise<CryptoKeyPair> | undefined

/**
 * The client of an account record, reused while the CA, the key and the account stay the same (it caches the
 * directory and nonces). After a rollover the client itself signs with the new key, which is the record's.
 */
export function accountClient(record: AccountRecord): AcmeClient {
  const client = session?.directoryUrl === record.directoryUrl ? session.client : undefined
  const reusable =
    client?.accountKey === record.keyPair &&
    (record.accountUrl === undefined || client.accountUrl === record.accountUrl)
  if (!reusable || !session) {
    session = {
      directoryUrl: record.directoryUrl,
      client: new AcmeClient({
        directoryUrl: record.directoryUrl,
        accountKey: record.keyPair,
        ...(record.accountUrl && { accountUrl: record.accountUrl }),
        onHttp: reportHttp,
        retry: RETRY,
      }),
    }
  }
  return session.client
}

/**
 * A client for what needs no account (the directory, renewal information). `AcmeClient` wants a key even then,
 * so these clients share one throw-away key that is never sent anywhere.
 */
function anonymousClient(directoryUrl: string): Promise<AcmeClient> {
  let client = anonymous.get(directoryUrl)
  if (!client) {
    throwawayKey ??= generateKeyPair('ES256', { extractable: false })
    client = throwawayKey.then(
      (accountKey) => new AcmeClient({ directoryUrl, accountKey, onHttp: reportHttp, retry: RETRY }),
    )
    anonymous.set(directoryUrl, client)
    client.catch(() => anonymous.delete(directoryUrl))
  }
  return client
}

/** A CA the account screen offers. */
export interface CaPreset {
  id: string
  label: string
  url: string
  /** The CA requires external account binding (RFC 8555 §7.3.4). */
  eab?: boolean
}

/** The CAs to pick from; `localPebble` is where `npm run playground` started Pebble (Pebble's default else). */
export function caPresets(localPebble: string | undefined): CaPreset[] {
  return [
    { id: 'letsencrypt-staging', label: "Let's Encrypt (staging)", url: directories.letsencrypt.staging },
    { id: 'letsencrypt', label: "Let's Encrypt", url: directories.letsencrypt.production },
    { id: 'zerossl', label: 'ZeroSSL', url: directories.zerossl.production, eab: true },
    { id: 'google', label: 'Google Trust Services', url: directories.google.production, eab: true },
    {
      id: 'google-staging',
      label: 'Google Trust Services (staging)',
      url: directories.google.staging,
      eab: true,
    },
    { id: 'pebble', label: 'Local Pebble', url: localPebble ?? 'https://127.0.0.1:14000/dir' },
    { id: 'custom', label: 'Other (enter a directory URL)', url: '' },
  ]
}

/**
 * The CA's directory, read by the account's client when there is an account record (that client needs it anyway,
 * and caches it), else by a keyless one.
 */
export async function loadDirectory(directoryUrl: string, record?: AccountRecord): Promise<Directory> {
  const client = record ? accountClient(record) : await anonymousClient(directoryUrl)
  return client.directory() // a failed load is not cached: the next call asks again
}

// --- Keys ------------------------------------------------------------------------------------------------

/** Certificate key types the CSR tool and the order screen offer. */
export const KEY_TYPES: Record<string, { label: string; alg: JwsAlgorithm; modulusLength?: 2048 | 3072 }> = {
  ES256: { label: 'ECDSA P-256', alg: 'ES256' },
  ES384: { label: 'ECDSA P-384', alg: 'ES384' },
  'RSA-2048': { label: 'RSA 2048', alg: 'RS256', modulusLength: 2048 },
  'RSA-3072': { label: 'RSA 3072', alg: 'RS256', modulusLength: 3072 },
}

/** A new certificate key, extractable: it is meant to be downloaded. */
export async function generateCertificateKey(type: string): Promise<CryptoKeyPair> {
  const spec = KEY_TYPES[type]
  if (!spec) throw new TypeError(`unknown key type ${type}`)
  return generateKeyPair(spec.alg, spec.modulusLength ? { modulusLength: spec.modulusLength } : {})
}

/** A key backup made at the one moment the key was extractable. */
export interface KeyBackup {
  pem: string
  jwk: string
}

/**
 * A new ES256 account key whose private half is non-extractable. With `backup`, the key is first made
 * extractable, exported once, and imported again as non-extractable: only the backup text ever holds it.
 */
export async function newAccountKey(
  backup: boolean,
): Promise<{ keyPair: CryptoKeyPair; backup?: KeyBackup }> {
  if (!backup) return { keyPair: await generateKeyPair('ES256', { extractable: false }) }
  const exportable = await generateKeyPair('ES256', { extractable: true })
  const pem = await exportPrivateKeyPem(exportable.privateKey)
  const jwk = JSON.stringify(await exportPrivateJwk(exportable.privateKey), null, 2)
  return { keyPair: await importPrivateKeyPem(pem, { extractable: false }), backup: { pem, jwk } }
}

/** Imports a private key (PEM: PKCS#8, PKCS#1, SEC1; or a private JWK) as a non-extractable account key. */
export async function importAccountKey(text: string): Promise<CryptoKeyPair> {
  const trimmed = text.trim()
  const keys = trimmed.startsWith('{')
    ? await importJwkPair(JSON.parse(trimmed) as JsonWebKey, { extractable: false })
    : await importPrivateKeyPem(trimmed, { extractable: false })
  return strongEnough(keys)
}

/** Refuses RSA keys under 2048 bits (CAs refuse them too: Let's Encrypt, CA/B Forum BR §6.1.5). */
export function strongEnough(keys: CryptoKeyPair): CryptoKeyPair {
  const bits = (keys.publicKey.algorithm as { modulusLength?: number }).modulusLength
  if (bits !== undefined && bits < 2048)
    throw new TypeError(`this is an RSA key of ${bits} bits: use one of 2048 bits or more`)
  return keys
}

/** What the page shows about a key pair. */
export interface KeyDescription {
  algorithm: string
  thumbprint: string
  extractable: boolean
}

export async function describeKey(keyPair: CryptoKeyPair): Promise<KeyDescription> {
  return {
    algorithm: keyAlgorithm(keyPair.publicKey),
    thumbprint: await jwkThumbprint(await exportPublicJwk(keyPair.publicKey)),
    extractable: keyPair.privateKey.extractable,
  }
}

/** "ECDSA P-256", "RSA 2048", "Ed25519": a WebCrypto key's algorithm in words. */
export function keyAlgorithm(key: CryptoKey): string {
  const algorithm = key.algorithm as { name: string; namedCurve?: string; modulusLength?: number }
  if (algorithm.name === 'ECDSA') return `ECDSA ${algorithm.namedCurve}`
  if (algorithm.name.startsWith('RSA')) return `RSA ${algorithm.modulusLength}`
  return algorithm.name
}

/** The algorithm of a DER SubjectPublicKeyInfo (from a certificate), read by importing it. */
export async function spkiAlgorithm(spki: Uint8Array): Promise<string> {
  try {
    return keyAlgorithm(await importPublicKeyPem(encodePem('PUBLIC KEY', spki)))
  } catch (err) {
    return `not supported here (${describeError(err).code})`
  }
}

// --- Accounts --------------------------------------------------------------------------------------------

/** Options of {@link createAccount}: the terms must have been agreed to by the user, explicitly. */
export interface CreateAccountInput {
  termsOfServiceAgreed: true
  contact: string[]
  eab?: { kid: string; hmacKey: string }
  signal?: AbortSignal
}

export function createAccount(record: AccountRecord, input: CreateAccountInput): Promise<Account> {
  return accountClient(record).createAccount({
    termsOfServiceAgreed: input.termsOfServiceAgreed,
    ...(input.contact.length > 0 && { contact: input.contact }),
    ...(input.eab && { externalAccountBinding: { kid: input.eab.kid, hmacKey: input.eab.hmacKey } }),
    ...(input.signal && { signal: input.signal }),
  })
}

export function findAccount(record: AccountRecord): Promise<Account> {
  return accountClient(record).findAccount()
}

export function updateContact(record: AccountRecord, contact: string[]): Promise<Account> {
  return accountClient(record).updateAccount({ contact })
}

/** Rolls the account over to a new non-extractable key (with a one-time backup when asked). */
export async function rollOver(
  record: AccountRecord,
  backup: boolean,
): Promise<{ account: Account; keyPair: CryptoKeyPair; backup?: KeyBackup }> {
  const client = accountClient(record)
  const next = await newAccountKey(backup)
  const account = await client.changeAccountKey(next.keyPair)
  return { account, ...next }
}

export function deactivate(record: AccountRecord): Promise<Account> {
  return accountClient(record).deactivateAccount()
}

// --- Orders ----------------------------------------------------------------------------------------------

export type ChallengeType = 'dns-01' | 'http-01'

/** What the user has to do for one authorization, or nothing when the CA already holds it as valid. */
export interface ChallengeTask {
  authorization: Authorization
  /** The identifier as ordered (`*.example.com` for a wildcard). */
  name: string
  challenge?: Challenge
  dns?: { name: string; value: string }
  http?: { url: string; path: string; content: string }
}

/**
 * Places an order (or, with `resume`, reads the order at that URL again, after a reload) and works out, for each
 * authorization, the record or file the CA will look for.
 */
export async function placeOrder(
  record: AccountRecord,
  names: string[],
  preferred: ChallengeType,
  signal: AbortSignal,
  resume?: string,
): Promise<{ order: Order; tasks: ChallengeTask[] }> {
  const client = accountClient(record)
  const order = resume
    ? await client.getOrder(resume, { signal })
    : await client.createOrder({ identifiers: names }, { signal })
  if (order.status === 'invalid') throw new TypeError('the CA holds this order as invalid: place a new one')
  const authorizations = await Promise.all(
    order.authorizations.map((url) => client.getAuthorization(url, { signal })),
  )
  const tasks = await Promise.all(
    authorizations.map(async (authorization): Promise<ChallengeTask> => {
      const name = `${authorization.wildcard ? '*.' : ''}${authorization.identifier.value}`
      // The CA may reuse an earlier validation (RFC 8555 §7.1.4): then there is nothing to do.
      if (authorization.status === 'valid') return { authorization, name }
      const offered = (type: string) => authorization.challenges.find((c) => c.type === type)
      const challenge = offered(preferred) ?? offered(preferred === 'dns-01' ? 'http-01' : 'dns-01')
      if (!challenge) {
        const types = authorization.challenges.map((c) => c.type).join(', ')
        throw new TypeError(`the CA offers no dns-01 or http-01 challenge for ${name} (only ${types})`)
      }
      const keyAuthorization = await client.keyAuthorization(challenge)
      if (challenge.type === 'dns-01') {
        const value = await dns01TxtValue(keyAuthorization)
        return {
          authorization,
          name,
          challenge,
          dns: { name: dns01RecordName(authorization.identifier), value },
        }
      }
      const path = http01Path(challenge.token ?? '')
      const host =
        authorization.identifier.type === 'ip' && authorization.identifier.value.includes(':')
          ? `[${authorization.identifier.value}]`
          : authorization.identifier.value
      return {
        authorization,
        name,
        challenge,
        http: { url: `http://${host}${path}`, path, content: keyAuthorization },
      }
    }),
  )
  return { order, tasks }
}

/** Tells the CA to validate one task's challenge and waits for the authorization's outcome. */
export async function validate(
  record: AccountRecord,
  task: ChallengeTask,
  signal: AbortSignal,
): Promise<Authorization> {
  const client = accountClient(record)
  if (task.challenge) await client.respondToChallenge(task.challenge, { signal })
  return client.waitForAuthorization(task.authorization.url, { signal })
}

/** A certificate the order screen fetched, with the key made for it (none with the user's own CSR). */
export interface IssuedChain {
  chainPem: string
  keyPem?: string
  keyAlgorithm: string
  keyMatches: boolean
}

/**
 * Waits for the order to be ready, finalizes it with a CSR for a new key made here (`keyType`) or with the
 * user's own CSR (`csr`: the key never exists in the page), and downloads the chain.
 */
export async function finishOrder(
  record: AccountRecord,
  order: Order,
  key: { keyType: string } | { csr: CsrNames & { pem: string } },
  signal: AbortSignal,
  progress: (step: string) => void,
): Promise<IssuedChain> {
  const client = accountClient(record)
  progress('waiting for the order to be ready')
  const ready = await client.waitForOrder(order, { signal })
  let keys: CryptoKeyPair | undefined
  let csr: Uint8Array | string
  if ('csr' in key) csr = key.csr.pem
  else {
    progress('making a key and a CSR')
    keys = await generateCertificateKey(key.keyType)
    csr = await createCsr({ keys, identifiers: ready.identifiers })
  }
  progress('finalizing')
  const finalized = ready.status === 'valid' ? ready : await client.finalizeOrder(ready, csr, { signal })
  const valid = await client.waitForOrder(finalized, { signal })
  progress('downloading the certificate')
  const { pem } = await client.getCertificate(valid, { signal })
  const leaf = parseCertificate(pem)
  if (!keys) {
    const spki = key as { csr: CsrNames }
    return {
      chainPem: pem,
      keyAlgorithm: await spkiAlgorithm(leaf.subjectPublicKeyInfo),
      keyMatches: leaf.subjectPublicKeyInfo.join() === spki.csr.subjectPublicKeyInfo.join(),
    }
  }
  return {
    chainPem: pem,
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    keyAlgorithm: keyAlgorithm(keys.publicKey),
    keyMatches: await certificateMatchesKey(leaf, keys),
  }
}

// --- Renewal information ---------------------------------------------------------------------------------

/** The CA's ARI answer for a certificate, or why there is none (`undefined` when the CA has no renewalInfo). */
export async function renewalInfo(
  directoryUrl: string,
  certificatePem: string,
): Promise<RenewalInfo | undefined> {
  const directory = await loadDirectory(directoryUrl)
  if (!directory.renewalInfo) return undefined
  return fetchRenewalInfo(await anonymousClient(directoryUrl), certificatePem)
}

// --- Revocation ------------------------------------------------------------------------------------------

/**
 * The RFC 5280 reasons offered: those Let's Encrypt accepts (unspecified 0, keyCompromise 1, superseded 4,
 * cessationOfOperation 5); it refuses the others with `badRevocationReason`, and other CAs accept these too.
 */
export const REVOCATION_REASON_NAMES = [
  'unspecified',
  'keyCompromise',
  'superseded',
  'cessationOfOperation',
] as const satisfies readonly RevocationReason[]

/** Revokes with the account key (`record`) or with the certificate's own key (`certificateKeyPem`). */
export async function revoke(
  certificatePem: string,
  reason: RevocationReason,
  signer: { record: AccountRecord } | { directoryUrl: string; certificateKeyPem: string },
): Promise<void> {
  if ('record' in signer) {
    await accountClient(signer.record).revokeCertificate(certificatePem, { reason })
    return
  }
  const certificateKey = await importPrivateKeyPem(signer.certificateKeyPem, { extractable: false })
  // Signed with the certificate key and its JWK: no account is involved (RFC 8555 §7.6).
  const client = new AcmeClient({
    directoryUrl: signer.directoryUrl,
    accountKey: certificateKey,
    onHttp: reportHttp,
    retry: RETRY,
  })
  await client.revokeCertificate(certificatePem, { reason, certificateKey })
}

// --- DNS -------------------------------------------------------------------------------------------------

/** A DNS-over-HTTPS resolver through the request log. */
export function resolver(url: string, format: 'wire' | 'json'): DnsResolver {
  return dohResolver({ url, format, fetch: dohFetch })
}

// --- Errors ----------------------------------------------------------------------------------------------

/** An error as the page shows it. */
export interface ErrorView {
  /** The library's stable code (`ERR_ACME_UNAUTHORIZED`), or `ABORTED` / `ERR_PAGE` outside the library. */
  code: string
  message: string
  problem?: { type: string; detail?: string; subproblems: NonNullable<ProblemDocument['subproblems']> }
  hint?: string
}

export function describeError(err: unknown): ErrorView {
  if (err instanceof DOMException && err.name === 'AbortError')
    return { code: 'ABORTED', message: 'Cancelled.' }
  if (!isAcmeError(err)) {
    return { code: 'ERR_PAGE', message: err instanceof Error ? err.message : String(err) }
  }
  // Advice for a program (`pass allowInsecure: true`, `list it in allowedOrigins`) means nothing on the page.
  const view: ErrorView = { code: err.code, message: err.message.replace(/;\s*(pass|list it in) .*/, '') }
  const problem =
    err instanceof AcmeProblemError ? err.problem : err instanceof AcmeStateError ? err.problem : undefined
  if (problem) {
    // The problem is shown under the message: the message does not repeat the CA's detail.
    const cut = problem.detail ? view.message.indexOf(problem.detail) : -1
    let message =
      err instanceof AcmeProblemError
        ? `The CA refused the request (HTTP ${err.status}).`
        : cut > 0
          ? view.message.slice(0, cut).replace(/[\s:]+$/, '')
          : view.message
    if (message.split('(').length > message.split(')').length) message += ')'
    view.message = message
    view.problem = {
      type: problem.type,
      ...(problem.detail !== undefined && { detail: problem.detail }),
      subproblems: problem.subproblems ?? [],
    }
  }
  if (err instanceof AcmeNetworkError && err.code === 'ERR_NETWORK') {
    // Browsers hide the cause of a failed fetch ("Failed to fetch"): a certificate or CORS problem, mostly.
    view.hint =
      err.hint ??
      'The browser could not reach it. A page can only talk to a CA that allows cross-origin requests (CORS) ' +
        'and whose TLS certificate this browser trusts.'
  }
  return view
}
