/**
 * `renewDue()`: one renewal run over every stored certificate. For each, decide from ARI (RFC 9773) or the
 * lifetime rule whether it is due; renew the due ones through `issueCertificate` with `replaces`; store the
 * result; and tell the caller when to run again. Made for cron jobs, timers and Worker scheduled events: all
 * state lives in the {@link Storage}, so a run can crash anywhere and the next one carries on.
 *
 * Crash safety, step by step: the new key is stored (`orders/<name>`) before the order is placed, the order URL as
 * soon as the CA returns it, and the previous certificate stays in `certificates/<name>` until the new one
 * replaces it in a single atomic write. A run that finds `orders/<name>` resumes that order with that key instead
 * of placing a new one.
 */
import { cleanupPresented, type PresentedChallenge } from '../challenges/presented.ts'
import type { ChallengeSolver } from '../challenges/solver.ts'
import type { AcmeClient } from '../client.ts'
import {
  type AcmeProblemError,
  AcmeResponseError,
  AcmeStateError,
  InvalidArgumentError,
  isProblem,
  isRateLimited,
} from '../errors.ts'
import {
  type IssueCertificateOptions,
  type IssuedCertificate,
  type IssueEvent,
  issueCertificate,
} from '../issue.ts'
import { generateKeyPair } from '../jose/algorithms.ts'
import { raceSignal, throwIfAborted } from '../lib/abort.ts'
import type { AbortSignalLike, CryptoKeyPair } from '../lib/web-types.ts'
import { type ParsedCertificate, parseCertificate } from '../pkix/certificate.ts'
import { exportPrivateKeyPem, importPrivateKeyPem } from '../pkix/private-key.ts'
import { CaUnavailableError } from '../protocol/circuit-breaker.ts'
import { parseRetryAfter } from '../protocol/headers.ts'
import { canonicalJson, type Storage, StorageError, storageKeys } from '../storage/storage.ts'
import { certId as certIdOf } from './cert-id.ts'
import {
  type CertificateRecord,
  certificateRecord,
  type ErrorNote,
  loadAccount,
  type PendingOrderRecord,
  parseCertificateRecord,
  type RenewalStateRecord,
  readPendingOrder,
  readRenewalState,
} from './records.ts'
import { fetchRenewalInfo } from './renewal-info.ts'
import {
  chooseRenewalTime,
  errorCheckTime,
  type Instant,
  isDue,
  lifetimeRenewalTime,
  MAX_CHECK_INTERVAL_MS,
  MIN_CHECK_INTERVAL_MS,
  renewalBackoff,
} from './schedule.ts'

/** A value, or a function of the certificate being renewed that returns it. */
export type PerCertificate<T> = T | ((certificate: CertificateRecord) => T | Promise<T>)

/** What `renewDue` passes on to `issueCertificate` (the rest comes from the stored certificate). */
export type RenewIssueOptions = Omit<
  IssueCertificateOptions,
  'client' | 'identifiers' | 'solvers' | 'replaces' | 'orderUrl' | 'certificateKey' | 'signal'
>

/** Options of {@link renewDue}. */
export interface RenewDueOptions {
  storage: Storage
  /**
   * The client (with its account) to renew with. Default: the account stored under `accounts/<id>` named by the
   * certificate record's `account`.
   */
  client?: PerCertificate<AcmeClient>
  /** Challenge solvers, as for `issueCertificate`. */
  solvers: PerCertificate<ChallengeSolver[]>
  /** More `issueCertificate` options (profile, preferred chain, polling, ...). */
  issue?: PerCertificate<RenewIssueOptions>
  /** The new certificate key (default: a new extractable ECDSA P-256 pair). It must be extractable. */
  newKey?: (certificate: CertificateRecord) => Promise<CryptoKeyPair>
  /** Only these certificates (default: every `certificates/*`). */
  names?: string[]
  /** Use ARI where the CA offers it (default true); `false` applies the lifetime rule to everything. */
  ari?: boolean
  /**
   * Renew what falls due within this many milliseconds (default 0). For runs at a fixed interval, pass the
   * interval: RFC 9773 §4.2 step 5 renews at once what would otherwise wait past the next wake-up.
   */
  lookahead?: number
  /** The clock (default `Date.now`). */
  now?: () => Instant
  /** Random numbers in `[0, 1)` for the pick in the window (default `Math.random`). */
  random?: () => number
  signal?: AbortSignalLike
  onEvent?: (event: RenewalEvent) => void
}

/** Progress of {@link renewDue}. */
export type RenewalEvent =
  | {
      type: 'schedule'
      name: string
      renewAt: Date
      source: 'ari' | 'lifetime'
      due: boolean
      explanationURL?: string
    }
  | { type: 'renewal-info-error'; name: string; error: unknown }
  | { type: 'renewing'; name: string; resumed: boolean }
  | { type: 'issue'; name: string; event: IssueEvent }
  | { type: 'renewed'; name: string; serialNumber: string }
  | { type: 'failed'; name: string; error: unknown; retryAt: Date }

/** A certificate `renewDue` renewed and stored. */
export interface RenewedCertificate {
  name: string
  /** The new record, as stored. */
  certificate: CertificateRecord
  /** The certificate it replaced. */
  replaced: { serialNumber: string; certId?: string }
  /** The CA refused `replaces` (`alreadyReplaced`) and the order went without it. */
  replacesDropped: boolean
  /** An order left behind by an earlier run was resumed. */
  resumed: boolean
  /** When the new certificate is due in turn. */
  renewAt: Date
}

/** A certificate that was due and not renewed. */
export interface FailedRenewal {
  name: string
  error: unknown
  /** No new attempt before this. */
  retryAt: Date
}

/** A certificate the CA's rate limit held back: retried at the limit's `Retry-After`, not a failure of the run. */
export interface RescheduledRenewal {
  name: string
  error: AcmeProblemError
  retryAt: Date
}

/** A certificate that was not due. */
export interface SkippedCertificate {
  name: string
  /** Why: not due yet, or backing off after a failure. */
  reason: 'not-due' | 'backoff'
  renewAt: Date
  source: 'ari' | 'lifetime'
  /** RFC 9773 §4.2: a page explaining the CA's window, to show to the operator. */
  explanationURL?: string
  /** When renewalInfo will be fetched again (ARI only). */
  nextCheckAt?: Date
}

/** The result of {@link renewDue}. */
export interface RenewDueResult {
  renewed: RenewedCertificate[]
  failed: FailedRenewal[]
  rescheduled: RescheduledRenewal[]
  skipped: SkippedCertificate[]
  /** When to run again: the earliest renewal, re-check or retry, within 1 minute .. 1 day from now. */
  nextRunAt: Date
}

interface Run {
  options: RenewDueOptions
  clock: () => number
  result: RenewDueResult
  next: number[]
  accounts: Map<string, Promise<AcmeClient>>
}

/**
 * Renews every stored certificate that is due and stores the results. Never throws for one certificate's
 * failure (it lands in `failed` or, for rate limits, `rescheduled`); throws when aborted or when the storage
 * cannot even be listed.
 *
 * @example
 * ```ts
 * import { renewDue } from 'webacme'
 * import type { ChallengeSolver, Storage } from 'webacme'
 *
 * declare const storage: Storage
 * declare const http01: ChallengeSolver
 * const { renewed, failed, nextRunAt } = await renewDue({ storage, solvers: [http01] })
 * console.log(`${renewed.length} renewed, ${failed.length} failed, run again at ${nextRunAt.toISOString()}`)
 * ```
 * @see {@link https://www.rfc-editor.org/rfc/rfc9773#section-4.2 RFC 9773 §4.2}
 */
export async function renewDue(input: RenewDueOptions): Promise<RenewDueResult> {
  const { signal } = input
  // Storage is caller code too: every call is raced with the signal, so an abort settles the run at once.
  const storage = racedStorage(input.storage, signal)
  const options = { ...input, storage }
  const clock = () => {
    const t = options.now?.() ?? Date.now()
    return typeof t === 'number' ? t : t.getTime()
  }
  const run: Run = {
    options,
    clock,
    result: { renewed: [], failed: [], rescheduled: [], skipped: [], nextRunAt: new Date(0) },
    next: [],
    accounts: new Map(),
  }
  const prefix = 'certificates/'
  const names =
    options.names ??
    (await storage.list(prefix)).map((key) => key.slice(prefix.length)).filter((name) => !name.includes('/'))
  for (const name of names) {
    throwIfAborted(signal)
    try {
      await renewOne(run, name)
    } catch (error) {
      if (signal?.aborted) throw signal.reason
      // Reading the records or getting a client failed, or the CA's breaker is open: nothing was changed.
      const retryAt = new Date(notBefore(error, clock() + renewalBackoff(1)))
      run.result.failed.push({ name, error, retryAt })
      run.next.push(retryAt.getTime())
      options.onEvent?.({ type: 'failed', name, error, retryAt })
    }
  }
  const now = clock()
  const earliest = Math.min(now + MAX_CHECK_INTERVAL_MS, ...run.next)
  run.result.nextRunAt = new Date(Math.max(earliest, now + MIN_CHECK_INTERVAL_MS))
  return run.result
}

async function renewOne(run: Run, name: string): Promise<void> {
  const { storage, signal } = run.options
  const emit = run.options.onEvent ?? (() => {})
  const certificateKey = storageKeys.certificate(name)
  const raw = await storage.get(certificateKey)
  if (raw === undefined) return // deleted since the listing
  const record = parseCertificateRecord(raw, certificateKey)
  const parsed = parseCertificate(record.certificate)
  const id = record.certId ?? tryCertId(parsed)
  let client: AcmeClient | undefined
  const getClient = async () => (client ??= await clientFor(run, record))

  let state = await readRenewalState(storage, name)
  if (state?.serialNumber !== parsed.serialNumber) state = undefined // about an older certificate
  let pending = await readPendingOrder(storage, name)
  if (pending && pending.replacesSerial !== parsed.serialNumber) {
    await storage.delete(storageKeys.order(name)) // left over from the renewal that produced this certificate
    pending = undefined
  }

  const now = run.clock()
  if (state?.retryAt !== undefined && Date.parse(state.retryAt) > now) {
    const retryAt = new Date(state.retryAt)
    run.result.skipped.push({ ...skipped(name, state, retryAt), reason: 'backoff' })
    run.next.push(retryAt.getTime())
    return
  }

  const scheduled = await schedule(run, name, parsed, id, state, getClient, now)
  const due = pending !== undefined || isDue(Date.parse(scheduled.renewAt), now, run.options.lookahead)
  emit({
    type: 'schedule',
    name,
    renewAt: new Date(scheduled.renewAt),
    source: scheduled.source,
    due,
    ...(scheduled.explanationURL !== undefined && { explanationURL: scheduled.explanationURL }),
  })
  if (canonicalJson(scheduled) !== canonicalJson(state))
    await storage.put(storageKeys.renewal(name), scheduled)
  if (!due) {
    run.result.skipped.push({ ...skipped(name, scheduled, new Date(scheduled.renewAt)), reason: 'not-due' })
    run.next.push(Date.parse(scheduled.renewAt))
    if (scheduled.nextCheckAt !== undefined) run.next.push(Date.parse(scheduled.nextCheckAt))
    return
  }

  // A CA that stopped answering fails the rest of the run at once: no new key, no pending order, no request.
  const renewing = await getClient()
  renewing.breaker?.throwIfOpen(renewing.transport.directoryUrl)
  emit({ type: 'renewing', name, resumed: pending?.orderUrl !== undefined })
  let outcome: { issued: IssuedCertificate; replacesDropped: boolean; resumed: boolean }
  try {
    outcome = await issue(run, record, id, pending, renewing)
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    const failedAt = run.clock()
    const failures = scheduled.failures + 1
    const limitedUntil = isRateLimited(error) ? retryAfterOf(error, failedAt) : undefined
    const retryAt = new Date(limitedUntil ?? notBefore(error, failedAt + renewalBackoff(failures)))
    await storage
      .put(storageKeys.renewal(name), {
        ...scheduled,
        failures,
        retryAt: retryAt.toISOString(),
        lastError: describe(error, failedAt),
      } satisfies RenewalStateRecord)
      .catch(() => {}) // the backoff is lost, the failure is still reported
    if (isRateLimited(error)) run.result.rescheduled.push({ name, error, retryAt })
    else run.result.failed.push({ name, error, retryAt })
    run.next.push(retryAt.getTime())
    emit({ type: 'failed', name, error, retryAt })
    return
  }

  const { issued, replacesDropped, resumed } = outcome
  const storedAt = run.clock()
  const { certId: _old, ...kept } = record
  const fresh: CertificateRecord = {
    ...kept,
    ...(await certificateRecord(name, issued, {
      identifiers: record.identifiers,
      ...(record.account !== undefined && { account: record.account }),
      ...(record.profile !== undefined && { profile: record.profile }),
      now: storedAt,
    })),
  }
  // The one write that replaces the previous certificate: atomic, and guarded where the backend can.
  if (storage.compareAndSwap) {
    if (!(await storage.compareAndSwap(certificateKey, raw, fresh))) {
      throw new StorageError(
        'ERR_STORAGE_CONFLICT',
        certificateKey,
        `${certificateKey} changed during the renewal`,
      )
    }
  } else {
    await storage.put(certificateKey, fresh)
  }
  // RFC 9773 §4.3: fetch the new certificate's renewal information right away. Both writes below are safe to
  // lose: a state or pending order naming another serial is recognised as stale on the next run.
  const next = await schedule(run, name, issued.parsed, fresh.certId, undefined, getClient, storedAt)
  await storage.put(storageKeys.renewal(name), next).catch(() => {})
  await storage.delete(storageKeys.order(name)).catch(() => {})
  run.result.renewed.push({
    name,
    certificate: fresh,
    replaced: { serialNumber: parsed.serialNumber, ...(id !== undefined && { certId: id }) },
    replacesDropped,
    resumed,
    renewAt: new Date(next.renewAt),
  })
  run.next.push(Date.parse(next.renewAt))
  if (next.nextCheckAt !== undefined) run.next.push(Date.parse(next.nextCheckAt))
  emit({ type: 'renewed', name, serialNumber: fresh.serialNumber })
}

/**
 * The renewal state after a renewalInfo check when one is due (RFC 9773 §4.3), or the state as it was; the
 * lifetime rule where ARI is off, unavailable, or failing without a window received before.
 */
async function schedule(
  run: Run,
  name: string,
  parsed: ParsedCertificate,
  id: string | undefined,
  state: RenewalStateRecord | undefined,
  getClient: () => Promise<AcmeClient>,
  now: number,
): Promise<RenewalStateRecord> {
  const { signal } = run.options
  const lifetime = lifetimeRenewalTime(parsed.notBefore, parsed.notAfter).toISOString()
  const base: RenewalStateRecord = state ?? {
    serialNumber: parsed.serialNumber,
    ...(id !== undefined && { certId: id }),
    source: 'lifetime',
    renewAt: lifetime,
    failures: 0,
  }
  const byLifetime = (from: RenewalStateRecord): RenewalStateRecord => {
    const { window: _w, explanationURL: _e, nextCheckAt: _n, ...rest } = from
    return { ...rest, source: 'lifetime', renewAt: lifetime }
  }
  // RFC 9773 §4.3: never after expiry (it is due anyway) and not without a CertID.
  if (run.options.ari === false || id === undefined || now >= parsed.notAfter.getTime())
    return byLifetime(base)
  if (state?.nextCheckAt !== undefined && Date.parse(state.nextCheckAt) > now) return state
  try {
    const client = await getClient()
    const directory = await client.directory(signal ? { signal } : {})
    if (!directory.renewalInfo) return byLifetime(base)
    const info = await fetchRenewalInfo(client, id, { now, ...(signal && { signal }) })
    const previous =
      base.source === 'ari' && base.window ? { window: base.window, renewAt: base.renewAt } : undefined
    const choice = chooseRenewalTime(info.suggestedWindow, previous, run.options.random)
    const { explanationURL: _e, checkError: _c, ...rest } = base
    return {
      ...rest,
      source: 'ari',
      renewAt: choice.renewAt,
      window: choice.window,
      ...(info.explanationURL !== undefined && { explanationURL: info.explanationURL }),
      nextCheckAt: info.retryAfter.toISOString(),
      lastCheckedAt: new Date(now).toISOString(),
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    // The CA is not answering at all: this certificate fails now (retried when the breaker allows), rather than
    // its renewal information being put off for hours as for an error of the CA's.
    if (error instanceof CaUnavailableError) throw error
    // A long-term error (the transport already retried the temporary ones): ask again in six hours, and keep
    // the last window received for this certificate, or fall back to the lifetime rule (RFC 9773 §4.2, §4.3.3).
    run.options.onEvent?.({ type: 'renewal-info-error', name, error })
    const kept = base.source === 'ari' && base.window ? base : byLifetime(base)
    return {
      ...kept,
      nextCheckAt: errorCheckTime(now).toISOString(),
      lastCheckedAt: new Date(now).toISOString(),
      checkError: describe(error, now),
    }
  }
}

/** Issues the replacement, resuming the order an earlier run left behind when there is one. */
async function issue(
  run: Run,
  record: CertificateRecord,
  id: string | undefined,
  pendingRecord: PendingOrderRecord | undefined,
  client: AcmeClient,
): Promise<{ issued: IssuedCertificate; replacesDropped: boolean; resumed: boolean }> {
  const { storage, signal } = run.options
  const orderKey = storageKeys.order(record.name)
  let pending = pendingRecord
  let key: CryptoKeyPair
  if (pending) {
    key = await importPrivateKeyPem(pending.privateKey)
  } else {
    const newKey = run.options.newKey ?? (() => generateKeyPair('ES256'))
    key = await raceSignal(
      Promise.resolve().then(() => newKey(record)),
      signal,
    )
    pending = {
      name: record.name,
      replacesSerial: parseCertificate(record.certificate).serialNumber,
      ...(id !== undefined && { replaces: id }),
      privateKey: await exportPrivateKeyPem(key.privateKey),
      startedAt: new Date(run.clock()).toISOString(),
    }
    // Before the order exists: a crash after it is placed must find the key it will be finalized with.
    await storage.put(orderKey, pending)
  }
  const solvers = await raceSignal(resolve(run.options.solvers, record), signal)
  const extra = (await raceSignal(resolve(run.options.issue, record), signal)) ?? {}
  const profile = extra.profile ?? record.profile
  const emit = (event: IssueEvent) => {
    run.options.onEvent?.({ type: 'issue', name: record.name, event })
    extra.onEvent?.(event)
  }
  // Updates of orders/<name> are chained: presents run in parallel, and each write must build on the last.
  let writes: Promise<void> = Promise.resolve()
  const update = (change: (current: PendingOrderRecord) => PendingOrderRecord): Promise<void> => {
    writes = writes.then(() => {
      pending = change(pending!)
      return storage.put(orderKey, pending)
    })
    return writes
  }
  // A crashed run may have left challenges up (an http-01 token, a TXT record): take them down first.
  if (pending.presented?.length) {
    await cleanupPresented(solvers, pending.presented, {
      onError: (p, error) =>
        emit({ type: 'cleanup-error', identifier: p.context.identifier, challengeType: p.type, error }),
    })
    await update(({ presented: _done, ...rest }) => rest)
  }
  let replacesDropped = false
  const sameChallenge = (a: PresentedChallenge) => (b: PresentedChallenge) =>
    a.context.challenge.url === b.context.challenge.url
  const attempt = (orderUrl: string | undefined) =>
    issueCertificate({
      ...extra,
      client,
      identifiers: record.identifiers,
      solvers,
      certificateKey: key,
      ...(profile !== undefined && { profile }),
      // RFC 9773 §5: the client sends it only when the directory has renewalInfo.
      ...(id !== undefined && run.options.ari !== false && { replaces: id }),
      ...(orderUrl !== undefined && { orderUrl }),
      ...(signal && { signal }),
      // Each fact a resumed run needs is stored before the request that depends on it.
      hooks: {
        order: (order) =>
          order.url === pending?.orderUrl ? undefined : update((p) => ({ ...p, orderUrl: order.url })),
        present: (presented) => update((p) => ({ ...p, presented: [...(p.presented ?? []), presented] })),
        cleanedUp: (presented) =>
          update((p) => {
            const left = (p.presented ?? []).filter((q) => !sameChallenge(presented)(q))
            const { presented: _all, ...rest } = p
            return left.length > 0 ? { ...rest, presented: left } : rest
          }),
      },
      onEvent: (event) => {
        if (event.type === 'replaces-dropped') replacesDropped = true
        emit(event)
      },
    })
  const resumedUrl = pending.orderUrl
  let issued: IssuedCertificate
  try {
    issued = await attempt(resumedUrl)
  } catch (error) {
    if (resumedUrl === undefined || signal?.aborted || !orderUnusable(error)) throw error
    // The order left behind is gone or dead: start over once, with the same key.
    await update(({ orderUrl: _gone, ...fresh }) => fresh)
    issued = await attempt(undefined)
  }
  return { issued, replacesDropped, resumed: resumedUrl !== undefined && issued.order.url === resumedUrl }
}

/** Errors that say a resumed order cannot be continued, so a new one is needed. */
function orderUnusable(error: unknown): boolean {
  return (
    (isProblem(error) && (error.status === 404 || error.status === 403 || isProblem(error, 'malformed'))) ||
    (error instanceof AcmeResponseError && error.status === 404) ||
    (error instanceof AcmeStateError && error.code === 'ERR_ORDER_INVALID') ||
    error instanceof InvalidArgumentError
  )
}

async function clientFor(run: Run, record: CertificateRecord): Promise<AcmeClient> {
  const given = run.options.client
  if (given !== undefined) return raceSignal(resolve(given, record), run.options.signal)
  if (record.account === undefined) {
    throw new InvalidArgumentError(
      `certificate ${record.name} names no account: pass renewDue({ client }) or store it with { account }`,
    )
  }
  let client = run.accounts.get(record.account)
  if (!client) {
    client = loadAccount(
      run.options.storage,
      record.account,
      run.options.signal ? { signal: run.options.signal } : {},
    )
    run.accounts.set(record.account, client)
  }
  return client
}

/** `storage` with every call raced with `signal` (a backend that hangs must not hold an aborted run). */
function racedStorage(storage: Storage, signal: AbortSignalLike | undefined): Storage {
  if (!signal) return storage
  const race = <T>(work: () => Promise<T>) => raceSignal(Promise.resolve().then(work), signal)
  const raced: Storage = {
    get: (key) => race(() => storage.get(key)),
    put: (key, value) => race(() => storage.put(key, value)),
    list: (prefix) => race(() => storage.list(prefix)),
    delete: (key) => race(() => storage.delete(key)),
  }
  const cas = storage.compareAndSwap?.bind(storage)
  if (cas) raced.compareAndSwap = (key, expected, value) => race(() => cas(key, expected, value))
  return raced
}

async function resolve<T>(value: PerCertificate<T>, record: CertificateRecord): Promise<T>
async function resolve<T>(
  value: PerCertificate<T> | undefined,
  record: CertificateRecord,
): Promise<T | undefined>
async function resolve<T>(
  value: PerCertificate<T> | undefined,
  record: CertificateRecord,
): Promise<T | undefined> {
  return typeof value === 'function' ? (value as (c: CertificateRecord) => T | Promise<T>)(record) : value
}

function tryCertId(parsed: ParsedCertificate): string | undefined {
  try {
    return certIdOf(parsed)
  } catch {
    return undefined
  }
}

/** `at`, or later when `error` says the CA's breaker lets no request through before then. */
function notBefore(error: unknown, at: number): number {
  return error instanceof CaUnavailableError ? Math.max(at, error.retryAfter.getTime()) : at
}

/** The rate limit's `Retry-After` read against our clock (the error's own date used the wall clock). */
function retryAfterOf(error: AcmeProblemError, now: number): number | undefined {
  const header = error.response?.headers.get('retry-after') ?? null
  return (parseRetryAfter(header, now) ?? error.retryAfter)?.getTime()
}

function describe(error: unknown, at: number): ErrorNote {
  const code = (error as { code?: unknown } | null)?.code
  return {
    ...(typeof code === 'string' && { code }),
    message: error instanceof Error ? error.message : String(error),
    at: new Date(at).toISOString(),
  }
}

function skipped(name: string, state: RenewalStateRecord, renewAt: Date): Omit<SkippedCertificate, 'reason'> {
  return {
    name,
    renewAt,
    source: state.source,
    ...(state.explanationURL !== undefined && { explanationURL: state.explanationURL }),
    ...(state.nextCheckAt !== undefined && { nextCheckAt: new Date(state.nextCheckAt) }),
  }
}
